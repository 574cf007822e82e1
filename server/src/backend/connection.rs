//! What one client connection owns across every layer of the stack: who
//! the client is, the export name its plugin was opened with, the strings
//! interned for it, and the default export each layer named for it.
//!
//! The network side creates one per accepted connection and every backend
//! call of that connection gets it; it goes away with the connection (and
//! with it the interned strings), so nothing is kept in a process-wide map.

use crate::sys::gnutls::PeerDn;
use std::ffi::{c_char, CString};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

pub struct Connection {
    /// The connected socket, for `getpeername`/`SO_PEERCRED`, or -1.
    pub fd: RawFd,
    /// Set once the client has completed STARTTLS.
    is_tls: AtomicBool,
    /// Strings handed to C for the life of the connection; the export name
    /// (`nbdkit_export_name`) is the one at `export_name`.
    strings: Mutex<Strings>,
    /// Per layer (outermost first): the export `""` resolves to there,
    /// asked once per connection as nbdkit does.
    default_exports: Box<[OnceLock<Option<String>>]>,
    /// What the client's TLS certificate says (set when the TLS handshake
    /// completes).
    tls_peer: OnceLock<PeerDn>,
    /// `nbdkit_disconnect`: [`ACTIVE`], [`DRAINING`], [`DROPPING`] or
    /// [`DROPPED`].
    disconnect: AtomicU8,
}

const ACTIVE: u8 = 0;
/// New requests are answered ESHUTDOWN; requests in flight complete.
const DRAINING: u8 = 1;
/// Forced: no reply is to be sent; the network side has not yet shut the
/// socket down.
const DROPPING: u8 = 2;
/// Forced, and the socket is shut down.
const DROPPED: u8 = 3;

#[derive(Default)]
struct Strings {
    interned: Vec<CString>,
    export_name: Option<usize>,
}

impl Connection {
    pub fn new(fd: RawFd, is_tls: bool, layers: usize) -> Connection {
        Connection {
            fd,
            is_tls: AtomicBool::new(is_tls),
            strings: Mutex::new(Strings::default()),
            default_exports: (0..layers).map(|_| OnceLock::new()).collect(),
            tls_peer: OnceLock::new(),
            disconnect: AtomicU8::new(ACTIVE),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.is_tls.load(Ordering::Acquire)
    }
    /// The TLS handshake completed; `peer` is what the client's
    /// certificate says.
    pub fn set_tls(&self, peer: PeerDn) {
        let _ = self.tls_peer.set(peer);
        self.is_tls.store(true, Ordering::Release);
    }

    /// The client's certificate names; None without TLS.
    pub fn tls_peer(&self) -> Option<&PeerDn> {
        self.tls_peer.get()
    }

    /// `nbdkit_disconnect`: stop taking requests (`force`: and send no
    /// more replies, the requests in flight included).
    pub fn disconnect(&self, force: bool) {
        let to = if force { DROPPING } else { DRAINING };
        self.disconnect.fetch_max(to, Ordering::AcqRel);
    }

    /// Whether a forced disconnect forbids any more replies.  True exactly
    /// once in `first` for the caller that is then to shut the socket.
    pub fn dropped(&self) -> (bool, bool) {
        let first = self
            .disconnect
            .compare_exchange(DROPPING, DROPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        (
            first || self.disconnect.load(Ordering::Acquire) == DROPPED,
            first,
        )
    }

    /// Whether new requests are to be answered ESHUTDOWN.
    pub fn disconnecting(&self) -> bool {
        self.disconnect.load(Ordering::Acquire) != ACTIVE
    }

    fn strings(&self) -> std::sync::MutexGuard<'_, Strings> {
        self.strings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep `s` until the connection closes; its bytes do not move.
    pub fn intern(&self, s: CString) -> *const c_char {
        let p = s.as_ptr();
        self.strings().interned.push(s);
        p
    }

    /// The name the plugin was (or is being) opened with.
    pub fn set_export_name(&self, name: &[u8]) {
        // The protocol refuses names with NUL bytes.
        let c = CString::new(name).unwrap_or_default();
        let mut st = self.strings();
        st.interned.push(c);
        st.export_name = Some(st.interned.len() - 1);
    }

    /// `nbdkit_export_name`'s answer: valid until the connection closes.
    pub fn export_name_ptr(&self) -> *const c_char {
        let st = self.strings();
        match st.export_name {
            Some(i) => st.interned[i].as_ptr(),
            None => c"".as_ptr(),
        }
    }

    /// The default export cached for layer `index`, computing it with `f`
    /// the first time.  Failures are not cached.
    pub fn default_export<E>(
        &self,
        index: usize,
        f: impl FnOnce() -> Result<Option<String>, E>,
    ) -> Result<Option<String>, E> {
        let Some(cell) = self.default_exports.get(index) else {
            return f();
        };
        if let Some(v) = cell.get() {
            return Ok(v.clone());
        }
        let v = f()?;
        Ok(cell.get_or_init(|| v).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graceful_disconnect_refuses_requests_and_a_forced_one_drops_replies_once() {
        let c = Connection::new(-1, false, 1);
        assert!(!c.disconnecting());
        assert_eq!(c.dropped(), (false, false));
        c.disconnect(false);
        assert!(c.disconnecting());
        assert_eq!(c.dropped(), (false, false), "replies still go out");
        c.disconnect(true);
        assert_eq!(
            c.dropped(),
            (true, true),
            "the first to see it shuts the socket"
        );
        assert_eq!(c.dropped(), (true, false), "and only the first");
        // A later graceful request does not undo a forced one.
        c.disconnect(false);
        assert_eq!(c.dropped(), (true, false));
    }

    #[test]
    fn a_default_export_is_asked_once_per_layer_unless_it_failed() {
        let c = Connection::new(-1, false, 2);
        let calls = std::cell::Cell::new(0);
        let ask = |answer: Result<Option<String>, i32>| {
            calls.set(calls.get() + 1);
            answer
        };
        assert_eq!(c.default_export(0, || ask(Err(5))), Err(5));
        assert_eq!(
            c.default_export(0, || ask(Ok(Some("a".into())))),
            Ok(Some("a".into()))
        );
        assert_eq!(
            c.default_export(0, || ask(Ok(Some("b".into())))),
            Ok(Some("a".into()))
        );
        assert_eq!(c.default_export(1, || ask(Ok(None))), Ok(None));
        assert_eq!(c.default_export(1, || ask(Ok(Some("c".into())))), Ok(None));
        assert_eq!(calls.get(), 3, "a failure, then one answer per layer");
    }
}
