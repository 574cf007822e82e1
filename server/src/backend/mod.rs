//! The backend: what serves the data behind an export.
//!
//! A backend is a [`Stack`] of layers: zero or more [`Filter`]s over one
//! [`Plugin`] (process-wide: configuration, lifecycle, opening
//! connections).  Per connection, each layer has a [`Handle`] (the data
//! calls) inside a [`Context`] (what the server caches and checks around
//! it).  Built-in plugins implement these in Rust; the C adapters in `abi/`
//! implement them over a loaded `.so`.
//!
//! Lengths and offsets are 64-bit everywhere here.  Callers (the protocol
//! dispatch) have already validated ranges, flags and sizes against what the
//! handle advertised, so implementations can trust `offset + count <= size`.

pub mod builtin;
pub mod connection;
pub mod context;
pub mod extents;
pub mod filter;
pub mod flags;
pub mod registry;
pub mod request_memory;
pub mod stack;

pub use crate::error::{Error, Result};
pub use connection::Connection;
pub use context::Context;
pub use extents::Extents;
pub use filter::{Below, Filter};
pub use flags::Flags;
pub use stack::{Layers, Stack};

use std::io::Write;

/// How a plugin wants concurrent calls serialised (`NBDKIT_THREAD_MODEL_*`).
/// Ordered from most to least restrictive, as nbdkit takes the minimum of
/// what the plugin and each filter ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreadModel {
    SerializeConnections = 0,
    SerializeAllRequests = 1,
    SerializeRequests = 2,
    Parallel = 3,
}

impl ThreadModel {
    pub fn from_c(v: i32) -> Option<ThreadModel> {
        Some(match v {
            0 => ThreadModel::SerializeConnections,
            1 => ThreadModel::SerializeAllRequests,
            2 => ThreadModel::SerializeRequests,
            3 => ThreadModel::Parallel,
            _ => return None,
        })
    }
    /// The name `--dump-plugin` prints (`thread_model=...`).
    pub fn name(self) -> &'static str {
        match self {
            ThreadModel::SerializeConnections => "serialize_connections",
            ThreadModel::SerializeAllRequests => "serialize_all_requests",
            ThreadModel::SerializeRequests => "serialize_requests",
            ThreadModel::Parallel => "parallel",
        }
    }
}

/// Tri-state answers of `can_fua`, `can_cache` (`NBDKIT_FUA_*`,
/// `NBDKIT_CACHE_*`): none, emulated by the server, or native.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Support {
    None = 0,
    Emulate = 1,
    Native = 2,
}

impl Support {
    pub fn from_c(v: i32) -> Support {
        match v {
            i32::MIN..=0 => Support::None,
            1 => Support::Emulate,
            _ => Support::Native,
        }
    }
}

/// Block size constraints a handle advertises (NBD_INFO_BLOCK_SIZE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSize {
    pub minimum: u32,
    pub preferred: u32,
    pub maximum: u32,
}

/// One export as `list_exports` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEntry {
    pub name: String,
    pub description: Option<String>,
}

/// A layer's answer to `list_exports`: the exports, and whether the layer
/// also listed its default export (by `nbdkit_use_default_export`), which
/// the stack resolves to a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportList {
    pub entries: Vec<ExportEntry>,
    pub use_default: bool,
}

/// The connection a plugin call is for, with the arguments of `open` (the
/// export name and read-only flag the layer above chose).
#[derive(Clone)]
pub struct ConnInfo {
    /// What the connection owns (its id, socket, interned strings); the C
    /// adapter publishes it to `nbdkit_peer_*`, `nbdkit_export_name` and
    /// `nbdkit_is_tls`.
    pub conn: std::sync::Arc<Connection>,
    /// Bytes as the client sent them (any encoding, no NUL), as nbdkit
    /// passes them to plugins.
    pub export_name: Vec<u8>,
    pub readonly: bool,
}

impl ConnInfo {
    pub fn new(conn: &std::sync::Arc<Connection>, export_name: &[u8], readonly: bool) -> ConnInfo {
        ConnInfo {
            conn: conn.clone(),
            export_name: export_name.to_vec(),
            readonly,
        }
    }
    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }
    /// A connection of its own, for tests and one-off opens.
    #[cfg(test)]
    pub fn detached(export_name: &str, readonly: bool) -> ConnInfo {
        let conn = std::sync::Arc::new(Connection::new(-1, false, 1));
        ConnInfo::new(&conn, export_name.as_bytes(), readonly)
    }
}

/// Process-wide part of a backend.
///
/// Calls in order: `config`* → `config_complete` → `get_ready` → (fork) →
/// `after_fork` → per connection `preconnect`, `open` … (Handle dropped =
/// close) → `cleanup` → drop (= unload).
pub trait Plugin: Send + Sync {
    /// Short name (`memory`, `file`, the C plugin's `.name`).
    fn name(&self) -> &str;
    /// `version=` in `--dump-plugin`; built-ins answer nbdkit's version.
    fn version(&self) -> Option<&str> {
        None
    }
    fn longname(&self) -> Option<&str> {
        None
    }
    /// `--help` prints it under the plugin's name.
    fn description(&self) -> Option<&str> {
        None
    }
    /// Text for `--help` after the plugin name.
    fn config_help(&self) -> Option<&str> {
        None
    }
    /// The key a bare `VALUE` on the command line is given to.
    fn magic_config_key(&self) -> Option<&str> {
        None
    }
    fn config(&mut self, key: &str, value: &str) -> Result<()>;
    /// `-D NAME.FLAG=N` naming this plugin: nbdkit sets the plugin's
    /// global `NAME_debug_FLAG`, warning when there is none.  Built-ins
    /// with debug flags override this; the C adapter sets them at load.
    fn check_debug_flag(&self, f: &crate::debug_flag::DebugFlag) {
        log::warn!(
            "-D {}.{}: {} does not contain a global variable called {}_debug_{}",
            f.name,
            f.flag,
            self.name(),
            self.name().replace('-', "_"),
            f.flag.replace('.', "_")
        );
    }
    /// `.config` with the value's bytes as given on the command line (not
    /// necessarily UTF-8).  A plugin that takes bytes (the C adapter)
    /// overrides it; the default hands `config` the text with invalid
    /// UTF-8 replaced.
    fn config_os(&mut self, key: &str, value: &std::ffi::OsStr) -> Result<()> {
        self.config(key, &value.to_string_lossy())
    }
    fn config_complete(&mut self) -> Result<()> {
        Ok(())
    }
    fn thread_model(&self) -> ThreadModel {
        ThreadModel::Parallel
    }
    fn get_ready(&mut self) -> Result<()> {
        Ok(())
    }
    fn after_fork(&self) -> Result<()> {
        Ok(())
    }
    /// The thread model the plugin was compiled with (`max_thread_model=`
    /// in `--dump-plugin`); `thread_model` may only narrow it.
    fn max_thread_model(&self) -> ThreadModel {
        ThreadModel::Parallel
    }
    /// `api_version=` and `struct_size=` for `--dump-plugin`.  Built-ins
    /// answer as a 1.32 v2 plugin does.
    fn dump_abi(&self) -> (i32, u64) {
        (2, 384)
    }
    fn errno_is_preserved(&self) -> bool {
        true
    }
    /// The callbacks this plugin has, as `--dump-plugin` lists them
    /// (`"pread"` becomes `has_pread=1`), in nbdkit's order.
    fn dump_has(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Lines the plugin adds to `--dump-plugin`, after the server's own.
    fn dump_plugin(&self, _out: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
    /// `conn.export_name` is not yet known here (empty).
    fn preconnect(&self, _conn: &ConnInfo) -> Result<()> {
        Ok(())
    }
    /// `None` means the plugin does not list exports: the server answers with
    /// the default export only.
    fn list_exports(&self, _conn: &ConnInfo) -> Result<Option<ExportList>> {
        Ok(None)
    }
    /// The canonical name of the export `""` resolves to; `None` means the
    /// plugin has no default export (the client must name one).
    fn default_export(&self, _conn: &ConnInfo) -> Result<Option<String>> {
        Ok(Some(String::new()))
    }
    fn open(&self, conn: &ConnInfo) -> Result<Box<dyn Handle>>;
    fn cleanup(&self) {}
    /// True when the extents this plugin reports are, at the moment it
    /// reports them, exactly what its reads would return there (a range
    /// called zero reads as zeroes, and a read there cannot fail): the
    /// server may then answer a read's zero ranges from extents without
    /// calling `pread` (sparse reads).  Plugins whose extents and data come
    /// from the same structure (our built-ins) say so; a loaded plugin
    /// cannot, and its extents may be stale or its reads fail.
    fn extents_exact(&self) -> bool {
        false
    }
    /// True when every data call returns within microseconds and never
    /// blocks (in-memory plugins).  The event loop may then run a small
    /// request itself rather than hand it to a worker and back.
    fn nonblocking(&self) -> bool {
        false
    }
}

/// Part of a read answered from the backend's own memory.
pub enum Piece {
    /// This range of a block the backend shares with the reply.
    Shared(std::sync::Arc<Box<[u8]>>, std::ops::Range<usize>),
    /// This many zero bytes.
    Zeroes(usize),
}

/// Source of [`Piece::Zeroes`] bytes.
static ZEROES: [u8; 64 * 1024] = [0; 64 * 1024];

/// The bytes of `pieces`, in order, as slices to send.
pub fn piece_slices(pieces: &[Piece]) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(pieces.len() + 1);
    for p in pieces {
        match p {
            Piece::Shared(block, range) => out.push(&block[range.clone()]),
            Piece::Zeroes(mut n) => {
                while n > 0 {
                    let k = n.min(ZEROES.len());
                    out.push(&ZEROES[..k]);
                    n -= k;
                }
            }
        }
    }
    out
}

/// Per-connection part of a layer.  Dropping it closes it.
///
/// Methods take `&self`: the server calls them from several worker threads at
/// once unless the thread model forbids it, so implementations use interior
/// mutability.  The [`Context`] around the handle caches the `can_*`
/// answers (each is asked at most once), checks requests against them, and
/// logs each call.
pub trait Handle: Send + Sync {
    /// Prepare the layers below this one (a filter's), before this one.
    fn prepare_below(&self) -> Result<()> {
        Ok(())
    }
    /// After open, before the first other call (filters' `.prepare`).
    fn prepare(&self, _readonly: bool) -> Result<()> {
        Ok(())
    }
    /// Before close (filters' `.finalize`).
    fn finalize(&self) -> Result<()> {
        Ok(())
    }
    /// Finalize the layers below this one, after this one.
    fn finalize_below(&self) -> Result<()> {
        Ok(())
    }
    /// What `-v` prints as the handle `open` returned.
    fn debug_address(&self) -> *const () {
        self as *const Self as *const ()
    }
    fn export_description(&self) -> Result<Option<String>> {
        Ok(None)
    }
    fn get_size(&self) -> Result<u64>;
    fn block_size(&self) -> Result<Option<BlockSize>> {
        Ok(None)
    }
    fn can_write(&self) -> Result<bool> {
        Ok(false)
    }
    fn can_flush(&self) -> Result<bool> {
        Ok(false)
    }
    fn is_rotational(&self) -> Result<bool> {
        Ok(false)
    }
    fn can_trim(&self) -> Result<bool> {
        Ok(false)
    }
    /// `NBDKIT_ZERO_*`: none, emulated by writing zeroes, or native (a
    /// native zero may still fall back to writing when it fails with
    /// ENOTSUP).
    fn can_zero(&self) -> Result<Support> {
        Ok(Support::None)
    }
    fn can_fast_zero(&self) -> Result<bool> {
        Ok(false)
    }
    fn can_fua(&self) -> Result<Support> {
        Ok(Support::None)
    }
    fn can_multi_conn(&self) -> Result<bool> {
        Ok(false)
    }
    fn can_cache(&self) -> Result<Support> {
        Ok(Support::None)
    }
    fn can_extents(&self) -> Result<bool> {
        Ok(false)
    }

    fn pread(&self, buf: &mut [u8], offset: u64, flags: Flags) -> Result<()>;
    /// A read answered with references to data the backend already holds,
    /// so the reply is sent from it with no copy.  `None`: not supported,
    /// use `pread`.
    fn read_shared(&self, _count: u32, _offset: u64) -> Option<Result<Vec<Piece>>> {
        None
    }
    fn pwrite(&self, _buf: &[u8], _offset: u64, _flags: Flags) -> Result<()> {
        Err(Error::eperm("write not supported"))
    }
    fn flush(&self, _flags: Flags) -> Result<()> {
        Err(Error::einval("flush not supported"))
    }
    fn trim(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Err(Error::einval("trim not supported"))
    }
    /// Write zeroes.  `flags` may hold MAY_TRIM, FUA and FAST_ZERO.
    fn zero(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Err(Error::enotsup("zero not supported"))
    }
    fn cache(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
    /// Fill `extents` (created for `offset..offset+count`) for this range.
    /// Only called when `can_extents` answered true.
    fn extents(&self, count: u64, offset: u64, _flags: Flags, extents: &mut Extents) -> Result<()> {
        extents.add(offset, count, 0)
    }
}
