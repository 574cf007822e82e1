//! Log lines in nbdkit's shape: `nbdkit: memory[3]: error: message`.
//! The worker pool names the context (plugin and connection) of the thread
//! it runs a request on; `-v` turns debug messages on.

use std::cell::RefCell;
use std::io::Write;

thread_local! {
    static CONTEXT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with the log context set, restoring the previous one after.
pub fn with_context<T>(ctx: &str, f: impl FnOnce() -> T) -> T {
    let prev = CONTEXT.with(|c| c.borrow_mut().replace(ctx.to_string()));
    let r = f();
    CONTEXT.with(|c| *c.borrow_mut() = prev);
    r
}

pub fn init(verbose: bool, quiet: bool) {
    let level = if quiet {
        log::LevelFilter::Off
    } else if verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    };
    let mut b = env_logger::Builder::new();
    b.filter_level(level)
        .format(|buf, rec| {
            let level = match rec.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug | log::Level::Trace => "debug",
            };
            CONTEXT.with(|c| match &*c.borrow() {
                Some(ctx) => writeln!(buf, "nbdkit: {ctx}: {level}: {}", rec.args()),
                None => writeln!(buf, "nbdkit: {level}: {}", rec.args()),
            })
        })
        .target(env_logger::Target::Stderr);
    if std::env::var_os("RUST_LOG").is_some() {
        b.parse_default_env();
    }
    let _ = b.try_init();
}
