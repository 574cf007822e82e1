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
//!
//! Times measured on the pool can make a fast stack look slow: a filter
//! that serialises its calls on a lock of its own (cache, cow) has its
//! workers queue on that lock, and each call's time includes the others'
//! (with enough of them in flight, every call's).  So a stack whose
//! average is slow but, like its best recent call on the pool, under what
//! backs inlining off ([`SLOW`]) is given a trial: the
//! connection lets its requests on
//! the pool finish, then the loop runs the next few calls itself, alone.
//! If they were fast on average and none slept, that shows the stack's own
//! speed, and their mean replaces the average.  A stack with a few fast
//! calls among many slow ones fails the trial.  Trials are spaced out,
//! further after each one that fails, so a plugin that really is slow pays
//! almost nothing.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest request the loop runs itself, and whose time on the pool
/// counts towards the stack's speed.
pub const INLINE_MAX: u64 = 64 * 1024;

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

/// Where a connection's requests are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the event loop, which runs the calls it may itself
    /// ([`InlinePolicy::allows`]) and hands the others to the pool.
    Loop,
    /// On a worker, which reads what the client sent and runs its small
    /// calls itself, one after the other, then gives the connection back
    /// to the loop: one hand-off per batch of requests rather than two per
    /// request, and a call that blocks holds up only its own client's
    /// requests (as under nbdkit's threads per connection), never the
    /// loop's other clients.
    Batch,
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
/// Handshake steps averaging less than this may run on the loop (an open
/// asks the plugin a dozen questions).
const HS_FAST: Duration = Duration::from_micros(100);
/// What one call in a batch counts for at most in the average.
const BATCH_SAMPLE: Duration = Duration::from_micros(100);
/// A call in a batch this slow, that slept, stops batches for
/// [`BACK_OFF`]: longer than a wait for a preempted lock holder.  One that
/// was only preempted (a loaded host, a debugger) does not.
const BATCH_SLOW: Duration = Duration::from_millis(50);
/// The first interval between trials, and the longest (each failed trial
/// doubles it, a successful one halves it).  A failed trial costs a
/// plugin with slow calls a drained pool and one slow call on the loop:
/// a disk or network plugin answering in under 2 ms reaches the longest
/// interval after about ten failures, and then pays that once in 8 s.
const TRIAL_FIRST: Duration = Duration::from_millis(10);
const TRIAL_MAX: Duration = Duration::from_secs(8);
/// Calls in one trial.
const TRIAL_CALLS: u32 = 16;

/// One connection's trial under way: calls run alone on the loop so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trial {
    left: u32,
    total_ns: u64,
}

impl Trial {
    pub fn new() -> Trial {
        Trial {
            left: TRIAL_CALLS,
            total_ns: 0,
        }
    }

    /// Add one call.  None: go on; Some(mean): the trial is over, and the
    /// mean call time is what it found (a call that slept or was very slow
    /// ends it at once as failed).
    pub fn add(mut self, took: Duration, slept: bool) -> Result<Trial, Duration> {
        if slept || took >= 4 * FAST {
            return Err(Duration::MAX);
        }
        self.total_ns += took.as_nanos() as u64;
        self.left -= 1;
        if self.left == 0 {
            return Err(Duration::from_nanos(self.total_ns / TRIAL_CALLS as u64));
        }
        Ok(self)
    }
}
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
    /// The fastest call measured since the last trial began, in ns.
    best_ns: AtomicU64,
    /// Moving average of handshake steps' times (preconnect, open, list,
    /// info), in nanoseconds.
    hs_avg_ns: AtomicU64,
    /// Nanoseconds since `epoch` before which no trial starts.
    next_trial_ns: AtomicU64,
    /// The wait after the next trial if it fails, in ns.
    trial_gap_ns: AtomicU64,
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
            best_ns: AtomicU64::new(u64::MAX),
            hs_avg_ns: AtomicU64::new(SLOW.as_nanos() as u64),
            next_trial_ns: AtomicU64::new(0),
            trial_gap_ns: AtomicU64::new(TRIAL_FIRST.as_nanos() as u64),
        }
    }

    /// Whether a handshake step (and the close of an export) may run on
    /// the loop, with `conns` connections open: always for a stack that
    /// never blocks; for others only for the one client, once such steps
    /// were measured quick on the pool (under [`HS_FAST`]) and no back-off
    /// runs.  A step that blocks then holds up no other client, only the
    /// accepting of a new one.
    pub fn handshake_on_loop(&self, conns: usize) -> bool {
        match self.mode {
            Mode::Always => true,
            Mode::Never => false,
            Mode::Adaptive => {
                conns <= 1
                    && self.hs_avg_ns.load(Ordering::Relaxed) < HS_FAST.as_nanos() as u64
                    && !self.banned()
            }
        }
    }

    /// Account for a handshake step that took `took`.
    pub fn record_handshake(&self, took: Duration) {
        if self.mode != Mode::Adaptive {
            return;
        }
        let ns = took.as_nanos().min(u64::MAX as u128) as u64;
        let avg = self.hs_avg_ns.load(Ordering::Relaxed);
        let next = avg - (avg >> EWMA_SHIFT) + (ns >> EWMA_SHIFT);
        self.hs_avg_ns.store(next, Ordering::Relaxed);
    }

    /// Account for a handshake step run on the loop: one that took
    /// [`SLOW`] and slept backs off as a request would.
    pub fn record_handshake_inline(&self, took: Duration, slept: impl FnOnce() -> bool) {
        self.record_handshake(took);
        if self.mode == Mode::Adaptive && took >= SLOW && slept() {
            self.ban(took);
        }
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

    /// Whether, with several clients, a connection's reading and its small
    /// calls may run together on one worker, as a batch (see
    /// [`Placement::Batch`]): the stack is adaptive, its calls average
    /// fast and no back-off runs.
    pub fn allows_batch(&self) -> bool {
        self.mode == Mode::Adaptive
            && self.avg_ns.load(Ordering::Relaxed) < FAST.as_nanos() as u64
            && !self.banned()
    }

    /// Where a connection with requests to read is served, with `conns`
    /// connections open.
    pub fn placement(&self, conns: usize) -> Placement {
        if conns > 1 && self.allows_batch() {
            Placement::Batch
        } else {
            Placement::Loop
        }
    }

    /// Whether a connection that may not run calls on the loop now should
    /// try one (see the module's comment): the stack is adaptive, its
    /// average is slow but under [`SLOW`] (a trial waits for the calls in
    /// flight: a stack whose calls take seconds, such as one under the
    /// delay filter, would hold the requests behind them that long), a
    /// recent call was not that slow either, no back-off runs and
    /// the last trial is far enough behind.  Claims the trial: another
    /// caller is told no until the next interval.
    pub fn wants_trial(&self, conns: usize) -> bool {
        if self.mode != Mode::Adaptive
            || conns > 1
            || self.best_ns.load(Ordering::Relaxed) >= SLOW.as_nanos() as u64
            || !(FAST.as_nanos() as u64..SLOW.as_nanos() as u64)
                .contains(&self.avg_ns.load(Ordering::Relaxed))
            || self.banned()
        {
            return false;
        }
        let now = self.now_ns();
        let due = self.next_trial_ns.load(Ordering::Relaxed);
        if now < due {
            return false;
        }
        let gap = self.trial_gap_ns.load(Ordering::Relaxed);
        // Until the trial reports, as if it failed.
        let claimed = self
            .next_trial_ns
            .compare_exchange(due, now + gap, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if claimed {
            self.best_ns.store(u64::MAX, Ordering::Relaxed);
        }
        claimed
    }

    /// A trial is over; `mean` is its calls' mean time (`Duration::MAX`
    /// if one slept).  Fast: it becomes the average, so calls stay on the
    /// loop, and the next trial may come sooner.  Otherwise the next one
    /// waits twice as long.
    pub fn record_trial(&self, mean: Duration) {
        let gap = self.trial_gap_ns.load(Ordering::Relaxed);
        if mean < FAST {
            self.avg_ns.store(mean.as_nanos() as u64, Ordering::Relaxed);
            let first = TRIAL_FIRST.as_nanos() as u64;
            self.trial_gap_ns
                .store((gap / 2).max(first), Ordering::Relaxed);
            return;
        }
        let next = (gap * 2).min(TRIAL_MAX.as_nanos() as u64);
        self.trial_gap_ns.store(next, Ordering::Relaxed);
        self.next_trial_ns
            .store(self.now_ns() + next, Ordering::Relaxed);
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
        if ns < self.best_ns.load(Ordering::Relaxed) {
            self.best_ns.fetch_min(ns, Ordering::Relaxed);
        }
        let avg = self.avg_ns.load(Ordering::Relaxed);
        let next = avg - (avg >> EWMA_SHIFT) + (ns >> EWMA_SHIFT);
        self.avg_ns.store(next, Ordering::Relaxed);
    }

    /// Account for a call run in a batch on a worker (see
    /// [`Placement::Batch`]).  There, several clients' batches run at once
    /// and share the plugin's own locks: a call may wait for a lock whose
    /// holder the scheduler preempted, which is neither the plugin's speed
    /// nor its blocking.  So one sample counts for at most [`BATCH_SAMPLE`]
    /// (calls that are steadily slower still raise the average past
    /// [`FAST`]), and only a call that slept for [`BATCH_SLOW`] backs off:
    /// a blocked call there holds up only its own client's requests.
    pub fn record_batch(&self, took: Duration, slept: impl FnOnce() -> bool) {
        self.record(took.min(BATCH_SAMPLE));
        if took >= BATCH_SLOW && slept() {
            self.ban(took);
        }
    }

    fn ban(&self, took: Duration) {
        log::debug!("a plugin call took {took:?}: requests go to worker threads for {BACK_OFF:?}");
        // Never 0, which means no back-off.
        let until = self.now_ns() + BACK_OFF.as_nanos() as u64;
        self.banned_until_ns.store(until.max(1), Ordering::Relaxed);
    }

    /// Account for a call run on the loop; `slept` tells, when asked,
    /// whether the thread gave up the CPU of its own accord during it.
    pub fn record_inline(&self, took: Duration, slept: impl FnOnce() -> bool) {
        self.record(took);
        if self.mode == Mode::Adaptive && took >= SLOW && slept() {
            self.ban(took);
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
    fn contended_fast_stack_gets_a_trial_and_keeps_it() {
        let p = InlinePolicy::new(Mode::Adaptive);
        // A lock shared by the workers: most calls wait for the others,
        // the one that found the lock free was quick.
        for i in 0..200 {
            p.record(Duration::from_micros(if i % 4 == 0 { 10 } else { 60 }));
        }
        assert!(!p.allows(1));
        assert!(!p.wants_trial(2), "never with two clients");
        assert!(p.wants_trial(1));
        assert!(!p.wants_trial(1), "one trial at a time");
        p.record_trial(run_trial(&[9; 16]).unwrap());
        assert!(p.allows(1));
        assert!(!p.allows(2));
    }

    #[test]
    fn all_calls_queued_still_gets_a_trial() {
        // Sixteen in flight behind one lock: every call waited.
        let p = InlinePolicy::new(Mode::Adaptive);
        for _ in 0..200 {
            p.record(Duration::from_micros(300));
        }
        assert!(p.wants_trial(1));
        p.record_trial(run_trial(&[12; 16]).unwrap());
        assert!(p.allows(1));
    }

    #[test]
    fn failed_trials_are_spaced_out() {
        let p = InlinePolicy::new(Mode::Adaptive);
        for _ in 0..200 {
            p.record(Duration::from_micros(40));
        }
        p.record(Duration::from_micros(5));
        assert!(p.wants_trial(1));
        // Slow alone too (or it slept): no inline calls, and no new trial
        // before the (doubled) interval.
        p.record_trial(Duration::from_micros(30));
        assert!(!p.allows(1));
        p.record(Duration::from_micros(5));
        assert!(!p.wants_trial(1));
        assert_eq!(
            p.trial_gap_ns.load(Ordering::Relaxed),
            2 * TRIAL_FIRST.as_nanos() as u64
        );
        // A trial that slept does not count even when quick.
        p.next_trial_ns.store(0, Ordering::Relaxed);
        assert!(p.wants_trial(1));
        let slept = Trial::new().add(Duration::from_micros(5), true);
        p.record_trial(slept.unwrap_err());
        assert!(!p.allows(1));
    }

    /// Feed a trial calls of these times (us), none sleeping.
    fn run_trial(us: &[u64]) -> Option<Duration> {
        let mut t = Trial::new();
        for &u in us {
            match t.add(Duration::from_micros(u), false) {
                Ok(next) => t = next,
                Err(mean) => return Some(mean),
            }
        }
        None
    }

    #[test]
    fn a_trial_judges_its_calls_together() {
        assert_eq!(run_trial(&[9; 15]), None, "not over yet");
        assert_eq!(run_trial(&[8; 16]), Some(Duration::from_micros(8)));
        // A few fast calls among slow ones: the mean is slow.
        let mixed = [5, 5, 5, 60, 60, 60, 60, 60, 5, 5, 5, 5, 60, 60, 60, 60];
        assert!(run_trial(&mixed).unwrap() >= FAST);
        // One very slow call ends it at once.
        assert_eq!(run_trial(&[5, 5, 500]), Some(Duration::MAX));
    }

    #[test]
    fn slow_stacks_get_no_trial() {
        let p = InlinePolicy::new(Mode::Adaptive);
        for _ in 0..50 {
            p.record(Duration::from_millis(3));
        }
        assert!(
            !p.wants_trial(1),
            "every call was as slow as one that backs off"
        );
        // Calls of seconds (a delay filter) and a quick one (a flush): a
        // trial would hold requests behind the slow ones in flight.
        let d = InlinePolicy::new(Mode::Adaptive);
        for _ in 0..50 {
            d.record(Duration::from_secs(1));
        }
        d.record(Duration::from_micros(3));
        assert!(!d.wants_trial(1), "average of seconds");
        // Banned after blocking on the loop: no trial during the back-off.
        for _ in 0..200 {
            p.record(Duration::from_micros(2));
        }
        p.record_inline(Duration::from_millis(5), || true);
        for _ in 0..200 {
            p.record(Duration::from_micros(50));
        }
        p.record(Duration::from_micros(2));
        assert!(!p.wants_trial(1));
        let n = InlinePolicy::new(Mode::Never);
        n.record(Duration::from_micros(50));
        n.record(Duration::from_micros(1));
        assert!(!n.wants_trial(1));
    }

    #[test]
    fn several_clients_of_a_fast_plugin_are_served_in_batches() {
        let p = InlinePolicy::new(Mode::Adaptive);
        assert_eq!(p.placement(4), Placement::Loop, "not measured yet");
        for _ in 0..200 {
            p.record(Duration::from_micros(2));
        }
        assert_eq!(p.placement(1), Placement::Loop);
        assert_eq!(p.placement(4), Placement::Batch);
        // Waiting a few ms for a lock (preempted holder) in a batch.
        p.record_batch(Duration::from_millis(5), || true);
        assert_eq!(p.placement(4), Placement::Batch);
        p.record_batch(Duration::from_millis(80), || false);
        assert_eq!(p.placement(4), Placement::Batch, "preempted, not blocked");
        p.record_batch(Duration::from_millis(80), || true);
        assert_eq!(p.placement(4), Placement::Loop, "blocked: back-off");
        let a = InlinePolicy::new(Mode::Always);
        assert_eq!(a.placement(64), Placement::Loop);
        let n = InlinePolicy::new(Mode::Never);
        assert_eq!(n.placement(64), Placement::Loop);
    }

    #[test]
    fn quick_handshakes_of_a_lone_client_run_on_the_loop() {
        let p = InlinePolicy::new(Mode::Adaptive);
        assert!(!p.handshake_on_loop(1), "not measured yet");
        for _ in 0..100 {
            p.record_handshake(Duration::from_micros(20));
        }
        assert!(p.handshake_on_loop(1));
        assert!(!p.handshake_on_loop(2));
        p.record_handshake_inline(Duration::from_millis(30), || true);
        assert!(!p.handshake_on_loop(1), "an open that blocked: back-off");
        assert!(InlinePolicy::new(Mode::Always).handshake_on_loop(9));
        assert!(!InlinePolicy::new(Mode::Never).handshake_on_loop(1));
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
