//! The built-in `memory` plugin: a sparse RAM disk of `size=` bytes, shared
//! by all connections and discarded when the server exits.
//!
//! Behaves on the wire as nbdkit 1.32's memory plugin with its default
//! `allocator=sparse`: 32 KiB pages allocated on first write, freed when a
//! trim or zero leaves them all zero; extents report unallocated pages as
//! hole+zero, allocated all-zero pages as zero and the rest as data.

use std::io::Write;
use std::sync::Arc;

use super::sparse::SparseArray;
use crate::backend::{
    ConnInfo, Error, Extents, Flags, Handle, Piece, Plugin, Result, Support, ThreadModel,
};

pub struct MemoryPlugin {
    size: Option<u64>,
    /// Shared by all connections.  Created up front (it is only a few
    /// empty shard maps) so `open` cannot find it missing.
    storage: Arc<SparseArray>,
}

impl MemoryPlugin {
    pub fn new() -> Self {
        MemoryPlugin {
            size: None,
            storage: Arc::new(SparseArray::new()),
        }
    }
}

impl Default for MemoryPlugin {
    fn default() -> Self {
        Self::new()
    }
}

/// Check an `allocator=` value.  Only `sparse` is implemented; nbdkit's
/// `malloc` and `zstd` allocators are refused by name.
fn check_allocator(value: &str) -> Result<()> {
    let (name, params) = match value.split_once(',') {
        Some((n, p)) => (n, Some(p)),
        None => (value, None),
    };
    match name {
        "sparse" if params.is_some() => Err(Error::einval(
            "allocator=sparse does not take extra parameters",
        )),
        "sparse" => Ok(()),
        "malloc" | "zstd" => Err(Error::einval(format!(
            "allocator={name} is not supported by this nbdkit (only allocator=sparse is)"
        ))),
        _ => Err(Error::einval(format!("unknown allocator \"{value}\""))),
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
    fn check_debug_flag(&self, f: &crate::backend::registry::DebugFlag) {
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
                self.size = Some(crate::parse::size(value.as_bytes()).map_err(Error::einval)?);
                Ok(())
            }
            "allocator" => check_allocator(value),
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
        log::debug!("allocator: sparse");
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
    fn dump_plugin(&self, _out: &mut dyn Write) -> std::io::Result<()> {
        // nbdkit's prints `mlock=yes` and `zstd=yes`; we support neither.
        Ok(())
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Ok(Box::new(MemoryHandle {
            size: self.size.unwrap_or(0),
            storage: self.storage.clone(),
        }))
    }
}

pub struct MemoryHandle {
    size: u64,
    storage: Arc<SparseArray>,
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
        self.storage.read(buf, offset);
        Ok(())
    }
    fn pwrite(&self, buf: &[u8], offset: u64, _flags: Flags) -> Result<()> {
        // FUA needs nothing: data is "on stable storage" as soon as copied.
        self.storage.write(buf, offset)
    }
    fn flush(&self, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn trim(&self, count: u64, offset: u64, _flags: Flags) -> Result<()> {
        self.storage.zero(count, offset)
    }
    fn zero(&self, count: u64, offset: u64, _flags: Flags) -> Result<()> {
        // Freeing pages is both zeroing and fast, so MAY_TRIM and FAST_ZERO
        // need no special handling.
        self.storage.zero(count, offset)
    }
    fn read_shared(&self, count: u32, offset: u64) -> Option<Result<Vec<Piece>>> {
        let mut pieces = Vec::new();
        self.storage
            .read_shared(u64::from(count), offset, &mut pieces);
        Some(Ok(pieces))
    }
    fn cache(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn extents(&self, count: u64, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        self.storage
            .extents(count, offset, flags.req_one(), extents)
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
            "could not parse size string (abc)"
        );
        assert_eq!(
            p.config("size", "8E").unwrap_err().to_string(),
            "overflow computing size (8E)"
        );
        assert_eq!(
            p.config_complete().unwrap_err().to_string(),
            "you must specify size=<SIZE> on the command line"
        );
        assert_eq!(
            p.config("allocator", "foo").unwrap_err().to_string(),
            "unknown allocator \"foo\""
        );
        assert!(p
            .config("allocator", "malloc")
            .unwrap_err()
            .to_string()
            .contains("malloc"));
        assert!(p.config("allocator", "sparse,x=1").is_err());
        p.config("allocator", "sparse").unwrap();
        p.config("size", "1M").unwrap();
        p.config("size", "7E").unwrap();
        p.config_complete().unwrap();
        assert_eq!(p.magic_config_key(), Some("size"));
        assert_eq!(p.version(), Some("1.32.5"));
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
        assert_eq!(p.storage.allocated_pages(), 1);
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
