//! The server API C plugins call: every `nbdkit_*` function nbdkit 1.32
//! exports.  The variadic ones (`nbdkit_error`, `nbdkit_debug`,
//! `nbdkit_printf_intern` and their `v` forms) are in `shim.c`, which
//! formats the message and calls the `nbdkit_rs_*` functions here.
//!
//! Functions only filters use, which take a `nbdkit_next *` or a
//! `nbdkit_context *` (`nbdkit_next_context_open`, `nbdkit_extents_full`,
//! ...), are the filter adapter's (`filter.rs`).
#![allow(non_upper_case_globals)]
// The C types keep the names nbdkit's headers give them.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use super::context::{self, current_conn, intern};
use super::opaque::{nbdkit_exports, nbdkit_extents};
use crate::backend::{ExportEntry, ExportList, Extents};
use crate::lifecycle;
use crate::sys::strerror;
use libc::{c_char, c_int, c_uint, c_void, size_t, sockaddr, socklen_t};
use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

/// Set by `-D nbdkit.backend.controlpath=0` (and datapath) in nbdkit.
#[no_mangle]
pub static mut nbdkit_debug_backend_controlpath: c_int = 1;
#[no_mangle]
pub static mut nbdkit_debug_backend_datapath: c_int = 1;
/// Whether `-v` shows the per-layer lines of connection set-up calls
/// (open, prepare, can_*, ...): `-D nbdkit.backend.controlpath=0` hides them.
pub fn debug_controlpath() -> bool {
    // SAFETY: a plain int written only while `-D` flags are applied, before
    // any connection; reading a copy of it is sound.
    unsafe { std::ptr::addr_of!(nbdkit_debug_backend_controlpath).read() != 0 }
}

/// Whether `-v` shows the per-layer lines of data calls (pread, ...):
/// `-D nbdkit.backend.datapath=0` hides them.
pub fn debug_datapath() -> bool {
    // SAFETY: as in debug_controlpath.
    unsafe { std::ptr::addr_of!(nbdkit_debug_backend_datapath).read() != 0 }
}

/// TLS debug knobs nbdkit exports (`tls_session` logs each negotiated
/// session; `tls_log=N` passes GnuTLS's own log up to level N).
#[no_mangle]
pub static mut nbdkit_debug_tls_log: c_int = 0;
#[no_mangle]
pub static mut nbdkit_debug_tls_session: c_int = 0;

/// `-D nbdkit.environ=1`: with `-v`, the environment is logged at start.
#[no_mangle]
pub static mut nbdkit_debug_environ: c_int = 0;
pub fn debug_environ() -> bool {
    // SAFETY: as in debug_controlpath.
    unsafe { std::ptr::addr_of!(nbdkit_debug_environ).read() != 0 }
}

/// `-D nbdkit.tls.session=1`: log the negotiated session per connection.
pub fn debug_tls_session() -> bool {
    // SAFETY: as in debug_controlpath.
    unsafe { std::ptr::addr_of!(nbdkit_debug_tls_session).read() != 0 }
}

/// `-D nbdkit.tls.log=N`: GnuTLS's own log up to level N.
pub fn debug_tls_log() -> c_int {
    // SAFETY: as in debug_controlpath.
    unsafe { std::ptr::addr_of!(nbdkit_debug_tls_log).read() }
}

/// `-D nbdkit.FLAG=N`: set the server's own debug variable
/// `nbdkit_debug_FLAG` (dots in FLAG become `_`); false if there is none.
pub fn set_server_debug_flag(flag: &str, value: c_int) -> bool {
    let var = match flag.replace('.', "_").as_str() {
        "backend_controlpath" => &raw mut nbdkit_debug_backend_controlpath,
        "backend_datapath" => &raw mut nbdkit_debug_backend_datapath,
        "environ" => &raw mut nbdkit_debug_environ,
        "tls_log" => &raw mut nbdkit_debug_tls_log,
        "tls_session" => &raw mut nbdkit_debug_tls_session,
        _ => return false,
    };
    // SAFETY: var points at one of the statics above; no thread reads
    // them yet.
    unsafe { *var = value };
    true
}

/// Report an error as `nbdkit_error` does: log it and remember it as the
/// message of the failing callback.
pub fn error(msg: &str) {
    log::error!("{msg}");
    context::record_error_msg(msg);
}

/// A C string argument as Rust text (lossy), `""` for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn text<'a>(p: *const c_char) -> std::borrow::Cow<'a, str> {
    if p.is_null() {
        return "".into();
    }
    // SAFETY: the caller passes a valid NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy()
}

/// A C string argument's bytes, empty for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: the caller passes a valid NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

/// Copy `s` into a `malloc`ed C string the plugin will `free`.
fn malloc_str(s: &[u8]) -> *mut c_char {
    // SAFETY: malloc of len+1 bytes; we write exactly that many.
    unsafe {
        let p = libc::malloc(s.len() + 1) as *mut u8;
        if p.is_null() {
            return std::ptr::null_mut();
        }
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
        p as *mut c_char
    }
}

// ---- messages (called by shim.c after formatting) ----

#[no_mangle]
pub unsafe extern "C" fn nbdkit_rs_error(msg: *const c_char) {
    // SAFETY: shim.c passes the formatted NUL-terminated message.
    let m = unsafe { text(msg) };
    error(m.trim_end_matches('\n'));
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_rs_debug(msg: *const c_char) {
    // SAFETY: shim.c passes the formatted NUL-terminated message.
    let m = unsafe { text(msg) };
    log::debug!(target: crate::logging::PLUGIN, "{}", m.trim_end_matches('\n'));
}

#[no_mangle]
pub extern "C" fn nbdkit_set_error(err: c_int) {
    context::set_error(err);
}

// ---- paths ----

#[no_mangle]
pub unsafe extern "C" fn nbdkit_absolute_path(path: *const c_char) -> *mut c_char {
    // SAFETY: plugin passes a string or NULL.
    if path.is_null() || unsafe { *path } == 0 {
        error("cannot convert null or empty path to an absolute path");
        return std::ptr::null_mut();
    }
    // SAFETY: non-NULL, NUL-terminated.
    let p = unsafe { CStr::from_ptr(path) }.to_bytes();
    if p[0] == b'/' {
        return malloc_str(p);
    }
    match std::env::current_dir() {
        Ok(cwd) => {
            use std::os::unix::ffi::OsStrExt;
            let mut v = cwd.as_os_str().as_bytes().to_vec();
            v.push(b'/');
            v.extend_from_slice(p);
            malloc_str(&v)
        }
        Err(e) => {
            error(&format!("getcwd: {e}"));
            std::ptr::null_mut()
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_realpath(path: *const c_char) -> *mut c_char {
    // SAFETY: plugin passes a string or NULL.
    if path.is_null() || unsafe { *path } == 0 {
        error("cannot resolve a null or empty path");
        return std::ptr::null_mut();
    }
    // SAFETY: path is valid; realpath with NULL resolved mallocs the result.
    let r = unsafe { libc::realpath(path, std::ptr::null_mut()) };
    if r.is_null() {
        let e = std::io::Error::last_os_error();
        // SAFETY: path is valid (the caller's NUL-terminated string).
        let shown = unsafe { text(path) };
        error(&format!("realpath: {}: {}", shown, strerror(&e)));
    }
    r
}

// ---- parsing ----

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_size(s: *const c_char) -> i64 {
    // SAFETY: plugin passes a string.
    match crate::parse::size(unsafe { bytes(s) }) {
        Ok(v) => v as i64,
        Err(m) => {
            error(&m.to_string());
            -1
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_bool(s: *const c_char) -> c_int {
    // SAFETY: plugin passes a string.
    match crate::parse::boolean(unsafe { bytes(s) }) {
        Ok(v) => v as c_int,
        Err(m) => {
            error(&m.to_string());
            -1
        }
    }
}

fn errno_loc() -> *mut c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

/// `nbdkit_parse_*` of the integer types: [`crate::parse::integer`] with
/// nbdkit's handling of NULL, the message logged as `nbdkit_error`.
///
/// # Safety
/// `what` and `s` are NUL-terminated strings or NULL.
unsafe fn parse_int(
    what: *const c_char,
    s: *const c_char,
    signed: bool,
    min: i128,
    max: i128,
) -> Option<i128> {
    // SAFETY: what is a string or NULL.
    let what = unsafe { text(what) };
    if s.is_null() {
        error(&format!(
            "{what}: could not parse number: \"\": empty string"
        ));
        return None;
    }
    // SAFETY: s is a NUL-terminated string.
    let s = unsafe { bytes(s) };
    crate::parse::integer(&what, s, signed, min, max)
        .map_err(|m| error(&m.to_string()))
        .ok()
}

/// An integer type a `nbdkit_parse_*` function parses into.
trait ParseTarget: Copy {
    const SIGNED: bool;
    const MIN: i128;
    const MAX: i128;
    /// Only called with a value in `MIN..=MAX`.
    fn from_i128(v: i128) -> Self;
}

macro_rules! parse_target {
    ($($t:ty: $signed:expr),*) => {$(
        impl ParseTarget for $t {
            const SIGNED: bool = $signed;
            const MIN: i128 = <$t>::MIN as i128;
            const MAX: i128 = <$t>::MAX as i128;
            fn from_i128(v: i128) -> Self {
                v as $t
            }
        }
    )*};
}
parse_target!(i8: true, u8: false, i16: true, u16: false, i32: true, u32: false,
              i64: true, u64: false);

/// The body of every `nbdkit_parse_<type>`: 0 and `*r` set, or -1 after
/// `nbdkit_error` (leaving `*r` alone, as nbdkit does).
///
/// # Safety
/// Arguments as nbdkit-plugin(3) documents them: strings or NULL, `r` NULL
/// or pointing to the plugin's variable.
unsafe fn parse_into<T: ParseTarget>(what: *const c_char, s: *const c_char, r: *mut T) -> c_int {
    // SAFETY: the caller's contract.
    match unsafe { parse_int(what, s, T::SIGNED, T::MIN, T::MAX) } {
        Some(v) => {
            if !r.is_null() {
                // SAFETY: r points to the plugin's variable.
                unsafe { *r = T::from_i128(v) };
            }
            0
        }
        None => -1,
    }
}

// Written out one by one (not by a macro) so cbindgen sees each of them.

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_int(
    what: *const c_char,
    s: *const c_char,
    r: *mut c_int,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_unsigned(
    what: *const c_char,
    s: *const c_char,
    r: *mut c_uint,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_int8_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut i8,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_uint8_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut u8,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_int16_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut i16,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_uint16_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut u16,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_int32_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut i32,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_uint32_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut u32,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_int64_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut i64,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_uint64_t(
    what: *const c_char,
    s: *const c_char,
    r: *mut u64,
) -> c_int {
    // SAFETY: passed through from the plugin.
    unsafe { parse_into(what, s, r) }
}

#[no_mangle]
pub extern "C" fn nbdkit_stdio_safe() -> c_int {
    lifecycle::stdio_safe() as c_int
}

/// Read everything from `fd` (then close it), dropping one trailing newline.
fn read_password_fd(fd: c_int, what: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    // SAFETY: the fd was handed to us to read the password from and is
    // closed afterwards, as nbdkit does.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut v = Vec::new();
    if let Err(e) = f.read_to_end(&mut v) {
        error(&format!("reading password from {what}: {}", strerror(&e)));
        return None;
    }
    if v.last() == Some(&b'\n') {
        v.pop();
    }
    Some(v)
}

fn read_password_tty() -> Option<Vec<u8>> {
    use std::io::{BufRead, Write};
    if !lifecycle::stdio_safe() {
        error("stdin is not available for reading password");
        return None;
    }
    // SAFETY: isatty on fd 0.
    if unsafe { libc::isatty(0) } == 0 {
        error("stdin is not a tty, cannot read password interactively");
        return None;
    }
    // SAFETY: termios calls on fd 0 with a zeroed struct filled by tcgetattr.
    let mut orig: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let have = unsafe { libc::tcgetattr(0, &mut orig) } == 0;
    if have {
        let mut t = orig;
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        // Echo off before the prompt appears: whoever answers it (a user,
        // or expect) may type at once, and changing the terminal after
        // that must not lose the answer (TCSANOW keeps pending input).
        // SAFETY: valid termios for fd 0.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
    }
    print!("password: ");
    let _ = std::io::stdout().flush();
    let mut line = Vec::new();
    let r = std::io::stdin().lock().read_until(b'\n', &mut line);
    if have {
        // SAFETY: restore what tcgetattr returned.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &orig) };
    }
    if let Err(e) = r {
        error(&format!(
            "could not read password from stdin: {}",
            strerror(&e)
        ));
        return None;
    }
    if line.ends_with(b"\n") {
        line.pop();
    }
    Some(line)
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_read_password(
    value: *const c_char,
    password: *mut *mut c_char,
) -> c_int {
    // SAFETY: plugin passes a string.
    let v = unsafe { CStr::from_ptr(value) }.to_bytes();
    // SAFETY: password points to the plugin's variable.
    unsafe { *password = std::ptr::null_mut() };
    let got = if v == b"-" {
        read_password_tty()
    } else if v.len() > 1 && v[0] == b'-' {
        let mut fd: c_int = 0;
        // SAFETY: value + 1 is the NUL-terminated rest of the string.
        let r = unsafe {
            nbdkit_parse_int(c"password file descriptor".as_ptr(), value.add(1), &mut fd)
        };
        if r == -1 {
            None
        } else if (0..=2).contains(&fd) {
            error("cannot use password -FD for stdin/stdout/stderr");
            None
        // SAFETY: F_GETFD only queries the descriptor.
        } else if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            let e = std::io::Error::from_raw_os_error(libc::EBADF);
            error(&format!("fdopen {fd}: {}", strerror(&e)));
            None
        } else {
            read_password_fd(fd, &format!("file descriptor {fd}"))
        }
    } else if v.first() == Some(&b'+') {
        let path = String::from_utf8_lossy(&v[1..]).into_owned();
        match std::fs::File::open(&path) {
            Ok(f) => {
                use std::os::fd::IntoRawFd;
                read_password_fd(f.into_raw_fd(), &path)
            }
            Err(e) => {
                error(&format!("open {path}: {}", strerror(&e)));
                None
            }
        }
    } else {
        Some(v.to_vec())
    };
    match got {
        Some(p) => {
            // SAFETY: as above.
            unsafe { *password = malloc_str(&p) };
            0
        }
        None => -1,
    }
}

// ---- sleeping, shutdown ----

/// Fail the current sleep as nbdkit does: message, errno ESHUTDOWN, -1.
fn abort_sleep(msg: &str) -> c_int {
    error(msg);
    // SAFETY: errno of this thread.
    unsafe { *errno_loc() = libc::ESHUTDOWN };
    -1
}

/// Sleeps until the time is up, the server shuts down, or the client this
/// thread is serving hangs up: a plugin sleeping for a client that is gone
/// would otherwise hold its connection open until the sleep ends.
#[no_mangle]
pub extern "C" fn nbdkit_nanosleep(sec: c_uint, nsec: c_uint) -> c_int {
    if sec > i32::MAX as c_uint {
        error("sleep request is too long");
        // SAFETY: errno of this thread.
        unsafe { *errno_loc() = libc::EINVAL };
        return -1;
    }
    let until = Instant::now() + Duration::new(sec as u64, nsec.min(999_999_999));
    let client = current_conn().map_or(-1, |c| c.fd);
    let shutdown = crate::sys::shutdown_fd();
    // Without the eventfd, wake now and then to look at the flag.
    let max_wait = if shutdown.is_some() {
        Duration::MAX
    } else {
        Duration::from_millis(50)
    };
    // POLLHUP, POLLERR and POLLNVAL are always reported; POLLRDHUP is the
    // client shutting down its end, which is how most clients leave.
    let gone = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
    loop {
        if lifecycle::shutdown_requested() {
            return abort_sleep("aborting sleep because of server shut down");
        }
        let now = Instant::now();
        if now >= until {
            return 0;
        }
        let mut fds = [
            libc::pollfd {
                fd: shutdown.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: client,
                events: libc::POLLRDHUP,
                revents: 0,
            },
        ];
        let wait = (until - now).min(max_wait);
        if let Err(e) = crate::sys::poll_for(&mut fds, wait) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                // Not expected; sleep in small steps rather than spin.
                log::debug!("nbdkit_nanosleep: ppoll: {e}");
                std::thread::sleep(wait.min(Duration::from_millis(50)));
            }
            continue;
        }
        if fds[1].revents & gone != 0 {
            return abort_sleep("aborting sleep because of connection close or error");
        }
    }
}

#[no_mangle]
pub extern "C" fn nbdkit_shutdown() {
    lifecycle::request_shutdown();
}

/// `nbdkit_disconnect`: drop the current client (`force`: at once, with
/// no reply to the requests in flight; else new requests are answered
/// ESHUTDOWN and those in flight complete).  Other clients carry on.  The
/// network side acts on it before the next reply.
#[no_mangle]
pub extern "C" fn nbdkit_disconnect(force: c_int) {
    match current_conn() {
        Some(c) => c.disconnect(force != 0),
        None => log::debug!("no connection in this thread, ignoring disconnect request"),
    }
}

/// `strtod` at the start of `s` (after blanks, as `%lg` reads): the
/// number and how many bytes it took, None if no number starts there.
fn strtod_prefix(s: &[u8]) -> Option<(f64, usize)> {
    let c = CString::new(s).ok()?;
    let mut end: *mut c_char = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated; strtod sets `end` inside it.
    let d = unsafe { libc::strtod(c.as_ptr(), &mut end) };
    // SAFETY: `end` points into `c` (at its start when nothing parsed).
    let used = unsafe { end.offset_from(c.as_ptr()) } as usize;
    (used > 0).then_some((d, used))
}

/// nbdkit_parse_probability's grammar: `P`, `P%`, `N:M` or `N/M`.
fn probability(s: &[u8]) -> Option<f64> {
    let (mut d, n) = strtod_prefix(s)?;
    let rest = &s[n..];
    let seps = rest.iter().take_while(|&&b| b == b':' || b == b'/').count();
    match rest {
        [] => {}
        b"%" => d /= 100.0,
        _ if seps > 0 => {
            let (d2, m) = strtod_prefix(&rest[seps..])?;
            if seps + m != rest.len() {
                return None;
            }
            if d == 0.0 && d2 == 0.0 {
                // 0/0 means never.
            } else if d2 == 0.0 {
                return None;
            } else {
                d /= d2;
            }
        }
        _ => return None,
    }
    (d.is_finite() && !d.is_sign_negative()).then_some(d)
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_probability(
    what: *const c_char,
    s: *const c_char,
    r: *mut f64,
) -> c_int {
    // SAFETY: plugin passes strings.
    let (w, b) = unsafe { (text(what), bytes(s)) };
    match probability(b) {
        Some(d) => {
            if !r.is_null() {
                // SAFETY: the caller's result pointer.
                unsafe { *r = d };
            }
            0
        }
        None => {
            error(&format!(
                "{w}: could not parse '{}' as a probability",
                String::from_utf8_lossy(b)
            ));
            -1
        }
    }
}

/// nbdkit_parse_delay's grammar: a number of seconds, or of `ms`, `us`
/// (or `μs`) or `ns`; the whole seconds and the nanoseconds left over.
fn delay(s: &[u8]) -> Option<(u32, u32)> {
    let (mut d, n) = strtod_prefix(s)?;
    match &s[n..] {
        b"" | b"s" => {}
        b"ms" => d /= 1e3,
        b"us" => d /= 1e6,
        r if r == "μs".as_bytes() => d /= 1e6,
        b"ns" => d /= 1e9,
        _ => return None,
    }
    if !d.is_finite() || d.is_sign_negative() {
        return None;
    }
    let sec = d as u32;
    Some((sec, ((d - f64::from(sec)) * 1e9) as u32))
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_delay(
    what: *const c_char,
    s: *const c_char,
    sec: *mut c_uint,
    nsec: *mut c_uint,
) -> c_int {
    // SAFETY: plugin passes strings.
    let (w, b) = unsafe { (text(what), bytes(s)) };
    let Some((se, ns)) = delay(b) else {
        error(&format!(
            "{w}: could not parse delay or sleep: \"{}\"",
            String::from_utf8_lossy(b)
        ));
        return -1;
    };
    // SAFETY: the caller's result pointers, each optional.
    unsafe {
        if !sec.is_null() {
            *sec = se;
        }
        if !nsec.is_null() {
            *nsec = ns;
        }
    }
    0
}

// ---- the current connection ----

#[no_mangle]
pub extern "C" fn nbdkit_export_name() -> *const c_char {
    match current_conn() {
        Some(c) => c.export_name_ptr(),
        None => {
            error("no connection in this thread");
            std::ptr::null()
        }
    }
}

#[no_mangle]
pub extern "C" fn nbdkit_is_tls() -> c_int {
    match current_conn() {
        Some(c) => c.is_tls() as c_int,
        None => {
            error("no connection in this thread");
            -1
        }
    }
}

/// `nbdkit_peer_security_context`: the client's security label
/// (`SO_PEERSEC`), malloced for the caller; NULL when the socket has none
/// to give (without an error: a debug line) or on error.
#[no_mangle]
pub extern "C" fn nbdkit_peer_security_context() -> *mut c_char {
    let Some(c) = current_conn() else {
        error("no connection in this thread");
        return std::ptr::null_mut();
    };
    if c.fd < 0 {
        error("socket not open");
        return std::ptr::null_mut();
    }
    let mut len: socklen_t = 0;
    // SAFETY: asking the label's length with a NULL buffer of length 0.
    let r = unsafe {
        libc::getsockopt(
            c.fd,
            libc::SOL_SOCKET,
            libc::SO_PEERSEC,
            std::ptr::null_mut(),
            &mut len,
        )
    };
    if r == 0 {
        return malloc_str(b"");
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOPROTOOPT) => {
            log::debug!(target: crate::logging::PLUGIN, "getsockopt: SO_PEERSEC: {}", strerror(&e));
            return std::ptr::null_mut();
        }
        Some(libc::ERANGE) => {}
        _ => {
            error(&format!("getsockopt: SO_PEERSEC: {}", strerror(&e)));
            return std::ptr::null_mut();
        }
    }
    let mut label = vec![0u8; len as usize];
    // SAFETY: `label` has room for `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            c.fd,
            libc::SOL_SOCKET,
            libc::SO_PEERSEC,
            label.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r == -1 {
        let e = std::io::Error::last_os_error();
        error(&format!("getsockopt: SO_PEERSEC: {}", strerror(&e)));
        return std::ptr::null_mut();
    }
    label.truncate(len as usize);
    let end = label.iter().position(|&b| b == 0).unwrap_or(label.len());
    malloc_str(&label[..end])
}

/// The subject (`issuer` false) or issuer DN of the client's certificate,
/// malloced for the caller: `""` when there is none (no TLS, PSK, no
/// client certificate), NULL after an error.
fn peer_tls_name(issuer: bool) -> *mut c_char {
    use crate::sys::gnutls::PeerDn;
    let Some(c) = current_conn() else {
        error("no connection in this thread");
        return std::ptr::null_mut();
    };
    let why = match c.tls_peer() {
        None => "no TLS session",
        Some(PeerDn::NotCertificates) => "TLS session not using certificates",
        Some(PeerDn::NotX509) => "TLS session not using X.509 certificates",
        Some(PeerDn::NoCertificate) => "no client certificates (is --tls-verify-peer set?)",
        Some(PeerDn::Names { dn, issuer: i }) => {
            return match if issuer { i } else { dn } {
                Ok(name) => malloc_str(name.as_bytes()),
                Err(msg) => {
                    error(&msg.to_string());
                    std::ptr::null_mut()
                }
            };
        }
    };
    // nbdkit names the subject's function in both.
    log::debug!(target: crate::logging::PLUGIN, "nbdkit_peer_tls_dn: {why}");
    malloc_str(b"")
}

#[no_mangle]
pub extern "C" fn nbdkit_peer_tls_dn() -> *mut c_char {
    peer_tls_name(false)
}

#[no_mangle]
pub extern "C" fn nbdkit_peer_tls_issuer_dn() -> *mut c_char {
    peer_tls_name(true)
}

fn conn_fd(func: &str) -> Option<c_int> {
    match current_conn() {
        Some(c) if c.fd >= 0 => Some(c.fd),
        Some(_) => {
            error(&format!("{func}: no client socket (stdin/stdout)"));
            None
        }
        None => {
            error(&format!("{func}: no connection in this thread"));
            None
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_peer_name(addr: *mut sockaddr, addrlen: *mut socklen_t) -> c_int {
    let Some(fd) = conn_fd("peer_name") else {
        return -1;
    };
    // SAFETY: addr/addrlen come from the plugin as getpeername(2) wants.
    if unsafe { libc::getpeername(fd, addr, addrlen) } == -1 {
        let e = std::io::Error::last_os_error();
        error(&format!("peername: {}", strerror(&e)));
        return -1;
    }
    0
}

fn peer_cred(func: &str) -> Option<libc::ucred> {
    let fd = conn_fd(func)?;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as socklen_t;
    // SAFETY: SO_PEERCRED fills a struct ucred of the given length.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut _ as *mut c_void,
            &mut len,
        )
    };
    if r == -1 {
        let e = std::io::Error::last_os_error();
        error(&format!(
            "{func}: getsockopt: SO_PEERCRED: {}",
            strerror(&e)
        ));
        return None;
    }
    Some(cred)
}

#[no_mangle]
pub extern "C" fn nbdkit_peer_pid() -> i64 {
    peer_cred("nbdkit_peer_pid").map_or(-1, |c| c.pid as i64)
}
#[no_mangle]
pub extern "C" fn nbdkit_peer_uid() -> i64 {
    peer_cred("nbdkit_peer_uid").map_or(-1, |c| c.uid as i64)
}
#[no_mangle]
pub extern "C" fn nbdkit_peer_gid() -> i64 {
    peer_cred("nbdkit_peer_gid").map_or(-1, |c| c.gid as i64)
}

// ---- interned strings ----

#[no_mangle]
pub unsafe extern "C" fn nbdkit_strdup_intern(s: *const c_char) -> *const c_char {
    if s.is_null() {
        error("nbdkit_strdup_intern: no string given");
        // SAFETY: errno of this thread.
        unsafe { *errno_loc() = libc::EINVAL };
        return std::ptr::null();
    }
    // SAFETY: NUL-terminated string from the plugin.
    intern(unsafe { CStr::from_ptr(s) }.to_owned())
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_strndup_intern(s: *const c_char, n: size_t) -> *const c_char {
    if s.is_null() {
        error("nbdkit_strndup_intern: no string given");
        // SAFETY: errno of this thread.
        unsafe { *errno_loc() = libc::EINVAL };
        return std::ptr::null();
    }
    // SAFETY: strnlen reads at most n bytes of s.
    let len = unsafe { libc::strnlen(s, n) };
    // SAFETY: s has at least len readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(s as *const u8, len) };
    intern(CString::new(bytes).expect("strnlen stops at NUL"))
}

// ---- extents ----

/// `struct nbdkit_extent` (nbdkit-filter(3)), returned by value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nbdkit_extent {
    pub offset: u64,
    pub length: u64,
    pub r#type: u32,
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_add_extent(
    e: *mut nbdkit_extents,
    offset: u64,
    length: u64,
    type_: u32,
) -> c_int {
    // SAFETY: the adapter passed `&mut Extents` as this pointer, and the
    // plugin hands it back from the same callback.
    let e = unsafe { &mut *(e as *mut Extents) };
    match e.add(offset, length, type_) {
        Ok(()) => 0,
        Err(err) => {
            error(&err.to_string());
            // SAFETY: errno of this thread.
            unsafe { *errno_loc() = err.errno };
            -1
        }
    }
}

#[no_mangle]
pub extern "C" fn nbdkit_extents_new(start: u64, end: u64) -> *mut nbdkit_extents {
    match Extents::new(start, end) {
        Ok(e) => Box::into_raw(Box::new(e)) as *mut nbdkit_extents,
        Err(err) => {
            error(&err.to_string());
            // SAFETY: errno of this thread.
            unsafe { *errno_loc() = err.errno };
            std::ptr::null_mut()
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_extents_free(e: *mut nbdkit_extents) {
    if !e.is_null() {
        // SAFETY: e came from nbdkit_extents_new.
        drop(unsafe { Box::from_raw(e as *mut Extents) });
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_extents_count(e: *const nbdkit_extents) -> size_t {
    // SAFETY: e is an extents list the server made.
    unsafe { &*(e as *const Extents) }.count()
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_get_extent(e: *const nbdkit_extents, i: size_t) -> nbdkit_extent {
    // SAFETY: e is an extents list the server made.
    let x = unsafe { &*(e as *const Extents) }
        .get(i)
        .expect("nbdkit_get_extent: index out of range");
    nbdkit_extent {
        offset: x.offset,
        length: x.length,
        r#type: x.kind,
    }
}

// ---- exports ----

/// What `.list_exports` fills (behind `struct nbdkit_exports *`).
#[derive(Default)]
pub struct Exports {
    pub list: Vec<(CString, Option<CString>)>,
    pub use_default: bool,
}

impl Exports {
    /// What the layer listed, as the stack takes it.
    pub fn into_list(self) -> ExportList {
        ExportList {
            entries: self
                .list
                .iter()
                .map(|(n, d)| ExportEntry {
                    name: n.to_string_lossy().into_owned(),
                    description: d.as_ref().map(|d| d.to_string_lossy().into_owned()),
                })
                .collect(),
            use_default: self.use_default,
        }
    }

    /// Add what a layer below listed (for a filter's `next` call).
    pub fn extend(&mut self, entries: Vec<ExportEntry>) {
        let c = |s: String| CString::new(s.replace('\0', "")).unwrap_or_default();
        for e in entries {
            self.list.push((c(e.name), e.description.map(c)));
        }
    }
}

/// nbdkit's limits on list_exports answers.
const MAX_EXPORTS: usize = 10000;
const MAX_STRING: usize = 4096;

/// `struct nbdkit_export` (nbdkit-filter(3)), returned by value.
#[repr(C)]
pub struct nbdkit_export {
    pub name: *mut c_char,
    pub description: *mut c_char,
}

#[no_mangle]
pub extern "C" fn nbdkit_exports_new() -> *mut nbdkit_exports {
    Box::into_raw(Box::<Exports>::default()) as *mut nbdkit_exports
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_exports_free(e: *mut nbdkit_exports) {
    if !e.is_null() {
        // SAFETY: e came from nbdkit_exports_new.
        drop(unsafe { Box::from_raw(e as *mut Exports) });
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_exports_count(e: *const nbdkit_exports) -> size_t {
    // SAFETY: e is an exports list the server made.
    unsafe { &*(e as *const Exports) }.list.len()
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_get_export(e: *const nbdkit_exports, i: size_t) -> nbdkit_export {
    // SAFETY: e is an exports list the server made.
    let e = unsafe { &*(e as *const Exports) };
    let (n, d) = &e.list[i];
    nbdkit_export {
        name: n.as_ptr() as *mut c_char,
        description: d
            .as_ref()
            .map_or(std::ptr::null_mut(), |d| d.as_ptr() as *mut c_char),
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_add_export(
    e: *mut nbdkit_exports,
    name: *const c_char,
    desc: *const c_char,
) -> c_int {
    // SAFETY: e is the list the adapter passed to .list_exports.
    let e = unsafe { &mut *(e as *mut Exports) };
    if e.list.len() >= MAX_EXPORTS {
        error("nbdkit_add_export: too many exports");
        // SAFETY: errno of this thread.
        unsafe { *errno_loc() = libc::EINVAL };
        return -1;
    }
    if name.is_null() {
        error("nbdkit_add_export: export name must not be NULL");
        return -1;
    }
    // SAFETY: NUL-terminated strings from the plugin.
    let n = unsafe { CStr::from_ptr(name) }.to_owned();
    // SAFETY: as above.
    let d = (!desc.is_null()).then(|| unsafe { CStr::from_ptr(desc) }.to_owned());
    if n.as_bytes().len() > MAX_STRING {
        error("nbdkit_add_export: export name too long");
        // SAFETY: errno of this thread.
        unsafe { *errno_loc() = libc::EINVAL };
        return -1;
    }
    if d.as_ref().is_some_and(|d| d.as_bytes().len() > MAX_STRING) {
        error("nbdkit_add_export: description too long");
        // SAFETY: errno of this thread.
        unsafe { *errno_loc() = libc::EINVAL };
        return -1;
    }
    e.list.push((n, d));
    0
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_use_default_export(e: *mut nbdkit_exports) -> c_int {
    // SAFETY: e is the list the adapter passed to .list_exports.
    unsafe { &mut *(e as *mut Exports) }.use_default = true;
    0
}

extern "C" {
    /// In shim.c; referencing it pulls the variadic functions into the link.
    fn nbdkit_rs_shim_anchor() -> c_int;
}

/// Make sure the C shim (and so `nbdkit_error` & co.) is linked in.
pub fn ensure_linked() -> bool {
    // SAFETY: a trivial C function with no arguments.
    unsafe { nbdkit_rs_shim_anchor() == 1 }
}
