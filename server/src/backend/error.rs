//! The error a backend call returns: an errno (what goes on the wire) and a
//! message (what goes in the log).  Per-request errors are this type; errors
//! that end a connection live in `net`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// A POSIX errno value (`libc::EIO`, ...).  The protocol layer maps it to
    /// an NBD error code.
    pub errno: i32,
    /// Human-readable context; may be empty when the plugin already logged
    /// its own message with `nbdkit_error`.
    pub msg: String,
    /// What the plugin said with `nbdkit_error` as it failed: already in
    /// the log (so `msg` is empty), and the reason the client is given.
    pub reported: Option<String>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(errno: i32, msg: impl Into<String>) -> Self {
        Error {
            errno,
            msg: msg.into(),
            reported: None,
        }
    }
    /// A failure the plugin already logged with `nbdkit_error` (its text,
    /// if it gave one).
    pub fn reported(errno: i32, text: Option<String>) -> Self {
        Error {
            errno,
            msg: String::new(),
            reported: text,
        }
    }
    /// The reason to give the client: the plugin's own words, else the
    /// server's message (empty when there is neither).
    pub fn client_message(&self) -> &str {
        self.reported.as_deref().unwrap_or(&self.msg)
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

/// A zeroed buffer of `len` bytes, or ENOMEM if memory cannot be had
/// (allocation on the request path must not abort the server).
pub fn try_zeroed(len: usize) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::new(libc::ENOMEM, format!("cannot allocate {len} bytes")))?;
    v.resize(len, 0);
    Ok(v)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.msg.is_empty() {
            write!(f, "{}", std::io::Error::from_raw_os_error(self.errno))
        } else {
            write!(f, "{}", self.msg)
        }
    }
}

impl std::error::Error for Error {}
