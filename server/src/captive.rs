//! Captive mode (`--run COMMAND`): the command runs in a shell that knows
//! where the server is, and the server exits with the command's status.

use crate::cli::Options;
use crate::protocol::negotiate::TlsMode;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The shell script that runs `cmd`: nbdkit 1.44's variables first
/// (`$uri` and its synonym `$nbd`, `$exportname`, `$port`, `$unixsocket`,
/// `$tls` when TLS is on, `$tls_certificates`, `$tls_psk`), as variables
/// of that shell, not exported: a program the command starts sees them
/// only if the command passes them on.
pub fn script(
    cmd: &OsStr,
    opts: &Options,
    uri: Option<&str>,
    unixsocket: Option<&Path>,
    tls: TlsMode,
) -> Vec<u8> {
    let mut s = Vec::new();
    let mut var = |name: &str, val: &[u8]| {
        s.extend_from_slice(name.as_bytes());
        s.push(b'=');
        s.extend_from_slice(&sh_quote(val));
        s.push(b'\n');
    };
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").as_bytes().to_vec();
    var("uri", uri.unwrap_or("").as_bytes());
    var("exportname", opts.export_name.as_bytes());
    var("port", &text(&opts.port));
    var(
        "unixsocket",
        unixsocket.map_or(&b""[..], |p| p.as_os_str().as_bytes()),
    );
    match tls {
        TlsMode::Off => {}
        TlsMode::On => var("tls", b"1"),
        TlsMode::Require => var("tls", b"2"),
    }
    var("tls_certificates", &text(&opts.tls_certificates));
    var("tls_psk", &text(&opts.tls_psk));
    s.extend_from_slice(b"nbd=\"$uri\"\n");
    s.extend_from_slice(cmd.as_bytes());
    s
}

/// Start `script` in `/bin/sh` with `stdio` as its stdin and stdout (the
/// server's own, saved before they were pointed at /dev/null); when it
/// ends, its status (128 + N when killed by signal N) goes in `status`
/// and the server is told to stop.  The handle ends with the command.
pub fn start(
    script: &[u8],
    stdio: (OwnedFd, OwnedFd),
    status: Arc<Mutex<Option<i32>>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c").arg(OsStr::from_bytes(script));
    c.stdin(stdio.0).stdout(stdio.1);
    let mut child = c.spawn()?;
    Ok(std::thread::spawn(move || {
        use std::os::unix::process::ExitStatusExt;
        let code = match child.wait() {
            Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
            Err(_) => 1,
        };
        *status.lock().unwrap() = Some(code);
        crate::lifecycle::request_shutdown();
    }))
}

/// `s` as one shell word: in single quotes, each ' written as '\''.
fn sh_quote(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &c in s {
        if c == b'\'' {
            out.extend_from_slice(br"'\''");
        } else {
            out.push(c);
        }
    }
    out.push(b'\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &[u8]) -> String {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(OsStr::from_bytes(script))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn sh_quote_survives_the_shell() {
        for s in ["", "plain", "it's", "$x `y` \"z\" \\ '' \n"] {
            let mut script = b"v=".to_vec();
            script.extend_from_slice(&sh_quote(s.as_bytes()));
            script.extend_from_slice(b"\nprintf %s \"$v\"");
            assert_eq!(sh(&script), s);
        }
    }

    #[test]
    fn variables_as_nbdkit() {
        let mut o = Options {
            export_name: "e'x".into(),
            tls_psk: Some("k.psk".into()),
            ..Default::default()
        };
        let cmd = OsStr::new(
            "printf '%s|' \"$uri\" \"$nbd\" \"$exportname\" \"$port\" \"$unixsocket\" \"${tls-unset}\" \"$tls_certificates\" \"$tls_psk\"",
        );
        let s = script(
            cmd,
            &o,
            Some("nbd+unix://?socket=/s"),
            Some(Path::new("/s")),
            TlsMode::Off,
        );
        assert_eq!(
            sh(&s),
            "nbd+unix://?socket=/s|nbd+unix://?socket=/s|e'x||/s|unset||k.psk|"
        );
        o.port = Some("10810".into());
        let s = script(cmd, &o, Some("u"), None, TlsMode::Require);
        assert_eq!(sh(&s), "u|u|e'x|10810||2||k.psk|");
    }
}
