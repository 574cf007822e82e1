//! The built-in `memory` plugin: a RAM disk of `size=` bytes, shared by
//! all connections and discarded when the server exits.
//!
//! Behaves on the wire as nbdkit 1.32's memory plugin with
//! `allocator=sparse` (the default: 32 KiB pages allocated on first
//! write, freed when a trim or zero leaves them all zero; extents report
//! unallocated pages as hole+zero, allocated all-zero pages as zero and the
//! rest as data) or `allocator=malloc[,mlock=true]` (the whole disk
//! allocated up front, every extent data).  Any other `allocator=` value
//! (`zstd`, abbreviations, unknown ones, stray parameters) is left to
//! nbdkit's own plugin: see [`handles`].

use std::io::Write;
use std::sync::Arc;

use super::flat::FlatArray;
use super::sparse::SparseArray;
use crate::backend::{
    ConnInfo, Error, Extents, Flags, Handle, Piece, Plugin, Result, Support, ThreadModel,
};

/// The allocators built in: what an `allocator=` value asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allocator {
    Sparse,
    Malloc { mlock: bool },
}

/// The allocator `value` names, if it is one built in: `sparse`, or
/// `malloc` with at most `mlock=BOOL` parameters (a bare `mlock` is true,
/// empty parameters are skipped, as nbdkit parses them).  `None` for
/// anything else, whose exact handling (prefix matching, error messages)
/// is nbdkit's plugin's.
fn builtin_allocator(value: &str) -> Option<Allocator> {
    let mut parts = value.split(',');
    let name = parts.next()?;
    let params: Vec<&str> = parts.filter(|p| !p.is_empty()).collect();
    match name {
        "sparse" if params.is_empty() => Some(Allocator::Sparse),
        "malloc" => {
            let mut mlock = false;
            for p in params {
                let (k, v) = p.split_once('=').unwrap_or((p, "1"));
                if k != "mlock" {
                    return None;
                }
                mlock = crate::parse::boolean(v.as_bytes()).ok()?;
            }
            Some(Allocator::Malloc { mlock })
        }
        _ => None,
    }
}

/// What in these command-line parameters the built-in does not serve:
/// the last `allocator=`, when it is not one built in
/// ([`builtin_allocator`]).  The server then loads nbdkit's memory plugin.
pub fn unserved(params: &[(Option<String>, std::ffi::OsString)]) -> Option<String> {
    let (_, v) = params
        .iter()
        .rev()
        .find(|(k, _)| k.as_deref() == Some("allocator"))?;
    match v.to_str().and_then(builtin_allocator) {
        Some(_) => None,
        None => Some(format!("allocator={}", v.to_string_lossy())),
    }
}

/// The pages behind the disk, made by `get_ready`.
#[derive(Clone)]
enum Storage {
    Sparse(Arc<SparseArray>),
    Flat(Arc<FlatArray>),
}

pub struct MemoryPlugin {
    size: Option<u64>,
    /// The last `allocator=` given (nbdkit reads it at `get_ready`).
    allocator: String,
    /// Shared by all connections, from `get_ready` on.
    storage: Option<Storage>,
}

impl MemoryPlugin {
    pub fn new() -> Self {
        MemoryPlugin {
            size: None,
            allocator: "sparse".to_string(),
            storage: None,
        }
    }
}

impl Default for MemoryPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for MemoryPlugin {
    /// Extents and data are the same pages, looked up at the moment asked.
    fn extents_exact(&self) -> bool {
        true
    }
    fn nonblocking(&self) -> bool {
        true
    }
    /// Debian's memory plugin has `memory_debug_dir` (its sparse array's directory lookups): accepted
    /// without a warning; this plugin has nothing more to say there.
    fn check_debug_flag(&self, f: &crate::debug_flag::DebugFlag) {
        if f.flag != "dir" {
            log::warn!(
                "-D {}.{}: memory does not contain a global variable called memory_debug_{}",
                f.name,
                f.flag,
                f.flag.replace('.', "_")
            );
        }
    }
    fn name(&self) -> &str {
        "memory"
    }
    fn version(&self) -> Option<&str> {
        Some("1.32.5")
    }
    fn config_help(&self) -> Option<&str> {
        Some(
            "size=<SIZE>  (required) Size of the backing disk\n\
             allocator=sparse|...    Backend allocation strategy",
        )
    }
    fn magic_config_key(&self) -> Option<&str> {
        Some("size")
    }
    fn config(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "size" => {
                self.size = Some(crate::parse::size(value.as_bytes())?);
                Ok(())
            }
            "allocator" => {
                self.allocator = value.to_string();
                Ok(())
            }
            _ => Err(Error::einval(format!("unknown parameter '{key}'"))),
        }
    }
    fn config_complete(&mut self) -> Result<()> {
        if self.size.is_none() {
            return Err(Error::einval(
                "you must specify size=<SIZE> on the command line",
            ));
        }
        Ok(())
    }
    fn get_ready(&mut self) -> Result<()> {
        // nbdkit's memory plugin says which allocator it made.
        log::debug!(target: crate::logging::PLUGIN, "allocator: {}", self.allocator);
        let storage = match builtin_allocator(&self.allocator) {
            Some(Allocator::Sparse) => Storage::Sparse(Arc::new(SparseArray::new())),
            Some(Allocator::Malloc { mlock }) => {
                let size = self.size.unwrap_or(0);
                Storage::Flat(Arc::new(FlatArray::new(size, mlock)?))
            }
            // The registry loads nbdkit's plugin for any other value.
            None => {
                return Err(Error::einval(format!(
                    "unknown allocator \"{}\"",
                    self.allocator
                )))
            }
        };
        self.storage = Some(storage);
        Ok(())
    }
    fn thread_model(&self) -> ThreadModel {
        ThreadModel::Parallel
    }
    fn dump_has(&self) -> Vec<&'static str> {
        vec![
            "unload",
            "dump_plugin",
            "config",
            "config_complete",
            "config_help",
            "get_ready",
            "open",
            "get_size",
            "can_fast_zero",
            "can_fua",
            "can_multi_conn",
            "can_cache",
            "pread",
            "pwrite",
            "flush",
            "trim",
            "zero",
            "extents",
        ]
    }
    fn dump_plugin(&self, out: &mut dyn Write) -> std::io::Result<()> {
        // `allocator=malloc,mlock=true` is built in; `allocator=zstd` is
        // served by nbdkit's own plugin, when it is installed.
        writeln!(out, "mlock=yes")?;
        if crate::backend::registry::plugin_path(std::ffi::OsStr::new("memory")).exists() {
            writeln!(out, "zstd=yes")?;
        }
        Ok(())
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        let storage = self
            .storage
            .clone()
            .ok_or_else(|| Error::eio("memory: open before get_ready"))?;
        Ok(Box::new(MemoryHandle {
            size: self.size.unwrap_or(0),
            storage,
        }))
    }
}

pub struct MemoryHandle {
    size: u64,
    storage: Storage,
}

impl Handle for MemoryHandle {
    fn get_size(&self) -> Result<u64> {
        Ok(self.size)
    }
    fn can_write(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_flush(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_trim(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_zero(&self) -> Result<Support> {
        Ok(Support::Native)
    }
    fn can_fast_zero(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_fua(&self) -> Result<Support> {
        Ok(Support::Native)
    }
    fn can_multi_conn(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_cache(&self) -> Result<Support> {
        // Everything is already in memory: caching is a successful no-op.
        Ok(Support::Native)
    }
    fn can_extents(&self) -> Result<bool> {
        Ok(true)
    }

    fn pread(&self, buf: &mut [u8], offset: u64, _flags: Flags) -> Result<()> {
        match &self.storage {
            Storage::Sparse(s) => s.read(buf, offset),
            Storage::Flat(f) => f.read(buf, offset),
        }
        Ok(())
    }
    fn pwrite(&self, buf: &[u8], offset: u64, _flags: Flags) -> Result<()> {
        // FUA needs nothing: data is "on stable storage" as soon as copied.
        match &self.storage {
            Storage::Sparse(s) => s.write(buf, offset),
            Storage::Flat(f) => {
                f.write(buf, offset);
                Ok(())
            }
        }
    }
    fn flush(&self, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn trim(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        self.zero(count, offset, flags)
    }
    fn zero(&self, count: u64, offset: u64, _flags: Flags) -> Result<()> {
        // Freeing pages is both zeroing and fast, so MAY_TRIM and FAST_ZERO
        // need no special handling; the flat array just clears.
        match &self.storage {
            Storage::Sparse(s) => s.zero(count, offset),
            Storage::Flat(f) => {
                f.zero(count, offset);
                Ok(())
            }
        }
    }
    fn read_shared(&self, count: u32, offset: u64) -> Option<Result<Vec<Piece>>> {
        let Storage::Sparse(s) = &self.storage else {
            return None;
        };
        let mut pieces = Vec::new();
        s.read_shared(u64::from(count), offset, &mut pieces);
        Some(Ok(pieces))
    }
    fn cache(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn extents(&self, count: u64, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        match &self.storage {
            Storage::Sparse(s) => s.extents(count, offset, flags.req_one(), extents),
            Storage::Flat(f) => f.extents(count, offset, extents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::extents::{EXTENT_HOLE, EXTENT_ZERO};

    fn conn() -> ConnInfo {
        ConnInfo::detached("", false)
    }

    fn ready(size: &str) -> MemoryPlugin {
        let mut p = MemoryPlugin::new();
        p.config("size", size).unwrap();
        p.config_complete().unwrap();
        p.get_ready().unwrap();
        p
    }

    #[test]
    fn memory_config_errors() {
        let mut p = MemoryPlugin::new();
        let e = p.config("foo", "1").unwrap_err();
        assert_eq!(
            (e.errno, e.client_message()),
            (libc::EINVAL, "unknown parameter 'foo'")
        );
        assert_eq!(
            p.config("size", "abc").unwrap_err().to_string(),
            "could not parse size string: abc"
        );
        assert_eq!(
            p.config("size", "8E").unwrap_err().to_string(),
            "could not parse size: size * scale overflows: 8E"
        );
        assert_eq!(
            p.config_complete().unwrap_err().to_string(),
            "you must specify size=<SIZE> on the command line"
        );
        // The last allocator= counts, read when the plugin gets ready.
        p.config("allocator", "foo").unwrap();
        p.config("allocator", "sparse").unwrap();
        p.config("size", "1M").unwrap();
        p.config("size", "7E").unwrap();
        p.config_complete().unwrap();
        assert_eq!(p.magic_config_key(), Some("size"));
        assert_eq!(p.version(), Some("1.32.5"));
    }

    #[test]
    fn memory_allocators_built_in_or_not() {
        use std::ffi::OsString;
        let a = |v: &str| builtin_allocator(v);
        assert_eq!(a("sparse"), Some(Allocator::Sparse));
        assert_eq!(a("malloc"), Some(Allocator::Malloc { mlock: false }));
        assert_eq!(
            a("malloc,mlock=true"),
            Some(Allocator::Malloc { mlock: true })
        );
        assert_eq!(a("malloc,,mlock"), Some(Allocator::Malloc { mlock: true }));
        assert_eq!(
            a("malloc,mlock=off"),
            Some(Allocator::Malloc { mlock: false })
        );
        for other in [
            "zstd",
            "m",
            "",
            "sparse,x",
            "malloc,mlock=foo",
            "malloc,foo=1",
            "Sparse",
        ] {
            assert_eq!(a(other), None, "{other}");
        }
        let params = |v: &[(&str, &str)]| -> Vec<(Option<String>, OsString)> {
            v.iter()
                .map(|(k, v)| (Some(k.to_string()), OsString::from(v)))
                .collect()
        };
        assert_eq!(unserved(&params(&[("size", "1M")])), None);
        let zstd_then_malloc = params(&[("allocator", "zstd"), ("allocator", "malloc")]);
        assert_eq!(unserved(&zstd_then_malloc), None);
        assert_eq!(
            unserved(&params(&[("allocator", "malloc"), ("allocator", "zstd")])),
            Some("allocator=zstd".to_string())
        );
    }

    #[test]
    fn memory_malloc_allocator_serves_data() {
        let mut p = MemoryPlugin::new();
        p.config("size", "1M").unwrap();
        p.config("allocator", "malloc").unwrap();
        p.config_complete().unwrap();
        p.get_ready().unwrap();
        let h = p.open(&conn()).unwrap();
        h.pwrite(b"abc", 70000, Flags::NONE).unwrap();
        let mut b = [0u8; 5];
        h.pread(&mut b, 69999, Flags::NONE).unwrap();
        assert_eq!(&b, b"\0abc\0");
        h.trim(1, 70000, Flags::NONE).unwrap();
        h.pread(&mut b, 69999, Flags::NONE).unwrap();
        assert_eq!(&b, b"\0\0bc\0");
        let mut e = Extents::new(0, 1 << 20).unwrap();
        h.extents(1 << 20, 0, Flags::NONE, &mut e).unwrap();
        assert_eq!(
            (e.get(0).unwrap().length, e.get(0).unwrap().kind),
            (1 << 20, 0)
        );
    }

    #[test]
    fn memory_round_trip_shared_between_connections() {
        let p = ready("1M");
        let h1 = p.open(&conn()).unwrap();
        let h2 = p.open(&conn()).unwrap();
        assert_eq!(h1.get_size().unwrap(), 1 << 20);
        assert!(h1.can_write().unwrap() && h1.can_fast_zero().unwrap());
        assert_eq!(h1.can_fua().unwrap(), Support::Native);
        h1.pwrite(b"hello, world", 40000, Flags::NONE).unwrap();
        let mut b = [0u8; 12];
        h2.pread(&mut b, 40000, Flags::NONE).unwrap();
        assert_eq!(&b, b"hello, world");
        h2.zero(5, 40000, Flags(Flags::FAST_ZERO)).unwrap();
        h1.pread(&mut b, 40000, Flags::NONE).unwrap();
        assert_eq!(&b, b"\0\0\0\0\0, world");
    }

    #[test]
    fn memory_trim_frees_and_extents_report_holes() {
        let p = ready("1M");
        let h = p.open(&conn()).unwrap();
        h.pwrite(&[7u8; 100], 0, Flags::NONE).unwrap();
        h.pwrite(&[7u8; 100], 65536, Flags::NONE).unwrap();
        h.trim(100, 65536, Flags::NONE).unwrap();
        let mut e = Extents::new(0, 1 << 20).unwrap();
        h.extents(1 << 20, 0, Flags::NONE, &mut e).unwrap();
        let got: Vec<_> = e
            .as_slice()
            .iter()
            .map(|x| (x.offset, x.length, x.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 32768, 0),
                (32768, (1 << 20) - 32768, EXTENT_HOLE | EXTENT_ZERO)
            ]
        );
        match &p.storage {
            Some(Storage::Sparse(s)) => assert_eq!(s.allocated_pages(), 1),
            _ => panic!("not sparse"),
        }
        // REQ_ONE stops after the first run.
        let mut e = Extents::new(0, 1 << 20).unwrap();
        h.extents(1 << 20, 0, Flags(Flags::REQ_ONE), &mut e)
            .unwrap();
        assert_eq!(e.get(0).unwrap().length, 32768);
    }

    #[test]
    fn memory_concurrent_readers_and_writers() {
        let p = Arc::new(ready("64M"));
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let h = p.open(&conn()).unwrap();
                    let mut buf = vec![0u8; 4096];
                    // Each thread owns every 8th 4 KiB block.
                    for round in 0..3u8 {
                        for i in 0..512u64 {
                            let blk = i * 8 + t;
                            let fill = (t as u8).wrapping_mul(31).wrapping_add(round) | 1;
                            h.pwrite(&vec![fill; 4096], blk * 4096, Flags::NONE)
                                .unwrap();
                            h.pread(&mut buf, blk * 4096, Flags::NONE).unwrap();
                            assert!(buf.iter().all(|&x| x == fill));
                            if i % 7 == 0 {
                                h.zero(4096, blk * 4096, Flags::NONE).unwrap();
                                h.pread(&mut buf, blk * 4096, Flags::NONE).unwrap();
                                assert!(buf.iter().all(|&x| x == 0));
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    /// A rough throughput check: `cargo test --release -- --ignored
    /// memory_bench --nocapture`.
    #[test]
    #[ignore]
    fn memory_bench_4k_random() {
        let p = Arc::new(ready("1G"));
        let nthreads: u64 = std::env::var("BENCH_THREADS")
            .map(|v| v.parse().unwrap())
            .unwrap_or(2);
        {
            let h = p.open(&conn()).unwrap();
            let t0 = std::time::Instant::now();
            for off in (0..1u64 << 30).step_by(32768) {
                h.pwrite(&[1u8; 4096], off, Flags::NONE).unwrap();
            }
            eprintln!("prefill {:?}", t0.elapsed());
        }
        let start = std::time::Instant::now();
        let ops_per_thread = 500_000u64;
        let threads: Vec<_> = (0..nthreads)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let h = p.open(&conn()).unwrap();
                    let mut buf = vec![t as u8 + 1; 4096];
                    let blocks: u64 = std::env::var("BENCH_BLOCKS")
                        .map(|v| v.parse().unwrap())
                        .unwrap_or(1 << 18);
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                    for i in 0..ops_per_thread {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let off = (x % blocks) * 4096;
                        if i % 2 == 0 {
                            h.pwrite(&buf, off, Flags::NONE).unwrap();
                        } else {
                            h.pread(&mut buf, off, Flags::NONE).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!("{:.0} ops/s", (nthreads * ops_per_thread) as f64 / secs);
    }
}
