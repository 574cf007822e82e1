//! When the event loop may answer a request itself instead of handing it
//! to a worker.
//!
//! A hand-off to a worker and back costs two thread wake-ups, more than a
//! fast plugin's whole call.  A plugin that never blocks (the in-memory
//! built-ins) is called on the loop for every small request.  Any other
//! plugin has to earn it: its recent calls, timed wherever they ran, must
//! average a few microseconds, and the client must be the only one, so
//! that a call that does block (a cache miss on disk, a network round
//! trip) holds up no other client's requests, only the accepting of a new
//! connection.  One call on the loop that blocked (slow, and the thread
//! slept during it) sends the plugin back to the pool for a while.  Time
//! lost to preemption on a busy machine does not count as blocking: it
//! would otherwise send a fast plugin to the pool every few milliseconds.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

std::thread_local! {
    /// The loop thread's voluntary context switches, read at the first
    /// request it ran itself since it last waited for events.
    static SWITCHES: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The loop is about to wait for events (it may sleep): the next call it
/// runs itself takes a new count of its voluntary context switches.
pub fn loop_may_sleep() {
    SWITCHES.with(|s| s.set(None));
}

/// The loop thread's voluntary context switches as of its last wake-up.
/// Between wake-ups the loop never sleeps but in a plugin call (it only
/// try-locks, and its busy-poll yields, which is not voluntary), so a
/// larger count after a slow call means that call slept.  One getrusage
/// per wake-up, not per request.
pub fn switches_since_wake() -> u64 {
    SWITCHES.with(|s| match s.get() {
        Some(v) => v,
        None => {
            let v = crate::sys::voluntary_switches();
            s.set(Some(v));
            v
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The plugin promises never to block.
    Always,
    /// Decided from measured call times.
    Adaptive,
    Never,
}

/// Calls averaging less than this may run on the loop.
const FAST: Duration = Duration::from_micros(25);
/// A single call this slow stops inlining for [`BACK_OFF`].  Well above
/// what preemption on a busy machine adds to a fast call, well below a
/// blocking plugin's disk or network wait.
const SLOW: Duration = Duration::from_millis(2);
const BACK_OFF: Duration = Duration::from_secs(1);
/// Weight of the newest sample in the moving average, as a shift.
const EWMA_SHIFT: u32 = 3;

pub struct InlinePolicy {
    mode: Mode,
    epoch: Instant,
    /// Moving average of call times, in nanoseconds.  Updated racily by
    /// several threads: an approximate average is all it needs to be.
    avg_ns: AtomicU64,
    /// Nanoseconds since `epoch` before which nothing runs inline.
    banned_until_ns: AtomicU64,
}

impl InlinePolicy {
    pub fn new(mode: Mode) -> InlinePolicy {
        InlinePolicy {
            mode,
            epoch: Instant::now(),
            // Start as slow: a plugin is trusted only after it has been
            // seen to be fast on the pool.
            avg_ns: AtomicU64::new(SLOW.as_nanos() as u64),
            banned_until_ns: AtomicU64::new(0),
        }
    }

    /// The whole stack promised never to block: even opening and closing
    /// an export may run on the loop.
    pub fn never_blocks(&self) -> bool {
        self.mode == Mode::Always
    }

    /// Whether measurements decide (so callers need to take them).
    pub fn is_adaptive(&self) -> bool {
        self.mode == Mode::Adaptive
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Whether a small request may run on the loop now, with `conns`
    /// connections open.
    pub fn allows(&self, conns: usize) -> bool {
        match self.mode {
            Mode::Always => true,
            Mode::Never => false,
            Mode::Adaptive => {
                conns <= 1
                    && self.avg_ns.load(Ordering::Relaxed) < FAST.as_nanos() as u64
                    && !self.banned()
            }
        }
    }

    /// Whether a back-off is running.  Reads the clock only while one is
    /// set (not per request), and clears it once over.
    fn banned(&self) -> bool {
        let until = self.banned_until_ns.load(Ordering::Relaxed);
        if until == 0 {
            return false;
        }
        if self.now_ns() < until {
            return true;
        }
        // A ban set meanwhile by another thread stays.
        let _ =
            self.banned_until_ns
                .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
        false
    }

    /// Account for one call that took `took` (only calls small enough to
    /// be run inline: large ones take long for their size alone).
    pub fn record(&self, took: Duration) {
        if self.mode != Mode::Adaptive {
            return;
        }
        let ns = took.as_nanos().min(u64::MAX as u128) as u64;
        let avg = self.avg_ns.load(Ordering::Relaxed);
        let next = avg - (avg >> EWMA_SHIFT) + (ns >> EWMA_SHIFT);
        self.avg_ns.store(next, Ordering::Relaxed);
    }

    /// Account for a call run on the loop; `slept` tells, when asked,
    /// whether the thread gave up the CPU of its own accord during it.
    pub fn record_inline(&self, took: Duration, slept: impl FnOnce() -> bool) {
        self.record(took);
        if self.mode == Mode::Adaptive && took >= SLOW && slept() {
            log::debug!(
                "a plugin call took {took:?}: requests go to worker threads for {BACK_OFF:?}"
            );
            // Never 0, which means no back-off.
            let until = self.now_ns() + BACK_OFF.as_nanos() as u64;
            self.banned_until_ns.store(until.max(1), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_needs_fast_calls_first() {
        let p = InlinePolicy::new(Mode::Adaptive);
        assert!(!p.allows(1));
        for _ in 0..200 {
            p.record(Duration::from_micros(2));
        }
        assert!(p.allows(1));
        assert!(!p.allows(2));
    }

    #[test]
    fn one_slow_call_backs_off() {
        let p = InlinePolicy::new(Mode::Adaptive);
        for _ in 0..200 {
            p.record(Duration::from_micros(2));
        }
        // Preempted, not blocked: no back-off (the average recovers).
        p.record_inline(Duration::from_millis(5), || false);
        for _ in 0..200 {
            p.record(Duration::from_micros(2));
        }
        assert!(p.allows(1));
        p.record_inline(Duration::from_millis(5), || true);
        assert!(!p.allows(1));
        for _ in 0..200 {
            p.record(Duration::from_micros(2));
        }
        // Fast again, but still inside the back-off period.
        assert!(!p.allows(1));
    }

    #[test]
    fn steady_medium_calls_stay_on_the_pool() {
        let p = InlinePolicy::new(Mode::Adaptive);
        for _ in 0..500 {
            p.record(Duration::from_micros(200));
        }
        assert!(!p.allows(1));
    }

    #[test]
    fn fixed_modes_ignore_samples() {
        let a = InlinePolicy::new(Mode::Always);
        a.record(Duration::from_secs(1));
        assert!(a.allows(5));
        let n = InlinePolicy::new(Mode::Never);
        n.record(Duration::from_nanos(1));
        assert!(!n.allows(1));
    }
}
