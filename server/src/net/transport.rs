//! The bytes of one connection, plain or TLS.  Reading goes through
//! [`Transport::read`]; replies go through the outbox, which asks
//! [`Transport::seal`] to encrypt them first when TLS is on, so the rest
//! of the connection code does not care which.  A connection starts plain
//! and may switch once, at STARTTLS.

use super::stream::Stream;
use crate::error::Error;
use crate::tls::{Credentials, Handshake, PeerDn, Session};
use std::io;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub struct Transport {
    pub stream: Stream,
    tls: OnceLock<Mutex<Session>>,
    /// The TLS handshake completed (a close_notify then makes sense).
    established: AtomicBool,
}

impl Deref for Transport {
    type Target = Stream;
    fn deref(&self) -> &Stream {
        &self.stream
    }
}

impl Transport {
    pub fn new(stream: Stream) -> Transport {
        Transport {
            stream,
            tls: OnceLock::new(),
            established: AtomicBool::new(false),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.get().is_some()
    }

    fn session(&self) -> Option<MutexGuard<'_, Session>> {
        self.tls
            .get()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Plaintext from the client.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.session() {
            Some(mut s) => s.recv(buf),
            None => self.stream.read(buf),
        }
    }

    /// Switch to TLS (after STARTTLS was answered).  The handshake is then
    /// run by [`Transport::handshake`].
    pub fn start_tls(&self, creds: &Arc<Credentials>) -> Result<(), Error> {
        let s = Session::new(creds, self.stream.raw_fd())?;
        self.tls
            .set(Mutex::new(s))
            .map_err(|_| Error::einval("STARTTLS on a connection already using TLS"))
    }

    /// The names in the client's TLS certificate (after the handshake).
    pub fn peer_dn(&self) -> PeerDn {
        match self.session() {
            Some(s) => s.peer_dn(),
            None => PeerDn::NotCertificates,
        }
    }

    /// One handshake step: what to write to the socket, and how it ended.
    pub fn handshake(&self) -> (Vec<u8>, Result<Handshake, Error>) {
        let Some(mut s) = self.session() else {
            return (
                Vec::new(),
                Err(Error::einval("TLS handshake without a session")),
            );
        };
        let r = s.handshake();
        if matches!(r, Ok(Handshake::Done)) {
            self.established.store(true, Ordering::SeqCst);
            log::debug!("TLS handshake completed");
            if crate::tls::session_debug() {
                log::debug!("TLS session: {}", s.description());
                if let Some(u) = s.psk_username() {
                    log::debug!("TLS: PSK username: {u}");
                }
            }
        }
        (s.take_output(), r)
    }

    /// With TLS, the ciphertext for `parts` (and anything the session
    /// produced before it, in order); without, None: send `parts` as they
    /// are.  Called under the outbox's lock, so records reach the socket
    /// in the order they were sealed.
    pub fn seal(&self, parts: &[&[u8]]) -> io::Result<Option<Vec<u8>>> {
        match self.session() {
            None => Ok(None),
            Some(mut s) => {
                s.send(parts)?;
                Ok(Some(s.take_output()))
            }
        }
    }

    /// After our close_notify: wait (on a worker, at most `ms`) for the
    /// client's own close_notify or end of stream, reading and dropping
    /// anything else, as nbdkit's two-way TLS shutdown does.  A client
    /// that sends its close_notify after NBD_CMD_DISC then finds the
    /// socket still open instead of getting EPIPE.
    pub fn await_peer_close(&self, ms: u64) {
        if !self.established.load(Ordering::SeqCst) {
            return;
        }
        let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        let mut buf = [0u8; 4096];
        loop {
            match self.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = end.saturating_duration_since(std::time::Instant::now());
                    let left = left.as_millis() as i32;
                    if left == 0
                        || !matches!(
                            crate::sys::wait_readable(self.stream.raw_fd(), left),
                            Ok(true)
                        )
                    {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// The close_notify to send before closing, if TLS is on.
    pub fn bye(&self) -> Option<Vec<u8>> {
        if !self.established.load(Ordering::SeqCst) {
            return None;
        }
        let mut s = self.session()?;
        s.bye();
        Some(s.take_output())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::gnutls::test_client::{client, KEY};
    use std::io::{Read as _, Write as _};
    use std::os::fd::AsRawFd;

    fn wait(t: &Transport) {
        assert!(
            crate::sys::wait_readable(t.raw_fd(), 5000).unwrap(),
            "client silent for 5 s"
        );
    }

    #[test]
    fn plain_bytes_pass_through_untouched() {
        let (t, mut peer) = super::super::testing::transport();
        assert!(!t.is_tls());
        peer.write_all(b"NBDMAGIC").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(t.read(&mut buf).unwrap(), 8);
        assert_eq!(&buf[..8], b"NBDMAGIC");
        // Replies are sent as they are, no goodbye, no names.
        assert!(t.seal(&[b"reply"]).unwrap().is_none());
        assert!(t.bye().is_none());
        assert_eq!(t.peer_dn(), PeerDn::NotCertificates);
        let (out, r) = t.handshake();
        assert!(out.is_empty());
        assert_eq!(
            r.err().unwrap().to_string(),
            "TLS handshake without a session"
        );
    }

    #[test]
    fn after_starttls_the_client_speaks_through_tls() {
        let dir = std::env::temp_dir().join(format!("nbdkit-transport-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let psk = dir.join("keys.psk");
        std::fs::write(&psk, format!("alice:{KEY}\n")).unwrap();
        let creds = Arc::new(Credentials::psk(&psk).unwrap());
        let (t, mut peer) = super::super::testing::transport();
        let client = client(peer.as_raw_fd(), b"NBD request");
        t.start_tls(&creds).unwrap();
        assert!(t.is_tls());
        assert_eq!(
            t.start_tls(&creds).err().unwrap().to_string(),
            "STARTTLS on a connection already using TLS"
        );
        // The handshake as the connection runs it: write what each step
        // made, wait for the socket when it says so.
        loop {
            let (out, r) = t.handshake();
            write_out(&t.stream, &out);
            match r.unwrap() {
                Handshake::Done => break,
                Handshake::Again => wait(&t),
            }
        }
        assert_eq!(t.peer_dn(), PeerDn::NotCertificates, "PSK, no certificate");
        let mut buf = [0u8; 64];
        let n = loop {
            match t.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(&t),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"NBD request");
        let sealed = t.seal(&[b"NBD ", b"reply"]).unwrap().unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"reply"), "encrypted");
        write_out(&t.stream, &sealed);
        let bye = t.bye().expect("a close_notify after a handshake");
        write_out(&t.stream, &bye);
        assert_eq!(client.join().unwrap().unwrap(), b"NBD reply");
        drop(t);
        let mut rest = Vec::new();
        let _ = peer.read_to_end(&mut rest);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// All of `bytes`, waiting while the socket is full.
    fn write_out(s: &Stream, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match s.write_vectored(&[io::IoSlice::new(bytes)]) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
