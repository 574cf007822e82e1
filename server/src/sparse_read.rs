//! Sparse reads: a read over ranges the backend's extents say read as
//! zeroes is answered with OFFSET_HOLE chunks for those ranges and
//! OFFSET_DATA chunks for the rest (as qemu-nbd does), so the zeroes never
//! cross the socket.  The client sees the same bytes.
//!
//! Only worth it when structured replies are negotiated, the client did not
//! set DF (which asks for one data chunk), the read is large, and asking
//! the backend for extents costs little next to reading and sending the
//! data: the policy here measures both and asks only while extents stay
//! cheap, and asks less often while they keep finding no zeroes (a dense
//! disk).  Only extents
//! flagged ZERO count: a hole without that flag has undefined contents
//! and is read.
//!
//! Answering from extents is only safe where they are exact: a plugin whose
//! extents are stale (computed once, not updated by writes) or whose reads
//! fail where its extents say zero would have its client see zeroes where
//! C nbdkit, which always calls `pread`, shows data or an error.  So by
//! default ([`SparseReads::Exact`]) only plugins that vouch for their
//! extents ([`crate::backend::Plugin::extents_exact`]: our built-ins, whose
//! extents and data are the same structure) are read sparsely;
//! `--sparse-reads=all` takes the risk for every plugin, and
//! `--no-sparse-reads` (`--sparse-reads=off`) turns it off.
//!
//! This module holds the setting, the per-connection policy and the plan
//! of a read (which ranges are zeroes); `dispatch` asks for the extents
//! and sends the chunks.

use crate::backend::extents::{Extents, EXTENT_ZERO};
use crate::backend::Stack;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Which plugins may have reads answered from their extents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseReads {
    /// Never (`--no-sparse-reads`, `--sparse-reads=off`).
    Off,
    /// Only plugins whose extents are exact (the default).
    Exact,
    /// Every plugin (`--sparse-reads=all`): a plugin with stale extents
    /// loses data, one whose reads fail in zero ranges hides the errors.
    All,
}

impl SparseReads {
    /// The `--sparse-reads=` value, if it is one.
    pub fn parse(value: &[u8]) -> Option<SparseReads> {
        Some(match value {
            b"off" => SparseReads::Off,
            b"exact" => SparseReads::Exact,
            b"all" => SparseReads::All,
            _ => return None,
        })
    }

    /// Whether reads over this stack are answered from its extents: never
    /// through filters unless every one of them passes reads and extents
    /// through untouched (see [`crate::backend::Filter::reads_pass_through`]:
    /// a log filter's lines, a stats filter's counts would show extents
    /// calls the client never made, and a filter that changes or fails
    /// reads must see every read).  By default only over a plugin whose
    /// extents are exact ([`crate::backend::Plugin::extents_exact`]): over
    /// any other, C nbdkit calls `pread` and the client sees what it
    /// returns, which stale extents would hide.
    pub fn applies_to(self, stack: &Stack) -> bool {
        let pass = stack.filters().iter().all(|f| f.reads_pass_through());
        match self {
            SparseReads::Off => false,
            SparseReads::Exact => pass && stack.plugin().extents_exact(),
            SparseReads::All => pass,
        }
    }
}

/// Reads smaller than this are always sent as data.
pub const SPARSE_READ_MIN: u64 = 64 * 1024;
/// Zero runs shorter than this are sent as data: a chunk header and one
/// more piece to send cost more than the zeroes they replace.
pub const MIN_HOLE: u64 = 4096;
/// Extents are asked while a call costs no more than reading the range
/// does, or than this: about what the smallest eligible read (64 KiB)
/// costs to push through a socket at both ends, which a hole saves even
/// when the backend reads from memory.
const CHEAP_NS: u64 = 20_000;
/// Each run of this many probes in a row that found no zeroes doubles the
/// stride between probes (one read in 2, 4, ... [`MAX_STRIDE`]): a dense
/// disk soon costs almost nothing, and a sparse region is still found
/// within a few hundred reads (a plugin's extents may also take a lock its
/// reads hold, so a wasted probe can cost a wait, not just the call).
const MISSES_PER_DOUBLING: u32 = 8;
const MAX_STRIDE_SHIFT: u32 = 8;
/// While extents look too dear, still measure them once every this many
/// eligible reads (the backend's costs may change).
const REPROBE_EVERY: u32 = 64;
/// Weight of the newest sample in the moving averages, as a shift.
const EWMA_SHIFT: u32 = 3;

/// Per-connection measurements deciding whether to look for zeroes.
/// Updated racily by the connection's workers: approximate is enough.
pub struct SparsePolicy {
    pub enabled: bool,
    /// Moving average of one extents call, in nanoseconds (0: unmeasured).
    extents_ns: AtomicU64,
    /// Moving average of reading 1 KiB with `pread`, in nanoseconds
    /// (0: unmeasured).
    read_ns_per_kib: AtomicU64,
    /// Eligible reads that found no zero run, in a row.
    misses: AtomicU32,
    /// Eligible reads seen, for strides and re-probes.
    seen: AtomicU32,
}

fn ewma(cell: &AtomicU64, sample: u64) {
    let old = cell.load(Ordering::Relaxed);
    let new = if old == 0 {
        sample.max(1)
    } else {
        (old - (old >> EWMA_SHIFT) + (sample >> EWMA_SHIFT)).max(1)
    };
    cell.store(new, Ordering::Relaxed);
}

impl SparsePolicy {
    pub fn new(enabled: bool) -> SparsePolicy {
        SparsePolicy {
            enabled,
            extents_ns: AtomicU64::new(0),
            read_ns_per_kib: AtomicU64::new(0),
            misses: AtomicU32::new(0),
            seen: AtomicU32::new(0),
        }
    }

    /// Whether a `pread` of `bytes` should be timed for [`record_read`].
    pub fn times_reads(&self, bytes: u64) -> bool {
        self.enabled && bytes >= SPARSE_READ_MIN
    }

    /// A `pread` of `bytes` took `took`.
    pub fn record_read(&self, bytes: u64, took: Duration) {
        if self.times_reads(bytes) {
            let per_kib = took.as_nanos() as u64 / (bytes / 1024).max(1);
            ewma(&self.read_ns_per_kib, per_kib);
        }
    }

    pub fn record_extents(&self, took: Duration, found_zeroes: bool) {
        ewma(&self.extents_ns, took.as_nanos() as u64);
        if found_zeroes {
            self.misses.store(0, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether to ask the backend for extents before a read of `bytes`.
    pub fn should_probe(&self, bytes: u64) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        let shift =
            (self.misses.load(Ordering::Relaxed) / MISSES_PER_DOUBLING).min(MAX_STRIDE_SHIFT);
        if !n.is_multiple_of(1 << shift) {
            return false;
        }
        let ext = self.extents_ns.load(Ordering::Relaxed);
        let per_kib = self.read_ns_per_kib.load(Ordering::Relaxed);
        if ext == 0 || per_kib == 0 {
            return true;
        }
        let read_cost = per_kib.saturating_mul(bytes / 1024);
        ext <= read_cost.max(CHEAP_NS) || n.is_multiple_of(REPROBE_EVERY)
    }
}

/// One piece of a read: `len` bytes at `offset`, zeroes or data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub len: u64,
    pub zero: bool,
}

/// Split `offset..offset+count` by the backend's extents (clipped to the
/// range, as [`Extents`] keeps them): zero runs of at least [`MIN_HOLE`]
/// become zero segments, everything else (short zero runs, holes not known
/// to read as zeroes, whatever the list does not cover) data.  Adjacent
/// segments of one kind are merged.  `None` when there is no zero segment.
pub fn plan(offset: u64, count: u64, extents: &Extents) -> Option<Vec<Segment>> {
    let end = offset + count;
    let mut segs: Vec<Segment> = Vec::new();
    let mut push = |offset: u64, len: u64, zero: bool| {
        if len == 0 {
            return;
        }
        match segs.last_mut() {
            Some(last) if last.zero == zero => last.len += len,
            _ => segs.push(Segment { offset, len, zero }),
        }
    };
    let mut pos = offset;
    for e in extents.as_slice() {
        if e.offset != pos || pos >= end {
            break;
        }
        let len = e.length.min(end - pos);
        push(pos, len, e.kind & EXTENT_ZERO != 0 && len >= MIN_HOLE);
        pos += len;
    }
    push(pos, end - pos, false);
    if segs.iter().any(|s| s.zero) {
        Some(segs)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::extents::EXTENT_HOLE;
    use crate::backend::{Context, Flags, Handle, Result};
    use crate::dispatch::{execute, ReplySink};
    use crate::protocol::consts::*;
    use crate::protocol::transmission::{validate, ExportCaps, Request};
    use crate::session::Session;
    use crate::test_rng::Rng;
    use std::cell::RefCell;

    /// A disk whose extents map is given: ZERO runs hold zeroes, a HOLE
    /// without ZERO holds garbage (it must be read, not assumed zero).
    struct Disk {
        data: Vec<u8>,
        map: Vec<(u64, u64, u32)>,
    }

    impl Handle for Disk {
        fn get_size(&self) -> Result<u64> {
            Ok(self.data.len() as u64)
        }
        fn can_extents(&self) -> Result<bool> {
            Ok(true)
        }
        fn pread(&self, buf: &mut [u8], offset: u64, _: Flags) -> Result<()> {
            let o = offset as usize;
            buf.copy_from_slice(&self.data[o..o + buf.len()]);
            Ok(())
        }
        fn extents(&self, count: u64, offset: u64, _: Flags, ex: &mut Extents) -> Result<()> {
            // Like many plugins, describe from the start of the extent that
            // holds `offset`, and sometimes stop short of the end.
            for &(o, l, k) in &self.map {
                if o + l > offset && o < offset + count {
                    ex.add(o, l, k)?;
                    if l > 300_000 {
                        break;
                    }
                }
            }
            Ok(())
        }
    }

    fn random_disk(r: &mut Rng) -> Disk {
        let size = 256 * 1024 + r.below(3 << 20);
        let mut data = vec![0u8; size as usize];
        let mut map = Vec::new();
        let mut pos = 0;
        while pos < size {
            let len = (1 + match r.below(3) {
                0 => r.below(512),
                1 => r.below(16 * 1024),
                _ => r.below(400 * 1024),
            })
            .min(size - pos);
            let kind =
                [0, EXTENT_HOLE, EXTENT_ZERO, EXTENT_HOLE | EXTENT_ZERO][r.below(4) as usize];
            if kind & EXTENT_ZERO == 0 {
                for b in &mut data[pos as usize..(pos + len) as usize] {
                    // Data runs hold some zero bytes too.
                    *b = if r.below(4) == 0 {
                        0
                    } else {
                        r.next() as u8 | 1
                    };
                }
            }
            map.push((pos, len, kind));
            pos += len;
        }
        Disk { data, map }
    }

    fn context(disk: Disk) -> Context {
        Context::new(std::sync::Arc::from("test"), Box::new(disk), false)
    }

    struct Capture(RefCell<Vec<u8>>);
    impl ReplySink for Capture {
        fn send(&self, parts: &[&[u8]]) {
            let mut v = self.0.borrow_mut();
            for p in parts {
                v.extend_from_slice(p);
            }
        }
    }

    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn be64(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// Reassemble a structured or extended read reply as a client does,
    /// checking every byte is covered exactly once.  Returns the bytes
    /// and the number of hole chunks.
    fn reassemble(wire: &[u8], handle: u64, offset: u64, count: u64) -> (Vec<u8>, usize) {
        let mut out = vec![0xa5u8; count as usize];
        let mut covered = vec![false; count as usize];
        let mut holes = 0;
        let mut at = 0;
        loop {
            let magic = be32(wire, at);
            let (flags, typ) = (be16(wire, at + 4), be16(wire, at + 6));
            assert_eq!(be64(wire, at + 8), handle);
            let (hlen, plen) = match magic {
                NBD_STRUCTURED_REPLY_MAGIC => (20, u64::from(be32(wire, at + 16))),
                NBD_EXTENDED_REPLY_MAGIC => {
                    assert_eq!(be64(wire, at + 16), offset, "extended header offset");
                    (32, be64(wire, at + 24))
                }
                m => panic!("bad reply magic {m:#x}"),
            };
            let p = &wire[at + hlen..at + hlen + plen as usize];
            let mut fill = |o: u64, bytes: Option<&[u8]>, len: u64| {
                assert!(
                    o >= offset && o + len <= offset + count,
                    "chunk outside the request"
                );
                for i in 0..len as usize {
                    let k = (o - offset) as usize + i;
                    assert!(!covered[k], "byte {k} sent twice");
                    covered[k] = true;
                    out[k] = bytes.map_or(0, |b| b[i]);
                }
            };
            match typ {
                NBD_REPLY_TYPE_OFFSET_DATA => fill(be64(p, 0), Some(&p[8..]), plen - 8),
                NBD_REPLY_TYPE_OFFSET_HOLE => {
                    assert_eq!(plen, 12);
                    holes += 1;
                    fill(be64(p, 0), None, u64::from(be32(p, 8)))
                }
                t => panic!("unexpected chunk type {t}"),
            }
            at += hlen + plen as usize;
            if flags & NBD_REPLY_FLAG_DONE != 0 {
                break;
            }
        }
        assert_eq!(at, wire.len(), "bytes after the final chunk");
        assert!(covered.iter().all(|c| *c), "bytes never sent");
        (out, holes)
    }

    #[test]
    fn property_hole_replies_reassemble_to_plain_reads() {
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        let mut total_holes = 0;
        for case in 0..300 {
            let disk = random_disk(&mut r);
            let size = disk.data.len() as u64;
            let data = disk.data.clone();
            let extended = r.below(2) == 0;
            let caps = ExportCaps {
                size,
                structured: true,
                extended,
                ..Default::default()
            };
            let s = Session::for_test(context(disk), caps, true);
            for _ in 0..4 {
                let count = SPARSE_READ_MIN + r.below((size - SPARSE_READ_MIN).min(1 << 20) + 1);
                let offset = r.below(size - count + 1);
                let df = r.below(5) == 0;
                let req = Request {
                    flags: if df { NBD_CMD_FLAG_DF } else { 0 },
                    cmd: NBD_CMD_READ,
                    handle: case,
                    offset,
                    count,
                    extended,
                };
                let sink = Capture(RefCell::new(Vec::new()));
                execute(&s, &validate(&req, &s.caps).unwrap(), &[], &sink);
                let wire = sink.0.into_inner();
                let (got, holes) = reassemble(&wire, case, offset, count);
                let want = &data[offset as usize..(offset + count) as usize];
                assert!(
                    got == want,
                    "case {case}: offset {offset} count {count}: bytes differ"
                );
                if df {
                    assert_eq!(holes, 0, "DF must give one data chunk");
                }
                total_holes += holes;
            }
        }
        // The property is only tested if holes were actually sent.
        assert!(total_holes > 100, "only {total_holes} hole chunks");
    }

    #[test]
    fn disabled_or_simple_sends_plain_data() {
        let mut r = Rng(7);
        let disk = random_disk(&mut r);
        let size = disk.data.len() as u64;
        let req = Request {
            flags: 0,
            cmd: NBD_CMD_READ,
            handle: 1,
            offset: 0,
            count: size.min(1 << 20),
            extended: false,
        };
        for (structured, enabled) in [(false, true), (true, false)] {
            let disk = Disk {
                data: disk.data.clone(),
                map: disk.map.clone(),
            };
            let caps = ExportCaps {
                size,
                structured,
                ..Default::default()
            };
            let s = Session::for_test(context(disk), caps, enabled);
            let sink = Capture(RefCell::new(Vec::new()));
            execute(&s, &validate(&req, &s.caps).unwrap(), &[], &sink);
            let head = if structured { 28 } else { 16 };
            assert_eq!(sink.0.borrow().len(), head + req.count as usize);
        }
    }

    #[test]
    fn dense_disks_are_probed_less_and_less() {
        let p = SparsePolicy::new(true);
        let mut probes = 0;
        for _ in 0..10_000 {
            if p.should_probe(SPARSE_READ_MIN) {
                probes += 1;
                p.record_extents(Duration::from_nanos(500), false);
            }
        }
        // 8 probes at each stride 1, 2, ... 128, then one read in 256.
        assert!((64..=100).contains(&probes), "{probes} probes");
        // A hit brings probing back to every read.
        p.record_extents(Duration::from_nanos(500), true);
        assert!((0..8).all(|_| p.should_probe(SPARSE_READ_MIN)));
    }

    #[test]
    fn plan_keeps_only_long_zero_runs() {
        let mut ex = Extents::new(1000, 101_000).unwrap();
        ex.add(0, 5000, 0).unwrap();
        ex.add(5000, 1000, EXTENT_HOLE | EXTENT_ZERO).unwrap(); // too short: data
        ex.add(6000, 50_000, EXTENT_ZERO).unwrap();
        ex.add(56_000, 10_000, EXTENT_HOLE).unwrap(); // not known to be zero
        let seg = |offset, len, zero| Segment { offset, len, zero };
        assert_eq!(
            plan(1000, 100_000, &ex),
            Some(vec![
                seg(1000, 5000, false),
                seg(6000, 50_000, true),
                seg(56_000, 45_000, false)
            ])
        );
        // Nothing worth a hole: no plan.
        let mut ex = Extents::new(0, 10_000).unwrap();
        ex.add(0, 10_000, EXTENT_HOLE).unwrap();
        assert_eq!(plan(0, 10_000, &ex), None);
        // All zero: one hole.
        let mut ex = Extents::new(0, 10_000).unwrap();
        ex.add(0, 1 << 20, EXTENT_HOLE | EXTENT_ZERO).unwrap();
        assert_eq!(plan(0, 10_000, &ex), Some(vec![seg(0, 10_000, true)]));
    }
}
