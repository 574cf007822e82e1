//! Listening sockets: TCP on every address of the host (or `-i ADDR`),
//! or a Unix socket.

use super::stream::Stream;
use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    pub fn register(&mut self, r: &Registry, t: Token) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => r.register(l, t, Interest::READABLE),
            Listener::Unix(l) => r.register(l, t, Interest::READABLE),
        }
    }

    pub fn deregister(&mut self, r: &Registry) {
        let _ = match self {
            Listener::Tcp(l) => r.deregister(l),
            Listener::Unix(l) => r.deregister(l),
        };
    }

    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                // Replies are written whole; don't let Nagle hold them back.
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l) => Ok(Stream::Unix(l.accept()?.0)),
        }
    }
}

/// Bind TCP listeners for `port` on `addr` (or every local address).
pub fn bind_tcp(
    addr: Option<&str>,
    port: &str,
    ipv4_only: bool,
    ipv6_only: bool,
) -> Result<Vec<Listener>, String> {
    let port: u16 = match port.parse() {
        Ok(p) => p,
        Err(_) => {
            // A service name such as "nbd".
            match (format!("localhost:{port}")).to_socket_addrs() {
                Ok(mut a) => a.next().map(|a| a.port()).unwrap_or(10809),
                Err(_) => return Err(format!("getaddrinfo: {port}: Servname not supported")),
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
                    .map_err(|e| format!("getaddrinfo: {a}: {port}: {e}"))?
                    .collect(),
            }
        }
        None => vec![
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port),
        ],
    };
    let mut out = Vec::new();
    let mut last_err = None;
    for sa in addrs {
        if (ipv4_only && sa.is_ipv6()) || (ipv6_only && sa.is_ipv4()) {
            continue;
        }
        match bind_one(sa) {
            Ok(l) => out.push(Listener::Tcp(l)),
            // With both families, the v6 wildcard may already cover v4.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && !out.is_empty() && addr.is_none() => {
            }
            Err(e) => last_err = Some(format!("bind: {sa}: {e}")),
        }
    }
    if out.is_empty() {
        return Err(last_err.unwrap_or_else(|| "no addresses to listen on".into()));
    }
    Ok(out)
}

fn bind_one(sa: SocketAddr) -> io::Result<TcpListener> {
    // std's bind sets SO_REUSEADDR on Unix, as nbdkit does.
    let l = std::net::TcpListener::bind(sa)?;
    l.set_nonblocking(true)?;
    Ok(TcpListener::from_std(l))
}

/// Bind and listen on a Unix socket at `path`.  The error is the whole
/// message to print.  The socket listens under a
/// temporary name first and is then renamed into place, so a client that
/// waits for `path` to appear never finds it not yet listening (bind and
/// listen are two steps, and a busy machine can preempt in between).
pub fn bind_unix(path: &str) -> Result<Listener, String> {
    // Worded as nbdkit's perror(path), without the " (os error N)" tail.
    let err = |e: io::Error| {
        let text = e.to_string();
        let text = text.split(" (os error").next().unwrap_or_default().to_string();
        format!("{path}: {text}")
    };
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(err(io::Error::from_raw_os_error(libc::EADDRINUSE)));
    }
    let tmp = format!("{path}.{}.tmp", std::process::id());
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
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(Listener::Unix(UnixListener::from_std(l)))
}
