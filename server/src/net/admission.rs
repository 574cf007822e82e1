//! Whether the loop takes a connection's next request now: not while the
//! connection has all its requests in flight, or more than its share of
//! the memory budget, or a trial on the loop waits for the pool to drain
//! ([`throttled`]); and whether a request's data gets memory ([`admit`]),
//! refused with ENOMEM when it never can ([`NoMemory`]).  Whoever waits
//! says why in the connection's `Wait`, so the worker that sees the cause
//! gone wakes the loop.

use super::server::Server;
use super::shared::{Shared, Wait};
use crate::budget::Admit;
use crate::protocol::consts::command_name;
use crate::protocol::transmission::Request;

/// Whether the loop must stop reading until workers catch up
/// (`trial_due`: a trial on the loop waits for the pool to drain).  Sets
/// `waiting` so the worker that frees slots wakes the loop.
pub fn throttled(server: &Server, s: &Shared, trial_due: bool) -> bool {
    let busy = || {
        let inflight = s.in_flight();
        if inflight >= server.cfg.max_inflight {
            Some(Wait::Slots)
        } else if inflight > 0 && trial_due {
            Some(Wait::Drain)
        } else if over_share(server, s) {
            Some(Wait::Backlog)
        } else {
            None
        }
    };
    let Some(why) = busy() else {
        return false;
    };
    s.wait_for(why);
    // Re-check after publishing, so a worker finishing in between is seen.
    if busy().is_some() {
        return true;
    }
    s.stop_waiting();
    false
}

/// Whether a connection holds more than its share of the memory budget
/// (requests in flight and replies waiting for the client).
pub fn over_share(server: &Server, s: &Shared) -> bool {
    s.memory_held() > server.budget.share()
}

/// Ask the budget for `cost` bytes.  Before answering Wait, publish it
/// (so the worker that gives memory back wakes the loop) and ask again
/// (so one that did so meanwhile is not missed).
pub fn admit(server: &Server, s: &Shared, cost: u64) -> Admit {
    let ask = || s.ask_memory(&server.budget, cost);
    match ask() {
        Admit::Wait => {
            s.wait_for(Wait::Memory);
            let again = ask();
            if again != Admit::Wait {
                s.stop_waiting();
            }
            again
        }
        other => other,
    }
}

/// Requests refused for want of memory, as nbdkit refuses one whose
/// buffer it cannot allocate: one log line per connection, as a client
/// that keeps asking gets the same answer.
#[derive(Default)]
pub struct NoMemory {
    logged: bool,
}

impl NoMemory {
    /// `req` is refused: say so, the first time.
    pub fn refused(&mut self, server: &Server, req: &Request) {
        if std::mem::replace(&mut self.logged, true) {
            return;
        }
        log::error!(
            "{}: out of memory for {} bytes (memory limit {}, {} in use)",
            command_name(req.cmd),
            req.count,
            server.budget.limit(),
            server.budget.used()
        );
    }

    /// Whether a refusal was logged on this connection.
    #[cfg(test)]
    fn logged(&self) -> bool {
        self.logged
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::protocol::consts::NBD_CMD_WRITE;

    #[test]
    fn reading_stops_while_slots_are_full_or_a_trial_waits_for_the_pool() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let max = srv.cfg.max_inflight;
        // (requests in flight, trial due) -> why the loop waits
        let table = [
            (0, false, None),
            (0, true, None),
            (1, false, None),
            (1, true, Some(Wait::Drain)),
            (max - 1, false, None),
            (max, false, Some(Wait::Slots)),
            (max, true, Some(Wait::Slots)),
        ];
        for (inflight, trial_due, why) in table {
            while sh.in_flight() < inflight {
                sh.request_started();
            }
            while sh.in_flight() > inflight {
                sh.request_done();
            }
            sh.stop_waiting();
            let got = throttled(&srv, &sh, trial_due);
            assert_eq!(
                got,
                why.is_some(),
                "{inflight} in flight, trial {trial_due}"
            );
            assert_eq!(
                sh.waiting_for(),
                why,
                "{inflight} in flight, trial {trial_due}"
            );
        }
    }

    #[test]
    fn memory_is_waited_for_while_some_will_come_back_and_refused_when_none_will() {
        let (srv, _rx) = testing::server();
        let (sh, _client) = testing::shared(&srv);
        let share = srv.budget.share();
        let Admit::Granted(first) = admit(&srv, &sh, share) else {
            panic!("a connection's share is granted")
        };
        assert_eq!(sh.waiting_for(), None);
        // Its share is held: the next request waits, and says so.
        assert_eq!(admit(&srv, &sh, 1 << 20), Admit::Wait);
        assert_eq!(sh.waiting_for(), Some(Wait::Memory));
        sh.give_memory_back(&srv.budget, first);
        sh.stop_waiting();
        let Admit::Granted(c) = admit(&srv, &sh, 1 << 20) else {
            panic!("granted once memory came back")
        };
        sh.give_memory_back(&srv.budget, c);
        // More than the whole budget, with nothing in flight: never.
        assert_eq!(admit(&srv, &sh, srv.budget.limit() + 1), Admit::NoMemory);
        assert_eq!(sh.waiting_for(), None);
    }

    #[test]
    fn a_connection_refused_memory_says_so_once() {
        let (srv, _rx) = testing::server();
        let req = Request {
            flags: 0,
            cmd: NBD_CMD_WRITE,
            handle: 1,
            offset: 0,
            count: 1 << 30,
            extended: false,
        };
        let mut nomem = NoMemory::default();
        assert!(!nomem.logged());
        nomem.refused(&srv, &req);
        assert!(nomem.logged());
        nomem.refused(&srv, &req);
        assert!(nomem.logged());
    }
}
