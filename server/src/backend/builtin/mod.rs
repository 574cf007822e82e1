//! Plugins built into the server, so `nbdkit memory 1G` works with no other
//! nbdkit installed.  Each answers its short name and behaves as the nbdkit
//! 1.32 plugin of the same name does on the wire.

use super::Plugin;

pub mod file;
pub mod memory_plugin;
pub mod null;
pub mod pattern;
pub mod sparse;

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
