//! Per-thread state the exported functions read: the connection a callback
//! runs for, the errno a plugin set with `nbdkit_set_error`, and the last
//! `nbdkit_error` message.  [`Call`] sets it up around every callback.
//!
//! The connection itself (and the strings interned for it) is owned by the
//! network side; this only borrows it for the duration of a call.

use crate::backend::Connection;
use std::cell::RefCell;
use std::ffi::CString;
use std::sync::{Arc, Mutex};

/// Strings interned outside any connection: they live until exit.
static GLOBAL_INTERNED: Mutex<Vec<CString>> = Mutex::new(Vec::new());

#[derive(Default)]
struct ThreadState {
    conn: Option<Arc<Connection>>,
    error: i32,
    last_msg: Option<String>,
    depth: u32,
}

thread_local! {
    static STATE: RefCell<ThreadState> = RefCell::new(ThreadState::default());
}

/// Guard for one callback into the plugin.  Nested calls (a callback that
/// makes the adapter call another) keep the outer connection.
pub struct Call {
    saved_conn: Option<Option<Arc<Connection>>>,
}

impl Call {
    pub fn enter(conn: Option<&Arc<Connection>>) -> Call {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.error = 0;
            s.last_msg = None;
            s.depth += 1;
            let saved = conn.map(|c| s.conn.replace(c.clone()));
            Call { saved_conn: saved }
        })
    }

    /// `nbdkit_set_error`'s value in this call (0 if unset).
    pub fn error(&self) -> i32 {
        STATE.with(|s| s.borrow().error)
    }

    /// The last `nbdkit_error` message in this call.
    pub fn take_msg(&self) -> Option<String> {
        STATE.with(|s| s.borrow_mut().last_msg.take())
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.depth -= 1;
            if let Some(prev) = self.saved_conn.take() {
                s.conn = prev;
            }
            if s.depth == 0 {
                s.error = 0;
                s.last_msg = None;
                s.conn = None;
            }
        })
    }
}

/// What `nbdkit_set_error` last recorded on this thread during the
/// current call (0 if nothing).
pub fn current_error() -> i32 {
    STATE.with(|s| s.borrow().error)
}

pub fn set_error(err: i32) {
    STATE.with(|s| s.borrow_mut().error = err);
}

pub fn record_error_msg(msg: &str) {
    STATE.with(|s| s.borrow_mut().last_msg = Some(msg.to_owned()));
}

/// The connection the current callback runs for, if any.
pub fn current_conn() -> Option<Arc<Connection>> {
    STATE.with(|s| s.borrow().conn.clone())
}

/// Keep `s` alive for the current connection (or until exit outside one)
/// and return a pointer to it.
pub fn intern(s: CString) -> *const libc::c_char {
    let p = s.as_ptr();
    match current_conn() {
        Some(c) => {
            c.intern(s);
        }
        None => GLOBAL_INTERNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s),
    }
    p
}
