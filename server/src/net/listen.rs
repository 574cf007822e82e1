//! Listening sockets: TCP on every address of the host (or `-i ADDR`),
//! a Unix socket, AF_VSOCK (`--vsock`), or the sockets systemd passed
//! (socket activation).

use super::stream::Stream;
use crate::fatal::Fatal;
use crate::sys::strerror;
use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
    /// AF_VSOCK: mio has no type for it, so the raw descriptor.
    Vsock(std::os::fd::OwnedFd),
}

impl Listener {
    pub fn register(&mut self, r: &Registry, t: Token) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => r.register(l, t, Interest::READABLE),
            Listener::Unix(l) => r.register(l, t, Interest::READABLE),
            Listener::Vsock(fd) => {
                use std::os::fd::AsRawFd;
                r.register(
                    &mut mio::unix::SourceFd(&fd.as_raw_fd()),
                    t,
                    Interest::READABLE,
                )
            }
        }
    }

    pub fn deregister(&mut self, r: &Registry) {
        let _ = match self {
            Listener::Tcp(l) => r.deregister(l),
            Listener::Unix(l) => r.deregister(l),
            Listener::Vsock(fd) => {
                use std::os::fd::AsRawFd;
                r.deregister(&mut mio::unix::SourceFd(&fd.as_raw_fd()))
            }
        };
    }

    /// Accept a connection; `keepalive` (`--keepalive`) turns on
    /// SO_KEEPALIVE on a TCP one.
    pub fn accept(&self, keepalive: bool) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                // Replies are written whole; don't let Nagle hold them back.
                let _ = s.set_nodelay(true);
                if keepalive {
                    use std::os::fd::AsRawFd;
                    crate::sys::set_keepalive(s.as_raw_fd());
                }
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l) => Ok(Stream::Unix(l.accept()?.0)),
            // A connected stream socket reads and writes like any other;
            // the Unix stream type carries it.
            Listener::Vsock(fd) => {
                let s = crate::sys::accept_nonblocking(fd)?;
                Ok(Stream::Unix(mio::net::UnixStream::from_std(s.into())))
            }
        }
    }
}

/// Listen on AF_VSOCK port `port` of every CID, as nbdkit's `--vsock`.
pub fn bind_vsock(port: u32) -> Result<Vec<Listener>, Fatal> {
    let fd = crate::sys::vsock_listen(port, BACKLOG)
        .map_err(|e| Fatal::text(format!("nbdkit: {}: {}", e.0, strerror(&e.1))))?;
    log::debug!("bound to vsock any:{port}");
    Ok(vec![Listener::Vsock(fd)])
}

/// The `n` listening sockets systemd passed as fds 3.. (socket
/// activation), each as the kind of socket it is.
pub fn activated(n: usize) -> Result<Vec<Listener>, Fatal> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let fd = 3 + i as i32;
        let (owned, family) = crate::sys::inherited_socket(fd).map_err(|e| {
            Fatal::text(format!(
                "nbdkit: socket activation: fd {fd}: {}",
                strerror(&e)
            ))
        })?;
        let l = match family {
            libc::AF_UNIX => {
                let l = std::os::unix::net::UnixListener::from(owned);
                l.set_nonblocking(true)
                    .map_err(|e| Fatal::text(e.to_string()))?;
                Listener::Unix(UnixListener::from_std(l))
            }
            libc::AF_INET | libc::AF_INET6 => {
                let l = std::net::TcpListener::from(owned);
                l.set_nonblocking(true)
                    .map_err(|e| Fatal::text(e.to_string()))?;
                Listener::Tcp(TcpListener::from_std(l))
            }
            _ => {
                crate::sys::set_nonblocking(&owned).map_err(|e| Fatal::text(e.to_string()))?;
                Listener::Vsock(owned)
            }
        };
        out.push(l);
    }
    log::debug!("using socket activation, nr_socks = {n}");
    Ok(out)
}

/// Bind TCP listeners for `port` on `addr` (or every local address).  The
/// error is worded as nbdkit words it.
pub fn bind_tcp(
    addr: Option<&str>,
    port: &str,
    ipv4_only: bool,
    ipv6_only: bool,
) -> Result<Vec<Listener>, Fatal> {
    let port: u16 = match port.parse() {
        Ok(p) => p,
        Err(_) => {
            // A service name such as "nbd".
            match (format!("localhost:{port}")).to_socket_addrs() {
                Ok(mut a) => a.next().map(|a| a.port()).unwrap_or(10809),
                Err(_) => {
                    return Err(Fatal::text(format!(
                        "nbdkit: getaddrinfo: {}: {port}: Servname not supported for ai_socktype",
                        addr.unwrap_or("<any>")
                    )))
                }
            }
        }
    };
    let addrs: Vec<SocketAddr> = match addr {
        Some(a) => {
            let a = a.trim_start_matches('[').trim_end_matches(']');
            match a.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => (a, port)
                    .to_socket_addrs()
                    .map_err(|e| {
                        Fatal::text(format!(
                            "nbdkit: getaddrinfo: {a}: {port}: {}",
                            strerror(&e)
                        ))
                    })?
                    .collect(),
            }
        }
        None => vec![
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port),
        ],
    };
    let mut out = Vec::new();
    let mut in_use = false;
    let mut failed = None;
    for sa in addrs {
        if (ipv4_only && sa.is_ipv6()) || (ipv6_only && sa.is_ipv4()) {
            continue;
        }
        match bind_one(sa) {
            Ok(l) => out.push(Listener::Tcp(l)),
            // An address in use is skipped (with both families the v6
            // wildcard may already cover v4).
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => in_use = true,
            Err(e) => {
                failed.get_or_insert(format!("bind: {}", strerror(&e)));
            }
        }
    }
    // Any other error is fatal, except for one of the two wildcards (a
    // host without IPv6 cannot bind [::]) when the other one is bound.
    if let Some(f) = failed {
        if out.is_empty() || addr.is_some() {
            return Err(Fatal::text(f));
        }
    }
    if out.is_empty() {
        return Err(Fatal::text(if in_use {
            "nbdkit: unable to bind to any TCP/IP sockets\n\
             nbdkit: socket error: Address already in use"
        } else {
            "nbdkit: no addresses to listen on"
        }));
    }
    Ok(out)
}

/// nbdkit listens with a backlog of `SOMAXCONN` (4096 in glibc), which the
/// kernel caps at `net.core.somaxconn`.  std's TCP bind asks for only 128:
/// a burst of connections beyond that would be dropped by the kernel
/// before the loop could accept them.
const BACKLOG: i32 = 4096;

fn bind_one(sa: SocketAddr) -> io::Result<TcpListener> {
    let l = crate::sys::tcp_listen(sa, BACKLOG)?;
    l.set_nonblocking(true)?;
    Ok(TcpListener::from_std(l))
}

/// Bind and listen on a Unix socket at `path`.  The socket listens under a
/// temporary name first and is then renamed into place, so a client that
/// waits for `path` to appear never finds it not yet listening (bind and
/// listen are two steps, and a busy machine can preempt in between).
pub fn bind_unix(path: &std::path::Path) -> Result<Listener, Fatal> {
    let shown = path.display();
    // Worded as nbdkit's perror(path).
    let err = |e: io::Error| Fatal::text(format!("{shown}: {}", strerror(&e)));
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(err(io::Error::from_raw_os_error(libc::EADDRINUSE)));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let l = match std::os::unix::net::UnixListener::bind(&tmp) {
        Ok(l) => {
            if let Err(e) = std::fs::rename(&tmp, path) {
                let _ = std::fs::remove_file(&tmp);
                return Err(err(e));
            }
            l
        }
        // The longer name may not fit in a socket address: bind directly.
        Err(_) => std::os::unix::net::UnixListener::bind(path).map_err(err)?,
    };
    l.set_nonblocking(true)
        .map_err(|e| Fatal::text(format!("{shown}: {e}")))?;
    crate::sys::set_listen_backlog(std::os::fd::AsRawFd::as_raw_fd(&l), BACKLOG)
        .map_err(|e| Fatal::text(format!("{shown}: {e}")))?;
    Ok(Listener::Unix(UnixListener::from_std(l)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("nbdkit-listen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Accept what is queued, waiting up to a second for it to arrive.
    fn accept(l: &Listener) -> Stream {
        for _ in 0..100 {
            match l.accept(false) {
                Ok(s) => return s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        panic!("no connection to accept");
    }

    fn read_some(s: &Stream) -> Vec<u8> {
        let mut buf = [0u8; 64];
        assert!(crate::sys::wait_readable(s.raw_fd(), 5000).unwrap());
        let n = s.read(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn a_unix_socket_is_in_place_and_listening_when_bound() {
        let dir = temp_dir("unix");
        let path = dir.join("sock");
        let l = bind_unix(&path).unwrap();
        // Only the socket: the temporary name it listened under is gone.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sock")]);
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let s = accept(&l);
        client.write_all(b"hello").unwrap();
        assert_eq!(read_some(&s), b"hello");
        // A second server on the same path is refused as nbdkit words it.
        let e = bind_unix(&path).err().unwrap();
        assert_eq!(
            e.to_string(),
            format!("{}: Address already in use", path.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tcp_listens_on_the_address_asked_and_refuses_a_taken_port() {
        let ls = bind_tcp(Some("127.0.0.1"), "0", false, false).unwrap();
        assert_eq!(ls.len(), 1);
        let Listener::Tcp(t) = &ls[0] else {
            panic!("not a TCP listener")
        };
        let addr = t.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let s = accept(&ls[0]);
        client.write_all(b"ping").unwrap();
        assert_eq!(read_some(&s), b"ping");
        let port = addr.port().to_string();
        let e = bind_tcp(Some("127.0.0.1"), &port, false, false)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "nbdkit: unable to bind to any TCP/IP sockets\n\
             nbdkit: socket error: Address already in use"
        );
    }

    #[test]
    fn tcp_errors_in_nbdkits_words() {
        let e = bind_tcp(None, "no-such-service-name", false, false)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "nbdkit: getaddrinfo: <any>: no-such-service-name: Servname not supported for ai_socktype"
        );
        // -4 with an IPv6 address leaves nothing to listen on.
        let e = bind_tcp(Some("::1"), "0", true, false).err().unwrap();
        assert_eq!(e.to_string(), "nbdkit: no addresses to listen on");
    }
}
