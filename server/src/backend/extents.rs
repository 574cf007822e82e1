//! The extents list a plugin fills for a block-status request.
//!
//! The contract (nbdkit-plugin(3), `nbdkit_add_extent`): extents arrive in
//! ascending, contiguous order; zero-length ones are ignored; those wholly
//! before the requested start are skipped and the first overlapping one is
//! clipped to begin at the start; the first kept extent must not begin after
//! the start; anything at or past the end is ignored.  Adjacent extents of
//! the same type are merged.  All arithmetic is 64-bit and checked.

use super::{Error, Result};

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
        let Some(stop) = offset.checked_add(length).filter(|s| *s <= i64::MAX as u64) else {
            return Err(Error::new(
                libc::ERANGE,
                format!("nbdkit_add_extent: offset {offset} + length {length} overflows"),
            ));
        };
        self.next = Some(stop);

        if stop <= self.start || offset >= self.end {
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
    fn overflow_is_an_error_not_a_wrap() {
        let mut e = Extents::new(0, 100).unwrap();
        assert!(e.add(u64::MAX - 5, 10, 0).is_err());
        let mut e = Extents::new(0, (1 << 33) + 7).unwrap();
        e.add(0, u32::MAX as u64, 0).unwrap();
        e.add(u32::MAX as u64, 1 << 33, 0).unwrap();
        assert_eq!(e.as_slice()[0].length, (1 << 33) + 7);
    }
}
