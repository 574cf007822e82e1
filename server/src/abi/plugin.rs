//! Loads a C plugin `.so` and adapts it to the backend traits.

use crate::backend::registry::DebugFlag;
use crate::backend::Plugin;
use std::path::Path;

pub fn load(path: &Path, _name: &str, _debug: &[DebugFlag]) -> Result<Box<dyn Plugin>, String> {
    Err(format!(
        "{}: cannot open shared object file: not yet supported",
        path.display()
    ))
}
