//! The process-wide part of a filter layer (nbdkit-filter(3)): what sits
//! between the client and the plugin, and sees every call on its way down.
//!
//! Where nbdkit passes a filter a `next` function and its `nxdata`, these
//! methods get the layer below: a closure during configuration (the next
//! layer is only borrowed for the call), a [`Below`] afterwards (stable
//! from `after_fork` to `cleanup`, as nbdkit's `nbdkit_backend`).  The
//! per-connection part of a filter is a [`Handle`](super::Handle) whose
//! data calls reach the layer below through its own
//! [`Context`](super::Context).

use super::connection::Connection;
use super::context::Context;
use super::{Error, ExportEntry, ExportList, Handle, Result, ThreadModel};
use std::ffi::OsStr;
use std::sync::{Arc, Weak};

pub trait Filter: Send + Sync {
    /// Short name (`offset`, the C filter's `.name`).
    fn name(&self) -> &str;
    /// Where it was loaded from, for `--help`.
    fn path(&self) -> &str;
    fn longname(&self) -> Option<&str> {
        None
    }
    /// `--version` prints it after the name.
    fn version(&self) -> Option<&str> {
        None
    }
    /// `--help` prints it under the filter's name.
    fn description(&self) -> Option<&str> {
        None
    }
    fn config_help(&self) -> Option<&str> {
        None
    }
    /// Take `key=value` or pass it on with `next`; the value is the
    /// command line's bytes, not necessarily UTF-8.
    fn config(
        &mut self,
        next: &mut dyn FnMut(&str, &OsStr) -> Result<()>,
        key: &str,
        value: &OsStr,
    ) -> Result<()> {
        next(key, value)
    }
    fn config_complete(&mut self, next: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        next()
    }
    /// Whether reads and extents go through this layer untouched (it
    /// intercepts neither), so asking extents before a read (sparse reads)
    /// shows this filter nothing and changes nothing it would see or do.
    /// False unless the filter says so: a filter that intercepts reads may
    /// change the data (or fail, log, count, delay them), one that
    /// intercepts extents may log or count the calls.
    fn reads_pass_through(&self) -> bool {
        false
    }
    /// The model this filter needs; the server runs the most restrictive
    /// of every layer's.
    /// Lines the filter adds to `--dump-plugin` (after its `NAME_path=`
    /// and `NAME_name=`).
    fn dump_plugin(&self) {}
    /// The model this filter asks for, given `_next`, the one of the
    /// layers below (the server takes the stricter of the two).
    fn thread_model(&self, _next: ThreadModel) -> Result<ThreadModel> {
        Ok(ThreadModel::Parallel)
    }
    /// After the layers below are ready; `model` is the one chosen.
    fn get_ready(&mut self, _model: ThreadModel) -> Result<()> {
        Ok(())
    }
    fn after_fork(&self, _below: &Below) -> Result<()> {
        Ok(())
    }
    fn cleanup(&self, _below: &Below) {}
    fn preconnect(&self, below: &Below, conn: &Arc<Connection>, readonly: bool) -> Result<()> {
        below.preconnect(conn, readonly)
    }
    fn list_exports(
        &self,
        below: &Below,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<ExportList> {
        Ok(ExportList {
            entries: below.list_exports(conn, readonly)?,
            use_default: false,
        })
    }
    fn default_export(
        &self,
        below: &Below,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<Option<String>> {
        below.default_export(conn, readonly)
    }
    /// Open this layer for a connection; the filter opens the layer below
    /// through `below` (or not, if it never calls it).
    fn open(
        &self,
        below: &Below,
        conn: &Arc<Connection>,
        readonly: bool,
        export_name: &[u8],
    ) -> Result<Box<dyn Handle>>;
}

/// The layer at `index` as the layer above sees it: how a filter passes
/// set-up calls down, and what C filters get as their `nbdkit_backend`.
pub struct Below {
    stack: Weak<dyn Lower>,
    index: usize,
}

impl Below {
    /// The link to layer `index` of `stack`.
    pub fn new(stack: Weak<dyn Lower>, index: usize) -> Below {
        Below { stack, index }
    }
    /// The stack this link belongs to, while it exists.
    pub fn stack(&self) -> Result<Arc<dyn Lower>> {
        self.stack
            .upgrade()
            .ok_or_else(|| Error::new(libc::ESHUTDOWN, "the server is shutting down"))
    }
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn preconnect(&self, conn: &Arc<Connection>, readonly: bool) -> Result<()> {
        self.stack()?.preconnect(self.index, conn, readonly)
    }
    pub fn list_exports(&self, conn: &Arc<Connection>, readonly: bool) -> Result<Vec<ExportEntry>> {
        self.stack()?.list_exports(self.index, conn, readonly)
    }
    pub fn default_export(&self, conn: &Arc<Connection>, readonly: bool) -> Result<Option<String>> {
        self.stack()?.default_export(self.index, conn, readonly)
    }
    pub fn open(
        &self,
        conn: &Arc<Connection>,
        readonly: bool,
        export_name: &[u8],
    ) -> Result<Context> {
        self.stack()?.open(self.index, conn, readonly, export_name)
    }
}

/// The layers of a stack as a [`Below`] reaches them, by index (layer 0
/// the outermost): what the [`Stack`](super::Stack) answers for the layer
/// a filter sits on.
pub trait Lower: Send + Sync {
    fn preconnect(&self, index: usize, conn: &Arc<Connection>, readonly: bool) -> Result<()>;
    fn list_exports(
        &self,
        index: usize,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<Vec<ExportEntry>>;
    fn default_export(
        &self,
        index: usize,
        conn: &Arc<Connection>,
        readonly: bool,
    ) -> Result<Option<String>>;
    /// Open layer `index` (and, through it, the layers below it that it
    /// opens) for a connection.
    fn open(
        &self,
        index: usize,
        conn: &Arc<Connection>,
        readonly: bool,
        export_name: &[u8],
    ) -> Result<Context>;
    /// The link that reaches layer `index` (stable while the stack lives).
    fn link(&self, index: usize) -> &Below;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::builtin::pattern::PatternPlugin;
    use crate::backend::{Flags, Layers, Stack};

    /// A filter that intercepts no call but `config` of the key it
    /// `takes`: every other call takes the trait's default way down.
    struct Plain {
        takes: Option<&'static str>,
    }

    const PLAIN: Plain = Plain { takes: None };

    /// Its handle reads through the context below.
    struct Through(Context);

    impl Handle for Through {
        fn get_size(&self) -> Result<u64> {
            self.0.get_size()
        }
        fn pread(&self, buf: &mut [u8], offset: u64, flags: Flags) -> Result<()> {
            self.0.pread(buf, offset, flags)
        }
    }

    impl Filter for Plain {
        fn name(&self) -> &str {
            "plain"
        }
        fn path(&self) -> &str {
            "plain.so"
        }
        fn config(
            &mut self,
            next: &mut dyn FnMut(&str, &OsStr) -> Result<()>,
            key: &str,
            value: &OsStr,
        ) -> Result<()> {
            match self.takes {
                Some(k) if k == key => Ok(()),
                _ => next(key, value),
            }
        }
        fn open(
            &self,
            below: &Below,
            conn: &Arc<Connection>,
            readonly: bool,
            export_name: &[u8],
        ) -> Result<Box<dyn Handle>> {
            Ok(Box::new(Through(below.open(
                conn,
                readonly,
                export_name,
            )?)))
        }
    }

    fn ready(filters: Vec<Box<dyn Filter>>, params: &[(&str, &str)]) -> Result<Arc<Stack>> {
        let mut layers = Layers {
            filters,
            plugin: Box::new(PatternPlugin::new()),
        };
        for (k, v) in params {
            layers.config(k, OsStr::new(v))?;
        }
        layers.config_complete()?;
        let model = layers.thread_model()?;
        layers.get_ready(model)?;
        Ok(Stack::new(layers, model))
    }

    #[test]
    fn a_filter_passes_down_every_call_it_does_not_intercept() {
        let plain: Box<dyn Filter> = Box::new(PLAIN);
        assert!(!plain.reads_pass_through(), "only a filter that says so");
        assert_eq!(plain.version(), None);
        let stack = ready(vec![plain], &[("size", "4096")]).unwrap();
        assert_eq!(stack.thread_model(), ThreadModel::Parallel);
        assert!(!stack.nonblocking(), "a filter may block");
        let conn = Arc::new(Connection::new(-1, false, stack.len()));
        stack.preconnect(0, &conn, true).unwrap();
        assert_eq!(
            stack.default_export(0, &conn, true).unwrap().as_deref(),
            Some("")
        );
        // The plugin's default export, listed once: the filter's list is
        // the one below as it is, not a list to add the default to again.
        let names: Vec<String> = stack
            .list_exports(0, &conn, true)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [""]);
        let ctx = stack.open_top(&conn, true, b"").unwrap();
        assert_eq!(ctx.get_size().unwrap(), 4096);
        let mut buf = [0u8; 8];
        ctx.pread(&mut buf, 4088, Flags::NONE).unwrap();
        assert_eq!(buf, 4088u64.to_be_bytes());
        ctx.finalize().unwrap();
    }

    #[test]
    fn configuration_reaches_the_plugin_unless_a_filter_takes_it() {
        // A key no layer takes is the plugin's error.
        let e = ready(vec![Box::new(PLAIN)], &[("size", "1M"), ("shift", "1")])
            .err()
            .expect("the plugin refuses shift");
        assert_eq!(e.errno, libc::EINVAL);
        let stack = ready(
            vec![
                Box::new(PLAIN),
                Box::new(Plain {
                    takes: Some("shift"),
                }),
            ],
            &[("shift", "1"), ("size", "1M")],
        )
        .unwrap();
        assert_eq!(stack.len(), 3);
        // The memory plugin's config_complete, reached through the
        // filter's default one, wants a size.
        let mut layers = Layers {
            filters: vec![Box::new(PLAIN)],
            plugin: Box::new(crate::backend::builtin::memory_plugin::MemoryPlugin::new()),
        };
        let e = layers.config_complete().unwrap_err();
        assert!(e.to_string().contains("size=<SIZE>"), "{e}");
    }

    #[test]
    fn a_link_to_a_stack_that_is_gone_fails_with_eshutdown() {
        let gone: Weak<dyn Lower> = Weak::<Stack>::new();
        let below = Below::new(gone, 1);
        assert_eq!(below.index(), 1);
        let conn = Arc::new(Connection::new(-1, false, 2));
        for e in [
            below.preconnect(&conn, false).unwrap_err(),
            below.list_exports(&conn, false).unwrap_err(),
            below.default_export(&conn, false).unwrap_err(),
            below.open(&conn, false, b"x").err().unwrap(),
        ] {
            assert_eq!(e.errno, libc::ESHUTDOWN);
        }
    }
}
