//! The server's error: an errno (the stable kind: what goes on the wire
//! when a backend call fails), what is still to be said about it (the log
//! line, the reason the client is given), and where it happened.  Backend
//! calls return it, and so do the parsers and the system calls the
//! backend and the start-up share.  Per-request errors
//! are this type; errors that end a connection are `protocol::ProtocolError`
//! and the socket's `io::Error` in `net`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// A POSIX errno value (`libc::EIO`, ...).  The protocol layer maps it to
    /// an NBD error code.
    pub errno: i32,
    pub message: Message,
    pub context: Where,
}

/// What is left to say about a failure, which decides who logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Not in the log yet: whoever handles the error logs this text, and
    /// it is the reason the client is given.
    Text(String),
    /// Already in the log: the plugin or filter called `nbdkit_error` as it
    /// failed, or the layer logged it in nbdkit's words.  The text, when
    /// there is one, is the reason the client is given.
    Reported(Option<String>),
    /// Nothing to log: a failure nbdkit answers without a log line (a fast
    /// zero the layer cannot do).
    Silent,
}

/// Where a failure happened, as far as the layer that made it knows (the
/// innermost layer that knows a field fills it; outer ones keep it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Where {
    /// The plugin or filter.
    pub layer: Option<String>,
    /// Its callback (`pread`, `zero`, ...).
    pub callback: Option<&'static str>,
    pub offset: Option<u64>,
    pub count: Option<u64>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    fn with(errno: i32, message: Message) -> Self {
        Error {
            errno,
            message,
            context: Where::default(),
        }
    }
    /// A failure still to be logged, with this text.
    pub fn new(errno: i32, msg: impl Into<String>) -> Self {
        Self::with(errno, Message::Text(msg.into()))
    }
    /// A failure already in the log (the plugin's `nbdkit_error` text, if
    /// it gave one, is kept as the client's reason).
    pub fn reported(errno: i32, text: Option<String>) -> Self {
        Self::with(errno, Message::Reported(text))
    }
    /// Log the text now, in the layer's own words, as a plugin's
    /// `nbdkit_error` does as it fails: built-in plugins report their
    /// data calls' failures this way, so nothing is added to their words.
    pub fn report_now(self) -> Self {
        match self.message {
            Message::Text(t) => {
                log::error!("{t}");
                Error {
                    message: Message::Reported(Some(t)),
                    ..self
                }
            }
            _ => self,
        }
    }
    /// A failure nbdkit does not log.
    pub fn silent(errno: i32) -> Self {
        Self::with(errno, Message::Silent)
    }
    /// The text still to be logged, if any.
    pub fn unreported(&self) -> Option<&str> {
        match &self.message {
            Message::Text(t) => Some(t),
            Message::Reported(_) | Message::Silent => None,
        }
    }
    /// The reason to give the client: the plugin's own words, else the
    /// server's message (empty when there is neither).
    pub fn client_message(&self) -> &str {
        match &self.message {
            Message::Text(t) | Message::Reported(Some(t)) => t,
            Message::Reported(None) | Message::Silent => "",
        }
    }
    /// Name the layer it happened in, unless an inner layer already did.
    pub fn in_layer(mut self, layer: &str) -> Self {
        if self.context.layer.is_none() {
            self.context.layer = Some(layer.to_string());
        }
        self
    }
    /// Name the callback it happened in, unless an inner layer already did.
    pub fn in_callback(mut self, callback: &'static str) -> Self {
        if self.context.callback.is_none() {
            self.context.callback = Some(callback);
        }
        self
    }
    /// The range of the request, unless an inner layer already gave one.
    pub fn at(mut self, offset: u64, count: u64) -> Self {
        if self.context.offset.is_none() {
            self.context.offset = Some(offset);
            self.context.count = Some(count);
        }
        self
    }
    pub fn einval(msg: impl Into<String>) -> Self {
        Self::new(libc::EINVAL, msg)
    }
    pub fn eio(msg: impl Into<String>) -> Self {
        Self::new(libc::EIO, msg)
    }
    pub fn eperm(msg: impl Into<String>) -> Self {
        Self::new(libc::EPERM, msg)
    }
    pub fn enotsup(msg: impl Into<String>) -> Self {
        Self::new(libc::ENOTSUP, msg)
    }
}

/// The server's text for it, else the errno's (what the log says when the
/// text is not ours to give).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unreported() {
            Some(t) => f.write_str(t),
            None => write!(f, "{}", std::io::Error::from_raw_os_error(self.errno)),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_logs_and_what_the_client_hears() {
        let t = Error::eio("disk on fire");
        assert_eq!(
            (t.unreported(), t.client_message()),
            (Some("disk on fire"), "disk on fire")
        );
        assert_eq!(t.to_string(), "disk on fire");
        let r = Error::reported(libc::ENOSPC, Some("full".into()));
        assert_eq!((r.unreported(), r.client_message()), (None, "full"));
        assert_eq!(
            r.to_string(),
            std::io::Error::from_raw_os_error(libc::ENOSPC).to_string()
        );
        let q = Error::silent(libc::ENOTSUP);
        assert_eq!((q.unreported(), q.client_message()), (None, ""));
    }

    #[test]
    fn the_innermost_context_wins() {
        let e = Error::silent(libc::EIO)
            .in_layer("file")
            .in_callback("pread")
            .at(512, 4096)
            .in_layer("cow")
            .in_callback("read")
            .at(0, 1);
        let w = &e.context;
        assert_eq!(w.layer.as_deref(), Some("file"));
        assert_eq!(w.callback, Some("pread"));
        assert_eq!((w.offset, w.count), (Some(512), Some(4096)));
    }
}
