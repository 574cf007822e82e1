//! The transmission phase: request headers in, validation against what the
//! export advertised, reply headers out.

use super::consts::*;
use super::ProtocolError;

pub const REQUEST_LEN: usize = 28;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub cmd: u16,
    pub handle: u64,
    pub offset: u64,
    pub count: u32,
}

impl Request {
    pub fn parse(b: &[u8; REQUEST_LEN]) -> Result<Request, ProtocolError> {
        let magic = u32::from_be_bytes(b[0..4].try_into().unwrap());
        if magic != NBD_REQUEST_MAGIC {
            return Err(ProtocolError::BadRequestMagic(magic));
        }
        Ok(Request {
            flags: u16::from_be_bytes(b[4..6].try_into().unwrap()),
            cmd: u16::from_be_bytes(b[6..8].try_into().unwrap()),
            handle: u64::from_be_bytes(b[8..16].try_into().unwrap()),
            offset: u64::from_be_bytes(b[16..24].try_into().unwrap()),
            count: u32::from_be_bytes(b[24..28].try_into().unwrap()),
        })
    }

    #[cfg(test)]
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[0..4].copy_from_slice(&NBD_REQUEST_MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&self.flags.to_be_bytes());
        b[6..8].copy_from_slice(&self.cmd.to_be_bytes());
        b[8..16].copy_from_slice(&self.handle.to_be_bytes());
        b[16..24].copy_from_slice(&self.offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.count.to_be_bytes());
        b
    }

    /// Bytes of payload that follow this header on the wire.  A WRITE over
    /// the maximum still carries its payload, which must be read and
    /// discarded to keep the stream in sync.
    pub fn payload_len(&self) -> u32 {
        if self.cmd == NBD_CMD_WRITE {
            self.count
        } else {
            0
        }
    }
}

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
    pub base_allocation: bool,
    /// Constraints the client was told about (NBD_INFO_BLOCK_SIZE) and so
    /// must honour: (minimum, maximum).
    pub block_size: Option<(u32, u32)>,
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

/// Check a request against the export, as nbdkit 1.32 does, in its order.
pub fn validate(r: &Request, caps: &ExportCaps) -> Result<(), Invalid> {
    let name = command_name(r.cmd);
    if caps.readonly && matches!(r.cmd, NBD_CMD_WRITE | NBD_CMD_TRIM | NBD_CMD_WRITE_ZEROES) {
        return Err(invalid(
            NBD_EPERM,
            name,
            "write request on readonly connection",
        ));
    }
    match r.cmd {
        NBD_CMD_READ | NBD_CMD_WRITE | NBD_CMD_TRIM | NBD_CMD_WRITE_ZEROES | NBD_CMD_CACHE
        | NBD_CMD_BLOCK_STATUS => {
            let in_range = r.count > 0
                && r.offset <= caps.size
                && r.offset
                    .checked_add(r.count as u64)
                    .is_some_and(|end| end <= caps.size);
            if !in_range {
                let err = if matches!(r.cmd, NBD_CMD_WRITE | NBD_CMD_WRITE_ZEROES) {
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
        NBD_CMD_FLUSH => {
            if r.offset != 0 || r.count != 0 {
                return Err(invalid(NBD_EINVAL, name, "expecting offset and count = 0"));
            }
        }
        _ => {
            return Err(Invalid {
                error: NBD_EINVAL,
                msg: format!("invalid request: unknown command ({}) ignored", r.cmd),
            })
        }
    }

    let known = NBD_CMD_FLAG_FUA
        | NBD_CMD_FLAG_NO_HOLE
        | NBD_CMD_FLAG_DF
        | NBD_CMD_FLAG_REQ_ONE
        | NBD_CMD_FLAG_FAST_ZERO;
    if r.flags & !known != 0 {
        return Err(invalid(
            NBD_EINVAL,
            name,
            format_args!("unknown flags ({:#x})", r.flags),
        ));
    }
    if r.flags & NBD_CMD_FLAG_FUA != 0
        && !matches!(r.cmd, NBD_CMD_WRITE | NBD_CMD_TRIM | NBD_CMD_WRITE_ZEROES)
    {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "FUA flag not supported with this command",
        ));
    }
    if r.flags & NBD_CMD_FLAG_NO_HOLE != 0 && r.cmd != NBD_CMD_WRITE_ZEROES {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "NO_HOLE flag only valid with NBD_CMD_WRITE_ZEROES",
        ));
    }
    if r.flags & NBD_CMD_FLAG_FAST_ZERO != 0 && r.cmd != NBD_CMD_WRITE_ZEROES {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "FAST_ZERO flag only valid with NBD_CMD_WRITE_ZEROES",
        ));
    }
    if r.flags & NBD_CMD_FLAG_DF != 0 {
        if r.cmd != NBD_CMD_READ {
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
    if r.flags & NBD_CMD_FLAG_REQ_ONE != 0 && r.cmd != NBD_CMD_BLOCK_STATUS {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "REQ_ONE flag only valid with NBD_CMD_BLOCK_STATUS",
        ));
    }

    if matches!(r.cmd, NBD_CMD_READ | NBD_CMD_WRITE) && r.count > MAX_REQUEST_SIZE {
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
    let unsupported = match r.cmd {
        NBD_CMD_FLUSH => !caps.can_flush,
        NBD_CMD_TRIM => !caps.can_trim,
        NBD_CMD_WRITE_ZEROES => !caps.can_zero,
        NBD_CMD_CACHE => !caps.can_cache,
        _ => false,
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
    if r.cmd == NBD_CMD_BLOCK_STATUS && !(caps.structured && caps.base_allocation) {
        return Err(invalid(
            NBD_EINVAL,
            name,
            "base:allocation was not negotiated",
        ));
    }

    if let Some((min, max)) = caps.block_size {
        let data = matches!(r.cmd, NBD_CMD_READ | NBD_CMD_WRITE);
        if min > 1 && (r.offset % min as u64 != 0 || r.count % min != 0) {
            return Err(invalid(
                NBD_EINVAL,
                name,
                format_args!(
                    "request offset {} or count {} is not a multiple of the minimum block size {min}",
                    r.offset, r.count
                ),
            ));
        }
        if data && r.count > max {
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

pub const SIMPLE_REPLY_LEN: usize = 16;
pub const CHUNK_HEADER_LEN: usize = 20;

pub fn encode_simple_reply(handle: u64, error: u32) -> [u8; SIMPLE_REPLY_LEN] {
    let mut b = [0u8; SIMPLE_REPLY_LEN];
    b[0..4].copy_from_slice(&NBD_SIMPLE_REPLY_MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&error.to_be_bytes());
    b[8..16].copy_from_slice(&handle.to_be_bytes());
    b
}

fn chunk_header(b: &mut [u8], flags: u16, typ: u16, handle: u64, len: u32) {
    b[0..4].copy_from_slice(&NBD_STRUCTURED_REPLY_MAGIC.to_be_bytes());
    b[4..6].copy_from_slice(&flags.to_be_bytes());
    b[6..8].copy_from_slice(&typ.to_be_bytes());
    b[8..16].copy_from_slice(&handle.to_be_bytes());
    b[16..20].copy_from_slice(&len.to_be_bytes());
}

/// Header of a final OFFSET_DATA chunk carrying `len` bytes read at `offset`;
/// the data follows it on the wire.
pub fn encode_read_chunk(handle: u64, offset: u64, len: u32) -> [u8; CHUNK_HEADER_LEN + 8] {
    let mut b = [0u8; CHUNK_HEADER_LEN + 8];
    chunk_header(
        &mut b,
        NBD_REPLY_FLAG_DONE,
        NBD_REPLY_TYPE_OFFSET_DATA,
        handle,
        len + 8,
    );
    b[20..28].copy_from_slice(&offset.to_be_bytes());
    b
}

/// A final ERROR chunk with an (optional) message.
pub fn encode_error_chunk(out: &mut Vec<u8>, handle: u64, error: u32, msg: &str) {
    let msg = &msg.as_bytes()[..msg.len().min(4096)];
    let mut h = [0u8; CHUNK_HEADER_LEN];
    chunk_header(
        &mut h,
        NBD_REPLY_FLAG_DONE,
        NBD_REPLY_TYPE_ERROR,
        handle,
        6 + msg.len() as u32,
    );
    out.extend_from_slice(&h);
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
}

/// A final BLOCK_STATUS chunk: (length, flags) descriptors for one context.
pub fn encode_block_status(out: &mut Vec<u8>, handle: u64, context: u32, descs: &[(u32, u32)]) {
    let mut h = [0u8; CHUNK_HEADER_LEN];
    let len = 4 + 8 * descs.len() as u32;
    chunk_header(
        &mut h,
        NBD_REPLY_FLAG_DONE,
        NBD_REPLY_TYPE_BLOCK_STATUS,
        handle,
        len,
    );
    out.reserve(CHUNK_HEADER_LEN + len as usize);
    out.extend_from_slice(&h);
    out.extend_from_slice(&context.to_be_bytes());
    for (l, f) in descs {
        out.extend_from_slice(&l.to_be_bytes());
        out.extend_from_slice(&f.to_be_bytes());
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

    fn req(cmd: u16, flags: u16, offset: u64, count: u32) -> Request {
        Request {
            flags,
            cmd,
            handle: 7,
            offset,
            count,
        }
    }

    #[test]
    fn roundtrip_and_bad_magic() {
        let r = req(NBD_CMD_WRITE, 1, 4096, 512);
        assert_eq!(Request::parse(&r.encode()), Ok(r));
        let mut b = r.encode();
        b[0] = 0;
        assert!(Request::parse(&b).is_err());
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
            validate(&req(NBD_CMD_WRITE, 0, 0, MAX_REQUEST_SIZE + 1), &c)
                .unwrap_err()
                .error,
            NBD_ENOMEM
        );
        assert!(validate(&req(NBD_CMD_TRIM, 0, 0, MAX_REQUEST_SIZE + 1), &c).is_ok());
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
        c.block_size = Some((512, 1 << 20));
        assert!(validate(&req(NBD_CMD_READ, 0, 512, 1024), &c).is_ok());
        assert!(validate(&req(NBD_CMD_READ, 0, 1, 512), &c).is_err());
        assert!(validate(&req(NBD_CMD_READ, 0, 0, 100), &c).is_err());
    }

    #[test]
    fn encodings() {
        assert_eq!(encode_simple_reply(1, 5)[4..8], 5u32.to_be_bytes());
        let h = encode_read_chunk(9, 100, 4);
        assert_eq!(&h[16..20], &12u32.to_be_bytes());
        let mut out = Vec::new();
        encode_block_status(&mut out, 9, 1, &[(10, 3), (20, 0)]);
        assert_eq!(out.len(), 20 + 4 + 16);
        let mut out = Vec::new();
        encode_error_chunk(&mut out, 1, NBD_EIO, "x");
        assert_eq!(out.len(), 20 + 7);
    }
}
