//! The event loop running its clients' batches itself, and another thread
//! taking the loop over when one of those batches blocks.
//!
//! With several clients of a fast plugin, each client's requests are read,
//! run and answered as a batch (`sched::inline::Placement::Batch`) away
//! from the loop, so that a call that blocks holds up only its own
//! client.  Where the server has one CPU, a worker cannot run beside the
//! loop anyway: the hand-off only adds two thread switches per batch, as
//! much again as the requests' own work.  With two, a worker beside the
//! loop does the same requests at twice the cost each, so the two CPUs
//! serve about what the loop's thread does alone on one (bench/threads;
//! with more CPUs the workers pull ahead).  So there the loop thread runs the
//! batches itself, between two polls, after leaving the loop (all that
//! `serve` owns) here.  If it has not come back for it within
//! [`TAKE_OVER`] (a call blocked), a watchdog hands the loop to a new
//! thread, which goes on polling and runs the batches still waiting; the
//! thread that was held up finishes its batch and, finding the loop taken,
//! ends.  Whoever holds the loop is the event loop; exactly one thread
//! does, or none while it waits here.
//!
//! The watchdog wakes every [`TAKE_OVER`] only while batches run; an idle
//! server leaves it asleep.  A thread that was only preempted (a loaded
//! host) is not replaced: only one asleep in a call, or one that has kept
//! the loop for [`TAKE_OVER_BUSY`] whatever it does.

use crate::sched::pool::Job;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Up to this many CPUs the loop's thread runs the batches itself.
pub const MAX_CPUS: usize = 2;

/// Whether the loop's thread runs several clients' batches itself: on up
/// to [`MAX_CPUS`], unless `NBDKIT_BATCH_WORKERS=1` gives them to workers
/// (as on more CPUs; `bench/threads` measures both).
pub fn loop_runs_batches() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus <= MAX_CPUS && std::env::var_os("NBDKIT_BATCH_WORKERS").is_none_or(|v| v != "1")
}

/// A batch running this long without the loop coming back: another
/// thread takes the loop over.  Far above a batch of fast calls (tens of
/// microseconds), far below what a client notices.
pub const TAKE_OVER: Duration = Duration::from_millis(2);
/// A batch running this long is taken over from even if its thread is
/// not asleep (a plugin computing, or a host so loaded that the thread
/// waits that long for a CPU).
pub const TAKE_OVER_BUSY: Duration = Duration::from_millis(50);
/// The watchdog goes to sleep after this long with no batch run.
const WATCH_IDLE: Duration = Duration::from_millis(100);

/// Runs the event loop `L` on the calling thread until it is done (its
/// result) or another thread took it over (`None`).
pub type Lead<L> = fn(L, &Arc<Relay<L>>) -> Option<io::Result<()>>;

pub struct Relay<L> {
    state: Mutex<State<L>>,
    /// Signalled when the server is done.
    finished: Condvar,
    /// Times the loop was left here, and batches finished: the watchdog
    /// compares them from one look to the next.
    left: AtomicU64,
    progress: AtomicU64,
    /// The thread that last left the loop here to run batches.
    runner: AtomicI32,
    watchdog: Mutex<Option<Thread>>,
    watchdog_started: AtomicBool,
    watchdog_asleep: AtomicBool,
    /// The server is done: the watchdog ends.
    over: AtomicBool,
    lead: Lead<L>,
}

struct State<L> {
    /// The loop, while the thread that had it runs batches.
    waiting: Option<L>,
    batches: VecDeque<Job>,
    result: Option<io::Result<()>>,
}

impl<L: Send + 'static> Relay<L> {
    pub fn new(lead: Lead<L>) -> Arc<Relay<L>> {
        Arc::new(Relay {
            state: Mutex::new(State {
                waiting: None,
                batches: VecDeque::new(),
                result: None,
            }),
            finished: Condvar::new(),
            left: AtomicU64::new(0),
            progress: AtomicU64::new(0),
            runner: AtomicI32::new(0),
            watchdog: Mutex::new(None),
            watchdog_started: AtomicBool::new(false),
            watchdog_asleep: AtomicBool::new(false),
            over: AtomicBool::new(false),
            lead,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<L>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Batches left by a thread that lost the loop wait to be run.
    pub fn has_batches(&self) -> bool {
        !self.lock().batches.is_empty()
    }

    /// Leave the loop here and run `batches` (and any left before) on this
    /// thread.  Returns the loop when this thread may go on with it,
    /// `None` when another thread took it over meanwhile.
    pub fn run_batches(self: &Arc<Self>, core: L, batches: Vec<Job>) -> Option<L> {
        {
            let mut st = self.lock();
            st.waiting = Some(core);
            st.batches.extend(batches);
        }
        self.runner
            .store(crate::sys::thread_id(), Ordering::Relaxed);
        self.left.fetch_add(1, Ordering::Relaxed);
        self.wake_watchdog();
        loop {
            let job = self.lock().batches.pop_front();
            let Some(job) = job else { break };
            job();
            self.progress.fetch_add(1, Ordering::Relaxed);
        }
        self.lock().waiting.take()
    }

    /// The server is done (from whichever thread had the loop).
    pub fn finish(&self, result: io::Result<()>) {
        self.lock().result = Some(result);
        self.finished.notify_all();
        self.close();
    }

    /// The server is done: the watchdog ends.
    pub fn close(&self) {
        self.over.store(true, Ordering::SeqCst);
        if let Some(w) = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            w.unpark();
        }
    }

    /// Wait until the server is done; its result.
    pub fn wait_finished(&self) -> io::Result<()> {
        let mut st = self.lock();
        loop {
            if let Some(r) = st.result.take() {
                return r;
            }
            st = self.finished.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn done(&self) -> bool {
        self.over.load(Ordering::SeqCst)
    }

    /// Start the watchdog, or wake it if it sleeps.
    fn wake_watchdog(self: &Arc<Self>) {
        if self.watchdog_started.load(Ordering::Relaxed)
            && !self.watchdog_asleep.load(Ordering::Relaxed)
        {
            return;
        }
        let mut w = self.watchdog.lock().unwrap_or_else(|p| p.into_inner());
        match w.as_ref() {
            Some(t) => {
                self.watchdog_asleep.store(false, Ordering::Relaxed);
                t.unpark();
            }
            None => {
                let me = Arc::downgrade(self);
                let spawned = std::thread::Builder::new()
                    .name("nbdkit-loop-watch".into())
                    .spawn(move || watch(me));
                match spawned {
                    Ok(h) => {
                        *w = Some(h.thread().clone());
                        self.watchdog_started.store(true, Ordering::Relaxed);
                    }
                    // Without a watchdog a blocked batch holds the loop
                    // until it returns: worth a line, not a failure.
                    Err(e) => log::debug!("cannot start the loop's watchdog: {e}"),
                }
            }
        }
    }

    /// A batch has run for [`TAKE_OVER`]: hand the waiting loop to a new
    /// thread.  False if that thread cannot be started.
    fn take_over(self: &Arc<Self>) -> bool {
        let Some(core) = self.lock().waiting.take() else {
            return true;
        };
        log::debug!("a call held the event loop's thread: another thread takes the loop over");
        let me = Arc::clone(self);
        let (tx, rx) = std::sync::mpsc::channel::<L>();
        let spawned = std::thread::Builder::new()
            .name("nbdkit-loop".into())
            .spawn(move || {
                let Ok(core) = rx.recv() else { return };
                if let Some(r) = (me.lead)(core, &me) {
                    me.finish(r);
                }
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(core);
                true
            }
            Err(e) => {
                log::debug!("cannot start a thread for the event loop: {e}");
                self.lock().waiting = Some(core);
                false
            }
        }
    }
}

/// The watchdog's thread: while batches run, look every [`TAKE_OVER`]
/// whether the loop has waited since the last look with no batch
/// finished meanwhile, and its thread sleeps (or it has waited
/// [`TAKE_OVER_BUSY`]); asleep after [`WATCH_IDLE`] without a batch.
fn watch<L: Send + 'static>(relay: std::sync::Weak<Relay<L>>) {
    let mut last_active = Instant::now();
    // (times left, batches finished) at the last look, if the loop waited.
    let mut seen: Option<(u64, u64)> = None;
    // Since when the loop has waited with no batch finished.
    let mut stuck_since: Option<Instant> = None;
    loop {
        let Some(r) = relay.upgrade() else { return };
        if r.done() {
            return;
        }
        let now = (
            r.left.load(Ordering::Relaxed),
            r.progress.load(Ordering::Relaxed),
        );
        let waiting = r.lock().waiting.is_some();
        let mut pause = TAKE_OVER;
        if waiting && seen == Some(now) {
            let since = *stuck_since.get_or_insert_with(Instant::now);
            let held = crate::sys::thread_sleeping(r.runner.load(Ordering::Relaxed))
                || since.elapsed() + TAKE_OVER >= TAKE_OVER_BUSY;
            if held && !r.take_over() {
                pause = TAKE_OVER * 8;
            }
        } else {
            stuck_since = None;
        }
        if waiting || seen.is_some_and(|s| s.0 != now.0) {
            last_active = Instant::now();
        }
        seen = waiting.then_some(now);
        let idle = last_active.elapsed() >= WATCH_IDLE;
        if idle {
            r.watchdog_asleep.store(true, Ordering::Relaxed);
        }
        drop(r);
        if idle {
            std::thread::park();
            last_active = Instant::now();
            seen = None;
            stuck_since = None;
        } else {
            std::thread::park_timeout(pause);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A loop that counts its turns and is done after `n`.
    struct Counter {
        turns: Arc<AtomicUsize>,
        n: usize,
    }

    fn lead(mut c: Counter, relay: &Arc<Relay<Counter>>) -> Option<io::Result<()>> {
        loop {
            if c.turns.fetch_add(1, Ordering::SeqCst) + 1 >= c.n {
                return Some(Ok(()));
            }
            c = relay.run_batches(c, Vec::new())?;
        }
    }

    #[test]
    fn the_thread_that_ran_quick_batches_keeps_the_loop() {
        let relay = Relay::new(lead);
        let ran = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<Job> = (0..3)
            .map(|_| {
                let ran = ran.clone();
                Box::new(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                }) as Job
            })
            .collect();
        let core = Counter {
            turns: Arc::new(AtomicUsize::new(0)),
            n: 1,
        };
        assert!(relay.run_batches(core, jobs).is_some());
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert!(!relay.has_batches());
    }

    #[test]
    fn a_blocked_batch_hands_the_loop_and_the_batches_behind_it_on() {
        let relay = Relay::new(lead);
        let turns = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (second_tx, second_rx) = std::sync::mpsc::channel::<std::thread::ThreadId>();
        let blocked: Job = Box::new(move || {
            let _ = release_rx.recv();
        });
        let behind: Job = Box::new(move || {
            let _ = second_tx.send(std::thread::current().id());
        });
        let core = Counter {
            turns: turns.clone(),
            n: 1000,
        };
        let r2 = relay.clone();
        let first = std::thread::spawn(move || {
            // Whoever gets the loop back goes on with it.
            if let Some(c) = r2.run_batches(core, vec![blocked, behind]) {
                if let Some(res) = lead(c, &r2) {
                    r2.finish(res);
                }
            }
        });
        // The batch behind the blocked one runs on the thread that took
        // the loop over, while the first is still held up.
        let other = second_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the batch behind a blocked one ran");
        assert_ne!(other, first.thread().id());
        // The new loop thread goes on turning.
        let end = Instant::now() + Duration::from_secs(10);
        while turns.load(Ordering::SeqCst) < 1000 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(turns.load(Ordering::SeqCst) >= 1000, "the loop went on");
        release_tx.send(()).unwrap();
        first.join().unwrap();
        assert!(relay.wait_finished().is_ok());
    }
}
