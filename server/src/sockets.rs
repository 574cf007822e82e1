//! Where the server listens, as nbdkit decides it: stdin (`-s`), the
//! sockets of socket activation, vsock, a Unix socket (`-U`, or a private
//! one for `-U -` and `--run`), else TCP.

use crate::cli::{Mode, Options, UnixSocket};
use crate::fatal::Fatal;
use crate::net::listen::{self, Listener};
use crate::net::stream::Stream;
use crate::sys;
use std::path::PathBuf;

/// A Unix socket's path, and the private directory made for it.
#[derive(Debug, Clone)]
pub struct UnixPath {
    pub path: PathBuf,
    pub tmpdir: Option<PathBuf>,
}

/// What the server serves on, and the private directory to remove at exit.
pub struct Bound {
    pub listeners: Vec<Listener>,
    /// `-s`: the one connection, on stdin.
    pub single: Option<Stream>,
    pub tmpdir: Option<PathBuf>,
}

/// Socket activation (`LISTEN_PID` is us, `LISTEN_FDS` set): the sockets
/// are given, so nothing may choose others, and the service manager wants
/// no fork.
pub fn socket_activation(opts: &mut Options) -> Result<(), Fatal> {
    let Some(n) = sys::socket_activation() else {
        return Ok(());
    };
    for (given, flag) in [
        (opts.ipaddr.is_some(), "-i"),
        (opts.port.is_some(), "-p"),
        (opts.run.is_some(), "--run"),
        (opts.single, "-s"),
        (opts.unix.is_some(), "-U"),
    ] {
        if given && opts.mode == Mode::Serve {
            return Err(Fatal::plain(format!(
                "cannot use socket activation with {flag} flag"
            )));
        }
    }
    opts.socket_activation = Some(n);
    opts.foreground = true;
    Ok(())
}

/// The Unix socket to listen on (`-U`, and `--run` without `-p`, `-U` or
/// `--vsock`); for `-U -` in a new directory of its own, mode 0700 and
/// unguessable, as nbdkit's mkdtemp makes it.
pub fn unix_socket(opts: &Options) -> Result<Option<UnixPath>, Fatal> {
    Ok(match &opts.unix {
        None => None,
        Some(UnixSocket::Temp) => {
            let dir = sys::make_temp_dir(&std::env::temp_dir().join("nbdkitXXXXXX"))
                .map_err(|e| Fatal::error(format!("mkdtemp: {e}")))?;
            Some(UnixPath {
                path: dir.join("socket"),
                tmpdir: Some(dir),
            })
        }
        Some(UnixSocket::Path(p)) => Some(UnixPath {
            path: p.clone(),
            tmpdir: None,
        }),
    })
}

/// Bind what `opts` asks for (`unix`: the socket [`unix_socket`] chose).
pub fn bind(opts: &Options, unix: Option<UnixPath>) -> Result<Bound, Fatal> {
    let bound = |listeners, tmpdir| Bound {
        listeners,
        single: None,
        tmpdir,
    };
    // As a build of nbdkit without SELinux support: the label would be
    // set on the listening sockets, which this build cannot do.
    if opts.selinux_label.is_some() && !opts.single && opts.socket_activation.is_none() {
        return Err(Fatal::plain(
            "--selinux-label option used, but this binary was compiled without SELinux support",
        ));
    }
    if opts.single {
        let s = sys::stdin_socket().map_err(|e| Fatal::error(format!("-s: stdin: {e}")))?;
        sys::detach_stdio();
        return Ok(Bound {
            single: Some(Stream::Unix(mio::net::UnixStream::from_std(s))),
            ..bound(Vec::new(), None)
        });
    }
    if let Some(n) = opts.socket_activation {
        return Ok(bound(listen::activated(n)?, None));
    }
    let port = opts.port.clone().unwrap_or_else(|| "10809".into());
    if opts.vsock {
        let n = crate::parse::integer("port", port.as_bytes(), false, 0, u32::MAX as i128)
            .map_err(Fatal::error)? as u32;
        return Ok(bound(listen::bind_vsock(n)?, None));
    }
    if let Some(UnixPath { path, tmpdir }) = unix {
        let l = listen::bind_unix(&path)?;
        log::debug!("bound to unix socket {}", path.display());
        return Ok(bound(vec![l], tmpdir));
    }
    let ls = listen::bind_tcp(
        opts.ipaddr.as_deref(),
        &port,
        opts.ipv4_only,
        opts.ipv6_only,
    )?;
    log::debug!(
        "bound to IP address {}:{port} ({} socket(s))",
        opts.ipaddr.as_deref().unwrap_or("<any>"),
        ls.len()
    );
    Ok(bound(ls, None))
}
