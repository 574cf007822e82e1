//! Process-level OS calls: signals, daemonizing, user and group ids,
//! parent-death signals, the client on stdin and stdout (-s), syslog, rusage.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

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
/// died first); the child stays in the caller's session and process group
/// (as nbdkit's: whoever kills the group it started kills the server
/// too), changes to `/` and points
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

/// `setgroups` with `gid` as the only supplementary group.
pub fn set_only_group(gid: u32) -> io::Result<()> {
    // SAFETY: setgroups with a one-element array that outlives the call.
    if unsafe { libc::setgroups(1, &gid) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setgid`.
pub fn set_gid(gid: u32) -> io::Result<()> {
    // SAFETY: setgid takes a plain integer.
    if unsafe { libc::setgid(gid) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setuid`.
pub fn set_uid(uid: u32) -> io::Result<()> {
    // SAFETY: setuid takes a plain integer.
    if unsafe { libc::setuid(uid) } == -1 {
        return Err(io::Error::last_os_error());
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

/// `-s`: where the client is.
pub enum StdioClient {
    /// stdin is a socket (a client ran the server with its end of a
    /// socket pair as stdin and stdout): both ways on it.
    Socket(std::os::unix::net::UnixStream),
    /// Anything else (pipes, files, /dev/null): requests from stdin,
    /// replies to stdout, as nbdkit reads and writes them.  A pipe is
    /// read without blocking; stdout is written as it is (blocking, as
    /// nbdkit writes it).
    Split {
        input: std::fs::File,
        output: std::fs::File,
    },
}

/// Copies of stdin and stdout for `-s`, before they are given up.
pub fn stdio_client() -> io::Result<StdioClient> {
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;
    let input = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let kind = input.metadata()?.file_type();
    if kind.is_socket() {
        let s = std::os::unix::net::UnixStream::from(OwnedFd::from(input));
        s.set_nonblocking(true)?;
        return Ok(StdioClient::Socket(s));
    }
    // A pipe is polled as a socket is.  Files never block; a terminal's
    // mode is left as it is (the shell shares it).
    if kind.is_fifo() {
        let fd = OwnedFd::from(input.try_clone()?);
        super::socket::set_nonblocking(&fd)?;
    }
    let output = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok(StdioClient::Split {
        input,
        output: output.into(),
    })
}

extern "C" {
    /// glibc's `FILE *stdin`, which a C plugin may have read from.
    #[link_name = "stdin"]
    static mut c_stdin: *mut libc::FILE;
}

/// Flush C stdio, as nbdkit does before it forks or gives up stdio:
/// what a plugin printed is written out, and what it read ahead from a
/// seekable stdin is given back to the file.
pub fn flush_c_stdio() {
    // SAFETY: `stdin` is glibc's stream pointer, valid for the process's
    // life; fflush on an input stream (glibc: drops the read-ahead and
    // seeks the descriptor back) and fflush(NULL) (every output stream)
    // touch only the streams' own buffers.
    unsafe {
        libc::fflush(std::ptr::addr_of!(c_stdin).read());
        libc::fflush(std::ptr::null_mut());
    }
}

/// Copies of stdin and stdout (close-on-exec), for a `--run` command
/// to get once the server's own point at /dev/null.
pub fn save_stdio() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin().as_fd().try_clone_to_owned()?;
    let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok((stdin, stdout))
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

std::thread_local! {
    static TID: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// The calling thread's id (as in /proc/self/task), asked of the kernel
/// once per thread.
pub fn thread_id() -> i32 {
    TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid has no arguments and cannot fail.
            t.set(unsafe { libc::gettid() });
        }
        t.get()
    })
}

/// Whether thread `tid` of this process is asleep (waiting for I/O, a
/// lock or a timer) rather than running or ready to run.  False when
/// that cannot be read.
pub fn thread_sleeping(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // "tid (comm) S ...": the name may hold spaces and parentheses.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    matches!(state, Some('S' | 'D'))
}

/// Whether the process runs as root (effective uid 0), which picks
/// nbdkit's default TLS certificate directory.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_thread_waiting_on_a_channel_is_asleep_and_a_spinning_one_is_not() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{mpsc, Arc};
        let (tid_tx, tid_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            tid_tx.send(thread_id()).unwrap();
            go_rx.recv().unwrap();
        });
        let tid = tid_rx.recv().unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !thread_sleeping(tid) && std::time::Instant::now() < end {
            std::thread::yield_now();
        }
        assert!(thread_sleeping(tid), "blocked in recv");
        go_tx.send(()).unwrap();
        sleeper.join().unwrap();
        assert!(!thread_sleeping(tid), "gone: cannot be read");
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let (tid_tx, tid_rx) = mpsc::channel();
        let spinner = std::thread::spawn(move || {
            tid_tx.send(thread_id()).unwrap();
            while !s2.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let tid = tid_rx.recv().unwrap();
        assert!(!thread_sleeping(tid), "running or ready to run");
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        assert_eq!(thread_id(), thread_id(), "cached per thread");
    }

    #[test]
    fn names_in_the_user_and_group_databases() {
        assert_eq!(user_id(OsStr::new("root")), Some(0));
        assert_eq!(group_id(OsStr::new("root")), Some(0));
        assert_eq!(user_id(OsStr::new("no-such-user-nbdkit")), None);
        assert_eq!(group_id(OsStr::new("no-such-group-nbdkit")), None);
        assert_eq!(user_id(OsStr::new("ro\0ot")), None, "a NUL is no name");
        assert_eq!(
            is_root(),
            std::fs::metadata("/proc/self").unwrap().uid() == 0
        );
    }

    #[test]
    fn a_temporary_directory_is_new_and_private() {
        let template = std::env::temp_dir().join("nbdkit-sys-XXXXXX");
        let a = make_temp_dir(&template).unwrap();
        let b = make_temp_dir(&template).unwrap();
        assert_ne!(a, b);
        for d in [&a, &b] {
            let name = d.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("nbdkit-sys-") && !name.ends_with("XXXXXX"));
            let meta = std::fs::metadata(d).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
            std::fs::remove_dir(d).unwrap();
        }
        let e = make_temp_dir(std::path::Path::new("/nonexistent/x-XXXXXX")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = make_temp_dir(&std::env::temp_dir().join("no-template")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn sleeping_counts_as_a_voluntary_switch() {
        let before = voluntary_switches();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(voluntary_switches() > before);
    }
}
