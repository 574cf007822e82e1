//! A plugin and filters that only describe themselves, for tests of what
//! the server says about the layers it loaded (`--help`, `--version`,
//! `--dump-plugin`, the order of `.config` calls).

use crate::backend::{Below, ConnInfo, Connection, Error, Filter, Handle, Layers, Plugin, Result};
use std::sync::{Arc, Mutex};

/// What a layer says about itself; `None` fields are left to the trait's
/// defaults.
#[derive(Clone, Default)]
pub struct About {
    pub name: &'static str,
    pub path: &'static str,
    pub version: Option<&'static str>,
    pub longname: Option<&'static str>,
    pub description: Option<&'static str>,
    pub config_help: Option<&'static str>,
    pub magic_config_key: Option<&'static str>,
    /// `.get_ready` fails with this message (not yet logged).
    pub get_ready_error: Option<&'static str>,
}

impl About {
    pub fn named(name: &'static str) -> About {
        About {
            name,
            ..About::default()
        }
    }
}

/// The `.config` calls a [`FakePlugin`] got: key and value.
pub type Configured = Arc<Mutex<Vec<(String, String)>>>;

/// A plugin that records the `.config` calls it gets.
pub struct FakePlugin {
    pub about: About,
    pub configured: Configured,
}

impl Plugin for FakePlugin {
    fn name(&self) -> &str {
        self.about.name
    }
    fn version(&self) -> Option<&str> {
        self.about.version
    }
    fn longname(&self) -> Option<&str> {
        self.about.longname
    }
    fn description(&self) -> Option<&str> {
        self.about.description
    }
    fn config_help(&self) -> Option<&str> {
        self.about.config_help
    }
    fn magic_config_key(&self) -> Option<&str> {
        self.about.magic_config_key
    }
    fn config(&mut self, key: &str, value: &str) -> Result<()> {
        let mut c = self.configured.lock().unwrap();
        c.push((key.into(), value.into()));
        Ok(())
    }
    fn get_ready(&mut self) -> Result<()> {
        match self.about.get_ready_error {
            Some(m) => Err(Error::einval(m)),
            None => Ok(()),
        }
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Err(Error::eio("a fake plugin serves nothing"))
    }
}

pub struct FakeFilter(pub About);

impl Filter for FakeFilter {
    fn name(&self) -> &str {
        self.0.name
    }
    fn path(&self) -> &str {
        self.0.path
    }
    fn version(&self) -> Option<&str> {
        self.0.version
    }
    fn longname(&self) -> Option<&str> {
        self.0.longname
    }
    fn description(&self) -> Option<&str> {
        self.0.description
    }
    fn config_help(&self) -> Option<&str> {
        self.0.config_help
    }
    fn open(
        &self,
        _below: &Below,
        _conn: &Arc<Connection>,
        _readonly: bool,
        _export_name: &[u8],
    ) -> Result<Box<dyn Handle>> {
        Err(Error::eio("a fake filter serves nothing"))
    }
}

/// These filters (outermost first) over this plugin; the plugin's
/// `.config` calls are recorded in the returned list.
pub fn layers(filters: &[About], plugin: About) -> (Layers, Configured) {
    let configured = Arc::new(Mutex::new(Vec::new()));
    let layers = Layers {
        filters: filters
            .iter()
            .map(|a| Box::new(FakeFilter(a.clone())) as Box<dyn Filter>)
            .collect(),
        plugin: Box::new(FakePlugin {
            about: plugin,
            configured: configured.clone(),
        }),
    };
    (layers, configured)
}
