//! Process-level OS calls the server needs that std does not offer:
//! signals, daemonizing, parent-death signals, adopting fd 0 as a socket.
//! Kept here so every `unsafe` block of the server lives under `abi/`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_sig: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a live local.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// Undo the Rust runtime's `SIGPIPE` ignore, which it sets before `main`:
/// nbdkit starts with the default disposition and ignores SIGPIPE only
/// once the plugin is configured, so commands a plugin runs while it
/// loads and configures (the data plugin's `<(COMMAND)`, say) see it.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL has no
    // preconditions; no thread exists yet.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Route SIGINT, SIGQUIT, SIGTERM and SIGHUP to a byte on `fd` (the
/// loop's self-pipe), and ignore SIGPIPE so a vanished client is an EPIPE.
pub fn install_signal_handlers(fd: RawFd) -> io::Result<()> {
    SIGNAL_FD.store(fd, Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value,
        // and on_signal only does async-signal-safe work.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    Ok(())
}

/// The forked child's promise to tell its parent when it is serving.
pub struct Daemon(std::os::unix::net::UnixStream);

impl Daemon {
    /// Let the parent exit 0: the socket listens and the pid file is written.
    pub fn ready(self) {
        let _ = io::Write::write_all(&mut &self.0, b"1");
    }
}

/// Fork into the background as nbdkit does without `-f`: the parent waits
/// until the child calls [`Daemon::ready`], then exits 0 (1 if the child
/// died first); the child starts a new session, changes to `/` and points
/// stdin, stdout and (unless `keep_stderr`, for `-v`) stderr at
/// /dev/null, so a caller capturing the output is not held open by the
/// daemon.  Must be called before any thread starts.
pub fn daemonize(keep_stderr: bool) -> io::Result<Daemon> {
    let (parent_end, child_end) = std::os::unix::net::UnixStream::pair()?;
    // SAFETY: the process is single-threaded here (the caller's contract),
    // so the child inherits a consistent address space.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        drop(child_end);
        let mut b = [0u8; 1];
        let ok = matches!(io::Read::read(&mut &parent_end, &mut b), Ok(1));
        // SAFETY: _exit skips atexit handlers and stdio flushing, which
        // belong to the child now.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(parent_end);
    // SAFETY: setsid has no memory-safety preconditions.
    unsafe { libc::setsid() };
    let _ = std::env::set_current_dir("/");
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    use std::os::fd::AsRawFd;
    let last = if keep_stderr { 1 } else { 2 };
    for fd in 0..=last {
        // SAFETY: dup2 onto a standard descriptor from a valid open fd.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
    Ok(Daemon(child_end))
}

/// `mkdtemp(template)`: a new directory, mode 0700, its name the template
/// with the trailing `XXXXXX` made unique.
pub fn make_temp_dir(template: &std::path::Path) -> io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut buf = template.as_os_str().as_bytes().to_vec();
    buf.push(0);
    // SAFETY: buf is a writable NUL-terminated template mkdtemp fills in.
    let r = unsafe { libc::mkdtemp(buf.as_mut_ptr() as *mut libc::c_char) };
    if r.is_null() {
        return Err(io::Error::last_os_error());
    }
    buf.pop();
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

/// One message to syslog at `priority`, under the program's name (as
/// nbdkit's `--log=syslog`).
pub fn syslog(priority: libc::c_int, msg: &str) {
    let Ok(m) = std::ffi::CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: a constant "%s" format with one NUL-terminated argument.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), m.as_ptr()) };
}

/// The uid of user `name` in the password database.
pub fn user_id(name: &std::ffi::OsStr) -> Option<u32> {
    use std::os::unix::ffi::OsStrExt;
    let n = std::ffi::CString::new(name.as_bytes()).ok()?;
    // SAFETY: getpwnam with a NUL-terminated name; the result (static
    // storage) is read at once, before any other lookup (single-threaded
    // start-up).
    let pw = unsafe { libc::getpwnam(n.as_ptr()) };
    // SAFETY: non-NULL pointer returned by getpwnam.
    (!pw.is_null()).then(|| unsafe { (*pw).pw_uid })
}

/// The gid of group `name` in the group database.
pub fn group_id(name: &std::ffi::OsStr) -> Option<u32> {
    use std::os::unix::ffi::OsStrExt;
    let n = std::ffi::CString::new(name.as_bytes()).ok()?;
    // SAFETY: as in user_id, with getgrnam.
    let gr = unsafe { libc::getgrnam(n.as_ptr()) };
    // SAFETY: non-NULL pointer returned by getgrnam.
    (!gr.is_null()).then(|| unsafe { (*gr).gr_gid })
}

/// Drop privileges as nbdkit's `-u`/`-g`: the group (also as the only
/// supplementary group) before the user, whose change is irreversible.
/// The error is the whole message.
pub fn change_ids(uid: Option<u32>, gid: Option<u32>) -> Result<(), String> {
    let os = || io::Error::last_os_error().to_string();
    let os = || {
        let s = os();
        s.split(" (os error").next().unwrap_or_default().to_string()
    };
    if let Some(g) = gid {
        // SAFETY: setgroups with a one-element array that outlives the call.
        if unsafe { libc::setgroups(1, &g) } == -1 {
            return Err(format!("setgroups: {}", os()));
        }
        // SAFETY: setgid takes a plain integer.
        if unsafe { libc::setgid(g) } == -1 {
            return Err(format!("setgid: {}", os()));
        }
    }
    if let Some(u) = uid {
        // SAFETY: setuid takes a plain integer.
        if unsafe { libc::setuid(u) } == -1 {
            return Err(format!("setuid: {}", os()));
        }
    }
    Ok(())
}

/// Socket activation: the number of sockets systemd passed (from fd 3
/// on), when `LISTEN_PID` is this process and `LISTEN_FDS` a positive
/// number, as sd_listen_fds(3) decides.
pub fn socket_activation() -> Option<usize> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    if pid != std::process::id() {
        return None;
    }
    let n: usize = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    (n > 0).then_some(n)
}

/// Take ownership of inherited descriptor `fd` (checked to be a socket)
/// and say its address family.
pub fn inherited_socket(fd: RawFd) -> io::Result<(OwnedFd, libc::c_int)> {
    // SAFETY: a zeroed sockaddr_storage with its true length for
    // getsockname to fill.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname on an integer fd with a valid buffer.
    if unsafe { libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd is a socket passed to us by socket activation and
    // owned by nothing else in this process.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: FD_CLOEXEC on our own descriptor, so children do not keep it.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok((owned, ss.ss_family as libc::c_int))
}

pub fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl flag calls on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if fl == -1 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// An AF_VSOCK stream socket listening on `port` of any CID.  The error
/// names the call that failed.
pub fn vsock_listen(port: u32, backlog: i32) -> Result<OwnedFd, (&'static str, io::Error)> {
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_VSOCK,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd == -1 {
        return Err(("socket", io::Error::last_os_error()));
    }
    // SAFETY: a new descriptor nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a zeroed sockaddr_vm is valid; we set family, CID and port.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_cid = libc::VMADDR_CID_ANY;
    addr.svm_port = port;
    // SAFETY: bind with a sockaddr_vm and its size.
    let r = unsafe {
        libc::bind(
            fd,
            &addr as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t,
        )
    };
    if r == -1 {
        return Err(("bind", io::Error::last_os_error()));
    }
    // SAFETY: listen on our bound socket.
    if unsafe { libc::listen(fd, backlog) } == -1 {
        return Err(("listen", io::Error::last_os_error()));
    }
    Ok(owned)
}

/// Accept one connection on a listening socket, non-blocking and
/// close-on-exec.
pub fn accept_nonblocking(l: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: accept4 with no address buffer on a descriptor we own.
    let fd = unsafe {
        libc::accept4(
            l.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `--swap`: lock every page, present and future, into memory, so a
/// server whose disk is the machine's swap never waits on itself.
pub fn lock_all_memory() -> io::Result<()> {
    // SAFETY: mlockall takes flags only.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `--exit-with-parent`: SIGTERM when the parent process dies.
pub fn exit_with_parent() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a plain integer argument.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `-s`: the client is on stdin/stdout, which must be a socket.
pub fn stdin_socket() -> io::Result<std::os::unix::net::UnixStream> {
    // SAFETY: dup returns a new descriptor we own (or -1, checked).
    let fd = unsafe { libc::dup(0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly duplicated descriptor owned by nobody else.
    let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Point stdin and stdout at /dev/null once `-s` has taken them, so the
/// plugin cannot disturb the protocol stream.
pub fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto the standard descriptors from a valid open fd.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
}

/// Wait up to `timeout_ms` for `fd` to accept writes.  Ok(false) on
/// timeout.  Used by workers, which may block, never by the event loop.
pub fn wait_writable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    wait_for(fd, libc::POLLOUT, timeout_ms)
}

/// Wait up to `timeout_ms` for `fd` to be readable (or hung up).
pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    wait_for(fd, libc::POLLIN, timeout_ms)
}

fn wait_for(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, count 1, for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Ask for a send buffer of `bytes` on a socket (the kernel doubles it and
/// caps it at `net.core.wmem_max`).  Only a hint: failures are ignored.
pub fn set_send_buffer(fd: RawFd, bytes: usize) {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `v` is a live c_int and the length passed is its size; the
    // kernel only reads it.  A bad fd is reported as an error, not UB.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Set the backlog of a listening socket (calling `listen` again on one
/// only changes its queue length; the kernel caps it at
/// `net.core.somaxconn`).
pub fn set_listen_backlog(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen takes only integers; a bad fd is an error, not UB.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Give the heap's free pages back to the kernel (glibc keeps them after
/// `free`, so memory of closed connections would stay in the RSS).
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own heaps under their locks.
    unsafe { libc::malloc_trim(0) };
}

/// Bytes of physical memory, if the kernel says.
pub fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf takes an integer and returns one.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || size <= 0 {
        return None;
    }
    (pages as u64).checked_mul(size as u64)
}

/// The soft address-space limit (`ulimit -v`), if one is set.
pub fn address_space_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the rlimit it is given, a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } != 0 || r.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some(r.rlim_cur as u64)
}

/// How many times the calling thread has given up the CPU of its own
/// accord (to sleep, wait for I/O or a lock), as opposed to being
/// preempted.
pub fn voluntary_switches() -> u64 {
    // SAFETY: getrusage only writes the rusage it is given, which is a
    // zeroed plain-data struct that lives across the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is valid on Linux.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if r == 0 {
        ru.ru_nvcsw as u64
    } else {
        0
    }
}

// Waiting in nbdkit_nanosleep.

/// An eventfd that turns readable, and stays readable, once a shutdown is
/// requested, so a sleeper can wait on it beside its client's socket
/// instead of waking up to look at the flag.  Created on first use; `None`
/// if the kernel refused one.  Check `lifecycle::shutdown_requested` after
/// getting it: a request made before it existed did not poke it.
pub fn shutdown_fd() -> Option<RawFd> {
    static FD: OnceLock<Option<OwnedFd>> = OnceLock::new();
    FD.get_or_init(|| {
        // SAFETY: eventfd takes only integers; it returns a new descriptor
        // or -1 (checked).
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = owned.as_raw_fd();
        crate::lifecycle::add_waker(Box::new(move || {
            let one: u64 = 1;
            // SAFETY: an 8-byte write from a live local to the eventfd,
            // which the static keeps open for the life of the process.
            unsafe { libc::write(raw, &one as *const u64 as *const libc::c_void, 8) };
        }));
        Some(owned)
    })
    .as_ref()
    .map(|f| f.as_raw_fd())
}

/// `ppoll(2)` on `fds` for at most `timeout` (entries with a negative fd
/// are ignored).  The number of entries with events; 0 when the time ran
/// out.
pub fn poll_for(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is an exclusively borrowed array of pollfd of the
    // given length and `ts` a live local, both for the duration of the
    // call; a NULL sigmask leaves the signal mask alone.
    let r = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

// File operations for the built-in file plugin.

/// `posix_fadvise` on a range of an open file (`len` 0: to the end).  Only
/// a hint: failures are ignored.
pub fn fadvise(file: &std::fs::File, offset: u64, len: u64, advice: libc::c_int) {
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise only reads its integer arguments; the fd is
    // owned by `file`, which is borrowed for the duration of the call.
    unsafe {
        libc::posix_fadvise(std::os::fd::AsRawFd::as_raw_fd(file), off, len, advice);
    }
}

/// `fallocate(2)` on a range.  Returns the OS error on failure.
pub fn fallocate(file: &std::fs::File, mode: libc::c_int, offset: u64, len: u64) -> io::Result<()> {
    let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let len = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: fallocate takes only integers; the fd is valid for the call
    // because `file` is borrowed.
    let r = unsafe { libc::fallocate(std::os::fd::AsRawFd::as_raw_fd(file), mode, off, len) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `lseek(fd, offset, SEEK_DATA|SEEK_HOLE)`.  Does not disturb reads and
/// writes, which are positional.
pub fn seek_data_hole(file: &std::fs::File, offset: u64, whence: libc::c_int) -> io::Result<u64> {
    let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: lseek takes only integers; the fd is valid for the call
    // because `file` is borrowed.
    let r = unsafe { libc::lseek(std::os::fd::AsRawFd::as_raw_fd(file), off, whence) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as u64)
    }
}

/// Whether the process runs as root (effective uid 0), which picks
/// nbdkit's default TLS certificate directory.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
