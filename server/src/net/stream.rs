//! A connected client socket, TCP or Unix, usable from the loop (reads) and
//! from workers (writes) at once through shared references.

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
        }
    }

    pub fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write_vectored(bufs),
            Stream::Unix(s) => (&*s).write_vectored(bufs),
        }
    }

    pub fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }

    pub fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Register for readable events; writable ones are asked for with
    /// [`watch_writable`] while replies wait to be sent.
    pub fn register(&mut self, r: &Registry, t: Token) -> io::Result<()> {
        let i = Interest::READABLE;
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }
}

/// Ask for writable events on `fd` as well as readable ones, or stop.
/// Safe from any thread; changing the interest of a socket that is already
/// writable reports it at once, so no edge is lost.
pub fn watch_writable(r: &Registry, fd: RawFd, t: Token, on: bool) {
    let i = if on {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    // Fails only once the connection is deregistered for closing.
    let _ = r.reregister(&mut mio::unix::SourceFd(&fd), t, i);
}
