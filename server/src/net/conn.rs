//! One client connection's loop-owned state machine: it reads the
//! socket, parses the handshake and requests from what it read (with
//! `protocol`), sends the handshake's replies, and owns the phase.  Where
//! a request runs is `placement`'s; whether the next one is read now is
//! `admission`'s; what it shares with the workers is in `shared`; the
//! handshake steps that need the backend are in `jobs`.

use super::admission::{self, NoMemory};
use super::cork::Cork;
use super::jobs::{Job, Next, Outcome};
use super::placement::{Driver, Here, Placer};
use super::server::Server;
use super::shared::Shared;
use crate::budget::{Admit, Charge};
use crate::dispatch::{self, ReplySink};
use crate::logging::Ctx;
use crate::protocol::handshake::{OptionHeader, OPTION_HEADER_LEN};
use crate::protocol::negotiate::{self, BackendOption, Nego, Next as NegoNext, Said};
use crate::protocol::requests::{self, Next as RequestNext, Payload, Refusal, Serving};
use crate::protocol::transmission::{self as tx, Request, Valid};
use crate::tls::Handshake;
use std::cell::Cell;
use std::io;
use std::sync::Arc;

/// A WRITE whose payload is still arriving, read straight into the buffer
/// the backend will get.
struct PendingWrite {
    req: Request,
    /// At least the payload's length; the payload is its first bytes.
    buf: Vec<u8>,
    /// What runs once the payload is in; a refused write's payload is
    /// read and dropped, then the refusal is sent.
    verdict: Result<Valid, Refusal>,
    payload: Payload,
    /// The memory budget's grant for the payload.
    charge: Charge,
}

enum Phase {
    /// `preconnect` (and for oldstyle, the open) is running on the pool.
    Starting,
    ClientFlags,
    Options(Nego),
    /// STARTTLS was accepted: the TLS handshake runs until done.
    TlsHandshake(Nego),
    /// An option that needs the backend is running on the pool.
    Backend,
    Transmission(Option<PendingWrite>),
    /// No more reading; close once in-flight requests are answered.
    Closing,
}

pub struct Conn {
    pub shared: Arc<Shared>,
    /// Replies to requests run where the connection is driven, sent
    /// together when it has parsed all it can.
    cork: Cork,
    /// The last read returned less than there was room for.
    short_read: bool,
    /// The socket holds nothing to read until the loop sees its next
    /// readiness event (see `progress`): a new connection before its first
    /// event, and one back from a handshake step after reading it dry.
    quiet: bool,
    /// The loop saw the client hang up (or an error): the hang-up's event
    /// is spent, so reading must go on until it returns end of file.
    pub peer_closed: bool,
    /// This drive answered a request or a handshake step on the loop.
    answered: Cell<bool>,
    /// Where its requests run.
    placer: Placer,
    /// Driven on a worker as a batch (see `sched::inline::Placement`),
    /// not on the loop.
    batch: bool,
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Changed only here: the loop asks through the methods below.
    phase: Phase,
    /// The handshake ran out of time while a backend job was running: the
    /// connection closes when the job reports back.
    expired: bool,
    /// Requests refused for want of memory (logged once).
    nomem: NoMemory,
    /// Bytes the message being read needs in `inbuf` (an option's header
    /// and payload), when more than it holds.
    need: usize,
    /// The budget's grant for `inbuf` beyond its usual size.
    inbuf_charge: Charge,
}

const INBUF: usize = 256 * 1024;

/// What driving the connection asks of the loop.
pub enum Want {
    Nothing,
    Backend(Job),
    Close,
}

impl Conn {
    /// `inbuf`: a closed connection's input buffer to reuse (its stale
    /// bytes are never parsed: only what reads put there is), which spares
    /// zeroing and faulting in 256 KiB per connection.
    pub fn new(shared: Arc<Shared>, inbuf: Option<Vec<u8>>) -> Conn {
        Conn {
            shared,
            cork: Cork::default(),
            short_read: false,
            // Registered already: bytes there now raise an event.
            quiet: true,
            peer_closed: false,
            answered: Cell::new(false),
            placer: Placer::default(),
            batch: false,
            inbuf: inbuf
                .filter(|b| b.len() == INBUF)
                .unwrap_or_else(|| vec![0; INBUF]),
            start: 0,
            end: 0,
            phase: Phase::Starting,
            expired: false,
            nomem: NoMemory::default(),
            need: 0,
            inbuf_charge: Charge::default(),
        }
    }

    /// The log context of what the loop does for this connection: in
    /// transmission, where nbdkit's worker threads read requests, the name
    /// of the first free slot.
    pub fn log_ctx(&self) -> Ctx {
        if matches!(self.phase, Phase::Transmission(_)) {
            self.shared.reading_ctx()
        } else {
            self.shared.ctx().clone()
        }
    }

    /// Still in the handshake (the `--timeout` limit applies).
    pub fn negotiating(&self) -> bool {
        !matches!(self.phase, Phase::Transmission(_) | Phase::Closing) && !self.expired
    }

    /// The server is shutting down: as nbdkit, a client still negotiating
    /// is dropped (one in transmission is answered ESHUTDOWN until it
    /// hangs up).
    pub fn shutting_down(&mut self) {
        if matches!(
            self.phase,
            Phase::ClientFlags | Phase::Options(_) | Phase::TlsHandshake(_)
        ) {
            self.phase = Phase::Closing;
        }
    }

    /// Whether the connection only waits to be closed.
    pub fn closing(&self) -> bool {
        matches!(self.phase, Phase::Closing)
    }

    /// Whether a handshake step runs on the backend (its completion
    /// brings the connection back to the loop).
    pub fn in_backend(&self) -> bool {
        matches!(self.phase, Phase::Backend | Phase::Starting)
    }

    /// The handshake ran out of time: stop negotiating.  True when the
    /// connection can close now; else it closes when its backend job
    /// reports back.
    pub fn expire(&mut self) -> bool {
        if matches!(self.phase, Phase::Starting | Phase::Backend) {
            self.expired = true;
            false
        } else {
            self.phase = Phase::Closing;
            true
        }
    }

    fn avail(&self) -> &[u8] {
        &self.inbuf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Read what the socket has.  Ok(false) on EOF.
    fn fill(&mut self, server: &Server) -> io::Result<Option<bool>> {
        if self.end == self.inbuf.len() {
            if self.start > 0 {
                self.inbuf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.grow_inbuf(server)?;
            }
        }
        loop {
            let room = self.inbuf.len() - self.end;
            match self.shared.read(&mut self.inbuf[self.end..]) {
                Ok(0) => return Ok(Some(false)),
                Ok(n) => {
                    // TLS returns a record at a time, whatever is left in
                    // the socket: only a plain short read drains it.
                    self.short_read = n < room && !self.shared.is_tls();
                    self.end += n;
                    return Ok(Some(true));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Make room for a message larger than `inbuf` (a large option, up to
    /// 64 MiB as nbdkit takes), charging the memory budget for it.
    fn grow_inbuf(&mut self, server: &Server) -> io::Result<()> {
        let len = self.inbuf.len();
        let n = self.need.max(len * 2);
        let cost = (n - len) as u64;
        let Admit::Granted(c) = self.shared.ask_memory(&server.budget, cost) else {
            log::error!("reading an option of {} bytes: out of memory", self.need);
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        if self.inbuf.try_reserve_exact(n - len).is_err() {
            self.shared.give_memory_back(&server.budget, c);
            log::error!("reading an option of {} bytes: out of memory", self.need);
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        self.inbuf.resize(n, 0);
        self.inbuf_charge = self.inbuf_charge.merge(c);
        Ok(())
    }

    /// Back to the usual input buffer once a large message is consumed.
    fn shrink_inbuf(&mut self, server: &Server) {
        if self.inbuf.len() > INBUF && self.start == self.end {
            self.inbuf = vec![0; INBUF];
            self.release_inbuf(server);
        }
    }

    /// The input buffer, for the next connection, if it has its usual size.
    pub fn take_inbuf(&mut self) -> Option<Vec<u8>> {
        (self.inbuf.len() == INBUF).then(|| std::mem::take(&mut self.inbuf))
    }

    /// Give back what the input buffer holds beyond its usual size.
    pub fn release_inbuf(&mut self, server: &Server) {
        let charge = std::mem::take(&mut self.inbuf_charge);
        self.shared.give_memory_back(&server.budget, charge);
    }

    fn send(&self, bytes: &[u8]) {
        self.shared.send(&[bytes]);
    }

    /// Make all the progress possible now.  Called on readiness and when
    /// a backend job or in-flight request completes.
    /// The loop saw the socket ready: what it holds must be read.
    pub fn readiness(&mut self) {
        self.quiet = false;
    }

    pub fn drive(&mut self, server: &Arc<Server>) -> Want {
        let want = self.progress(server);
        self.flush_cork();
        want
    }

    /// Whether the last drive answered a request on the loop (and forget it).
    pub fn take_answered(&self) -> bool {
        self.answered.replace(false)
    }

    fn flush_cork(&self) {
        self.cork.flush(&self.shared);
    }

    fn progress(&mut self, server: &Arc<Server>) -> Want {
        if self.shared.replies_broken()
            && !matches!(
                self.phase,
                Phase::Starting | Phase::Backend | Phase::Closing
            )
        {
            log::debug!("client went away while replies were being sent");
            return self.begin_close(server);
        }
        // A read that did not fill the buffer took all the socket had, and
        // bytes arriving after it raise a new readiness event (epoll reports
        // every arrival after the event it last returned), so reading again
        // now would only return EAGAIN: skip that syscall per request.
        // Not once a hang-up was reported: no event follows that one.
        let mut drained = std::mem::take(&mut self.quiet);
        loop {
            // Before each new request, not only before reading the socket:
            // one read can hold several requests, and `-t N` allows N in
            // flight (with -t 1 they run one at a time, in order).
            if matches!(self.phase, Phase::Transmission(None))
                && self.end > self.start
                && admission::throttled(server, &self.shared, self.placer.trial_due())
            {
                return Want::Nothing;
            }
            match self.step(server) {
                Step::Progress => continue,
                Step::Want(w @ Want::Backend(_)) => {
                    // Driven again when the step is done, maybe before
                    // the loop polls.
                    self.quiet = drained;
                    return w;
                }
                Step::Want(w) => return w,
                Step::NeedBytes if drained && !self.peer_closed => return Want::Nothing,
                Step::NeedBytes => {}
            }
            if matches!(self.phase, Phase::Transmission(_))
                && admission::throttled(server, &self.shared, self.placer.trial_due())
            {
                return Want::Nothing;
            }
            match self.fill(server) {
                Ok(Some(true)) => {
                    drained = self.short_read;
                    continue;
                }
                Ok(None) => return Want::Nothing,
                Ok(Some(false)) => {
                    // EOF between messages is a normal hang-up; inside one,
                    // nbdkit reports the truncated message.
                    let what = match self.phase {
                        Phase::Transmission(Some(_)) => Some("read data"),
                        _ if self.end == self.start => None,
                        Phase::Transmission(None) => Some("read request"),
                        Phase::ClientFlags => Some("reading initial client flags"),
                        _ => Some("reading option"),
                    };
                    match what {
                        Some(what) => log::error!("{what}: conn->recv: Bad message"),
                        None => log::debug!("client closed input socket, closing connection"),
                    }
                    return self.begin_close(server);
                }
                Err(e) => {
                    log::debug!("read: {e}");
                    return self.begin_close(server);
                }
            }
        }
    }

    pub fn begin_close(&mut self, server: &Server) -> Want {
        if let Phase::Transmission(Some(pw)) = &self.phase {
            self.shared.give_memory_back(&server.budget, pw.charge);
        }
        self.phase = Phase::Closing;
        Want::Close
    }

    fn step(&mut self, server: &Arc<Server>) -> Step {
        match &mut self.phase {
            Phase::Starting | Phase::Backend | Phase::Closing => Step::Want(Want::Nothing),
            Phase::ClientFlags => {
                if self.avail().len() < 4 {
                    return Step::NeedBytes;
                }
                let flags = u32::from_be_bytes(self.avail()[..4].try_into().unwrap());
                self.consume(4);
                log::debug!("{}", negotiate::client_flags_line(flags));
                let nego = match Nego::from_client_flags(flags) {
                    Ok(n) => n,
                    Err(e) => {
                        log::error!("{e}");
                        return Step::Want(self.begin_close(server));
                    }
                };
                self.phase = Phase::Options(nego);
                Step::Progress
            }
            Phase::Options(_) => self.option(server),
            Phase::TlsHandshake(_) => self.tls_handshake(server),
            Phase::Transmission(Some(_)) => self.write_payload(server),
            Phase::Transmission(None) => self.request(server),
        }
    }

    fn option(&mut self, server: &Arc<Server>) -> Step {
        let avail = self.avail();
        if avail.len() < OPTION_HEADER_LEN {
            return Step::NeedBytes;
        }
        let hdr = match OptionHeader::parse(avail[..OPTION_HEADER_LEN].try_into().unwrap()) {
            Ok(h) => h,
            Err(e) => {
                log::error!("{e}");
                return Step::Want(self.begin_close(server));
            }
        };
        let total = OPTION_HEADER_LEN + hdr.length as usize;
        if avail.len() < total {
            self.need = total;
            return Step::NeedBytes;
        }
        self.need = 0;
        let payload = &self.inbuf[self.start + OPTION_HEADER_LEN..self.start + total];
        let Phase::Options(nego) = &mut self.phase else {
            unreachable!()
        };
        let t = nego.option(&server.policy(), hdr.option, payload);
        let nego = nego.clone();
        self.consume(total);
        self.shrink_inbuf(server);
        let say = |lines: &[Said]| {
            for said in lines {
                match said {
                    Said::Debug(m) => log::debug!("{m}"),
                    Said::Error(m) => log::error!("{m}"),
                }
            }
        };
        say(&t.said);
        if !t.reply.is_empty() {
            // The client answers a reply with its next option.
            self.answered.set(true);
            let s = &self.shared;
            match (s.try_send(&[&t.reply]), &t.failed_write) {
                (Ok(()), _) => say(&t.after),
                // A reply the client may leave unread: nbdkit says why the
                // write failed instead.
                (Err(e), Some(what)) => {
                    let why = if e.kind() == io::ErrorKind::BrokenPipe {
                        "Broken pipe".to_string()
                    } else {
                        crate::sys::strerror(&e)
                    };
                    log::debug!("{what}: {why}");
                }
                (Err(e), None) if e.kind() != io::ErrorKind::BrokenPipe => {
                    log::debug!("write reply: {e}")
                }
                (Err(_), None) => {}
            }
        }
        match t.next {
            NegoNext::Options => Step::Progress,
            NegoNext::Close => Step::Want(self.begin_close(server)),
            NegoNext::Backend(b) => {
                self.phase = Phase::Backend;
                Step::Want(Want::Backend(match b {
                    BackendOption::ExportName(n) => Job::ExportName(n, nego),
                    BackendOption::List => Job::List(nego),
                    BackendOption::InfoGo { option, req } => Job::InfoGo { option, req, nego },
                }))
            }
            NegoNext::StartTls => self.start_tls(server, nego),
        }
    }

    /// STARTTLS was answered: switch the transport to TLS.
    fn start_tls(&mut self, server: &Server, nego: Nego) -> Step {
        let Some(creds) = crate::tls::credentials() else {
            log::error!("STARTTLS accepted without TLS credentials");
            return Step::Want(self.begin_close(server));
        };
        // CVE-2021-3716: bytes the client sent after STARTTLS, before its
        // TLS handshake, are never read as options (nor as TLS: a client
        // cannot have sent its handshake before our reply).
        let extra = self.end - self.start;
        if extra > 0 {
            log::debug!("discarding {extra} bytes sent after NBD_OPT_STARTTLS");
        }
        self.start = 0;
        self.end = 0;
        if let Err(e) = self.shared.start_tls(&creds) {
            log::error!("{e}");
            return Step::Want(self.begin_close(server));
        }
        log::debug!("starting TLS handshake");
        self.phase = Phase::TlsHandshake(nego);
        Step::Progress
    }

    /// Run the TLS handshake as far as the socket allows.
    fn tls_handshake(&mut self, server: &Server) -> Step {
        match self.shared.tls_handshake() {
            Ok(Handshake::Again) => Step::Want(Want::Nothing),
            Ok(Handshake::Done) => {
                log::debug!("using TLS on this connection");
                let Phase::TlsHandshake(nego) = std::mem::replace(&mut self.phase, Phase::Closing)
                else {
                    unreachable!()
                };
                self.phase = Phase::Options(nego);
                Step::Progress
            }
            Err(e) => {
                log::error!("{e}");
                Step::Want(self.begin_close(server))
            }
        }
    }

    fn caps(&self) -> tx::ExportCaps {
        self.shared.session().map(|s| s.caps).unwrap_or_default()
    }

    fn request(&mut self, server: &Arc<Server>) -> Step {
        let caps = self.caps();
        let serving = if crate::lifecycle::shutdown_requested() {
            Serving::ShuttingDown
        } else if self.shared.disconnecting() {
            Serving::Disconnecting
        } else {
            Serving::Yes
        };
        let (req, hlen, verdict) = match requests::next(self.avail(), &caps, serving) {
            RequestNext::NeedBytes => return Step::NeedBytes,
            RequestNext::Broken(e) => {
                log::error!("{e}");
                return Step::Want(self.begin_close(server));
            }
            RequestNext::Disconnect { header_len } => {
                self.consume(header_len);
                log::debug!("client sent NBD_CMD_DISC, closing connection");
                return Step::Want(self.begin_close(server));
            }
            RequestNext::Request {
                req,
                header_len,
                verdict,
            } => (req, header_len, verdict),
        };
        let mut verdict = verdict.map_err(Refusal::Invalid);
        let mut charge = Charge::default();
        if verdict.as_ref().is_ok_and(Valid::carries_data) {
            match admission::admit(server, &self.shared, req.count) {
                Admit::Granted(c) => charge = c,
                // The header stays unread until memory drains.
                Admit::Wait => return Step::Want(Want::Nothing),
                Admit::NoMemory => {
                    self.nomem.refused(server, &req);
                    verdict = Err(Refusal::NoMemory);
                }
            }
        }
        self.consume(hlen);
        let plen = req.payload_len();
        // A write whose payload came in whole with its header is run from
        // the input buffer when it runs on the loop: no copy into a
        // payload buffer of its own.
        if let (true, Ok(v)) = (plen > 0 && self.end - self.start >= plen as usize, &verdict) {
            let payload = &self.inbuf[self.start..self.start + plen as usize];
            if self.run_here(server, v, payload) {
                self.shared.give_memory_back(&server.budget, charge);
                self.consume(plen as usize);
                return Step::Progress;
            }
        }
        if plen > 0 {
            let (verdict, mut buf) = match verdict {
                Ok(v) => match self.shared.take_buffer(plen as usize) {
                    Some(b) => (Ok(v), b),
                    None => {
                        self.shared.give_memory_back(&server.budget, charge);
                        charge = Charge::default();
                        self.nomem.refused(server, &req);
                        (Err(Refusal::NoMemory), Vec::new())
                    }
                },
                Err(refusal) => (Err(refusal), Vec::new()),
            };
            let mut payload = Payload::new(plen, verdict.is_ok());
            let n = payload.take(self.end - self.start);
            if payload.keep() {
                buf[..n].copy_from_slice(&self.inbuf[self.start..self.start + n]);
            }
            let pw = PendingWrite {
                req,
                buf,
                verdict,
                payload,
                charge,
            };
            self.consume(n);
            self.phase = Phase::Transmission(Some(pw));
            return Step::Progress;
        }
        match verdict {
            Ok(v) => self.submit(server, v, Vec::new(), charge),
            Err(refusal) => self.refuse(&refusal, &req, &caps),
        }
        Step::Progress
    }

    fn write_payload(&mut self, server: &Arc<Server>) -> Step {
        let Phase::Transmission(Some(pw)) = &mut self.phase else {
            unreachable!()
        };
        if !pw.payload.is_complete() {
            if !pw.payload.keep() {
                // Drop what is buffered, then read more into the buffer.
                let n = pw.payload.take(self.end - self.start);
                if n == 0 {
                    self.start = 0;
                    self.end = 0;
                    return Step::NeedBytes;
                }
                self.consume(n);
                return Step::Progress;
            }
            let r = self.shared.read(&mut pw.buf[pw.payload.unfilled()]);
            match r {
                Ok(0) => {
                    log::error!("read data: conn->recv: Bad message");
                    return Step::Want(self.begin_close(server));
                }
                Ok(n) => {
                    pw.payload.received(n);
                    return Step::Progress;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Step::Progress,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Step::Want(Want::Nothing)
                }
                Err(e) => {
                    log::debug!("read: {e}");
                    return Step::Want(self.begin_close(server));
                }
            }
        }
        let Some(Phase::Transmission(Some(pw))) = Some(std::mem::replace(
            &mut self.phase,
            Phase::Transmission(None),
        )) else {
            unreachable!()
        };
        match pw.verdict {
            Err(refusal) => self.refuse(&refusal, &pw.req, &self.caps()),
            Ok(v) => self.submit(server, v, pw.buf, pw.charge),
        }
        Step::Progress
    }

    /// Where the connection is driven, for placing a request.
    fn here<'a>(&'a self, server: &'a Arc<Server>) -> Here<'a> {
        Here {
            server,
            shared: &self.shared,
            cork: &self.cork,
            driver: if self.batch {
                Driver::Batch
            } else {
                Driver::Loop
            },
        }
    }

    /// Note a request answered where the connection is driven: on the
    /// loop, the client may send more at once (see `spin`).
    fn ran_here(&self, ran: bool) -> bool {
        if ran && !self.batch {
            self.answered.set(true);
        }
        ran
    }

    /// Answer a request where the connection is driven if the policy
    /// allows it now; false if it must go to the pool.
    fn run_here(&self, server: &Arc<Server>, v: &Valid, payload: &[u8]) -> bool {
        self.ran_here(self.placer.try_here(&self.here(server), v, payload))
    }

    /// Run a request, here or on the pool (see `placement`).
    fn submit(&self, server: &Arc<Server>, v: Valid, payload: Vec<u8>, charge: Charge) {
        self.ran_here(self.placer.submit(&self.here(server), v, payload, charge));
    }

    /// Answer a request refused before it reaches the backend.
    fn refuse(&self, refusal: &Refusal, req: &Request, caps: &tx::ExportCaps) {
        let r = refusal.reply(req, caps);
        match r.said {
            Some(Said::Debug(m)) => log::debug!("{m}"),
            Some(Said::Error(m)) => log::error!("{m}"),
            None => {}
        }
        dispatch::log_error_reply(r.error as i32);
        self.shared.send(&[&r.reply]);
    }

    /// Drive the connection on a worker, as a batch: read and answer what
    /// the client sent, then hand the connection back to the loop.
    pub fn drive_batch(&mut self, server: &Arc<Server>) -> Want {
        // This thread slept before the batch: only a call that sleeps
        // during it counts as blocking.
        crate::sched::inline::loop_may_sleep();
        self.batch = true;
        let want = {
            let ctx = self.log_ctx();
            crate::logging::with_context(&ctx, || self.drive(server))
        };
        self.batch = false;
        want
    }

    /// Whether the connection is reading requests (where batches apply).
    pub fn in_transmission(&self) -> bool {
        matches!(self.phase, Phase::Transmission(_))
    }

    /// Apply what a backend job produced.
    pub fn finish_backend(&mut self, out: Outcome) {
        if self.expired {
            // Nothing more is said; a session the job opened is dropped.
            self.phase = Phase::Closing;
            return;
        }
        if !out.bytes.is_empty() {
            self.answered.set(true);
            self.send(&out.bytes);
        }
        if let Some(s) = out.session {
            self.shared.set_session(s);
        }
        self.phase = match out.next {
            Next::ClientFlags => Phase::ClientFlags,
            Next::Options(n) => Phase::Options(n),
            Next::Transmission => {
                self.shared.start_workers();
                Phase::Transmission(None)
            }
            Next::Close => Phase::Closing,
        };
    }
}

enum Step {
    Progress,
    NeedBytes,
    Want(Want),
}

#[cfg(test)]
mod tests {
    use super::super::jobs;
    use super::super::testing;
    use super::*;
    use crate::protocol::consts::*;
    use std::io::{Read, Write};

    /// Drive until the connection waits for the client, running backend
    /// steps here; the last want.  Called once the client wrote: as the
    /// loop on a readiness event.
    fn run(srv: &Arc<Server>, c: &mut Conn) -> &'static str {
        c.readiness();
        loop {
            match c.drive(srv) {
                Want::Backend(job) => {
                    let out = jobs::run_job(&c.shared.job_at(), job);
                    c.finish_backend(out);
                }
                Want::Nothing => return "nothing",
                Want::Close => return "close",
            }
        }
    }

    fn option(opt: u32, data: &[u8]) -> Vec<u8> {
        let mut o = 0x4948_4156_454F_5054u64.to_be_bytes().to_vec();
        o.extend_from_slice(&opt.to_be_bytes());
        o.extend_from_slice(&(data.len() as u32).to_be_bytes());
        o.extend_from_slice(data);
        o
    }

    fn request(cmd: u16, handle: u64, offset: u64, len: u32) -> Vec<u8> {
        let mut r = NBD_REQUEST_MAGIC.to_be_bytes().to_vec();
        r.extend_from_slice(&0u16.to_be_bytes());
        r.extend_from_slice(&cmd.to_be_bytes());
        r.extend_from_slice(&handle.to_be_bytes());
        r.extend_from_slice(&offset.to_be_bytes());
        r.extend_from_slice(&len.to_be_bytes());
        r
    }

    #[test]
    fn handshake_requests_and_a_bad_magic() {
        let (srv, _rx) = testing::server();
        let (sh, mut client) = testing::shared(&srv);
        let mut c = Conn::new(sh.clone(), None);
        assert!(c.in_backend(), "preconnect comes first");
        let out = jobs::run_job(&sh.job_at(), Job::Preconnect);
        c.finish_backend(out);
        assert!(c.negotiating());
        let mut greeting = [0u8; 18];
        client.read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting[..8], b"NBDMAGIC");
        // Fixed newstyle, no zeroes; then NBD_OPT_EXPORT_NAME "".
        client.write_all(&3u32.to_be_bytes()).unwrap();
        client.write_all(&option(NBD_OPT_EXPORT_NAME, b"")).unwrap();
        assert_eq!(run(&srv, &mut c), "nothing");
        assert!(!c.negotiating() && c.in_transmission());
        let mut info = [0u8; 10];
        client.read_exact(&mut info).unwrap();
        assert_eq!(u64::from_be_bytes(info[..8].try_into().unwrap()), 1 << 20);
        // Two reads in one write: both answered, in order.
        let mut two = request(NBD_CMD_READ, 5, 8, 16);
        two.extend(request(NBD_CMD_READ, 6, 0, 8));
        client.write_all(&two).unwrap();
        assert_eq!(run(&srv, &mut c), "nothing");
        let mut r = [0u8; 32 + 24];
        client.read_exact(&mut r).unwrap();
        assert_eq!(&r[..4], &NBD_SIMPLE_REPLY_MAGIC.to_be_bytes());
        assert_eq!(&r[4..8], &[0; 4], "no error");
        assert_eq!(u64::from_be_bytes(r[8..16].try_into().unwrap()), 5);
        assert_eq!(&r[16..24], &8u64.to_be_bytes(), "pattern: the offset");
        assert_eq!(&r[24..32], &16u64.to_be_bytes());
        assert_eq!(u64::from_be_bytes(r[40..48].try_into().unwrap()), 6);
        assert_eq!(&r[48..56], &0u64.to_be_bytes());
        // A header that is not one: the connection closes.
        client.write_all(&[0xff; 28]).unwrap();
        assert_eq!(run(&srv, &mut c), "close");
        assert!(c.closing());
    }

    #[test]
    fn a_refused_write_payload_is_read_and_dropped() {
        let (srv, _rx) = testing::server();
        let (sh, mut client) = testing::shared(&srv);
        let mut c = Conn::new(sh.clone(), None);
        c.finish_backend(jobs::run_job(&sh.job_at(), Job::Preconnect));
        let mut greeting = [0u8; 18];
        client.read_exact(&mut greeting).unwrap();
        client.write_all(&3u32.to_be_bytes()).unwrap();
        client.write_all(&option(NBD_OPT_EXPORT_NAME, b"")).unwrap();
        run(&srv, &mut c);
        let mut info = [0u8; 10];
        client.read_exact(&mut info).unwrap();
        // A write past the end of the 1M disk, its payload in two parts,
        // then a read: the payload is not taken for a header.
        let mut w = request(NBD_CMD_WRITE, 3, 1 << 20, 512);
        w.extend_from_slice(&[NBD_REQUEST_MAGIC as u8; 100]);
        client.write_all(&w).unwrap();
        assert_eq!(run(&srv, &mut c), "nothing", "payload still arriving");
        let mut rest = vec![0x67; 412];
        rest.extend(request(NBD_CMD_READ, 4, 0, 8));
        client.write_all(&rest).unwrap();
        assert_eq!(run(&srv, &mut c), "nothing");
        let mut r = [0u8; 16 + 24];
        client.read_exact(&mut r).unwrap();
        let error = u32::from_be_bytes(r[4..8].try_into().unwrap());
        assert!(error == NBD_ENOSPC || error == NBD_EPERM, "{error}");
        assert_eq!(u64::from_be_bytes(r[8..16].try_into().unwrap()), 3);
        assert_eq!(&r[16..20], &NBD_SIMPLE_REPLY_MAGIC.to_be_bytes());
        assert_eq!(&r[20..24], &[0; 4], "the read succeeds");
        assert_eq!(u64::from_be_bytes(r[24..32].try_into().unwrap()), 4);
        assert!(c.in_transmission());
    }

    #[test]
    fn a_client_hanging_up_mid_request_closes_the_connection() {
        let (srv, _rx) = testing::server();
        let (sh, mut client) = testing::shared(&srv);
        let mut c = Conn::new(sh.clone(), None);
        c.finish_backend(jobs::run_job(&sh.job_at(), Job::Preconnect));
        client.write_all(&3u32.to_be_bytes()).unwrap();
        client.write_all(&option(NBD_OPT_EXPORT_NAME, b"")).unwrap();
        run(&srv, &mut c);
        client
            .write_all(&request(NBD_CMD_WRITE, 1, 0, 512)[..20])
            .unwrap();
        assert_eq!(run(&srv, &mut c), "nothing", "half a header: wait");
        drop(client);
        c.peer_closed = true;
        assert_eq!(run(&srv, &mut c), "close");
    }
}
