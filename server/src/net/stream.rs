//! A connected client socket, TCP or Unix, or `-s`'s stdin and stdout,
//! usable from the loop (reads) and from workers (writes) at once through
//! shared references.

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// `-s` where stdin is not a socket: requests from `input`, replies
    /// to `output` (see `sys::StdioClient::Split`).
    Split {
        input: File,
        output: File,
    },
}

impl Stream {
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Split { input, .. } => (&*input).read(buf),
        }
    }

    pub fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write_vectored(bufs),
            Stream::Unix(s) => (&*s).write_vectored(bufs),
            Stream::Split { output, .. } => (&*output).write_vectored(bufs),
        }
    }

    pub fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            // Closed when the connection is let go of.
            Stream::Split { .. } => Ok(()),
        };
    }

    pub fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Split { input, .. } => input.as_raw_fd(),
        }
    }

    /// Where replies are written (the socket, or stdout).
    pub fn out_fd(&self) -> RawFd {
        match self {
            Stream::Split { output, .. } => output.as_raw_fd(),
            _ => self.raw_fd(),
        }
    }

    /// Register for readable events; writable ones are asked for with
    /// [`watch_writable`] while replies wait to be sent.  A file or
    /// /dev/null as stdin cannot be polled: EPERM (see `event_loop`).
    pub fn register(&mut self, r: &Registry, t: Token) -> io::Result<()> {
        let i = Interest::READABLE;
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Split { input, .. } => {
                mio::unix::SourceFd(&input.as_raw_fd()).register(r, t, i)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn unix_pair() -> (Stream, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (Stream::Unix(UnixStream::from_std(a)), b)
    }

    #[test]
    fn vectored_writes_arrive_in_order_and_reads_take_what_came() {
        let (s, mut peer) = unix_pair();
        let n = s
            .write_vectored(&[
                IoSlice::new(b"head"),
                IoSlice::new(b"-"),
                IoSlice::new(b"tail"),
            ])
            .unwrap();
        assert_eq!(n, 9);
        let mut got = [0u8; 9];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"head-tail");
        let mut buf = [0u8; 16];
        assert_eq!(
            s.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        peer.write_all(b"abc").unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
    }

    #[test]
    fn shutdown_ends_the_peers_stream() {
        let (s, mut peer) = unix_pair();
        s.shutdown();
        let mut rest = Vec::new();
        assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0);
        // A TCP one too.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut peer, _) = l.accept().unwrap();
        c.set_nonblocking(true).unwrap();
        let s = Stream::Tcp(TcpStream::from_std(c));
        s.shutdown();
        assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0);
    }

    #[test]
    fn asking_for_writable_events_reports_a_writable_socket_at_once() {
        let (mut s, _peer) = unix_pair();
        let mut poll = mio::Poll::new().unwrap();
        let mut events = mio::Events::with_capacity(8);
        s.register(poll.registry(), Token(7)).unwrap();
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert!(events.is_empty(), "readable only, and nothing to read");
        watch_writable(poll.registry(), s.raw_fd(), Token(7), true);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        let ev = events.iter().next().expect("a writable event");
        assert_eq!(ev.token(), Token(7));
        assert!(ev.is_writable());
        watch_writable(poll.registry(), s.raw_fd(), Token(7), false);
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert!(events.is_empty(), "writable events off again");
    }
}
