//! What the loop and the workers serving one connection share: the
//! socket and its outbox, the open export, the count of requests in
//! flight and why the loop waits, the request slots named in log lines,
//! and the write buffers kept for reuse.

use super::hold::ServerHold;
use super::jobs;
use super::outbox::Outbox;
use super::server::Server;
use super::stream::Stream;
use super::transport::Transport;
use crate::backend::{Connection, ThreadModel};
use crate::budget::{Admit, Budget, Charge, ConnMemory};
use crate::dispatch::ReplySink;
use crate::logging::Ctx;
use crate::sched::pool::{CallGuard, ThreadModelLocks};
use crate::session::Session;
use crate::tls::{Credentials, Handshake};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Why the loop stopped reading a connection's requests: the worker that
/// sees the cause gone wakes the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Wait {
    /// Requests in flight must finish (or, closing, all of them).
    Slots = 1,
    /// Queued reply bytes must drain.
    Backlog = 2,
    /// Memory: a request's header is read but the budget had no room.
    Memory = 3,
    /// The connection's requests on the pool must finish, so that the
    /// loop can try running a call itself, alone (see `sched::inline`).
    Drain = 4,
}

/// A [`Wait`] or none, set by the loop and taken by a worker.
#[derive(Default)]
pub struct WaitState(AtomicU8);

impl WaitState {
    fn decode(v: u8) -> Option<Wait> {
        match v {
            1 => Some(Wait::Slots),
            2 => Some(Wait::Backlog),
            3 => Some(Wait::Memory),
            4 => Some(Wait::Drain),
            _ => None,
        }
    }

    pub fn set(&self, w: Wait) {
        self.0.store(w as u8, Ordering::SeqCst);
    }

    pub fn clear(&self) {
        self.0.store(0, Ordering::SeqCst);
    }

    pub fn get(&self) -> Option<Wait> {
        Self::decode(self.0.load(Ordering::SeqCst))
    }

    /// Clear it; whether it was set (only one of several threads seeing
    /// the cause gone gets true, so the loop is woken once).
    pub fn take(&self) -> bool {
        self.0.swap(0, Ordering::SeqCst) != 0
    }
}

/// State shared between the loop and the workers serving one connection;
/// reached through what its users do with it.
pub struct Shared {
    token: usize,
    /// The socket, plain or TLS.
    stream: Transport,
    outbox: Outbox,
    /// Held around backend calls under SERIALIZE_REQUESTS.
    req_lock: Mutex<()>,
    session: OnceLock<Session>,
    inflight: AtomicUsize,
    /// Why the loop stopped reading, if it did.
    waiting: WaitState,
    /// Log context: `plugin[N]`.
    ctx: Ctx,
    /// The plugin's name, for the names of request slots (`plugin.N`).
    plugin: Arc<str>,
    /// How many worker threads nbdkit would run this connection's
    /// requests on (0: it runs them on the connection's thread): the
    /// request slots named in log lines.
    workers: u32,
    /// The slots (of the first 64) that requests in flight hold.
    busy: AtomicU64,
    /// What the connection owns across the layers (strings handed to C,
    /// the default export each layer named).
    conn: Arc<Connection>,
    /// Write payload buffers to reuse, so a write costs neither an
    /// allocation nor zeroing its buffer before the socket fills it.
    spare: Mutex<Vec<Vec<u8>>>,
    /// Memory charged to this connection's requests in flight.
    mem: ConnMemory,
    /// The server, let go of last (after the socket closed).
    server: ServerHold,
}

/// Largest payload buffer kept for reuse, and how many are kept.
const KEEP_BUFFER: usize = 4 * 1024 * 1024;
const KEEP_BUFFERS: usize = 16;
/// Most bytes of spare buffers one connection keeps.
const KEEP_BYTES: usize = 8 * 1024 * 1024;

/// How many worker threads nbdkit 1.32.5 starts for a connection: `-t`
/// (16 by default), none when requests are serialized or `-t 1`.
pub fn workers(threads: usize, model: ThreadModel) -> u32 {
    if model < ThreadModel::Parallel || threads <= 1 {
        0
    } else {
        u32::try_from(threads).unwrap_or(u32::MAX)
    }
}

impl Shared {
    /// The state a new connection (`token` in the loop's `Poll`, `id` in
    /// log lines) shares between the loop and the workers.
    pub fn new(
        srv: &Arc<Server>,
        token: usize,
        id: u64,
        stream: Stream,
        outbox: Outbox,
        conn: Arc<Connection>,
    ) -> Shared {
        Shared {
            token,
            ctx: Ctx::Conn(format!("{}[{}]", srv.plugin_name, id).into()),
            plugin: srv.plugin_name.clone(),
            workers: workers(srv.cfg.max_inflight, srv.stack.thread_model()),
            busy: AtomicU64::new(0),
            stream: Transport::new(stream),
            outbox,
            req_lock: Mutex::new(()),
            session: OnceLock::new(),
            inflight: AtomicUsize::new(0),
            waiting: Default::default(),
            conn,
            spare: Mutex::new(Vec::new()),
            mem: Default::default(),
            server: ServerHold::new(srv.clone()),
        }
    }

    /// What a handshake step of this connection works with.
    pub fn job_at(&self) -> jobs::At<'_> {
        jobs::At {
            stack: &self.server.stack,
            cfg: &self.server.cfg,
            conn: &self.conn,
        }
    }

    /// The connection's token in the loop's `Poll`.
    pub fn token(&self) -> usize {
        self.token
    }

    /// The connection's log context: `plugin[N]`.
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The log context for reading the next request: as nbdkit's worker
    /// threads read requests, the name of the first free request slot.
    pub fn reading_ctx(&self) -> Ctx {
        if self.workers > 0 {
            let free = !self.busy.load(Ordering::Relaxed) & self.slot_mask();
            if free != 0 {
                return Ctx::Worker(self.plugin.clone(), free.trailing_zeros());
            }
        }
        self.ctx.clone()
    }

    /// The server this connection holds.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    /// The open export, once the handshake opened one.
    pub fn session(&self) -> Option<&Session> {
        self.session.get()
    }

    /// The handshake opened the export: requests run on it from now on.
    pub fn set_session(&self, s: Session) {
        let _ = self.session.set(s);
    }

    /// Enter the thread model's locks for a backend call on this
    /// connection (waiting).
    pub fn enter<'a>(&'a self, locks: &'a ThreadModelLocks) -> CallGuard<'a> {
        locks.enter(&self.req_lock)
    }

    /// Enter them only if that needs no waiting (the loop never waits).
    pub fn try_enter<'a>(&'a self, locks: &'a ThreadModelLocks) -> Option<CallGuard<'a>> {
        locks.try_enter(&self.req_lock)
    }

    /// Requests in flight on the pool.
    pub fn in_flight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// A request goes to the pool.
    pub fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::SeqCst);
    }

    /// A request on the pool is done; how many are left.
    pub fn request_done(&self) -> usize {
        self.inflight.fetch_sub(1, Ordering::SeqCst) - 1
    }

    /// The loop stops reading until `why` is gone.
    pub fn wait_for(&self, why: Wait) {
        self.waiting.set(why);
    }

    /// The loop reads again (the cause was gone before anyone saw it).
    pub fn stop_waiting(&self) {
        self.waiting.clear();
    }

    /// Why the loop stopped reading, if it did.
    pub fn waiting_for(&self) -> Option<Wait> {
        self.waiting.get()
    }

    /// The cause is gone: whether this caller is the one to wake the loop
    /// (see [`WaitState::take`]).
    pub fn take_wait(&self) -> bool {
        self.waiting.take()
    }

    /// Ask `budget` for `cost` bytes for this connection (see
    /// `Budget::admit`).
    pub fn ask_memory(&self, budget: &Budget, cost: u64) -> Admit {
        budget.admit(&self.mem, self.outbox.backlog() as u64, cost)
    }

    /// Give back what a grant charged.
    pub fn give_memory_back(&self, budget: &Budget, c: Charge) {
        budget.release(&self.mem, c);
    }

    /// Memory the connection holds: charged to its requests in flight,
    /// and in replies waiting for the client.
    pub fn memory_held(&self) -> u64 {
        self.mem.charged() + self.outbox.backlog() as u64
    }

    /// Read what the socket holds into `buf`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    /// Whether the connection is under TLS.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// The socket's descriptor.
    pub fn raw_fd(&self) -> std::os::unix::io::RawFd {
        self.stream.raw_fd()
    }

    /// STARTTLS was accepted: TLS from the next byte on.
    pub fn start_tls(&self, creds: &Arc<Credentials>) -> Result<(), crate::error::Error> {
        self.stream.start_tls(creds)
    }

    /// Run the TLS handshake as far as the socket allows, sending what it
    /// produced; once done, the connection knows its peer's name.
    pub fn tls_handshake(&self) -> Result<Handshake, crate::error::Error> {
        let (out, r) = self.stream.handshake();
        if !out.is_empty() {
            let _ = self.outbox.send_raw(&self.stream, &out);
        }
        if let Ok(Handshake::Done) = r {
            self.conn.set_tls(self.stream.peer_dn());
        }
        r
    }

    /// Send a reply, saying what went wrong (the client may be gone).
    pub fn try_send(&self, parts: &[&[u8]]) -> io::Result<()> {
        self.outbox.send(&self.stream, parts)
    }

    /// Send what the socket takes of the queued replies.
    pub fn flush_replies(&self) -> io::Result<()> {
        self.outbox.flush(&self.stream)
    }

    /// Whether the client went away while replies were being sent.
    pub fn replies_broken(&self) -> bool {
        self.outbox.is_broken()
    }

    /// Whether a plugin asked to disconnect this client
    /// (`nbdkit_disconnect (0)`): its requests are refused from now on.
    pub fn disconnecting(&self) -> bool {
        self.conn.disconnecting()
    }

    /// Close the export, if one is open: nbdkit's lines for the worker
    /// threads, then the layers' finalize and close under the thread
    /// model's locks.
    pub fn close_export(&mut self) {
        if let Some(session) = self.session.take() {
            self.retire_workers();
            let _g = self.server.locks.enter(&self.req_lock);
            crate::logging::with_context(&self.ctx, || session.close());
        }
    }

    /// Say goodbye on the socket (TLS close_notify, waiting up to
    /// `tls_wait_ms` for the client's), flush what the client can still
    /// take (it may be gone), and shut the socket down.
    pub fn say_goodbye(&self, tls_wait_ms: u64) {
        if let Some(bye) = self.stream.bye() {
            let _ = self.outbox.send_raw(&self.stream, &bye);
            let _ = self.outbox.flush(&self.stream);
            self.stream.await_peer_close(tls_wait_ms);
        }
        let _ = self.outbox.flush(&self.stream);
        self.stream.shutdown();
    }

    fn slot_mask(&self) -> u64 {
        if self.workers >= 64 {
            u64::MAX
        } else {
            (1u64 << self.workers) - 1
        }
    }

    /// Claim the lowest free request slot, so that a request's log lines
    /// carry the name nbdkit gives the worker thread running it (no slot:
    /// the connection's name).
    fn claim_slot(&self) -> Option<u32> {
        if self.workers == 0 {
            return None;
        }
        let mut cur = self.busy.load(Ordering::Relaxed);
        loop {
            let free = !cur & self.slot_mask();
            if free == 0 {
                return None;
            }
            let n = free.trailing_zeros();
            match self.busy.compare_exchange_weak(
                cur,
                cur | 1 << n,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(n),
                Err(c) => cur = c,
            }
        }
    }

    fn release_slot(&self, slot: Option<u32>) {
        if let Some(n) = slot {
            self.busy.fetch_and(!(1u64 << n), Ordering::AcqRel);
        }
    }

    fn slot_ctx(&self, slot: Option<u32>) -> Ctx {
        match slot {
            Some(n) => Ctx::Worker(self.plugin.clone(), n),
            None => self.ctx.clone(),
        }
    }

    /// Run `f` (a request) with a slot claimed and named in its log lines.
    pub fn in_slot<T>(&self, f: impl FnOnce() -> T) -> T {
        let slot = self.claim_slot();
        let r = crate::logging::with_context(&self.slot_ctx(slot), f);
        self.release_slot(slot);
        r
    }

    /// The handshake is complete: nbdkit's lines for it and for the
    /// worker threads it starts (named from the request slots).
    pub fn start_workers(&self) {
        crate::logging::with_context(&self.ctx, || {
            if self.workers == 0 {
                log::debug!("handshake complete, processing requests serially");
            } else {
                log::debug!(
                    "handshake complete, processing requests with {} threads",
                    self.workers
                );
            }
        });
        for n in 0..self.workers {
            log::debug!("starting worker thread {}.{n}", self.plugin);
        }
    }

    /// The connection ends: nbdkit's lines for its worker threads exiting.
    fn retire_workers(&self) {
        for n in 0..self.workers {
            crate::logging::with_context(&Ctx::Worker(self.plugin.clone(), n), || {
                log::debug!("exiting worker thread {}.{n}", self.plugin)
            });
        }
    }

    /// A buffer of at least `len` bytes, or None if memory cannot be had.
    /// Its contents are stale: the caller overwrites the first `len` before
    /// anything reads them.
    pub fn take_buffer(&self, len: usize) -> Option<Vec<u8>> {
        let mut buf = self
            .spare
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        if buf.len() < len {
            buf.try_reserve_exact(len - buf.len()).ok()?;
            buf.resize(len, 0);
        }
        Some(buf)
    }

    pub fn give_back(&self, buf: Vec<u8>) {
        if buf.is_empty() || buf.len() > KEEP_BUFFER {
            return;
        }
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        let kept: usize = spare.iter().map(|b| b.len()).sum();
        if spare.len() < KEEP_BUFFERS && kept + buf.len() <= KEEP_BYTES {
            spare.push(buf);
        }
    }
}

impl Shared {
    /// Whether the plugin dropped this client (`nbdkit_disconnect (1)`):
    /// then no reply is sent, and the first caller says goodbye (TLS
    /// close_notify) and shuts the socket down, which ends the connection
    /// in the loop.
    pub fn dropped_by_plugin(&self) -> bool {
        let (dropped, first) = self.conn.dropped();
        if first {
            log::debug!("the plugin disconnected this client");
            if let Some(bye) = self.stream.bye() {
                let _ = self.outbox.send_raw(&self.stream, &bye);
                let _ = self.outbox.flush(&self.stream);
            }
            self.stream.shutdown();
        }
        dropped
    }
}

impl ReplySink for Shared {
    fn send(&self, parts: &[&[u8]]) {
        if self.dropped_by_plugin() {
            return;
        }
        if let Err(e) = self.outbox.send(&self.stream, parts) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                log::debug!("write reply: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_taken_once() {
        let w = WaitState::default();
        assert_eq!(w.get(), None);
        assert!(!w.take());
        for k in [Wait::Slots, Wait::Backlog, Wait::Memory, Wait::Drain] {
            w.set(k);
            assert_eq!(w.get(), Some(k));
            assert!(w.take());
            assert!(!w.take());
            assert_eq!(w.get(), None);
        }
        w.set(Wait::Memory);
        w.clear();
        assert_eq!(w.get(), None);
    }

    #[test]
    fn nbdkit_starts_no_worker_threads_for_serial_connections() {
        assert_eq!(workers(16, ThreadModel::Parallel), 16);
        assert_eq!(workers(1, ThreadModel::Parallel), 0);
        assert_eq!(workers(16, ThreadModel::SerializeRequests), 0);
        assert_eq!(workers(200, ThreadModel::Parallel), 200);
    }
}
