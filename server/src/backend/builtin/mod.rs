//! Plugins built into the server, so `nbdkit memory 1G` works with no other
//! nbdkit installed.  Each answers its short name and behaves as the nbdkit
//! 1.32 plugin of the same name does on the wire.

use super::Plugin;

pub mod file;
pub mod flat;
pub mod memory_plugin;
pub mod null;
pub mod pattern;
pub mod sparse;

/// What in these command-line parameters the built-in plugin `name` does
/// not serve (`None`: it serves them all).  The server then loads nbdkit's
/// plugin of that name instead.
pub fn unserved(name: &str, params: &[(Option<String>, std::ffi::OsString)]) -> Option<String> {
    match name {
        "memory" => memory_plugin::unserved(params),
        "file" => file::unserved(params),
        _ => None,
    }
}

/// Whether a built-in plugin stands for nbdkit's plugin of that name
/// whose `.so` has this version: the built-ins do what nbdkit 1.32's
/// plugins do.  Another release's plugin (1.44's memory and file plugins
/// add block sizes, a rotational flag and other ways to trim) is loaded
/// instead; a `.so` whose version cannot be read leaves the built-in.
pub fn stands_for(so_version: Option<&str>) -> bool {
    so_version.is_none_or(|v| v.starts_with("1.32."))
}

/// The built-in plugin with this short name, freshly created.
pub fn find(name: &str) -> Option<Box<dyn Plugin>> {
    Some(match name {
        "memory" => Box::new(memory_plugin::MemoryPlugin::new()),
        "file" => Box::new(file::FilePlugin::new()),
        "null" => Box::new(null::NullPlugin::new()),
        "pattern" => Box::new(pattern::PatternPlugin::new()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::plugin::peek_version;
    use std::path::Path;

    #[test]
    fn built_ins_stand_for_the_1_32_plugins_only() {
        assert!(stands_for(None));
        assert!(stands_for(Some("1.32.5")));
        assert!(!stands_for(Some("1.44.1")));
        assert!(!stands_for(Some("1.33.0")));
        assert!(!stands_for(Some("")));
    }

    #[test]
    fn the_version_of_nbdkits_plugins() {
        for (path, want) in [
            (
                "/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so",
                "1.32.5",
            ),
            (
                "/var/tmp/nbdkit-1.44.1/plugins/file/.libs/nbdkit-file-plugin.so",
                "1.44.1",
            ),
        ] {
            if Path::new(path).exists() {
                assert_eq!(
                    peek_version(Path::new(path)).as_deref(),
                    Some(want),
                    "{path}"
                );
            }
        }
        assert_eq!(
            peek_version(Path::new("/nonexistent/nbdkit-x-plugin.so")),
            None
        );
    }
}
