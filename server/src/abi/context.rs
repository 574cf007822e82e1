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

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Arc<Connection> {
        Arc::new(Connection::new(-1, false, 1))
    }

    #[test]
    fn a_call_starts_clean_and_leaves_nothing_behind() {
        set_error(libc::EIO);
        record_error_msg("stale");
        {
            let call = Call::enter(None);
            assert_eq!(call.error(), 0);
            assert_eq!(call.take_msg(), None);
            set_error(libc::ENOSPC);
            record_error_msg("disk full");
            assert_eq!(call.error(), libc::ENOSPC);
            assert_eq!(current_error(), libc::ENOSPC);
            assert_eq!(call.take_msg().as_deref(), Some("disk full"));
            assert_eq!(call.take_msg(), None, "taken once");
        }
        assert_eq!(current_error(), 0);
        assert!(current_conn().is_none());
    }

    #[test]
    fn nested_calls_keep_the_outer_connection() {
        let (a, b) = (conn(), conn());
        let outer = Call::enter(Some(&a));
        assert!(Arc::ptr_eq(&current_conn().unwrap(), &a));
        {
            // A nested call without a connection runs for the outer one.
            let _inner = Call::enter(None);
            assert!(Arc::ptr_eq(&current_conn().unwrap(), &a));
        }
        {
            // One for another connection borrows it, then gives it back.
            let _inner = Call::enter(Some(&b));
            assert!(Arc::ptr_eq(&current_conn().unwrap(), &b));
            set_error(libc::EPERM);
        }
        assert!(Arc::ptr_eq(&current_conn().unwrap(), &a));
        // The inner call's errno is still there for the outer one, as
        // nbdkit's thread-local errno would be.
        assert_eq!(outer.error(), libc::EPERM);
        drop(outer);
        assert!(current_conn().is_none());
        assert_eq!(current_error(), 0);
    }

    #[test]
    fn calls_on_other_threads_do_not_see_this_ones_state() {
        let c = conn();
        let _call = Call::enter(Some(&c));
        set_error(libc::EIO);
        std::thread::spawn(|| {
            assert!(current_conn().is_none());
            assert_eq!(current_error(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn interned_strings_outlive_the_call() {
        let c = conn();
        let p = {
            let _call = Call::enter(Some(&c));
            intern(CString::new("export-a").unwrap())
        };
        let q = intern(CString::new("global").unwrap());
        // SAFETY: both strings are kept, by the connection and until exit.
        let (a, g) = unsafe { (std::ffi::CStr::from_ptr(p), std::ffi::CStr::from_ptr(q)) };
        assert_eq!(a.to_str(), Ok("export-a"));
        assert_eq!(g.to_str(), Ok("global"));
    }
}
