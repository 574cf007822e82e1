//! Serving: signals, the sockets, the user and group, the background,
//! the captive command, then the event loop until the server is told to
//! stop; the plugin is unloaded once every connection is gone.

use crate::backend::Stack;
use crate::cli::Options;
use crate::fatal::{self, Fatal};
use crate::sockets::UnixPath;
use crate::{background, budget, captive, load, net, sockets, sys, tls, usergroup};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

/// Serve until told to stop; the exit status (the `--run` command's in
/// captive mode).  `uri` is the one `--print-uri` showed.
pub fn run(
    stack: Arc<Stack>,
    opts: &Options,
    unix: Option<UnixPath>,
    uri: Option<String>,
) -> Result<i32, Fatal> {
    if opts.exit_with_parent {
        sys::exit_with_parent().map_err(|e| Fatal::error(format!("--exit-with-parent: {e}")))?;
    }
    // Before the socket appears, so a client's or script's first signal
    // always finds the handler (it is queued until the loop runs).
    let (sig_r, sig_w) = mio::net::UnixStream::pair().map_err(Fatal::error)?;
    {
        use std::os::fd::AsRawFd;
        sys::install_signal_handlers(sig_w.as_raw_fd())
            .map_err(|e| Fatal::error(format!("sigaction: {e}")))?;
    }
    sys::flush_c_stdio();
    let socket_path = unix.as_ref().map(|u| u.path.clone());
    let bound = sockets::bind(opts, unix)?;
    // Captive mode: as nbdkit, the command starts once the sockets are
    // bound, before -u/-g (it runs as whoever started the server), with
    // the real stdin and stdout; the server exits with its status.
    let run_status = Arc::new(Mutex::new(None::<i32>));
    let command = match &opts.run {
        Some(cmd) => {
            let script = captive::script(
                cmd,
                opts,
                uri.as_deref(),
                socket_path.as_deref(),
                tls::mode(),
            );
            let started = captive::start(&script, give_up_stdio()?, run_status.clone());
            Some(started.map_err(|e| Fatal::error(format!("--run: {e}")))?)
        }
        None => None,
    };
    let _stdio = match (become_server(&stack, opts), command) {
        (Ok(stdio), _) => stdio,
        (Err(f), None) => return Err(f),
        (Err(f), Some(command)) => {
            drop(bound);
            return Err(outlived_by(f, command, &run_status));
        }
    };

    let (server, rx) = net::Server::new(stack.clone(), config(opts), workers());
    crate::backend::request_memory::install(server.budget.clone());
    let served = net::serve(
        server.clone(),
        rx,
        bound.listeners,
        bound.single,
        Some(sig_r),
    );
    if let Err(e) = served {
        log::error!("event loop: {e}");
    }
    drop(sig_w);
    load::unload(server, stack);
    // As nbdkit: the private directory of `-U -` goes, but a `-U PATH`
    // socket and the `-P` pid file stay (scripts read the pid file after
    // the server has exited, and remove both themselves).
    if let Some(d) = bound.tmpdir {
        let _ = std::fs::remove_dir_all(d);
    }
    let code = *run_status.lock().unwrap_or_else(|e| e.into_inner());
    Ok(code.unwrap_or(0))
}

/// From here on the server's (and the plugin's) stdin and stdout are
/// /dev/null: the real ones, saved, for a `--run` command, or held until
/// exit as nbdkit holds them.
fn give_up_stdio() -> Result<(OwnedFd, OwnedFd), Fatal> {
    let saved = sys::save_stdio().map_err(|e| Fatal::error(format!("fcntl: {e}")))?;
    sys::detach_stdio();
    Ok(saved)
}

/// The user and group, the background (and the pid file), stdio, then
/// `.after_fork`; the saved stdio to hold (-s gave it to the connection,
/// `--run` to the command).
fn become_server(stack: &Stack, opts: &Options) -> Result<Option<(OwnedFd, OwnedFd)>, Fatal> {
    usergroup::change_user(opts)?;
    background::detach(opts)?;
    let stdio = match opts.single || opts.run.is_some() {
        true => None,
        false => Some(give_up_stdio()?),
    };
    let after_fork = format!("{}: after_fork", stack.plugin().name());
    stack
        .after_fork()
        .map_err(|e| fatal::backend(e, Some(&after_fork)))?;
    Ok(stdio)
}

/// The server failed to start while its `--run` command runs: as nbdkit,
/// the failure is said at once, the command runs to its end, and the exit
/// status is the command's unless that is 0.
fn outlived_by(
    f: Fatal,
    command: std::thread::JoinHandle<()>,
    status: &Mutex<Option<i32>>,
) -> Fatal {
    f.print();
    let _ = command.join();
    let mut after = Fatal::reported();
    after.status = match *status.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(0) | None => f.status,
        Some(code) => code,
    };
    after
}

/// The settings connections are served with.
fn config(opts: &Options) -> net::ServeConfig {
    net::ServeConfig {
        readonly: opts.readonly,
        export_name: opts.export_name.clone(),
        no_sr: opts.no_sr,
        tls: tls::mode(),
        // Only the low 16 bits are handshake flags.
        mask_handshake: opts.mask_handshake as u16,
        oldstyle: opts.oldstyle,
        max_inflight: if opts.threads == 0 { 16 } else { opts.threads },
        memory_limit: opts.memory_limit.unwrap_or_else(budget::default_limit),
        sparse_reads: opts.sparse_reads,
        error_messages: opts.send_error_messages,
        enforce_block_size: opts.enforce_block_size,
        handshake_timeout: opts.timeout,
        keepalive: opts.keepalive,
        no_mc: opts.no_mc,
    }
}

/// Worker threads: two per CPU.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(args: &str) -> net::ServeConfig {
        let args: Vec<std::ffi::OsString> = args.split(' ').map(Into::into).collect();
        config(&crate::cli::parse(&args, None).unwrap())
    }

    #[test]
    fn requests_in_flight_default_to_sixteen() {
        assert_eq!(config_of("null").max_inflight, 16);
        assert_eq!(config_of("-t 0 null").max_inflight, 16);
        assert_eq!(config_of("-t 4 null").max_inflight, 4);
        assert_eq!(config_of("--threads=100 null").max_inflight, 100);
    }

    #[test]
    fn only_the_low_bits_of_the_handshake_mask_are_flags() {
        assert_eq!(config_of("null").mask_handshake, 0xffff);
        assert_eq!(config_of("--mask-handshake=0 null").mask_handshake, 0);
        assert_eq!(config_of("--mask-handshake=0x10002 null").mask_handshake, 2);
    }

    #[test]
    fn the_memory_budget_given_or_the_default() {
        assert_eq!(config_of("--memory-limit=64M null").memory_limit, 64 << 20);
        assert_eq!(config_of("null").memory_limit, budget::default_limit());
    }

    /// A command that ends with `code` (`None`: its status unknown).
    fn exit_after_failure(code: Option<i32>) -> i32 {
        let status = Arc::new(Mutex::new(None));
        let s = status.clone();
        let command = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            *s.lock().unwrap() = code;
        });
        // Nothing to print: already reported.
        outlived_by(Fatal::reported(), command, &status).status
    }

    #[test]
    fn a_failed_start_exits_with_the_commands_status_unless_it_is_zero() {
        assert_eq!(exit_after_failure(Some(3)), 3, "waited for");
        assert_eq!(exit_after_failure(Some(130)), 130);
        assert_eq!(exit_after_failure(Some(0)), 1);
        assert_eq!(exit_after_failure(None), 1);
    }
}
