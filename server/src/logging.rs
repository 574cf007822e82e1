//! Log lines in nbdkit's shape: `nbdkit: memory[3]: error: message`.
//! The worker pool names the context (plugin and connection) of the thread
//! it runs a request on; `-v` turns debug messages on.
//!
//! Where they go follows nbdkit: debug messages always to stderr; errors
//! and warnings to stderr, to syslog (`--log=syslog`, and by default once
//! the server has forked into the background, whose stderr is
//! /dev/null), to a file (`--log=/path`, appended to), or nowhere
//! (`--log=null`).  Debug messages are written as nbdkit 1.36 and later
//! write them: control characters, backslashes and non-ASCII bytes
//! escaped as in C strings, so one message is one line.

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
    File = 3,
}

/// The file of `--log=/path`, once opened.
static FILE: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> = std::sync::OnceLock::new();

/// Open `--log=/path` for appending (created if need be).
pub fn open_file(path: &std::path::Path) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    let _ = FILE.set(std::sync::Mutex::new(f));
    Ok(())
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
        3 => Sink::File,
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
        let msg = if rec.level() > log::Level::Info {
            c_escape(&rec.args().to_string())
        } else {
            rec.args().to_string()
        };
        let body = CONTEXT.with(|c| match &*c.borrow() {
            Ctx::Server => format!("{level}: {msg}"),
            ctx => format!("{ctx}: {level}: {msg}"),
        });
        let to = if rec.level() > log::Level::Warn {
            Sink::Stderr
        } else {
            sink()
        };
        match to {
            // One write per line, so lines of different threads do not mix.
            Sink::Stderr => {
                let line = match colour(rec) {
                    // As nbdkit: a debug line's colour ends before its
                    // newline, an error's after it.
                    Some(c @ DEBUG_COLOUR) => format!("\x1b[{c}mnbdkit: {body}\x1b[0m\n"),
                    Some(c) => format!("\x1b[{c}mnbdkit: {body}\n\x1b[0m"),
                    None => format!("nbdkit: {body}\n"),
                };
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Sink::Syslog => {
                let prio = if rec.level() == log::Level::Error {
                    libc::LOG_ERR
                } else {
                    libc::LOG_WARNING
                };
                crate::sys::syslog(prio, &body);
            }
            Sink::File => {
                if let Some(f) = FILE.get() {
                    let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = f.write_all(format!("nbdkit: {body}\n").as_bytes());
                }
            }
            Sink::Null => {}
        }
    }

    fn flush(&self) {}
}

/// The log target of messages a plugin or filter sends (`nbdkit_debug`,
/// and the built-in plugins' own): nbdkit shows them apart from the
/// server's on a terminal.
pub const PLUGIN: &str = "plugin";

/// Bold black: a plugin's or filter's debug message, on a terminal.
const DEBUG_COLOUR: &str = "1;30";
/// Bright red: an error, on a terminal.
const ERROR_COLOUR: &str = "1;31";

/// The ANSI colour nbdkit writes `rec` in when stderr is a terminal
/// (asked for each line, as nbdkit does).
fn colour(rec: &log::Record) -> Option<&'static str> {
    use std::io::IsTerminal;
    let c = match rec.level() {
        log::Level::Error => ERROR_COLOUR,
        log::Level::Debug if rec.target() == PLUGIN => DEBUG_COLOUR,
        _ => return None,
    };
    std::io::stderr().is_terminal().then_some(c)
}

/// `s` as nbdkit 1.44.1 writes a debug message when it holds a control
/// character or a non-ASCII byte: `\\`, `\n`, `\t` and the other C escapes
/// for control characters, printable ASCII as it is, every other byte as
/// `\xHH`, so the message stays one line.  A message of printable ASCII
/// alone is written as it is, backslashes included, as nbdkit 1.32.5
/// writes every message: plugins built for 1.32 escape their own bytes
/// (the data plugin's `-D data.AST=1` prints `"\x01"`), which doubling
/// would change.
pub fn c_escape(s: &str) -> String {
    if s.bytes().all(|c| (b' '..=b'~').contains(&c)) {
        return s.to_string();
    }
    c_quote(s.as_bytes())
}

/// `s` with C string escapes, as nbdkit quotes a name it prints (`\\`,
/// `\n`, ..., `\xHH` for other bytes outside printable ASCII); double
/// quotes are left as they are, as nbdkit leaves them.
pub fn c_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x0b => out.push_str("\\v"),
            b' '..=b'~' => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::c_escape;

    #[test]
    fn debug_messages_escaped_as_nbdkit() {
        assert_eq!(c_escape("plain text: 1 2 3"), "plain text: 1 2 3");
        assert_eq!(c_escape("a\nb\tc\\d\r"), "a\\nb\\tc\\\\d\\r");
        // Printable ASCII alone, backslashes too, is left as it is.
        assert_eq!(c_escape("\"\\x01\\x03\""), "\"\\x01\\x03\"");
        assert_eq!(c_escape("\u{7}\u{8}\u{b}\u{c}\u{1b}"), "\\a\\b\\v\\f\\x1b");
        assert_eq!(c_escape("é"), "\\xc3\\xa9");
    }
}
