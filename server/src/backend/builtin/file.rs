//! The built-in `file` plugin (placeholder until implemented).

use crate::backend::{ConnInfo, Error, Handle, Plugin, Result};

pub struct FilePlugin;

impl FilePlugin {
    pub fn new() -> Self {
        FilePlugin
    }
}

impl Plugin for FilePlugin {
    fn name(&self) -> &str {
        "file"
    }
    fn config(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(Error::einval(format!("unknown parameter '{key}'")))
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Err(Error::eio("not implemented"))
    }
}
