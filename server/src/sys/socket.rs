//! Socket and descriptor calls std does not offer: waiting for readiness,
//! buffer sizes, listen backlogs, the shutdown eventfd, inherited
//! (socket-activated) and vsock listeners.

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

/// Turn on SO_KEEPALIVE on a connected socket (`--keepalive`).  As in
/// nbdkit, a failure is ignored.
pub fn set_keepalive(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a live c_int and the length passed is its size;
    // the kernel only reads it.  A bad fd is reported as an error, not UB.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Set the backlog of a listening socket (calling `listen` again on one
/// only changes its queue length; the kernel caps it at
/// `net.core.somaxconn`).
/// A TCP socket bound to `sa` and listening, as nbdkit makes them: one
/// per address family (an IPv6 socket takes IPv6 only, IPV6_V6ONLY, so the
/// IPv4 wildcard gets its own), SO_REUSEADDR, close-on-exec.
pub fn tcp_listen(sa: std::net::SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let family = if sa.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    let set = |level, name| {
        // SAFETY: setsockopt with an int option value that outlives the call.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    set(libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    if sa.is_ipv6() {
        set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?;
    }
    // SAFETY: zeroed sockaddr_storage is valid; the matching sockaddr_in
    // or sockaddr_in6 is written into it below.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match sa {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for it.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // SAFETY: bind with the address written above and its true length.
    if unsafe {
        libc::bind(
            fd,
            &ss as *const _ as *const libc::sockaddr,
            len as libc::socklen_t,
        )
    } == -1
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen on our bound socket.
    if unsafe { libc::listen(fd, backlog) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(owned))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn readiness_is_waited_for_with_a_timeout() {
        let (mut a, b) = UnixStream::pair().unwrap();
        assert!(
            !wait_readable(b.as_raw_fd(), 0).unwrap(),
            "nothing sent yet"
        );
        assert!(wait_writable(a.as_raw_fd(), 0).unwrap());
        a.write_all(b"x").unwrap();
        assert!(wait_readable(b.as_raw_fd(), 1000).unwrap());
        let mut fds = [
            libc::pollfd {
                fd: b.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: -1,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        assert_eq!(poll_for(&mut fds, Duration::from_millis(0)).unwrap(), 1);
        assert_ne!(fds[0].revents & libc::POLLIN, 0);
        assert_eq!(fds[1].revents, 0, "a negative fd is ignored");
        // A hang-up wakes a reader too.
        drop(a);
        let mut buf = [0u8; 1];
        std::io::Read::read_exact(&mut &b, &mut buf).unwrap();
        assert!(wait_readable(b.as_raw_fd(), 1000).unwrap());
    }

    #[test]
    fn a_listener_accepts_without_blocking() {
        let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 8).unwrap();
        let addr = l.local_addr().unwrap();
        let l = OwnedFd::from(l);
        set_nonblocking(&l).unwrap();
        let e = accept_nonblocking(&l).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let _client = std::net::TcpStream::connect(addr).unwrap();
        assert!(wait_readable(l.as_raw_fd(), 1000).unwrap());
        let c = accept_nonblocking(&l).unwrap();
        // accept4 made the new socket non-blocking.
        let s = std::net::TcpStream::from(c);
        let mut buf = [0u8; 1];
        let e = std::io::Read::read(&mut &s, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "non-blocking");
        // The port is taken: a second listener on it fails.
        let e = tcp_listen(addr, 8).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
        // Inherited descriptors must be sockets.
        let f = std::fs::File::open("/proc/self/status").unwrap();
        let e = inherited_socket(std::os::fd::IntoRawFd::into_raw_fd(f)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
