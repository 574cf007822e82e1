//! Finding the plugin the command line names: a built-in short name, a
//! short name resolved in the plugin directory, or a path to a `.so`.

use super::builtin;
use super::{Filter, Plugin};
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

/// A `-D NAME.FLAG=VALUE` setting from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugFlag {
    pub name: String,
    pub flag: String,
    pub value: i32,
}

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

/// Load the filter `--filter=name` names.
pub fn load_filter(name: &str, debug_flags: &[DebugFlag]) -> Result<Box<dyn Filter>, String> {
    crate::abi::filter::load(&filter_path(name), name, debug_flags)
}

/// A plugin that is an executable script in the plugin directory
/// (`nbdkit-NAME-plugin` with no `.so`, such as Debian's S3 and example4):
/// nbdkit runs the script, whose `#!` line names the language plugin.
pub fn script_plugin(name: &OsStr) -> Option<PathBuf> {
    if !is_short_name(name) || name.to_str().and_then(builtin::find).is_some() {
        return None;
    }
    let so = plugin_path(name);
    if so.exists() {
        return None;
    }
    let mut file = OsString::from("nbdkit-");
    file.push(name);
    file.push("-plugin");
    let script = Path::new(DEFAULT_PLUGIN_DIR).join(file);
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&script).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(script)
}

/// Load the plugin `name` as nbdkit would.  Our built-ins answer their own
/// short names when they serve what `params` ask for; everything else goes
/// through the C adapter (for a built-in's name, nbdkit's plugin of that
/// name in the plugin directory, and a clear error if it is not there).
pub fn load_plugin(
    name: &OsStr,
    params: &[(Option<String>, OsString)],
    debug_flags: &[DebugFlag],
) -> Result<Box<dyn Plugin>, String> {
    let builtin = name.to_str().and_then(|n| {
        let p = builtin::find(n)?;
        let so = plugin_path(name);
        if so.exists() && !builtin::stands_for(crate::abi::plugin::peek_version(&so).as_deref()) {
            return None;
        }
        match builtin::unserved(n, params) {
            None => Some(Ok(p)),
            Some(what) => {
                let so = plugin_path(name);
                (!so.exists()).then(|| {
                    Err(format!(
                        "error: {n}: {what} is not built into this nbdkit, and \
                         nbdkit's {n} plugin, which serves it, is not installed \
                         ({})",
                        so.display()
                    ))
                })
            }
        }
    });
    if let Some(p) = builtin {
        let p = p?;
        log::debug!("registering plugin {}", plugin_path(name).display());
        log::debug!(
            "registered plugin {} (name {})",
            plugin_path(name).display(),
            p.name()
        );
        log::debug!("{}: load", p.name());
        return Ok(p);
    }
    crate::abi::plugin::load(&plugin_path(name), &name.to_string_lossy(), debug_flags)
}
