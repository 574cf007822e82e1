//! `nbdkit`: a network block device server, command-line compatible with
//! nbdkit 1.44.
//!
//! Start-up follows nbdkit's order: parse the command line, load the
//! plugin, configure it, get it ready, listen, fork into the background,
//! then start the workers and the event loop.  Each step is a module
//! named as nbdkit's server/ names it; every step returns its failure
//! here, where it is printed and the process exits.

// `unsafe` only in `abi/` (the C ABI) and `sys/` (other OS calls), each
// block saying why it is sound.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[allow(unsafe_code)]
mod abi;
mod backend;
mod background;
mod budget;
mod captive;
mod cli;
mod debug_flag;
mod dispatch;
mod dump;
mod error;
mod fatal;
mod lifecycle;
mod load;
mod logging;
mod net;
mod parse;
mod protocol;
mod sched;
mod serve;
mod session;
mod sockets;
mod sparse_read;
#[allow(unsafe_code)]
mod sys;
#[cfg(test)]
mod test_layers;
#[cfg(test)]
mod test_rng;
mod tls;
mod uri;
mod usage;
mod usergroup;
mod version;

use backend::Stack;
use cli::{Mode, Options};
use fatal::Fatal;
use std::ffi::OsString;
use std::io::Write;

fn main() {
    sys::default_sigpipe();
    let mut argv = std::env::args_os();
    let argv0 = argv
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "nbdkit".into());
    let args: Vec<OsString> = argv.collect();
    let status = match cli::parse(&args, sys::socket_activation()) {
        Ok(opts) => start(&args, opts),
        Err(e) => Err(usage::cli_error(&argv0, e)),
    };
    match status {
        Ok(code) => std::process::exit(code),
        Err(f) => {
            f.print();
            std::process::exit(f.status)
        }
    }
}

/// Everything after the command line, in nbdkit's order; the exit status.
fn start(args: &[OsString], opts: Options) -> Result<i32, Fatal> {
    start_logging(&opts)?;
    log::debug!("nbdkit {}", version::VERSION);
    // What needs no plugin.
    match opts.mode {
        Mode::Version if opts.plugin.is_none() => usage::version(None),
        Mode::Help if opts.plugin.is_none() => usage::help(None, "".as_ref()),
        Mode::DumpConfig => dump::dump_config(),
        Mode::LongOptions => print!("{}", cli::long_options_text()),
        Mode::ShortOptions => print!("{}", cli::short_options_text()),
        _ => return serve_plugin(args, opts),
    }
    Ok(0)
}

/// Load the plugin (and filters): print what `--version`, `--help` or
/// `--dump-plugin` ask about them, or get them ready and serve.
fn serve_plugin(args: &[OsString], opts: Options) -> Result<i32, Fatal> {
    // Before the plugin loads, as nbdkit does (its errors come first),
    // whatever is asked of the plugin.
    tls::setup(&opts)?;
    // The private directory of `--run`'s socket is made only to serve.
    let unix = match (&opts.mode, &opts.unix) {
        (Mode::Serve, _) | (_, Some(cli::UnixSocket::Path(_))) => sockets::unix_socket(&opts)?,
        _ => None,
    };
    let uri = match (&unix, &opts.unix) {
        (None, Some(_)) => None,
        _ => uri::make(&opts, unix.as_ref().map(|u| u.path.as_path()), tls::mode()),
    };
    uri::log_service(&opts, uri.as_deref());
    let tmpdir = unix.as_ref().and_then(|u| u.tmpdir.clone());
    let status = load_and_serve(args, &opts, unix, uri);
    // A server that never got to serve leaves no private directory.
    if let (Err(_), Some(d)) = (&status, tmpdir) {
        let _ = std::fs::remove_dir_all(d);
    }
    status
}

/// Load the plugin and filters, then what the mode asks of them.
fn load_and_serve(
    args: &[OsString],
    opts: &Options,
    unix: Option<sockets::UnixPath>,
    uri: Option<String>,
) -> Result<i32, Fatal> {
    load::exec_script_plugin(args, opts)?;
    let plugin_arg = opts.plugin.clone().unwrap_or_default();
    let mut layers = load::layers(opts)?;
    match opts.mode {
        Mode::Version => usage::version(Some(&layers)),
        Mode::Help => {
            let file = backend::registry::plugin_path(&plugin_arg);
            usage::help(Some(&layers), &file)
        }
        // The parameters first (a language plugin loads its script in
        // .config, and the script may choose the thread model), but not
        // .config_complete, so missing required parameters are fine.
        Mode::DumpPlugin => {
            load::config_params(&mut layers, opts)?;
            dump::dump_plugin(&layers, &plugin_arg);
        }
        _ => {
            lifecycle::set_stdio_safe(!opts.single);
            let model = load::ready(&mut layers, opts)?;
            // Before stdio is given up, as nbdkit does (not with -s, whose
            // stdio is the connection).
            if let (true, Some(u), false) = (opts.print_uri, &uri, opts.single) {
                print!("{}", uri::print_text(u));
                let _ = std::io::stdout().flush();
            }
            // As nbdkit: once configured and ready, stdin and stdout are
            // the server's, whatever the mode (`nbdkit_stdio_safe`).
            lifecycle::set_stdio_safe(false);
            return serve::run(Stack::new(layers, model), opts, unix, uri);
        }
    }
    Ok(0)
}

/// Where errors and warnings go (`--log`); debug messages with `-v`.
fn start_logging(opts: &Options) -> Result<(), Fatal> {
    let sink = match opts.log {
        cli::LogTo::Default | cli::LogTo::Stderr => logging::Sink::Stderr,
        cli::LogTo::Syslog => logging::Sink::Syslog,
        cli::LogTo::Null => logging::Sink::Null,
        cli::LogTo::File(_) => logging::Sink::File,
    };
    logging::init(opts.verbose, sink);
    if let (cli::LogTo::File(path), Mode::Serve) = (&opts.log, &opts.mode) {
        logging::open_file(path).map_err(|e| {
            let e = sys::strerror(&e);
            Fatal::plain(format!("{}: fopen: {e}", path.display()))
        })?;
    }
    Ok(())
}
