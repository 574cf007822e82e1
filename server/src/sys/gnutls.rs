//! GnuTLS for the TLS transport: server credentials (X.509 certificates or
//! pre-shared keys) loaded once, and one session per connection.
//!
//! A session never touches the socket for writing: GnuTLS's push callback
//! appends ciphertext to a buffer the caller takes ([`Session::take_output`])
//! and writes through the connection's outbox, so partial writes, ordering
//! and slow readers are handled exactly as for plaintext.  Reading uses a
//! pull callback doing a non-blocking `recv`, so `GNUTLS_E_AGAIN` means
//! "wait for readable" and the session runs on the event loop.

use super::gnutls_bindings as g;
use crate::error::Error;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

/// GnuTLS's message for an error code.
fn gnutls_strerror(code: c_int) -> String {
    // SAFETY: gnutls_strerror returns a static NUL-terminated string for
    // any code (an "unknown error" text for codes it does not know).
    unsafe { CStr::from_ptr(g::gnutls_strerror(code)) }
        .to_string_lossy()
        .into_owned()
}

fn check(what: &str, r: c_int) -> Result<c_int, Error> {
    if r < 0 {
        Err(Error::eio(format!("{what}: {}", gnutls_strerror(r))))
    } else {
        Ok(r)
    }
}

fn cpath(p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::einval(format!("{}: path contains NUL", p.display())))
}

enum Creds {
    X509(g::gnutls_certificate_credentials_t),
    Psk(g::gnutls_psk_server_credentials_t),
}

/// Loaded server credentials, shared by every session.
pub struct Credentials {
    creds: Creds,
    verify_peer: bool,
}

// SAFETY: GnuTLS credentials are only read once loaded, and GnuTLS
// documents read-only use of credentials from many threads as safe.
unsafe impl Send for Credentials {}
// SAFETY: as above: sessions only read the credentials.
unsafe impl Sync for Credentials {}

impl Drop for Credentials {
    fn drop(&mut self) {
        match self.creds {
            // SAFETY: allocated by us in x509()/psk(), freed once here; every
            // session holds an Arc to these credentials, so none is left.
            Creds::X509(c) => unsafe { g::gnutls_certificate_free_credentials(c) },
            // SAFETY: as above.
            Creds::Psk(c) => unsafe { g::gnutls_psk_free_server_credentials(c) },
        }
    }
}

impl Credentials {
    /// `ca-cert.pem`, optional `ca-crl.pem`, `server-cert.pem` and
    /// `server-key.pem` from `dir`.  Errors read as nbdkit's
    /// ("loading PATH: why").
    pub fn x509(dir: &Path, verify_peer: bool) -> Result<Credentials, Error> {
        let mut raw: g::gnutls_certificate_credentials_t = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer.
        check("gnutls_certificate_allocate_credentials", unsafe {
            g::gnutls_certificate_allocate_credentials(&mut raw)
        })?;
        // From here `creds` frees `raw` on every error path.
        let creds = Credentials {
            creds: Creds::X509(raw),
            verify_peer,
        };
        let ca_path = dir.join("ca-cert.pem");
        let ca = cpath(&ca_path)?;
        // SAFETY: `raw` is live; `ca` is a NUL-terminated path.
        check(&format!("loading {}", ca_path.display()), unsafe {
            g::gnutls_certificate_set_x509_trust_file(raw, ca.as_ptr(), g::GNUTLS_X509_FMT_PEM)
        })?;
        let crl = dir.join("ca-crl.pem");
        if crl.exists() {
            let what = format!("loading {}", crl.display());
            let crl = cpath(&crl)?;
            // SAFETY: as above.
            check(&what, unsafe {
                g::gnutls_certificate_set_x509_crl_file(raw, crl.as_ptr(), g::GNUTLS_X509_FMT_PEM)
            })?;
        }
        let (cert_path, key_path) = (dir.join("server-cert.pem"), dir.join("server-key.pem"));
        let what = format!(
            "loading server certificate and key ({}, {})",
            cert_path.display(),
            key_path.display()
        );
        let cert = cpath(&cert_path)?;
        let key = cpath(&key_path)?;
        // SAFETY: as above, both paths NUL-terminated.
        check(&what, unsafe {
            g::gnutls_certificate_set_x509_key_file(
                raw,
                cert.as_ptr(),
                key.as_ptr(),
                g::GNUTLS_X509_FMT_PEM,
            )
        })?;
        Ok(creds)
    }

    /// A psktool `username:hexkey` file.  GnuTLS reads it at each
    /// handshake, so a bad file shows only when a client connects.
    pub fn psk(file: &Path) -> Result<Credentials, Error> {
        let mut raw: g::gnutls_psk_server_credentials_t = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer.
        check("gnutls_psk_allocate_server_credentials", unsafe {
            g::gnutls_psk_allocate_server_credentials(&mut raw)
        })?;
        let creds = Credentials {
            creds: Creds::Psk(raw),
            verify_peer: false,
        };
        let f = cpath(file)?;
        // SAFETY: `raw` is live; `f` is a NUL-terminated path.
        check("gnutls_psk_set_server_credentials_file", unsafe {
            g::gnutls_psk_set_server_credentials_file(raw, f.as_ptr())
        })?;
        Ok(creds)
    }
}

/// `-D nbdkit.tls.log=N`: hand GnuTLS's own log, up to `level`, to our
/// debug output as nbdkit does (`gnutls: LEVEL: MESSAGE`).  Called once,
/// after the command line is applied and before any session exists.
pub fn enable_library_log(level: c_int) {
    if level <= 0 {
        return;
    }
    // SAFETY: `library_log` has the signature GnuTLS expects and lives for
    // the whole process; both calls only store the values.
    unsafe {
        g::gnutls_global_set_log_function(Some(library_log));
        g::gnutls_global_set_log_level(level);
    }
}

unsafe extern "C" fn library_log(level: c_int, msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: GnuTLS passes a NUL-terminated string valid for this call.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    log::debug!("gnutls: {level}: {}", text.trim_end_matches('\n'));
}

/// What the callbacks reach through GnuTLS's transport pointer.
struct Io {
    fd: RawFd,
    session: g::gnutls_session_t,
    /// Ciphertext produced and not yet taken by the writer.
    out: Vec<u8>,
}

unsafe extern "C" fn push(
    ptr: g::gnutls_transport_ptr_t,
    data: *const c_void,
    len: usize,
) -> isize {
    // SAFETY: GnuTLS passes back the pointer we gave it: the session's
    // boxed Io, alive as long as the session; `data` holds `len` bytes.
    let io = unsafe { &mut *(ptr as *mut Io) };
    // SAFETY: as above, `data` is valid for `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
    // Fallible: out of memory fails this send (and the connection), never
    // the process.
    if io.out.try_reserve(len).is_err() {
        // SAFETY: the session is live (it is calling us).
        unsafe { g::gnutls_transport_set_errno(io.session, libc::ENOMEM) };
        return -1;
    }
    io.out.extend_from_slice(bytes);
    len as isize
}

unsafe extern "C" fn pull(ptr: g::gnutls_transport_ptr_t, data: *mut c_void, len: usize) -> isize {
    // SAFETY: as in push().
    let io = unsafe { &mut *(ptr as *mut Io) };
    // SAFETY: `data` is writable for `len` bytes; the fd is the
    // connection's socket, open while the session exists.
    let r = unsafe { libc::recv(io.fd, data, len, 0) };
    if r < 0 {
        let e = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        // SAFETY: the session is live (it is calling us).
        unsafe { g::gnutls_transport_set_errno(io.session, e) };
    }
    r
}

/// One connection's TLS session (server side).
pub struct Session {
    raw: g::gnutls_session_t,
    io: Box<Io>,
    _creds: Arc<Credentials>,
}

// SAFETY: a GnuTLS session may be used from any thread as long as one
// thread at a time uses it; callers keep it behind a Mutex.
unsafe impl Send for Session {}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: initialised in new() and deinitialised once here.
        unsafe { g::gnutls_deinit(self.raw) };
    }
}

type GetDn =
    unsafe extern "C" fn(g::gnutls_x509_crt_t, *mut g::gnutls_datum_t, std::ffi::c_uint) -> c_int;

/// One name of `cert` (RFC 4514 text) through `get` (GnuTLS's `get_dn3`
/// or `get_issuer_dn3`), or the message naming `func`.
fn cert_name(cert: g::gnutls_x509_crt_t, func: &str, get: GetDn) -> Result<String, Error> {
    let mut dn = g::gnutls_datum_t {
        data: std::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: `cert` holds an imported certificate; `dn` is an out-datum
    // GnuTLS allocates, freed below with gnutls_free.
    let r = unsafe { get(cert, &mut dn, 0) };
    let out = if r != 0 {
        Err(Error::eio(format!("{func}: {}", gnutls_strerror(r))))
    } else if dn.data.is_null() {
        Ok(String::new())
    } else {
        // SAFETY: GnuTLS returns `size` bytes of text at `data`.
        let b = unsafe { std::slice::from_raw_parts(dn.data, dn.size as usize) };
        let b = b.split(|&c| c == 0).next().unwrap_or_default();
        Ok(String::from_utf8_lossy(b).into_owned())
    };
    if !dn.data.is_null() {
        // SAFETY: allocated by GnuTLS for us; freed once.
        unsafe {
            if let Some(free) = g::gnutls_free {
                free(dn.data.cast());
            }
        }
    }
    out
}

/// The Distinguished Names of a TLS client's certificate
/// (`nbdkit_peer_tls_dn`, `nbdkit_peer_tls_issuer_dn`), or why there are
/// none.
// One per TLS connection, set once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum PeerDn {
    /// The session authenticated with PSK.
    NotCertificates,
    /// Certificates, but not X.509 ones.
    NotX509,
    /// The client sent no certificate (no `--tls-verify-peer`).
    NoCertificate,
    /// Each name, or the failure of the GnuTLS call that failed.
    Names {
        dn: Result<String, Error>,
        issuer: Result<String, Error>,
    },
}

/// How a handshake step ended.
pub enum Handshake {
    Done,
    /// Wait for the socket to be readable, then call again.
    Again,
}

impl Session {
    /// A server session reading from `fd` (a non-blocking socket).
    pub fn new(creds: &Arc<Credentials>, fd: RawFd) -> Result<Session, Error> {
        let mut raw: g::gnutls_session_t = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer.
        check("gnutls_init", unsafe {
            g::gnutls_init(&mut raw, g::GNUTLS_SERVER | g::GNUTLS_NONBLOCK)
        })?;
        let mut s = Session {
            raw,
            io: Box::new(Io {
                fd,
                session: raw,
                out: Vec::new(),
            }),
            _creds: creds.clone(),
        };
        let (priority, kind, cred): (&CStr, _, *mut c_void) = match creds.creds {
            Creds::X509(c) => (c"NORMAL", g::GNUTLS_CRD_CERTIFICATE, c as *mut c_void),
            Creds::Psk(c) => (
                c"NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK",
                g::GNUTLS_CRD_PSK,
                c as *mut c_void,
            ),
        };
        // SAFETY: the session is live; the priority string is static.
        check("gnutls_priority_set_direct", unsafe {
            g::gnutls_priority_set_direct(raw, priority.as_ptr(), std::ptr::null_mut())
        })?;
        // SAFETY: the credentials outlive the session (it holds an Arc).
        check("gnutls_credentials_set", unsafe {
            g::gnutls_credentials_set(raw, kind, cred)
        })?;
        if creds.verify_peer {
            // SAFETY: the session is live; no hostname is checked (NULL).
            unsafe {
                g::gnutls_certificate_server_set_request(raw, g::GNUTLS_CERT_REQUIRE);
                g::gnutls_session_set_verify_cert(raw, std::ptr::null(), 0);
            }
        }
        let io = &mut *s.io as *mut Io as g::gnutls_transport_ptr_t;
        // SAFETY: `io` is boxed, so its address is stable for the session's
        // life, and the callbacks only use it as an Io.
        unsafe {
            g::gnutls_transport_set_ptr2(raw, io, io);
            g::gnutls_transport_set_push_function(raw, Some(push));
            g::gnutls_transport_set_pull_function(raw, Some(pull));
        }
        Ok(s)
    }

    /// One step of the handshake.  Err carries the log line.
    pub fn handshake(&mut self) -> Result<Handshake, Error> {
        loop {
            // SAFETY: the session is live and set up in new().
            let r = unsafe { g::gnutls_handshake(self.raw) };
            if r == 0 {
                return Ok(Handshake::Done);
            }
            if r == g::GNUTLS_E_AGAIN {
                return Ok(Handshake::Again);
            }
            // SAFETY: a pure function of the code.
            if r == g::GNUTLS_E_INTERRUPTED || unsafe { g::gnutls_error_is_fatal(r) } == 0 {
                continue;
            }
            return Err(Error::eio(format!(
                "gnutls_handshake: {} ({r})",
                gnutls_strerror(r)
            )));
        }
    }

    /// Plaintext into `buf`: Ok(0) at the end of the stream, WouldBlock
    /// when the socket has nothing more now.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is writable for its length; the session is live.
            let r = unsafe { g::gnutls_record_recv(self.raw, buf.as_mut_ptr().cast(), buf.len()) };
            if r >= 0 {
                return Ok(r as usize);
            }
            let r = r as c_int;
            if r == g::GNUTLS_E_AGAIN {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // SAFETY: a pure function of the code.
            if r == g::GNUTLS_E_INTERRUPTED || unsafe { g::gnutls_error_is_fatal(r) } == 0 {
                continue;
            }
            return Err(io::Error::other(format!(
                "gnutls_record_recv: {}",
                gnutls_strerror(r)
            )));
        }
    }

    /// Encrypt `parts` as one corked run of records; the ciphertext is
    /// then in [`Session::take_output`].
    pub fn send(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        // Room for the ciphertext at once (each record of up to 16 KiB adds
        // a header, a tag and maybe padding): one allocation per reply
        // instead of a doubling series.
        let plain: usize = parts.iter().map(|p| p.len()).sum();
        let room = plain + (plain / 16384 + 1) * 64;
        if self.io.out.try_reserve(room).is_err() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        // SAFETY: the session is live.
        unsafe { g::gnutls_record_cork(self.raw) };
        for p in parts {
            let mut p = *p;
            while !p.is_empty() {
                // SAFETY: `p` is readable for its length.
                let r = unsafe { g::gnutls_record_send(self.raw, p.as_ptr().cast(), p.len()) };
                if r < 0 {
                    return Err(io::Error::other(format!(
                        "gnutls_record_send: {}",
                        gnutls_strerror(r as c_int)
                    )));
                }
                p = &p[r as usize..];
            }
        }
        loop {
            // SAFETY: the session is live.  The push callback never blocks,
            // so waiting for the flush cannot stall.
            let r = unsafe { g::gnutls_record_uncork(self.raw, g::GNUTLS_RECORD_WAIT) };
            if r >= 0 {
                return Ok(());
            }
            let r = r as c_int;
            if r != g::GNUTLS_E_AGAIN && r != g::GNUTLS_E_INTERRUPTED {
                return Err(io::Error::other(format!(
                    "gnutls_record_uncork: {}",
                    gnutls_strerror(r)
                )));
            }
        }
    }

    /// Send a close_notify (its bytes are then in the output).
    pub fn bye(&mut self) {
        // SAFETY: the session is live; SHUT_WR does not wait for the peer.
        unsafe { g::gnutls_bye(self.raw, g::GNUTLS_SHUT_WR) };
    }

    /// Ciphertext produced since the last call, to be written in order.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.io.out)
    }

    /// The PSK username the client authenticated as, if PSK was used.
    pub fn psk_username(&self) -> Option<String> {
        // SAFETY: the session is live; the result is NULL or a string
        // owned by the session, copied out before the session can change.
        unsafe {
            let p = g::gnutls_psk_server_get_username(self.raw);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        }
    }

    /// The Distinguished Names of the client's certificate (the first the
    /// client sent), as `nbdkit_peer_tls_dn` and `nbdkit_peer_tls_issuer_dn`
    /// report them, or why there are none.
    pub fn peer_dn(&self) -> PeerDn {
        // SAFETY: the session is live and its handshake completed.
        let (auth, cert_type) = unsafe {
            (
                g::gnutls_auth_get_type(self.raw),
                g::gnutls_certificate_type_get(self.raw),
            )
        };
        if auth != g::GNUTLS_CRD_CERTIFICATE {
            return PeerDn::NotCertificates;
        }
        if cert_type != g::GNUTLS_CRT_X509 {
            return PeerDn::NotX509;
        }
        let mut n: std::ffi::c_uint = 0;
        // SAFETY: the list belongs to the session; it is read before the
        // session changes.
        let list = unsafe { g::gnutls_certificate_get_peers(self.raw, &mut n) };
        if list.is_null() || n == 0 {
            return PeerDn::NoCertificate;
        }
        let mut cert: g::gnutls_x509_crt_t = std::ptr::null_mut();
        // SAFETY: `cert` is a valid out-pointer.
        let r = unsafe { g::gnutls_x509_crt_init(&mut cert) };
        if r != 0 {
            let e = Err(Error::eio(format!(
                "gnutls_x509_crt_init: {}",
                gnutls_strerror(r)
            )));
            return PeerDn::Names {
                dn: e.clone(),
                issuer: e,
            };
        }
        // SAFETY: `list` has at least one DER certificate; `cert` is live.
        let r = unsafe { g::gnutls_x509_crt_import(cert, list, g::GNUTLS_X509_FMT_DER) };
        let names = if r != 0 {
            let e = Err(Error::eio(format!(
                "gnutls_x509_crt_import: {}",
                gnutls_strerror(r)
            )));
            PeerDn::Names {
                dn: e.clone(),
                issuer: e,
            }
        } else {
            PeerDn::Names {
                dn: cert_name(cert, "gnutls_x509_crt_get_dn3", g::gnutls_x509_crt_get_dn3),
                issuer: cert_name(
                    cert,
                    "gnutls_x509_crt_get_issuer_dn3",
                    g::gnutls_x509_crt_get_issuer_dn3,
                ),
            }
        };
        // SAFETY: initialised above, released once.
        unsafe { g::gnutls_x509_crt_deinit(cert) };
        names
    }

    /// GnuTLS's description of the negotiated session, for debug lines.
    pub fn description(&self) -> String {
        // SAFETY: the session is live; the returned string is ours to free
        // with gnutls_free (or NULL).
        unsafe {
            let p = g::gnutls_session_get_desc(self.raw);
            if p.is_null() {
                return String::new();
            }
            let s = CStr::from_ptr(p).to_string_lossy().into_owned();
            if let Some(free) = g::gnutls_free {
                free(p.cast());
            }
            s
        }
    }
}

/// A GnuTLS client for tests of the server's TLS: PSK user `alice` with
/// [`test_client::KEY`].
#[cfg(test)]
pub mod test_client {
    use super::*;

    pub const KEY: &str = "0123456789abcdef0123456789abcdef";

    /// A blocking GnuTLS PSK client on `fd`, run on its own thread: it
    /// sends `msg`, then returns what it reads until close_notify.
    pub fn client(
        fd: RawFd,
        msg: &'static [u8],
    ) -> std::thread::JoinHandle<Result<Vec<u8>, Error>> {
        std::thread::spawn(move || {
            let mut creds: g::gnutls_psk_client_credentials_t = std::ptr::null_mut();
            let mut s: g::gnutls_session_t = std::ptr::null_mut();
            let key = g::gnutls_datum_t {
                data: KEY.as_ptr() as *mut u8,
                size: KEY.len() as u32,
            };
            // SAFETY: out-pointers are valid; the key datum points at a
            // static string GnuTLS copies; the fd stays open (the test
            // owns the stream) until this thread is joined.
            unsafe {
                check(
                    "alloc",
                    g::gnutls_psk_allocate_client_credentials(&mut creds),
                )?;
                check(
                    "set",
                    g::gnutls_psk_set_client_credentials(
                        creds,
                        c"alice".as_ptr(),
                        &key,
                        g::GNUTLS_PSK_KEY_HEX,
                    ),
                )?;
                check("init", g::gnutls_init(&mut s, g::GNUTLS_CLIENT))?;
                check(
                    "priority",
                    g::gnutls_priority_set_direct(
                        s,
                        c"NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK".as_ptr(),
                        std::ptr::null_mut(),
                    ),
                )?;
                check(
                    "creds",
                    g::gnutls_credentials_set(s, g::GNUTLS_CRD_PSK, creds.cast()),
                )?;
                g::gnutls_transport_set_int2(s, fd, fd);
                check("handshake", g::gnutls_handshake(s))?;
                let r = g::gnutls_record_send(s, msg.as_ptr().cast(), msg.len());
                if r != msg.len() as isize {
                    return Err(Error::eio(format!("send: {r}")));
                }
                let mut got = Vec::new();
                let mut buf = [0u8; 65536];
                loop {
                    let r = g::gnutls_record_recv(s, buf.as_mut_ptr().cast(), buf.len());
                    if r == 0 {
                        break;
                    }
                    if r < 0 {
                        return Err(Error::eio(format!("recv: {}", gnutls_strerror(r as c_int))));
                    }
                    got.extend_from_slice(&buf[..r as usize]);
                }
                g::gnutls_deinit(s);
                g::gnutls_psk_free_client_credentials(creds);
                Ok(got)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    //! The server session against a GnuTLS client on a socketpair: the
    //! handshake driven by readiness as the event loop drives it, records
    //! both ways through the output buffer, close_notify.
    use super::test_client::{client, KEY};
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn wait_readable(fd: RawFd) {
        assert!(
            crate::sys::wait_readable(fd, 5000).unwrap(),
            "peer silent for 5 s"
        );
    }

    #[test]
    fn psk_session_over_a_socketpair() {
        let dir = std::env::temp_dir().join(format!("nbdkit-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let psk = dir.join("keys.psk");
        std::fs::write(&psk, format!("alice:{KEY}\n")).unwrap();
        let creds = Arc::new(Credentials::psk(&psk).unwrap());

        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let peer = client(theirs.as_raw_fd(), b"hello over TLS");
        let mut s = Session::new(&creds, ours.as_raw_fd()).unwrap();
        // The handshake as the loop runs it: a step, write what it made,
        // wait for the socket when it says so.
        loop {
            let r = s.handshake().unwrap();
            ours.write_all(&s.take_output()).unwrap();
            match r {
                Handshake::Done => break,
                Handshake::Again => wait_readable(ours.as_raw_fd()),
            }
        }
        assert!(s.description().starts_with("(TLS1."), "{}", s.description());
        let mut buf = [0u8; 100];
        let n = loop {
            match s.recv(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_readable(ours.as_raw_fd()),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"hello over TLS");
        // Nothing more now: WouldBlock, not an error or end of stream.
        assert_eq!(
            s.recv(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        // A reply in parts larger than a record comes out whole.
        let big = vec![7u8; 100_000];
        s.send(&[b"head", &big, b"tail"]).unwrap();
        s.bye();
        let out = s.take_output();
        assert!(out.len() > 100_008, "ciphertext is at least the plaintext");
        ours.set_nonblocking(false).unwrap();
        ours.write_all(&out).unwrap();
        let got = peer.join().unwrap().unwrap();
        assert_eq!(got.len(), 100_008);
        assert_eq!(&got[..4], b"head");
        assert_eq!(&got[got.len() - 4..], b"tail");
        drop(theirs);
        let mut rest = Vec::new();
        let _ = ours.read_to_end(&mut rest);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_files_are_errors() {
        assert!(Credentials::x509(Path::new("/nonexistent"), false).is_err());
        assert!(Credentials::psk(Path::new("/nonexistent/keys.psk")).is_err());
    }
}
