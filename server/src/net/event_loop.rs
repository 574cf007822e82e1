//! The event loop: one mio `Poll` owning every socket (the listeners,
//! the connections, the shutdown signal and the workers' waker).  It
//! accepts and admits connections, drives each on readiness (or hands a
//! busy one to a worker as a batch: [`Away`]), runs or hands off
//! handshake steps, closes connections, and hears what workers tell it
//! (`server::Event`).

use super::closing;
use super::conn::{Conn, Want};
use super::handoff;
use super::jobs::{self, Job};
use super::listen::Listener;
use super::outbox;
use super::relay::Relay;
use super::server::{Event, EventsRx, Server};
use super::shared::{self, Shared};
use super::spin;
use super::stream::{self, Stream};
use crate::backend::{Connection, ThreadModel};
use crate::sched::inline::Placement;
use crossbeam_channel::Receiver;
use mio::{Events, Poll, Token, Waker};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);
const SIGNAL: Token = Token(usize::MAX - 1);
const FIRST_CONN: usize = 1 << 20;
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
        let timeout = if self.rx.is_empty() && !hurry && lp.unpolled.is_none() {
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
        lp.drive_unpolled(&self.poll);
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
    server.set_waker(waker.clone());
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
    conn: Whereabouts,
    /// An event came while a worker drove it.
    dirty: bool,
}

/// Where a connection served in batches is.
#[derive(Default)]
enum Whereabouts {
    /// A worker drives it.
    #[default]
    Driven,
    /// Parked between batches: the loop takes it out at its next event.
    Parked(Conn),
    /// Handed back to the loop with what driving it asked for (an
    /// `Event::Back` says so).
    Back(Conn, Want),
}

impl Away {
    fn lock(&self) -> std::sync::MutexGuard<'_, AwaySlot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Drive `c` as batches until nothing more came, then park it in `away`;
/// what only the loop can do (close it) sends it back there.
fn batch(token: usize, c: Conn, away: Arc<Away>) -> crate::sched::pool::Job {
    let srv = Arc::clone(c.shared.server());
    let mut c = c;
    Box::new(move || loop {
        let want = c.drive_batch(&srv);
        if matches!(want, Want::Nothing) && !c.closing() {
            let mut slot = away.lock();
            if std::mem::take(&mut slot.dirty) {
                continue;
            }
            slot.conn = Whereabouts::Parked(c);
            return;
        }
        away.lock().conn = Whereabouts::Back(c, want);
        srv.notify(Event::Back(token));
        return;
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
    /// The connection whose input cannot be polled (`-s` reading a file
    /// or /dev/null), while it lives.
    unpolled: Option<usize>,
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
            unpolled: None,
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
                if let Err(e) = c.shared.flush_replies() {
                    log::debug!("write: {e}");
                }
            }
        } else if let Some(a) = self.away.get(&t) {
            if ev.is_writable() {
                if let Err(e) = a.shared.flush_replies() {
                    log::debug!("write: {e}");
                }
            }
        }
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() || ev.is_writable() {
            self.drive(poll, t);
        }
    }

    /// Drive the connection that cannot be polled as if its input had just
    /// become readable: a file or /dev/null always is, so the session runs
    /// on without ever waiting for an event.  Replies are written as they
    /// are made (stdout blocks), and anything queued is flushed here.
    fn drive_unpolled(&mut self, poll: &Poll) {
        let Some(t) = self.unpolled else {
            return;
        };
        if let Some(c) = self.conns.get_mut(&t) {
            c.readiness();
            if let Err(e) = c.shared.flush_replies() {
                log::debug!("write: {e}");
            }
        } else if !self.away.contains_key(&t) {
            self.unpolled = None;
            return;
        }
        self.drive(poll, t);
    }

    /// What a worker tells the loop.  `starved`: accepting failed for want
    /// of descriptors (retried as connections close).
    fn worker_event(&mut self, poll: &Poll, ev: Event, listeners: &[Listener], starved: &mut bool) {
        match ev {
            Event::Resume(t) => self.drive(poll, t),
            Event::Back(t) => {
                let Some(away) = self.away.remove(&t) else {
                    return;
                };
                let (c, want, dirty) = {
                    let mut slot = away.lock();
                    match std::mem::take(&mut slot.conn) {
                        Whereabouts::Back(c, want) => (c, want, slot.dirty),
                        other => {
                            // Only a worker handing the connection back
                            // says so.
                            slot.conn = other;
                            drop(slot);
                            self.away.insert(t, away);
                            return;
                        }
                    }
                };
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
        match stream.register(poll.registry(), Token(token)) {
            Ok(()) => {}
            // `-s` with a file or /dev/null as stdin: never polled, never
            // waits either; driven every turn (see `drive_unpolled`).
            Err(e) if e.raw_os_error() == Some(libc::EPERM) && self.single_mode => {
                self.unpolled = Some(token);
            }
            Err(e) => {
                log::error!("register connection: {e}");
                return;
            }
        }
        let id = match self.single_mode {
            true => 0,
            false => NEXT_CONN.fetch_add(1, Ordering::SeqCst) as u64,
        };
        let srv = &self.server;
        let conn = Arc::new(Connection::new(stream.raw_fd(), false, srv.stack.len()));
        let outbox = {
            let (reg, fd) = (self.registry.clone(), stream.raw_fd());
            outbox::Outbox::with_hook(
                Box::new(move |on| stream::watch_writable(&reg, fd, Token(token), on)),
                srv.budget.clone(),
            )
        };
        let shared = Arc::new(Shared::new(srv, token, id, stream, outbox, conn));
        // nbdkit's words; the connection's number shows in the context of
        // its later lines.  (`-s` accepts nothing.)
        if !self.single_mode {
            log::debug!("accepted connection");
        }
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
            crate::logging::with_context(c.shared.ctx(), || {
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
            let Some(g) = shared.try_enter(&srv.locks) else {
                handoff::handshake_step(srv, c.shared.clone(), job);
                return;
            };
            let before = srv
                .inline
                .is_adaptive()
                .then(crate::sched::inline::switches_since_wake);
            let t = Instant::now();
            let out =
                crate::logging::with_context(shared.ctx(), || jobs::run_job(&shared.job_at(), job));
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
        if c.take_answered() && c.shared.in_flight() == 0 {
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

    /// Where the server has one or two CPUs, the loop thread runs the
    /// batch after this turn (see `relay`); otherwise a worker does.
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
            match std::mem::take(&mut slot.conn) {
                Whereabouts::Parked(c) => Some(c),
                other => {
                    slot.conn = other;
                    slot.dirty = true;
                    None
                }
            }
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
                match std::mem::take(&mut slot.conn) {
                    Whereabouts::Parked(c) => Some(c),
                    other => {
                        slot.conn = other;
                        None
                    }
                }
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
        s.wait_for(shared::Wait::Slots);
        if s.in_flight() > 0 {
            return; // the last worker wakes us
        }
        s.stop_waiting();
        let mut c = self.conns.remove(&token).expect("present");
        if self.unpolled == Some(token) {
            self.unpolled = None;
        }
        c.release_inbuf(&self.server);
        if self.spare_inbufs.len() < SPARE_INBUFS {
            self.spare_inbufs.extend(c.take_inbuf());
        }
        let _ = c.shared.flush_replies();
        // Closing the socket takes it out of the poll; one that stays open
        // for a while (closed by a worker) must raise no more events.
        if !closing::closes_now(&c.shared) {
            let fd = c.shared.raw_fd();
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
mod tests {
    use super::super::testing;
    use super::*;
    use crate::protocol::consts::*;
    use std::io::{Read, Write};

    #[test]
    fn limits_read_as_a_person_writes_them() {
        assert_eq!(humanize(Duration::from_secs(1)), "1 second");
        assert_eq!(humanize(Duration::from_secs(60)), "60 seconds");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5 seconds");
        assert_eq!(humanize(Duration::from_millis(200)), "200 ms");
    }

    fn option(opt: u32, data: &[u8]) -> Vec<u8> {
        let mut o = IHAVEOPT.to_be_bytes().to_vec();
        o.extend_from_slice(&opt.to_be_bytes());
        o.extend_from_slice(&(data.len() as u32).to_be_bytes());
        o.extend_from_slice(data);
        o
    }

    /// The client wrote: drive its connection as on a readiness event.
    fn ready(lp: &mut Loop, poll: &Poll, token: usize) {
        lp.conns.get_mut(&token).expect("on the loop").readiness();
        lp.drive(poll, token);
    }

    #[test]
    fn a_session_read_from_a_file_is_served_to_its_end_without_events() {
        let (srv, rx) = testing::server();
        let poll = Poll::new().unwrap();
        let mut lp = Loop::new(&poll, srv.clone(), true).unwrap();
        let dir = std::env::temp_dir().join(format!("nbdkit-unpolled-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut session = 3u32.to_be_bytes().to_vec();
        session.extend(option(NBD_OPT_EXPORT_NAME, b""));
        for (cmd, handle, len) in [(NBD_CMD_READ, 7u64, 512u32), (NBD_CMD_DISC, 8, 0)] {
            session.extend(NBD_REQUEST_MAGIC.to_be_bytes());
            session.extend(0u16.to_be_bytes());
            session.extend(cmd.to_be_bytes());
            session.extend(handle.to_be_bytes());
            session.extend(0u64.to_be_bytes());
            session.extend(len.to_be_bytes());
        }
        std::fs::write(dir.join("in"), &session).unwrap();
        let input = std::fs::File::open(dir.join("in")).unwrap();
        let output = std::fs::File::create(dir.join("out")).unwrap();
        lp.admit(&poll, Stream::Split { input, output });
        assert_eq!(lp.unpolled, Some(FIRST_CONN), "a file cannot be polled");
        for _ in 0..5000 {
            if lp.all_closed() {
                break;
            }
            lp.drive_unpolled(&poll);
            while let Ok(ev) = rx.0.try_recv() {
                lp.worker_event(&poll, ev, &[], &mut false);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(lp.all_closed(), "the session ran to its end");
        assert_eq!(lp.unpolled, None);
        let out = std::fs::read(dir.join("out")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        // Greeting, export size and flags, then the read's reply.
        assert_eq!(&out[..8], b"NBDMAGIC");
        assert_eq!(out.len(), 18 + 10 + 16 + 512);
        assert_eq!(&out[28 + 8..28 + 16], &7u64.to_be_bytes());
    }

    #[test]
    fn the_loop_admits_serves_and_closes_a_connection_once() {
        let (srv, rx) = testing::server();
        let poll = Poll::new().unwrap();
        let mut lp = Loop::new(&poll, srv.clone(), true).unwrap();
        let (ours, mut client) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        lp.admit(&poll, Stream::Unix(mio::net::UnixStream::from_std(ours)));
        let token = FIRST_CONN;
        assert!(!lp.all_closed());
        // A built-in plugin's handshake steps run on the loop: the
        // greeting is sent already.
        let mut greeting = [0u8; 18];
        client.read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting[..8], b"NBDMAGIC");
        client.write_all(&3u32.to_be_bytes()).unwrap();
        client.write_all(&option(NBD_OPT_EXPORT_NAME, b"")).unwrap();
        ready(&mut lp, &poll, token);
        let mut info = [0u8; 10];
        client.read_exact(&mut info).unwrap();
        assert_eq!(&info[..8], &(1u64 << 20).to_be_bytes());
        let mut req = NBD_REQUEST_MAGIC.to_be_bytes().to_vec();
        req.extend_from_slice(&0u16.to_be_bytes());
        req.extend_from_slice(&NBD_CMD_READ.to_be_bytes());
        req.extend_from_slice(&7u64.to_be_bytes());
        req.extend_from_slice(&0u64.to_be_bytes());
        req.extend_from_slice(&512u32.to_be_bytes());
        client.write_all(&req).unwrap();
        ready(&mut lp, &poll, token);
        assert!(std::mem::take(&mut lp.answered), "answered on the loop");
        let mut reply = [0u8; 16 + 512];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[8..16], &7u64.to_be_bytes());
        // The client hangs up: the connection is closed and let go of.
        drop(client);
        lp.conns.get_mut(&token).unwrap().peer_closed = true;
        ready(&mut lp, &poll, token);
        assert!(!lp.conns.contains_key(&token));
        srv.live.wait_none();
        assert!(lp.all_closed());
        let ev = rx.0.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(ev, Event::Closed));
        assert!(rx.0.recv_timeout(Duration::from_millis(50)).is_err());
    }
}
