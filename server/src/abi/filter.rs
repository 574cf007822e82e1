//! Loads a C filter `.so` (nbdkit-filter(3)) and adapts it to the backend's
//! [`Filter`] and [`Handle`] traits, as nbdkit's `filters.c` does.
//!
//! What C sees of the server's objects:
//! - `nbdkit_backend *` is a [`Below`] of the stack: the layer under the
//!   filter, stable from `after_fork` to `cleanup` (during `config` and
//!   `config_complete` it is instead the borrowed rest of the stack, as
//!   those calls cannot keep it);
//! - `nbdkit_context *` is the filter's own per-connection [`FilterCtx`]
//!   (from `open` to `close`): it holds the context below, which
//!   `nbdkit_context_set_next` swaps;
//! - `nbdkit_next *` is a [`NextBox`]: the table of `next->...` functions
//!   followed by the layer-below [`Context`] they call, so `next->pread
//!   (next, ...)` reaches the context's checks, caches and debug lines.
//!
//! Callbacks a filter leaves out pass the call straight to the context
//! below, in Rust.  A filter adds no lock and no copy of its own: data
//! buffers are handed down as they are.

use super::bindings::{
    nbdkit_backend, nbdkit_context, nbdkit_filter, nbdkit_next_ops, NBDKIT_FILTER_API_VERSION,
};
use super::context::{self, Call};
use super::exports::{self, Exports};
use super::opaque::{nbdkit_exports, nbdkit_extents, OpaqueBackend, OpaqueContext, OpaqueNext};
use super::plugin::{open_library, opt_str, set_debug_flags};
use crate::backend::filter::Lower;
use crate::backend::{
    Below, BlockSize, Connection, Context, Error, ExportList, Extents, Filter, Flags, Handle,
    Result, Support, ThreadModel,
};
use crate::debug_flag::DebugFlag;
use crate::fatal::Fatal;
use libc::{c_char, c_int, c_void};
use std::ffi::{CStr, CString};
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

/// The loaded filter, shared by its handles.
struct Lib {
    /// The filter's struct, in this server's layout (converted from the
    /// layout of the release the filter was built for).
    f: nbdkit_filter,
    /// The `.thread_model` of a filter built before 1.44, which takes no
    /// argument (`f.thread_model` is then None).
    old_thread_model: Option<unsafe extern "C" fn() -> c_int>,
    name: String,
}

/// The shape of `struct nbdkit_filter` in the releases whose filters this
/// server loads.  The struct only grew at one place: 1.36 added
/// `.dump_plugin` after `.thread_model`, and 1.44 gave `.thread_model` the
/// layers below's model as an argument.  A development release (odd
/// minor) is taken as the stable release before it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// 1.32 and 1.34: no `.dump_plugin`.
    V1_32,
    /// 1.36 to 1.42: `.dump_plugin`, `.thread_model (void)`.
    V1_36,
    /// 1.44: `.thread_model (int next_thread_model)`.
    V1_44,
}

impl Layout {
    /// The layout of a filter whose `_version` is `v`, None outside
    /// 1.32.0 to 1.44.x.
    fn of(v: &str) -> Option<Layout> {
        let mut parts = v.split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        let micro = parts.next()?;
        if major != 1 || parts.next().is_some() || micro.is_empty() || micro.parse::<u32>().is_err()
        {
            return None;
        }
        match minor {
            32..=35 => Some(Layout::V1_32),
            36..=43 => Some(Layout::V1_36),
            44 => Some(Layout::V1_44),
            _ => None,
        }
    }

    /// Copy the filter's struct at `p` into this server's layout.
    ///
    /// # Safety
    /// `p` points at a `struct nbdkit_filter` laid out as `self` says.
    unsafe fn read(
        self,
        p: *const nbdkit_filter,
    ) -> (nbdkit_filter, Option<unsafe extern "C" fn() -> c_int>) {
        if self == Layout::V1_44 {
            // SAFETY: the very layout of this server.
            return (unsafe { *p }, None);
        }
        let mut f = std::mem::MaybeUninit::<nbdkit_filter>::zeroed();
        let dump = std::mem::offset_of!(nbdkit_filter, dump_plugin);
        let after = std::mem::offset_of!(nbdkit_filter, get_ready);
        let size = std::mem::size_of::<nbdkit_filter>();
        let (src, dst) = (p as *const u8, f.as_mut_ptr() as *mut u8);
        // SAFETY: the older struct is this one without `.dump_plugin` (if
        // before 1.36): the members before it, then those from
        // `.get_ready` on, one pointer earlier.  `dst` is zeroed first, and
        // all-zero bytes are a valid nbdkit_filter (NULL pointers, None).
        let mut f = unsafe {
            if self == Layout::V1_32 {
                std::ptr::copy_nonoverlapping(src, dst, dump);
                std::ptr::copy_nonoverlapping(src.add(dump), dst.add(after), size - after);
            } else {
                std::ptr::copy_nonoverlapping(src, dst, size);
            }
            f.assume_init()
        };
        // SAFETY: before 1.44 `.thread_model` is `int (*) (void)`; the
        // pointer is only called as that type.
        let old = f
            .thread_model
            .take()
            .map(|t| unsafe { std::mem::transmute::<_, unsafe extern "C" fn() -> c_int>(t) });
        (f, old)
    }
}

// SAFETY: the struct only holds pointers to the filter's static strings and
// functions; the server serialises calls as the thread model asks.
unsafe impl Send for Lib {}
// SAFETY: as above.
unsafe impl Sync for Lib {}

/// The errno of a failed call: what the filter reported with
/// `nbdkit_set_error` (or a layer below it did), else `errno`, else EIO.
fn fail(call: &Call, saved_errno: i32) -> Error {
    let errno = match call.error() {
        0 if saved_errno != 0 => saved_errno,
        0 => libc::EIO,
        e => e,
    };
    // The filter logs its own failures (nbdkit adds nothing).
    Error::reported(errno, None)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn clear_errno() {
    // SAFETY: errno of this thread.
    unsafe { *libc::__errno_location() = 0 };
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

pub struct CFilter {
    lib: Arc<Lib>,
    path: String,
    version: Option<String>,
    longname: Option<String>,
    description: Option<String>,
    config_help: Option<String>,
    /// Keys and values given to `.config`, which filters may keep.
    config_strings: Vec<CString>,
}

/// Load the filter at `path` as nbdkit does: dlopen, `filter_init`, check
/// that it was built for this very server version, copy the struct, apply
/// `-D` flags, call `.load`.  The `Err` is nbdkit's message after its
/// `nbdkit: ` prefix.
pub fn load(
    path: &Path,
    name: &str,
    debug: &[DebugFlag],
) -> std::result::Result<Box<dyn Filter>, Fatal> {
    let shown = path.display().to_string();
    let (dl, ptr) = open_library(path, "filter", name)?;
    // Once it opened, as nbdkit says it.
    log::debug!("registering filter {shown}");
    let ptr = ptr as *const nbdkit_filter;
    // SAFETY: _api_version and _version lead the struct in every filter
    // API version that has them (5 and later); older ones fail the check.
    let (api, version) = unsafe { ((*ptr)._api_version, (*ptr)._version) };
    if api != NBDKIT_FILTER_API_VERSION as c_int {
        return Err(Fatal::plain(format!(
            "{shown}: filter is incompatible with this version of nbdkit (_api_version = {api}, need {NBDKIT_FILTER_API_VERSION})"
        )));
    }
    let layout = opt_str(version).as_deref().and_then(Layout::of);
    let (Some(layout), Some(version)) = (layout, opt_str(version)) else {
        let shown_version = opt_str(version).unwrap_or_else(|| "<null>".into());
        return Err(Fatal::plain(format!(
            "{shown}: filter is incompatible with this version of nbdkit (_version = {shown_version}, need {})",
            crate::version::VERSION
        )));
    };
    // SAFETY: the filter's struct has the layout of the release its
    // _version names (checked above).
    let (f, old_thread_model) = unsafe { layout.read(ptr) };
    let Some(fname) = opt_str(f.name) else {
        return Err(Fatal::plain(format!(
            "{shown}: filter must have a .name field"
        )));
    };
    if fname.is_empty() {
        return Err(Fatal::plain(format!(
            "{shown}: filter.name field must not be empty"
        )));
    }
    let valid = fname
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_alphanumeric() || (b == b'-' && i > 0));
    if !valid {
        return Err(Fatal::plain(format!(
            "{shown}: filter.name ('{fname}') field must contain only ASCII alphanumeric or dash characters"
        )));
    }
    log::debug!("registered filter {shown} (name {fname})");
    set_debug_flags(dl, &fname, debug)?;
    log::debug!("{fname}: load");
    if let Some(load) = f.load {
        let _c = Call::enter(None);
        // SAFETY: the filter's load callback.
        unsafe { load() };
    }
    Ok(Box::new(CFilter {
        path: shown,
        version: Some(version),
        longname: opt_str(f.longname),
        description: opt_str(f.description),
        config_help: opt_str(f.config_help),
        config_strings: Vec::new(),
        lib: Arc::new(Lib {
            f,
            old_thread_model,
            name: fname,
        }),
    }))
}

impl Drop for CFilter {
    fn drop(&mut self) {
        log::debug!("{}: unload filter", self.lib.name);
        if let Some(f) = self.lib.f.unload {
            let _c = Call::enter(None);
            // SAFETY: the filter's unload callback, once, last.
            unsafe { f() };
        }
    }
}

/// Run `f` (returning a C int) under a fresh per-thread context and map -1
/// to an error.
fn call_int(conn: Option<&Arc<Connection>>, f: impl FnOnce() -> c_int) -> Result<c_int> {
    let call = Call::enter(conn);
    clear_errno();
    let r = f();
    let saved = errno();
    if r == -1 {
        Err(fail(&call, saved))
    } else {
        Ok(r)
    }
}

// ---- configuration: `next` is the rest of the stack, borrowed ----

type ConfigNext<'a> = &'a mut dyn FnMut(&str, &std::ffi::OsStr) -> Result<()>;
type CompleteNext<'a> = &'a mut dyn FnMut() -> Result<()>;

/// Report a Rust-side failure to the C caller as nbdkit's next functions
/// do: the message was logged, the errno is kept for the caller.
fn c_fail(e: &Error) -> c_int {
    if let Some(t) = e.unreported() {
        exports::error(t);
    }
    context::set_error(e.errno);
    // SAFETY: errno of this thread.
    unsafe { *libc::__errno_location() = e.errno };
    -1
}

/// # Safety
/// The strings are NULL or NUL-terminated.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// # Safety
/// The string is NULL or NUL-terminated.
unsafe fn bytes(p: *const c_char) -> Vec<u8> {
    if p.is_null() {
        return Vec::new();
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()
}

unsafe extern "C" fn next_config(
    nx: *mut nbdkit_backend,
    k: *const c_char,
    v: *const c_char,
) -> c_int {
    // SAFETY: nx is the `ConfigNext` the adapter passed to .config, alive
    // for the duration of that call, which this call is part of.
    let next = unsafe { &mut *(nx as *mut ConfigNext) };
    // SAFETY: the filter passes strings.
    let k = unsafe { text(k) };
    let v: &[u8] = if v.is_null() {
        b""
    } else {
        // SAFETY: the filter passes a NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes()
    };
    use std::os::unix::ffi::OsStrExt;
    match next(&k, std::ffi::OsStr::from_bytes(v)) {
        Ok(()) => 0,
        Err(e) => c_fail(&e),
    }
}

unsafe extern "C" fn next_config_complete(nx: *mut nbdkit_backend) -> c_int {
    // SAFETY: as in next_config.
    let next = unsafe { &mut *(nx as *mut CompleteNext) };
    match next() {
        Ok(()) => 0,
        Err(e) => c_fail(&e),
    }
}

// ---- connection set-up: `next` is the layer below, a `Below` ----

fn backend_ptr(below: &Below) -> *mut nbdkit_backend {
    below as *const Below as *mut nbdkit_backend
}

/// # Safety
/// `nx` is a pointer [`backend_ptr`] made; the stack outlives the calls a
/// filter makes with it (from `after_fork` to `cleanup`).
unsafe fn below<'a>(nx: *mut nbdkit_backend) -> &'a Below {
    // SAFETY: the caller's contract.
    unsafe { &*(nx as *const Below) }
}

/// The connection the current callback runs for: the one set-up calls a
/// filter passes down belong to.
fn this_conn() -> Result<Arc<Connection>> {
    context::current_conn().ok_or_else(|| Error::einval("no connection in this thread"))
}

unsafe extern "C" fn next_preconnect(nx: *mut nbdkit_backend, readonly: c_int) -> c_int {
    // SAFETY: nx is the Below the adapter passed to .preconnect.
    let b = unsafe { below(nx) };
    match this_conn().and_then(|c| b.preconnect(&c, readonly != 0)) {
        Ok(()) => 0,
        Err(e) => c_fail(&e),
    }
}

unsafe extern "C" fn next_list_exports(
    nx: *mut nbdkit_backend,
    readonly: c_int,
    list: *mut nbdkit_exports,
) -> c_int {
    // SAFETY: nx is the Below the adapter passed to .list_exports.
    let b = unsafe { below(nx) };
    match this_conn().and_then(|c| b.list_exports(&c, readonly != 0)) {
        Ok(entries) => {
            // SAFETY: list is an `Exports` the server made
            // (nbdkit_exports_new or the adapter's own).
            unsafe { &mut *(list as *mut Exports) }.extend(entries);
            0
        }
        Err(e) => c_fail(&e),
    }
}

unsafe extern "C" fn next_default_export(
    nx: *mut nbdkit_backend,
    readonly: c_int,
) -> *const c_char {
    // SAFETY: nx is the Below the adapter passed to .default_export.
    let b = unsafe { below(nx) };
    let conn = match this_conn() {
        Ok(c) => c,
        Err(e) => {
            c_fail(&e);
            return std::ptr::null();
        }
    };
    match b.default_export(&conn, readonly != 0) {
        Ok(Some(name)) => conn.intern(cstring(&name)),
        Ok(None) => std::ptr::null(),
        Err(e) => {
            c_fail(&e);
            std::ptr::null()
        }
    }
}

/// What `nbdkit_next *` points at: the function table, then the context
/// below that the functions call.
#[repr(C)]
pub struct NextBox {
    ops: nbdkit_next_ops,
    ctx: Context,
}

impl NextBox {
    fn new(ctx: Context) -> *mut NextBox {
        Box::into_raw(Box::new(NextBox { ops: NEXT_OPS, ctx }))
    }
}

/// A filter's per-connection context (what `nbdkit_context *` points at):
/// the layer below as a whole, and the context below in use.
pub struct FilterCtx {
    /// Keeps the links below valid for as long as this context lives.
    stack: Arc<dyn Lower>,
    /// Which layer is below.
    below: usize,
    conn: Arc<Connection>,
    /// Owned: closed with this context unless the filter takes it back
    /// with `nbdkit_context_set_next`.
    next: AtomicPtr<NextBox>,
}

impl FilterCtx {
    fn below(&self) -> &Below {
        self.stack.link(self.below)
    }
}

impl Drop for FilterCtx {
    fn drop(&mut self) {
        let p = self.next.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: p came from NextBox::new and is owned by this context.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

unsafe extern "C" fn next_open(
    c: *mut nbdkit_context,
    readonly: c_int,
    name: *const c_char,
) -> c_int {
    // SAFETY: c is the FilterCtx the adapter passed to .open (alive until
    // the handle it becomes part of is dropped).
    let fctx = unsafe { &*(c as *const FilterCtx) };
    // SAFETY: the filter passes a string (an export name: bytes).
    let name = unsafe { bytes(name) };
    match fctx.below().open(&fctx.conn, readonly != 0, &name) {
        Ok(ctx) => {
            let old = fctx.next.swap(NextBox::new(ctx), Ordering::AcqRel);
            if !old.is_null() {
                // SAFETY: owned by the context, replaced here.
                drop(unsafe { Box::from_raw(old) });
            }
            0
        }
        Err(e) => c_fail(&e),
    }
}

impl Filter for CFilter {
    fn name(&self) -> &str {
        &self.lib.name
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn longname(&self) -> Option<&str> {
        self.longname.as_deref()
    }
    fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    fn dump_plugin(&self) {
        log::debug!("{}: dump_plugin", self.lib.name);
        if let Some(f) = self.lib.f.dump_plugin {
            let _c = Call::enter(None);
            // SAFETY: the filter's dump_plugin callback; it prints to
            // stdout (our lines were flushed before), through C's stdio.
            unsafe {
                f();
                libc::fflush(std::ptr::null_mut());
            }
        }
    }
    fn config_help(&self) -> Option<&str> {
        self.config_help.as_deref()
    }
    fn reads_pass_through(&self) -> bool {
        // Without these callbacks nbdkit (and our adapter) calls the layer
        // below directly.
        self.lib.f.pread.is_none() && self.lib.f.extents.is_none()
    }
    fn config(&mut self, next: ConfigNext, key: &str, value: &std::ffi::OsStr) -> Result<()> {
        let Some(f) = self.lib.f.config else {
            return next(key, value);
        };
        use std::os::unix::ffi::OsStrExt;
        let v = CString::new(value.as_bytes()).map_err(|_| Error::einval("value contains NUL"))?;
        let k = cstring(key);
        let (kp, vp) = (k.as_ptr(), v.as_ptr());
        self.config_strings.push(k);
        self.config_strings.push(v);
        let mut next = next;
        let nx = &mut next as *mut ConfigNext as *mut nbdkit_backend;
        // SAFETY: the filter's config callback, with strings that live as
        // long as the filter and a next that lives for the call.
        call_int(None, || unsafe { f(Some(next_config), nx, kp, vp) }).map(|_| ())
    }
    fn config_complete(&mut self, next: CompleteNext) -> Result<()> {
        let Some(f) = self.lib.f.config_complete else {
            return next();
        };
        let mut next = next;
        let nx = &mut next as *mut CompleteNext as *mut nbdkit_backend;
        // SAFETY: the filter's config_complete callback; next lives for it.
        call_int(None, || unsafe { f(Some(next_config_complete), nx) }).map(|_| ())
    }
    fn thread_model(&self, next: ThreadModel) -> Result<ThreadModel> {
        let r = match (self.lib.f.thread_model, self.lib.old_thread_model) {
            // SAFETY: the filter's thread_model callback (1.44 and later).
            (Some(f), _) => call_int(None, || unsafe { f(next as c_int) })?,
            // SAFETY: the filter's thread_model callback (before 1.44).
            (None, Some(f)) => call_int(None, || unsafe { f() })?,
            (None, None) => return Ok(ThreadModel::Parallel),
        };
        // A model looser than any is taken as parallel (the plugin's
        // narrows it anyway); nonsense below zero is an error.
        ThreadModel::from_c(r.min(3))
            .ok_or_else(|| Error::einval(format!("{}: invalid thread model ({r})", self.lib.name)))
    }
    fn get_ready(&mut self, model: ThreadModel) -> Result<()> {
        let Some(f) = self.lib.f.get_ready else {
            return Ok(());
        };
        // SAFETY: the filter's get_ready callback.
        call_int(None, || unsafe { f(model as c_int) }).map(|_| ())
    }
    fn after_fork(&self, below: &Below) -> Result<()> {
        let Some(f) = self.lib.f.after_fork else {
            return Ok(());
        };
        // SAFETY: the filter's after_fork callback; the backend pointer is
        // valid until cleanup.
        call_int(None, || unsafe { f(backend_ptr(below)) }).map(|_| ())
    }
    fn cleanup(&self, below: &Below) {
        if let Some(f) = self.lib.f.cleanup {
            let _c = Call::enter(None);
            // SAFETY: the filter's cleanup callback.
            unsafe { f(backend_ptr(below)) };
        }
    }
    fn preconnect(&self, below: &Below, conn: &Arc<Connection>, readonly: bool) -> Result<()> {
        let Some(f) = self.lib.f.preconnect else {
            return below.preconnect(conn, readonly);
        };
        // SAFETY: the filter's preconnect callback.
        call_int(Some(conn), || unsafe {
            f(Some(next_preconnect), backend_ptr(below), readonly as c_int)
        })
        .map(|_| ())
    }
    fn list_exports(
        &self,
        below: &Below,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<ExportList> {
        let Some(f) = self.lib.f.list_exports else {
            return Ok(ExportList {
                entries: below.list_exports(conn, readonly)?,
                use_default: false,
            });
        };
        let mut list = Exports::default();
        let lp = &mut list as *mut Exports as *mut nbdkit_exports;
        // SAFETY: the filter's list_exports callback, filling our list.
        call_int(Some(conn), || unsafe {
            f(
                Some(next_list_exports),
                backend_ptr(below),
                readonly as c_int,
                conn.is_tls() as c_int,
                lp,
            )
        })?;
        Ok(list.into_list())
    }
    fn default_export(
        &self,
        below: &Below,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<Option<String>> {
        let Some(f) = self.lib.f.default_export else {
            return below.default_export(conn, readonly);
        };
        let call = Call::enter(Some(conn));
        // SAFETY: the filter's default_export callback.
        let r = unsafe {
            f(
                Some(next_default_export),
                backend_ptr(below),
                readonly as c_int,
                conn.is_tls() as c_int,
            )
        };
        drop(call);
        // NULL (with or without an error message) is "no default export":
        // opening "" then fails, as in nbdkit.
        Ok(opt_str(r))
    }
    fn open(
        &self,
        below: &Below,
        conn: &Arc<Connection>,
        readonly: bool,
        export_name: &[u8],
    ) -> Result<Box<dyn Handle>> {
        let stack = below.stack()?;
        let fctx = Box::new(FilterCtx {
            stack,
            below: below.index(),
            conn: conn.clone(),
            next: AtomicPtr::new(std::ptr::null_mut()),
        });
        let cp = &*fctx as *const FilterCtx as *mut nbdkit_context;
        // The protocol refuses names with NUL bytes.
        let name = CString::new(export_name).unwrap_or_default();
        let h = match self.lib.f.open {
            Some(f) => {
                let call = Call::enter(Some(conn));
                clear_errno();
                // SAFETY: the filter's open callback; the context pointer
                // stays valid until the handle is dropped (or below, on
                // failure), the name for the call.
                let h = unsafe {
                    f(
                        Some(next_open),
                        cp,
                        readonly as c_int,
                        name.as_ptr(),
                        conn.is_tls() as c_int,
                    )
                };
                if h.is_null() {
                    // Dropping the context closes what the filter opened.
                    return Err(fail(&call, errno()));
                }
                h
            }
            None => {
                let _call = Call::enter(Some(conn));
                // SAFETY: cp is the live context above.
                if unsafe { next_open(cp, readonly as c_int, name.as_ptr()) } == -1 {
                    return Err(Error::reported(context_errno(), None));
                }
                // nbdkit's NBDKIT_HANDLE_NOT_NEEDED: any non-NULL pointer.
                cp as *mut c_void
            }
        };
        Ok(Box::new(FilterHandle {
            lib: self.lib.clone(),
            h,
            fctx,
        }))
    }
}

/// The errno the last failed next-call left for this thread.
fn context_errno() -> i32 {
    match context::current_error() {
        0 => libc::EIO,
        e => e,
    }
}

/// A filter's per-connection part.
pub struct FilterHandle {
    lib: Arc<Lib>,
    /// The filter's handle (`.open`'s answer).
    h: *mut c_void,
    fctx: Box<FilterCtx>,
}

// SAFETY: the handle is the filter's; the server serialises calls on it as
// the thread model requires, and the context below is Send + Sync.
unsafe impl Send for FilterHandle {}
// SAFETY: as above.
unsafe impl Sync for FilterHandle {}

type NextFn<T> = unsafe extern "C" fn(*mut nbdkit_next_ops, *mut c_void) -> T;

impl FilterHandle {
    fn f(&self) -> &nbdkit_filter {
        &self.lib.f
    }
    fn next_ptr(&self) -> *mut nbdkit_next_ops {
        self.fctx.next.load(Ordering::Acquire) as *mut nbdkit_next_ops
    }
    /// The context below, for calls the filter does not intercept.
    fn below(&self) -> Result<&Context> {
        let p = self.fctx.next.load(Ordering::Acquire);
        if p.is_null() {
            return Err(Error::eio(format!(
                "{}: the filter did not open the layer below",
                self.lib.name
            )));
        }
        // SAFETY: the context below stays open until the filter replaces
        // it (nbdkit_context_set_next) or this handle closes; a filter that
        // closes a context while it still serves requests breaks its own
        // contract (nbdkit-filter(3)).
        Ok(unsafe { &(*p).ctx })
    }
    fn call(&self, f: impl FnOnce(*mut nbdkit_next_ops, *mut c_void) -> c_int) -> Result<c_int> {
        let (nx, h) = (self.next_ptr(), self.h);
        call_int(Some(&self.fctx.conn), || f(nx, h))
    }
    fn query(&self, f: NextFn<c_int>) -> Result<c_int> {
        // SAFETY: a filter callback taking (next, handle).
        self.call(|nx, h| unsafe { f(nx, h) })
    }
    /// A data callback: -1 with the error in `*err`.
    fn data(
        &self,
        f: impl FnOnce(*mut nbdkit_next_ops, *mut c_void, *mut c_int) -> c_int,
    ) -> Result<()> {
        let (nx, h) = (self.next_ptr(), self.h);
        let mut err: c_int = 0;
        let _call = Call::enter(Some(&self.fctx.conn));
        if f(nx, h, &mut err) == -1 {
            let errno = if err > 0 { err } else { libc::EIO };
            return Err(Error::reported(errno, None));
        }
        Ok(())
    }
}

fn count32(count: u64) -> Result<u32> {
    u32::try_from(count).map_err(|_| Error::einval(format!("count {count} is too large")))
}

impl Drop for FilterHandle {
    fn drop(&mut self) {
        if let Some(f) = self.f().close {
            let _c = Call::enter(Some(&self.fctx.conn));
            // SAFETY: the filter's close callback, once, for this handle.
            unsafe { f(self.h) };
        }
        // The context below closes when fctx drops, after this.
    }
}

/// The `can_*`-style answers of a C filter handle: the filter's callback
/// when it has one, else the layer below's answer.
macro_rules! answer_or_below {
    ($($name:ident -> $ty:ty, $conv:expr;)*) => {$(
        fn $name(&self) -> Result<$ty> {
            match self.f().$name {
                Some(f) => self.query(f).map($conv),
                None => self.below()?.$name(),
            }
        }
    )*};
}

fn yes_no(r: i32) -> bool {
    r != 0
}

impl Handle for FilterHandle {
    fn debug_address(&self) -> *const () {
        self.h as *const ()
    }
    fn prepare_below(&self) -> Result<()> {
        match self.fctx.next.load(Ordering::Acquire) {
            p if p.is_null() => Ok(()),
            // SAFETY: the context below, owned by this handle.
            p => unsafe { &(*p).ctx }.prepare(),
        }
    }
    fn prepare(&self, readonly: bool) -> Result<()> {
        match self.f().prepare {
            // SAFETY: the filter's prepare callback.
            Some(f) => self
                .call(|nx, h| unsafe { f(nx, h, readonly as c_int) })
                .map(|_| ()),
            None => Ok(()),
        }
    }
    fn finalize(&self) -> Result<()> {
        match self.f().finalize {
            Some(f) => self.query(f).map(|_| ()),
            None => Ok(()),
        }
    }
    fn finalize_below(&self) -> Result<()> {
        match self.fctx.next.load(Ordering::Acquire) {
            p if p.is_null() => Ok(()),
            // SAFETY: the context below, owned by this handle.
            p => unsafe { &(*p).ctx }.finalize(),
        }
    }
    fn export_description(&self) -> Result<Option<String>> {
        let Some(f) = self.f().export_description else {
            return self.below()?.export_description();
        };
        let call = Call::enter(Some(&self.fctx.conn));
        // SAFETY: the filter's export_description callback.
        let r = unsafe { f(self.next_ptr(), self.h) };
        if r.is_null() {
            return match call.take_msg() {
                Some(_) => Err(fail(&call, 0)),
                None => Ok(None),
            };
        }
        Ok(opt_str(r))
    }
    fn get_size(&self) -> Result<u64> {
        let Some(f) = self.f().get_size else {
            return self.below()?.get_size();
        };
        let call = Call::enter(Some(&self.fctx.conn));
        clear_errno();
        // SAFETY: the filter's get_size callback.
        let r = unsafe { f(self.next_ptr(), self.h) };
        if r < 0 {
            if r < -1 {
                exports::error(&format!(
                    "{}: .get_size function returned invalid value ({r})",
                    self.lib.name
                ));
                return Err(Error::reported(libc::EIO, None));
            }
            return Err(fail(&call, errno()));
        }
        Ok(r as u64)
    }
    fn block_size(&self) -> Result<Option<BlockSize>> {
        let Some(f) = self.f().block_size else {
            return self.below()?.block_size();
        };
        let (mut min, mut pref, mut max) = (0u32, 0u32, 0u32);
        // SAFETY: the filter writes three u32s.
        self.call(|nx, h| unsafe { f(nx, h, &mut min, &mut pref, &mut max) })?;
        if min == 0 && pref == 0 && max == 0 {
            return Ok(None);
        }
        Ok(Some(BlockSize {
            minimum: min,
            preferred: pref,
            maximum: max,
        }))
    }
    // A callback the filter has is asked (answers converted as nbdkit
    // does); one it lacks passes the question to the layer below.
    answer_or_below! {
        can_write -> bool, yes_no;
        can_flush -> bool, yes_no;
        is_rotational -> bool, yes_no;
        can_trim -> bool, yes_no;
        can_zero -> Support, Support::from_c;
        can_fast_zero -> bool, yes_no;
        can_fua -> Support, Support::from_c;
        can_multi_conn -> bool, yes_no;
        can_cache -> Support, Support::from_c;
        can_extents -> bool, yes_no;
    }

    fn pread(&self, buf: &mut [u8], offset: u64, flags: Flags) -> Result<()> {
        let Some(f) = self.f().pread else {
            return self.below()?.pread(buf, offset, flags);
        };
        let n = count32(buf.len() as u64)?;
        let p = buf.as_mut_ptr() as *mut c_void;
        // SAFETY: the filter writes n bytes at p.
        self.data(|nx, h, err| unsafe { f(nx, h, p, n, offset, flags.0, err) })
    }
    fn pwrite(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        let Some(f) = self.f().pwrite else {
            return self.below()?.pwrite(buf, offset, flags);
        };
        let n = count32(buf.len() as u64)?;
        let p = buf.as_ptr() as *const c_void;
        // SAFETY: the filter reads n bytes at p.
        self.data(|nx, h, err| unsafe { f(nx, h, p, n, offset, flags.0, err) })
    }
    fn flush(&self, flags: Flags) -> Result<()> {
        let Some(f) = self.f().flush else {
            return self.below()?.flush(flags);
        };
        // SAFETY: the filter's flush callback.
        self.data(|nx, h, err| unsafe { f(nx, h, flags.0, err) })
    }
    fn trim(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        let Some(f) = self.f().trim else {
            return self.below()?.trim(count, offset, flags);
        };
        let n = count32(count)?;
        // SAFETY: the filter's trim callback.
        self.data(|nx, h, err| unsafe { f(nx, h, n, offset, flags.0, err) })
    }
    fn zero(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        let Some(f) = self.f().zero else {
            return self.below()?.zero(count, offset, flags);
        };
        let n = count32(count)?;
        // SAFETY: the filter's zero callback.
        self.data(|nx, h, err| unsafe { f(nx, h, n, offset, flags.0, err) })
    }
    fn cache(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        let Some(f) = self.f().cache else {
            return self.below()?.cache(count, offset, flags);
        };
        let n = count32(count)?;
        // SAFETY: the filter's cache callback.
        self.data(|nx, h, err| unsafe { f(nx, h, n, offset, flags.0, err) })
    }
    fn extents(&self, count: u64, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        let Some(f) = self.f().extents else {
            return self.below()?.extents(count, offset, flags, extents);
        };
        let n = count32(count)?;
        let ep = extents as *mut Extents as *mut nbdkit_extents;
        // SAFETY: the filter fills the list through nbdkit_add_extent.
        self.data(|nx, h, err| unsafe { f(nx, h, n, offset, flags.0, ep, err) })
    }
}

// ---- the `next->...` table ----

/// # Safety
/// `nx` is a `nbdkit_next *` the server handed out and has not been closed.
unsafe fn ctx<'a>(nx: *mut nbdkit_next_ops) -> &'a Context {
    // SAFETY: the caller's contract; NextBox starts with the table.
    unsafe { &(*(nx as *mut NextBox)).ctx }
}

/// Map a query's answer to C: the value, or -1 with the error kept.
fn c_int_of<T>(r: Result<T>, f: impl FnOnce(T) -> c_int) -> c_int {
    match r {
        Ok(v) => f(v),
        Err(e) => c_fail(&e),
    }
}

/// Map a data call's result to C: 0, or -1 with `*err` set.
///
/// # Safety
/// `err` is NULL or points to the caller's int.
unsafe fn c_data(r: Result<()>, err: *mut c_int) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => {
            if let Some(t) = e.unreported() {
                exports::error(t);
            }
            if !err.is_null() {
                // SAFETY: the caller's contract.
                unsafe { *err = e.errno };
            }
            -1
        }
    }
}

unsafe extern "C" fn nx_prepare(nx: *mut nbdkit_next_ops) -> c_int {
    // SAFETY: nx is a live next context.
    c_int_of(unsafe { ctx(nx) }.prepare(), |_| 0)
}
unsafe extern "C" fn nx_finalize(nx: *mut nbdkit_next_ops) -> c_int {
    // SAFETY: nx is a live next context.
    c_int_of(unsafe { ctx(nx) }.finalize(), |_| 0)
}
unsafe extern "C" fn nx_get_size(nx: *mut nbdkit_next_ops) -> i64 {
    // SAFETY: nx is a live next context.
    match unsafe { ctx(nx) }.get_size() {
        Ok(s) => s as i64,
        Err(e) => c_fail(&e) as i64,
    }
}
unsafe extern "C" fn nx_export_description(nx: *mut nbdkit_next_ops) -> *const c_char {
    // SAFETY: nx is a live next context.
    match unsafe { ctx(nx) }.export_description() {
        Ok(Some(d)) => context::intern(cstring(&d)),
        Ok(None) => std::ptr::null(),
        Err(e) => {
            c_fail(&e);
            std::ptr::null()
        }
    }
}
unsafe extern "C" fn nx_block_size(
    nx: *mut nbdkit_next_ops,
    min: *mut u32,
    pref: *mut u32,
    max: *mut u32,
) -> c_int {
    // SAFETY: nx is a live next context.
    c_int_of(unsafe { ctx(nx) }.block_size(), |b| {
        let b = b.unwrap_or(BlockSize {
            minimum: 0,
            preferred: 0,
            maximum: 0,
        });
        // SAFETY: the filter passes three u32s to fill.
        unsafe {
            *min = b.minimum;
            *pref = b.preferred;
            *max = b.maximum;
        }
        0
    })
}

macro_rules! next_bool {
    ($($name:ident => $method:ident),* $(,)?) => {$(
        unsafe extern "C" fn $name(nx: *mut nbdkit_next_ops) -> c_int {
            // SAFETY: nx is a live next context.
            c_int_of(unsafe { ctx(nx) }.$method(), |b| b as c_int)
        }
    )*};
}
next_bool! {
    nx_can_write => can_write,
    nx_can_flush => can_flush,
    nx_is_rotational => is_rotational,
    nx_can_trim => can_trim,
    nx_can_fast_zero => can_fast_zero,
    nx_can_extents => can_extents,
    nx_can_multi_conn => can_multi_conn,
}
unsafe extern "C" fn nx_can_zero(nx: *mut nbdkit_next_ops) -> c_int {
    // SAFETY: nx is a live next context.
    c_int_of(unsafe { ctx(nx) }.can_zero(), |s| s as c_int)
}
unsafe extern "C" fn nx_can_fua(nx: *mut nbdkit_next_ops) -> c_int {
    // SAFETY: nx is a live next context.
    c_int_of(unsafe { ctx(nx) }.can_fua(), |s| s as c_int)
}
unsafe extern "C" fn nx_can_cache(nx: *mut nbdkit_next_ops) -> c_int {
    // SAFETY: nx is a live next context.
    c_int_of(unsafe { ctx(nx) }.can_cache(), |s| s as c_int)
}

unsafe extern "C" fn nx_pread(
    nx: *mut nbdkit_next_ops,
    buf: *mut c_void,
    count: u32,
    offset: u64,
    flags: u32,
    err: *mut c_int,
) -> c_int {
    // SAFETY: the filter passes a buffer of count bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, count as usize) };
    // SAFETY: nx is a live next context; err the filter's int.
    unsafe { c_data(ctx(nx).pread(buf, offset, Flags(flags)), err) }
}
unsafe extern "C" fn nx_pwrite(
    nx: *mut nbdkit_next_ops,
    buf: *const c_void,
    count: u32,
    offset: u64,
    flags: u32,
    err: *mut c_int,
) -> c_int {
    // SAFETY: the filter passes a buffer of count bytes.
    let buf = unsafe { std::slice::from_raw_parts(buf as *const u8, count as usize) };
    // SAFETY: nx is a live next context; err the filter's int.
    unsafe { c_data(ctx(nx).pwrite(buf, offset, Flags(flags)), err) }
}
unsafe extern "C" fn nx_flush(nx: *mut nbdkit_next_ops, flags: u32, err: *mut c_int) -> c_int {
    // SAFETY: nx is a live next context; err the filter's int.
    unsafe { c_data(ctx(nx).flush(Flags(flags)), err) }
}
unsafe extern "C" fn nx_trim(
    nx: *mut nbdkit_next_ops,
    count: u32,
    offset: u64,
    flags: u32,
    err: *mut c_int,
) -> c_int {
    // SAFETY: nx is a live next context; err the filter's int.
    unsafe { c_data(ctx(nx).trim(count.into(), offset, Flags(flags)), err) }
}
unsafe extern "C" fn nx_zero(
    nx: *mut nbdkit_next_ops,
    count: u32,
    offset: u64,
    flags: u32,
    err: *mut c_int,
) -> c_int {
    // SAFETY: nx is a live next context; err the filter's int.
    unsafe { c_data(ctx(nx).zero(count.into(), offset, Flags(flags)), err) }
}
unsafe extern "C" fn nx_extents(
    nx: *mut nbdkit_next_ops,
    count: u32,
    offset: u64,
    flags: u32,
    extents: *mut nbdkit_extents,
    err: *mut c_int,
) -> c_int {
    // SAFETY: extents is a list the server made (nbdkit_extents_new or the
    // one the filter was given).
    let list = unsafe { &mut *(extents as *mut Extents) };
    // SAFETY: nx is a live next context; err the filter's int.
    unsafe {
        c_data(
            ctx(nx).extents(count.into(), offset, Flags(flags), list),
            err,
        )
    }
}
unsafe extern "C" fn nx_cache(
    nx: *mut nbdkit_next_ops,
    count: u32,
    offset: u64,
    flags: u32,
    err: *mut c_int,
) -> c_int {
    // SAFETY: nx is a live next context; err the filter's int.
    unsafe { c_data(ctx(nx).cache(count.into(), offset, Flags(flags)), err) }
}

/// The table every `nbdkit_next *` starts with.
const NEXT_OPS: nbdkit_next_ops = nbdkit_next_ops {
    prepare: Some(nx_prepare),
    finalize: Some(nx_finalize),
    get_size: Some(nx_get_size),
    export_description: Some(nx_export_description),
    block_size: Some(nx_block_size),
    can_write: Some(nx_can_write),
    can_flush: Some(nx_can_flush),
    is_rotational: Some(nx_is_rotational),
    can_trim: Some(nx_can_trim),
    can_zero: Some(nx_can_zero),
    can_fast_zero: Some(nx_can_fast_zero),
    can_extents: Some(nx_can_extents),
    can_fua: Some(nx_can_fua),
    can_multi_conn: Some(nx_can_multi_conn),
    can_cache: Some(nx_can_cache),
    pread: Some(nx_pread),
    pwrite: Some(nx_pwrite),
    flush: Some(nx_flush),
    trim: Some(nx_trim),
    zero: Some(nx_zero),
    extents: Some(nx_extents),
    cache: Some(nx_cache),
};

// ---- the exported functions only filters call ----

/// `nbdkit_context_get_backend`: the layer below the filter's context.
#[no_mangle]
pub extern "C" fn nbdkit_context_get_backend(c: *mut OpaqueContext) -> *mut OpaqueBackend {
    if c.is_null() {
        exports::error("nbdkit_context_get_backend: no context");
        return std::ptr::null_mut();
    }
    // SAFETY: c is a context the server passed to the filter's .open, alive
    // until its .close.
    let fctx = unsafe { &*(c as *const FilterCtx) };
    backend_ptr(fctx.below()) as *mut OpaqueBackend
}

/// `nbdkit_next_context_open`: a context on the layer `backend` names,
/// managed by the filter.
///
/// # Safety
/// `backend` is a pointer the server handed the filter; `name` a string.
#[no_mangle]
pub unsafe extern "C" fn nbdkit_next_context_open(
    backend: *mut OpaqueBackend,
    readonly: c_int,
    name: *const c_char,
    shared: c_int,
) -> *mut OpaqueNext {
    if backend.is_null() {
        exports::error("nbdkit_next_context_open: no backend");
        return std::ptr::null_mut();
    }
    // SAFETY: the caller's contract.
    let b = unsafe { below(backend as *mut nbdkit_backend) };
    // SAFETY: the caller's contract.
    let name = unsafe { bytes(name) };
    let conn = match (shared != 0, context::current_conn()) {
        (false, Some(c)) => c,
        (false, None) => {
            exports::error(
                "nbdkit_next_context_open: a non-shared context needs a client connection",
            );
            return std::ptr::null_mut();
        }
        // Shared: its own connection, which lives as long as the context.
        (true, _) => Arc::new(Connection::new(-1, false, 0)),
    };
    let _call = Call::enter(Some(&conn));
    match b.open(&conn, readonly != 0, &name) {
        Ok(ctx) => NextBox::new(ctx) as *mut OpaqueNext,
        Err(e) => {
            c_fail(&e);
            std::ptr::null_mut()
        }
    }
}

/// `nbdkit_next_context_close`.
///
/// # Safety
/// `next` came from the server and is no longer used by the filter.
#[no_mangle]
pub unsafe extern "C" fn nbdkit_next_context_close(next: *mut OpaqueNext) {
    if !next.is_null() {
        // SAFETY: the caller's contract; it came from NextBox::new.
        drop(unsafe { Box::from_raw(next as *mut NextBox) });
    }
}

/// `nbdkit_context_set_next`: make `next` the context below and hand the
/// old one back to the filter.
///
/// # Safety
/// `c` is a live filter context, `next` NULL or a context from the server.
#[no_mangle]
pub unsafe extern "C" fn nbdkit_context_set_next(
    c: *mut OpaqueContext,
    next: *mut OpaqueNext,
) -> *mut OpaqueNext {
    if c.is_null() {
        exports::error("nbdkit_context_set_next: no context");
        return std::ptr::null_mut();
    }
    // SAFETY: the caller's contract.
    let fctx = unsafe { &*(c as *const FilterCtx) };
    fctx.next.swap(next as *mut NextBox, Ordering::AcqRel) as *mut OpaqueNext
}

/// The context behind a `nbdkit_next *`.
///
/// # Safety
/// `next` is a live next context from the server.
unsafe fn next_context<'a>(next: *mut OpaqueNext) -> &'a Context {
    // SAFETY: the caller's contract.
    unsafe { ctx(next as *mut nbdkit_next_ops) }
}

/// Map a failure of an extents helper to C: log it, set `*err`.
fn extents_fail(e: &crate::backend::Error, err: *mut c_int) {
    if let Some(t) = e.unreported() {
        exports::error(t);
    }
    if !err.is_null() {
        // SAFETY: err points to the filter's int.
        unsafe { *err = e.errno };
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_extents_aligned(
    next: *mut OpaqueNext,
    count: u32,
    offset: u64,
    flags: u32,
    align: u32,
    extents: *mut nbdkit_extents,
    err: *mut c_int,
) -> c_int {
    if next.is_null() || extents.is_null() {
        extents_fail(
            &crate::backend::Error::einval("nbdkit_extents_aligned: NULL argument"),
            err,
        );
        return -1;
    }
    // SAFETY: a next context the server handed the filter.
    let ctx = unsafe { next_context(next) };
    // SAFETY: a list the server made.
    let out = unsafe { &mut *(extents as *mut Extents) };
    let flags = crate::backend::Flags(flags);
    match crate::backend::extents::aligned(ctx, count.into(), offset, flags, align, out) {
        Ok(()) => 0,
        Err(e) => {
            extents_fail(&e, err);
            -1
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_extents_full(
    next: *mut OpaqueNext,
    count: u32,
    offset: u64,
    flags: u32,
    err: *mut c_int,
) -> *mut nbdkit_extents {
    if next.is_null() {
        extents_fail(
            &crate::backend::Error::einval("nbdkit_extents_full: NULL argument"),
            err,
        );
        return std::ptr::null_mut();
    }
    // SAFETY: a next context the server handed the filter.
    let ctx = unsafe { next_context(next) };
    let flags = crate::backend::Flags(flags);
    match crate::backend::extents::full(ctx, count.into(), offset, flags) {
        Ok(list) => Box::into_raw(Box::new(list)) as *mut nbdkit_extents,
        Err(e) => {
            extents_fail(&e, err);
            std::ptr::null_mut()
        }
    }
}
