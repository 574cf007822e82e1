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

/// The result of one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub reply: Vec<u8>,
    pub next: Next,
    /// A line for the server's log at error level, if the option deserves
    /// one (nbdkit logs bad payloads and overlong negotiation).
    pub error: Option<String>,
}

impl Transition {
    fn reply(reply: Vec<u8>) -> Transition {
        Transition {
            reply,
            next: Next::Options,
            error: None,
        }
    }

    fn close(error: Option<String>) -> Transition {
        Transition {
            reply: Vec::new(),
            next: Next::Close,
            error,
        }
    }

    fn backend(b: BackendOption) -> Transition {
        Transition {
            reply: Vec::new(),
            next: Next::Backend(b),
            error: None,
        }
    }
}

fn error_reply(option: u32, code: u32, msg: &str) -> Vec<u8> {
    let mut out = Vec::new();
    hs::encode_option_reply(&mut out, option, code, msg.as_bytes());
    out
}

impl Nego {
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
                return Transition::close(None);
            }
            return Transition::reply(error_reply(opt, NBD_REP_ERR_TLS_REQD, ""));
        }
        match opt {
            // The spec forbids EXPORT_NAME after extended headers (it has
            // no way to confirm them); it cannot be answered with an
            // error, so the connection ends.
            NBD_OPT_EXPORT_NAME if self.extended => Transition::close(Some(format!(
                "{name}: not allowed after NBD_OPT_EXTENDED_HEADERS, use NBD_OPT_GO"
            ))),
            NBD_OPT_EXPORT_NAME => match hs::parse_export_name(payload) {
                Ok(n) => Transition::backend(BackendOption::ExportName(n)),
                Err(InvalidOption(m)) => Transition::close(Some(m)),
            },
            NBD_OPT_ABORT => Transition {
                reply: error_reply(opt, NBD_REP_ACK, ""),
                next: Next::Close,
                error: None,
            },
            NBD_OPT_LIST => {
                if payload.is_empty() {
                    Transition::backend(BackendOption::List)
                } else {
                    Transition::reply(error_reply(
                        opt,
                        NBD_REP_ERR_INVALID,
                        "NBD_OPT_LIST: payload must be empty",
                    ))
                }
            }
            NBD_OPT_STARTTLS => self.starttls(policy, opt, payload),
            NBD_OPT_INFO | NBD_OPT_GO => match hs::parse_info(payload, &name) {
                Ok(req) => Transition::backend(BackendOption::InfoGo { option: opt, req }),
                Err(InvalidOption(m)) => Transition {
                    reply: error_reply(opt, NBD_REP_ERR_INVALID, &m),
                    next: Next::Options,
                    error: Some(m),
                },
            },
            NBD_OPT_STRUCTURED_REPLY | NBD_OPT_EXTENDED_HEADERS => {
                Transition::reply(self.reply_framing(policy, opt, payload))
            }
            NBD_OPT_LIST_META_CONTEXT | NBD_OPT_SET_META_CONTEXT => {
                self.meta_context(opt, &name, payload)
            }
            _ => Transition::reply(error_reply(opt, NBD_REP_ERR_UNSUP, "")),
        }
    }

    /// STARTTLS, as nbdkit 1.32.5 answers it: a payload is invalid, TLS
    /// off is policy, a second one is invalid.  Accepting it forgets what
    /// was negotiated in plaintext (CVE-2021-3716: a man in the middle
    /// could otherwise inject structured replies or meta contexts).
    fn starttls(&mut self, policy: &Policy, opt: u32, payload: &[u8]) -> Transition {
        let code = if !payload.is_empty() {
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
            return Transition {
                reply: error_reply(opt, NBD_REP_ACK, ""),
                next: Next::StartTls,
                error: None,
            };
        };
        Transition::reply(error_reply(opt, code, ""))
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
    fn reply_framing(&mut self, policy: &Policy, opt: u32, payload: &[u8]) -> Vec<u8> {
        let extended = opt == NBD_OPT_EXTENDED_HEADERS;
        let (code, msg) = if policy.no_sr {
            (NBD_REP_ERR_UNSUP, "")
        } else if !payload.is_empty() {
            (NBD_REP_ERR_INVALID, "payload must be empty")
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
        error_reply(opt, code, msg)
    }

    fn meta_context(&mut self, opt: u32, name: &str, payload: &[u8]) -> Transition {
        let listing = opt == NBD_OPT_LIST_META_CONTEXT;
        if !self.structured {
            return Transition::reply(error_reply(
                opt,
                NBD_REP_ERR_INVALID,
                "structured replies not negotiated",
            ));
        }
        let m = match hs::parse_meta(payload, name) {
            Ok(m) => m,
            Err(InvalidOption(m)) => {
                return Transition {
                    reply: error_reply(opt, NBD_REP_ERR_INVALID, &m),
                    next: Next::Options,
                    error: Some(m),
                }
            }
        };
        // As nbdkit, one reply per query that selects the context (LIST
        // with no queries lists it once).
        let matches = if listing && m.queries.is_empty() {
            1
        } else {
            m.queries
                .iter()
                .filter(|q| hs::query_matches_base_allocation(q, listing))
                .count()
        };
        if !listing {
            self.base_allocation = matches > 0;
        }
        // A listed context has no id yet: nbdkit sends 0.
        let id = if listing { 0 } else { BASE_ALLOCATION_ID };
        let mut out = Vec::new();
        for _ in 0..matches {
            hs::encode_meta_context(&mut out, opt, id, BASE_ALLOCATION);
        }
        hs::encode_option_reply(&mut out, opt, NBD_REP_ACK, &[]);
        Transition::reply(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: Policy = Policy {
        tls: TlsMode::Off,
        no_sr: false,
    };
    const ON: Policy = Policy {
        tls: TlsMode::On,
        no_sr: false,
    };
    const REQUIRE: Policy = Policy {
        tls: TlsMode::Require,
        no_sr: false,
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
                assert!(t.error.is_some());
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
        assert!(t.error.is_some());

        let mut n = Nego::default();
        let no_sr = Policy { no_sr: true, ..OFF };
        assert_eq!(
            only_reply(&n.option(&no_sr, NBD_OPT_STRUCTURED_REPLY, b"")),
            NBD_REP_ERR_UNSUP
        );
        assert!(!n.structured);
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
        assert!(t.error.is_some());
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
        assert_eq!(t, Transition::close(None));
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

    #[test]
    fn too_many_options_close() {
        let mut n = Nego::default();
        for _ in 0..MAX_NR_OPTIONS {
            assert_eq!(n.option(&OFF, 42, b"").next, Next::Options);
        }
        let t = n.option(&OFF, 42, b"");
        assert_eq!(t.next, Next::Close);
        assert!(t.error.is_some());
    }
}
