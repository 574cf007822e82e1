//! Process-wide state that any layer may need to read or poke: the shutdown
//! request (`nbdkit_shutdown`, SIGINT/SIGTERM) and whether the plugin may
//! use stdin/stdout (`nbdkit_stdio_safe`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static SHUTDOWN: AtomicBool = AtomicBool::new(false);
static STDIO_SAFE: AtomicBool = AtomicBool::new(true);
static WAKER: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// Ask the server to stop accepting and exit once connections finish, as
/// SIGTERM does.  Safe to call from any thread, including plugin threads.
pub fn request_shutdown() {
    SHUTDOWN.store(true, Ordering::SeqCst);
    if let Some(w) = WAKER.get() {
        w();
    }
}

pub fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::SeqCst)
}

/// The event loop registers how to wake itself when a shutdown is requested.
pub fn set_waker(w: Box<dyn Fn() + Send + Sync>) {
    let _ = WAKER.set(w);
}

pub fn set_stdio_safe(safe: bool) {
    STDIO_SAFE.store(safe, Ordering::SeqCst);
}

/// False under `-s`, where stdin and stdout carry the NBD protocol.
pub fn stdio_safe() -> bool {
    STDIO_SAFE.load(Ordering::SeqCst)
}
