//! The NBD URI that reaches the server, as nbdkit 1.44 forms it: shown by
//! `--print-uri`, and `$uri` of a `--run` command.

use crate::cli::Options;
use crate::protocol::negotiate::TlsMode;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The URI for a server listening on `unixsocket` (None: TCP, or vsock
/// with `--vsock`), with TLS in `tls` mode.  None when the server has no
/// address a URI can name (`-s`, socket activation).
pub fn make(opts: &Options, unixsocket: Option<&Path>, tls: TlsMode) -> Option<String> {
    if opts.single || opts.socket_activation.is_some() {
        return None;
    }
    let required = tls == TlsMode::Require;
    let s = if required { "nbds" } else { "nbd" };
    let export = || match opts.export_name.as_str() {
        "" => String::new(),
        e => format!("/{}", quote(e.as_bytes())),
    };
    // nbdkit names the port only when one was given.
    let port = || {
        opts.port
            .as_ref()
            .map(|p| format!(":{p}"))
            .unwrap_or_default()
    };
    let (mut uri, has_query) = match unixsocket {
        Some(path) => (
            format!(
                "{s}+unix://{}?socket={}",
                export(),
                quote(path.as_os_str().as_bytes())
            ),
            true,
        ),
        None if opts.vsock => (format!("{s}+vsock://1{}{}", port(), export()), false),
        None => (format!("{s}://localhost{}{}", port(), export()), false),
    };
    // What a client needs to authenticate, as nbdkit adds it (libnbd
    // reads both; other clients ignore them).
    if required {
        let cred = match (&opts.tls_certificates, &opts.tls_psk) {
            (Some(dir), _) => Some(("tls-certificates", dir)),
            (None, Some(psk)) => Some(("tls-psk-file", psk)),
            (None, None) => None,
        };
        if let Some((key, val)) = cred {
            uri.push(if has_query { '&' } else { '?' });
            uri.push_str(key);
            uri.push('=');
            uri.push_str(&quote(val.as_bytes()));
        }
    }
    Some(uri)
}

/// How the server is reached, in nbdkit 1.44's words (its `-v` line
/// "service mode: ...").
pub fn service_mode(opts: &Options) -> &'static str {
    if opts.socket_activation.is_some() {
        "socket activation"
    } else if opts.single {
        "listen stdin"
    } else if opts.unix.is_some() {
        "unix socket"
    } else if opts.vsock {
        "vsock"
    } else {
        "TCP/IP"
    }
}

/// nbdkit 1.44's `-v` lines naming the service mode and the URI, before
/// the plugin loads.
pub fn log_service(opts: &Options, uri: Option<&str>) {
    let mode = service_mode(opts);
    log::debug!("service mode: {mode}");
    match uri {
        Some(u) => log::debug!("NBD URI: {u}"),
        None => log::debug!("no NBD URI because service mode is {mode}"),
    }
}

/// `s` for a URI's path or query, as nbdkit writes it: ASCII letters,
/// digits and `/.-_~` as they are, every other byte as %XX.
pub fn quote(s: &[u8]) -> String {
    let mut out = String::new();
    for &c in s {
        if c.is_ascii_alphanumeric() || b"/.-_~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// `s` as nbdkit shows a shell word: as it is when it has only letters,
/// digits and `.-_=,:/`, else in double quotes with `$`, `` ` ``, `\`
/// and `"` escaped.
pub fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || ".-_=,:/".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '$' | '`' | '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// What `--print-uri` prints, as nbdkit does.
pub fn print_text(uri: &str) -> String {
    let q = shell_word(uri);
    format!("{uri}\nShell-quoted URI: {q}\nCommand to query the NBD endpoint:\n  nbdinfo {q}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn opts(f: impl FnOnce(&mut Options)) -> Options {
        let mut o = Options::default();
        f(&mut o);
        o
    }

    #[test]
    fn quote_keeps_unreserved_and_slash() {
        assert_eq!(quote("a/b.c-d_e~F9".as_bytes()), "a/b.c-d_e~F9");
        assert_eq!(quote("fo'o $x".as_bytes()), "fo%27o%20%24x");
        assert_eq!(quote("é?&=".as_bytes()), "%C3%A9%3F%26%3D");
    }

    #[test]
    fn shapes_as_nbdkit() {
        let off = TlsMode::Off;
        let sock = PathBuf::from("/t/s k");
        assert_eq!(
            make(&Options::default(), None, off).unwrap(),
            "nbd://localhost"
        );
        let o = opts(|o| {
            o.port = Some("1234".into());
            o.ipaddr = Some("::1".into());
            o.export_name = "a b".into();
        });
        assert_eq!(make(&o, None, off).unwrap(), "nbd://localhost:1234/a%20b");
        let o = opts(|o| o.vsock = true);
        assert_eq!(make(&o, None, off).unwrap(), "nbd+vsock://1");
        assert_eq!(
            make(&Options::default(), Some(&sock), off).unwrap(),
            "nbd+unix://?socket=/t/s%20k"
        );
        let o = opts(|o| o.single = true);
        assert_eq!(make(&o, None, off), None);
    }

    #[test]
    fn tls_credentials_only_when_required() {
        let sock = PathBuf::from("/s");
        let o = opts(|o| o.tls_certificates = Some("/pki dir".into()));
        assert_eq!(
            make(&o, Some(&sock), TlsMode::Require).unwrap(),
            "nbds+unix://?socket=/s&tls-certificates=/pki%20dir"
        );
        assert_eq!(
            make(&o, Some(&sock), TlsMode::On).unwrap(),
            "nbd+unix://?socket=/s"
        );
        let o = opts(|o| o.tls_psk = Some("keys.psk".into()));
        assert_eq!(
            make(&o, None, TlsMode::Require).unwrap(),
            "nbds://localhost?tls-psk-file=keys.psk"
        );
    }

    #[test]
    fn shell_words_as_nbdkit() {
        assert_eq!(shell_word("nbd://localhost:10809"), "nbd://localhost:10809");
        assert_eq!(
            shell_word("nbd+unix://?socket=/tmp/x"),
            "\"nbd+unix://?socket=/tmp/x\""
        );
        assert_eq!(shell_word("a$`\\\"b"), "\"a\\$\\`\\\\\\\"b\"");
        assert_eq!(shell_word(""), "\"\"");
    }
}
