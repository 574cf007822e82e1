//! Socket and descriptor calls std does not offer: waiting for readiness,
//! buffer sizes, listen backlogs, the shutdown eventfd.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::Duration;

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
