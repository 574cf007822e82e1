//! `nbdkit`: a network block device server, command-line compatible with
//! nbdkit 1.44.
//!
//! Start-up follows nbdkit's order: parse the command line, load the
//! plugin, configure it, get it ready, listen, fork into the background,
//! then start the workers and the event loop.

// `unsafe` only in `abi/` (the C ABI) and `sys/` (other OS calls), each
// block saying why it is sound.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[allow(unsafe_code)]
mod abi;
mod backend;
mod budget;
mod captive;
mod cli;
mod dispatch;
mod lifecycle;
mod logging;
mod net;
mod parse;
mod protocol;
mod sched;
mod session;
mod sparse_read;
#[allow(unsafe_code)]
mod sys;
#[cfg(test)]
mod test_rng;
mod tls;
mod uri;

use backend::{Layers, Stack};
use cli::{ErrorKind, Mode, Options, UnixSocket};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::exit;

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("nbdkit: error: {msg}");
    exit(1)
}

/// Print `msg` exactly (it carries nbdkit's own wording) and exit 1.
fn die_raw(msg: String) -> ! {
    eprintln!("{msg}");
    exit(1)
}

fn main() {
    sys::default_sigpipe();
    let mut argv = std::env::args_os();
    let argv0 = argv
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "nbdkit".into());
    let args: Vec<OsString> = argv.collect();
    let opts = match cli::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            match e.kind {
                // getopt's own words, after the program name, then usage.
                ErrorKind::Getopt => {
                    eprintln!("{argv0}: {}", e.msg);
                    eprint!("{}", cli::USAGE);
                }
                ErrorKind::Plain => eprintln!("nbdkit: {}", e.msg),
                ErrorKind::Error => eprintln!("nbdkit: error: {}", e.msg),
            }
            if let Some(t) = e.then {
                eprintln!("{t}");
            }
            exit(1)
        }
    };
    logging::init(
        opts.verbose,
        match opts.log {
            cli::LogTo::Default | cli::LogTo::Stderr => logging::Sink::Stderr,
            cli::LogTo::Syslog => logging::Sink::Syslog,
            cli::LogTo::Null => logging::Sink::Null,
            cli::LogTo::File(_) => logging::Sink::File,
        },
    );
    if let (cli::LogTo::File(path), Mode::Serve) = (&opts.log, &opts.mode) {
        if let Err(e) = logging::open_file(path) {
            eprintln!(
                "nbdkit: {}: fopen: {}",
                path.display(),
                net::listen::strerror(&e)
            );
            exit(1)
        }
    }

    log::debug!("nbdkit {}", cli::VERSION);
    let mut opts = opts;
    if let Some(n) = sys::socket_activation() {
        // As nbdkit: the sockets are given, so nothing may choose others,
        // and the service manager wants no fork.
        for (given, flag) in [
            (opts.ipaddr.is_some(), "-i"),
            (opts.port.is_some(), "-p"),
            (opts.run.is_some(), "--run"),
            (opts.single, "-s"),
            (opts.unix.is_some(), "-U"),
        ] {
            if given && opts.mode == Mode::Serve {
                eprintln!("nbdkit: cannot use socket activation with {flag} flag");
                exit(1)
            }
        }
        opts.socket_activation = Some(n);
        opts.foreground = true;
    }
    match opts.mode {
        Mode::Version if opts.plugin.is_none() => {
            println!("nbdkit {}", cli::VERSION);
            return;
        }
        Mode::DumpConfig => {
            dump_config();
            return;
        }
        Mode::LongOptions => {
            print!("{}", cli::long_options_text());
            return;
        }
        Mode::ShortOptions => {
            print!("{}", cli::short_options_text());
            return;
        }
        Mode::Help if opts.plugin.is_none() => {
            print!("{}", cli::USAGE);
            return;
        }
        _ => {}
    }
    // Before the plugin loads, as nbdkit does (its errors come first).
    if matches!(opts.mode, Mode::Serve) {
        tls::setup(&opts);
    }
    let plugin_arg = opts.plugin.clone().unwrap_or_default();
    if let (Some(script), Some(at)) = (
        backend::registry::script_plugin(&plugin_arg),
        opts.plugin_index,
    ) {
        // The script's #! line runs nbdkit with its language plugin and
        // the script; the other arguments follow as they were.
        let mut rest = args.clone();
        rest.remove(at);
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(&script).args(rest).exec();
        die(format!("{}: {e}", script.display()))
    }
    let plugin_file = backend::registry::plugin_path(&plugin_arg);
    let plugin = match backend::registry::load_plugin(&plugin_arg, &opts.params, &opts.debug_flags)
    {
        Ok(p) => p,
        // The adapter's messages carry nbdkit's own prefix ("error: " or
        // the plugin path).
        Err(e) => {
            eprintln!("nbdkit: {e}");
            exit(1)
        }
    };

    // As nbdkit: the last --filter is loaded first (it is the innermost).
    let mut filters = Vec::with_capacity(opts.filters.len());
    for name in opts.filters.iter().rev() {
        match backend::registry::load_filter(name, &opts.debug_flags) {
            Ok(f) => filters.push(f),
            Err(e) => {
                eprintln!("nbdkit: {e}");
                exit(1)
            }
        }
    }
    filters.reverse();
    let mut layers = Layers { filters, plugin };
    warn_unused_debug_flags(&opts.debug_flags, &layers);
    // -D nbdkit.environ=1: the environment, one debug line a variable.
    if abi::exports::debug_environ() {
        for (k, v) in std::env::vars_os() {
            log::debug!("{}={}", k.to_string_lossy(), v.to_string_lossy());
        }
    }
    // Now that -D nbdkit.tls.log is set.
    if tls::credentials().is_some() {
        abi::tls::enable_library_log();
    }

    if opts.mode == Mode::Version {
        println!("nbdkit {}", cli::VERSION);
        for f in &layers.filters {
            println!("{} {}", f.name(), f.version().unwrap_or(""));
        }
        let p = &layers.plugin;
        match p.version() {
            Some(v) => println!("{} {v}", p.name()),
            None => println!("{}", p.name()),
        }
        return;
    }
    if opts.mode == Mode::Help {
        print!("{}", cli::USAGE);
        for f in &layers.filters {
            print_usage(
                "filter",
                f.name(),
                f.longname(),
                f.path(),
                &[f.description(), f.config_help()],
            );
        }
        let p = &layers.plugin;
        let path = plugin_file.display().to_string();
        print_usage(
            "plugin",
            p.name(),
            p.longname(),
            &path,
            &[p.description(), p.config_help()],
        );
        return;
    }
    if opts.mode == Mode::DumpPlugin {
        // The parameters first (a language plugin loads its script in
        // .config, and the script may choose the thread model), but not
        // .config_complete, so missing required parameters are fine.
        config_params(&mut layers, &opts);
        dump_plugin(&layers, &plugin_arg);
        return;
    }

    lifecycle::set_stdio_safe(!opts.single);
    configure(&mut layers, &opts);
    let model = match layers.thread_model() {
        Ok(m) => m,
        Err(e) => {
            if let Some(t) = e.unreported() {
                eprintln!("nbdkit: error: {t}");
            }
            exit(1)
        }
    };
    log::debug!("using thread model: {}", model.name());
    if let Err(e) = layers.get_ready(model) {
        // Already reported: the plugin said it with nbdkit_error.
        if e.unreported().is_none() {
            exit(1)
        }
        die(format!("{}: get_ready: {e}", layers.plugin.name()))
    }
    // Once the plugin is ready, as nbdkit does (and in its words).
    if opts.swap && opts.mode == Mode::Serve {
        if let Err(e) = sys::lock_all_memory() {
            eprintln!("nbdkit: --swap: mlockall: {}", net::listen::strerror(&e));
            exit(1)
        }
        log::debug!("mlockall done");
    }
    let socket = unix_socket(&opts);
    let uri = uri::make(&opts, socket.as_ref().map(|s| s.0.as_path()), tls::mode());
    // Before stdio is given up, as nbdkit does (not with -s, whose stdio
    // is the connection).
    if let (true, Some(u), false) = (opts.print_uri, &uri, opts.single) {
        print!("{}", uri::print_text(u));
        let _ = std::io::stdout().flush();
    }
    exit(run(Stack::new(layers, model), &opts, socket, uri));
}

/// The Unix socket to listen on, and the private directory made for it
/// (`-U -`, and `--run` without `-p`, `-U` or `--vsock`).
fn unix_socket(opts: &Options) -> Option<(PathBuf, Option<PathBuf>)> {
    match opts.unix.as_ref()? {
        // A new directory of its own, mode 0700 and unguessable, as
        // nbdkit's mkdtemp makes it.
        UnixSocket::Temp => {
            let dir = sys::make_temp_dir(&std::env::temp_dir().join("nbdkitXXXXXX"))
                .unwrap_or_else(|e| die(format!("mkdtemp: {e}")));
            Some((dir.join("socket"), Some(dir)))
        }
        UnixSocket::Path(p) => Some((p.clone(), None)),
    }
}

/// What `--help` says about one plugin or filter, as nbdkit: its name
/// and long name, where it was loaded from, then its description and
/// config help, each ending in a newline (added only when missing).
fn print_usage(kind: &str, name: &str, longname: Option<&str>, path: &str, texts: &[Option<&str>]) {
    match longname {
        Some(l) => println!("\n{kind}: {name} ({l})"),
        None => println!("\n{kind}: {name}"),
    }
    println!("({path})");
    for t in texts.iter().flatten() {
        print!("{t}");
        if !t.ends_with('\n') {
            println!();
        }
    }
}

/// nbdkit's warnings for `-D NAME.FLAG=N` that nothing loaded can use: a
/// NAME that is no plugin or filter, or an `nbdkit.FLAG` the server does
/// not have.  (A C plugin warns itself when NAME is it but the variable
/// is missing.)
fn warn_unused_debug_flags(flags: &[backend::registry::DebugFlag], layers: &Layers) {
    let plugin = &layers.plugin;
    // In nbdkit's order: the plugin's (as it loads), the server's, then
    // the ones nothing used.  (Filters set theirs as they load.)
    for f in flags.iter().filter(|f| f.name == plugin.name()) {
        plugin.check_debug_flag(f);
    }
    for f in flags.iter().filter(|f| f.name == "nbdkit") {
        if !abi::exports::set_server_debug_flag(&f.flag, f.value) {
            log::warn!(
                "-D nbdkit.{}: nbdkit does not contain a global variable called nbdkit_debug_{}",
                f.flag,
                f.flag.replace('.', "_")
            );
        }
    }
    for f in flags
        .iter()
        .filter(|f| f.name != "nbdkit" && f.name != plugin.name())
        .filter(|f| !layers.filters.iter().any(|l| l.name() == f.name))
    {
        log::warn!("debug flag -D {}.{} was not used", f.name, f.flag);
    }
}

fn configure(layers: &mut Layers, opts: &Options) {
    config_params(layers, opts);
    if let Err(e) = layers.config_complete() {
        if e.unreported().is_none() {
            exit(1)
        }
        die(e)
    }
}

/// `.config` for every parameter, in command-line order, through the
/// filters to the plugin.
fn config_params(layers: &mut Layers, opts: &Options) {
    for (k, v) in &opts.params {
        let key = match k {
            Some(k) => k.clone(),
            // Language plugins take their script as a bare parameter.
            None => layers
                .plugin
                .magic_config_key()
                .unwrap_or("script")
                .to_string(),
        };
        if let Err(e) = layers.config(&key, v) {
            if e.unreported().is_none() {
                exit(1)
            }
            die(e)
        }
    }
}

/// The sockets listened on, and the private directory to remove at exit.
struct Bound {
    listeners: Vec<net::listen::Listener>,
    tmpdir: Option<PathBuf>,
}

fn bind(opts: &Options, socket: Option<(PathBuf, Option<PathBuf>)>) -> Bound {
    if let Some((path, tmpdir)) = socket {
        let l = net::listen::bind_unix(&path).unwrap_or_else(|e| {
            eprintln!("{e}");
            exit(1)
        });
        log::debug!("bound to unix socket {}", path.display());
        return Bound {
            listeners: vec![l],
            tmpdir,
        };
    }
    let port = opts.port.clone().unwrap_or_else(|| "10809".into());
    let ls = net::listen::bind_tcp(
        opts.ipaddr.as_deref(),
        &port,
        opts.ipv4_only,
        opts.ipv6_only,
    )
    .unwrap_or_else(|e| die_raw(e));
    log::debug!(
        "bound to IP address {}:{port} ({} socket(s))",
        opts.ipaddr.as_deref().unwrap_or("<any>"),
        ls.len()
    );
    Bound {
        listeners: ls,
        tmpdir: None,
    }
}

fn run(
    stack: std::sync::Arc<Stack>,
    opts: &Options,
    socket: Option<(PathBuf, Option<PathBuf>)>,
    uri: Option<String>,
) -> i32 {
    if opts.exit_with_parent {
        if let Err(e) = sys::exit_with_parent() {
            die(format!("--exit-with-parent: {e}"))
        }
    }
    // Before the socket appears, so a client's or script's first signal
    // always finds the handler (it is queued until the loop runs).
    let (sig_r, sig_w) = mio::net::UnixStream::pair().unwrap_or_else(|e| die(e));
    {
        use std::os::fd::AsRawFd;
        if let Err(e) = sys::install_signal_handlers(sig_w.as_raw_fd()) {
            die(format!("sigaction: {e}"))
        }
    }
    let mut single = None;
    let mut bound = None;
    // As a build of nbdkit without SELinux support: the label would be
    // set on the listening sockets, which this build cannot do.
    if opts.selinux_label.is_some() && !opts.single && opts.socket_activation.is_none() {
        eprintln!(
            "nbdkit: --selinux-label option used, but this binary was compiled without SELinux support"
        );
        exit(1)
    }
    if opts.single {
        let s = sys::stdin_socket().unwrap_or_else(|e| die(format!("-s: stdin: {e}")));
        sys::detach_stdio();
        single = Some(net::stream::Stream::Unix(mio::net::UnixStream::from_std(s)));
    } else if let Some(n) = opts.socket_activation {
        let listeners = net::listen::activated(n).unwrap_or_else(|e| die_raw(e));
        bound = Some(Bound {
            listeners,
            tmpdir: None,
        });
    } else if opts.vsock {
        let port = opts.port.clone().unwrap_or_else(|| "10809".into());
        let n = parse::integer("port", port.as_bytes(), false, 0, u32::MAX as i128)
            .unwrap_or_else(|e| die(e)) as u32;
        let listeners = net::listen::bind_vsock(n).unwrap_or_else(|e| die_raw(e));
        bound = Some(Bound {
            listeners,
            tmpdir: None,
        });
    } else {
        bound = Some(bind(opts, socket.clone()));
    }

    change_user(opts);

    // Fork only when not captive (--run), not -s, and not -f.
    let mut daemon = None;
    if !opts.foreground && !opts.single && opts.run.is_none() {
        match sys::daemonize(opts.verbose) {
            Ok(d) => daemon = Some(d),
            Err(e) => die(format!("fork: {e}")),
        }
        log::debug!("forked into background (new pid = {})", std::process::id());
        // Its stderr is gone (unless -v): errors go to syslog.
        if opts.log == cli::LogTo::Default {
            logging::set_sink(logging::Sink::Syslog);
        }
    }
    if let Some(p) = &opts.pidfile {
        let write = std::fs::write(p, format!("{}\n", std::process::id()));
        if let Err(e) = write {
            die(format!("{}: {e}", p.display()))
        }
        log::debug!("written pidfile {}", p.display());
    }
    if let Some(d) = daemon {
        d.ready();
    }
    if let Err(e) = stack.after_fork() {
        // Already reported: the plugin said it with nbdkit_error.
        if e.unreported().is_none() {
            exit(1)
        }
        die(format!("{}: after_fork: {e}", stack.plugin().name()))
    }

    // Captive mode: run the command, and exit with its status.
    let run_status = std::sync::Arc::new(std::sync::Mutex::new(None::<i32>));
    if let Some(cmd) = &opts.run {
        let sock = socket.as_ref().map(|s| s.0.as_path());
        let script = captive::script(cmd, opts, uri.as_deref(), sock, tls::mode());
        if let Err(e) = captive::start(&script, run_status.clone()) {
            die(format!("--run: {e}"))
        }
    }

    let cfg = net::ServeConfig {
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
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        * 2;
    let (listeners, tmpdir) = match bound {
        Some(b) => (b.listeners, b.tmpdir),
        None => (Vec::new(), None),
    };
    let (server, rx) = net::Server::new(stack.clone(), cfg, workers);
    backend::request_memory::install(server.budget.clone());
    let served = net::serve(server.clone(), rx, listeners, single, Some(sig_r));
    if let Err(e) = served {
        log::error!("event loop: {e}");
    }
    drop(sig_w);

    // Each connection holds the server until its state is gone (closed,
    // socket and all): once none is left, this is the last reference.
    let live = server.live.clone();
    live.wait_none();
    match std::sync::Arc::try_unwrap(server) {
        Ok(srv) => {
            drop(srv);
            stack.cleanup();
            // Dropping the last reference unloads the plugin and filters.
            match std::sync::Arc::into_inner(stack) {
                Some(s) => drop(s),
                None => log::debug!("contexts still open at exit; skipping unload"),
            }
        }
        Err(_) => log::debug!("the server is still referenced at exit; skipping unload"),
    }
    // As nbdkit: the private directory of `-U -` goes, but a `-U PATH`
    // socket and the `-P` pid file stay (scripts read the pid file after
    // the server has exited, and remove both themselves).
    if let Some(d) = tmpdir {
        let _ = std::fs::remove_dir_all(d);
    }
    let code = *run_status.lock().unwrap();
    code.unwrap_or(0)
}

/// `-u USER` / `-g GROUP`: a name, else a number in C syntax; resolved
/// and applied as nbdkit does, once the sockets are bound and before
/// forking (so the pid file is written as the new user).  The group
/// first (and as the only supplementary group), then the user.
fn change_user(opts: &Options) {
    let resolve =
        |v: &OsStr, what: &str, opt: &str, kind: &str, by_name: fn(&OsStr) -> Option<u32>| {
            if let Some(id) = by_name(v) {
                return id;
            }
            match parse::integer(what, v.as_bytes(), true, i32::MIN as i128, i32::MAX as i128) {
                Ok(n) => n as u32,
                Err(e) => {
                    log::error!("{e}");
                    eprintln!(
                        "nbdkit: {opt} option: {} is not a valid {kind} name or {}id",
                        v.to_string_lossy(),
                        &kind[..1]
                    );
                    exit(1)
                }
            }
        };
    let uid = opts
        .user
        .as_deref()
        .map(|u| resolve(u, "parseuser", "-u", "user", sys::user_id));
    let gid = opts
        .group
        .as_deref()
        .map(|g| resolve(g, "parsegroup", "-g", "group", sys::group_id));
    if uid.is_none() && gid.is_none() {
        return;
    }
    if let Err(e) = sys::change_ids(uid, gid) {
        die(e)
    }
    log::debug!(
        "changed user to uid={} gid={}",
        uid.map_or(-1, |u| u as i64),
        gid.map_or(-1, |g| g as i64)
    );
}

fn dump_config() {
    let bin = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let dir = std::path::Path::new(&bin)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let pd = backend::registry::DEFAULT_PLUGIN_DIR;
    let libdir = std::path::Path::new(pd).parent().and_then(|p| p.parent());
    let libdir = libdir.map(|p| p.display().to_string()).unwrap_or_default();
    let mut o = std::io::stdout().lock();
    let mut v = cli::VERSION.split('.');
    let (major, minor) = (v.next().unwrap_or("1"), v.next().unwrap_or("0"));
    // nbdkit 1.44.1's keys, in its (alphabetical) order.
    let _ = write!(
        o,
        "binary={bin}\nbindir={dir}\nexit_with_parent=yes\nfilterdir={libdir}/nbdkit/filters\n\
         host_cpu={}\nhost_os=linux-gnu\nlibdir={libdir}\nmandir=/usr/share/man\n\
         max_api_version=2\nname=nbdkit\nplugindir={pd}\n\
         root_tls_certificates_dir=/etc/pki/nbdkit\nrun_default_socket=Unix\nsbindir={dir}\n\
         selinux=no\nsoext=so\nsysconfdir=/etc\ntimeout_option=yes\ntls=yes\nversion={ver}\n\
         version_major={major}\nversion_minor={minor}\nvsock_option=yes\nzstd=no\n",
        std::env::consts::ARCH,
        ver = cli::VERSION
    );
}

fn dump_plugin(layers: &Layers, arg: &OsStr) {
    let p = &*layers.plugin;
    let mut o = std::io::stdout().lock();
    let path = backend::registry::plugin_path(arg);
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let _ = writeln!(o, "path={}", path.display());
    let _ = writeln!(o, "name={}", p.name());
    if let Some(v) = p.version() {
        let _ = writeln!(o, "version={v}");
    }
    let (api, size) = p.dump_abi();
    let _ = writeln!(o, "api_version={api}\nstruct_size={size}");
    let _ = writeln!(o, "max_thread_model={}", p.max_thread_model().name());
    // The model the server would run with: the filters may narrow it.
    let model = layers
        .thread_model()
        .unwrap_or_else(|_| p.thread_model().min(p.max_thread_model()));
    let _ = writeln!(o, "thread_model={}", model.name());
    let _ = writeln!(o, "errno_is_preserved={}", p.errno_is_preserved() as i32);
    if let Some(m) = p.magic_config_key() {
        let _ = writeln!(o, "magic_config_key={m}");
    }
    for h in p.dump_has() {
        let _ = writeln!(o, "has_{h}=1");
    }
    let _ = o.flush();
    drop(o);
    let mut out = std::io::stdout();
    let _ = p.dump_plugin(&mut out);
    let _ = out.flush();
    // Then each filter, from the inside out, as nbdkit 1.36 and later.
    for f in layers.filters.iter().rev() {
        let path = std::fs::canonicalize(f.path()).unwrap_or_else(|_| f.path().into());
        let _ = write!(
            out,
            "{n}_path={}\n{n}_name={n}\n",
            path.display(),
            n = f.name()
        );
        let _ = out.flush();
        f.dump_plugin();
    }
}
