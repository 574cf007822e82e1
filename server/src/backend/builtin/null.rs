//! The built-in `null` plugin (placeholder until implemented).

use crate::backend::{ConnInfo, Error, Handle, Plugin, Result};

pub struct NullPlugin;

impl NullPlugin {
    pub fn new() -> Self {
        NullPlugin
    }
}

impl Plugin for NullPlugin {
    fn name(&self) -> &str {
        "null"
    }
    fn config(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(Error::einval(format!("unknown parameter '{key}'")))
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Err(Error::eio("not implemented"))
    }
}
