//! A sparse, concurrently accessible byte array made of fixed-size pages,
//! the storage behind the `memory` plugin.
//!
//! Pages of [`PAGE_SIZE`] bytes are allocated the first time they are
//! written and freed when a trim or zero leaves them entirely zero, so a disk
//! far larger than RAM costs only what has been written.
//!
//! Concurrency: the page map is split into [`SHARDS`] independently locked
//! shards, chosen by the low bits of the page index, so requests touching
//! different pages almost never contend.  Reads take a shard's lock shared
//! and copy straight into the caller's buffer (no allocation), or hand out
//! references to the pages themselves ([`SparseArray::read_shared`]), so a
//! large read is sent from the pages with no copy; a write to a page that
//! is being sent copies it first.  Writes take a shard's lock exclusively.
//! Nothing on the read or write path takes a global lock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::backend::extents::{EXTENT_HOLE, EXTENT_ZERO};
use crate::backend::{Error, Extents, Piece, Result};

/// Allocation unit.  nbdkit's sparse allocator also works in 32 KiB pages,
/// which is what its extents answers are granular to.
pub const PAGE_SIZE: u64 = 32768;
const PAGE: usize = PAGE_SIZE as usize;

/// Number of independently locked shards (a power of two).
pub const SHARDS: usize = 256;

/// Shared so a read reply can be sent from the page after the lock is let
/// go; writers copy a page that is still being sent.
type Page = Arc<Box<[u8]>>;

/// Mixes a page index into a hash.  The low bits of keys in one shard are all
/// equal, so an identity hash would put them all in one bucket group.
#[derive(Default)]
struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        // splitmix64's finaliser.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type PageMap = HashMap<u64, Page, BuildHasherDefault<PageHasher>>;

/// One shard, aligned so neighbouring locks do not share a cache line.
#[repr(align(128))]
struct Shard {
    map: RwLock<PageMap>,
}

pub struct SparseArray {
    shards: Box<[Shard]>,
    /// Pages currently allocated, over all shards.
    allocated: AtomicU64,
}

/// The page holding byte `offset`, the offset inside it, and how many of
/// `remaining` bytes fall in that page.
fn split(offset: u64, remaining: u64) -> (u64, usize, usize) {
    let page = offset / PAGE_SIZE;
    let in_page = (offset % PAGE_SIZE) as usize;
    let n = remaining.min((PAGE - in_page) as u64) as usize;
    (page, in_page, n)
}

/// True when every byte of `buf` is zero.
pub fn is_zero(buf: &[u8]) -> bool {
    let mut chunks = buf.chunks_exact(16);
    for c in &mut chunks {
        let w = u128::from_ne_bytes(c.try_into().expect("16-byte chunk"));
        if w != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| b == 0)
}

fn new_page() -> Result<Box<[u8]>> {
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(PAGE)
        .map_err(|_| Error::new(libc::ENOMEM, "memory: allocating a page: out of memory"))?;
    v.resize(PAGE, 0);
    Ok(v.into_boxed_slice())
}

/// The page's bytes to modify, copying it first if a reply still holds it.
fn writable(p: &mut Page) -> Result<&mut [u8]> {
    if Arc::get_mut(p).is_none() {
        let mut copy = new_page()?;
        copy.copy_from_slice(p);
        *p = Arc::new(copy);
    }
    Ok(Arc::get_mut(p).expect("just made unique"))
}

impl Default for SparseArray {
    fn default() -> Self {
        Self::new()
    }
}

impl SparseArray {
    pub fn new() -> SparseArray {
        let shards = (0..SHARDS)
            .map(|_| Shard {
                map: RwLock::new(PageMap::default()),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        SparseArray {
            shards,
            allocated: AtomicU64::new(0),
        }
    }

    fn shard(&self, page: u64) -> &Shard {
        &self.shards[(page as usize) & (SHARDS - 1)]
    }

    fn read_lock(&self, page: u64) -> RwLockReadGuard<'_, PageMap> {
        // A poisoned lock only means another thread panicked mid-copy; the
        // map itself is still consistent, so carry on.
        self.shard(page)
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write_lock(&self, page: u64) -> RwLockWriteGuard<'_, PageMap> {
        self.shard(page)
            .map
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Number of pages currently allocated.
    pub fn allocated_pages(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Copy `buf.len()` bytes at `offset` into `buf`; unallocated pages read
    /// as zeroes.
    pub fn read(&self, buf: &mut [u8], offset: u64) {
        let mut done = 0usize;
        while done < buf.len() {
            let (page, in_page, n) = split(offset + done as u64, (buf.len() - done) as u64);
            let dst = &mut buf[done..done + n];
            {
                let map = self.read_lock(page);
                match map.get(&page) {
                    Some(p) => dst.copy_from_slice(&p[in_page..in_page + n]),
                    None => dst.fill(0),
                }
            }
            done += n;
        }
    }

    /// The `count` bytes at `offset` as references to the pages holding
    /// them (and runs of zeroes for unallocated pages), appended to `out`.
    pub fn read_shared(&self, count: u64, offset: u64, out: &mut Vec<Piece>) {
        let mut done = 0u64;
        while done < count {
            let (page, in_page, n) = split(offset + done, count - done);
            let piece = match self.read_lock(page).get(&page) {
                Some(p) => Piece::Shared(p.clone(), in_page..in_page + n),
                None => Piece::Zeroes(n),
            };
            match (out.last_mut(), piece) {
                (Some(Piece::Zeroes(z)), Piece::Zeroes(n)) => *z += n,
                (_, piece) => out.push(piece),
            }
            done += n as u64;
        }
    }

    /// Store `buf` at `offset`, allocating pages as needed.  (nbdkit's sparse
    /// allocator allocates on any write, even of zeroes; such pages then
    /// report as allocated zeroes in extents, and so do ours.)
    pub fn write(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let (page, in_page, n) = split(offset + done as u64, (buf.len() - done) as u64);
            let src = &buf[done..done + n];
            let mut map = self.write_lock(page);
            if let Some(p) = map.get_mut(&page) {
                writable(p)?[in_page..in_page + n].copy_from_slice(src);
            } else {
                // Allocate outside the lock, then recheck: another writer may
                // have created the page meanwhile.
                drop(map);
                let mut fresh = new_page()?;
                fresh[in_page..in_page + n].copy_from_slice(src);
                let mut map = self.write_lock(page);
                match map.get_mut(&page) {
                    Some(p) => writable(p)?[in_page..in_page + n].copy_from_slice(src),
                    None => {
                        map.insert(page, Arc::new(fresh));
                        self.allocated.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            done += n;
        }
        Ok(())
    }

    /// Zero `count` bytes at `offset`.  Whole pages are freed; partly covered
    /// pages are cleared and freed if nothing nonzero is left in them.
    pub fn zero(&self, count: u64, offset: u64) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        let end = offset + count;
        let mut pos = offset;
        // Head: the partly covered first page.
        if !pos.is_multiple_of(PAGE_SIZE) {
            let stop = end.min((pos / PAGE_SIZE + 1) * PAGE_SIZE);
            self.zero_partial(pos, stop - pos)?;
            pos = stop;
        }
        // Whole pages.
        let full_end = end / PAGE_SIZE * PAGE_SIZE;
        if pos < full_end {
            self.free_pages(pos / PAGE_SIZE, full_end / PAGE_SIZE);
            pos = full_end;
        }
        // Tail: the partly covered last page.
        if pos < end {
            self.zero_partial(pos, end - pos)?;
        }
        Ok(())
    }

    /// Zero a range within a single page.
    fn zero_partial(&self, offset: u64, count: u64) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        let (page, in_page, n) = split(offset, count);
        debug_assert_eq!(n as u64, count);
        let mut map = self.write_lock(page);
        let now_empty = match map.get_mut(&page) {
            Some(p) => {
                let bytes = writable(p)?;
                bytes[in_page..in_page + n].fill(0);
                is_zero(bytes)
            }
            None => false,
        };
        let freed = if now_empty { map.remove(&page) } else { None };
        drop(map);
        if freed.is_some() {
            self.allocated.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Free pages `first..last` (page indices).
    fn free_pages(&self, first: u64, last: u64) {
        let n = last - first;
        if n <= self.allocated_pages().saturating_mul(4) + SHARDS as u64 {
            for page in first..last {
                let freed = self.write_lock(page).remove(&page);
                if freed.is_some() {
                    self.allocated.fetch_sub(1, Ordering::Relaxed);
                }
            }
        } else {
            // A huge range over a sparsely filled array: walk what exists.
            for shard in self.shards.iter() {
                let mut map = shard.map.write().unwrap_or_else(|e| e.into_inner());
                let before = map.len();
                map.retain(|&k, _| k < first || k >= last);
                let removed = before - map.len();
                drop(map);
                self.allocated.fetch_sub(removed as u64, Ordering::Relaxed);
            }
        }
    }

    /// The extent type of one page: hole+zero if unallocated, zero if
    /// allocated but all zero, else data.
    fn page_kind(&self, page: u64) -> u32 {
        let map = self.read_lock(page);
        match map.get(&page) {
            None => EXTENT_HOLE | EXTENT_ZERO,
            Some(p) if is_zero(p) => EXTENT_ZERO,
            Some(_) => 0,
        }
    }

    /// Describe `offset..offset+count` page by page.  With `req_one` it stops
    /// after the first run of one type.
    pub fn extents(&self, count: u64, offset: u64, req_one: bool, out: &mut Extents) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        let end = offset + count;
        let first = offset / PAGE_SIZE;
        let last = end.div_ceil(PAGE_SIZE); // exclusive
        let mut first_kind = None;
        let mut emit = |out: &mut Extents, page: u64, npages: u64, kind: u32| -> Result<bool> {
            let start = page * PAGE_SIZE;
            out.add(start, npages * PAGE_SIZE, kind)?;
            match first_kind {
                None => first_kind = Some(kind),
                Some(k) if k != kind => return Ok(req_one),
                _ => {}
            }
            Ok(false)
        };
        let n = last - first;
        if n <= self.allocated_pages().saturating_mul(4) + SHARDS as u64 {
            for page in first..last {
                if emit(out, page, 1, self.page_kind(page))? {
                    break;
                }
            }
        } else {
            let mut pages = Vec::new();
            for shard in self.shards.iter() {
                let map = shard.map.read().unwrap_or_else(|e| e.into_inner());
                pages.extend(map.keys().copied().filter(|&k| k >= first && k < last));
            }
            pages.sort_unstable();
            let mut pos = first;
            for page in pages {
                if page > pos && emit(out, pos, page - pos, EXTENT_HOLE | EXTENT_ZERO)? {
                    return Ok(());
                }
                if emit(out, page, 1, self.page_kind(page))? {
                    return Ok(());
                }
                pos = page + 1;
            }
            if last > pos {
                emit(out, pos, last - pos, EXTENT_HOLE | EXTENT_ZERO)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl SparseArray {
        fn zero_ok(&self, count: u64, offset: u64) {
            self.zero(count, offset).unwrap();
        }
    }

    fn kinds(a: &SparseArray, count: u64, offset: u64) -> Vec<(u64, u64, u32)> {
        let mut e = Extents::new(offset, offset + count).unwrap();
        a.extents(count, offset, false, &mut e).unwrap();
        e.as_slice()
            .iter()
            .map(|x| (x.offset, x.length, x.kind))
            .collect()
    }

    fn gather(pieces: &[Piece]) -> Vec<u8> {
        crate::backend::piece_slices(pieces).concat()
    }

    #[test]
    fn shared_read_is_a_snapshot() {
        let a = SparseArray::new();
        let data: Vec<u8> = (0..3 * PAGE).map(|i| (i % 251) as u8 + 1).collect();
        // Pages 0 and 2 written, page 1 a hole.
        a.write(&data[..PAGE], 0).unwrap();
        a.write(&data[2 * PAGE..], 2 * PAGE_SIZE).unwrap();
        let mut pieces = Vec::new();
        a.read_shared(2 * PAGE_SIZE + 100, 100, &mut pieces);
        let mut want = data[100..PAGE].to_vec();
        want.extend(std::iter::repeat_n(0, PAGE));
        want.extend_from_slice(&data[2 * PAGE..2 * PAGE + 200]);
        assert_eq!(gather(&pieces), want);
        // Writes and zeroes after the read change the array, not the reply.
        a.write(&[0xee; 64], 200).unwrap();
        a.zero(50, 2 * PAGE_SIZE + 10).unwrap();
        assert_eq!(gather(&pieces), want);
        let mut now = vec![0; 64];
        a.read(&mut now, 200);
        assert_eq!(now, vec![0xee; 64]);
        // Once the reply is gone, writes go to the page in place again.
        drop(pieces);
        a.write(&[0xdd; 8], 300).unwrap();
        let mut b = vec![0; 8];
        a.read(&mut b, 300);
        assert_eq!(b, vec![0xdd; 8]);
        assert_eq!(a.allocated_pages(), 2);
    }

    #[test]
    fn sparse_read_write_across_pages() {
        let a = SparseArray::new();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8 + 1).collect();
        a.write(&data, PAGE_SIZE - 7).unwrap();
        let mut back = vec![0u8; data.len()];
        a.read(&mut back, PAGE_SIZE - 7);
        assert_eq!(back, data);
        let mut z = vec![1u8; 10];
        a.read(&mut z, 0);
        assert_eq!(z, vec![0; 10]);
        assert_eq!(a.allocated_pages(), 5);
    }

    #[test]
    fn sparse_zero_frees_pages() {
        let a = SparseArray::new();
        a.write(&[1; 100], 0).unwrap();
        a.write(&[1; 100], PAGE_SIZE).unwrap();
        a.write(&[1; 100], 2 * PAGE_SIZE + 1000).unwrap();
        // Partial zero leaving data: page stays.
        a.zero_ok(50, 0);
        assert_eq!(a.allocated_pages(), 3);
        // Partial zero clearing all data: page goes.
        a.zero_ok(100, PAGE_SIZE);
        assert_eq!(a.allocated_pages(), 2);
        // Range covering whole pages.
        a.zero_ok(3 * PAGE_SIZE, 0);
        assert_eq!(a.allocated_pages(), 0);
        let mut b = [9u8; 200];
        a.read(&mut b, 0);
        assert!(is_zero(&b));
    }

    #[test]
    fn sparse_zero_edges() {
        let a = SparseArray::new();
        let ones = vec![1u8; 4 * PAGE];
        a.write(&ones, 0).unwrap();
        // Zero from the middle of page 0 to the middle of page 2.
        a.zero_ok(2 * PAGE_SIZE, PAGE_SIZE / 2);
        let mut b = vec![0u8; 4 * PAGE];
        a.read(&mut b, 0);
        assert!(b[..PAGE / 2].iter().all(|&x| x == 1));
        assert!(b[PAGE / 2..PAGE * 5 / 2].iter().all(|&x| x == 0));
        assert!(b[PAGE * 5 / 2..].iter().all(|&x| x == 1));
        assert_eq!(a.allocated_pages(), 3);
        // Zero within one page.
        a.zero_ok(10, 3 * PAGE_SIZE + 5);
        a.read(&mut b, 0);
        assert_eq!(
            &b[3 * PAGE + 4..3 * PAGE + 16],
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn sparse_extents_match_nbdkit() {
        let a = SparseArray::new();
        a.write(b"x", 5000).unwrap();
        a.write(&[0; 4096], 4 * PAGE_SIZE).unwrap();
        a.write(b"y", 6 * PAGE_SIZE + 7).unwrap();
        let h = EXTENT_HOLE | EXTENT_ZERO;
        let want = vec![
            (0, PAGE_SIZE, 0),
            (PAGE_SIZE, 3 * PAGE_SIZE, h),
            (4 * PAGE_SIZE, PAGE_SIZE, EXTENT_ZERO),
            (5 * PAGE_SIZE, PAGE_SIZE, h),
            (6 * PAGE_SIZE, PAGE_SIZE, 0),
            (7 * PAGE_SIZE, 3 * PAGE_SIZE, h),
        ];
        assert_eq!(kinds(&a, 10 * PAGE_SIZE, 0), want);
        // The same through the scan path (huge range, few pages).
        let big = 1u64 << 50;
        let mut got = kinds(&a, big, 0);
        assert_eq!(got.pop().unwrap(), (7 * PAGE_SIZE, big - 7 * PAGE_SIZE, h));
        assert_eq!(got, want[..5]);
        // Unaligned range.
        assert_eq!(kinds(&a, 10, 100), vec![(100, 10, 0)]);
    }

    #[test]
    fn sparse_huge_zero_uses_scan() {
        let a = SparseArray::new();
        let big = 1u64 << 60;
        a.write(b"a", 0).unwrap();
        a.write(b"b", big - 1).unwrap();
        a.write(b"c", big / 2).unwrap();
        a.zero_ok(1, big - 2);
        assert_eq!(a.allocated_pages(), 3);
        a.zero_ok(1, big / 2);
        assert_eq!(a.allocated_pages(), 2);
        a.zero_ok(big - PAGE_SIZE - 5, 2);
        assert_eq!(a.allocated_pages(), 2);
        let mut b = [0u8; 1];
        a.read(&mut b, big - 1);
        assert_eq!(b, *b"b");
        a.zero_ok(big, 0);
        assert_eq!(a.allocated_pages(), 0);
    }
}
