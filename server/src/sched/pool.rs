//! The worker pool that runs backend calls, and the thread-model locks that
//! serialise them as the plugin asked.
//!
//! Workers block in plugin code (a C plugin may sleep, or wait on a
//! thread-model lock held by another worker), so the pool grows when every
//! worker is busy rather than queueing work behind a blocked one.

use crate::backend::ThreadModel;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Hard cap on workers: beyond this, work queues.
const MAX_WORKERS: usize = 1024;
/// Queued work with no job finishing for this long means every worker is
/// blocked in the plugin: add one.
const STALL: Duration = Duration::from_millis(2);

struct State {
    jobs: VecDeque<Job>,
    /// Parked workers, the most recently parked last.  Work wakes the
    /// last one: the thread that just finished runs again, its stack and
    /// its read buffer still in cache (waking in arrival order cycled a
    /// burst of large reads through every worker's buffer).  A worker
    /// taken off this list is woken and no longer counted as free, so two
    /// jobs submitted back to back never wait for the same worker.
    idle: Vec<Arc<Parking>>,
    total: usize,
    /// Workers started on demand, without waiting for a stall, up to this.
    target: usize,
    watching: bool,
    /// The watcher waits on `Inner::watch` until work queues up with no
    /// worker idle (so an idle server has no thread waking up).
    watcher_parked: bool,
    /// The pool is dropped: the watcher ends.
    closed: bool,
    last_progress: Instant,
}

/// Where one idle worker sleeps.
struct Parking {
    thread: std::thread::Thread,
    /// Set (then the thread unparked) when the worker is taken off the idle
    /// list; a wake-up without it is spurious.
    woken: AtomicBool,
}

impl Parking {
    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

struct Inner {
    state: Mutex<State>,
    watch: Condvar,
}

/// A set of workers sized to the machine, parked on a condition variable
/// (no spinning or yielding while idle), started when first needed (an idle
/// server keeps no threads), growing past its size only when all of them
/// are stuck.
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    pub fn new(initial: usize) -> Pool {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                idle: Vec::new(),
                total: 0,
                target: initial.max(1),
                watching: false,
                watcher_parked: false,
                closed: false,
                last_progress: Instant::now(),
            }),
            watch: Condvar::new(),
        });
        Pool { inner }
    }

    pub fn submit(&self, job: Job) {
        submit(&self.inner, job);
    }

    /// A handle that can queue work without holding whatever owns the
    /// pool (a closing connection must not keep the server alive while
    /// its close runs).
    pub fn submitter(&self) -> Submitter {
        Submitter(self.inner.clone())
    }
}

/// Queues work on a [`Pool`]; see [`Pool::submitter`].
pub struct Submitter(Arc<Inner>);

impl Submitter {
    pub fn submit(&self, job: Job) {
        submit(&self.0, job);
    }
}

fn lock(inner: &Inner) -> MutexGuard<'_, State> {
    inner.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Workers stuck in a slow plugin must not hold up queued work
/// (another connection's, or a close) indefinitely: a watcher adds a
/// worker when queued work has made no progress for a while.
fn start_watcher(inner: &Arc<Inner>, st: &mut State) {
    st.watching = true;
    let inner = inner.clone();
    let _ = std::thread::Builder::new()
        .name("nbdkit-pool-watch".into())
        .spawn(move || watcher(inner));
}

fn submit(inner: &Arc<Inner>, job: Job) {
    let mut st = lock(inner);
    st.jobs.push_back(job);
    if !st.watching {
        start_watcher(inner, &mut st);
    }
    let worker = st.idle.pop();
    if worker.is_none() && st.watcher_parked {
        st.watcher_parked = false;
        inner.watch.notify_one();
    }
    if worker.is_none() {
        if st.total < st.target {
            spawn_worker(inner, &mut st);
        } else if st.total < MAX_WORKERS && st.last_progress.elapsed() > STALL {
            st.last_progress = Instant::now();
            spawn_worker(inner, &mut st);
        }
    }
    drop(st);
    // Woken outside the lock, so it does not find the lock still held.
    if let Some(w) = worker {
        w.wake();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut st = lock(&self.inner);
        st.closed = true;
        self.inner.watch.notify_one();
    }
}

/// Sleeps until work is queued with every worker busy, then checks every
/// `2 * STALL` whether it moves, adding a worker when it does not.
fn watcher(inner: Arc<Inner>) {
    let lock = || inner.state.lock().unwrap_or_else(|p| p.into_inner());
    let mut st = lock();
    loop {
        if st.closed {
            return;
        }
        if st.jobs.is_empty() || !st.idle.is_empty() {
            st.watcher_parked = true;
            st = inner.watch.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        }
        drop(st);
        std::thread::sleep(STALL * 2);
        st = lock();
        if !st.jobs.is_empty()
            && st.idle.is_empty()
            && st.total < MAX_WORKERS
            && st.last_progress.elapsed() > STALL
        {
            st.last_progress = Instant::now();
            spawn_worker(&inner, &mut st);
        }
    }
}

fn spawn_worker(inner: &Arc<Inner>, st: &mut State) {
    let n = st.total;
    let inner = inner.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("nbdkit-worker-{n}"))
        .spawn(move || worker(inner));
    match spawned {
        Ok(_) => st.total += 1,
        Err(e) => log::warn!("could not start a worker thread: {e}"),
    }
}

fn worker(inner: Arc<Inner>) {
    let lock = || inner.state.lock().unwrap_or_else(|p| p.into_inner());
    let me = Arc::new(Parking {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let mut st = lock();
    loop {
        if let Some(job) = st.jobs.pop_front() {
            drop(st);
            job();
            st = lock();
            st.last_progress = Instant::now();
            continue;
        }
        me.woken.store(false, Ordering::Relaxed);
        st.idle.push(me.clone());
        drop(st);
        // Whoever takes this worker off the list sets `woken` before
        // unparking it; park's token makes an unpark that comes first stick.
        while !me.woken.load(Ordering::Acquire) {
            std::thread::park();
        }
        st = lock();
    }
}

/// The locks a thread model needs around each backend call.
pub struct ThreadModelLocks {
    model: ThreadModel,
    all_requests: Mutex<()>,
}

/// Held for the duration of one backend call.
pub struct CallGuard<'a> {
    _all: Option<MutexGuard<'a, ()>>,
    _conn: Option<MutexGuard<'a, ()>>,
}

impl ThreadModelLocks {
    pub fn new(model: ThreadModel) -> Self {
        ThreadModelLocks {
            model,
            all_requests: Mutex::new(()),
        }
    }

    pub fn model(&self) -> ThreadModel {
        self.model
    }

    /// As [`enter`](Self::enter), but `None` instead of waiting for a lock
    /// another thread holds (the event loop must never wait).
    pub fn try_enter<'a>(&'a self, conn_lock: &'a Mutex<()>) -> Option<CallGuard<'a>> {
        self.guard(conn_lock, |m| match m.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        })
    }

    /// Lock what the model requires before calling into the backend for a
    /// connection whose own request lock is `conn_lock`.  Connections are
    /// serialised at accept time (the event loop admits one at a time), so
    /// SERIALIZE_CONNECTIONS needs no lock here beyond the per-request one.
    pub fn enter<'a>(&'a self, conn_lock: &'a Mutex<()>) -> CallGuard<'a> {
        self.guard(conn_lock, |m| {
            Some(m.lock().unwrap_or_else(|p| p.into_inner()))
        })
        .expect("a blocking lock always succeeds")
    }

    /// The model's locks, each taken with `lock`.
    fn guard<'a>(
        &'a self,
        conn_lock: &'a Mutex<()>,
        lock: impl Fn(&'a Mutex<()>) -> Option<MutexGuard<'a, ()>>,
    ) -> Option<CallGuard<'a>> {
        Some(match self.model {
            ThreadModel::SerializeConnections | ThreadModel::SerializeAllRequests => CallGuard {
                _all: Some(lock(&self.all_requests)?),
                _conn: None,
            },
            ThreadModel::SerializeRequests => CallGuard {
                _all: None,
                _conn: Some(lock(conn_lock)?),
            },
            ThreadModel::Parallel => CallGuard {
                _all: None,
                _conn: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn grows_past_blocked_workers() {
        let pool = Pool::new(1);
        let release = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..4 {
            let (r, d) = (release.clone(), done.clone());
            pool.submit(Box::new(move || {
                while !r.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                d.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let d = done.clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.submit(Box::new(move || {
            let _ = tx.send(d.load(Ordering::SeqCst));
        }));
        // The fifth job runs although four workers are blocked.
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(0));
        release.store(true, Ordering::SeqCst);
    }
}
