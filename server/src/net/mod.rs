//! The network side: one mio `Poll` owning every socket, a state machine
//! per connection, and the hand-off to the worker pool.
//!
//! The loop reads and parses; workers call the backend and write replies
//! themselves (see `outbox`).  Workers talk back to the loop only when it
//! asked them to (a throttled connection, a finished handshake step, a
//! closed connection), through a channel and one `Waker`.

pub mod closing;
pub mod conn;
pub mod cork;
pub mod handoff;
pub mod hold;
pub mod jobs;
pub mod listen;
pub mod outbox;
pub mod relay;
pub mod shared;
pub mod spin;
pub mod stream;
pub mod transport;

use crate::backend::{Connection, Stack, ThreadModel};
use crate::budget::Budget;
use crate::logging::Ctx;
use crate::sched::inline::{InlinePolicy, Mode, Placement};
use crate::sched::pool::{Pool, ThreadModelLocks};
use conn::{Conn, Want};
use crossbeam_channel::{unbounded, Receiver, Sender};
use jobs::{Job, Outcome};
use listen::Listener;
use mio::{Events, Poll, Token, Waker};
use relay::Relay;
use shared::Shared;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use stream::Stream;

/// Settings that shape how connections are served.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub readonly: bool,
    pub export_name: String,
    pub no_sr: bool,
    /// `--tls`: what option negotiation offers and requires.
    pub tls: crate::protocol::negotiate::TlsMode,
    pub mask_handshake: u16,
    pub oldstyle: bool,
    /// Requests in flight per connection (`-t`).
    pub max_inflight: usize,
    /// `--memory-limit`: bytes requests in flight may hold (see `budget`).
    pub memory_limit: u64,
    /// Which plugins' large structured reads may send zeroes as holes
    /// (`--sparse-reads`).
    pub sparse_reads: crate::sparse_read::SparseReads,
    /// `--send-error-messages`: error chunks carry the reason.
    pub error_messages: bool,
    /// `--enforce-block-size`: requests breaking a plugin's advertised
    /// block sizes get EINVAL without reaching it.
    pub enforce_block_size: bool,
    /// A client must finish negotiating within this (`--timeout`; `None`:
    /// no limit).
    pub handshake_timeout: Option<std::time::Duration>,
    /// `--keepalive`: SO_KEEPALIVE on each accepted socket.
    pub keepalive: bool,
    /// `--no-meta-contexts`: refuse the meta context options.
    pub no_mc: bool,
}

enum Event {
    /// A throttled or closing connection may make progress again.
    Resume(usize),
    /// A handshake job finished (boxed: an outcome holds an open session).
    Handshake(usize, Box<Outcome>),
    /// A connection's export is closed: another may be admitted.
    Closed,
    /// A worker finished a batch of a connection's requests (see
    /// `sched::inline::Placement::Batch`) and gives the connection back.
    Back(usize, Box<(Conn, Want)>),
}

/// Everything the loop and the workers share.
pub struct Server {
    /// Whether small requests may run on the loop thread.
    pub inline: InlinePolicy,
    /// Connections admitted and not yet closed (their export closed):
    /// see `hold::ServerHold`.
    pub open_conns: AtomicUsize,
    /// The filters and the plugin.
    pub stack: Arc<Stack>,
    pub plugin_name: Arc<str>,
    pub locks: ThreadModelLocks,
    pub cfg: ServeConfig,
    pub pool: Pool,
    /// The server has one CPU: the loop's thread runs the batches itself
    /// (see `relay`), since a worker could not run beside it.
    pub batches_on_loop: bool,
    pub budget: Arc<Budget>,
    /// Connections whose state still exists (the server waits at exit
    /// until there are none).
    pub live: Arc<hold::Live>,
    events: Sender<Event>,
    waker: OnceLock<Arc<Waker>>,
}

impl Server {
    pub fn new(stack: Arc<Stack>, cfg: ServeConfig, workers: usize) -> (Arc<Server>, EventsRx) {
        let (tx, rx) = unbounded();
        let model = stack.thread_model();
        let s = Arc::new(Server {
            inline: InlinePolicy::new(inline_mode(&stack, model)),
            open_conns: AtomicUsize::new(0),
            plugin_name: stack.plugin().name().into(),
            stack,
            locks: ThreadModelLocks::new(model),
            budget: Arc::new(Budget::new(cfg.memory_limit)),
            cfg,
            pool: Pool::new(workers),
            batches_on_loop: std::thread::available_parallelism().is_ok_and(|n| n.get() == 1),
            live: Default::default(),
            events: tx,
            waker: OnceLock::new(),
        });
        (s, EventsRx(rx))
    }

    fn notify(&self, ev: Event) {
        let _ = self.events.send(ev);
        // The loop itself looks at the channel before it sleeps: waking it
        // from its own thread would cost a write and an empty poll.
        if outbox::on_loop() {
            return;
        }
        if let Some(w) = self.waker.get() {
            let _ = w.wake();
        }
    }

    /// What option negotiation needs to know of the settings.
    pub fn policy(&self) -> crate::protocol::negotiate::Policy {
        crate::protocol::negotiate::Policy {
            tls: self.cfg.tls,
            no_sr: self.cfg.no_sr,
            no_mc: self.cfg.no_mc,
        }
    }

    pub fn resume(&self, token: usize) {
        self.notify(Event::Resume(token));
    }
}

fn inline_mode(stack: &Stack, model: ThreadModel) -> Mode {
    // A filter may sleep on purpose (delay, rate, pause), so a stack with
    // filters is never trusted blindly: like a C plugin, it earns inline
    // calls by being measured fast on the pool, and loses them when a call
    // on the loop blocks (a delay filter's calls never get there).
    if std::env::var_os("NBDKIT_NO_INLINE").is_some() {
        Mode::Never
    } else if stack.nonblocking() && model == ThreadModel::Parallel {
        Mode::Always
    } else {
        Mode::Adaptive
    }
}

/// The loop's end of the workers' event channel, from `Server::new`.
pub struct EventsRx(Receiver<Event>);

const WAKER: Token = Token(usize::MAX);
const SIGNAL: Token = Token(usize::MAX - 1);
const FIRST_CONN: usize = 1 << 20;
/// Largest request the loop runs itself for a nonblocking plugin.
const INLINE_MAX: u64 = 64 * 1024;
/// Send buffer asked for on Unix-socket connections.
const UNIX_SEND_BUFFER: usize = 1 << 20;

static NEXT_CONN: AtomicUsize = AtomicUsize::new(1);

/// Serve until shutdown is requested and every connection has closed, or
/// (with `single`) until that one connection closes.
pub fn serve(
    server: Arc<Server>,
    rx: EventsRx,
    mut listeners: Vec<Listener>,
    single: Option<Stream>,
    mut signal: Option<mio::net::UnixStream>,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    register(&server, &mut poll, &mut listeners, signal.as_mut())?;
    let mut lp = Loop::new(&poll, server, single.is_some())?;
    if let Some(s) = single {
        lp.admit(&poll, s);
    }
    let core = Core {
        poll,
        lp,
        events: Events::with_capacity(1024),
        listeners,
        signal,
        spin: spin::BusyPoll::default(),
        rx: rx.0,
        stopping: false,
        starved: false,
    };
    let relay = Relay::new(lead);
    match lead(core, &relay) {
        Some(r) => {
            relay.close();
            r
        }
        // Another thread took the loop over (see `relay`).
        None => relay.wait_finished(),
    }
}

/// All the event loop owns: the thread holding it is the loop.
struct Core {
    poll: Poll,
    lp: Loop,
    events: Events,
    listeners: Vec<Listener>,
    signal: Option<mio::net::UnixStream>,
    spin: spin::BusyPoll,
    rx: Receiver<Event>,
    stopping: bool,
    /// An accept failed for want of descriptors or memory.
    starved: bool,
}

/// Be the event loop until the server is done (its result) or, while
/// this thread ran batches, another took the loop over (`None`).
fn lead(mut core: Core, relay: &Arc<Relay<Core>>) -> Option<io::Result<()>> {
    outbox::set_loop_thread(true);
    loop {
        match core.turn(relay.has_batches()) {
            Err(e) => return Some(Err(e)),
            Ok(true) => return Some(Ok(())),
            Ok(false) => {}
        }
        let batches = std::mem::take(&mut core.lp.batches);
        if batches.is_empty() && !relay.has_batches() {
            continue;
        }
        // Batches run as on a worker: they may wait for a slow reader.
        outbox::set_loop_thread(false);
        core = relay.run_batches(core, batches)?;
        outbox::set_loop_thread(true);
        if !core.stopping {
            core.spin.arm();
        }
    }
}

impl Core {
    /// Wait for events (not at all with `hurry`) and handle them; true
    /// once the server is done.
    fn turn(&mut self, hurry: bool) -> io::Result<bool> {
        let lp = &mut self.lp;
        if crate::lifecycle::shutdown_requested() && !self.stopping {
            self.stopping = true;
            lp.stop(&self.poll, &mut self.listeners);
        }
        // Done once every connection's export is closed (`open_conns` counts
        // them until the close is done).
        if (self.stopping || lp.single_mode) && lp.all_closed() {
            return Ok(true);
        }
        // Out of descriptors, the listeners' queues are retried when a
        // connection closes (its descriptor is free then) and, in case
        // something else frees one, after a pause: never in a tight loop,
        // and never only when yet another client connects (the listeners
        // are edge-triggered: clients already queued raise no new edge).
        // A handshake running out of time wakes the loop too.
        let timeout = match (self.starved.then_some(ACCEPT_RETRY), lp.handshake_wait()) {
            (Some(a), Some(h)) => Some(a.min(h)),
            (a, h) => a.or(h),
        };
        let timeout = self.spin.timeout(timeout);
        // What the loop told itself (see `Server::notify`) is handled
        // before it sleeps, and batches a thread left behind run soon.
        let timeout = if self.rx.is_empty() && !hurry {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        if timeout != Some(Duration::ZERO) {
            crate::sched::inline::loop_may_sleep();
        }
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        self.spin.polled(!self.events.is_empty());
        if self.starved && self.events.is_empty() {
            self.starved = !retry_accept(lp, &self.poll, &self.listeners);
        }
        for ev in self.events.iter() {
            match ev.token() {
                WAKER => {}
                SIGNAL => {
                    if let Some(s) = self.signal.as_ref() {
                        let mut b = [0u8; 16];
                        while matches!(io::Read::read(&mut &*s, &mut b), Ok(n) if n > 0) {}
                    }
                    crate::lifecycle::request_shutdown();
                }
                Token(i) if i < self.listeners.len() => {
                    if !accept_all(lp, &self.poll, &self.listeners[i]) {
                        self.starved = true;
                    }
                }
                Token(t) => lp.socket_event(&self.poll, t, ev),
            }
        }
        if std::mem::take(&mut lp.answered) && !self.stopping {
            self.spin.arm();
        }
        lp.expire_handshakes(&self.poll);
        while let Ok(ev) = self.rx.try_recv() {
            lp.worker_event(&self.poll, ev, &self.listeners, &mut self.starved);
        }
        Ok(false)
    }
}

/// Register the listeners, the signal pipe and the workers' waker with
/// the `Poll`.
fn register(
    server: &Server,
    poll: &mut Poll,
    listeners: &mut [Listener],
    signal: Option<&mut mio::net::UnixStream>,
) -> io::Result<()> {
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let _ = server.waker.set(waker.clone());
    for (i, l) in listeners.iter_mut().enumerate() {
        l.register(poll.registry(), Token(i))?;
    }
    if let Some(s) = signal {
        poll.registry()
            .register(s, SIGNAL, mio::Interest::READABLE)?;
    }
    // The waker alone, not the server: a shutdown request from another
    // thread (the end of --run) must not hold the server, even for a
    // moment, while main decides whether it holds the last reference.
    crate::lifecycle::add_waker(Box::new(move || {
        let _ = waker.wake();
    }));
    Ok(())
}

/// A connection served in batches on workers (see
/// `sched::inline::Placement::Batch`).  The worker that finished a batch
/// parks the connection here, unless an event came meanwhile: then it
/// drives it again itself.  So a busy client's connection stays on one
/// worker, and handing it back costs the loop no wake-up; the loop takes
/// a parked connection out again at its next event.
struct Away {
    shared: Arc<Shared>,
    slot: Mutex<AwaySlot>,
}

#[derive(Default)]
struct AwaySlot {
    /// The connection, while no worker drives it.
    conn: Option<Conn>,
    /// An event came while a worker drove it.
    dirty: bool,
}

impl Away {
    fn lock(&self) -> std::sync::MutexGuard<'_, AwaySlot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Drive `c` as batches until nothing more came, then park it in `away`;
/// what only the loop can do (close it) sends it back there.
fn batch(token: usize, c: Conn, away: Arc<Away>) -> crate::sched::pool::Job {
    let srv = Arc::clone(&c.shared.server);
    let mut c = c;
    Box::new(move || loop {
        let want = c.drive_batch(&srv);
        if matches!(want, Want::Nothing) && !c.closing() {
            let mut slot = away.lock();
            if std::mem::take(&mut slot.dirty) {
                continue;
            }
            slot.conn = Some(c);
            return;
        }
        srv.notify(Event::Back(token, Box::new((c, want))));
        return;
    })
}

/// The state a new connection shares between the loop and the workers.
fn new_shared(
    srv: &Arc<Server>,
    token: usize,
    id: u64,
    stream: Stream,
    outbox: outbox::Outbox,
    conn: Arc<Connection>,
) -> Arc<Shared> {
    Arc::new(Shared {
        token,
        ctx: Ctx::Conn(format!("{}[{}]", srv.plugin_name, id).into()),
        plugin: srv.plugin_name.clone(),
        workers: shared::workers(srv.cfg.max_inflight, srv.stack.thread_model()),
        busy: AtomicU64::new(0),
        stream: transport::Transport::new(stream),
        outbox,
        req_lock: Mutex::new(()),
        session: OnceLock::new(),
        inflight: AtomicUsize::new(0),
        waiting: Default::default(),
        conn,
        spare: Mutex::new(Vec::new()),
        mem: Default::default(),
        server: hold::ServerHold::new(srv.clone()),
    })
}

/// How long the loop waits before trying again to accept after running
/// out of descriptors, when no connection closed meanwhile.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// Accept every connection queued on `l`.  False when accepting stopped
/// for want of resources (descriptors, memory) with clients still queued.
fn accept_all(lp: &mut Loop, poll: &Poll, l: &Listener) -> bool {
    loop {
        match l.accept(lp.server.cfg.keepalive) {
            Ok(s) => lp.admit(poll, s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A client that gave up while queued: the next may be fine.
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
            Err(e) => {
                let starved = matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                );
                // One line per episode, not per retry.
                if !lp.accept_failing {
                    log::error!("accept: {}", crate::sys::strerror(&e));
                    lp.accept_failing = true;
                }
                return !starved;
            }
        }
    }
}

/// Accept on every listener after a resource shortage.  True once every
/// queue is drained.
fn retry_accept(lp: &mut Loop, poll: &Poll, listeners: &[Listener]) -> bool {
    let mut all = true;
    for l in listeners {
        all &= accept_all(lp, poll, l);
    }
    if all {
        lp.accept_failing = false;
    }
    all
}

struct Loop {
    server: Arc<Server>,
    /// For workers to ask for writable events on a connection.
    registry: Arc<mio::Registry>,
    conns: HashMap<usize, Conn>,
    /// Accepted but waiting their turn under SERIALIZE_CONNECTIONS.
    queued: VecDeque<Stream>,
    /// Connections still negotiating, with when they must be done
    /// (`--timeout`), in accept order: one limit for all, so the front
    /// expires first.  Entries of connections that got through are
    /// dropped from the front as the loop comes by.
    handshakes: VecDeque<(Instant, usize)>,
    next_token: usize,
    /// Connections a worker is driving as a batch, and whether an event
    /// for one came meanwhile (it is driven again when back).
    away: HashMap<usize, Arc<Away>>,
    single_mode: bool,
    /// An accept error was logged and accepting has not recovered yet.
    accept_failing: bool,
    /// Connections open when free memory was last given back (or the most
    /// open since).
    open_at_trim: usize,
    /// A drive answered requests itself and left none in flight: the
    /// client may send more at once (see `spin`).
    answered: bool,
    /// Input buffers of closed connections, for the next ones.
    spare_inbufs: Vec<Vec<u8>>,
    /// Batches this thread runs after the turn (see `relay`).
    batches: Vec<crate::sched::pool::Job>,
}

/// Input buffers kept for new connections.
const SPARE_INBUFS: usize = 4;

impl Loop {
    fn new(poll: &Poll, server: Arc<Server>, single_mode: bool) -> io::Result<Loop> {
        Ok(Loop {
            registry: Arc::new(poll.registry().try_clone()?),
            server,
            conns: HashMap::new(),
            queued: VecDeque::new(),
            handshakes: VecDeque::new(),
            next_token: FIRST_CONN,
            away: HashMap::new(),
            single_mode,
            accept_failing: false,
            open_at_trim: 0,
            answered: false,
            spare_inbufs: Vec::new(),
            batches: Vec::new(),
        })
    }

    /// Shutdown: stop listening; as nbdkit, drop the clients still
    /// negotiating and answer those in transmission ESHUTDOWN until they
    /// hang up.
    fn stop(&mut self, poll: &Poll, listeners: &mut Vec<Listener>) {
        for l in listeners.iter_mut() {
            l.deregister(poll.registry());
        }
        listeners.clear();
        self.queued.clear();
        self.recall_parked();
        let tokens: Vec<usize> = self.conns.keys().copied().collect();
        for t in tokens {
            self.drive(poll, t);
        }
    }

    /// No connection is left, here, on a worker, or with its export still
    /// open.
    fn all_closed(&self) -> bool {
        self.conns.is_empty()
            && self.away.is_empty()
            && self.server.open_conns.load(Ordering::SeqCst) == 0
    }

    /// What the `Poll` says of connection `t`'s socket.
    fn socket_event(&mut self, poll: &Poll, t: usize, ev: &mio::event::Event) {
        if let Some(c) = self.conns.get_mut(&t) {
            c.readiness();
            if ev.is_read_closed() || ev.is_error() {
                c.peer_closed = true;
            }
            if ev.is_writable() {
                if let Err(e) = c.shared.outbox.flush(&c.shared.stream) {
                    log::debug!("write: {e}");
                }
            }
        } else if let Some(a) = self.away.get(&t) {
            if ev.is_writable() {
                if let Err(e) = a.shared.outbox.flush(&a.shared.stream) {
                    log::debug!("write: {e}");
                }
            }
        }
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() || ev.is_writable() {
            self.drive(poll, t);
        }
    }

    /// What a worker tells the loop.  `starved`: accepting failed for want
    /// of descriptors (retried as connections close).
    fn worker_event(&mut self, poll: &Poll, ev: Event, listeners: &[Listener], starved: &mut bool) {
        match ev {
            Event::Resume(t) => self.drive(poll, t),
            Event::Back(t, b) => {
                let (c, want) = *b;
                let dirty = self.away.remove(&t).is_some_and(|a| a.lock().dirty);
                self.conns.insert(t, c);
                self.wanted(poll, t, want);
                if dirty {
                    self.drive(poll, t);
                }
            }
            Event::Handshake(t, out) => {
                if let Some(c) = self.conns.get_mut(&t) {
                    c.finish_backend(*out);
                }
                self.drive(poll, t);
            }
            Event::Closed => {
                let open = self.server.open_conns.load(Ordering::SeqCst);
                // Hand what closed connections used back to the system
                // when all, or half of those open at the last trim,
                // are gone (a trim walks the whole heap: not per close).
                if open == 0 || open <= self.open_at_trim / 2 {
                    crate::sys::release_free_memory();
                    self.open_at_trim = open;
                }
                if *starved {
                    *starved = !retry_accept(self, poll, listeners);
                }
                while self.can_admit() {
                    match self.queued.pop_front() {
                        Some(s) => self.admit(poll, s),
                        None => break,
                    }
                }
            }
        }
    }

    fn can_admit(&self) -> bool {
        self.server.locks.model() != ThreadModel::SerializeConnections
            || self.server.open_conns.load(Ordering::SeqCst) == 0
    }

    fn admit(&mut self, poll: &Poll, mut stream: Stream) {
        if crate::lifecycle::shutdown_requested() {
            return;
        }
        if !self.can_admit() {
            self.queued.push_back(stream);
            return;
        }
        if matches!(stream, Stream::Unix(_)) {
            // The default (about 200 KiB) is less than one 256 KiB read
            // reply, so every such reply would wait for the client to drain
            // the socket part-way through.  (TCP sizes its own buffers.)
            crate::sys::set_send_buffer(stream.raw_fd(), UNIX_SEND_BUFFER);
        }
        let token = self.next_token;
        self.next_token += 1;
        if let Err(e) = stream.register(poll.registry(), Token(token)) {
            log::error!("register connection: {e}");
            return;
        }
        let id = NEXT_CONN.fetch_add(1, Ordering::SeqCst) as u64;
        let srv = &self.server;
        let conn = Arc::new(Connection::new(stream.raw_fd(), false, srv.stack.len()));
        let outbox = {
            let (reg, fd) = (self.registry.clone(), stream.raw_fd());
            outbox::Outbox::with_hook(
                Box::new(move |on| stream::watch_writable(&reg, fd, Token(token), on)),
                srv.budget.clone(),
            )
        };
        let shared = new_shared(srv, token, id, stream, outbox, conn);
        // nbdkit's words; the connection's number shows in the context of
        // its later lines.
        log::debug!("accepted connection");
        let open = srv.open_conns.load(Ordering::SeqCst);
        self.open_at_trim = self.open_at_trim.max(open);
        if let Some(limit) = srv.cfg.handshake_timeout {
            self.handshakes.push_back((Instant::now() + limit, token));
        }
        self.conns
            .insert(token, Conn::new(shared, self.spare_inbufs.pop()));
        let job = if srv.cfg.oldstyle {
            Job::Oldstyle
        } else {
            Job::Preconnect
        };
        self.run_backend(poll, token, job);
    }

    /// How long the loop may wait for events before the oldest handshake
    /// runs out of time (`None`: no handshake is pending).  Connections past
    /// their handshake leave the queue here, at no cost to them.
    fn handshake_wait(&mut self) -> Option<Duration> {
        while let Some(&(_, token)) = self.handshakes.front() {
            match self.conns.get(&token) {
                Some(c) if c.negotiating() => break,
                _ => {
                    self.handshakes.pop_front();
                }
            }
        }
        let &(deadline, _) = self.handshakes.front()?;
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    /// Disconnect clients whose time to negotiate ran out (CVE-2024-7409:
    /// a client holding a connection open without ever finishing).
    fn expire_handshakes(&mut self, poll: &Poll) {
        let Some(limit) = self.server.cfg.handshake_timeout else {
            return;
        };
        let mut now = None;
        while let Some(&(deadline, token)) = self.handshakes.front() {
            if deadline > *now.get_or_insert_with(Instant::now) {
                break;
            }
            self.handshakes.pop_front();
            let Some(c) = self.conns.get_mut(&token) else {
                continue;
            };
            if !c.negotiating() {
                continue;
            }
            crate::logging::with_context(&c.shared.ctx, || {
                log::error!(
                    "client did not complete the handshake within {} (--timeout), disconnecting",
                    humanize(limit)
                )
            });
            if c.expire() {
                self.try_close(poll, token);
            }
        }
    }

    fn run_backend(&mut self, poll: &Poll, token: usize, job: Job) {
        let Some(c) = self.conns.get(&token) else {
            return;
        };
        let srv = &self.server;
        if srv
            .inline
            .handshake_on_loop(srv.open_conns.load(Ordering::Relaxed))
        {
            // Nothing in the stack can block, or its handshake steps were
            // measured quick and this is the only client: the step runs
            // here rather than costing two thread hand-offs (a handshake
            // has two).
            let shared = &c.shared;
            let Some(g) = srv.locks.try_enter(&shared.req_lock) else {
                handoff::handshake_step(srv, c.shared.clone(), job);
                return;
            };
            let before = srv
                .inline
                .is_adaptive()
                .then(crate::sched::inline::switches_since_wake);
            let t = Instant::now();
            let out = crate::logging::with_context(&shared.ctx, || jobs::run_job(srv, shared, job));
            drop(g);
            let took = t.elapsed();
            srv.inline.record_handshake_inline(took, || {
                before.is_some_and(|b| crate::sys::voluntary_switches() > b)
            });
            if let Some(c) = self.conns.get_mut(&token) {
                c.finish_backend(out);
            }
            self.drive(poll, token);
            return;
        }
        handoff::handshake_step(&self.server, c.shared.clone(), job);
    }

    fn drive(&mut self, poll: &Poll, token: usize) {
        let srv = self.server.clone();
        if !self.conns.contains_key(&token) {
            self.drive_away(poll, token);
            return;
        }
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if crate::lifecycle::shutdown_requested() {
            c.shutting_down();
        } else if c.in_transmission()
            && srv.inline.placement(srv.open_conns.load(Ordering::Relaxed)) == Placement::Batch
        {
            self.send_batch(token);
            return;
        }
        let want = {
            let ctx = c.log_ctx();
            crate::logging::with_context(&ctx, || c.drive(&srv))
        };
        if c.take_answered() && c.shared.inflight.load(Ordering::SeqCst) == 0 {
            self.answered = true;
        }
        self.wanted(poll, token, want);
    }

    /// Do what driving a connection asked for.
    fn wanted(&mut self, poll: &Poll, token: usize, want: Want) {
        match want {
            Want::Nothing => {
                if self.conns.get(&token).is_some_and(|c| c.closing()) {
                    self.try_close(poll, token);
                }
            }
            Want::Backend(job) => self.run_backend(poll, token, job),
            Want::Close => self.try_close(poll, token),
        }
    }

    /// Hand a connection to a worker, which drives it as a batch (see
    /// [`Away`]).
    fn send_batch(&mut self, token: usize) {
        let Some(c) = self.conns.remove(&token) else {
            return;
        };
        let away = Arc::new(Away {
            shared: c.shared.clone(),
            slot: Mutex::new(AwaySlot::default()),
        });
        self.away.insert(token, away.clone());
        self.start_batch(token, c, away);
    }

    /// Where the server has one CPU, the loop thread runs the batch
    /// after this turn (see `relay`); otherwise a worker does.
    fn start_batch(&mut self, token: usize, c: Conn, away: Arc<Away>) {
        let job = batch(token, c, away);
        if self.server.batches_on_loop {
            self.batches.push(job);
        } else {
            self.server.pool.submit(job);
        }
    }

    /// Something happened on a connection served in batches: a worker
    /// driving it now sees it when done; a parked one is driven again (on
    /// a worker, or back on the loop if batches no longer apply).
    fn drive_away(&mut self, poll: &Poll, token: usize) {
        let Some(away) = self.away.get(&token).cloned() else {
            return;
        };
        let parked = {
            let mut slot = away.lock();
            let c = slot.conn.take();
            if c.is_none() {
                slot.dirty = true;
            }
            c
        };
        let Some(c) = parked else {
            return;
        };
        let srv = &self.server;
        if !crate::lifecycle::shutdown_requested()
            && srv.inline.placement(srv.open_conns.load(Ordering::Relaxed)) == Placement::Batch
        {
            self.start_batch(token, c, away);
            return;
        }
        self.away.remove(&token);
        self.conns.insert(token, c);
        self.drive(poll, token);
    }

    /// Bring connections parked between batches back to the loop, and have
    /// the workers driving the others look again when done (shutdown).
    fn recall_parked(&mut self) {
        let tokens: Vec<usize> = self.away.keys().copied().collect();
        for t in tokens {
            let parked = {
                let mut slot = self.away[&t].lock();
                slot.dirty = true;
                slot.conn.take()
            };
            if let Some(c) = parked {
                self.away.remove(&t);
                self.conns.insert(t, c);
            }
        }
    }

    /// Close a connection once no request is in flight: deregister it and
    /// let go of it (see `closing`).
    fn try_close(&mut self, poll: &Poll, token: usize) {
        let Some(c) = self.conns.get(&token) else {
            return;
        };
        if c.in_backend() {
            return; // the job's completion brings us back here
        }
        let s = &c.shared;
        s.waiting.set(shared::Wait::Slots);
        if s.inflight.load(Ordering::SeqCst) > 0 {
            return; // the last worker wakes us
        }
        s.waiting.clear();
        let mut c = self.conns.remove(&token).expect("present");
        c.release_inbuf(&self.server);
        if self.spare_inbufs.len() < SPARE_INBUFS {
            self.spare_inbufs.extend(c.take_inbuf());
        }
        let _ = c.shared.outbox.flush(&c.shared.stream);
        // Closing the socket takes it out of the poll; one that stays open
        // for a while (closed by a worker) must raise no more events.
        if !closing::closes_now(&c.shared) {
            let fd = c.shared.stream.raw_fd();
            let _ = poll.registry().deregister(&mut mio::unix::SourceFd(&fd));
        }
        // Closed by whoever lets go last: here, or the worker finishing
        // the connection's last job.
        closing::release(c.shared);
    }
}

/// A limit as a person would write it: `60 seconds`, `1.5 seconds`, `200 ms`.
fn humanize(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        let s = d.as_secs();
        format!("{s} second{}", if s == 1 { "" } else { "s" })
    } else if d >= Duration::from_secs(1) {
        format!("{} seconds", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A server over the built-in pattern plugin and connections over
    //! socket pairs, for unit tests of the connection's state machine and
    //! the handshake steps.
    use super::*;
    use crate::backend::builtin::pattern::PatternPlugin;

    pub fn server() -> (Arc<Server>, EventsRx) {
        let cfg = ServeConfig {
            readonly: false,
            export_name: String::new(),
            no_sr: false,
            tls: Default::default(),
            mask_handshake: u16::MAX,
            oldstyle: false,
            max_inflight: 16,
            memory_limit: 64 << 20,
            sparse_reads: crate::sparse_read::SparseReads::Off,
            error_messages: false,
            enforce_block_size: false,
            handshake_timeout: None,
            keepalive: false,
            no_mc: false,
        };
        Server::new(
            Stack::ready_for_test(Box::new(PatternPlugin::new()), "1M"),
            cfg,
            1,
        )
    }

    /// A plain transport over one end of a socket pair (non-blocking), and
    /// the other end.
    pub fn transport() -> (transport::Transport, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let s = Stream::Unix(mio::net::UnixStream::from_std(a));
        (transport::Transport::new(s), b)
    }

    /// A connection's shared state, and the client's end of its socket.
    pub fn shared(srv: &Arc<Server>) -> (Arc<Shared>, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let stream = Stream::Unix(mio::net::UnixStream::from_std(a));
        let conn = Arc::new(Connection::new(stream.raw_fd(), false, srv.stack.len()));
        let sh = new_shared(srv, 1, 1, stream, outbox::Outbox::default(), conn);
        (sh, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_a_person_writes_them() {
        assert_eq!(humanize(Duration::from_secs(1)), "1 second");
        assert_eq!(humanize(Duration::from_secs(60)), "60 seconds");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5 seconds");
        assert_eq!(humanize(Duration::from_millis(200)), "200 ms");
    }

    #[test]
    fn a_lone_client_of_a_built_in_plugin_is_served_on_the_loop() {
        let (srv, _rx) = testing::server();
        assert_eq!(srv.inline.placement(1), Placement::Loop);
        assert_eq!(srv.inline.placement(64), Placement::Loop);
        assert!(srv.inline.handshake_on_loop(64));
    }
}
