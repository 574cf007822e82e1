//! Process-wide state that any layer may need to read or poke: the shutdown
//! request (`nbdkit_shutdown`, SIGINT/SIGTERM) and whether the plugin may
//! use stdin/stdout (`nbdkit_stdio_safe`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

type Waker = Box<dyn Fn() + Send + Sync>;

static SHUTDOWN: AtomicBool = AtomicBool::new(false);
static STDIO_SAFE: AtomicBool = AtomicBool::new(true);
static WAKERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

/// Ask the server to stop accepting and exit once connections finish, as
/// SIGTERM does.  Safe to call from any thread, including plugin threads
/// (not from a signal handler: the wakers are behind a lock).
pub fn request_shutdown() {
    SHUTDOWN.store(true, Ordering::SeqCst);
    for w in WAKERS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        w();
    }
}

pub fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::SeqCst)
}

/// Run `w` on every shutdown request from now on: the event loop wakes
/// itself with it, `nbdkit_nanosleep` wakes its sleepers.  A waker added
/// after the request is not run, so check [`shutdown_requested`] after
/// adding one.
pub fn add_waker(w: Waker) {
    WAKERS.lock().unwrap_or_else(|e| e.into_inner()).push(w);
}

pub fn set_stdio_safe(safe: bool) {
    STDIO_SAFE.store(safe, Ordering::SeqCst);
}

/// False under `-s`, where stdin and stdout carry the NBD protocol.
pub fn stdio_safe() -> bool {
    STDIO_SAFE.load(Ordering::SeqCst)
}
