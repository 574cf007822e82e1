//! A plugin and filters that only describe themselves and record the
//! configuration calls they get, for tests of what the server says about
//! the layers it loaded (`--help`, `--version`, `--dump-plugin`) and of
//! the order it calls them in.

use crate::backend::{
    Below, ConnInfo, Connection, Error, Filter, Handle, Layers, Plugin, Result, ThreadModel,
};
use std::ffi::OsStr;
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

/// The calls every layer got, in order: `NAME: config KEY=VALUE`,
/// `NAME: config_complete`, `NAME: get_ready`.
pub type Calls = Arc<Mutex<Vec<String>>>;

fn record(calls: &Calls, name: &str, what: String) {
    calls.lock().unwrap().push(format!("{name}: {what}"));
}

pub struct FakePlugin {
    pub about: About,
    pub calls: Calls,
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
        record(
            &self.calls,
            self.about.name,
            format!("config {key}={value}"),
        );
        Ok(())
    }
    fn config_complete(&mut self) -> Result<()> {
        record(&self.calls, self.about.name, "config_complete".into());
        Ok(())
    }
    fn get_ready(&mut self) -> Result<()> {
        record(&self.calls, self.about.name, "get_ready".into());
        match self.about.get_ready_error {
            Some(m) => Err(Error::einval(m)),
            None => Ok(()),
        }
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Err(Error::eio("a fake plugin serves nothing"))
    }
}

/// A filter that passes every call on.
pub struct FakeFilter {
    pub about: About,
    pub calls: Calls,
}

impl Filter for FakeFilter {
    fn name(&self) -> &str {
        self.about.name
    }
    fn path(&self) -> &str {
        self.about.path
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
    fn config(
        &mut self,
        next: &mut dyn FnMut(&str, &OsStr) -> Result<()>,
        key: &str,
        value: &OsStr,
    ) -> Result<()> {
        let shown = value.to_string_lossy();
        record(
            &self.calls,
            self.about.name,
            format!("config {key}={shown}"),
        );
        next(key, value)
    }
    fn config_complete(&mut self, next: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        record(&self.calls, self.about.name, "config_complete".into());
        next()
    }
    fn get_ready(&mut self, _model: ThreadModel) -> Result<()> {
        record(&self.calls, self.about.name, "get_ready".into());
        Ok(())
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

/// These filters (outermost first) over this plugin, and where their
/// calls are recorded.
pub fn layers(filters: &[About], plugin: About) -> (Layers, Calls) {
    let calls = Calls::default();
    let layers = Layers {
        filters: filters
            .iter()
            .map(|a| {
                Box::new(FakeFilter {
                    about: a.clone(),
                    calls: calls.clone(),
                }) as Box<dyn Filter>
            })
            .collect(),
        plugin: Box::new(FakePlugin {
            about: plugin,
            calls: calls.clone(),
        }),
    };
    (layers, calls)
}
