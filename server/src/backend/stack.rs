//! The layered backend (nbdkit's `backend.c`): zero or more filters over
//! one plugin, the first `--filter` outermost.  Layer 0 is the one the
//! client talks to; the plugin is the last.
//!
//! Configuration goes through [`Layers`], which owns the layers mutably
//! (each filter's `config` gets the rest of the stack as its `next`).  Once
//! configured they become a [`Stack`], shared by every connection and
//! read-only from then on, where each layer reaches the one below through
//! a [`Below`] link that stays put until the stack is dropped.
//!
//! Lifecycle order is nbdkit's: `config` and `config_complete` from the
//! outside in, `get_ready` and `after_fork` from the plugin out, `cleanup`
//! from the outside in, unload the plugin first and then the filters from
//! the inside out.

use super::connection::Connection;
use super::context::{controlpath, Context};
use super::filter::{Below, Filter, Lower};
use super::{ConnInfo, Error, ExportEntry, Plugin, Result, ThreadModel};
use std::ffi::OsStr;
use std::sync::{Arc, Weak};

/// nbdkit ignores a default export name longer than an NBD string.
const MAX_NAME: usize = 4096;

/// The layers while they are being configured.
pub struct Layers {
    /// Outermost first.
    pub filters: Vec<Box<dyn Filter>>,
    pub plugin: Box<dyn Plugin>,
}

fn config_at(
    filters: &mut [Box<dyn Filter>],
    plugin: &mut dyn Plugin,
    key: &str,
    value: &OsStr,
) -> Result<()> {
    match filters.split_first_mut() {
        None => {
            log::debug!(
                "{}: config key={key}, value={}",
                plugin.name(),
                value.to_string_lossy()
            );
            plugin.config_os(key, value)
        }
        Some((f, rest)) => {
            log::debug!(
                "{}: config key={key}, value={}",
                f.name(),
                value.to_string_lossy()
            );
            f.config(&mut |k, v| config_at(rest, plugin, k, v), key, value)
        }
    }
}

fn config_complete_at(filters: &mut [Box<dyn Filter>], plugin: &mut dyn Plugin) -> Result<()> {
    match filters.split_first_mut() {
        None => {
            log::debug!("{}: config_complete", plugin.name());
            plugin.config_complete()
        }
        Some((f, rest)) => {
            log::debug!("{}: config_complete", f.name());
            f.config_complete(&mut || config_complete_at(rest, plugin))
        }
    }
}

impl Layers {
    /// `key=value` from the command line (the value's bytes as given),
    /// offered to each layer from the outside in until one takes it.
    pub fn config(&mut self, key: &str, value: &OsStr) -> Result<()> {
        config_at(&mut self.filters, &mut *self.plugin, key, value)
    }

    pub fn config_complete(&mut self) -> Result<()> {
        config_complete_at(&mut self.filters, &mut *self.plugin)
    }

    /// The most restrictive model of the plugin and every filter.
    pub fn thread_model(&self) -> Result<ThreadModel> {
        let mut m = self
            .plugin
            .thread_model()
            .min(self.plugin.max_thread_model());
        // From the inside out: each filter is told the model of the
        // layers below it.
        for f in self.filters.iter().rev() {
            m = m.min(f.thread_model(m)?);
        }
        Ok(m)
    }

    /// The plugin, then each filter from the inside out.
    pub fn get_ready(&mut self, model: ThreadModel) -> Result<()> {
        log::debug!("{}: get_ready", self.plugin.name());
        self.plugin.get_ready()?;
        for f in self.filters.iter_mut().rev() {
            log::debug!("{}: get_ready thread_model={}", f.name(), model as i32);
            f.get_ready(model)?;
        }
        Ok(())
    }
}

pub struct Stack {
    /// Outermost first.
    filters: Vec<Box<dyn Filter>>,
    /// Always present until the stack is dropped (taken out to unload it
    /// before the filters, as nbdkit does).
    plugin: Option<Box<dyn Plugin>>,
    /// Each layer's name, shared by its contexts for debug lines.
    names: Vec<Arc<str>>,
    /// `links[i]` reaches layer `i`.
    links: Vec<Below>,
    model: ThreadModel,
}

impl Stack {
    pub fn new(layers: Layers, model: ThreadModel) -> Arc<Stack> {
        let Layers { filters, plugin } = layers;
        let mut names: Vec<Arc<str>> = filters.iter().map(|f| Arc::from(f.name())).collect();
        names.push(Arc::from(plugin.name()));
        Arc::new_cyclic(|weak: &Weak<Stack>| Stack {
            links: (0..names.len())
                .map(|index| Below::new(weak.clone() as Weak<dyn Lower>, index))
                .collect(),
            filters,
            plugin: Some(plugin),
            names,
            model,
        })
    }

    pub fn plugin(&self) -> &dyn Plugin {
        self.plugin.as_deref().expect("present until drop")
    }
    /// How many layers (filters and the plugin).
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn thread_model(&self) -> ThreadModel {
        self.model
    }
    /// Every call returns quickly and never blocks: only a plugin that says
    /// so, with no filter (a filter may sleep, e.g. delay, rate).
    pub fn nonblocking(&self) -> bool {
        self.filters.is_empty() && self.plugin().nonblocking()
    }

    /// The filters, outermost first.
    pub fn filters(&self) -> &[Box<dyn Filter>] {
        &self.filters
    }

    fn below(&self, index: usize) -> &Below {
        &self.links[index + 1]
    }

    /// The plugin, then each filter from the inside out.
    pub fn after_fork(&self) -> Result<()> {
        log::debug!("{}: after_fork", self.plugin().name());
        self.plugin().after_fork()?;
        for (i, f) in self.filters.iter().enumerate().rev() {
            log::debug!("{}: after_fork", f.name());
            f.after_fork(self.below(i))?;
        }
        Ok(())
    }

    /// Each filter from the outside in, then the plugin.
    pub fn cleanup(&self) {
        for (i, f) in self.filters.iter().enumerate() {
            log::debug!("{}: cleanup", f.name());
            f.cleanup(self.below(i));
        }
        log::debug!("{}: cleanup", self.plugin().name());
        self.plugin().cleanup();
    }

    /// Open the outermost layer and prepare the whole stack, as the
    /// protocol does for NBD_OPT_GO.
    pub fn open_top(
        &self,
        conn: &Arc<Connection>,
        readonly: bool,
        export_name: &[u8],
    ) -> Result<Context> {
        let ctx = self.open(0, conn, readonly, export_name)?;
        if let Err(e) = ctx.prepare() {
            // The layers that did prepare are finalized before the close.
            let _ = ctx.finalize();
            return Err(e);
        }
        Ok(ctx)
    }
}

impl Lower for Stack {
    fn preconnect(&self, index: usize, conn: &Arc<Connection>, readonly: bool) -> Result<()> {
        controlpath!("{}: preconnect", self.names[index]);
        match self.filters.get(index) {
            Some(f) => f.preconnect(self.below(index), conn, readonly),
            None => self
                .plugin()
                .preconnect(&ConnInfo::new(conn, b"", readonly)),
        }
    }

    /// The exports layer `index` lists, with "the default export" resolved
    /// to its name at that layer.
    fn list_exports(
        &self,
        index: usize,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<Vec<ExportEntry>> {
        controlpath!(
            "{}: list_exports readonly={} tls={}",
            self.names[index],
            readonly as i32,
            conn.is_tls() as i32
        );
        let listed = match self.filters.get(index) {
            Some(f) => f.list_exports(self.below(index), conn, readonly),
            None => self
                .plugin()
                .list_exports(&ConnInfo::new(conn, b"", readonly))
                .map(|l| {
                    l.unwrap_or(super::ExportList {
                        entries: Vec::new(),
                        use_default: true,
                    })
                }),
        };
        let list = listed.inspect_err(|_| {
            controlpath!("{}: list_exports failed", self.names[index]);
        })?;
        let mut entries = list.entries;
        if list.use_default {
            // A failing default_export (already logged) leaves the default
            // out of the list rather than failing it, as in nbdkit: the
            // client still learns of the other exports.
            if let Ok(Some(name)) = self.default_export(index, conn, readonly) {
                entries.push(ExportEntry {
                    name,
                    description: None,
                });
            }
        }
        controlpath!(
            "{}: list_exports returned {} names",
            self.names[index],
            entries.len()
        );
        Ok(entries)
    }

    /// The canonical name `""` stands for at layer `index` (asked once per
    /// connection); `None` if that layer has no default export.
    fn default_export(
        &self,
        index: usize,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<Option<String>> {
        let name = &self.names[index];
        controlpath!(
            "{name}: default_export readonly={} tls={}",
            readonly as i32,
            conn.is_tls() as i32
        );
        conn.default_export(index, || {
            let s = match self.filters.get(index) {
                Some(f) => f.default_export(self.below(index), conn, readonly)?,
                None => self
                    .plugin()
                    .default_export(&ConnInfo::new(conn, b"", readonly))?,
            };
            Ok(s.filter(|s| {
                let ok = s.len() <= MAX_NAME;
                if !ok {
                    controlpath!("{name}: default_export: ignoring invalid string");
                }
                ok
            }))
        })
    }

    /// Open layer `index` (and, through it, the layers below it that it
    /// opens) for a connection.
    fn open(
        &self,
        index: usize,
        conn: &Arc<Connection>,
        readonly: bool,
        export_name: &[u8],
    ) -> Result<Context> {
        let name = &self.names[index];
        controlpath!(
            "{name}: open readonly={} exportname=\"{}\" tls={}",
            readonly as i32,
            String::from_utf8_lossy(export_name),
            conn.is_tls() as i32
        );
        let resolved;
        let export_name = if export_name.is_empty() {
            match self.default_export(index, conn, readonly)? {
                Some(n) => {
                    resolved = n.into_bytes();
                    resolved.as_slice()
                }
                None => {
                    log::error!("default export (\"\") not permitted");
                    return Err(Error::reported(libc::EINVAL, None));
                }
            }
        } else {
            export_name
        };
        let handle = match self.filters.get(index) {
            Some(f) => f.open(self.below(index), conn, readonly, export_name)?,
            None => self
                .plugin()
                .open(&ConnInfo::new(conn, export_name, readonly))?,
        };
        controlpath!("{name}: open returned handle {:p}", handle.debug_address());
        Ok(Context::new(name.clone(), handle, readonly))
    }

    /// The link that reaches layer `index` (stable while the stack lives).
    fn link(&self, index: usize) -> &Below {
        &self.links[index]
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(p) = self.plugin.take() {
            log::debug!("{}: unload plugin", p.name());
            drop(p);
        }
        while let Some(f) = self.filters.pop() {
            drop(f);
        }
    }
}

impl Stack {
    /// A ready stack of one plugin with a `size` parameter (the built-in
    /// ones), for tests.
    #[cfg(test)]
    pub fn ready_for_test(plugin: Box<dyn Plugin>, size: &str) -> Arc<Stack> {
        let mut layers = Layers {
            filters: Vec::new(),
            plugin,
        };
        layers.config("size", OsStr::new(size)).unwrap();
        layers.config_complete().unwrap();
        let model = layers.thread_model().unwrap();
        layers.get_ready(model).unwrap();
        Stack::new(layers, model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::builtin::pattern::PatternPlugin;

    fn pattern_stack(size: &str) -> Arc<Stack> {
        Stack::ready_for_test(Box::new(PatternPlugin::new()), size)
    }

    #[test]
    fn a_stack_of_one_plugin_opens_and_reads() {
        let stack = pattern_stack("1M");
        assert_eq!(stack.len(), 1);
        assert!(stack.nonblocking(), "a built-in plugin alone never blocks");
        let conn = Arc::new(Connection::new(-1, false, stack.len()));
        stack.preconnect(0, &conn, false).unwrap();
        let ctx = stack.open_top(&conn, false, b"").unwrap();
        assert_eq!(ctx.get_size().unwrap(), 1 << 20);
        let mut buf = [0u8; 16];
        ctx.pread(&mut buf, 8, crate::backend::Flags::default())
            .unwrap();
        // The pattern plugin's bytes are each 8-byte offset, big-endian.
        assert_eq!(&buf[..8], &8u64.to_be_bytes());
        assert_eq!(&buf[8..], &16u64.to_be_bytes());
        ctx.finalize().unwrap();
    }

    #[test]
    fn each_layer_is_linked_to_the_one_below() {
        let stack = pattern_stack("4096");
        let below = stack.link(0);
        assert_eq!(below.index(), 0);
        let lower: Arc<dyn Lower> = stack.clone();
        assert!(Arc::ptr_eq(&below.stack().unwrap(), &lower));
    }
}
