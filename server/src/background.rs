//! Going into the background as nbdkit does (unless `-f`, `-s`, `--run`
//! or socket activation): fork, the parent exiting once the child is
//! ready; then the pid file (`-P`), written by the process that serves.

use crate::cli::{LogTo, Options};
use crate::fatal::Fatal;

/// Fork if the server should, and write the pid file; the parent learns
/// the server is ready only after both.
pub fn detach(opts: &Options) -> Result<(), Fatal> {
    let mut daemon = None;
    if !opts.foreground && !opts.single && opts.run.is_none() {
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
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| Fatal::error(format!("{}: {e}", p.display())))?;
        log::debug!("written pidfile {}", p.display());
    }
    if let Some(d) = daemon {
        d.ready();
    }
    Ok(())
}
