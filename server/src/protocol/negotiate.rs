//! Fixed-newstyle option negotiation as a pure state machine: the state
//! ([`Nego`]) and one option in, the reply bytes and what the connection
//! does next ([`Transition`]) out.  No I/O and no backend calls: options
//! that need the backend (EXPORT_NAME, LIST, INFO, GO) come out as a
//! [`BackendOption`] for `net/` to run, and STARTTLS comes out as
//! [`Next::StartTls`] for `net/` to begin the TLS handshake.
//!
//! To add an option: give it an arm in [`Nego::option`] (after the
//! `TLS_REQD` gate, which every option but ABORT and STARTTLS passes
//! through), and a case in the table tests below.

use super::consts::*;
use super::handshake::{self as hs, InfoRequest, InvalidOption};
use super::transmission::ExportCaps;
use super::ProtocolError;

/// `--tls`: whether TLS is offered, and whether it is required before
/// anything but STARTTLS and ABORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    #[default]
    Off,
    On,
    Require,
}

/// Server settings that shape negotiation (fixed for the server's life).
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub tls: TlsMode,
    /// `--no-sr`: refuse NBD_OPT_STRUCTURED_REPLY.
    pub no_sr: bool,
    /// `--no-meta-contexts`: refuse NBD_OPT_LIST_META_CONTEXT and
    /// NBD_OPT_SET_META_CONTEXT (with NBD_REP_ERR_UNSUP).
    pub no_mc: bool,
}

/// What negotiation has settled so far on one connection.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Nego {
    pub no_zeroes: bool,
    pub structured: bool,
    /// NBD_OPT_EXTENDED_HEADERS was accepted: 32-byte request and reply
    /// headers in transmission.  Implies `structured`.
    pub extended: bool,
    pub base_allocation: bool,
    /// The connection switched to TLS (STARTTLS was accepted).
    pub tls: bool,
    /// Options received so far, to stop clients that never finish.
    pub options: u32,
    /// NBD_OPT_LIST was answered (nbdkit answers it once).
    pub list_seen: bool,
    /// The export NBD_OPT_SET_META_CONTEXT named: contexts selected for
    /// it do not hold for another export.
    pub meta_export: Option<Vec<u8>>,
}

/// An option the backend must answer.  `net/` runs it and encodes the
/// reply with the `handshake` encoders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendOption {
    /// Bytes: any encoding, no NUL.
    ExportName(Vec<u8>),
    List,
    /// NBD_OPT_INFO or NBD_OPT_GO (in `option`).
    InfoGo {
        option: u32,
        req: InfoRequest,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send the reply and read the next option.
    Options,
    /// Run this on the backend; its outcome decides what follows.
    Backend(BackendOption),
    /// Send the reply (NBD_REP_ACK), then run the TLS handshake: bytes the
    /// client sent after the option are not options.
    StartTls,
    /// Send the reply (if any), then close the connection.
    Close,
}

/// A line for the server's log that an option produced, in the order the
/// server is to print it (nbdkit's words, so `-v` output reads as
/// nbdkit's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// A `-v` line.
    Debug(String),
    /// An error-level line (a bad payload, overlong negotiation).
    Error(String),
}

/// The result of one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub reply: Vec<u8>,
    pub next: Next,
    /// What to log, in order, before the reply goes out.
    pub said: Vec<Said>,
    /// What to log once the reply is written (nbdkit says it only then).
    pub after: Vec<Said>,
    /// The reply may go unread (the client hangs up after ABORT): a write
    /// that fails is logged as this, then the reason, as nbdkit does.
    pub failed_write: Option<String>,
}

impl Transition {
    fn new(next: Next) -> Transition {
        Transition {
            reply: Vec::new(),
            next,
            said: Vec::new(),
            after: Vec::new(),
            failed_write: None,
        }
    }

    fn close(error: Option<String>) -> Transition {
        let mut t = Transition::new(Next::Close);
        t.said.extend(error.map(Said::Error));
        t
    }

    fn debug(&mut self, line: String) -> &mut Self {
        self.said.push(Said::Debug(line));
        self
    }

    fn error_line(&mut self, line: String) -> &mut Self {
        self.said.push(Said::Error(line));
        self
    }

    /// Append a reply without payload to `opt` and nbdkit's line for it.
    fn answer(&mut self, opt: u32, code: u32) -> &mut Self {
        self.answer_msg(opt, code, "")
    }

    /// As [`Transition::answer`], with a message (ours: nbdkit 1.32.5
    /// sends none) in the reply's payload.
    fn answer_msg(&mut self, opt: u32, code: u32, msg: &str) -> &mut Self {
        self.debug(replying(opt, code));
        hs::encode_option_reply(&mut self.reply, opt, code, msg.as_bytes());
        self
    }

    /// The first error-level line, if any.
    #[cfg(test)]
    pub fn error(&self) -> Option<&str> {
        self.said.iter().find_map(|s| match s {
            Said::Error(e) => Some(e.as_str()),
            Said::Debug(_) => None,
        })
    }
}

/// nbdkit's line for an option reply without payload.
fn replying(opt: u32, code: u32) -> String {
    format!(
        "replying to {} with {}",
        hs::option_name(opt),
        hs::reply_name(code)
    )
}

/// nbdkit's line for the flags the server offers in its greeting.
fn greeting_line(gflags: u16) -> String {
    format!("newstyle negotiation: flags: global {gflags:#x}")
}

/// nbdkit's line for the flags the client answered with.
pub fn client_flags_line(cflags: u32) -> String {
    format!("newstyle negotiation: client flags: {cflags:#x}")
}

/// nbdkit's line for the transmission flags of an export once opened.
fn export_flags_line(eflags: u16) -> String {
    format!("newstyle negotiation: flags: export {eflags:#x}")
}

/// nbdkit's line for the oldstyle handshake, sent once the export is open.
fn oldstyle_line(gflags: u16, eflags: u16) -> String {
    format!("oldstyle negotiation: flags: global {gflags:#x} export {eflags:#x}")
}

/// nbdkit's line for an export name an option carried.
fn requested_export(opt: u32, name: &[u8]) -> String {
    format!(
        "newstyle negotiation: {}: client requested export '{}'",
        hs::option_name(opt),
        String::from_utf8_lossy(name)
    )
}

/// What the server knows for one NBD_INFO_* request of INFO or GO, once
/// it has asked the backend (in the client's order, as nbdkit).
pub enum InfoAnswer<'a> {
    /// NBD_INFO_NAME: the name, or None when the default export has none.
    Name(Option<&'a [u8]>),
    /// NBD_INFO_DESCRIPTION.
    Description(Option<&'a str>),
    /// NBD_INFO_BLOCK_SIZE: (minimum, preferred, maximum), or None.
    BlockSize(Option<(u32, u32, u32)>),
    /// NBD_INFO_EXPORT (always sent first) or a request we do not know.
    Other,
}

/// Append the reply to one NBD_INFO_* request and return nbdkit's line
/// about it, if it has one.
pub fn info_reply(out: &mut Vec<u8>, opt: u32, info: u16, a: InfoAnswer) -> Option<String> {
    let name = hs::option_name(opt);
    match a {
        InfoAnswer::Name(Some(n)) => hs::encode_info_string(out, opt, NBD_INFO_NAME, n),
        InfoAnswer::Name(None) => {
            return Some(format!(
                "newstyle negotiation: {name}: NBD_INFO_NAME: no name to send"
            ))
        }
        InfoAnswer::Description(Some(d)) => {
            hs::encode_info_string(out, opt, NBD_INFO_DESCRIPTION, d.as_bytes())
        }
        InfoAnswer::Description(None) => {
            return Some(format!(
                "newstyle negotiation: {name}: NBD_INFO_DESCRIPTION: no description to send"
            ))
        }
        InfoAnswer::BlockSize(Some((min, pref, max))) => {
            hs::encode_info_block_size(out, opt, min, pref, max)
        }
        InfoAnswer::BlockSize(None) => {
            return Some(format!(
                "newstyle negotiation: {name}: NBD_INFO_BLOCK_SIZE: client requested but no \
                 plugin or filter provided block size information, ignoring client request"
            ))
        }
        InfoAnswer::Other if info == NBD_INFO_EXPORT => {}
        InfoAnswer::Other => {
            return Some(format!(
                "newstyle negotiation: {name}: ignoring NBD_INFO_* request {info} ({})",
                hs::info_name(info)
            ))
        }
    }
    None
}

/// nbdkit's `-v` line about a reply to the backend's answer, formatted
/// only if it is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Replying { opt: u32, code: u32 },
    Greeting(u16),
    ExportFlags(u16),
    Oldstyle(u16),
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&match *self {
            Line::Replying { opt, code } => replying(opt, code),
            Line::Greeting(flags) => greeting_line(flags),
            Line::ExportFlags(eflags) => export_flags_line(eflags),
            Line::Oldstyle(eflags) => oldstyle_line(0, eflags),
        })
    }
}

// The backend's answers.  `net/` asks the backend what an option needs
// (open the export, list the exports, describe it) and hands the answers
// here: each function appends the reply to `out` and returns nbdkit's
// `-v` [`Line`] for it, for the caller to log at once (in order with the
// backend's own lines).

/// The server's greeting (newstyle): fixed newstyle and no zeroes, less
/// what `--mask-handshake` hides.
pub fn greeting(out: &mut Vec<u8>, mask: u16) -> Line {
    let flags = (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) & mask;
    out.extend_from_slice(&hs::encode_greeting(flags));
    Line::Greeting(flags)
}

/// The oldstyle handshake, once the export is open: its size and flags.
pub fn oldstyle_opened(out: &mut Vec<u8>, size: u64, eflags: u16) -> Line {
    out.extend_from_slice(&hs::encode_oldstyle(size, eflags));
    Line::Oldstyle(eflags)
}

/// NBD_OPT_LIST answered: one NBD_REP_SERVER per export (name and
/// description) and the ACK, or the backend's failure with its reason
/// ([`error_text`]).
pub fn list_answered<'a>(
    out: &mut Vec<u8>,
    exports: std::result::Result<impl Iterator<Item = (&'a str, Option<&'a str>)>, &str>,
) -> Line {
    let (code, text) = match exports {
        Ok(list) => {
            for (name, description) in list {
                hs::encode_rep_server(out, name, description);
            }
            (NBD_REP_ACK, &[][..])
        }
        Err(reason) => (NBD_REP_ERR_PLATFORM, error_text(reason)),
    };
    hs::encode_option_reply(out, NBD_OPT_LIST, code, text);
    Line::Replying {
        opt: NBD_OPT_LIST,
        code,
    }
}

/// The text of an error reply to an option the backend failed, as nbdkit
/// 1.42 and later send it: the plugin's or filter's last `nbdkit_error`
/// message (or the server's reason), left out when longer than a protocol
/// string may be.
fn error_text(reason: &str) -> &[u8] {
    match reason.len() {
        n if n <= MAX_STRING => reason.as_bytes(),
        _ => &[],
    }
}

/// NBD_OPT_INFO or NBD_OPT_GO could not open the export: nbdkit answers
/// every failed open with NBD_REP_ERR_UNKNOWN, whatever the plugin's
/// errno, and the reason ([`error_text`]) in the payload.
pub fn open_refused(out: &mut Vec<u8>, opt: u32, reason: &str) -> Line {
    hs::encode_option_reply(out, opt, NBD_REP_ERR_UNKNOWN, error_text(reason));
    Line::Replying {
        opt,
        code: NBD_REP_ERR_UNKNOWN,
    }
}

/// NBD_OPT_INFO or NBD_OPT_GO opened the export: NBD_INFO_EXPORT first,
/// before the replies to what the client asked for ([`info_reply`]).
pub fn export_opened(out: &mut Vec<u8>, opt: u32, size: u64, eflags: u16) -> Line {
    hs::encode_info_export(out, opt, size, eflags);
    Line::ExportFlags(eflags)
}

/// NBD_OPT_INFO or NBD_OPT_GO: every NBD_INFO_* request answered.
pub fn info_done(out: &mut Vec<u8>, opt: u32) -> Line {
    hs::encode_option_reply(out, opt, NBD_REP_ACK, &[]);
    Line::Replying {
        opt,
        code: NBD_REP_ACK,
    }
}

/// Whether a successful INFO or GO ends negotiation (GO), or only
/// described the export, which is closed again (INFO).
pub fn enters_transmission(opt: u32) -> bool {
    opt == NBD_OPT_GO
}

impl Nego {
    /// NBD_OPT_EXPORT_NAME opened the export: its size and flags (and the
    /// zeroes unless the client asked for none).  There is no reply for a
    /// failed open: the connection closes.
    pub fn export_name_opened(&self, out: &mut Vec<u8>, size: u64, eflags: u16) -> Line {
        hs::encode_export_name_reply(out, size, eflags, self.no_zeroes);
        Line::ExportFlags(eflags)
    }

    /// What negotiation settled that transmission checks requests
    /// against, on top of what opening the export said.  `block_size`:
    /// the constraints the client was told and the server enforces.
    pub fn settle(&self, caps: &mut ExportCaps, block_size: Option<(u32, u32)>) {
        caps.base_allocation = self.base_allocation;
        caps.extended = self.extended;
        if block_size.is_some() {
            caps.block_size = block_size;
        }
    }

    /// The state after the client's flags, or the fatal error for flags
    /// this server does not know.
    pub fn from_client_flags(flags: u32) -> Result<Nego, ProtocolError> {
        let known = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;
        if flags & !known != 0 {
            return Err(ProtocolError::UnknownClientFlags(flags));
        }
        Ok(Nego {
            no_zeroes: flags & NBD_FLAG_C_NO_ZEROES != 0,
            ..Default::default()
        })
    }

    /// One option, its header already checked (`OptionHeader::parse`) and
    /// its whole payload read.  Updates `self` to the next state.
    pub fn option(&mut self, policy: &Policy, opt: u32, payload: &[u8]) -> Transition {
        self.options += 1;
        if self.options > MAX_NR_OPTIONS {
            return Transition::close(Some(
                "client spent too much time negotiating without selecting an export".into(),
            ));
        }
        let name = hs::option_name(opt);
        let tls_missing = policy.tls == TlsMode::Require && !self.tls;
        if tls_missing && opt != NBD_OPT_ABORT && opt != NBD_OPT_STARTTLS {
            // EXPORT_NAME has no error reply: nbdkit hangs up without one.
            if opt == NBD_OPT_EXPORT_NAME {
                let mut t = Transition::close(None);
                t.debug(format!(
                    "newstyle negotiation: can't reply NBD_REP_ERR_TLS_REQD to {name}"
                ));
                return t;
            }
            let mut t = Transition::new(Next::Options);
            t.answer(opt, NBD_REP_ERR_TLS_REQD);
            return t;
        }
        let mut t = Transition::new(Next::Options);
        match opt {
            // The spec forbids EXPORT_NAME after extended headers (it has
            // no way to confirm them); it cannot be answered with an
            // error, so the connection ends.
            NBD_OPT_EXPORT_NAME if self.extended => {
                return Transition::close(Some(format!(
                    "{name}: not allowed after NBD_OPT_EXTENDED_HEADERS, use NBD_OPT_GO"
                )))
            }
            NBD_OPT_EXPORT_NAME => match hs::parse_export_name(payload) {
                Ok(n) => {
                    t.debug(requested_export(opt, &n));
                    self.finish(&mut t, &n);
                    t.next = Next::Backend(BackendOption::ExportName(n));
                }
                Err(InvalidOption(m)) => return Transition::close(Some(m)),
            },
            NBD_OPT_ABORT => {
                t.answer(opt, NBD_REP_ACK);
                t.after.push(Said::Debug(format!(
                    "client sent {name} to abort the connection"
                )));
                t.failed_write = Some(format!("write: {name}"));
                t.next = Next::Close;
            }
            NBD_OPT_LIST if !payload.is_empty() => {
                t.debug(format!(
                    "ignoring request, client sent unexpected payload: {name}"
                ))
                .answer_msg(
                    opt,
                    NBD_REP_ERR_INVALID,
                    "NBD_OPT_LIST: payload must be empty",
                );
            }
            NBD_OPT_LIST if self.list_seen => {
                t.debug(format!(
                    "newstyle negotiation: {name}: export list already advertised"
                ))
                .answer(opt, NBD_REP_ERR_INVALID);
            }
            NBD_OPT_LIST => {
                self.list_seen = true;
                t.debug(format!("newstyle negotiation: {name}: advertising exports"));
                t.next = Next::Backend(BackendOption::List);
            }
            NBD_OPT_STARTTLS => self.starttls(&mut t, policy, opt, payload),
            NBD_OPT_INFO | NBD_OPT_GO => match hs::parse_info(payload, &name) {
                Ok(req) => {
                    t.debug(requested_export(opt, &req.export_name));
                    self.finish(&mut t, &req.export_name);
                    t.next = Next::Backend(BackendOption::InfoGo { option: opt, req });
                }
                Err(InvalidOption(m)) => {
                    t.error_line(m.clone())
                        .answer_msg(opt, NBD_REP_ERR_INVALID, &m);
                }
            },
            NBD_OPT_STRUCTURED_REPLY | NBD_OPT_EXTENDED_HEADERS => {
                self.reply_framing(&mut t, policy, opt, payload)
            }
            NBD_OPT_LIST_META_CONTEXT | NBD_OPT_SET_META_CONTEXT if policy.no_mc => {
                t.answer(opt, NBD_REP_ERR_UNSUP);
            }
            NBD_OPT_LIST_META_CONTEXT | NBD_OPT_SET_META_CONTEXT => {
                self.meta_context(&mut t, opt, &name, payload)
            }
            _ => {
                t.answer(opt, NBD_REP_ERR_UNSUP);
            }
        }
        t
    }

    /// An option that opens an export (EXPORT_NAME, INFO, GO): as the
    /// spec says, a context selected for another export is not usable.
    fn finish(&mut self, t: &mut Transition, export: &[u8]) {
        if let Some(meta) = &self.meta_export {
            if meta.as_slice() != export {
                t.debug(format!(
                    "newstyle negotiation: NBD_OPT_SET_META_CONTEXT export name \"{}\" \
                     ≠ final client exportname \"{}\", so discarding the previous context",
                    String::from_utf8_lossy(meta),
                    String::from_utf8_lossy(export)
                ));
                self.base_allocation = false;
            }
        }
    }

    /// STARTTLS, as nbdkit 1.32.5 answers it: a payload is invalid, TLS
    /// off is policy, a second one is invalid.  Accepting it forgets what
    /// was negotiated in plaintext (CVE-2021-3716: a man in the middle
    /// could otherwise inject structured replies or meta contexts).
    fn starttls(&mut self, t: &mut Transition, policy: &Policy, opt: u32, payload: &[u8]) {
        let code = if !payload.is_empty() {
            t.debug(format!(
                "ignoring request, client sent unexpected payload: {}",
                hs::option_name(opt)
            ));
            NBD_REP_ERR_INVALID
        } else if policy.tls == TlsMode::Off {
            NBD_REP_ERR_POLICY
        } else if self.tls {
            NBD_REP_ERR_INVALID
        } else {
            self.tls = true;
            self.structured = false;
            self.extended = false;
            self.base_allocation = false;
            self.meta_export = None;
            t.next = Next::StartTls;
            NBD_REP_ACK
        };
        t.answer(opt, code);
    }

    /// NBD_OPT_STRUCTURED_REPLY and NBD_OPT_EXTENDED_HEADERS, which settle
    /// how transmission replies are framed, in the spec's order: `--no-sr`
    /// refuses both (extended headers imply structured replies, which that
    /// option turns off); a payload is invalid; asking twice is invalid;
    /// extended headers may follow structured replies (an upgrade) but not
    /// the reverse (no way back to compact headers: EXT_HEADER_REQD).
    /// Meta contexts already selected stay selected: `base:allocation`
    /// reports 32-bit flags, which both header sizes carry (as
    /// NBD_REPLY_TYPE_BLOCK_STATUS_EXT under extended headers).
    fn reply_framing(&mut self, t: &mut Transition, policy: &Policy, opt: u32, payload: &[u8]) {
        let extended = opt == NBD_OPT_EXTENDED_HEADERS;
        let name = hs::option_name(opt);
        if !payload.is_empty() {
            t.debug(format!(
                "ignoring request, client sent unexpected payload: {name}"
            ))
            .answer_msg(opt, NBD_REP_ERR_INVALID, "payload must be empty");
            return;
        }
        t.debug(if extended {
            format!("newstyle negotiation: {name}: client requested extended headers")
        } else {
            format!("newstyle negotiation: {name}: client requested structured replies")
        });
        let (code, msg) = if policy.no_sr {
            t.answer(opt, NBD_REP_ERR_UNSUP).debug(format!(
                "newstyle negotiation: {name}: structured replies are disabled"
            ));
            return;
        } else if self.extended && extended {
            (NBD_REP_ERR_INVALID, "extended headers already negotiated")
        } else if self.extended {
            (
                NBD_REP_ERR_EXT_HEADER_REQD,
                "extended headers already negotiated",
            )
        } else if self.structured && !extended {
            (NBD_REP_ERR_INVALID, "structured replies already negotiated")
        } else {
            self.structured = true;
            self.extended = extended;
            (NBD_REP_ACK, "")
        };
        t.answer_msg(opt, code, msg);
    }

    fn meta_context(&mut self, t: &mut Transition, opt: u32, name: &str, payload: &[u8]) {
        let listing = opt == NBD_OPT_LIST_META_CONTEXT;
        if !self.structured {
            t.answer_msg(
                opt,
                NBD_REP_ERR_INVALID,
                "structured replies not negotiated",
            );
            return;
        }
        let m = match hs::parse_meta(payload, name) {
            Ok(m) => m,
            Err(InvalidOption(m)) => {
                t.error_line(m.clone())
                    .answer_msg(opt, NBD_REP_ERR_INVALID, &m);
                return;
            }
        };
        t.debug(requested_export(opt, &m.export_name));
        let verb = if listing { "query" } else { "set" };
        t.debug(format!(
            "newstyle negotiation: {name}: {verb} count: {}",
            m.queries.len()
        ));
        if !listing {
            self.meta_export = Some(m.export_name.clone());
            self.base_allocation = false;
        }
        // A listed context has no id yet: nbdkit sends 0.
        let id = if listing { 0 } else { BASE_ALLOCATION_ID };
        let selected = |t: &mut Transition| {
            t.debug(format!(
                "newstyle negotiation: {name}: replying with {BASE_ALLOCATION} id {id}"
            ));
            hs::encode_meta_context(&mut t.reply, opt, id, BASE_ALLOCATION);
        };
        // As nbdkit, one reply per query that selects the context (LIST
        // with no queries lists it once).
        if listing && m.queries.is_empty() {
            selected(t);
        }
        for q in &m.queries {
            t.debug(format!(
                "newstyle negotiation: {name}: {verb} {}",
                String::from_utf8_lossy(q)
            ));
            if hs::query_matches_base_allocation(q, listing) {
                selected(t);
                if !listing {
                    self.base_allocation = true;
                }
            }
        }
        t.answer(opt, NBD_REP_ACK)
            .debug(format!("newstyle negotiation: {name}: reply complete"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: Policy = Policy {
        tls: TlsMode::Off,
        no_sr: false,
        no_mc: false,
    };
    const ON: Policy = Policy {
        tls: TlsMode::On,
        no_sr: false,
        no_mc: false,
    };
    const REQUIRE: Policy = Policy {
        tls: TlsMode::Require,
        no_sr: false,
        no_mc: false,
    };

    /// The replies in `bytes` as (option, reply type, payload).
    fn replies(mut bytes: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
        let mut v = Vec::new();
        while !bytes.is_empty() {
            assert!(bytes.len() >= 20, "truncated reply");
            assert_eq!(&bytes[0..8], &NBD_REP_MAGIC.to_be_bytes());
            let o = u32::from_be_bytes(bytes[8..12].try_into().unwrap());
            let t = u32::from_be_bytes(bytes[12..16].try_into().unwrap());
            let l = u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize;
            v.push((o, t, bytes[20..20 + l].to_vec()));
            bytes = &bytes[20 + l..];
        }
        v
    }

    #[test]
    fn backend_answers_are_encoded_here() {
        // (what the backend answered, the replies in order as (option,
        // type), the -v line)
        type Encode = fn(&mut Vec<u8>) -> Line;
        type Case = (&'static str, Encode, &'static [(u32, u32)], &'static str);
        let cases: &[Case] = &[
            (
                "two exports",
                |o| list_answered(o, Ok([("a", None), ("b", Some("B"))].into_iter())),
                &[
                    (NBD_OPT_LIST, NBD_REP_SERVER),
                    (NBD_OPT_LIST, NBD_REP_SERVER),
                    (NBD_OPT_LIST, NBD_REP_ACK),
                ],
                "replying to NBD_OPT_LIST with NBD_REP_ACK",
            ),
            (
                "list failed",
                |o| list_answered(o, Err::<std::iter::Empty<(&str, Option<&str>)>, _>("")),
                &[(NBD_OPT_LIST, NBD_REP_ERR_PLATFORM)],
                "replying to NBD_OPT_LIST with NBD_REP_ERR_PLATFORM",
            ),
            (
                "open failed",
                |o| open_refused(o, NBD_OPT_GO, "no such export"),
                &[(NBD_OPT_GO, NBD_REP_ERR_UNKNOWN)],
                "replying to NBD_OPT_GO with NBD_REP_ERR_UNKNOWN",
            ),
            (
                "opened",
                |o| export_opened(o, NBD_OPT_INFO, 1 << 20, 0x1234),
                &[(NBD_OPT_INFO, NBD_REP_INFO)],
                "newstyle negotiation: flags: export 0x1234",
            ),
            (
                "all answered",
                |o| info_done(o, NBD_OPT_GO),
                &[(NBD_OPT_GO, NBD_REP_ACK)],
                "replying to NBD_OPT_GO with NBD_REP_ACK",
            ),
        ];
        for &(what, encode, want, line) in cases {
            let mut out = Vec::new();
            assert_eq!(encode(&mut out).to_string(), line, "{what}");
            let got: Vec<_> = replies(&out).iter().map(|r| (r.0, r.1)).collect();
            assert_eq!(got, want, "{what}");
        }
        let mut out = Vec::new();
        open_refused(&mut out, NBD_OPT_INFO, "why");
        assert_eq!(replies(&out)[0].2, b"why");
        assert!(enters_transmission(NBD_OPT_GO) && !enters_transmission(NBD_OPT_INFO));
    }

    #[test]
    fn greeting_export_name_and_oldstyle_replies() {
        let mut out = Vec::new();
        let line = greeting(&mut out, !NBD_FLAG_NO_ZEROES).to_string();
        assert_eq!(line, "newstyle negotiation: flags: global 0x1");
        assert_eq!(out.len(), 18);
        assert_eq!(&out[16..18], &NBD_FLAG_FIXED_NEWSTYLE.to_be_bytes());
        // EXPORT_NAME: size, flags, and 124 zeroes unless NO_ZEROES.
        for (no_zeroes, len) in [(true, 10), (false, 134)] {
            let n = Nego {
                no_zeroes,
                ..Nego::default()
            };
            let mut out = Vec::new();
            n.export_name_opened(&mut out, 4096, 3);
            assert_eq!(out.len(), len);
            assert_eq!(&out[..10], &[0, 0, 0, 0, 0, 0, 16, 0, 0, 3]);
        }
        let mut out = Vec::new();
        let line = oldstyle_opened(&mut out, 4096, 3).to_string();
        assert_eq!(line, "oldstyle negotiation: flags: global 0x0 export 0x3");
        assert_eq!(out.len(), 152);
    }

    #[test]
    fn go_settles_what_transmission_checks() {
        let n = Nego {
            structured: true,
            extended: true,
            base_allocation: true,
            ..Nego::default()
        };
        let mut caps = ExportCaps::default();
        n.settle(&mut caps, Some((512, 1 << 20)));
        assert!(caps.extended && caps.base_allocation);
        assert_eq!(caps.block_size, Some((512, 1 << 20)));
        let mut caps = ExportCaps::default();
        Nego::default().settle(&mut caps, None);
        assert!(!caps.extended && !caps.base_allocation && caps.block_size.is_none());
    }

    #[test]
    fn only_abort_says_how_a_failed_write_is_logged() {
        let mut n = Nego::default();
        let t = n.option(&OFF, NBD_OPT_ABORT, b"");
        assert_eq!(t.failed_write.as_deref(), Some("write: NBD_OPT_ABORT"));
        let t = n.option(&OFF, NBD_OPT_STRUCTURED_REPLY, b"");
        assert_eq!(t.failed_write, None);
    }

    /// The single reply type of a transition that stays in negotiation.
    fn only_reply(t: &Transition) -> u32 {
        assert_eq!(t.next, Next::Options);
        let r = replies(&t.reply);
        assert_eq!(r.len(), 1, "{r:?}");
        r[0].1
    }

    fn meta_payload(queries: &[&str]) -> Vec<u8> {
        let mut p = vec![0, 0, 0, 0];
        p.extend_from_slice(&(queries.len() as u32).to_be_bytes());
        for q in queries {
            p.extend_from_slice(&(q.len() as u32).to_be_bytes());
            p.extend_from_slice(q.as_bytes());
        }
        p
    }

    const INFO_EMPTY: [u8; 6] = [0, 0, 0, 0, 0, 0];

    #[test]
    fn client_flags() {
        let n = Nego::from_client_flags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
        assert!(n.unwrap().no_zeroes);
        assert!(!Nego::from_client_flags(1).unwrap().no_zeroes);
        assert_eq!(
            Nego::from_client_flags(4),
            Err(ProtocolError::UnknownClientFlags(4))
        );
    }

    #[test]
    fn every_option_without_tls_required() {
        for policy in [OFF, ON] {
            let mut n = Nego::default();
            assert_eq!(
                n.option(&policy, NBD_OPT_EXPORT_NAME, b"foo").next,
                Next::Backend(BackendOption::ExportName("foo".into()))
            );
            // Names are bytes (invalid UTF-8 is fine), but never hold NUL.
            assert_eq!(
                n.option(&policy, NBD_OPT_EXPORT_NAME, &[0xff]).next,
                Next::Backend(BackendOption::ExportName(vec![0xff]))
            );
            assert_eq!(
                n.option(&policy, NBD_OPT_EXPORT_NAME, b"a\0").next,
                Next::Close
            );
            assert_eq!(
                n.option(&policy, NBD_OPT_LIST, b"").next,
                Next::Backend(BackendOption::List)
            );
            assert_eq!(
                only_reply(&n.option(&policy, NBD_OPT_LIST, b"x")),
                NBD_REP_ERR_INVALID
            );
            for o in [NBD_OPT_INFO, NBD_OPT_GO] {
                let t = n.option(&policy, o, &INFO_EMPTY);
                assert!(matches!(
                    t.next,
                    Next::Backend(BackendOption::InfoGo { option, .. }) if option == o
                ));
                let t = n.option(&policy, o, &[0, 0, 0, 9]);
                assert_eq!(only_reply(&t), NBD_REP_ERR_INVALID);
                assert!(t.error().is_some());
            }
            assert_eq!(only_reply(&n.option(&policy, 42, b"zz")), NBD_REP_ERR_UNSUP);
            let t = n.option(&policy, NBD_OPT_ABORT, b"");
            assert_eq!(t.next, Next::Close);
            assert_eq!(replies(&t.reply)[0].1, NBD_REP_ACK);
        }
    }

    #[test]
    fn structured_reply_and_meta_contexts() {
        let mut n = Nego::default();
        let list = meta_payload(&[]);
        let set = meta_payload(&["base:allocation"]);
        for o in [NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT] {
            assert_eq!(only_reply(&n.option(&OFF, o, &list)), NBD_REP_ERR_INVALID);
        }
        assert_eq!(
            only_reply(&n.option(&OFF, NBD_OPT_STRUCTURED_REPLY, b"x")),
            NBD_REP_ERR_INVALID
        );
        assert_eq!(
            only_reply(&n.option(&OFF, NBD_OPT_STRUCTURED_REPLY, b"")),
            NBD_REP_ACK
        );
        assert!(n.structured);
        assert_eq!(
            only_reply(&n.option(&OFF, NBD_OPT_STRUCTURED_REPLY, b"")),
            NBD_REP_ERR_INVALID
        );
        let t = n.option(&OFF, NBD_OPT_LIST_META_CONTEXT, &list);
        let r = replies(&t.reply);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1, NBD_REP_META_CONTEXT);
        assert_eq!(&r[0].2[4..], BASE_ALLOCATION.as_bytes());
        assert!(!n.base_allocation, "LIST selects nothing");
        let t = n.option(&OFF, NBD_OPT_SET_META_CONTEXT, &set);
        assert_eq!(replies(&t.reply).len(), 2);
        assert!(n.base_allocation);
        // A SET that matches nothing deselects.
        let t = n.option(&OFF, NBD_OPT_SET_META_CONTEXT, &meta_payload(&["x:y"]));
        assert_eq!(only_reply(&t), NBD_REP_ACK);
        assert!(!n.base_allocation);
        // A malformed payload is invalid and logged.
        let t = n.option(&OFF, NBD_OPT_SET_META_CONTEXT, &[0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(only_reply(&t), NBD_REP_ERR_INVALID);
        assert!(t.error().is_some());

        let mut n = Nego::default();
        let no_sr = Policy { no_sr: true, ..OFF };
        assert_eq!(
            only_reply(&n.option(&no_sr, NBD_OPT_STRUCTURED_REPLY, b"")),
            NBD_REP_ERR_UNSUP
        );
        assert!(!n.structured);

        // --no-meta-contexts: both meta context options are unsupported,
        // structured replies or not.
        let mut n = Nego::default();
        let no_mc = Policy { no_mc: true, ..OFF };
        let set = meta_payload(&["base:allocation"]);
        assert_eq!(
            only_reply(&n.option(&no_mc, NBD_OPT_STRUCTURED_REPLY, b"")),
            NBD_REP_ACK
        );
        for opt in [NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT] {
            assert_eq!(only_reply(&n.option(&no_mc, opt, &set)), NBD_REP_ERR_UNSUP);
        }
        assert!(!n.base_allocation);
    }

    #[test]
    fn extended_headers_in_the_spec_order() {
        let mut n = Nego::default();
        let eh = NBD_OPT_EXTENDED_HEADERS;
        assert_eq!(only_reply(&n.option(&OFF, eh, b"x")), NBD_REP_ERR_INVALID);
        assert!(!n.extended && !n.structured);
        assert_eq!(only_reply(&n.option(&OFF, eh, b"")), NBD_REP_ACK);
        assert!(
            n.extended && n.structured,
            "extended headers imply structured replies"
        );
        assert_eq!(only_reply(&n.option(&OFF, eh, b"")), NBD_REP_ERR_INVALID);
        // No way back to compact headers.
        assert_eq!(
            only_reply(&n.option(&OFF, NBD_OPT_STRUCTURED_REPLY, b"")),
            NBD_REP_ERR_EXT_HEADER_REQD
        );
        assert!(n.extended);
        // Meta contexts work as after structured replies.
        let t = n.option(
            &OFF,
            NBD_OPT_SET_META_CONTEXT,
            &meta_payload(&["base:allocation"]),
        );
        assert_eq!(replies(&t.reply).len(), 2);
        assert!(n.base_allocation);
        // EXPORT_NAME cannot confirm extended headers: the connection ends.
        let t = n.option(&OFF, NBD_OPT_EXPORT_NAME, b"");
        assert_eq!(t.next, Next::Close);
        assert!(t.error().is_some());
        // GO goes ahead as usual.
        let t = n.option(&OFF, NBD_OPT_GO, &INFO_EMPTY);
        assert!(matches!(
            t.next,
            Next::Backend(BackendOption::InfoGo { .. })
        ));

        // After structured replies, an upgrade; contexts selected before
        // stay selected.
        let mut n = Nego::default();
        assert_eq!(
            only_reply(&n.option(&OFF, NBD_OPT_STRUCTURED_REPLY, b"")),
            NBD_REP_ACK
        );
        n.option(
            &OFF,
            NBD_OPT_SET_META_CONTEXT,
            &meta_payload(&["base:allocation"]),
        );
        assert_eq!(only_reply(&n.option(&OFF, eh, b"")), NBD_REP_ACK);
        assert!(n.extended && n.base_allocation);

        // --no-sr refuses it: it would bring structured replies.
        let mut n = Nego::default();
        let no_sr = Policy { no_sr: true, ..OFF };
        assert_eq!(only_reply(&n.option(&no_sr, eh, b"")), NBD_REP_ERR_UNSUP);
        assert!(!n.extended && !n.structured);

        // STARTTLS forgets it with the rest.
        let mut n = Nego::default();
        n.option(&ON, eh, b"");
        assert_eq!(n.option(&ON, NBD_OPT_STARTTLS, b"").next, Next::StartTls);
        assert!(!n.extended && !n.structured);
    }

    #[test]
    fn starttls_in_each_mode() {
        // Off: refused by policy; a payload is invalid whatever the mode.
        let mut n = Nego::default();
        assert_eq!(
            only_reply(&n.option(&OFF, NBD_OPT_STARTTLS, b"")),
            NBD_REP_ERR_POLICY
        );
        assert_eq!(
            only_reply(&n.option(&OFF, NBD_OPT_STARTTLS, b"x")),
            NBD_REP_ERR_INVALID
        );
        assert!(!n.tls);
        for policy in [ON, REQUIRE] {
            let mut n = Nego::default();
            assert_eq!(
                only_reply(&n.option(&policy, NBD_OPT_STARTTLS, b"x")),
                NBD_REP_ERR_INVALID
            );
            let t = n.option(&policy, NBD_OPT_STARTTLS, b"");
            assert_eq!(t.next, Next::StartTls);
            assert_eq!(
                replies(&t.reply),
                vec![(NBD_OPT_STARTTLS, NBD_REP_ACK, vec![])]
            );
            assert!(n.tls);
            // A second STARTTLS, inside TLS, is invalid.
            assert_eq!(
                only_reply(&n.option(&policy, NBD_OPT_STARTTLS, b"")),
                NBD_REP_ERR_INVALID
            );
            // After TLS every option is served.
            assert_eq!(
                n.option(&policy, NBD_OPT_LIST, b"").next,
                Next::Backend(BackendOption::List)
            );
        }
    }

    #[test]
    fn starttls_forgets_plaintext_negotiation() {
        // CVE-2021-3716: structured replies and meta contexts negotiated
        // before STARTTLS do not survive it.
        let mut n = Nego {
            no_zeroes: true,
            ..Default::default()
        };
        n.option(&ON, NBD_OPT_STRUCTURED_REPLY, b"");
        n.option(
            &ON,
            NBD_OPT_SET_META_CONTEXT,
            &meta_payload(&["base:allocation"]),
        );
        assert!(n.structured && n.base_allocation);
        assert_eq!(n.option(&ON, NBD_OPT_STARTTLS, b"").next, Next::StartTls);
        assert!(!n.structured && !n.base_allocation);
        assert!(
            n.no_zeroes,
            "client flags belong to the greeting, not options"
        );
        assert_eq!(
            only_reply(&n.option(&ON, NBD_OPT_SET_META_CONTEXT, &meta_payload(&[]))),
            NBD_REP_ERR_INVALID
        );
    }

    #[test]
    fn tls_required_refuses_everything_but_starttls_and_abort() {
        let mut n = Nego::default();
        for (o, p) in [
            (NBD_OPT_LIST, &b""[..]),
            (NBD_OPT_INFO, &INFO_EMPTY[..]),
            (NBD_OPT_GO, &INFO_EMPTY[..]),
            (NBD_OPT_STRUCTURED_REPLY, b""),
            (NBD_OPT_LIST_META_CONTEXT, b""),
            (NBD_OPT_SET_META_CONTEXT, b""),
            (99, b"abc"),
        ] {
            let t = n.option(&REQUIRE, o, p);
            assert_eq!(replies(&t.reply), vec![(o, NBD_REP_ERR_TLS_REQD, vec![])]);
            assert_eq!(t.next, Next::Options);
        }
        assert!(!n.structured);
        // EXPORT_NAME cannot be refused with a reply: the client is dropped.
        let t = n.clone().option(&REQUIRE, NBD_OPT_EXPORT_NAME, b"");
        assert_eq!(t.next, Next::Close);
        assert!(t.reply.is_empty() && t.error().is_none());
        let t = n.clone().option(&REQUIRE, NBD_OPT_ABORT, b"");
        assert_eq!(t.next, Next::Close);
        assert_eq!(replies(&t.reply)[0].1, NBD_REP_ACK);
        assert_eq!(
            n.option(&REQUIRE, NBD_OPT_STARTTLS, b"").next,
            Next::StartTls
        );
        assert_eq!(
            n.option(&REQUIRE, NBD_OPT_EXPORT_NAME, b"").next,
            Next::Backend(BackendOption::ExportName(Vec::new()))
        );
    }

    fn debug_lines(t: &Transition) -> Vec<&str> {
        t.said
            .iter()
            .map(|s| match s {
                Said::Debug(m) | Said::Error(m) => m.as_str(),
            })
            .collect()
    }

    #[test]
    fn lines_in_nbdkits_words() {
        // What nbdinfo's negotiation makes nbdkit 1.32.5 print.
        let mut n = Nego::default();
        let t = n.option(&OFF, NBD_OPT_STRUCTURED_REPLY, b"");
        assert_eq!(
            debug_lines(&t),
            [
                "newstyle negotiation: NBD_OPT_STRUCTURED_REPLY: client requested structured replies",
                "replying to NBD_OPT_STRUCTURED_REPLY with NBD_REP_ACK"
            ]
        );
        let t = n.option(&OFF, NBD_OPT_LIST_META_CONTEXT, &meta_payload(&[]));
        assert_eq!(
            debug_lines(&t),
            [
                "newstyle negotiation: NBD_OPT_LIST_META_CONTEXT: client requested export ''",
                "newstyle negotiation: NBD_OPT_LIST_META_CONTEXT: query count: 0",
                "newstyle negotiation: NBD_OPT_LIST_META_CONTEXT: replying with base:allocation id 0",
                "replying to NBD_OPT_LIST_META_CONTEXT with NBD_REP_ACK",
                "newstyle negotiation: NBD_OPT_LIST_META_CONTEXT: reply complete"
            ]
        );
        let t = n.option(
            &OFF,
            NBD_OPT_SET_META_CONTEXT,
            &meta_payload(&["base:allocation", "x:y"]),
        );
        assert_eq!(
            debug_lines(&t),
            [
                "newstyle negotiation: NBD_OPT_SET_META_CONTEXT: client requested export ''",
                "newstyle negotiation: NBD_OPT_SET_META_CONTEXT: set count: 2",
                "newstyle negotiation: NBD_OPT_SET_META_CONTEXT: set base:allocation",
                "newstyle negotiation: NBD_OPT_SET_META_CONTEXT: replying with base:allocation id 1",
                "newstyle negotiation: NBD_OPT_SET_META_CONTEXT: set x:y",
                "replying to NBD_OPT_SET_META_CONTEXT with NBD_REP_ACK",
                "newstyle negotiation: NBD_OPT_SET_META_CONTEXT: reply complete"
            ]
        );
        assert!(n.base_allocation);
        // GO on another export drops the context, with nbdkit's line.
        let mut go = vec![0, 0, 0, 1, b'a'];
        go.extend_from_slice(&[0, 0]);
        let t = n.option(&OFF, NBD_OPT_GO, &go);
        assert_eq!(
            debug_lines(&t),
            [
                "newstyle negotiation: NBD_OPT_GO: client requested export 'a'",
                "newstyle negotiation: NBD_OPT_SET_META_CONTEXT export name \"\" \u{2260} final \
                 client exportname \"a\", so discarding the previous context"
            ]
        );
        assert!(!n.base_allocation);
        assert_eq!(
            debug_lines(&n.option(&OFF, 42, b"")),
            ["replying to unknown (0x2a) with NBD_REP_ERR_UNSUP"]
        );
        let t = n.option(&OFF, NBD_OPT_ABORT, b"");
        assert_eq!(
            debug_lines(&t),
            ["replying to NBD_OPT_ABORT with NBD_REP_ACK"]
        );
        assert_eq!(
            t.after,
            [Said::Debug(
                "client sent NBD_OPT_ABORT to abort the connection".into()
            )]
        );
        // LIST is answered once.
        let mut n = Nego::default();
        assert_eq!(
            n.option(&OFF, NBD_OPT_LIST, b"").next,
            Next::Backend(BackendOption::List)
        );
        let t = n.option(&OFF, NBD_OPT_LIST, b"");
        assert_eq!(only_reply(&t), NBD_REP_ERR_INVALID);
        assert_eq!(
            debug_lines(&t),
            [
                "newstyle negotiation: NBD_OPT_LIST: export list already advertised",
                "replying to NBD_OPT_LIST with NBD_REP_ERR_INVALID"
            ]
        );
    }

    #[test]
    fn info_replies_in_nbdkits_words() {
        let mut out = Vec::new();
        let l = info_reply(
            &mut out,
            NBD_OPT_GO,
            NBD_INFO_BLOCK_SIZE,
            InfoAnswer::BlockSize(None),
        );
        assert_eq!(
            l.as_deref(),
            Some(
                "newstyle negotiation: NBD_OPT_GO: NBD_INFO_BLOCK_SIZE: client requested but no \
                 plugin or filter provided block size information, ignoring client request"
            )
        );
        let l = info_reply(
            &mut out,
            NBD_OPT_INFO,
            NBD_INFO_DESCRIPTION,
            InfoAnswer::Description(None),
        );
        assert_eq!(
            l.as_deref(),
            Some(
                "newstyle negotiation: NBD_OPT_INFO: NBD_INFO_DESCRIPTION: no description to send"
            )
        );
        let l = info_reply(&mut out, NBD_OPT_INFO, 9, InfoAnswer::Other);
        assert_eq!(
            l.as_deref(),
            Some(
                "newstyle negotiation: NBD_OPT_INFO: ignoring NBD_INFO_* request 9 (unknown (0x9))"
            )
        );
        assert!(out.is_empty(), "nothing sent for what is not there");
        assert_eq!(
            info_reply(&mut out, NBD_OPT_GO, NBD_INFO_EXPORT, InfoAnswer::Other),
            None
        );
        let l = info_reply(
            &mut out,
            NBD_OPT_GO,
            NBD_INFO_NAME,
            InfoAnswer::Name(Some(b"x")),
        );
        assert_eq!(l, None);
        assert_eq!(
            replies(&out),
            vec![(NBD_OPT_GO, NBD_REP_INFO, vec![0, 1, b'x'])]
        );
    }

    #[test]
    fn too_many_options_close() {
        let mut n = Nego::default();
        for _ in 0..MAX_NR_OPTIONS {
            assert_eq!(n.option(&OFF, 42, b"").next, Next::Options);
        }
        let t = n.option(&OFF, 42, b"");
        assert_eq!(t.next, Next::Close);
        assert!(t.error().is_some());
    }
}
