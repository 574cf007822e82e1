//! The built-in `pattern` plugin (placeholder until implemented).

use crate::backend::{ConnInfo, Error, Handle, Plugin, Result};

pub struct PatternPlugin;

impl PatternPlugin {
    pub fn new() -> Self {
        PatternPlugin
    }
}

impl Plugin for PatternPlugin {
    fn name(&self) -> &str {
        "pattern"
    }
    fn config(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(Error::einval(format!("unknown parameter '{key}'")))
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Err(Error::eio("not implemented"))
    }
}
