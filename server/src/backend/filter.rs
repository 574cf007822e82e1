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
