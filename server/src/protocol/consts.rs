//! NBD protocol constants, named as in the spec (`doc/proto.md`) so a reader
//! can grep from the spec to the code.  The whole vocabulary is here, used
//! or not yet, so it reads as the spec does.
#![allow(dead_code)]

pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943; // "NBDMAGIC"
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054; // "IHAVEOPT"
pub const NBD_OLD_VERSION: u64 = 0x0000_4202_8186_1253;
pub const NBD_REP_MAGIC: u64 = 0x0003_e889_0455_65a9;

// Handshake flags (server → client) and client flags.
pub const NBD_FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const NBD_FLAG_NO_ZEROES: u16 = 1 << 1;
pub const NBD_FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
pub const NBD_FLAG_C_NO_ZEROES: u32 = 1 << 1;

// Options.
pub const NBD_OPT_EXPORT_NAME: u32 = 1;
pub const NBD_OPT_ABORT: u32 = 2;
pub const NBD_OPT_LIST: u32 = 3;
pub const NBD_OPT_STARTTLS: u32 = 5;
pub const NBD_OPT_INFO: u32 = 6;
pub const NBD_OPT_GO: u32 = 7;
pub const NBD_OPT_STRUCTURED_REPLY: u32 = 8;
pub const NBD_OPT_LIST_META_CONTEXT: u32 = 9;
pub const NBD_OPT_SET_META_CONTEXT: u32 = 10;
pub const NBD_OPT_EXTENDED_HEADERS: u32 = 11;

// Option replies.
pub const NBD_REP_ACK: u32 = 1;
pub const NBD_REP_SERVER: u32 = 2;
pub const NBD_REP_INFO: u32 = 3;
pub const NBD_REP_META_CONTEXT: u32 = 4;
pub const NBD_REP_ERR_UNSUP: u32 = 0x8000_0001;
pub const NBD_REP_ERR_POLICY: u32 = 0x8000_0002;
pub const NBD_REP_ERR_INVALID: u32 = 0x8000_0003;
pub const NBD_REP_ERR_PLATFORM: u32 = 0x8000_0004;
pub const NBD_REP_ERR_TLS_REQD: u32 = 0x8000_0005;
pub const NBD_REP_ERR_UNKNOWN: u32 = 0x8000_0006;
pub const NBD_REP_ERR_SHUTDOWN: u32 = 0x8000_0007;
pub const NBD_REP_ERR_BLOCK_SIZE_REQD: u32 = 0x8000_0008;
pub const NBD_REP_ERR_TOO_BIG: u32 = 0x8000_0009;
pub const NBD_REP_ERR_EXT_HEADER_REQD: u32 = 0x8000_000a;

// NBD_REP_INFO types.
pub const NBD_INFO_EXPORT: u16 = 0;
pub const NBD_INFO_NAME: u16 = 1;
pub const NBD_INFO_DESCRIPTION: u16 = 2;
pub const NBD_INFO_BLOCK_SIZE: u16 = 3;

// Transmission flags.
pub const NBD_FLAG_HAS_FLAGS: u16 = 1 << 0;
pub const NBD_FLAG_READ_ONLY: u16 = 1 << 1;
pub const NBD_FLAG_SEND_FLUSH: u16 = 1 << 2;
pub const NBD_FLAG_SEND_FUA: u16 = 1 << 3;
pub const NBD_FLAG_ROTATIONAL: u16 = 1 << 4;
pub const NBD_FLAG_SEND_TRIM: u16 = 1 << 5;
pub const NBD_FLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
pub const NBD_FLAG_SEND_DF: u16 = 1 << 7;
pub const NBD_FLAG_CAN_MULTI_CONN: u16 = 1 << 8;
pub const NBD_FLAG_SEND_CACHE: u16 = 1 << 10;
pub const NBD_FLAG_SEND_FAST_ZERO: u16 = 1 << 11;

// Requests and replies.
pub const NBD_REQUEST_MAGIC: u32 = 0x2560_9513;
pub const NBD_SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
pub const NBD_STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;
/// Requests and replies once NBD_OPT_EXTENDED_HEADERS is negotiated.
pub const NBD_EXTENDED_REQUEST_MAGIC: u32 = 0x21e4_1c71;
pub const NBD_EXTENDED_REPLY_MAGIC: u32 = 0x6e8a_278c;

pub const NBD_CMD_READ: u16 = 0;
pub const NBD_CMD_WRITE: u16 = 1;
pub const NBD_CMD_DISC: u16 = 2;
pub const NBD_CMD_FLUSH: u16 = 3;
pub const NBD_CMD_TRIM: u16 = 4;
pub const NBD_CMD_CACHE: u16 = 5;
pub const NBD_CMD_WRITE_ZEROES: u16 = 6;
pub const NBD_CMD_BLOCK_STATUS: u16 = 7;

pub const NBD_CMD_FLAG_FUA: u16 = 1 << 0;
pub const NBD_CMD_FLAG_NO_HOLE: u16 = 1 << 1;
pub const NBD_CMD_FLAG_DF: u16 = 1 << 2;
pub const NBD_CMD_FLAG_REQ_ONE: u16 = 1 << 3;
pub const NBD_CMD_FLAG_FAST_ZERO: u16 = 1 << 4;
/// Extended headers only: *length* is the payload that follows.
pub const NBD_CMD_FLAG_PAYLOAD_LEN: u16 = 1 << 5;

pub const NBD_REPLY_FLAG_DONE: u16 = 1 << 0;
pub const NBD_REPLY_TYPE_NONE: u16 = 0;
pub const NBD_REPLY_TYPE_OFFSET_DATA: u16 = 1;
pub const NBD_REPLY_TYPE_OFFSET_HOLE: u16 = 2;
pub const NBD_REPLY_TYPE_BLOCK_STATUS: u16 = 5;
pub const NBD_REPLY_TYPE_BLOCK_STATUS_EXT: u16 = 6;
pub const NBD_REPLY_TYPE_ERROR: u16 = (1 << 15) + 1;
pub const NBD_REPLY_TYPE_ERROR_OFFSET: u16 = (1 << 15) + 2;

// Error values on the wire.
pub const NBD_SUCCESS: u32 = 0;
pub const NBD_EPERM: u32 = 1;
pub const NBD_EIO: u32 = 5;
pub const NBD_ENOMEM: u32 = 12;
pub const NBD_EINVAL: u32 = 22;
pub const NBD_ENOSPC: u32 = 28;
pub const NBD_EOVERFLOW: u32 = 75;
pub const NBD_ENOTSUP: u32 = 95;
pub const NBD_ESHUTDOWN: u32 = 108;

/// The only metadata context we serve.
pub const BASE_ALLOCATION: &str = "base:allocation";
/// The id we give `base:allocation` in NBD_REP_META_CONTEXT.
pub const BASE_ALLOCATION_ID: u32 = 1;

/// Largest READ/WRITE payload nbdkit accepts (64 MiB).
pub const MAX_REQUEST_SIZE: u32 = 64 * 1024 * 1024;
/// Longest option payload accepted before dropping the client: nbdkit's
/// limit is that of a request (a SET_META_CONTEXT with thousands of
/// queries is answered).  What a connection buffers for one is charged to
/// the memory budget.
pub const MAX_OPTION_LENGTH: u32 = MAX_REQUEST_SIZE;
/// Longest export name or meta context query (the spec's limit).
pub const MAX_STRING: usize = 4096;
/// Longest error message sent in an error chunk: the spec's SHOULD for
/// strings (its MUST is 4096).
pub const MAX_ERROR_MESSAGE: usize = 256;
/// Option rounds before a client is considered abusive (nbdkit: 32).
pub const MAX_NR_OPTIONS: u32 = 32;

/// A command's name as nbdkit's log lines give it (the callback it
/// calls).
pub fn command_name(cmd: u16) -> &'static str {
    match cmd {
        NBD_CMD_READ => "pread",
        NBD_CMD_WRITE => "pwrite",
        NBD_CMD_DISC => "disconnect",
        NBD_CMD_FLUSH => "flush",
        NBD_CMD_TRIM => "trim",
        NBD_CMD_CACHE => "cache",
        NBD_CMD_WRITE_ZEROES => "zero",
        NBD_CMD_BLOCK_STATUS => "extents",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_spell_their_names() {
        assert_eq!(NBDMAGIC, u64::from_be_bytes(*b"NBDMAGIC"));
        assert_eq!(IHAVEOPT, u64::from_be_bytes(*b"IHAVEOPT"));
    }

    /// The spec marks errors by the top bit: replies with it set are
    /// errors, and nothing else has it.
    #[test]
    fn error_replies_have_the_error_bit() {
        for e in [
            NBD_REP_ERR_UNSUP,
            NBD_REP_ERR_POLICY,
            NBD_REP_ERR_INVALID,
            NBD_REP_ERR_PLATFORM,
            NBD_REP_ERR_TLS_REQD,
            NBD_REP_ERR_UNKNOWN,
            NBD_REP_ERR_SHUTDOWN,
            NBD_REP_ERR_BLOCK_SIZE_REQD,
            NBD_REP_ERR_TOO_BIG,
            NBD_REP_ERR_EXT_HEADER_REQD,
        ] {
            assert_ne!(e & (1 << 31), 0, "{e:#x}");
        }
        for r in [
            NBD_REP_ACK,
            NBD_REP_SERVER,
            NBD_REP_INFO,
            NBD_REP_META_CONTEXT,
        ] {
            assert_eq!(r & (1 << 31), 0, "{r:#x}");
        }
        for t in [NBD_REPLY_TYPE_ERROR, NBD_REPLY_TYPE_ERROR_OFFSET] {
            assert_ne!(t & (1 << 15), 0, "{t:#x}");
        }
        for t in [
            NBD_REPLY_TYPE_NONE,
            NBD_REPLY_TYPE_OFFSET_DATA,
            NBD_REPLY_TYPE_OFFSET_HOLE,
            NBD_REPLY_TYPE_BLOCK_STATUS,
            NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
        ] {
            assert_eq!(t & (1 << 15), 0, "{t:#x}");
        }
    }

    /// Each flag is one bit of its own.
    #[test]
    fn flags_are_distinct_bits() {
        let transmission = [
            NBD_FLAG_HAS_FLAGS,
            NBD_FLAG_READ_ONLY,
            NBD_FLAG_SEND_FLUSH,
            NBD_FLAG_SEND_FUA,
            NBD_FLAG_ROTATIONAL,
            NBD_FLAG_SEND_TRIM,
            NBD_FLAG_SEND_WRITE_ZEROES,
            NBD_FLAG_SEND_DF,
            NBD_FLAG_CAN_MULTI_CONN,
            NBD_FLAG_SEND_CACHE,
            NBD_FLAG_SEND_FAST_ZERO,
        ];
        let command = [
            NBD_CMD_FLAG_FUA,
            NBD_CMD_FLAG_NO_HOLE,
            NBD_CMD_FLAG_DF,
            NBD_CMD_FLAG_REQ_ONE,
            NBD_CMD_FLAG_FAST_ZERO,
            NBD_CMD_FLAG_PAYLOAD_LEN,
        ];
        for set in [&transmission[..], &command[..]] {
            let mut seen = 0u16;
            for f in set {
                assert_eq!(f.count_ones(), 1, "{f:#x}");
                assert_eq!(seen & f, 0, "{f:#x} twice");
                seen |= f;
            }
        }
    }

    /// The spec took its error values from Linux's errno, so libc's
    /// constants check them.
    #[test]
    fn wire_errors_are_linux_errnos() {
        for (nbd, errno) in [
            (NBD_EPERM, libc::EPERM),
            (NBD_EIO, libc::EIO),
            (NBD_ENOMEM, libc::ENOMEM),
            (NBD_EINVAL, libc::EINVAL),
            (NBD_ENOSPC, libc::ENOSPC),
            (NBD_EOVERFLOW, libc::EOVERFLOW),
            (NBD_ENOTSUP, libc::ENOTSUP),
            (NBD_ESHUTDOWN, libc::ESHUTDOWN),
        ] {
            assert_eq!(nbd, errno as u32);
        }
    }
}
