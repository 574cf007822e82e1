//! The built-in `memory` plugin (placeholder until implemented).

use crate::backend::{ConnInfo, Error, Handle, Plugin, Result};

pub struct MemoryPlugin;

impl MemoryPlugin {
    pub fn new() -> Self {
        MemoryPlugin
    }
}

impl Plugin for MemoryPlugin {
    fn name(&self) -> &str {
        "memory"
    }
    fn config(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(Error::einval(format!("unknown parameter '{key}'")))
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Err(Error::eio("not implemented"))
    }
}
