//! What the loop and the workers share about the whole server (`Server`),
//! how workers tell the loop something (`Event`, through one channel and
//! one `Waker`), and the count of connections the server waits for at
//! exit (`Live`).

use super::config::ServeConfig;
use super::jobs::Outcome;
use crate::backend::{Stack, ThreadModel};
use crate::budget::Budget;
use crate::sched::inline::{InlinePolicy, Mode};
use crate::sched::pool::{Pool, ThreadModelLocks};
use crossbeam_channel::{unbounded, Receiver, Sender};
use mio::Waker;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// What a worker tells the loop.  Only plain values: what a worker hands
/// back with an event (a connection after a batch) waits where the loop
/// looks for it (see `event_loop`).
pub enum Event {
    /// A throttled or closing connection may make progress again.
    Resume(usize),
    /// A handshake job finished (boxed: an outcome holds an open session).
    Handshake(usize, Box<Outcome>),
    /// A connection's export is closed: another may be admitted.
    Closed,
    /// A worker finished a batch of a connection's requests (see
    /// `sched::inline::Placement::Batch`) and gives the connection back.
    Back(usize),
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
    /// The server has one or two CPUs: the loop's thread runs the batches
    /// itself (see `relay`).
    pub batches_on_loop: bool,
    pub budget: Arc<Budget>,
    /// Connections whose state still exists (the server waits at exit
    /// until there are none).
    pub live: Arc<Live>,
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
            batches_on_loop: crate::net::relay::loop_runs_batches(),
            live: Default::default(),
            events: tx,
            waker: OnceLock::new(),
        });
        (s, EventsRx(rx))
    }

    /// The loop's waker, once it has one: events wake it from then on.
    pub(super) fn set_waker(&self, waker: Arc<Waker>) {
        let _ = self.waker.set(waker);
    }

    /// Tell the loop `ev`, waking it unless this is the loop's own thread.
    pub(super) fn notify(&self, ev: Event) {
        let _ = self.events.send(ev);
        // The loop itself looks at the channel before it sleeps: waking it
        // from its own thread would cost a write and an empty poll.
        if super::outbox::on_loop() {
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
pub struct EventsRx(pub(super) Receiver<Event>);

/// Connections whose state still exists (each holds the server).
#[derive(Default)]
pub struct Live {
    count: Mutex<LiveCount>,
    none: Condvar,
}

#[derive(Default)]
struct LiveCount {
    conns: usize,
    /// Someone waits in `wait_none` (only then does the last connection
    /// leaving make a wake-up call).
    waiting: bool,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, LiveCount> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn enter(&self) {
        self.lock().conns += 1;
    }

    pub(super) fn leave(&self) {
        let mut n = self.lock();
        n.conns -= 1;
        if n.conns == 0 && n.waiting {
            self.none.notify_all();
        }
    }

    /// Wait until every connection's state is gone, and with it every
    /// reference a connection held to the server.
    pub fn wait_none(&self) {
        let mut n = self.lock();
        while n.conns > 0 {
            n.waiting = true;
            n = self.none.wait(n).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::sched::inline::Placement;
    use std::time::Duration;

    #[test]
    fn waiting_ends_when_the_last_connection_leaves() {
        let live = Arc::new(Live::default());
        live.enter();
        live.enter();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let l = live.clone();
        std::thread::spawn(move || {
            l.wait_none();
            let _ = tx.send(());
        });
        live.leave();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        live.leave();
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn a_lone_client_of_a_built_in_plugin_is_served_on_the_loop() {
        let (srv, _rx) = testing::server();
        assert_eq!(srv.inline.placement(1), Placement::Loop);
        assert_eq!(srv.inline.placement(64), Placement::Loop);
        assert!(srv.inline.handshake_on_loop(64));
    }

    #[test]
    fn events_reach_the_loop_in_order() {
        let (srv, rx) = testing::server();
        srv.resume(7);
        srv.notify(Event::Back(8));
        srv.notify(Event::Closed);
        let got: Vec<String> =
            rx.0.try_iter()
                .map(|e| match e {
                    Event::Resume(t) => format!("resume {t}"),
                    Event::Back(t) => format!("back {t}"),
                    Event::Closed => "closed".into(),
                    Event::Handshake(t, _) => format!("handshake {t}"),
                })
                .collect();
        assert_eq!(got, ["resume 7", "back 8", "closed"]);
    }

    #[test]
    fn the_policy_is_what_negotiation_needs_of_the_settings() {
        let (srv, _rx) = testing::server();
        let p = srv.policy();
        assert_eq!((p.no_sr, p.no_mc), (srv.cfg.no_sr, srv.cfg.no_mc));
        assert_eq!(p.tls, srv.cfg.tls);
    }
}
