//! A failure that stops the server: what is still to be printed on
//! stderr, and the exit status.  Start-up steps return it; only `main`
//! prints it and exits.

use std::fmt;

#[derive(Debug)]
pub struct Fatal {
    /// Printed as it is on stderr (None: already reported, by the plugin's
    /// `nbdkit_error` or a log line).
    text: Option<String>,
    pub status: i32,
}

impl Fatal {
    /// `nbdkit: error: MSG`, as `nbdkit_error` prints it.
    pub fn error(msg: impl fmt::Display) -> Self {
        Self::text(format!("nbdkit: error: {msg}"))
    }
    /// `nbdkit: MSG`, as nbdkit's own checks print it.
    pub fn plain(msg: impl fmt::Display) -> Self {
        Self::text(format!("nbdkit: {msg}"))
    }
    /// Exactly this text (it carries nbdkit's wording and prefix).
    pub fn text(text: impl Into<String>) -> Self {
        Fatal {
            text: Some(text.into()),
            status: 1,
        }
    }
    /// Already reported: nothing more to print.
    pub fn reported() -> Self {
        Fatal {
            text: None,
            status: 1,
        }
    }
    /// Print what is still to be said (one line, or several as given).
    pub fn print(&self) {
        if let Some(t) = &self.text {
            eprintln!("{t}");
        }
    }
}

/// What is still to be printed (nothing when already reported).
impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.as_deref().unwrap_or_default())
    }
}

/// A backend failure at start-up: the text nobody logged yet after
/// `prefix`, else nothing (the plugin said it with `nbdkit_error`).
pub fn backend(e: crate::error::Error, prefix: Option<&str>) -> Fatal {
    if e.unreported().is_none() {
        return Fatal::reported();
    }
    match prefix {
        Some(p) => Fatal::error(format!("{p}: {e}")),
        None => Fatal::error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn prefixes_and_status() {
        let e = Fatal::error("fork: no memory");
        assert_eq!(e.to_string(), "nbdkit: error: fork: no memory");
        assert_eq!(e.status, 1);
        assert_eq!(
            Fatal::plain("-u option: x").to_string(),
            "nbdkit: -u option: x"
        );
        assert_eq!(
            Fatal::text("as it is\nline 2").to_string(),
            "as it is\nline 2"
        );
        let r = Fatal::reported();
        assert_eq!(r.to_string(), "");
        assert_eq!(r.status, 1);
    }

    #[test]
    fn backend_failures_say_only_what_nobody_logged() {
        let e = Error::new(libc::EINVAL, "size must be given");
        assert_eq!(
            backend(e.clone(), None).to_string(),
            "nbdkit: error: size must be given"
        );
        assert_eq!(
            backend(e, Some("memory: get_ready")).to_string(),
            "nbdkit: error: memory: get_ready: size must be given"
        );
        // The plugin called nbdkit_error: nothing more is printed.
        let logged = Error::reported(libc::EIO, Some("plugin's words".into()));
        assert_eq!(backend(logged, Some("p: after_fork")).to_string(), "");
        assert_eq!(backend(Error::silent(libc::EIO), None).to_string(), "");
        assert_eq!(backend(Error::silent(libc::EIO), None).status, 1);
    }
}
