//! TLS settings from the command line, settled once at start-up as nbdkit
//! 1.32.5 settles them: `--tls-psk` wins over certificates; certificates
//! come from `--tls-certificates` or nbdkit's default directories; a
//! `--tls` that was not given means "on if certificates load".

use crate::cli::Options;
use crate::fatal::Fatal;
use crate::protocol::negotiate::TlsMode;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

pub use crate::sys::gnutls::{Credentials, Handshake, PeerDn, Session};

/// What the server offers, after loading credentials.
pub struct Settings {
    pub mode: TlsMode,
    /// Present whenever `mode` is not `Off`.
    pub creds: Option<Arc<Credentials>>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// The settled mode (`Off` before [`setup`] runs).
pub fn mode() -> TlsMode {
    SETTINGS.get().map(|s| s.mode).unwrap_or_default()
}

pub fn credentials() -> Option<Arc<Credentials>> {
    SETTINGS.get().and_then(|s| s.creds.clone())
}

static SESSION_DEBUG: AtomicBool = AtomicBool::new(false);

/// The `-D nbdkit.tls.session` and `nbdkit.tls.log` settings, once the
/// command line is applied: log each negotiated session, and GnuTLS's own
/// log up to `library_log` (with credentials loaded only).
pub fn set_debug(session: bool, library_log: std::ffi::c_int) {
    SESSION_DEBUG.store(session, Ordering::Relaxed);
    if credentials().is_some() {
        crate::sys::gnutls::enable_library_log(library_log);
    }
}

/// Whether each connection logs the TLS session it negotiated.
pub fn session_debug() -> bool {
    SESSION_DEBUG.load(Ordering::Relaxed)
}

/// nbdkit's default certificate directories: `/etc/pki/nbdkit` for root,
/// else `$HOME/.pki/nbdkit` then `$HOME/.config/pki/nbdkit`.
fn default_dirs() -> Vec<PathBuf> {
    if crate::sys::is_root() {
        return vec![PathBuf::from("/etc/pki/nbdkit")];
    }
    match std::env::var_os("HOME") {
        Some(h) => {
            let h = PathBuf::from(h);
            vec![h.join(".pki/nbdkit"), h.join(".config/pki/nbdkit")]
        }
        None => Vec::new(),
    }
}

/// A directory holds what X.509 needs when its three files are readable.
fn has_certificates(dir: &std::path::Path) -> bool {
    ["ca-cert.pem", "server-cert.pem", "server-key.pem"]
        .iter()
        .all(|f| std::fs::File::open(dir.join(f)).is_ok())
}

const TRY_SETTING: &str = "Try setting ‘--tls-certificates=/path/to/certificates’ or read\n\
                           the \"TLS\" section in nbdkit(1).";

/// Settle the TLS settings; the errors nbdkit refuses to start with come
/// back in its words.
pub fn setup(opts: &Options) -> Result<(), Fatal> {
    let settings = settle(opts)?;
    let _ = SETTINGS.set(settings);
    Ok(())
}

fn settle(opts: &Options) -> Result<Settings, Fatal> {
    let off = Settings {
        mode: TlsMode::Off,
        creds: None,
    };
    if opts.tls == Some(TlsMode::Require) && opts.oldstyle {
        return Err(Fatal::plain(
            "cannot use oldstyle protocol (-o) and require TLS",
        ));
    }
    if opts.tls == Some(TlsMode::Off) {
        return Ok(off);
    }
    let mode = opts.tls.unwrap_or(TlsMode::On);
    if let Some(psk) = &opts.tls_psk {
        // Only that the file can be opened is checked here: GnuTLS reads
        // it at each handshake, as in nbdkit.
        if let Err(e) = std::fs::File::open(psk) {
            let e = crate::sys::strerror(&e);
            return Err(Fatal::text(format!("{psk}: {e}")));
        }
        // Absolute: GnuTLS opens the file at each handshake, after a
        // background server has changed directory to /.
        let path = std::path::absolute(psk).unwrap_or_else(|_| PathBuf::from(psk));
        let creds = Credentials::psk(&path).map_err(gnutls_error)?;
        log::debug!("TLS enabled using: Pre-Shared Keys (PSK)");
        return Ok(Settings {
            mode,
            creds: Some(Arc::new(creds)),
        });
    }
    let dirs = match &opts.tls_certificates {
        Some(d) => vec![PathBuf::from(d)],
        None => default_dirs(),
    };
    for dir in dirs {
        if !has_certificates(&dir) {
            continue;
        }
        let creds = Credentials::x509(&dir, opts.tls_verify_peer).map_err(gnutls_error)?;
        log::debug!(
            "successfully loaded TLS certificates from {}",
            dir.display()
        );
        log::debug!("TLS enabled using: X.509 certificates");
        return Ok(Settings {
            mode,
            creds: Some(Arc::new(creds)),
        });
    }
    match opts.tls {
        Some(TlsMode::Require) => {
            return Err(Fatal::plain(format!(
                "--tls=require but could not load TLS certificates.\n{TRY_SETTING}"
            )));
        }
        Some(TlsMode::On) => eprintln!(
            "nbdkit: warning: --tls=on but could not load TLS certificates.\n\
             TLS will be disabled and TLS connections will be rejected.\n{TRY_SETTING}"
        ),
        _ => {}
    }
    log::debug!("TLS disabled: could not load TLS certificates");
    Ok(off)
}

fn gnutls_error(e: crate::error::Error) -> Fatal {
    Fatal::plain(format!("GnuTLS error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::gnutls::test_client::KEY;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nbdkit-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn opts(tls: Option<TlsMode>, f: impl FnOnce(&mut Options)) -> Options {
        let mut o = Options {
            tls,
            ..Default::default()
        };
        f(&mut o);
        o
    }

    #[test]
    fn psk_is_on_when_its_file_opens() {
        let dir = temp_dir("psk");
        let psk = dir.join("keys.psk");
        std::fs::write(&psk, format!("alice:{KEY}\n")).unwrap();
        let psk = psk.to_string_lossy().into_owned();
        let s = settle(&opts(None, |o| o.tls_psk = Some(psk.clone()))).unwrap();
        assert_eq!(s.mode, TlsMode::On);
        assert!(s.creds.is_some());
        let s = settle(&opts(Some(TlsMode::Require), |o| {
            o.tls_psk = Some(psk.clone())
        }))
        .unwrap();
        assert_eq!(s.mode, TlsMode::Require);
        let s = settle(&opts(Some(TlsMode::Off), |o| o.tls_psk = Some(psk.clone()))).unwrap();
        assert_eq!(s.mode, TlsMode::Off);
        assert!(s.creds.is_none(), "--tls=off loads nothing");
        let missing = format!("{}/none.psk", dir.display());
        let e = settle(&opts(None, |o| o.tls_psk = Some(missing.clone())))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!("{missing}: No such file or directory")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_certificates_tls_is_off_unless_required() {
        let dir = temp_dir("nocerts");
        let certs = Some(dir.to_string_lossy().into_owned());
        let s = settle(&opts(None, |o| o.tls_certificates = certs.clone())).unwrap();
        assert_eq!(s.mode, TlsMode::Off);
        let e = settle(&opts(Some(TlsMode::Require), |o| {
            o.tls_certificates = certs.clone()
        }))
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .starts_with("nbdkit: --tls=require but could not load TLS certificates.\n"),
            "{e}"
        );
        let e = settle(&opts(Some(TlsMode::Require), |o| o.oldstyle = true))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "nbdkit: cannot use oldstyle protocol (-o) and require TLS"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
