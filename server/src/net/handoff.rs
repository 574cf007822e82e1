//! Handing a connection's work to the worker pool: a request, or a
//! handshake step that needs the backend.  What runs on the worker is
//! here; when the loop runs the same work itself instead is decided by
//! `sched::inline` (requests) and `Stack::nonblocking` (handshake steps).

use super::admission::over_share;
use super::jobs::{self, Job};
use super::server::{Event, Server};
use super::shared::{Shared, Wait};
use crate::budget::Charge;
use crate::dispatch;
use crate::protocol::transmission::Valid;
use crate::sched::inline::INLINE_MAX;
use std::sync::Arc;
use std::time::Instant;

/// Run a request on the pool.  `payload` holds a write's data in its
/// first `payload_len()` bytes; `charge` is given back to the budget
/// once the reply is sent or queued (the outbox counts what it queues).
pub fn request(server: &Server, shared: Arc<Shared>, v: Valid, payload: Vec<u8>, charge: Charge) {
    shared.request_started();
    server.pool.submit(Box::new(move || {
        let srv = &**shared.server();
        let plen = v.req.payload_len() as usize;
        if let Some(session) = shared.session() {
            let _g = shared.enter(&srv.locks);
            let t = Instant::now();
            shared.in_slot(|| dispatch::execute(session, &v, &payload[..plen], &*shared));
            if v.req.count <= INLINE_MAX {
                srv.inline.record(t.elapsed());
            }
        }
        shared.give_back(payload);
        shared.give_memory_back(&srv.budget, charge);
        let left = shared.request_done();
        if should_wake(shared.waiting_for(), left, srv, &shared) && shared.take_wait() {
            srv.resume(shared.token());
        }
        super::closing::release(shared);
    }));
}

/// Whether a worker that finished a request, leaving `left` in flight,
/// wakes a loop waiting for `wait`.  One waiting for slots is woken once a
/// few are free, not at every completion: it then reads several requests
/// per wake-up.
fn should_wake(wait: Option<Wait>, left: usize, srv: &Server, shared: &Shared) -> bool {
    let max = srv.cfg.max_inflight;
    match wait {
        None => false,
        Some(Wait::Slots) => slots_free_enough(left, max),
        Some(Wait::Backlog) => !over_share(srv, shared),
        Some(Wait::Drain) => left == 0,
        Some(Wait::Memory) => true,
    }
}

/// With `left` of `max` slots busy, whether enough are free to be worth
/// waking the loop: a quarter of them (at least one).
fn slots_free_enough(left: usize, max: usize) -> bool {
    left <= max - (max / 4).max(1)
}

/// Run a handshake step on the pool; its outcome goes back to the loop.
pub fn handshake_step(server: &Server, shared: Arc<Shared>, job: Job) {
    server.pool.submit(Box::new(move || {
        let srv = shared.server();
        let out = {
            let _g = shared.enter(&srv.locks);
            let t = Instant::now();
            let out =
                crate::logging::with_context(shared.ctx(), || jobs::run_job(&shared.job_at(), job));
            srv.inline.record_handshake(t.elapsed());
            out
        };
        srv.notify(Event::Handshake(shared.token(), Box::new(out)));
        super::closing::release(shared);
    }));
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::protocol::consts::NBD_CMD_READ;
    use crate::protocol::negotiate::Nego;
    use crate::protocol::transmission::{validate, Request};
    use std::io::Read;
    use std::time::Duration;

    #[test]
    fn a_loop_waiting_for_slots_wakes_when_a_quarter_is_free() {
        assert!(!slots_free_enough(16, 16));
        assert!(!slots_free_enough(13, 16));
        assert!(slots_free_enough(12, 16));
        assert!(slots_free_enough(0, 1));
        assert!(!slots_free_enough(1, 1));
        assert!(slots_free_enough(2, 3));
    }

    #[test]
    fn a_worker_wakes_the_loop_only_for_what_it_waits_for() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let max = srv.cfg.max_inflight;
        // (why the loop waits, requests left in flight) -> wake it
        let table = [
            (None, 0, false),
            (Some(Wait::Slots), max - 1, false),
            (Some(Wait::Slots), max - max / 4, true),
            (Some(Wait::Slots), 0, true),
            (Some(Wait::Drain), 1, false),
            (Some(Wait::Drain), 0, true),
            (Some(Wait::Memory), max - 1, true),
            (Some(Wait::Backlog), max - 1, true),
        ];
        for (wait, left, wake) in table {
            assert_eq!(should_wake(wait, left, &srv, &sh), wake, "{wait:?} {left}");
        }
    }

    #[test]
    fn a_request_on_the_pool_answers_and_wakes_a_waiting_loop_once() {
        let (srv, rx) = testing::server();
        let (sh, mut client) = testing::shared(&srv);
        let nego = Nego::from_client_flags(3).unwrap();
        handshake_step(&srv, sh.clone(), Job::ExportName(Vec::new(), nego));
        let ev = rx.0.recv_timeout(Duration::from_secs(5)).unwrap();
        let Event::Handshake(token, out) = ev else {
            panic!("the handshake step reports back")
        };
        assert_eq!(token, sh.token());
        sh.set_session(out.session.expect("opened"));
        let req = Request {
            flags: 0,
            cmd: NBD_CMD_READ,
            handle: 9,
            offset: 0,
            count: 512,
            extended: false,
        };
        let v = validate(&req, &sh.session().unwrap().caps).unwrap();
        sh.wait_for(Wait::Slots);
        request(&srv, sh.clone(), v, Vec::new(), Charge::default());
        let mut reply = [0u8; 16 + 512];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[8..16], &9u64.to_be_bytes());
        let ev = rx.0.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(ev, Event::Resume(t) if t == sh.token()));
        assert_eq!(sh.waiting_for(), None, "taken by the worker");
        assert!(rx.0.recv_timeout(Duration::from_millis(50)).is_err());
    }
}
