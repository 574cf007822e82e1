//! The transmission phase: request headers in, validation against what the
//! export advertised, reply headers out.

use super::consts::*;
use super::ProtocolError;

/// A compact request header (`NBD_REQUEST_MAGIC`): 32-bit length.
pub const REQUEST_LEN: usize = 28;
/// An extended request header (`NBD_EXTENDED_REQUEST_MAGIC`): 64-bit length.
pub const EXTENDED_REQUEST_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub cmd: u16,
    pub handle: u64,
    pub offset: u64,
    /// Effect length, or with `NBD_CMD_FLAG_PAYLOAD_LEN` (extended headers)
    /// the payload length.  Compact requests carry at most 32 bits.
    pub count: u64,
    /// Parsed from an extended header.
    pub extended: bool,
}

impl Request {
    /// Length of a request header in this mode.
    pub fn header_len(extended: bool) -> usize {
        if extended {
            EXTENDED_REQUEST_LEN
        } else {
            REQUEST_LEN
        }
    }

    /// Check the magic at the start of `b` (at least 4 bytes), so a
    /// request in the wrong form is refused as soon as it starts rather
    /// than when a whole header of this mode's length has arrived (a
    /// compact header is shorter than an extended one).
    pub fn check_magic(b: &[u8], extended: bool) -> Result<(), ProtocolError> {
        let magic = u32::from_be_bytes(b[..4].try_into().unwrap());
        let want = if extended {
            NBD_EXTENDED_REQUEST_MAGIC
        } else {
            NBD_REQUEST_MAGIC
        };
        if magic == want {
            Ok(())
        } else {
            Err(ProtocolError::BadRequestMagic(magic))
        }
    }

    /// Parse the header at the start of `b` (at least [`Request::header_len`]
    /// bytes).  Connection-fatal: a wrong magic (including the other mode's),
    /// and an extended payload longer than any request may carry, which
    /// the spec says to disconnect for rather than read.
    pub fn parse(b: &[u8], extended: bool) -> Result<Request, ProtocolError> {
        let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
        let be64 = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap());
        Self::check_magic(b, extended)?;
        let r = Request {
            flags: be16(4),
            cmd: be16(6),
            handle: be64(8),
            offset: be64(16),
            count: if extended {
                be64(24)
            } else {
                u64::from(be32(24))
            },
            extended,
        };
        if extended && r.payload_len() > u64::from(MAX_REQUEST_SIZE) {
            return Err(ProtocolError::PayloadTooLong {
                cmd: r.cmd,
                length: r.count,
            });
        }
        Ok(r)
    }

    #[cfg(test)]
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(EXTENDED_REQUEST_LEN);
        let magic = if self.extended {
            NBD_EXTENDED_REQUEST_MAGIC
        } else {
            NBD_REQUEST_MAGIC
        };
        b.extend_from_slice(&magic.to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        b.extend_from_slice(&self.cmd.to_be_bytes());
        b.extend_from_slice(&self.handle.to_be_bytes());
        b.extend_from_slice(&self.offset.to_be_bytes());
        if self.extended {
            b.extend_from_slice(&self.count.to_be_bytes());
        } else {
            b.extend_from_slice(&(self.count as u32).to_be_bytes());
        }
        b
    }

    /// Bytes of payload that follow this header on the wire: a WRITE's
    /// length (with extended headers whether or not it sets
    /// `NBD_CMD_FLAG_PAYLOAD_LEN`, which is optional there: qemu does not),
    /// or an extended request's length when that flag says so.  A payload
    /// the request may not carry (oversize in compact mode, or on another
    /// command) is still read and discarded to keep the stream in sync.
    pub fn payload_len(&self) -> u64 {
        let has_payload = self.cmd == NBD_CMD_WRITE
            || self.extended && self.flags & NBD_CMD_FLAG_PAYLOAD_LEN != 0;
        if has_payload {
            self.count
        } else {
            0
        }
    }
}

/// What the export advertised to this client: requests are checked
/// against it before any backend is called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCaps {
    pub size: u64,
    pub readonly: bool,
    pub can_flush: bool,
    pub can_fua: bool,
    pub can_trim: bool,
    pub can_zero: bool,
    pub can_fast_zero: bool,
    pub can_cache: bool,
    pub structured: bool,
    /// NBD_OPT_EXTENDED_HEADERS was negotiated (implies `structured`).
    pub extended: bool,
    pub base_allocation: bool,
    /// Constraints the client was told about (NBD_INFO_BLOCK_SIZE) and so
    /// must honour: (minimum, maximum).
    pub block_size: Option<(u32, u32)>,
    /// Requests breaking `block_size` are refused with EINVAL
    /// (`--enforce-block-size`); nbdkit passes them on.
    pub enforce_block_size: bool,
    /// Error chunks carry the reason (`--send-error-messages`); nbdkit
    /// sends none.
    pub error_messages: bool,
}

/// A request that fails validation: its NBD error and a log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub error: u32,
    pub msg: String,
}

fn invalid(error: u32, name: &str, what: impl std::fmt::Display) -> Invalid {
    Invalid {
        error,
        msg: format!("invalid request: {name}: {what}"),
    }
}

/// The command's name in the spec, as nbdkit's "invalid request" messages
/// give it.
pub fn nbd_command_name(cmd: u16) -> &'static str {
    match cmd {
        NBD_CMD_READ => "NBD_CMD_READ",
        NBD_CMD_WRITE => "NBD_CMD_WRITE",
        NBD_CMD_DISC => "NBD_CMD_DISC",
        NBD_CMD_FLUSH => "NBD_CMD_FLUSH",
        NBD_CMD_TRIM => "NBD_CMD_TRIM",
        NBD_CMD_CACHE => "NBD_CMD_CACHE",
        NBD_CMD_WRITE_ZEROES => "NBD_CMD_WRITE_ZEROES",
        NBD_CMD_BLOCK_STATUS => "NBD_CMD_BLOCK_STATUS",
        _ => "unknown",
    }
}

/// The commands a request may carry (`NBD_CMD_DISC` is the connection's,
/// not the backend's: it never gets here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Flush,
    Trim,
    Zero,
    Cache,
    BlockStatus,
}

impl Op {
    fn of(cmd: u16) -> Option<Op> {
        Some(match cmd {
            NBD_CMD_READ => Op::Read,
            NBD_CMD_WRITE => Op::Write,
            NBD_CMD_FLUSH => Op::Flush,
            NBD_CMD_TRIM => Op::Trim,
            NBD_CMD_WRITE_ZEROES => Op::Zero,
            NBD_CMD_CACHE => Op::Cache,
            NBD_CMD_BLOCK_STATUS => Op::BlockStatus,
            _ => return None,
        })
    }
}

/// A validated request's command with the flags it may carry, typed: what
/// the backend is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `df`: the client wants the data in one chunk (`NBD_CMD_FLAG_DF`).
    Read {
        df: bool,
    },
    Write {
        fua: bool,
    },
    Flush,
    Trim {
        fua: bool,
    },
    /// `may_trim`: no `NBD_CMD_FLAG_NO_HOLE`; `fast`: `NBD_CMD_FLAG_FAST_ZERO`.
    Zero {
        fua: bool,
        may_trim: bool,
        fast: bool,
    },
    Cache,
    BlockStatus {
        req_one: bool,
    },
}

/// A request that passed validation: its header as it came, and what it
/// asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Valid {
    pub req: Request,
    pub cmd: Command,
}

impl Valid {
    /// A data request (read or write): its buffer is charged to the
    /// memory budget.
    pub fn carries_data(&self) -> bool {
        matches!(self.cmd, Command::Read { .. } | Command::Write { .. })
    }
}

/// Check a request against the export, as nbdkit 1.32 does, in its order:
/// the command and its range, its flags, then what the export and the
/// server allow; a valid one gets its command typed.
pub fn validate(r: &Request, caps: &ExportCaps) -> Result<Valid, Invalid> {
    let name = nbd_command_name(r.cmd);
    let op = check_command(r, caps, name)?;
    check_flags(r, caps, name, op)?;
    check_limits(r, caps, name, op)?;
    Ok(Valid {
        req: *r,
        cmd: typed_command(r, op),
    })
}

/// The command is one we know, allowed on this connection, with an
/// in-range offset and count (or none, for a flush).
fn check_command(r: &Request, caps: &ExportCaps, name: &str) -> Result<Op, Invalid> {
    let op = Op::of(r.cmd);
    if caps.readonly && matches!(op, Some(Op::Write | Op::Trim | Op::Zero)) {
        return Err(invalid(
            NBD_EPERM,
            name,
            "write request on readonly connection",
        ));
    }
    if r.extended {
        // A write always has its payload; no other command may have one
        // (we advertise no payload for block status).
        let payload = r.flags & NBD_CMD_FLAG_PAYLOAD_LEN != 0;
        if op != Some(Op::Write) && payload {
            return Err(invalid(
                NBD_EINVAL,
                name,
                "payload not expected with this command",
            ));
        }
    }
    let Some(op) = op else {
        return Err(Invalid {
            error: NBD_EINVAL,
            msg: format!("invalid request: unknown command ({}) ignored", r.cmd),
        });
    };
    match op {
        Op::Flush => {
            if r.offset != 0 || r.count != 0 {
                return Err(invalid(NBD_EINVAL, name, "expecting offset and count = 0"));
            }
        }
        _ => {
            let in_range = r.count > 0
                && r.offset <= caps.size
                && r.offset
                    .checked_add(r.count)
                    .is_some_and(|end| end <= caps.size);
            if !in_range {
                let err = if matches!(op, Op::Write | Op::Zero) {
                    NBD_ENOSPC
                } else {
                    NBD_EINVAL
                };
                return Err(invalid(
                    err,
                    name,
                    format_args!(
                        "offset and count are out of range: offset={} count={}",
                        r.offset, r.count
                    ),
                ));
            }
        }
    }
    Ok(op)
}

/// Only the flags this command takes, each with what it needs.
fn check_flags(r: &Request, caps: &ExportCaps, name: &str, op: Op) -> Result<(), Invalid> {
    let mut known = NBD_CMD_FLAG_FUA
        | NBD_CMD_FLAG_NO_HOLE
        | NBD_CMD_FLAG_DF
        | NBD_CMD_FLAG_REQ_ONE
        | NBD_CMD_FLAG_FAST_ZERO;
    if r.extended {
        known |= NBD_CMD_FLAG_PAYLOAD_LEN;
    }
    if r.flags & !known != 0 {
        return Err(invalid(
            NBD_EINVAL,
            name,
            format_args!("unknown flags ({:#x})", r.flags),
        ));
    }
    if r.flags & NBD_CMD_FLAG_FUA != 0 && !matches!(op, Op::Write | Op::Trim | Op::Zero) {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "FUA flag not supported with this command",
        ));
    }
    if r.flags & NBD_CMD_FLAG_NO_HOLE != 0 && op != Op::Zero {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "NO_HOLE flag only valid with NBD_CMD_WRITE_ZEROES",
        ));
    }
    if r.flags & NBD_CMD_FLAG_FAST_ZERO != 0 && op != Op::Zero {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "FAST_ZERO flag only valid with NBD_CMD_WRITE_ZEROES",
        ));
    }
    if r.flags & NBD_CMD_FLAG_DF != 0 {
        if op != Op::Read {
            return Err(invalid(
                NBD_EINVAL,
                name,
                "DF flag only valid with NBD_CMD_READ",
            ));
        }
        if !caps.structured {
            return Err(invalid(
                NBD_EINVAL,
                name,
                "DF flag requires structured replies",
            ));
        }
    }
    if r.flags & NBD_CMD_FLAG_REQ_ONE != 0 && op != Op::BlockStatus {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "REQ_ONE flag only valid with NBD_CMD_BLOCK_STATUS",
        ));
    }
    Ok(())
}

/// Within the server's request size, the export's features and, when
/// enforced, its block sizes.
fn check_limits(r: &Request, caps: &ExportCaps, name: &str, op: Op) -> Result<(), Invalid> {
    if matches!(op, Op::Read | Op::Write) && r.count > u64::from(MAX_REQUEST_SIZE) {
        return Err(invalid(
            NBD_ENOMEM,
            name,
            format_args!(
                "data length is too large ({} > {})",
                r.count, MAX_REQUEST_SIZE
            ),
        ));
    }

    if r.flags & NBD_CMD_FLAG_FUA != 0 && !caps.can_fua {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "FUA flag not supported by this export",
        ));
    }
    let unsupported = match op {
        Op::Flush => !caps.can_flush,
        Op::Trim => !caps.can_trim,
        Op::Zero => !caps.can_zero,
        Op::Cache => !caps.can_cache,
        Op::Read | Op::Write | Op::BlockStatus => false,
    };
    if unsupported {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "command not supported by this export",
        ));
    }
    if r.flags & NBD_CMD_FLAG_FAST_ZERO != 0 && !caps.can_fast_zero {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "fast zero not supported by this export",
        ));
    }
    if op == Op::BlockStatus && !(caps.structured && caps.base_allocation) {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "base:allocation was not negotiated",
        ));
    }

    if let Some((min, max)) = caps.block_size.filter(|_| caps.enforce_block_size) {
        let data = matches!(op, Op::Read | Op::Write);
        if min > 1
            && !(r.offset.is_multiple_of(u64::from(min)) && r.count.is_multiple_of(u64::from(min)))
        {
            return Err(invalid(
                NBD_EINVAL,
                name,
                format_args!(
                    "request offset {} or count {} is not a multiple of the minimum block size {min}",
                    r.offset, r.count
                ),
            ));
        }
        if data && r.count > u64::from(max) {
            return Err(invalid(
                NBD_EINVAL,
                name,
                format_args!(
                    "request count {} exceeds the maximum block size {max}",
                    r.count
                ),
            ));
        }
    }
    Ok(())
}

/// The command with its flags typed.
fn typed_command(r: &Request, op: Op) -> Command {
    let flag = |f: u16| r.flags & f != 0;
    let fua = flag(NBD_CMD_FLAG_FUA);
    match op {
        Op::Read => Command::Read {
            df: flag(NBD_CMD_FLAG_DF),
        },
        Op::Write => Command::Write { fua },
        Op::Flush => Command::Flush,
        Op::Trim => Command::Trim { fua },
        Op::Zero => Command::Zero {
            fua,
            may_trim: !flag(NBD_CMD_FLAG_NO_HOLE),
            fast: flag(NBD_CMD_FLAG_FAST_ZERO),
        },
        Op::Cache => Command::Cache,
        Op::BlockStatus => Command::BlockStatus {
            req_one: flag(NBD_CMD_FLAG_REQ_ONE),
        },
    }
}

/// Map an errno from a backend to the NBD error the client sees.
pub fn nbd_error(errno: i32, structured: bool, fast_zero: bool) -> u32 {
    match errno {
        0 => NBD_SUCCESS,
        libc::EROFS | libc::EPERM => NBD_EPERM,
        libc::EIO => NBD_EIO,
        libc::ENOMEM => NBD_ENOMEM,
        libc::EDQUOT | libc::EFBIG | libc::ENOSPC => NBD_ENOSPC,
        libc::ESHUTDOWN => NBD_ESHUTDOWN,
        libc::ENOTSUP if structured || fast_zero => NBD_ENOTSUP,
        libc::EOVERFLOW if structured => NBD_EOVERFLOW,
        _ => NBD_EINVAL,
    }
}

#[cfg(test)]
pub const SIMPLE_REPLY_LEN: usize = 16;
#[cfg(test)]
pub const CHUNK_HEADER_LEN: usize = 20;
pub const EXTENDED_REPLY_LEN: usize = 32;

/// How replies are framed on a connection, as negotiation settled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Simple replies only (no NBD_OPT_STRUCTURED_REPLY).
    Simple,
    /// Structured reply chunks with the 20-byte header; simple replies
    /// allowed for commands without a payload.
    Structured,
    /// NBD_OPT_EXTENDED_HEADERS: 32-byte chunk headers only.
    Extended,
}

impl ExportCaps {
    pub fn reply_mode(&self) -> ReplyMode {
        if self.extended {
            ReplyMode::Extended
        } else if self.structured {
            ReplyMode::Structured
        } else {
            ReplyMode::Simple
        }
    }
}

/// One reply header, built on the stack: the largest is an extended hole
/// chunk (header, offset and length).
pub struct Header {
    buf: [u8; EXTENDED_REPLY_LEN + 12],
    len: usize,
}

impl std::ops::Deref for Header {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Header {
    fn new() -> Header {
        Header {
            buf: [0; EXTENDED_REPLY_LEN + 12],
            len: 0,
        }
    }
    fn put(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
}

/// The text of an error chunk: what the server or plugin said, cut at a
/// NUL (the spec forbids them in strings) and to [`MAX_ERROR_MESSAGE`]
/// bytes on a character boundary.
pub fn error_message(msg: &str) -> &str {
    let msg = msg.split('\0').next().unwrap_or("");
    if msg.len() <= MAX_ERROR_MESSAGE {
        return msg;
    }
    let mut end = MAX_ERROR_MESSAGE;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    &msg[..end]
}

/// Encodes the reply to one request, in the connection's framing.  An
/// extended header echoes the request's offset.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub mode: ReplyMode,
    pub handle: u64,
    pub offset: u64,
}

impl Reply {
    pub fn to(r: &Request, caps: &ExportCaps) -> Reply {
        Reply {
            mode: caps.reply_mode(),
            handle: r.handle,
            offset: r.offset,
        }
    }

    fn simple(&self, error: u32) -> Header {
        let mut h = Header::new();
        h.put(&NBD_SIMPLE_REPLY_MAGIC.to_be_bytes());
        h.put(&error.to_be_bytes());
        h.put(&self.handle.to_be_bytes());
        h
    }

    /// A chunk header for `len` bytes of payload.  Compact chunks carry
    /// 32-bit lengths; every payload sent in that mode is bounded well
    /// below that (reads by the 64 MiB limit, descriptor lists by their
    /// cap).
    fn chunk(&self, flags: u16, typ: u16, len: u64) -> Header {
        let mut h = Header::new();
        if self.mode == ReplyMode::Extended {
            h.put(&NBD_EXTENDED_REPLY_MAGIC.to_be_bytes());
            h.put(&flags.to_be_bytes());
            h.put(&typ.to_be_bytes());
            h.put(&self.handle.to_be_bytes());
            h.put(&self.offset.to_be_bytes());
            h.put(&len.to_be_bytes());
        } else {
            debug_assert!(len <= u64::from(u32::MAX));
            h.put(&NBD_STRUCTURED_REPLY_MAGIC.to_be_bytes());
            h.put(&flags.to_be_bytes());
            h.put(&typ.to_be_bytes());
            h.put(&self.handle.to_be_bytes());
            h.put(&(len as u32).to_be_bytes());
        }
        h
    }

    /// Success of a command without reply data: a simple reply, or in
    /// extended mode (which has none) a final NONE chunk.
    pub fn ok(&self) -> Header {
        match self.mode {
            ReplyMode::Extended => self.chunk(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, 0),
            _ => self.simple(NBD_SUCCESS),
        }
    }

    /// What precedes a successful read's `len` bytes of data: a simple
    /// reply, or one final OFFSET_DATA chunk for the whole request.
    pub fn read_ok(&self, len: u64) -> Header {
        match self.mode {
            ReplyMode::Simple => self.simple(NBD_SUCCESS),
            _ => self.data(self.offset, len, true),
        }
    }

    /// Header of an OFFSET_DATA chunk for `len` bytes read at `offset`;
    /// the data follows it.
    pub fn data(&self, offset: u64, len: u64, done: bool) -> Header {
        let flags = if done { NBD_REPLY_FLAG_DONE } else { 0 };
        let mut h = self.chunk(flags, NBD_REPLY_TYPE_OFFSET_DATA, len + 8);
        h.put(&offset.to_be_bytes());
        h
    }

    /// An OFFSET_HOLE chunk: `len` bytes at `offset` read as zeroes.
    pub fn hole(&self, offset: u64, len: u32, done: bool) -> Header {
        let flags = if done { NBD_REPLY_FLAG_DONE } else { 0 };
        let mut h = self.chunk(flags, NBD_REPLY_TYPE_OFFSET_HOLE, 12);
        h.put(&offset.to_be_bytes());
        h.put(&len.to_be_bytes());
        h
    }

    /// A failed request: a simple reply with the error, or once structured
    /// replies are negotiated a final ERROR chunk carrying `msg` (see
    /// [`error_message`]), so the client can show the reason.
    pub fn error(&self, out: &mut Vec<u8>, error: u32, msg: &str) {
        if self.mode == ReplyMode::Simple {
            out.extend_from_slice(&self.simple(error));
            return;
        }
        let msg = error_message(msg).as_bytes();
        let h = self.chunk(
            NBD_REPLY_FLAG_DONE,
            NBD_REPLY_TYPE_ERROR,
            6 + msg.len() as u64,
        );
        out.extend_from_slice(&h);
        out.extend_from_slice(&error.to_be_bytes());
        out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        out.extend_from_slice(msg);
    }

    /// A final block status chunk of (length, flags) descriptors for one
    /// context: BLOCK_STATUS_EXT (64-bit lengths, with a descriptor count)
    /// under extended headers, which must use it, else BLOCK_STATUS, whose
    /// lengths the caller has kept within 32 bits.
    pub fn block_status(&self, out: &mut Vec<u8>, context: u32, descs: &[(u64, u32)]) {
        let n = descs.len() as u64;
        if self.mode == ReplyMode::Extended {
            let h = self.chunk(
                NBD_REPLY_FLAG_DONE,
                NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
                8 + 16 * n,
            );
            out.reserve(h.len() + 8 + 16 * descs.len());
            out.extend_from_slice(&h);
            out.extend_from_slice(&context.to_be_bytes());
            out.extend_from_slice(&(descs.len() as u32).to_be_bytes());
            for (l, f) in descs {
                out.extend_from_slice(&l.to_be_bytes());
                out.extend_from_slice(&u64::from(*f).to_be_bytes());
            }
        } else {
            let h = self.chunk(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, 4 + 8 * n);
            out.reserve(h.len() + 4 + 8 * descs.len());
            out.extend_from_slice(&h);
            out.extend_from_slice(&context.to_be_bytes());
            for (l, f) in descs {
                debug_assert!(*l <= u64::from(u32::MAX));
                out.extend_from_slice(&(*l as u32).to_be_bytes());
                out.extend_from_slice(&f.to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> ExportCaps {
        ExportCaps {
            size: 1 << 20,
            can_flush: true,
            can_fua: true,
            can_trim: true,
            can_zero: true,
            can_fast_zero: true,
            can_cache: true,
            structured: true,
            base_allocation: true,
            ..Default::default()
        }
    }

    fn req(cmd: u16, flags: u16, offset: u64, count: u64) -> Request {
        Request {
            flags,
            cmd,
            handle: 7,
            offset,
            count,
            extended: false,
        }
    }

    fn ext(cmd: u16, flags: u16, offset: u64, count: u64) -> Request {
        Request {
            extended: true,
            ..req(cmd, flags, offset, count)
        }
    }

    #[test]
    fn validation_types_the_command_and_its_flags() {
        let c = caps();
        let table: &[(u16, u16, u64, Command)] = &[
            (NBD_CMD_READ, 0, 512, Command::Read { df: false }),
            (
                NBD_CMD_READ,
                NBD_CMD_FLAG_DF,
                512,
                Command::Read { df: true },
            ),
            (NBD_CMD_WRITE, 0, 512, Command::Write { fua: false }),
            (
                NBD_CMD_WRITE,
                NBD_CMD_FLAG_FUA,
                512,
                Command::Write { fua: true },
            ),
            (NBD_CMD_FLUSH, 0, 0, Command::Flush),
            (
                NBD_CMD_TRIM,
                NBD_CMD_FLAG_FUA,
                512,
                Command::Trim { fua: true },
            ),
            (
                NBD_CMD_WRITE_ZEROES,
                0,
                512,
                Command::Zero {
                    fua: false,
                    may_trim: true,
                    fast: false,
                },
            ),
            (
                NBD_CMD_WRITE_ZEROES,
                NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_FUA,
                512,
                Command::Zero {
                    fua: true,
                    may_trim: false,
                    fast: true,
                },
            ),
            (NBD_CMD_CACHE, 0, 512, Command::Cache),
            (
                NBD_CMD_BLOCK_STATUS,
                0,
                512,
                Command::BlockStatus { req_one: false },
            ),
            (
                NBD_CMD_BLOCK_STATUS,
                NBD_CMD_FLAG_REQ_ONE,
                512,
                Command::BlockStatus { req_one: true },
            ),
        ];
        for &(cmd, flags, count, want) in table {
            let r = req(cmd, flags, 0, count);
            let offset = if cmd == NBD_CMD_FLUSH { 0 } else { 4096 };
            let r = Request { offset, ..r };
            assert_eq!(validate(&r, &c), Ok(Valid { req: r, cmd: want }), "{r:?}");
        }
        // The disconnect is the connection's and any other number is
        // unknown: neither reaches the backend.
        for cmd in [NBD_CMD_DISC, 8, 99, u16::MAX] {
            let inv = validate(&req(cmd, 0, 0, 512), &c).unwrap_err();
            assert_eq!(inv.error, NBD_EINVAL, "{cmd}");
            assert!(inv.msg.contains("unknown command"), "{}", inv.msg);
        }
        // Only data requests are charged to the memory budget.
        let data = |cmd, count| validate(&req(cmd, 0, 0, count), &c).unwrap().carries_data();
        assert!(data(NBD_CMD_READ, 1) && data(NBD_CMD_WRITE, 1));
        assert!(!data(NBD_CMD_TRIM, 1) && !data(NBD_CMD_FLUSH, 0));
    }

    #[test]
    fn roundtrip_and_bad_magic() {
        let r = req(NBD_CMD_WRITE, 1, 4096, 512);
        assert_eq!(r.encode().len(), REQUEST_LEN);
        assert_eq!(Request::parse(&r.encode(), false), Ok(r));
        let mut b = r.encode();
        b[0] = 0;
        assert!(Request::parse(&b, false).is_err());
        // Each mode refuses the other's magic.
        assert_eq!(
            Request::parse(&r.encode(), true),
            Err(ProtocolError::BadRequestMagic(NBD_REQUEST_MAGIC))
        );
        let e = ext(NBD_CMD_TRIM, 0, 4096, 5 << 30);
        assert_eq!(e.encode().len(), EXTENDED_REQUEST_LEN);
        assert_eq!(Request::parse(&e.encode(), true), Ok(e));
        assert_eq!(
            Request::parse(&e.encode(), false),
            Err(ProtocolError::BadRequestMagic(NBD_EXTENDED_REQUEST_MAGIC))
        );
    }

    #[test]
    fn extended_lengths_and_payloads() {
        // 64-bit effect lengths: no payload follows.
        let e = ext(NBD_CMD_WRITE_ZEROES, 0, 0, u64::MAX);
        assert_eq!(Request::parse(&e.encode(), true).unwrap().payload_len(), 0);
        // The flag, not the command, says a payload follows.
        let w = ext(NBD_CMD_WRITE, NBD_CMD_FLAG_PAYLOAD_LEN, 0, 4096);
        assert_eq!(w.payload_len(), 4096);
        let r = ext(NBD_CMD_READ, NBD_CMD_FLAG_PAYLOAD_LEN, 0, 10);
        assert_eq!(r.payload_len(), 10);
        assert_eq!(ext(NBD_CMD_WRITE, 0, 0, 4096).payload_len(), 4096);
        // A payload over the limit is connection-fatal, whatever the command.
        let big = ext(
            NBD_CMD_WRITE,
            NBD_CMD_FLAG_PAYLOAD_LEN,
            0,
            u64::from(MAX_REQUEST_SIZE) + 1,
        );
        assert_eq!(
            Request::parse(&big.encode(), true),
            Err(ProtocolError::PayloadTooLong {
                cmd: NBD_CMD_WRITE,
                length: u64::from(MAX_REQUEST_SIZE) + 1
            })
        );
        let huge = ext(NBD_CMD_CACHE, NBD_CMD_FLAG_PAYLOAD_LEN, 0, 1 << 62);
        assert!(Request::parse(&huge.encode(), true).is_err());
        let huge = ext(NBD_CMD_WRITE, 0, 0, 1 << 62);
        assert!(Request::parse(&huge.encode(), true).is_err());
        // Without a payload, any 64-bit length parses.
        let trim = ext(NBD_CMD_TRIM, 0, 0, 1 << 62);
        assert!(Request::parse(&trim.encode(), true).is_ok());
        // The limit itself is fine, and a compact write needs no flag.
        let max = ext(
            NBD_CMD_WRITE,
            NBD_CMD_FLAG_PAYLOAD_LEN,
            0,
            u64::from(MAX_REQUEST_SIZE),
        );
        assert!(Request::parse(&max.encode(), true).is_ok());
        assert_eq!(req(NBD_CMD_WRITE, 0, 0, 9).payload_len(), 9);
    }

    #[test]
    fn extended_validation() {
        let mut c = caps();
        c.extended = true;
        c.size = 16 << 30;
        // 64-bit effect lengths within the export are fine.
        for cmd in [
            NBD_CMD_TRIM,
            NBD_CMD_WRITE_ZEROES,
            NBD_CMD_CACHE,
            NBD_CMD_BLOCK_STATUS,
        ] {
            assert!(validate(&ext(cmd, 0, 0, 8 << 30), &c).is_ok(), "{cmd}");
            assert!(validate(&ext(cmd, 0, 1, 16 << 30), &c).is_err(), "{cmd}");
        }
        // Reads and writes keep the 64 MiB limit.
        assert_eq!(
            validate(&ext(NBD_CMD_READ, 0, 0, 1 << 30), &c)
                .unwrap_err()
                .error,
            NBD_ENOMEM
        );
        let w = ext(NBD_CMD_WRITE, NBD_CMD_FLAG_PAYLOAD_LEN, 0, 4096);
        assert!(validate(&w, &c).is_ok());
        // The flag is optional on a write; nothing else may have a payload.
        assert!(validate(&ext(NBD_CMD_WRITE, 0, 0, 4096), &c).is_ok());
        assert_eq!(
            validate(&ext(NBD_CMD_READ, NBD_CMD_FLAG_PAYLOAD_LEN, 0, 4096), &c)
                .unwrap_err()
                .error,
            NBD_EINVAL
        );
        // The flag is unknown on compact requests.
        assert!(validate(&req(NBD_CMD_WRITE, NBD_CMD_FLAG_PAYLOAD_LEN, 0, 1), &c).is_err());
    }

    #[test]
    fn ranges() {
        let c = caps();
        assert!(validate(&req(NBD_CMD_READ, 0, 0, 512), &c).is_ok());
        assert_eq!(
            validate(&req(NBD_CMD_READ, 0, (1 << 20) - 1, 2), &c)
                .unwrap_err()
                .error,
            NBD_EINVAL
        );
        assert_eq!(
            validate(&req(NBD_CMD_WRITE, 0, 1 << 20, 1), &c)
                .unwrap_err()
                .error,
            NBD_ENOSPC
        );
        assert_eq!(
            validate(&req(NBD_CMD_READ, 0, u64::MAX, 2), &c)
                .unwrap_err()
                .error,
            NBD_EINVAL
        );
        assert_eq!(
            validate(&req(NBD_CMD_READ, 0, 0, 0), &c).unwrap_err().error,
            NBD_EINVAL
        );
        assert_eq!(
            validate(&req(NBD_CMD_FLUSH, 0, 1, 0), &c)
                .unwrap_err()
                .error,
            NBD_EINVAL
        );
        assert_eq!(
            validate(&req(99, 0, 0, 1), &c).unwrap_err().error,
            NBD_EINVAL
        );
    }

    #[test]
    fn oversize_and_readonly() {
        let mut c = caps();
        c.size = 1 << 40;
        assert_eq!(
            validate(
                &req(NBD_CMD_WRITE, 0, 0, u64::from(MAX_REQUEST_SIZE) + 1),
                &c
            )
            .unwrap_err()
            .error,
            NBD_ENOMEM
        );
        assert!(validate(
            &req(NBD_CMD_TRIM, 0, 0, u64::from(MAX_REQUEST_SIZE) + 1),
            &c
        )
        .is_ok());
        c.readonly = true;
        assert_eq!(
            validate(&req(NBD_CMD_WRITE, 0, 0, 1), &c)
                .unwrap_err()
                .error,
            NBD_EPERM
        );
        assert!(validate(&req(NBD_CMD_READ, 0, 0, 1), &c).is_ok());
    }

    #[test]
    fn flags() {
        let mut c = caps();
        assert!(validate(&req(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 1), &c).is_ok());
        assert!(validate(&req(NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 1), &c).is_err());
        assert!(validate(&req(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 1), &c).is_ok());
        assert!(validate(&req(NBD_CMD_READ, 1 << 9, 0, 1), &c).is_err());
        assert!(validate(&req(NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 0, 1), &c).is_ok());
        c.structured = false;
        assert!(validate(&req(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 1), &c).is_err());
        assert!(validate(&req(NBD_CMD_BLOCK_STATUS, 0, 0, 1), &c).is_err());
        c.can_fast_zero = false;
        assert!(validate(&req(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 1), &c).is_err());
    }

    #[test]
    fn block_size_constraints() {
        let mut c = caps();
        c.size = 8 << 20;
        c.block_size = Some((512, 1 << 20));
        // As nbdkit: advertised, not enforced.
        assert!(validate(&req(NBD_CMD_READ, 0, 1, 512), &c).is_ok());
        assert!(validate(&req(NBD_CMD_READ, 0, 0, 4 << 20), &c).is_ok());
        c.enforce_block_size = true;
        assert!(validate(&req(NBD_CMD_READ, 0, 512, 1024), &c).is_ok());
        assert!(validate(&req(NBD_CMD_READ, 0, 1, 512), &c).is_err());
        assert!(validate(&req(NBD_CMD_READ, 0, 0, 100), &c).is_err());
        assert!(validate(&req(NBD_CMD_READ, 0, 0, 4 << 20), &c).is_err());
    }

    fn reply(mode: ReplyMode) -> Reply {
        Reply {
            mode,
            handle: 9,
            offset: 100,
        }
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn be64(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn simple_and_structured_encodings() {
        let s = reply(ReplyMode::Simple);
        assert_eq!(
            &*s.ok(),
            &[0x67, 0x44, 0x66, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]
        );
        assert_eq!(s.read_ok(4).len(), SIMPLE_REPLY_LEN);
        let mut out = Vec::new();
        s.error(&mut out, NBD_EIO, "not sent in simple mode");
        assert_eq!((out.len(), be32(&out, 4)), (SIMPLE_REPLY_LEN, NBD_EIO));

        let st = reply(ReplyMode::Structured);
        assert_eq!(st.ok().len(), SIMPLE_REPLY_LEN);
        let h = st.read_ok(4);
        assert_eq!(h.len(), CHUNK_HEADER_LEN + 8);
        assert_eq!(be32(&h, 0), NBD_STRUCTURED_REPLY_MAGIC);
        assert_eq!(be32(&h, 16), 12);
        assert_eq!(be64(&h, 20), 100);
        let h = st.hole(4096, 512, false);
        assert_eq!(h.len(), CHUNK_HEADER_LEN + 12);
        assert_eq!(&h[4..8], &[0, 0, 0, NBD_REPLY_TYPE_OFFSET_HOLE as u8]);
        assert_eq!((be32(&h, 16), be64(&h, 20), be32(&h, 28)), (12, 4096, 512));
        let mut out = Vec::new();
        st.block_status(&mut out, 1, &[(10, 3), (20, 0)]);
        assert_eq!(out.len(), 20 + 4 + 16);
        assert_eq!(be32(&out, 16), 20);
        let mut out = Vec::new();
        st.error(&mut out, NBD_EIO, "x");
        assert_eq!(out.len(), 20 + 7);
        assert_eq!(&out[20..], &[0, 0, 0, 5, 0, 1, b'x']);
    }

    #[test]
    fn extended_encodings() {
        let x = reply(ReplyMode::Extended);
        // Success is a final NONE chunk: 32 bytes, offset echoed.
        let h = x.ok();
        assert_eq!(h.len(), EXTENDED_REPLY_LEN);
        assert_eq!(be32(&h, 0), NBD_EXTENDED_REPLY_MAGIC);
        assert_eq!(
            &h[4..8],
            &[0, NBD_REPLY_FLAG_DONE as u8, 0, NBD_REPLY_TYPE_NONE as u8]
        );
        assert_eq!((be64(&h, 8), be64(&h, 16), be64(&h, 24)), (9, 100, 0));
        let h = x.read_ok(4);
        assert_eq!(h.len(), EXTENDED_REPLY_LEN + 8);
        assert_eq!((be64(&h, 24), be64(&h, 32)), (12, 100));
        let h = x.hole(200, 7, true);
        assert_eq!(h.len(), EXTENDED_REPLY_LEN + 12);
        assert_eq!((be64(&h, 24), be64(&h, 32), be32(&h, 40)), (12, 200, 7));
        let mut out = Vec::new();
        x.block_status(&mut out, 1, &[(5 << 32, 3), (20, 0)]);
        assert_eq!(out.len(), 32 + 8 + 32);
        assert_eq!(
            &out[4..8],
            &[0, 1, 0, NBD_REPLY_TYPE_BLOCK_STATUS_EXT as u8]
        );
        assert_eq!(be64(&out, 24), 40);
        assert_eq!((be32(&out, 32), be32(&out, 36)), (1, 2));
        assert_eq!((be64(&out, 40), be64(&out, 48)), (5 << 32, 3));
        let mut out = Vec::new();
        x.error(&mut out, NBD_ENOSPC, "full");
        assert_eq!(out.len(), 32 + 6 + 4);
        assert_eq!(be64(&out, 24), 10);
    }

    #[test]
    fn error_messages_are_bounded() {
        assert_eq!(error_message("disk full"), "disk full");
        assert_eq!(error_message("cut\0secret"), "cut");
        let long = "é".repeat(MAX_ERROR_MESSAGE);
        let m = error_message(&long);
        assert!(m.len() <= MAX_ERROR_MESSAGE && m.len() >= MAX_ERROR_MESSAGE - 1);
        assert!(long.starts_with(m));
    }
}
