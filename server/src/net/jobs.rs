//! The handshake steps that need the backend (preconnect, open, list
//! and info requests): run on a worker thread (or on the loop for a stack
//! that cannot block), they call the layers and hand their answers to
//! `protocol::negotiate`, which encodes the replies.

use super::config::ServeConfig;
use crate::backend::filter::Lower;
use crate::backend::{BlockSize, Connection, Stack};
use crate::protocol::consts::*;
use crate::protocol::handshake::{self as hs};
use crate::protocol::negotiate::{self, InfoAnswer, Nego};
use crate::session::{self, Session};
use std::sync::Arc;

/// What a backend job for a handshake option produced.
pub struct Outcome {
    pub bytes: Vec<u8>,
    pub session: Option<Session>,
    pub next: Next,
}

pub enum Next {
    ClientFlags,
    Options(Nego),
    Transmission,
    Close,
}

/// A handshake step that needs the backend (runs on the pool).
pub enum Job {
    Preconnect,
    Oldstyle,
    ExportName(Vec<u8>, Nego),
    List(Nego),
    InfoGo {
        option: u32,
        req: hs::InfoRequest,
        nego: Nego,
    },
}

/// What a handshake step works with: the layers, the settings and the
/// connection (nothing of the loop's).
pub struct At<'a> {
    pub stack: &'a Stack,
    pub cfg: &'a ServeConfig,
    pub conn: &'a Arc<Connection>,
}

/// Run a handshake job (on a worker thread, or on the loop).
pub fn run_job(at: &At, job: Job) -> Outcome {
    match job {
        Job::Preconnect => preconnect(at),
        Job::Oldstyle => oldstyle(at),
        Job::ExportName(name, nego) => export_name(at, &name, nego),
        Job::List(nego) => list(at, nego),
        Job::InfoGo { option, req, nego } => info_go(at, option, &req, nego),
    }
}

impl Outcome {
    fn new(bytes: Vec<u8>, session: Option<Session>, next: Next) -> Outcome {
        Outcome {
            bytes,
            session,
            next,
        }
    }

    /// Say what `out` holds (a reply may precede the end), then close.
    fn close(out: Vec<u8>) -> Outcome {
        Outcome::new(out, None, Next::Close)
    }
}

/// Run the layers' preconnect and send the greeting.
fn preconnect(at: &At) -> Outcome {
    let mut out = Vec::new();
    if let Err(e) = at.stack.preconnect(0, at.conn, at.cfg.readonly) {
        log_backend_error("preconnect", &e);
        return Outcome::close(out);
    }
    let line = negotiate::greeting(&mut out, at.cfg.mask_handshake);
    log::debug!("{line}");
    Outcome::new(out, None, Next::ClientFlags)
}

/// The oldstyle handshake: preconnect, open the export, say its size.
fn oldstyle(at: &At) -> Outcome {
    let (cfg, stack, conn) = (at.cfg, at.stack, at.conn);
    let mut out = Vec::new();
    if let Err(e) = stack.preconnect(0, conn, cfg.readonly) {
        log_backend_error("preconnect", &e);
        return Outcome::close(out);
    }
    let opened = session::open_export(
        stack,
        conn,
        cfg.readonly,
        cfg.export_name.as_bytes(),
        false,
        crate::sparse_read::SparseReads::Off,
        false,
    );
    match opened {
        Ok((s, i)) => {
            let line = negotiate::oldstyle_opened(&mut out, i.size, i.eflags);
            log::debug!("{line}");
            Outcome::new(out, Some(s), Next::Transmission)
        }
        Err(e) => {
            log_backend_error("open", &e);
            Outcome::close(out)
        }
    }
}

/// `NBD_OPT_EXPORT_NAME`: open the export and enter transmission.
fn export_name(at: &At, name: &[u8], nego: Nego) -> Outcome {
    let cfg = at.cfg;
    let mut out = Vec::new();
    let opened = session::open_export(
        at.stack,
        at.conn,
        cfg.readonly,
        name,
        nego.structured,
        cfg.sparse_reads,
        cfg.error_messages,
    );
    match opened {
        Ok((s, i)) => {
            let line = nego.export_name_opened(&mut out, i.size, i.eflags);
            log::debug!("{line}");
            Outcome::new(out, Some(s), Next::Transmission)
        }
        Err(e) => {
            log_backend_error("NBD_OPT_EXPORT_NAME", &e);
            Outcome::close(out)
        }
    }
}

/// `NBD_OPT_LIST`: the layers' list of exports.
fn list(at: &At, nego: Nego) -> Outcome {
    let mut out = Vec::new();
    let list = at
        .stack
        .list_exports(0, at.conn, at.cfg.readonly)
        .inspect_err(|e| log_backend_error("list_exports", e));
    let exports = match &list {
        Ok(l) => Ok(l
            .iter()
            .map(|e| (e.name.as_str(), e.description.as_deref()))),
        Err(e) => Err(e.client_message()),
    };
    let line = negotiate::list_answered(&mut out, exports);
    log::debug!("{line}");
    Outcome::new(out, None, Next::Options(nego))
}

/// `NBD_OPT_INFO` and `NBD_OPT_GO`: open the export, answer the client's
/// info requests in its order, then keep the export (GO) or close it
/// again (INFO).
fn info_go(at: &At, option: u32, req: &hs::InfoRequest, nego: Nego) -> Outcome {
    let (cfg, stack, conn) = (at.cfg, at.stack, at.conn);
    let mut out = Vec::new();
    let opened = session::open_export(
        stack,
        conn,
        cfg.readonly,
        &req.export_name,
        nego.structured,
        cfg.sparse_reads,
        cfg.error_messages,
    );
    let (mut s, i) = match opened {
        Ok(o) => o,
        Err(e) => {
            log_backend_error(&hs::option_name(option), &e);
            let line = negotiate::open_refused(&mut out, option, e.client_message());
            log::debug!("{line}");
            return Outcome::new(out, None, Next::Options(nego));
        }
    };
    let line = negotiate::export_opened(&mut out, option, i.size, i.eflags);
    log::debug!("{line}");
    let mut block_size = None;
    for &info in &req.requests {
        match info_answer(stack, conn, cfg.readonly, &s, req, info) {
            Ok(a) => {
                if let Answer::BlockSize(b) = a {
                    block_size = b;
                }
                let line = negotiate::info_reply(&mut out, option, info, a.borrowed());
                if let Some(line) = line {
                    log::debug!("{line}");
                }
            }
            Err(e) => {
                // As nbdkit: a backend failure here ends the connection.
                log_backend_error(&hs::option_name(option), &e);
                s.close();
                return Outcome::close(Vec::new());
            }
        }
    }
    let line = negotiate::info_done(&mut out, option);
    log::debug!("{line}");
    if !negotiate::enters_transmission(option) {
        // INFO only describes the export: close it again.
        s.close();
        return Outcome::new(out, None, Next::Options(nego));
    }
    // nbdkit passes requests that break a plugin's constraints on to it;
    // `--enforce-block-size` refuses them here.  With filters, enforcing
    // (or not: blocksize-policy's error-policy=allow) is the filters' job,
    // as in nbdkit.
    let told = block_size
        .filter(|_| stack.len() == 1)
        .map(|b| (b.minimum, b.maximum));
    nego.settle(&mut s.caps, told);
    if told.is_some() {
        s.caps.enforce_block_size = cfg.enforce_block_size;
    }
    Outcome::new(out, Some(s), Next::Transmission)
}

/// What the backend answered for one NBD_INFO_* request (owned).
enum Answer {
    Name(Option<Vec<u8>>),
    Description(Option<String>),
    BlockSize(Option<BlockSize>),
    Other,
}

impl Answer {
    fn borrowed(&self) -> InfoAnswer<'_> {
        match self {
            Answer::Name(n) => InfoAnswer::Name(n.as_deref()),
            Answer::Description(d) => InfoAnswer::Description(d.as_deref()),
            Answer::BlockSize(b) => {
                InfoAnswer::BlockSize(b.map(|b| (b.minimum, b.preferred, b.maximum)))
            }
            Answer::Other => InfoAnswer::Other,
        }
    }
}

/// Ask the backend what one NBD_INFO_* request needs, when the client
/// asks (so the callbacks run in the client's order, as nbdkit's).
fn info_answer(
    stack: &Stack,
    conn: &Arc<Connection>,
    readonly: bool,
    s: &Session,
    req: &hs::InfoRequest,
    info: u16,
) -> Result<Answer, crate::backend::Error> {
    Ok(match info {
        // NBD_INFO_NAME names what "" resolved to.
        NBD_INFO_NAME if req.export_name.is_empty() => Answer::Name(
            stack
                .default_export(0, conn, readonly)
                .ok()
                .flatten()
                .map(String::into_bytes),
        ),
        NBD_INFO_NAME => Answer::Name(Some(req.export_name.clone())),
        // A failure only means no description (as nbdkit).
        NBD_INFO_DESCRIPTION => Answer::Description(s.ctx.export_description().ok().flatten()),
        NBD_INFO_BLOCK_SIZE => Answer::BlockSize(session::block_size(&s.ctx)?),
        _ => Answer::Other,
    })
}

/// A backend error during the handshake: logged unless the layer already
/// reported it.
fn log_backend_error(what: &str, e: &crate::backend::Error) {
    match e.unreported() {
        Some(t) => log::error!("{t}"),
        None => log::debug!("{what}: failed with errno {}", e.errno),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    #[test]
    fn preconnect_greets_and_list_answers_then_acks() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let out = run_job(&sh.job_at(), Job::Preconnect);
        assert_eq!(&out.bytes[..8], b"NBDMAGIC");
        assert!(matches!(out.next, Next::ClientFlags));
        let nego = Nego::from_client_flags(3).unwrap();
        let out = run_job(&sh.job_at(), Job::List(nego));
        assert!(matches!(out.next, Next::Options(_)));
        assert!(out.session.is_none());
        // The last reply is the ACK of NBD_OPT_LIST.
        let ack = &out.bytes[out.bytes.len() - 20..];
        assert_eq!(&ack[8..12], &NBD_OPT_LIST.to_be_bytes());
        assert_eq!(&ack[12..16], &NBD_REP_ACK.to_be_bytes());
    }

    #[test]
    fn export_name_opens_the_export_and_says_its_size() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let nego = Nego::from_client_flags(3).unwrap();
        let out = run_job(&sh.job_at(), Job::ExportName(Vec::new(), nego));
        assert!(matches!(out.next, Next::Transmission));
        let s = out.session.expect("an open session");
        assert_eq!(s.caps.size, 1 << 20);
        // Size and flags, no zeroes (the client asked for none).
        assert_eq!(out.bytes.len(), 10);
        assert_eq!(
            u64::from_be_bytes(out.bytes[..8].try_into().unwrap()),
            1 << 20
        );
        s.close();
    }

    /// The replies in `bytes` as (option, reply type).
    fn replies(mut bytes: &[u8]) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        while bytes.len() >= 20 {
            let be32 = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
            v.push((be32(8), be32(12)));
            bytes = &bytes[20 + be32(16) as usize..];
        }
        assert!(bytes.is_empty(), "truncated reply");
        v
    }

    #[test]
    fn info_describes_and_closes_go_opens_with_what_was_settled() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let nego = Nego {
            structured: true,
            base_allocation: true,
            ..Nego::from_client_flags(3).unwrap()
        };
        let req = hs::InfoRequest {
            export_name: Vec::new(),
            requests: vec![NBD_INFO_NAME, NBD_INFO_DESCRIPTION],
        };
        for option in [NBD_OPT_INFO, NBD_OPT_GO] {
            let job = Job::InfoGo {
                option,
                req: req.clone(),
                nego: nego.clone(),
            };
            let out = run_job(&sh.job_at(), job);
            let got = replies(&out.bytes);
            assert_eq!(got.first(), Some(&(option, NBD_REP_INFO)), "export first");
            assert_eq!(got.last(), Some(&(option, NBD_REP_ACK)));
            if option == NBD_OPT_INFO {
                assert!(matches!(out.next, Next::Options(_)));
                assert!(out.session.is_none(), "INFO closes the export again");
            } else {
                assert!(matches!(out.next, Next::Transmission));
                let s = out.session.expect("GO keeps the export open");
                assert!(s.caps.base_allocation && s.caps.structured);
                assert!(!s.caps.extended);
                s.close();
            }
        }
    }

    #[test]
    fn oldstyle_opens_the_export_and_says_its_size_in_the_greeting() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let out = run_job(&sh.job_at(), Job::Oldstyle);
        assert!(matches!(out.next, Next::Transmission));
        assert_eq!(&out.bytes[..8], b"NBDMAGIC");
        assert_eq!(&out.bytes[8..16], &NBD_OLD_VERSION.to_be_bytes());
        assert_eq!(&out.bytes[16..24], &(1u64 << 20).to_be_bytes());
        assert_eq!(out.bytes.len(), 152, "the greeting's fixed size");
        out.session.expect("an open session").close();
    }
}
