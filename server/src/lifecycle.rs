//! Process-wide state that any layer may need to read or poke: the shutdown
//! request (`nbdkit_shutdown`, SIGINT/SIGTERM) and whether the plugin may
//! use stdin/stdout (`nbdkit_stdio_safe`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

type Waker = Box<dyn Fn() + Send + Sync>;

/// A shutdown request, and who is to be woken by it.
struct Shutdown {
    requested: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Shutdown {
    const fn new() -> Self {
        Shutdown {
            requested: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
        }
    }
    fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        for w in self.wakers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            w();
        }
    }
    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
    fn add_waker(&self, w: Waker) {
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(w);
    }
}

static SHUTDOWN: Shutdown = Shutdown::new();
static STDIO_SAFE: AtomicBool = AtomicBool::new(true);

/// Ask the server to stop accepting and exit once connections finish, as
/// SIGTERM does.  Safe to call from any thread, including plugin threads
/// (not from a signal handler: the wakers are behind a lock).
pub fn request_shutdown() {
    SHUTDOWN.request();
}

pub fn shutdown_requested() -> bool {
    SHUTDOWN.requested()
}

/// Run `w` on every shutdown request from now on: the event loop wakes
/// itself with it, `nbdkit_nanosleep` wakes its sleepers.  A waker added
/// after the request is not run, so check [`shutdown_requested`] after
/// adding one.
pub fn add_waker(w: Waker) {
    SHUTDOWN.add_waker(w);
}

pub fn set_stdio_safe(safe: bool) {
    STDIO_SAFE.store(safe, Ordering::SeqCst);
}

/// False under `-s`, where stdin and stdout carry the NBD protocol, and
/// from when the plugin is ready (they are the server's once it serves).
pub fn stdio_safe() -> bool {
    STDIO_SAFE.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn counter(s: &Shutdown) -> Arc<AtomicUsize> {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        s.add_waker(Box::new(move || {
            m.fetch_add(1, Ordering::SeqCst);
        }));
        n
    }

    #[test]
    fn every_request_wakes_every_waker_added_before_it() {
        let s = Shutdown::new();
        assert!(!s.requested());
        let (a, b) = (counter(&s), counter(&s));
        s.request();
        assert!(s.requested());
        assert_eq!((a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)), (1, 1));
        // Added after the request: not run until the next one (which is
        // why the doc says to check `shutdown_requested` after adding).
        let late = counter(&s);
        assert_eq!(late.load(Ordering::SeqCst), 0);
        s.request();
        assert_eq!(a.load(Ordering::SeqCst), 2);
        assert_eq!(late.load(Ordering::SeqCst), 1);
        assert!(s.requested(), "a request is never taken back");
    }

    #[test]
    fn a_waker_may_ask_whether_shutdown_was_requested() {
        // Wakers run after the flag is set: one that checks it sees it.
        let s = Arc::new(Shutdown::new());
        let seen = Arc::new(AtomicBool::new(false));
        let (s2, seen2) = (s.clone(), seen.clone());
        s.add_waker(Box::new(move || {
            seen2.store(s2.requested(), Ordering::SeqCst);
        }));
        s.request();
        assert!(seen.load(Ordering::SeqCst));
    }
}
