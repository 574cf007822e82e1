//! The handshake phase: greetings, option requests and option replies.
//! Pure: bytes in, values out, values in, bytes out.

use super::consts::*;
use super::ProtocolError;
use std::borrow::Cow;

/// The fixed-newstyle greeting: magic, IHAVEOPT, handshake flags.
pub fn encode_greeting(flags: u16) -> [u8; 18] {
    let mut b = [0u8; 18];
    b[0..8].copy_from_slice(&NBDMAGIC.to_be_bytes());
    b[8..16].copy_from_slice(&IHAVEOPT.to_be_bytes());
    b[16..18].copy_from_slice(&flags.to_be_bytes());
    b
}

/// The oldstyle greeting carries the export at once: 152 bytes.
pub fn encode_oldstyle(size: u64, eflags: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(152);
    b.extend_from_slice(&NBDMAGIC.to_be_bytes());
    b.extend_from_slice(&NBD_OLD_VERSION.to_be_bytes());
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&(eflags as u32).to_be_bytes());
    b.resize(152, 0);
    b
}

/// An option header as the client sends it: magic, option, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionHeader {
    pub option: u32,
    pub length: u32,
}

pub const OPTION_HEADER_LEN: usize = 16;

impl OptionHeader {
    pub fn parse(b: &[u8; OPTION_HEADER_LEN]) -> Result<OptionHeader, ProtocolError> {
        let magic = u64::from_be_bytes(b[0..8].try_into().unwrap());
        if magic != IHAVEOPT {
            return Err(ProtocolError::BadOptionMagic(magic));
        }
        let option = u32::from_be_bytes(b[8..12].try_into().unwrap());
        let length = u32::from_be_bytes(b[12..16].try_into().unwrap());
        if length > MAX_OPTION_LENGTH {
            return Err(ProtocolError::OptionTooLong { option, length });
        }
        Ok(OptionHeader { option, length })
    }
}

/// A well-formed option whose payload failed validation: reply with
/// `NBD_REP_ERR_INVALID` and this message, then carry on negotiating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOption(pub String);

/// The payload of NBD_OPT_INFO / NBD_OPT_GO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    /// Bytes, as nbdkit takes them: any encoding, but never a NUL.
    pub export_name: Vec<u8>,
    pub requests: Vec<u16>,
}

fn take<'a>(p: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], InvalidOption> {
    if p.len() < n {
        return Err(InvalidOption(format!("{what}: payload too short")));
    }
    let (a, b) = p.split_at(n);
    *p = b;
    Ok(a)
}

fn take_u32(p: &mut &[u8], what: &str) -> Result<u32, InvalidOption> {
    Ok(u32::from_be_bytes(take(p, 4, what)?.try_into().unwrap()))
}

fn take_u16(p: &mut &[u8], what: &str) -> Result<u16, InvalidOption> {
    Ok(u16::from_be_bytes(take(p, 2, what)?.try_into().unwrap()))
}

/// A length-prefixed string of the handshake: bytes in any encoding (as
/// nbdkit takes them), at most [`MAX_STRING`] of them and no NUL (C
/// plugins get it as a C string).  `noun` names it in errors, as nbdkit
/// does ("export name", "meta context query").
fn take_string(p: &mut &[u8], what: &str, noun: &str) -> Result<Vec<u8>, InvalidOption> {
    let len = take_u32(p, what)? as usize;
    if len > MAX_STRING {
        return Err(InvalidOption(format!("{what}: {noun} too long")));
    }
    let s = take(p, len, what)?;
    check_string(s, what, noun)?;
    Ok(s.to_vec())
}

fn check_string(s: &[u8], what: &str, noun: &str) -> Result<(), InvalidOption> {
    if s.len() > MAX_STRING {
        return Err(InvalidOption(format!("{what}: {noun} too long")));
    }
    if s.contains(&0) {
        return Err(InvalidOption(format!(
            "{what}: {noun} may not include NUL bytes"
        )));
    }
    Ok(())
}

/// The name sent with NBD_OPT_EXPORT_NAME is the whole payload.
pub fn parse_export_name(p: &[u8]) -> Result<Vec<u8>, InvalidOption> {
    check_string(p, "NBD_OPT_EXPORT_NAME", "export name")?;
    Ok(p.to_vec())
}

pub fn parse_info(mut p: &[u8], what: &str) -> Result<InfoRequest, InvalidOption> {
    let export_name = take_string(&mut p, what, "export name")?;
    let n = take_u16(&mut p, what)? as usize;
    if p.len() != n * 2 {
        return Err(InvalidOption(format!(
            "{what}: wrong number of information requests"
        )));
    }
    let requests = p
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Ok(InfoRequest {
        export_name,
        requests,
    })
}

/// The payload of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRequest {
    pub export_name: Vec<u8>,
    pub queries: Vec<Vec<u8>>,
}

pub fn parse_meta(mut p: &[u8], what: &str) -> Result<MetaRequest, InvalidOption> {
    let export_name = take_string(&mut p, what, "export name")?;
    let n = take_u32(&mut p, what)?;
    // Each query takes at least its 4-byte length: a count the payload
    // cannot hold is refused before anything is allocated for it.
    if n as usize > p.len() / 4 {
        return Err(InvalidOption(format!("{what}: payload too short")));
    }
    let mut queries = Vec::with_capacity(n as usize);
    for _ in 0..n {
        queries.push(take_string(&mut p, what, "meta context query")?);
    }
    if !p.is_empty() {
        return Err(InvalidOption(format!(
            "{what}: trailing bytes after queries"
        )));
    }
    Ok(MetaRequest {
        export_name,
        queries,
    })
}

/// Does a meta context query select `base:allocation`?  For LIST, `base:`
/// (the whole namespace) does too.
pub fn query_matches_base_allocation(q: &[u8], listing: bool) -> bool {
    q == BASE_ALLOCATION.as_bytes() || (listing && q == b"base:")
}

/// Append one option reply: magic, option, type, length, payload.
pub fn encode_option_reply(out: &mut Vec<u8>, option: u32, reply: u32, payload: &[u8]) {
    out.reserve(20 + payload.len());
    out.extend_from_slice(&NBD_REP_MAGIC.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&reply.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn encode_info_export(out: &mut Vec<u8>, option: u32, size: u64, eflags: u16) {
    let mut p = [0u8; 12];
    p[0..2].copy_from_slice(&NBD_INFO_EXPORT.to_be_bytes());
    p[2..10].copy_from_slice(&size.to_be_bytes());
    p[10..12].copy_from_slice(&eflags.to_be_bytes());
    encode_option_reply(out, option, NBD_REP_INFO, &p);
}

pub fn encode_info_string(out: &mut Vec<u8>, option: u32, info: u16, s: &[u8]) {
    let mut p = Vec::with_capacity(2 + s.len());
    p.extend_from_slice(&info.to_be_bytes());
    p.extend_from_slice(s);
    encode_option_reply(out, option, NBD_REP_INFO, &p);
}

pub fn encode_info_block_size(out: &mut Vec<u8>, option: u32, min: u32, pref: u32, max: u32) {
    let mut p = [0u8; 14];
    p[0..2].copy_from_slice(&NBD_INFO_BLOCK_SIZE.to_be_bytes());
    p[2..6].copy_from_slice(&min.to_be_bytes());
    p[6..10].copy_from_slice(&pref.to_be_bytes());
    p[10..14].copy_from_slice(&max.to_be_bytes());
    encode_option_reply(out, option, NBD_REP_INFO, &p);
}

pub fn encode_rep_server(out: &mut Vec<u8>, name: &str, description: Option<&str>) {
    let mut p = Vec::with_capacity(4 + name.len());
    p.extend_from_slice(&(name.len() as u32).to_be_bytes());
    p.extend_from_slice(name.as_bytes());
    if let Some(d) = description {
        p.extend_from_slice(d.as_bytes());
    }
    encode_option_reply(out, NBD_OPT_LIST, NBD_REP_SERVER, &p);
}

pub fn encode_meta_context(out: &mut Vec<u8>, option: u32, id: u32, name: &str) {
    let mut p = Vec::with_capacity(4 + name.len());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(name.as_bytes());
    encode_option_reply(out, option, NBD_REP_META_CONTEXT, &p);
}

/// The reply to NBD_OPT_EXPORT_NAME: size, flags, and 124 zeroes unless
/// the client asked for NO_ZEROES.
pub fn encode_export_name_reply(out: &mut Vec<u8>, size: u64, eflags: u16, no_zeroes: bool) {
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&eflags.to_be_bytes());
    if !no_zeroes {
        out.extend_from_slice(&[0u8; 124]);
    }
}

pub fn option_name(opt: u32) -> Cow<'static, str> {
    match opt {
        NBD_OPT_EXPORT_NAME => "NBD_OPT_EXPORT_NAME".into(),
        NBD_OPT_ABORT => "NBD_OPT_ABORT".into(),
        NBD_OPT_LIST => "NBD_OPT_LIST".into(),
        NBD_OPT_STARTTLS => "NBD_OPT_STARTTLS".into(),
        NBD_OPT_INFO => "NBD_OPT_INFO".into(),
        NBD_OPT_GO => "NBD_OPT_GO".into(),
        NBD_OPT_STRUCTURED_REPLY => "NBD_OPT_STRUCTURED_REPLY".into(),
        NBD_OPT_LIST_META_CONTEXT => "NBD_OPT_LIST_META_CONTEXT".into(),
        NBD_OPT_SET_META_CONTEXT => "NBD_OPT_SET_META_CONTEXT".into(),
        NBD_OPT_EXTENDED_HEADERS => "NBD_OPT_EXTENDED_HEADERS".into(),
        n => format!("unknown ({n:#x})").into(),
    }
}

/// nbdkit's name for an option reply type.
pub fn reply_name(code: u32) -> Cow<'static, str> {
    match code {
        NBD_REP_ACK => "NBD_REP_ACK".into(),
        NBD_REP_SERVER => "NBD_REP_SERVER".into(),
        NBD_REP_INFO => "NBD_REP_INFO".into(),
        NBD_REP_META_CONTEXT => "NBD_REP_META_CONTEXT".into(),
        NBD_REP_ERR_UNSUP => "NBD_REP_ERR_UNSUP".into(),
        NBD_REP_ERR_POLICY => "NBD_REP_ERR_POLICY".into(),
        NBD_REP_ERR_INVALID => "NBD_REP_ERR_INVALID".into(),
        NBD_REP_ERR_PLATFORM => "NBD_REP_ERR_PLATFORM".into(),
        NBD_REP_ERR_TLS_REQD => "NBD_REP_ERR_TLS_REQD".into(),
        NBD_REP_ERR_UNKNOWN => "NBD_REP_ERR_UNKNOWN".into(),
        NBD_REP_ERR_SHUTDOWN => "NBD_REP_ERR_SHUTDOWN".into(),
        NBD_REP_ERR_BLOCK_SIZE_REQD => "NBD_REP_ERR_BLOCK_SIZE_REQD".into(),
        NBD_REP_ERR_TOO_BIG => "NBD_REP_ERR_TOO_BIG".into(),
        NBD_REP_ERR_EXT_HEADER_REQD => "NBD_REP_ERR_EXT_HEADER_REQD".into(),
        n => format!("unknown ({n:#x})").into(),
    }
}

/// nbdkit's name for an NBD_INFO_* request.
pub fn info_name(info: u16) -> Cow<'static, str> {
    match info {
        NBD_INFO_EXPORT => "NBD_INFO_EXPORT".into(),
        NBD_INFO_NAME => "NBD_INFO_NAME".into(),
        NBD_INFO_DESCRIPTION => "NBD_INFO_DESCRIPTION".into(),
        NBD_INFO_BLOCK_SIZE => "NBD_INFO_BLOCK_SIZE".into(),
        n => format!("unknown ({n:#x})").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u64, opt: u32, len: u32) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&magic.to_be_bytes());
        b[8..12].copy_from_slice(&opt.to_be_bytes());
        b[12..16].copy_from_slice(&len.to_be_bytes());
        b
    }

    #[test]
    fn option_header_checks_magic_and_length() {
        assert_eq!(
            OptionHeader::parse(&header(IHAVEOPT, NBD_OPT_GO, 10)),
            Ok(OptionHeader {
                option: NBD_OPT_GO,
                length: 10
            })
        );
        assert!(matches!(
            OptionHeader::parse(&header(NBDMAGIC, 7, 0)),
            Err(ProtocolError::BadOptionMagic(_))
        ));
        assert!(matches!(
            OptionHeader::parse(&header(IHAVEOPT, 7, u32::MAX)),
            Err(ProtocolError::OptionTooLong { .. })
        ));
    }

    #[test]
    fn info_payload() {
        let mut p = vec![0, 0, 0, 3];
        p.extend_from_slice(b"abc");
        p.extend_from_slice(&[0, 2, 0, 3, 0, 1]);
        assert_eq!(
            parse_info(&p, "GO"),
            Ok(InfoRequest {
                export_name: b"abc".to_vec(),
                requests: vec![3, 1]
            })
        );
        // Truncated: claims 2 requests, has 1.
        assert!(parse_info(&p[..p.len() - 2], "GO").is_err());
        // Name length past the payload.
        assert!(parse_info(&[0, 0, 0, 9, b'a'], "GO").is_err());
        // Name length over 4096.
        assert!(parse_info(&[0, 0, 0x10, 1], "GO").is_err());
        assert!(parse_info(&[], "GO").is_err());
    }

    #[test]
    fn meta_payload() {
        let mut p = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 15];
        p.extend_from_slice(b"base:allocation");
        let m = parse_meta(&p, "SET").unwrap();
        assert_eq!(m.queries, vec![b"base:allocation".to_vec()]);
        p.push(0);
        assert!(parse_meta(&p, "SET").is_err());
        assert!(parse_meta(&[0, 0, 0, 0, 0, 0, 0, 2], "SET").is_err());
        // A huge query count with no queries: refused, nothing allocated.
        assert!(parse_meta(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], "SET").is_err());
    }

    #[test]
    fn names_are_bytes_without_nul() {
        // Invalid UTF-8 is taken as it is (as nbdkit does); NUL is refused.
        assert_eq!(parse_export_name(b"\xff\xfe"), Ok(b"\xff\xfe".to_vec()));
        assert_eq!(
            parse_export_name(b"a\0b"),
            Err(InvalidOption(
                "NBD_OPT_EXPORT_NAME: export name may not include NUL bytes".into()
            ))
        );
        assert!(parse_export_name(&[b'x'; 4096]).is_ok());
        assert!(parse_export_name(&[b'x'; 4097]).is_err());
        let go = |name: &[u8]| {
            let mut p = (name.len() as u32).to_be_bytes().to_vec();
            p.extend_from_slice(name);
            p.extend_from_slice(&[0, 0]);
            parse_info(&p, "NBD_OPT_GO")
        };
        assert_eq!(go(b"\xc3\x28").unwrap().export_name, b"\xc3\x28");
        assert_eq!(
            go(b"\0"),
            Err(InvalidOption(
                "NBD_OPT_GO: export name may not include NUL bytes".into()
            ))
        );
        assert_eq!(
            go(&[b'x'; 4097]),
            Err(InvalidOption("NBD_OPT_GO: export name too long".into()))
        );
        let meta = |q: &[u8]| {
            let mut p = vec![0, 0, 0, 0, 0, 0, 0, 1];
            p.extend_from_slice(&(q.len() as u32).to_be_bytes());
            p.extend_from_slice(q);
            parse_meta(&p, "NBD_OPT_SET_META_CONTEXT")
        };
        assert!(meta(b"\xff:").is_ok());
        assert_eq!(
            meta(b"b\0:"),
            Err(InvalidOption(
                "NBD_OPT_SET_META_CONTEXT: meta context query may not include NUL bytes".into()
            ))
        );
        assert_eq!(
            meta(&[b'x'; 5000]),
            Err(InvalidOption(
                "NBD_OPT_SET_META_CONTEXT: meta context query too long".into()
            ))
        );
    }

    #[test]
    fn replies_encode() {
        let mut out = Vec::new();
        encode_info_export(&mut out, NBD_OPT_GO, 1 << 30, 0x1234);
        assert_eq!(out.len(), 20 + 12);
        assert_eq!(&out[0..8], &NBD_REP_MAGIC.to_be_bytes());
        assert_eq!(&out[16..20], &12u32.to_be_bytes());
        let mut out = Vec::new();
        encode_export_name_reply(&mut out, 5, 1, false);
        assert_eq!(out.len(), 134);
        assert_eq!(encode_oldstyle(1, 1).len(), 152);
    }
}
