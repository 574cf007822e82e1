//! OS calls and system libraries (GnuTLS) that are not the plugin ABI, each
//! wrapped in a safe function:
//! with `abi/`, the only place `unsafe` is allowed (`#![deny(unsafe_code)]`
//! elsewhere).  Callers use `crate::sys::NAME`.

pub mod file;
pub mod gnutls;
/// Imports from GnuTLS, not exports: cbindgen-check compares only what the
/// server exports to C.
///
/// cbindgen:ignore
#[allow(clippy::all)]
pub mod gnutls_bindings;
pub mod host_memory;
pub mod process;
pub mod socket;

pub use file::*;
pub use host_memory::*;
pub use process::*;
pub use socket::*;

/// An OS error as nbdkit prints it (`strerror(errno)`): Rust's text
/// without its " (os error N)" suffix, and a name lookup's failure without
/// the prefix the standard library adds to getaddrinfo's own words.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&s);
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::strerror;
    use std::io;

    #[test]
    fn an_os_error_reads_as_strerror() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert!(e.to_string().ends_with("(os error 2)"), "{e}");
        assert_eq!(strerror(&e), "No such file or directory");
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(libc::EADDRINUSE)),
            "Address already in use"
        );
        // Not an OS error: the text as it is.
        assert_eq!(strerror(&io::Error::other("plain words")), "plain words");
        // A failed name lookup, as the standard library words it:
        // getaddrinfo's own words.
        let e = io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(strerror(&e), "Name or service not known");
    }
}
