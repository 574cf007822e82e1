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
use super::stack::Below;
use super::{ExportList, Handle, Result, ThreadModel};
use std::ffi::OsStr;
use std::sync::Arc;

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
