//! The worker pool that runs backend calls, and the thread-model locks that
//! serialise them as the plugin asked.
//!
//! Workers block in plugin code (a C plugin may sleep, or wait on a
//! thread-model lock held by another worker), so the pool grows when every
//! worker is busy rather than queueing work behind a blocked one.

use crate::backend::ThreadModel;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Hard cap on workers: beyond this, work queues.
const MAX_WORKERS: usize = 1024;

pub struct Pool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    idle: Arc<AtomicUsize>,
    total: AtomicUsize,
}

impl Pool {
    pub fn new(initial: usize) -> Pool {
        let (tx, rx) = unbounded();
        let pool = Pool {
            tx,
            rx,
            idle: Arc::new(AtomicUsize::new(0)),
            total: AtomicUsize::new(0),
        };
        for _ in 0..initial.max(1) {
            pool.spawn_worker();
        }
        pool
    }

    fn spawn_worker(&self) {
        let n = self.total.fetch_add(1, Ordering::SeqCst);
        let rx = self.rx.clone();
        let idle = self.idle.clone();
        idle.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name(format!("nbdkit-worker-{n}"))
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    idle.fetch_sub(1, Ordering::SeqCst);
                    job();
                    idle.fetch_add(1, Ordering::SeqCst);
                }
            });
        if let Err(e) = spawned {
            self.idle.fetch_sub(1, Ordering::SeqCst);
            self.total.fetch_sub(1, Ordering::SeqCst);
            log::warn!("could not start a worker thread: {e}");
        }
    }

    pub fn submit(&self, job: Job) {
        // Idle counts workers parked in recv; queued jobs will take them.
        if self.idle.load(Ordering::SeqCst) <= self.rx.len()
            && self.total.load(Ordering::SeqCst) < MAX_WORKERS
        {
            self.spawn_worker();
        }
        // The receiver lives as long as the pool, so send cannot fail.
        let _ = self.tx.send(job);
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

    /// Lock what the model requires before calling into the backend for a
    /// connection whose own request lock is `conn_lock`.  Connections are
    /// serialised at accept time (the event loop admits one at a time), so
    /// SERIALIZE_CONNECTIONS needs no lock here beyond the per-request one.
    pub fn enter<'a>(&'a self, conn_lock: &'a Mutex<()>) -> CallGuard<'a> {
        let lock = |m: &'a Mutex<()>| m.lock().unwrap_or_else(|p| p.into_inner());
        match self.model {
            ThreadModel::SerializeConnections | ThreadModel::SerializeAllRequests => CallGuard {
                _all: Some(lock(&self.all_requests)),
                _conn: None,
            },
            ThreadModel::SerializeRequests => CallGuard {
                _all: None,
                _conn: Some(lock(conn_lock)),
            },
            ThreadModel::Parallel => CallGuard {
                _all: None,
                _conn: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

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
