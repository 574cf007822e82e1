//! A short, bounded busy-poll of the event loop after it answered requests
//! or handshake steps itself.
//!
//! A client waiting for replies (queue depth 1, a batch, or the next step
//! of a handshake) sends its next message a few microseconds after reading
//! ours.  Sleeping in
//! `epoll_wait` meanwhile means the client's write must wake the loop's
//! thread: with client and server on different CPUs that is an
//! inter-processor interrupt and, on a virtual machine, a halted vCPU to
//! resume, which costs more than the request itself (bench/README.md).
//! So after answering requests the loop polls without
//! sleeping for up to [`SPIN`], yielding the CPU between polls: a client,
//! worker or other process that shares the CPU runs meanwhile, so on one
//! CPU the loop gives its time away instead of burning it.
//!
//! A client that does not come back within [`SPIN`] several times in a row
//! (a slow client, a network round trip, an idle one) is not waited for:
//! the loop sleeps at once for the next [`BACK_OFF`] answers, so an idle
//! or distant client costs at most a few spins.

use std::time::{Duration, Instant};

/// Longest busy-poll after requests were answered.
const SPIN: Duration = Duration::from_micros(50);
/// Spins in a row that saw nothing before backing off.
const MISSES: u32 = 4;
/// Answers after which spinning is tried again once backed off; doubled
/// each time the retry misses too (a client sharing the loop's CPU, which
/// a spin only delays), up to [`MAX_BACK_OFF`].
const BACK_OFF: u32 = 64;
const MAX_BACK_OFF: u32 = 64 * 1024;

pub struct BusyPoll {
    /// Spinning until then.
    until: Option<Instant>,
    /// Spins in a row that ended without an event.
    misses: u32,
    /// Answers still to go before spinning again.
    skip: u32,
    /// The next back-off.
    back_off: u32,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll {
            until: None,
            misses: 0,
            skip: 0,
            back_off: BACK_OFF,
        }
    }
}

impl BusyPoll {
    /// Requests were just answered on the loop and none is in flight: the
    /// client will probably send more soon.
    pub fn arm(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.until = Some(Instant::now() + SPIN);
    }

    /// The timeout for the next poll: zero while spinning, else `normal`.
    pub fn timeout(&mut self, normal: Option<Duration>) -> Option<Duration> {
        let Some(until) = self.until else {
            return normal;
        };
        if Instant::now() < until {
            return Some(Duration::ZERO);
        }
        self.until = None;
        self.misses += 1;
        if self.misses >= MISSES {
            self.misses = 0;
            self.skip = self.back_off;
            self.back_off = (self.back_off * 2).min(MAX_BACK_OFF);
        }
        normal
    }

    /// After a poll made with [`timeout`](Self::timeout): an event ends the
    /// spin (the loop handles it and may arm again); none gives the CPU to
    /// whatever else can run before polling again.
    pub fn polled(&mut self, got_events: bool) {
        if self.until.is_none() {
            return;
        }
        if got_events {
            self.until = None;
            self.misses = 0;
            self.back_off = BACK_OFF;
        } else {
            std::thread::yield_now();
        }
    }

    #[cfg(test)]
    fn spinning(&self) -> bool {
        self.until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_only_after_an_answer_and_stops_on_an_event() {
        let mut b = BusyPoll::default();
        assert_eq!(b.timeout(None), None);
        b.arm();
        assert_eq!(b.timeout(None), Some(Duration::ZERO));
        b.polled(true);
        assert!(!b.spinning());
        assert_eq!(
            b.timeout(Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn backs_off_after_clients_that_do_not_come_back() {
        let mut b = BusyPoll::default();
        for _ in 0..MISSES {
            b.arm();
            // The spin runs out without an event.
            b.until = Some(Instant::now() - Duration::from_micros(1));
            assert_eq!(b.timeout(None), None);
        }
        for _ in 0..BACK_OFF {
            b.arm();
            assert!(!b.spinning());
        }
        b.arm();
        assert!(b.spinning());
        // Missing again after the back-off doubles it; a hit resets it.
        for _ in 0..MISSES {
            b.until = Some(Instant::now() - Duration::from_micros(1));
            assert_eq!(b.timeout(None), None);
            b.arm();
        }
        assert_eq!(b.skip, 2 * BACK_OFF - 1);
        b.skip = 0;
        b.arm();
        b.polled(true);
        assert_eq!(b.back_off, BACK_OFF);
    }
}
