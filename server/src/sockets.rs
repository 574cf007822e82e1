//! Where the server listens, as nbdkit decides it: stdin (`-s`), the
//! sockets of socket activation, vsock, a Unix socket (`-U`, or a private
//! one for `-U -` and `--run`), else TCP.

use crate::cli::{Options, UnixSocket};
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
    if opts.single {
        let client = sys::stdio_client().map_err(|e| Fatal::error(format!("-s: stdin: {e}")))?;
        sys::detach_stdio();
        let stream = match client {
            sys::StdioClient::Socket(s) => Stream::Unix(mio::net::UnixStream::from_std(s)),
            sys::StdioClient::Split { input, output } => Stream::Split { input, output },
        };
        return Ok(Bound {
            single: Some(stream),
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
    // As a build of nbdkit without SELinux support: the label would be
    // set on the Unix or TCP sockets it makes (not on vsock's, nor on
    // sockets it is given), which this build cannot do.
    if opts.selinux_label.is_some() {
        return Err(Fatal::plain(
            "--selinux-label option used, but this binary was compiled without SELinux support",
        ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn parse(args: &str) -> Options {
        let args: Vec<OsString> = args.split(' ').map(Into::into).collect();
        crate::cli::parse(&args, None).unwrap()
    }

    /// A private directory for one test, removed by the caller.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nbdkit-sockets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    #[test]
    fn a_unix_socket_named_or_private() {
        assert!(unix_socket(&parse("null")).unwrap().is_none());
        let u = unix_socket(&parse("-U /run/x.sock null")).unwrap().unwrap();
        assert_eq!(u.path, PathBuf::from("/run/x.sock"));
        assert_eq!(u.tmpdir, None, "a named socket is not ours to remove");
        let u = unix_socket(&parse("-U - null")).unwrap().unwrap();
        let dir = u.tmpdir.clone().expect("a private directory");
        let meta = std::fs::metadata(&dir);
        let other = unix_socket(&parse("-U - null")).unwrap().unwrap();
        let other_dir = other.tmpdir.clone().unwrap();
        std::fs::remove_dir(&dir).unwrap();
        std::fs::remove_dir(&other_dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(u.path, dir.join("socket"));
        assert!(dir.starts_with(std::env::temp_dir()));
        assert!(dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("nbdkit"));
        assert_ne!(dir, other_dir, "unguessable: a new one each time");
    }

    #[test]
    fn refusals_before_anything_is_bound() {
        let o = parse("--selinux-label=system_u:object_r:svirt_t:s0 null");
        let e = bind(&o, None).err().unwrap();
        assert_eq!(
            e.to_string(),
            "nbdkit: --selinux-label option used, but this binary was compiled without \
             SELinux support"
        );
        let e = bind(&parse("--vsock -p nope null"), None).err().unwrap();
        assert!(e.to_string().starts_with("nbdkit: error: port: "), "{e}");
        // No label is set on a vsock socket: the port is what is wrong.
        let o = parse("--selinux-label=x --vsock -p nope null");
        let e = bind(&o, None).err().unwrap();
        assert!(e.to_string().starts_with("nbdkit: error: port: "), "{e}");
    }

    #[test]
    fn binds_the_unix_socket_chosen() {
        let d = scratch("bind");
        let path = d.join("s");
        let unix = UnixPath {
            path: path.clone(),
            tmpdir: Some(d.clone()),
        };
        let b = bind(&parse("-U - null"), Some(unix)).unwrap();
        let is_socket = {
            use std::os::unix::fs::FileTypeExt;
            std::fs::metadata(&path).map(|m| m.file_type().is_socket())
        };
        let n = b.listeners.len();
        let tmpdir = b.tmpdir.clone();
        drop(b);
        std::fs::remove_dir_all(&d).unwrap();
        assert!(is_socket.unwrap());
        assert_eq!(n, 1);
        assert_eq!(tmpdir, Some(d), "to be removed at exit");
    }
}
