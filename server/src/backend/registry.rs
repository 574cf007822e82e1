//! Where the plugin or filter the command line names is: a short name
//! resolved in nbdkit's plugin or filter directory, or a path to a `.so`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Debian's plugin directory; `NBDKIT_PLUGINDIR` at build time overrides it.
pub const DEFAULT_PLUGIN_DIR: &str = match option_env!("NBDKIT_PLUGINDIR") {
    Some(d) => d,
    None => "/usr/lib/x86_64-linux-gnu/nbdkit/plugins",
};

/// Debian's filter directory; `NBDKIT_FILTERDIR` at build time overrides it.
pub const DEFAULT_FILTER_DIR: &str = match option_env!("NBDKIT_FILTERDIR") {
    Some(d) => d,
    None => "/usr/lib/x86_64-linux-gnu/nbdkit/filters",
};

/// A short name is one nbdkit 1.44.1 resolves in its plugin or filter
/// directory: one without directory or path separators (`/ \\ : ;`), spaces,
/// dots, commas, `=` or control characters.
pub fn is_short_name(s: &OsStr) -> bool {
    !s.as_bytes()
        .iter()
        .any(|&c| b"/\\:;., =".contains(&c) || c <= 31 || c == 127)
}

/// A short name that could be a package's (`nbdkit-NAME-plugin`): letters,
/// digits, `-`, `_` and `.`, as nbdkit's hint after a failed load asks.
pub fn is_package_name(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

/// Where the `.so` for a plugin name or path is.
pub fn plugin_path(name: &OsStr) -> PathBuf {
    if is_short_name(name) {
        let mut file = OsString::from("nbdkit-");
        file.push(name);
        file.push("-plugin.so");
        Path::new(DEFAULT_PLUGIN_DIR).join(file)
    } else {
        PathBuf::from(name)
    }
}

/// Where the `.so` for a filter name (`FILTERDIR/nbdkit-NAME-filter.so`)
/// or path is.
pub fn filter_path(name: &str) -> PathBuf {
    if is_short_name(OsStr::new(name)) {
        Path::new(DEFAULT_FILTER_DIR).join(format!("nbdkit-{name}-filter.so"))
    } else {
        PathBuf::from(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_looked_up_in_the_directories_and_others_are_paths() {
        for name in ["memory", "my_plugin", "x-y", "python3"] {
            assert!(is_short_name(OsStr::new(name)), "{name}");
        }
        for name in [
            "./memory",
            "/usr/lib/p.so",
            "a.so",
            "a b",
            "a:b",
            "a;b",
            "a,b",
            "a=b",
            "a\\b",
            "a\u{7f}",
            "a\tb",
        ] {
            assert!(!is_short_name(OsStr::new(name)), "{name:?}");
        }
        assert_eq!(
            plugin_path(OsStr::new("memory")),
            Path::new(DEFAULT_PLUGIN_DIR).join("nbdkit-memory-plugin.so")
        );
        assert_eq!(plugin_path(OsStr::new("./x.so")), PathBuf::from("./x.so"));
        assert_eq!(
            filter_path("cow"),
            Path::new(DEFAULT_FILTER_DIR).join("nbdkit-cow-filter.so")
        );
        assert_eq!(filter_path("/tmp/f.so"), PathBuf::from("/tmp/f.so"));
    }

    #[test]
    fn a_package_hint_only_for_names_a_package_could_have() {
        assert!(is_package_name("curl"));
        assert!(is_package_name("linuxdisk_2.0-x"));
        assert!(!is_package_name("bad\r"));
        assert!(!is_package_name("ünï"));
    }
}
