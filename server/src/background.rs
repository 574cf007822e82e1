//! Going into the background as nbdkit does (unless `-f`, `-s`, `--run`
//! or socket activation): fork, the parent exiting once the child is
//! ready; then the pid file (`-P`), written by the process that serves.

use crate::cli::{LogTo, Options};
use crate::fatal::Fatal;

/// Fork if the server should, and write the pid file; the parent learns
/// the server is ready only after both.
pub fn detach(opts: &Options) -> Result<(), Fatal> {
    let mut daemon = None;
    if forks(opts) {
        daemon = Some(
            crate::sys::daemonize(opts.verbose).map_err(|e| Fatal::error(format!("fork: {e}")))?,
        );
        log::debug!("forked into background (new pid = {})", std::process::id());
        // Its stderr is gone (unless -v): errors go to syslog.
        if opts.log == LogTo::Default {
            crate::logging::set_sink(crate::logging::Sink::Syslog);
        }
    }
    // nbdkit forks the server away from a --run command here; this
    // server runs the command beside itself, and says so as nbdkit does.
    if opts.run.is_some() && !opts.single {
        log::debug!("forked into background (new pid = {})", std::process::id());
    }
    if let Some(p) = &opts.pidfile {
        write_pidfile(p)?;
    }
    if let Some(d) = daemon {
        d.ready();
    }
    Ok(())
}

/// Whether the server goes into the background: not with `-f` (which
/// socket activation implies), `-s` or `--run`.
fn forks(opts: &Options) -> bool {
    !opts.foreground && !opts.single && opts.run.is_none()
}

/// `-P`: this process's id and a newline, in a file made with mode 0644
/// (less the umask) as nbdkit makes it.  A failure is said as nbdkit's
/// `perror` says it.
fn write_pidfile(p: &std::path::Path) -> Result<(), Fatal> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(p)
        .and_then(|mut f| f.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .map_err(|e| Fatal::text(format!("{}: {}", p.display(), crate::sys::strerror(&e))))?;
    log::debug!("written pidfile {}", p.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_server_forks() {
        let parse = |args: &str| {
            let args: Vec<std::ffi::OsString> = args.split(' ').map(Into::into).collect();
            crate::cli::parse(&args, None).unwrap()
        };
        assert!(forks(&parse("null")));
        assert!(forks(&parse("-P /tmp/p -U /tmp/s null")));
        assert!(!forks(&parse("-f null")));
        assert!(!forks(&parse("--no-fork null")));
        assert!(!forks(&parse("-s null")));
        assert!(!forks(&parse("--run true null")));
    }

    #[test]
    fn the_pid_file_holds_the_pid() {
        let dir = std::env::temp_dir().join(format!("nbdkit-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pid");
        std::fs::write(&p, "stale contents, longer than a pid\n").unwrap();
        write_pidfile(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        let e = write_pidfile(&dir.join("gone/pid")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: No such file or directory",
                dir.join("gone/pid").display()
            )
        );
    }
}
