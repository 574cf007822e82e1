//! Loads a C plugin `.so` and adapts it to the backend traits, with
//! nbdkit 1.32's defaults and emulation where a callback is missing.

use super::bindings::nbdkit_plugin;
use super::context::Call;
use super::exports::{self, Exports};
use crate::backend::{
    BlockSize, ConnInfo, Connection, Error, ExportList, Extents, Flags, Handle, Plugin, Result,
    Support, ThreadModel,
};
use crate::debug_flag::DebugFlag;
use crate::fatal::Fatal;
use libc::{c_char, c_int, c_void};
use std::ffi::{CStr, CString};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The largest piece handed to a plugin in one call (the C API has u32
/// counts).
const MAX_PIECE: u64 = 1 << 30;
/// The zero buffer `.zero` emulation writes from.
const ZERO_CHUNK: usize = 64 * 1024 * 1024;
/// What zeroes are written from when the plugin cannot zero (as nbdkit's
/// static buffer): the kernel's shared zero page, so it costs no memory
/// however many requests use it at once.  Mapped when first needed.
static ZEROES: OnceLock<Option<&'static [u8]>> = OnceLock::new();

/// The loaded plugin, shared by its handles.
struct Lib {
    /// A copy of the plugin's struct; fields beyond its `_struct_size` are
    /// zero (NULL).
    p: nbdkit_plugin,
    api_version: i32,
    struct_size: u64,
    errno_is_preserved: bool,
}

// SAFETY: the struct only holds pointers to the plugin's static strings and
// functions; the server serialises calls as the plugin's thread model asks.
unsafe impl Send for Lib {}
// SAFETY: as above.
unsafe impl Sync for Lib {}

pub(super) fn opt_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the plugin's fields are NUL-terminated strings or NULL.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

pub(super) fn dlerror() -> String {
    // SAFETY: dlerror returns a thread-local string or NULL.
    let e = unsafe { libc::dlerror() };
    opt_str(e).unwrap_or_else(|| "unknown dlopen error".into())
}

impl Lib {
    /// Turn a failed callback (-1) into an [`Error`]: errno from
    /// `nbdkit_set_error`, else `errno` if the plugin preserves it, else
    /// EIO.  Already reported: the plugin's `nbdkit_error` text was logged
    /// when it was called (and nbdkit prints nothing more); that text is
    /// kept as the reason the client is given.
    fn fail(&self, call: &Call, saved_errno: i32, what: &'static str) -> Error {
        let mut errno = call.error();
        if errno == 0 && self.errno_is_preserved {
            errno = saved_errno;
        }
        if errno == 0 {
            errno = libc::EIO;
        }
        Error::reported(errno, call.take_msg()).in_callback(what)
    }

    /// Run callback `f` (returning a C int) under a fresh per-thread context
    /// and map -1 to an error.
    fn call_int(
        &self,
        conn: Option<&Arc<Connection>>,
        what: &'static str,
        f: impl FnOnce() -> c_int,
    ) -> Result<c_int> {
        let call = Call::enter(conn);
        // SAFETY: errno of this thread.
        unsafe { *libc::__errno_location() = 0 };
        let r = f();
        let saved = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if r == -1 {
            Err(self.fail(&call, saved, what))
        } else {
            Ok(r)
        }
    }
}

pub struct CPlugin {
    lib: Arc<Lib>,
    path: String,
    name: String,
    version: Option<String>,
    // Served through `Plugin::longname`/`description`, which the server
    // does not print yet.
    #[allow(dead_code)]
    longname: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
    config_help: Option<String>,
    magic_config_key: Option<String>,
    max_thread_model: ThreadModel,
    /// Every key and value given to `.config`: nbdkit passes argv strings,
    /// which plugins (data, linuxdisk, ...) keep pointers to without
    /// copying, so they live until after `.unload`.
    config_strings: Vec<CString>,
}

/// Load the plugin at `path` as nbdkit does: dlopen, `plugin_init`, check
/// the ABI, copy the struct, apply `-D` flags, call `.load`.
///
/// On failure the `Err` is nbdkit 1.32.5's whole message after the
/// `nbdkit: ` prefix (e.g. `PATH: plugin must have a .open callback`, or
/// `error: cannot open plugin 'NAME': ...` plus the `Use 'nbdkit --help'`
/// line): the caller prints `nbdkit: {err}` and exits with status 1.
pub fn load(
    path: &Path,
    name: &str,
    debug: &[DebugFlag],
) -> std::result::Result<Box<dyn Plugin>, Fatal> {
    let (dl, ptr) = open_library(path, "plugin", name)?;
    let ptr = ptr as *const nbdkit_plugin;
    let shown = path.display().to_string();
    // Once it opened, as nbdkit says it.
    log::debug!("registering plugin {shown}");
    // SAFETY: the first 16 bytes (_struct_size, _api_version,
    // _thread_model) exist in every version of the struct.
    let (struct_size, api_version, tm) = unsafe {
        (
            (*ptr)._struct_size,
            (*ptr)._api_version,
            (*ptr)._thread_model,
        )
    };
    if api_version != 1 && api_version != 2 {
        return Err(Fatal::plain(format!(
            "{shown}: plugin is incompatible with this version of nbdkit (_api_version = {api_version})"
        )));
    }
    // SAFETY: an all-zero nbdkit_plugin is valid (NULL pointers, None fns).
    let mut p: nbdkit_plugin = unsafe { std::mem::zeroed() };
    let n = (struct_size as usize).min(std::mem::size_of::<nbdkit_plugin>());
    // SAFETY: the plugin's struct is at least `struct_size` bytes; we copy
    // no more than that and no more than ours.
    unsafe { std::ptr::copy_nonoverlapping(ptr as *const u8, &mut p as *mut _ as *mut u8, n) };

    let Some(pname) = opt_str(p.name) else {
        return Err(Fatal::plain(format!(
            "{shown}: plugin must have a .name field"
        )));
    };
    if pname.is_empty() {
        return Err(Fatal::plain(format!(
            "{shown}: plugin.name field must not be empty"
        )));
    }
    if !pname
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Fatal::plain(format!(
            "{shown}: plugin.name ('{pname}') field must contain only ASCII alphanumeric or dash characters"
        )));
    }
    if p.open.is_none() {
        return Err(Fatal::plain(format!(
            "{shown}: plugin must have a .open callback"
        )));
    }
    if p.get_size.is_none() {
        return Err(Fatal::plain(format!(
            "{shown}: plugin must have a .get_size callback"
        )));
    }
    if p.pread.is_none() && p._pread_v1.is_none() {
        return Err(Fatal::plain(format!(
            "{shown}: plugin must have a .pread callback"
        )));
    }
    let Some(max_thread_model) = ThreadModel::from_c(tm) else {
        return Err(Fatal::plain(format!(
            "{shown}: plugin has an invalid thread model ({tm})"
        )));
    };

    set_debug_flags(dl, &pname, debug)?;

    let lib = Lib {
        p,
        api_version,
        struct_size,
        errno_is_preserved: p.errno_is_preserved != 0,
    };
    log::debug!("registered plugin {shown} (name {pname})");
    log::debug!("{pname}: load");
    if let Some(load) = lib.p.load {
        let _c = Call::enter(None);
        // SAFETY: the plugin's load callback.
        unsafe { load() };
    }
    Ok(Box::new(CPlugin {
        path: shown,
        name: pname,
        version: opt_str(p.version),
        longname: opt_str(p.longname),
        description: opt_str(p.description),
        config_help: opt_str(p.config_help),
        magic_config_key: opt_str(p.magic_config_key),
        max_thread_model,
        config_strings: Vec::new(),
        lib: Arc::new(lib),
    }))
}

/// dlopen a plugin's or filter's `.so` (`kind` is "plugin" or "filter")
/// and call its registration function (`plugin_init`, `filter_init`).
/// Returns the library and the struct the function returned, or nbdkit's
/// message.
/// The `version` field of the plugin at `path` (for nbdkit's own plugins,
/// nbdkit's release), read without loading the plugin: only its
/// registration function runs.  `None` if it cannot be opened or names no
/// version.
pub fn peek_version(path: &Path) -> Option<String> {
    let (_, ptr) = open_library(path, "plugin", "").ok()?;
    let ptr = ptr as *const nbdkit_plugin;
    // SAFETY: `_struct_size` is in the first bytes of every version of
    // the struct.
    let size = unsafe { (*ptr)._struct_size } as usize;
    if size < std::mem::offset_of!(nbdkit_plugin, version) + std::mem::size_of::<*const c_char>() {
        return None;
    }
    // SAFETY: the field lies within the plugin's struct (checked above).
    opt_str(unsafe { (*ptr).version })
}

pub(super) fn open_library(
    path: &Path,
    kind: &str,
    name: &str,
) -> std::result::Result<(*mut c_void, *const c_void), Fatal> {
    exports::ensure_linked();
    let shown = path.display().to_string();
    let cpath = {
        use std::os::unix::ffi::OsStrExt;
        CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Fatal::plain(format!("{shown}: invalid path")))?
    };
    // SAFETY: dlopen of a path; plugins and filters are trusted code.
    let dl = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if dl.is_null() {
        // nbdkit 1.44.1's words: the file it tried, both quoted as C
        // strings, a hint at the package for a short name, and the
        // documentation.
        use std::os::unix::ffi::OsStrExt;
        let quote = crate::logging::c_quote;
        let short = crate::backend::registry::is_short_name(std::ffi::OsStr::new(name));
        let package = if short && crate::backend::registry::is_package_name(name) {
            format!(
                "\n\nTo add this functionality you might need to install a separate\n\
                 {kind} package such as nbdkit-{name}-{kind} (Fedora) or\n\
                 nbdkit-{kind}-{name} (Debian)."
            )
        } else {
            String::new()
        };
        return Err(Fatal::plain(format!(
            "error: cannot open {kind} \"{}\": {}{package}\n\n\
             Use 'nbdkit --help' or read the nbdkit(1) manual page for documentation.",
            quote(path.as_os_str().as_bytes()),
            quote(dlerror().as_bytes())
        )));
    }
    let sym = CString::new(format!("{kind}_init")).expect("no NUL");
    // SAFETY: clear any stale error, then look up the entry point.
    let init = unsafe {
        libc::dlerror();
        libc::dlsym(dl, sym.as_ptr())
    };
    if init.is_null() {
        return Err(Fatal::plain(format!("{shown}: {}", dlerror())));
    }
    // SAFETY: the registration function takes nothing and returns a
    // pointer to the library's struct, in every nbdkit plugin and filter.
    let init: unsafe extern "C" fn() -> *const c_void = unsafe { std::mem::transmute(init) };
    // SAFETY: calling the registration function.
    let ptr = unsafe { init() };
    if ptr.is_null() {
        return Err(Fatal::plain(format!(
            "{shown}: {kind} registration function failed"
        )));
    }
    Ok((dl, ptr))
}

/// Apply `-D NAME.FLAG=N` to the plugin or filter `name` loaded as `dl`:
/// set its global `int NAME_debug_FLAG` (dots in FLAG and dashes in NAME
/// become underscores), warning when it has none.
pub(super) fn set_debug_flags(
    dl: *mut c_void,
    name: &str,
    debug: &[DebugFlag],
) -> std::result::Result<(), Fatal> {
    for f in debug.iter().filter(|f| f.name == name) {
        let sym = format!(
            "{}_debug_{}",
            name.replace('-', "_"),
            f.flag.replace('.', "_")
        );
        let csym = CString::new(sym.clone())
            .map_err(|_| Fatal::plain(format!("invalid debug flag {sym}")))?;
        // SAFETY: looking up a data symbol in the loaded library.
        let v = unsafe { libc::dlsym(dl, csym.as_ptr()) };
        if v.is_null() {
            log::warn!(
                "-D {}.{}: {name} does not contain a global variable called {sym}",
                f.name,
                f.flag
            );
            continue;
        }
        // SAFETY: by nbdkit's convention the symbol is an int.
        unsafe { *(v as *mut c_int) = f.value };
    }
    Ok(())
}

impl CPlugin {
    fn p(&self) -> &nbdkit_plugin {
        &self.lib.p
    }
    fn void_call(
        &self,
        what: &'static str,
        f: Option<unsafe extern "C" fn() -> c_int>,
    ) -> Result<()> {
        match f {
            // SAFETY: a plugin callback with no arguments.
            Some(f) => self.lib.call_int(None, what, || unsafe { f() }).map(|_| ()),
            None => Ok(()),
        }
    }
}

fn c_bool(b: bool) -> c_int {
    b as c_int
}

impl Plugin for CPlugin {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    fn longname(&self) -> Option<&str> {
        self.longname.as_deref()
    }
    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    fn config_help(&self) -> Option<&str> {
        self.config_help.as_deref()
    }
    fn magic_config_key(&self) -> Option<&str> {
        self.magic_config_key.as_deref()
    }

    /// Already set (or warned about) by [`load`].
    fn check_debug_flag(&self, _f: &DebugFlag) {}
    fn config(&mut self, key: &str, value: &str) -> Result<()> {
        self.config_os(key, std::ffi::OsStr::new(value))
    }
    /// The value's bytes reach the plugin exactly as given on the
    /// command line, as nbdkit passes argv.
    fn config_os(&mut self, key: &str, value: &std::ffi::OsStr) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let Some(f) = self.p().config else {
            return Err(Error::einval(format!(
                "{}: this plugin does not need command line configuration\n\
                 Try using: nbdkit --help {}",
                self.path, self.path
            )));
        };
        let k = CString::new(key).map_err(|_| Error::einval("key contains NUL"))?;
        let v = CString::new(value.as_bytes()).map_err(|_| Error::einval("value contains NUL"))?;
        let (kp, vp) = (k.as_ptr(), v.as_ptr());
        // The heap buffers behind kp/vp do not move when the CStrings do.
        self.config_strings.push(k);
        self.config_strings.push(v);
        // SAFETY: the plugin's config callback with two strings that stay
        // valid (in self.config_strings) for the plugin's whole life.
        self.lib
            .call_int(None, "config", || unsafe { f(kp, vp) })
            .map(|_| ())
    }
    fn config_complete(&mut self) -> Result<()> {
        self.void_call("config_complete", self.p().config_complete)
    }
    fn thread_model(&self) -> ThreadModel {
        let Some(f) = self.p().thread_model else {
            return self.max_thread_model;
        };
        // SAFETY: the plugin's thread_model callback.
        match self.lib.call_int(None, "thread_model", || unsafe { f() }) {
            Ok(v) => ThreadModel::from_c(v)
                .map_or(self.max_thread_model, |t| t.min(self.max_thread_model)),
            Err(_) => self.max_thread_model,
        }
    }
    fn get_ready(&mut self) -> Result<()> {
        self.void_call("get_ready", self.p().get_ready)
    }
    fn after_fork(&self) -> Result<()> {
        self.void_call("after_fork", self.p().after_fork)
    }
    fn max_thread_model(&self) -> ThreadModel {
        self.max_thread_model
    }
    fn dump_abi(&self) -> (i32, u64) {
        (self.lib.api_version, self.lib.struct_size)
    }
    fn errno_is_preserved(&self) -> bool {
        self.lib.errno_is_preserved
    }
    fn dump_has(&self) -> Vec<&'static str> {
        let p = self.p();
        let has: [(&'static str, bool); 42] = [
            ("longname", !p.longname.is_null()),
            ("description", !p.description.is_null()),
            ("load", p.load.is_some()),
            ("unload", p.unload.is_some()),
            ("dump_plugin", p.dump_plugin.is_some()),
            ("config", p.config.is_some()),
            ("config_complete", p.config_complete.is_some()),
            ("config_help", !p.config_help.is_null()),
            ("thread_model", p.thread_model.is_some()),
            ("get_ready", p.get_ready.is_some()),
            ("after_fork", p.after_fork.is_some()),
            ("cleanup", p.cleanup.is_some()),
            ("preconnect", p.preconnect.is_some()),
            ("list_exports", p.list_exports.is_some()),
            ("default_export", p.default_export.is_some()),
            ("open", p.open.is_some()),
            ("close", p.close.is_some()),
            ("export_description", p.export_description.is_some()),
            ("get_size", p.get_size.is_some()),
            ("block_size", p.block_size.is_some()),
            ("can_write", p.can_write.is_some()),
            ("can_flush", p.can_flush.is_some()),
            ("is_rotational", p.is_rotational.is_some()),
            ("can_trim", p.can_trim.is_some()),
            ("can_zero", p.can_zero.is_some()),
            ("can_fast_zero", p.can_fast_zero.is_some()),
            ("can_extents", p.can_extents.is_some()),
            ("can_fua", p.can_fua.is_some()),
            ("can_multi_conn", p.can_multi_conn.is_some()),
            ("can_cache", p.can_cache.is_some()),
            ("pread", p.pread.is_some()),
            ("pwrite", p.pwrite.is_some()),
            ("flush", p.flush.is_some()),
            ("trim", p.trim.is_some()),
            ("zero", p.zero.is_some()),
            ("extents", p.extents.is_some()),
            ("cache", p.cache.is_some()),
            ("_pread_v1", p._pread_v1.is_some()),
            ("_pwrite_v1", p._pwrite_v1.is_some()),
            ("_flush_v1", p._flush_v1.is_some()),
            ("_trim_v1", p._trim_v1.is_some()),
            ("_zero_v1", p._zero_v1.is_some()),
        ];
        has.iter().filter(|(_, h)| *h).map(|(n, _)| *n).collect()
    }
    fn dump_plugin(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.flush()?;
        std::io::stdout().flush()?;
        if let Some(f) = self.p().dump_plugin {
            let _c = Call::enter(None);
            // SAFETY: the plugin's dump_plugin callback; it prints to stdout.
            unsafe {
                f();
                libc::fflush(std::ptr::null_mut());
            }
        }
        Ok(())
    }
    fn preconnect(&self, conn: &ConnInfo) -> Result<()> {
        let Some(f) = self.p().preconnect else {
            return Ok(());
        };
        self.lib
            .call_int(Some(&conn.conn), "preconnect", || {
                // SAFETY: the plugin's preconnect callback.
                unsafe { f(c_bool(conn.readonly)) }
            })
            .map(|_| ())
    }
    fn list_exports(&self, conn: &ConnInfo) -> Result<Option<ExportList>> {
        let Some(f) = self.p().list_exports else {
            return Ok(None);
        };
        let mut list = Exports::default();
        let lp = &mut list as *mut Exports as *mut super::opaque::nbdkit_exports;
        self.lib.call_int(Some(&conn.conn), "list_exports", || {
            // SAFETY: the plugin fills the list through nbdkit_add_export.
            unsafe { f(c_bool(conn.readonly), c_bool(conn.is_tls()), lp) }
        })?;
        Ok(Some(list.into_list()))
    }
    fn default_export(&self, conn: &ConnInfo) -> Result<Option<String>> {
        let Some(f) = self.p().default_export else {
            return Ok(Some(String::new()));
        };
        let call = Call::enter(Some(&conn.conn));
        // SAFETY: the plugin's default_export callback.
        let r = unsafe { f(c_bool(conn.readonly), c_bool(conn.is_tls())) };
        if r.is_null() {
            // NULL means "no default export" unless the plugin reported an
            // error; either way the client cannot use "".
            return match call.take_msg() {
                // Already logged by nbdkit_error.
                Some(_) => Err(Error::new(
                    if call.error() != 0 {
                        call.error()
                    } else {
                        libc::EINVAL
                    },
                    String::new(),
                )),
                None => Ok(None),
            };
        }
        Ok(opt_str(r))
    }
    fn open(&self, conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        let st = conn.conn.clone();
        // What nbdkit_export_name answers from here on.
        st.set_export_name(&conn.export_name);
        let f = self.p().open.expect("checked at load");
        let call = Call::enter(Some(&st));
        // SAFETY: errno of this thread.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: the plugin's open callback.
        let h = unsafe { f(c_bool(conn.readonly)) };
        if h.is_null() {
            let saved = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(self.lib.fail(&call, saved, "open"));
        }
        drop(call);
        Ok(Box::new(CHandle {
            lib: self.lib.clone(),
            h,
            conn: st,
            can: Default::default(),
        }))
    }
    fn cleanup(&self) {
        if let Some(f) = self.p().cleanup {
            let _c = Call::enter(None);
            // SAFETY: the plugin's cleanup callback.
            unsafe { f() };
        }
    }
}

impl Drop for CPlugin {
    fn drop(&mut self) {
        if let Some(f) = self.p().unload {
            let _c = Call::enter(None);
            // SAFETY: the plugin's unload callback, called once, last.
            unsafe { f() };
        }
        // The library stays mapped: strings it returned may still be
        // referenced, and nbdkit's exit path does not need the dlclose.
    }
}

/// Answers asked once per connection (nbdkit caches them the same way).
#[derive(Default)]
struct Caps {
    write: OnceLock<bool>,
    flush: OnceLock<bool>,
    zero_native: OnceLock<bool>,
    fua: OnceLock<Support>,
    cache: OnceLock<Support>,
}

pub struct CHandle {
    lib: Arc<Lib>,
    h: *mut c_void,
    conn: Arc<Connection>,
    can: Caps,
}

// SAFETY: the handle pointer is the plugin's; the server serialises calls on
// it as the plugin's thread model requires.
unsafe impl Send for CHandle {}
// SAFETY: as above.
unsafe impl Sync for CHandle {}

type HFn = unsafe extern "C" fn(*mut c_void) -> c_int;

impl CHandle {
    fn p(&self) -> &nbdkit_plugin {
        &self.lib.p
    }
    fn call(&self, what: &'static str, f: impl FnOnce(*mut c_void) -> c_int) -> Result<c_int> {
        let h = self.h;
        self.lib.call_int(Some(&self.conn), what, || f(h))
    }
    fn can(&self, what: &'static str, f: Option<HFn>, default: bool) -> Result<bool> {
        match f {
            // SAFETY: a can_* callback taking the handle.
            Some(f) => self.call(what, |h| unsafe { f(h) }).map(|r| r != 0),
            None => Ok(default),
        }
    }
    fn cached<T: Copy>(cell: &OnceLock<T>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(v) = cell.get() {
            return Ok(*v);
        }
        let v = f()?;
        Ok(*cell.get_or_init(|| v))
    }
    fn fua_support(&self) -> Result<Support> {
        Self::cached(&self.can.fua, || match self.p().can_fua {
            Some(f) => {
                // SAFETY: the plugin's can_fua callback.
                let r = self.call("can_fua", |h| unsafe { f(h) })?;
                let mut s = Support::from_c(r);
                if self.lib.api_version == 1 && s == Support::Native {
                    s = Support::Emulate;
                }
                Ok(s)
            }
            None if self.p().flush.is_some() || self.p()._flush_v1.is_some() => {
                Ok(Support::Emulate)
            }
            None => Ok(Support::None),
        })
    }
    /// Strip FUA when the plugin cannot do it natively; true if the caller
    /// must flush afterwards.
    fn fua_split(&self, flags: Flags) -> Result<(Flags, bool)> {
        if flags.fua() && self.fua_support()? != Support::Native {
            return Ok((flags.without(Flags::FUA), true));
        }
        Ok((flags, false))
    }
    fn zero_native(&self) -> Result<bool> {
        Self::cached(&self.can.zero_native, || match self.p().can_zero {
            Some(f) => {
                // SAFETY: the plugin's can_zero callback.
                self.call("can_zero", |h| unsafe { f(h) }).map(|r| r != 0)
            }
            None => Ok(self.p().zero.is_some() || self.p()._zero_v1.is_some()),
        })
    }

    fn do_pwrite(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        for (i, piece) in buf.chunks(MAX_PIECE as usize).enumerate() {
            let off = offset + i as u64 * MAX_PIECE;
            let (ptr, n) = (piece.as_ptr() as *const c_void, piece.len() as u32);
            if let Some(f) = self.p().pwrite {
                // SAFETY: the plugin reads n bytes from ptr.
                self.call("pwrite", |h| unsafe { f(h, ptr, n, off, flags.0) })?;
            } else if let Some(f) = self.p()._pwrite_v1 {
                // SAFETY: as above (API v1: no flags).
                self.call("pwrite", |h| unsafe { f(h, ptr, n, off) })?;
            } else {
                return Err(Error::eperm("pwrite: plugin has no .pwrite callback"));
            }
        }
        Ok(())
    }
    fn do_flush(&self) -> Result<()> {
        if let Some(f) = self.p().flush {
            // SAFETY: the plugin's flush callback.
            self.call("flush", |h| unsafe { f(h, 0) }).map(|_| ())
        } else if let Some(f) = self.p()._flush_v1 {
            // SAFETY: the plugin's v1 flush callback.
            self.call("flush", |h| unsafe { f(h) }).map(|_| ())
        } else {
            Err(Error::einval("flush: plugin has no .flush callback"))
        }
    }
    /// Split `count` at `offset` into plugin-sized pieces.
    fn pieces(count: u64, offset: u64) -> impl Iterator<Item = (u32, u64)> {
        let n = count.div_ceil(MAX_PIECE);
        (0..n).map(move |i| {
            let off = offset + i * MAX_PIECE;
            ((count - i * MAX_PIECE).min(MAX_PIECE) as u32, off)
        })
    }
}

impl Drop for CHandle {
    fn drop(&mut self) {
        if let Some(f) = self.p().close {
            let _c = Call::enter(Some(&self.conn));
            // SAFETY: the plugin's close callback, once, for this handle.
            unsafe { f(self.h) };
        }
        // self.conn (and the strings interned for it) goes after close.
    }
}

impl Handle for CHandle {
    fn debug_address(&self) -> *const () {
        self.h as *const ()
    }
    fn export_description(&self) -> Result<Option<String>> {
        let Some(f) = self.p().export_description else {
            return Ok(None);
        };
        let call = Call::enter(Some(&self.conn));
        // SAFETY: the plugin's export_description callback.
        let r = unsafe { f(self.h) };
        if r.is_null() {
            return match call.take_msg() {
                // Already logged by nbdkit_error.
                Some(_) => Err(Error::reported(libc::EIO, None)),
                None => Ok(None),
            };
        }
        Ok(opt_str(r))
    }
    fn get_size(&self) -> Result<u64> {
        let f = self.p().get_size.expect("checked at load");
        let call = Call::enter(Some(&self.conn));
        // SAFETY: errno of this thread.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: the plugin's get_size callback.
        let r = unsafe { f(self.h) };
        if r < -1 {
            // Not the -1 of a failure: nbdkit reports the bad value (in
            // the connection's context, still entered) and fails with EIO.
            exports::error(&format!(".get_size function returned invalid value ({r})"));
            return Err(Error::reported(libc::EIO, None));
        }
        if r < 0 {
            let saved = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(self.lib.fail(&call, saved, "get_size"));
        }
        Ok(r as u64)
    }
    fn block_size(&self) -> Result<Option<BlockSize>> {
        let Some(f) = self.p().block_size else {
            return Ok(None);
        };
        let (mut min, mut pref, mut max) = (0u32, 0u32, 0u32);
        // SAFETY: the plugin writes three u32s.
        self.call("block_size", |h| unsafe {
            f(h, &mut min, &mut pref, &mut max)
        })?;
        if min == 0 && pref == 0 && max == 0 {
            return Ok(None);
        }
        Ok(Some(BlockSize {
            minimum: min,
            preferred: pref,
            maximum: max,
        }))
    }
    fn can_write(&self) -> Result<bool> {
        Self::cached(&self.can.write, || {
            let has = self.p().pwrite.is_some() || self.p()._pwrite_v1.is_some();
            self.can("can_write", self.p().can_write, has)
        })
    }
    fn can_flush(&self) -> Result<bool> {
        Self::cached(&self.can.flush, || {
            let has = self.p().flush.is_some() || self.p()._flush_v1.is_some();
            self.can("can_flush", self.p().can_flush, has)
        })
    }
    fn is_rotational(&self) -> Result<bool> {
        self.can("is_rotational", self.p().is_rotational, false)
    }
    fn can_trim(&self) -> Result<bool> {
        let has = self.p().trim.is_some() || self.p()._trim_v1.is_some();
        self.can("can_trim", self.p().can_trim, has)
    }
    fn can_zero(&self) -> Result<Support> {
        // Zeroing is always possible when writing is: natively or by
        // writing zeroes.
        Ok(if self.zero_native()? {
            Support::Native
        } else {
            Support::Emulate
        })
    }
    fn can_fast_zero(&self) -> Result<bool> {
        if let Some(f) = self.p().can_fast_zero {
            // SAFETY: the plugin's can_fast_zero callback.
            return self
                .call("can_fast_zero", |h| unsafe { f(h) })
                .map(|r| r != 0);
        }
        // Without .zero, or with .can_zero false, a fast zero fails fast.
        if self.p().zero.is_none() {
            return Ok(true);
        }
        Ok(!self.zero_native()?)
    }
    fn can_fua(&self) -> Result<Support> {
        self.fua_support()
    }
    fn can_multi_conn(&self) -> Result<bool> {
        self.can("can_multi_conn", self.p().can_multi_conn, false)
    }
    fn can_cache(&self) -> Result<Support> {
        Self::cached(&self.can.cache, || match self.p().can_cache {
            // SAFETY: the plugin's can_cache callback.
            Some(f) => self
                .call("can_cache", |h| unsafe { f(h) })
                .map(Support::from_c),
            None if self.p().cache.is_some() => Ok(Support::Native),
            None => Ok(Support::None),
        })
    }
    fn can_extents(&self) -> Result<bool> {
        self.can(
            "can_extents",
            self.p().can_extents,
            self.p().extents.is_some(),
        )
    }

    fn pread(&self, buf: &mut [u8], offset: u64, flags: Flags) -> Result<()> {
        for (i, piece) in buf.chunks_mut(MAX_PIECE as usize).enumerate() {
            let off = offset + i as u64 * MAX_PIECE;
            let (ptr, n) = (piece.as_mut_ptr() as *mut c_void, piece.len() as u32);
            if let Some(f) = self.p().pread {
                // SAFETY: the plugin writes n bytes at ptr.
                self.call("pread", |h| unsafe { f(h, ptr, n, off, flags.0) })?;
            } else if let Some(f) = self.p()._pread_v1 {
                // SAFETY: as above (API v1: no flags).
                self.call("pread", |h| unsafe { f(h, ptr, n, off) })?;
            }
        }
        Ok(())
    }
    fn pwrite(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        let (flags, flush) = self.fua_split(flags)?;
        self.do_pwrite(buf, offset, flags)?;
        if flush {
            self.do_flush()?;
        }
        Ok(())
    }
    fn flush(&self, _flags: Flags) -> Result<()> {
        self.do_flush()
    }
    fn trim(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        let (flags, flush) = self.fua_split(flags)?;
        for (n, off) in Self::pieces(count, offset) {
            if let Some(f) = self.p().trim {
                // SAFETY: the plugin's trim callback.
                self.call("trim", |h| unsafe { f(h, n, off, flags.0) })?;
            } else if let Some(f) = self.p()._trim_v1 {
                // SAFETY: the plugin's v1 trim callback.
                self.call("trim", |h| unsafe { f(h, n, off) })?;
            } else {
                return Err(Error::einval("trim: plugin has no .trim callback"));
            }
        }
        if flush {
            self.do_flush()?;
        }
        Ok(())
    }
    fn zero(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        let (flags, flush) = self.fua_split(flags)?;
        if count == 0 {
            return Ok(());
        }
        let mut done = 0u64;
        if self.zero_native()? {
            let mut fallback = false;
            for (n, off) in Self::pieces(count, offset) {
                let r = if let Some(f) = self.p().zero {
                    // SAFETY: the plugin's zero callback.
                    self.call("zero", |h| unsafe { f(h, n, off, flags.0) })
                } else if let Some(f) = self.p()._zero_v1 {
                    if flags.fast_zero() {
                        return Err(Error::silent(libc::ENOTSUP));
                    }
                    let may_trim = flags.may_trim() as c_int;
                    // SAFETY: the plugin's v1 zero callback.
                    self.call("zero", |h| unsafe { f(h, n, off, may_trim) })
                } else {
                    Err(Error::silent(libc::ENOTSUP))
                };
                match r {
                    Ok(_) => done += n as u64,
                    Err(e) if e.errno == libc::ENOTSUP || e.errno == libc::EOPNOTSUPP => {
                        fallback = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !fallback {
                if flush {
                    self.do_flush()?;
                }
                return Ok(());
            }
        }
        if flags.fast_zero() {
            return Err(Error::silent(libc::ENOTSUP));
        }
        // Emulate by writing zeroes.
        let wflags = flags.without(Flags::MAY_TRIM).without(Flags::FAST_ZERO);
        let zeroes = ZEROES
            .get_or_init(|| crate::sys::zero_pages(ZERO_CHUNK))
            .ok_or_else(|| Error::new(libc::ENOMEM, "zero: cannot map a buffer of zeroes"))?;
        while done < count {
            let n = (count - done).min(ZERO_CHUNK as u64) as usize;
            self.do_pwrite(&zeroes[..n], offset + done, wflags)?;
            done += n as u64;
        }
        if flush {
            self.do_flush()?;
        }
        Ok(())
    }
    fn cache(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        match self.can_cache()? {
            Support::Native => {
                // Advertised (can_cache said NATIVE, or any other value
                // nbdkit takes as such) with no .cache: a no-op, as in nbdkit.
                let Some(f) = self.p().cache else {
                    return Ok(());
                };
                for (n, off) in Self::pieces(count, offset) {
                    // SAFETY: the plugin's cache callback.
                    self.call("cache", |h| unsafe { f(h, n, off, flags.0) })?;
                }
                Ok(())
            }
            Support::Emulate => {
                let len = count.min(ZERO_CHUNK as u64) as usize;
                let mut buf = crate::backend::request_memory::zeroed(len, "cache")?;
                let mut done = 0u64;
                while done < count {
                    let n = (count - done).min(buf.len() as u64) as usize;
                    self.pread(&mut buf[..n], offset + done, Flags::NONE)?;
                    done += n as u64;
                }
                Ok(())
            }
            Support::None => Err(Error::einval("cache: not supported")),
        }
    }
    fn extents(&self, count: u64, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        let Some(f) = self.p().extents else {
            return extents.add(offset, count, 0);
        };
        let n = count.min(u32::MAX as u64) as u32;
        let ep = extents as *mut Extents as *mut super::opaque::nbdkit_extents;
        // SAFETY: the plugin fills the list through nbdkit_add_extent.
        self.call("extents", |h| unsafe { f(h, n, offset, flags.0, ep) })?;
        if extents.count() == 0 {
            return Err(Error::einval("plugin must return at least one extent"));
        }
        Ok(())
    }
}
