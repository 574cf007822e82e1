//! Per-thread state the exported functions read: the connection a callback
//! runs for, the errno a plugin set with `nbdkit_set_error`, and the last
//! `nbdkit_error` message.  [`Call`] sets it up around every callback.

use crate::backend::ConnInfo;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex, OnceLock};

/// What a connection owns on the C side: its info, and the strings
/// `nbdkit_*_intern` handed out during it (freed when it closes).
pub struct ConnState {
    pub info: ConnInfo,
    pub export_name: CString,
    interned: Mutex<Vec<CString>>,
}

impl ConnState {
    pub fn new(info: &ConnInfo) -> Arc<ConnState> {
        let export_name = CString::new(info.export_name.replace('\0', "")).unwrap_or_default();
        Arc::new(ConnState {
            info: info.clone(),
            export_name,
            interned: Mutex::new(Vec::new()),
        })
    }
}

/// Connections seen by `preconnect`/`list_exports`/`default_export` before
/// `open`, so strings interned there live until the connection closes.
fn pending() -> &'static Mutex<HashMap<u64, Arc<ConnState>>> {
    static P: OnceLock<Mutex<HashMap<u64, Arc<ConnState>>>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The state for connection `info.id`, shared by its pre-open callbacks and
/// its handle.
pub fn conn_state(info: &ConnInfo) -> Arc<ConnState> {
    let mut p = pending().lock().unwrap_or_else(|e| e.into_inner());
    let st = p.entry(info.id).or_insert_with(|| ConnState::new(info));
    if st.info.export_name != info.export_name {
        // The export name is only known from `open` on.
        *st = ConnState::new(info);
    }
    st.clone()
}

/// The connection is done with pre-open callbacks (it opened or failed).
pub fn forget_conn(id: u64) {
    pending()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
}

/// Strings interned outside any connection: they live until exit.
static GLOBAL_INTERNED: Mutex<Vec<CString>> = Mutex::new(Vec::new());

#[derive(Default)]
struct ThreadState {
    conn: Option<Arc<ConnState>>,
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
    saved_conn: Option<Option<Arc<ConnState>>>,
}

impl Call {
    pub fn enter(conn: Option<&Arc<ConnState>>) -> Call {
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

pub fn set_error(err: i32) {
    STATE.with(|s| s.borrow_mut().error = err);
}

pub fn record_error_msg(msg: &str) {
    STATE.with(|s| s.borrow_mut().last_msg = Some(msg.to_owned()));
}

/// The connection the current callback runs for, if any.
pub fn current_conn() -> Option<Arc<ConnState>> {
    STATE.with(|s| s.borrow().conn.clone())
}

/// Keep `s` alive for the current connection (or until exit outside one)
/// and return a pointer to it.
pub fn intern(s: CString) -> *const libc::c_char {
    let p = s.as_ptr();
    match current_conn() {
        Some(c) => c.interned.lock().unwrap_or_else(|e| e.into_inner()).push(s),
        None => GLOBAL_INTERNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s),
    }
    p
}
