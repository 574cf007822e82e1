//! Where one request runs once read: on the thread driving its
//! connection (the loop, or a worker driving it as a batch) or on the
//! pool.  The policy (how fast the stack has proved, how many clients
//! there are) is `sched::inline`'s; this applies it to one request, runs
//! it where it lands, and records what the call took.

use super::cork::Cork;
use super::handoff;
use super::server::Server;
use super::shared::Shared;
use crate::budget::Charge;
use crate::dispatch;
use crate::protocol::transmission::Valid;
use crate::sched::inline::{Trial, INLINE_MAX};
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Who drives the connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// The event loop.
    Loop,
    /// A worker, as a batch (see `sched::inline::Placement::Batch`).
    Batch,
}

/// The connection a request is placed for, as its driver sees it.
pub struct Here<'a> {
    pub server: &'a Arc<Server>,
    pub shared: &'a Arc<Shared>,
    /// Where replies to requests run here are gathered.
    pub cork: &'a Cork,
    pub driver: Driver,
}

/// What placing a connection's requests remembers between them.
#[derive(Default)]
pub struct Placer {
    /// A trial of the next small request on the loop is due (see
    /// `sched::inline`): requests wait until those on the pool are done.
    trial: Cell<Option<Trial>>,
}

impl Placer {
    /// Whether a trial on the loop is due (the connection's requests on
    /// the pool must drain first).
    pub fn trial_due(&self) -> bool {
        self.trial.get().is_some()
    }

    /// Run a request, here or on the pool; true if it ran here.
    /// `payload` holds a write's data in its first `payload_len()` bytes;
    /// `charge` is given back to the budget once the reply is sent or
    /// queued (the outbox counts what it queues).
    pub fn submit(&self, at: &Here, v: Valid, payload: Vec<u8>, charge: Charge) -> bool {
        let plen = v.req.payload_len() as usize;
        if self.try_here(at, &v, &payload[..plen]) {
            at.shared.give_back(payload);
            at.shared.give_memory_back(&at.server.budget, charge);
            return true;
        }
        handoff::request(at.server, at.shared.clone(), v, payload, charge);
        false
    }

    /// Run a request where the connection is driven if the policy allows
    /// it now; false if it must go to the pool.
    pub fn try_here(&self, at: &Here, v: &Valid, payload: &[u8]) -> bool {
        match at.driver {
            Driver::Loop => self.try_on_loop(at, v, payload),
            Driver::Batch => try_in_batch(at, v, payload),
        }
    }

    /// With nothing else in flight, a quick request is answered on the
    /// loop: a hand-off to a worker and back would cost more than the call.
    fn try_on_loop(&self, at: &Here, v: &Valid, payload: &[u8]) -> bool {
        let (server, shared) = (at.server, at.shared);
        if v.req.count > INLINE_MAX {
            // Large requests go to the pool; a trial is dropped rather
            // than wait for the pool before each of them.
            self.trial.set(None);
            return false;
        }
        let conns = server.open_conns.load(Ordering::Relaxed);
        let trial = self.trial.take().filter(|_| conns <= 1);
        if trial.is_none() && !server.inline.allows(conns) {
            if server.inline.wants_trial(conns) {
                self.trial.set(Some(Trial::new()));
            }
            return false;
        }
        if shared.in_flight() != 0 {
            // A trial waits for the pool to drain (see `admission`).
            self.trial.set(trial);
            return false;
        }
        let (Some(session), Some(_g)) = (shared.session(), shared.try_enter(&server.locks)) else {
            return false;
        };
        // Only for a plugin on probation: getrusage costs as much as a
        // small request, so it is read once per wake-up of the loop.  A
        // trial's calls are judged on their own: the loop may have waited
        // for a lock (the pool's queue, the outbox) since it woke.
        let before = if trial.is_some() {
            Some(crate::sys::voluntary_switches())
        } else {
            server
                .inline
                .is_adaptive()
                .then(crate::sched::inline::switches_since_wake)
        };
        let t = Instant::now();
        let sink = at.cork.sink(shared);
        shared.in_slot(|| dispatch::execute(session, v, payload, &sink));
        let took = t.elapsed();
        let slept = || before.is_some_and(|b| crate::sys::voluntary_switches() > b);
        let Some(trial) = trial else {
            server.inline.record_inline(took, slept);
            return true;
        };
        // A trial's calls count like any on the loop: one that blocked
        // backs inlining off, and a slow one raises the average (which
        // stops trials once it reaches seconds).
        let slept = slept();
        server.inline.record_inline(took, || slept);
        match trial.add(took, slept) {
            Ok(going_on) => self.trial.set(Some(going_on)),
            Err(mean) => server.inline.record_trial(mean),
        }
        true
    }
}

/// Answer a request on the worker driving its connection as a batch, if
/// the stack is still fast; false if it must go to the pool.  Large
/// requests too: handing one on to another worker would cost a second
/// hand-off, and only this client's requests wait behind it (their time
/// is not the stack's speed, so it is not recorded).
fn try_in_batch(at: &Here, v: &Valid, payload: &[u8]) -> bool {
    let (server, shared) = (at.server, at.shared);
    if !server.inline.allows_batch() || shared.in_flight() != 0 {
        return false;
    }
    let (Some(session), Some(_g)) = (shared.session(), shared.try_enter(&server.locks)) else {
        return false;
    };
    let before = crate::sched::inline::switches_since_wake();
    let t = Instant::now();
    if v.req.count <= INLINE_MAX {
        let sink = at.cork.sink(shared);
        shared.in_slot(|| dispatch::execute(session, v, payload, &sink));
    } else {
        // A large reply goes out from the plugin's buffer, not through
        // the cork (after what the cork holds, to keep the order).
        at.cork.flush(shared);
        let sink = &**shared;
        shared.in_slot(|| dispatch::execute(session, v, payload, sink));
    }
    let took = t.elapsed();
    if v.req.count <= INLINE_MAX {
        server
            .inline
            .record_batch(took, || crate::sys::voluntary_switches() > before);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::jobs::{self, Job};
    use super::super::testing;
    use super::*;
    use crate::protocol::consts::*;
    use crate::protocol::negotiate::Nego;
    use crate::protocol::transmission::{validate, Request};
    use std::io::Read;

    /// A connection with the pattern plugin's export open, and the
    /// client's end of its socket.
    fn opened() -> (Arc<Server>, Arc<Shared>, std::os::unix::net::UnixStream) {
        let (srv, _rx) = testing::server();
        let (sh, client) = testing::shared(&srv);
        let nego = Nego::from_client_flags(3).unwrap();
        let out = jobs::run_job(&sh.job_at(), Job::ExportName(Vec::new(), nego));
        sh.set_session(out.session.expect("opened"));
        (srv, sh, client)
    }

    fn read(sh: &Shared, handle: u64, count: u64) -> Valid {
        let req = Request {
            flags: 0,
            cmd: NBD_CMD_READ,
            handle,
            offset: 0,
            count,
            extended: false,
        };
        validate(&req, &sh.session().unwrap().caps).unwrap()
    }

    #[test]
    fn a_small_request_runs_on_the_loop_and_a_large_one_on_the_pool() {
        let (srv, sh, mut client) = opened();
        let cork = Cork::default();
        let here = Here {
            server: &srv,
            shared: &sh,
            cork: &cork,
            driver: Driver::Loop,
        };
        let placer = Placer::default();
        assert!(!placer.trial_due());
        // A built-in plugin never blocks: a small read is answered here,
        // into the cork.
        assert!(placer.submit(&here, read(&sh, 1, 512), Vec::new(), Charge::default()));
        assert_eq!(cork.held(), 16 + 512);
        cork.flush(&sh);
        let mut reply = vec![0u8; 16 + 512];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[8..16], &1u64.to_be_bytes());
        // Over 64 KiB: the pool runs it and sends the reply itself.
        let big = 2 * INLINE_MAX;
        assert!(!placer.submit(&here, read(&sh, 2, big), Vec::new(), Charge::default()));
        assert_eq!(cork.held(), 0);
        let mut reply = vec![0u8; 16 + big as usize];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[4..8], &[0; 4], "no error");
        assert_eq!(&reply[8..16], &2u64.to_be_bytes());
        while sh.in_flight() > 0 {
            std::thread::yield_now();
        }
    }

    #[test]
    fn nothing_runs_where_the_connection_is_driven_without_an_open_export() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let (_, opened, _c) = opened();
        let v = read(&opened, 1, 512);
        let cork = Cork::default();
        for driver in [Driver::Loop, Driver::Batch] {
            let here = Here {
                server: &srv,
                shared: &sh,
                cork: &cork,
                driver,
            };
            assert!(!Placer::default().try_here(&here, &v, &[]), "{driver:?}");
        }
        assert_eq!(cork.held(), 0);
    }

    #[test]
    fn a_batch_runs_nothing_itself_for_a_stack_not_measured_fast() {
        // A built-in plugin runs on the loop, never in batches.
        let (srv, sh, _client) = opened();
        let cork = Cork::default();
        let here = Here {
            server: &srv,
            shared: &sh,
            cork: &cork,
            driver: Driver::Batch,
        };
        assert!(!srv.inline.allows_batch());
        assert!(!Placer::default().try_here(&here, &read(&sh, 1, 512), &[]));
        assert_eq!(cork.held(), 0);
    }
}
