//! The extents list a plugin fills for a block-status request.
//!
//! The contract (nbdkit-plugin(3), `nbdkit_add_extent`): extents arrive in
//! ascending, contiguous order; zero-length ones are ignored; those wholly
//! before the requested start are skipped and the first overlapping one is
//! clipped to begin at the start; the first kept extent must not begin after
//! the start; anything at or past the end is ignored.  Adjacent extents of
//! the same type are merged.  All arithmetic is 64-bit and checked.

use super::{Error, Flags, Result};

/// A layer asked for extents ([`full`], [`aligned`]): a connection's
/// [`Context`](super::Context).
pub trait Layer {
    fn name(&self) -> &str;
    fn get_size(&self) -> Result<u64>;
    fn extents(&self, count: u64, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()>;
}

/// `NBDKIT_EXTENT_HOLE`: the range reads as unallocated.
pub const EXTENT_HOLE: u32 = 1;
/// `NBDKIT_EXTENT_ZERO`: the range reads as zeroes.
pub const EXTENT_ZERO: u32 = 2;

/// nbdkit caps the list so a misbehaving plugin cannot exhaust memory.
pub const MAX_EXTENTS: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
    pub kind: u32,
}

#[derive(Debug, Clone)]
pub struct Extents {
    start: u64,
    end: u64,
    /// Where the next added extent must begin; `None` before the first add.
    next: Option<u64>,
    list: Vec<Extent>,
}

impl Extents {
    /// A list for the range `start..end`.  nbdkit refuses `start > end` and
    /// ends beyond `i64::MAX` with ERANGE.
    pub fn new(start: u64, end: u64) -> Result<Extents> {
        if start > end || end > i64::MAX as u64 {
            return Err(Error::new(
                libc::ERANGE,
                format!("nbdkit_extents_new: start ({start}) >= end ({end})"),
            ));
        }
        Ok(Extents {
            start,
            end,
            next: None,
            list: Vec::new(),
        })
    }

    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn end(&self) -> u64 {
        self.end
    }
    pub fn count(&self) -> usize {
        self.list.len()
    }
    pub fn get(&self, i: usize) -> Option<Extent> {
        self.list.get(i).copied()
    }
    pub fn as_slice(&self) -> &[Extent] {
        &self.list
    }

    pub fn add(&mut self, offset: u64, length: u64, kind: u32) -> Result<()> {
        if length == 0 {
            return Ok(());
        }
        if let Some(next) = self.next {
            if offset != next {
                return Err(Error::new(
                    libc::ERANGE,
                    "nbdkit_add_extent: extents must be added in ascending order and \
                     must be contiguous",
                ));
            }
        }
        // Past the end is clipped below: only a sum that wraps is an error
        // (filters such as extentlist describe "the rest" as 2^64-1 bytes).
        let Some(stop) = offset.checked_add(length) else {
            return Err(Error::new(
                libc::ERANGE,
                format!("nbdkit_add_extent: offset {offset} + length {length} overflows"),
            ));
        };
        self.next = Some(stop);

        // An empty list (start == end) keeps nothing, not even an extent
        // of length 0 (unit test `an_empty_range_keeps_nothing`).
        if stop <= self.start || offset >= self.end || self.start == self.end {
            return Ok(());
        }
        if self.list.is_empty() && offset > self.start {
            return Err(Error::new(
                libc::ERANGE,
                format!(
                    "nbdkit_add_extent: first extent must not be > start ({})",
                    self.start
                ),
            ));
        }
        let offset = offset.max(self.start);
        let length = stop.min(self.end) - offset;

        if let Some(last) = self.list.last_mut() {
            if last.kind == kind {
                last.length += length;
                return Ok(());
            }
        }
        if self.list.len() >= MAX_EXTENTS {
            // Silently truncating is what nbdkit does: the client still gets
            // a correct (if shorter) answer.
            return Ok(());
        }
        self.list.push(Extent {
            offset,
            length,
            kind,
        });
        Ok(())
    }
}

/// The extents of `from..end` (at least) from the layer `ctx`, in a list
/// that ends at `limit` (what the caller's own list covers, as nbdkit
/// hands the layer the caller's list).
fn fetch(ctx: &impl Layer, from: u64, end: u64, limit: u64, flags: Flags) -> Result<Vec<Extent>> {
    let mut list = Extents::new(from, limit.max(end))?;
    ctx.extents(end - from, from, flags, &mut list)?;
    if list.count() == 0 {
        return Err(Error::eio(format!(
            "{}: extents: no extents returned at offset {from}",
            ctx.name()
        )));
    }
    Ok(list.list)
}

/// A filter asking for the extents of nothing: its 32-bit sums wrapped
/// (CVE-2025-47712: the blocksize filter, where nbdkit 1.32.5 fails an
/// assertion).  The protocol never asks this.
fn nonzero(what: &str, count: u64, offset: u64) -> Result<()> {
    if count == 0 {
        return Err(Error::einval(format!(
            "{what}: invalid request: count=0 offset={offset}"
        )));
    }
    Ok(())
}

/// `nbdkit_extents_full`: a new list covering all of
/// `offset..offset+count`, asking the layer as many times as it takes
/// (without REQ_ONE, so each answer is as long as the layer likes).
pub fn full(ctx: &impl Layer, count: u64, offset: u64, flags: Flags) -> Result<Extents> {
    nonzero("nbdkit_extents_full", count, offset)?;
    let end = offset
        .checked_add(count)
        .ok_or_else(|| Error::einval("nbdkit_extents_full: range overflows"))?;
    let mut out = Extents::new(offset, end)?;
    let flags = flags.without(Flags::REQ_ONE);
    let mut pos = offset;
    while pos < end {
        for e in fetch(ctx, pos, end, end, flags)? {
            out.add(e.offset, e.length, e.kind)?;
            pos = e.offset + e.length;
        }
    }
    Ok(out)
}

/// `nbdkit_extents_aligned`, answering as nbdkit does: the layer's extents
/// for `offset..offset+count` (`offset` a multiple of `align`, a power of
/// 2; `count` too, unless it ends at the end of the disk), up to the first
/// one that does not end on a block boundary.  That one is cut back to its
/// last whole block, or, when it ends inside the first block, the first
/// block (or the whole of a shorter request) becomes one extent whose type
/// is what all its parts share (the intersection of their hole and zero
/// bits), asking the layer again if its first answer stopped short.
pub fn aligned(
    ctx: &impl Layer,
    count: u64,
    offset: u64,
    flags: Flags,
    align: u32,
    out: &mut Extents,
) -> Result<()> {
    nonzero("nbdkit_extents_aligned", count, offset)?;
    let align = u64::from(align);
    let tail_ok = || {
        ctx.get_size()
            .is_ok_and(|size| offset.checked_add(count) == Some(size))
    };
    if !align.is_power_of_two()
        || !offset.is_multiple_of(align)
        || !(count.is_multiple_of(align) || tail_ok())
    {
        return Err(Error::einval(format!(
            "nbdkit_extents_aligned: count {count} and offset {offset} must be multiples of {align}"
        )));
    }
    let end = offset
        .checked_add(count)
        .ok_or_else(|| Error::einval("nbdkit_extents_aligned: range overflows"))?;
    let list = fetch(ctx, offset, end, out.end(), flags)?;
    for (i, e) in list.iter().enumerate() {
        if e.length.is_multiple_of(align) {
            out.add(e.offset, e.length, e.kind)?;
            continue;
        }
        let e_end = e.offset + e.length;
        if e_end > offset + align {
            let whole = e.length / align * align;
            if whole > 0 {
                out.add(e.offset, whole, e.kind)?;
            }
            return Ok(());
        }
        // Only the first extent can end inside the first block: merge
        // what the block (or a shorter request) holds.
        let block_end = offset + align.min(count);
        let mut kind = e.kind;
        let mut reached = e_end;
        let mut rest: Vec<Extent> = list[i + 1..].to_vec();
        let mut at = 0;
        while reached < block_end {
            if at == rest.len() {
                let more = flags.without(Flags::REQ_ONE);
                rest = fetch(ctx, reached, block_end, block_end, more)?;
                at = 0;
            }
            kind &= rest[at].kind;
            reached = rest[at].offset + rest[at].length;
            at += 1;
        }
        out.add(offset, block_end - offset, kind)?;
        return Ok(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_and_merges() {
        let mut e = Extents::new(100, 300).unwrap();
        e.add(0, 50, 0).unwrap(); // wholly before: skipped
        e.add(50, 100, 3).unwrap(); // clipped to 100..150
        e.add(150, 0, 0).unwrap(); // ignored
        e.add(150, 50, 3).unwrap(); // merged
        e.add(200, 500, 0).unwrap(); // clipped to end
        e.add(700, 10, 1).unwrap(); // past end: ignored
        assert_eq!(
            e.as_slice(),
            &[
                Extent {
                    offset: 100,
                    length: 100,
                    kind: 3
                },
                Extent {
                    offset: 200,
                    length: 100,
                    kind: 0
                }
            ]
        );
    }

    #[test]
    fn rejects_gap_backwards_and_late_start() {
        let mut e = Extents::new(0, 100).unwrap();
        e.add(0, 10, 0).unwrap();
        assert_eq!(e.add(20, 10, 0).unwrap_err().errno, libc::ERANGE);
        let mut e = Extents::new(0, 100).unwrap();
        e.add(0, 10, 0).unwrap();
        assert_eq!(e.add(5, 10, 0).unwrap_err().errno, libc::ERANGE);
        let mut e = Extents::new(10, 100).unwrap();
        assert_eq!(e.add(20, 10, 0).unwrap_err().errno, libc::ERANGE);
    }

    #[test]
    fn an_empty_range_keeps_nothing() {
        // A list for start == end has room for no extent, not even one of
        // length 0 (fuzz/regressions/extents/empty-range-zero-length).
        let mut e = Extents::new(100, 100).unwrap();
        e.add(0, 200, 0).unwrap();
        assert_eq!(e.count(), 0);
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let mut e = Extents::new(0, 100).unwrap();
        assert!(e.add(u64::MAX - 5, 10, 0).is_err());
        let mut e = Extents::new(0, (1 << 33) + 7).unwrap();
        e.add(0, u32::MAX as u64, 0).unwrap();
        e.add(u32::MAX as u64, 1 << 33, 0).unwrap();
        assert_eq!(e.as_slice()[0].length, (1 << 33) + 7);
    }

    use crate::test_rng::Rng;

    const MAX: u64 = i64::MAX as u64;
    const G4: u64 = 1 << 32;

    fn length(r: &mut Rng) -> u64 {
        match r.below(8) {
            0 => 0,
            1 => 1 + r.below(16),
            2 => r.pick(&[G4 - 1, G4, G4 + 1, G4 - 512, 3 * G4 + 7]),
            3 => r.pick(&[1 << 62, (1 << 62) + 1, MAX / 3]),
            _ => 1 + r.below(1 << 20),
        }
    }

    /// The type of byte `x` according to the raw sequence the plugin added.
    fn raw_kind(raw: &[(u64, u64, u32)], x: u64) -> Option<u32> {
        raw.iter()
            .find(|(o, l, _)| *o <= x && x - *o < *l)
            .map(|e| e.2)
    }

    /// Random add sequences, some of them broken, against a model: the raw
    /// sequence itself, and the rules of the contract stated directly.
    #[test]
    fn property_random_sequences_against_model() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..20_000 {
            let start = match r.below(4) {
                0 => 0,
                1 => r.below(1 << 24),
                2 => r.pick(&[G4 - 1, G4, G4 + 1, MAX / 2]),
                _ => r.below(MAX / 2),
            };
            let end = start
                + match r.below(4) {
                    0 => r.below(1 << 20),
                    1 => r.pick(&[G4 - 1, G4, G4 + 1]),
                    2 => (MAX - start).min(r.pick(&[1 << 40, 1 << 62])),
                    _ => MAX - start,
                };
            let mut e = Extents::new(start, end).unwrap();
            // Begin at or before start, sometimes (a plugin bug) after it.
            let mut pos = match r.below(10) {
                0 => start.saturating_add(1 + r.below(4096)).min(MAX),
                1 => 0,
                _ => start - r.below(start.min(1 << 20) + 1),
            };
            let mut raw: Vec<(u64, u64, u32)> = Vec::new();
            let mut failed = None;
            for _ in 0..r.below(24) {
                let mut off = pos;
                // Occasionally break contiguity, in either direction.
                if !raw.is_empty() && r.below(25) == 0 {
                    off = if r.below(2) == 0 && pos > 0 {
                        pos - 1 - r.below(pos.min(100))
                    } else {
                        pos + 1 + r.below(100)
                    };
                }
                let len = length(&mut r);
                let kind = r.below(4) as u32;
                let res = e.add(off, len, kind);
                let stop = off.checked_add(len);
                // The model of what must fail.
                let overlaps = matches!(stop, Some(s) if s > start) && off < end;
                let want_err = len != 0
                    && (!raw.is_empty() && off != pos
                        || stop.is_none()
                        || (e_was_empty(&raw, start, end) && overlaps && off > start));
                assert_eq!(
                    res.is_err(),
                    want_err,
                    "case {case}: add({off}, {len}, {kind}) on {start}..{end} after {raw:?}"
                );
                if let Err(err) = res {
                    assert_eq!(err.errno, libc::ERANGE);
                    failed = Some(err);
                    break;
                }
                if len != 0 {
                    raw.push((off, len, kind));
                    pos = off + len;
                }
            }
            if failed.is_some() {
                continue;
            }
            check_against_raw(case, &e, &raw, &mut r);
        }
    }

    /// Whether no raw extent so far overlapped `start..end` (so the list
    /// is still empty and the next overlapping one must begin by start).
    fn e_was_empty(raw: &[(u64, u64, u32)], start: u64, end: u64) -> bool {
        !raw.iter().any(|(o, l, _)| o + l > start && *o < end)
    }

    fn check_against_raw(case: usize, e: &Extents, raw: &[(u64, u64, u32)], r: &mut Rng) {
        let (start, end) = (e.start(), e.end());
        let list = e.as_slice();
        let covered_to = raw.last().map_or(start, |(o, l, _)| (o + l).min(end));
        if list.is_empty() {
            assert!(
                covered_to <= start,
                "case {case}: nothing kept from {raw:?}"
            );
            return;
        }
        // Starts at start, contiguous, non-empty, merged, within range.
        assert_eq!(list[0].offset, start, "case {case}");
        let mut p = start;
        for (i, x) in list.iter().enumerate() {
            assert_eq!(x.offset, p, "case {case}: not contiguous: {list:?}");
            assert!(x.length > 0, "case {case}");
            assert!(x.kind <= 3, "case {case}");
            if i > 0 {
                assert_ne!(list[i - 1].kind, x.kind, "case {case}: not merged");
            }
            p = x.offset.checked_add(x.length).expect("no overflow");
        }
        assert_eq!(p, covered_to, "case {case}: coverage");
        // Each kept byte has the type the plugin gave it: probe boundaries
        // and random points.
        let mut points = vec![start, p - 1];
        for x in list {
            points.push(x.offset);
            points.push(x.offset + x.length - 1);
        }
        for _ in 0..16 {
            points.push(start + r.below(p - start));
        }
        for x in points {
            let got = list
                .iter()
                .find(|y| y.offset <= x && x - y.offset < y.length)
                .map(|y| y.kind);
            assert_eq!(got, raw_kind(raw, x), "case {case}: type of byte {x}");
        }
    }

    #[test]
    fn all_four_types_kept_and_zero_length_ignored() {
        let mut e = Extents::new(0, 40).unwrap();
        for (i, k) in [0, EXTENT_HOLE, EXTENT_ZERO, EXTENT_HOLE | EXTENT_ZERO]
            .into_iter()
            .enumerate()
        {
            e.add(i as u64 * 10, 10, k).unwrap();
            e.add(i as u64 * 10 + 10, 0, 0).unwrap();
        }
        let kinds: Vec<u32> = e.as_slice().iter().map(|x| x.kind).collect();
        assert_eq!(kinds, vec![0, 1, 2, 3]);
    }

    #[test]
    fn capped_like_nbdkit() {
        let mut e = Extents::new(0, MAX).unwrap();
        for i in 0..(MAX_EXTENTS as u64 + 10) {
            e.add(i, 1, (i & 1) as u32).unwrap();
        }
        assert_eq!(e.count(), MAX_EXTENTS);
        // Merging into the last one still works when full.
        let last = e.get(MAX_EXTENTS - 1).unwrap();
        assert_eq!(last.offset, MAX_EXTENTS as u64 - 1);
    }

    #[test]
    fn lengths_near_two_to_the_63() {
        let mut e = Extents::new(G4 - 1, MAX).unwrap();
        e.add(0, 1 << 62, 3).unwrap();
        e.add(1 << 62, (1 << 62) - 1, 3).unwrap();
        assert_eq!(e.as_slice().len(), 1);
        assert_eq!(e.as_slice()[0].length, MAX - (G4 - 1));
        // Past the end of the list: ignored, as C nbdkit does.
        assert!(e.add(MAX, 1, 0).is_ok());
        assert!(e.add(MAX + 1, u64::MAX, 0).is_err());
        assert!(Extents::new(0, MAX + 1).is_err());
        assert!(Extents::new(2, 1).is_err());
    }
}
