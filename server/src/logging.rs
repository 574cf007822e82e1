//! Log lines in nbdkit's shape: `nbdkit: memory[3]: error: message`.
//! The worker pool names the context (plugin and connection) of the thread
//! it runs a request on; `-v` turns debug messages on.
//!
//! Where they go follows nbdkit: debug messages always to stderr; errors
//! and warnings to stderr, to syslog (`--log=syslog`, and by default once
//! the server has forked into the background, whose stderr is
//! /dev/null), or nowhere (`--log=null`).

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Whom a log line speaks for, as nbdkit names its threads: the server
/// (nothing), a connection (`memory[3]`), or one of the connection's
/// request slots (`memory.2`), named as nbdkit names the worker thread
/// that runs a request when a connection's requests run in parallel.
/// Cheap to clone (no allocation), as it is set around every request.
#[derive(Debug, Clone, Default)]
pub enum Ctx {
    #[default]
    Server,
    Conn(Arc<str>),
    Worker(Arc<str>, u32),
}

impl fmt::Display for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ctx::Server => Ok(()),
            Ctx::Conn(c) => f.write_str(c),
            Ctx::Worker(plugin, n) => write!(f, "{plugin}.{n}"),
        }
    }
}

thread_local! {
    static CONTEXT: RefCell<Ctx> = const { RefCell::new(Ctx::Server) };
}

/// Where errors and warnings go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stderr = 0,
    Syslog = 1,
    Null = 2,
}

static SINK: AtomicU8 = AtomicU8::new(Sink::Stderr as u8);

/// Send errors and warnings to `s` from now on.
pub fn set_sink(s: Sink) {
    SINK.store(s as u8, Ordering::SeqCst);
}

fn sink() -> Sink {
    match SINK.load(Ordering::Relaxed) {
        1 => Sink::Syslog,
        2 => Sink::Null,
        _ => Sink::Stderr,
    }
}

/// Runs `f` with the log context set, restoring the previous one after.
pub fn with_context<T>(ctx: &Ctx, f: impl FnOnce() -> T) -> T {
    let prev = CONTEXT.with(|c| std::mem::replace(&mut *c.borrow_mut(), ctx.clone()));
    let r = f();
    CONTEXT.with(|c| *c.borrow_mut() = prev);
    r
}

struct Logger {
    /// `RUST_LOG` filter for our own modules' extra tracing, if set.
    env: Option<env_logger::Logger>,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, rec: &log::Record) {
        if !self.enabled(rec.metadata()) {
            return;
        }
        if let Some(env) = &self.env {
            if !env.matches(rec) && rec.level() > log::Level::Warn {
                return;
            }
        }
        let level = match rec.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warning",
            log::Level::Info => "info",
            log::Level::Debug | log::Level::Trace => "debug",
        };
        let body = CONTEXT.with(|c| match &*c.borrow() {
            Ctx::Server => format!("{level}: {}", rec.args()),
            ctx => format!("{ctx}: {level}: {}", rec.args()),
        });
        let to = if rec.level() > log::Level::Warn {
            Sink::Stderr
        } else {
            sink()
        };
        match to {
            // One write per line, so lines of different threads do not mix.
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(format!("nbdkit: {body}\n").as_bytes());
            }
            Sink::Syslog => {
                let prio = if rec.level() == log::Level::Error {
                    libc::LOG_ERR
                } else {
                    libc::LOG_WARNING
                };
                crate::sys::syslog(prio, &body);
            }
            Sink::Null => {}
        }
    }

    fn flush(&self) {}
}

/// Install the logger: debug messages with `-v`, errors and warnings to
/// `sink` (which [`set_sink`] may change later).
pub fn init(verbose: bool, sink: Sink) {
    set_sink(sink);
    log::set_max_level(if verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    });
    let env = std::env::var_os("RUST_LOG").map(|_| {
        let mut b = env_logger::Builder::new();
        b.parse_default_env();
        b.build()
    });
    if env.is_some() && !verbose {
        log::set_max_level(log::LevelFilter::Trace);
    }
    let _ = log::set_boxed_logger(Box::new(Logger { env }));
}
