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
