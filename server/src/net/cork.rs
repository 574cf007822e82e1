//! A connection's cork: replies of the requests a thread answers in one
//! go, gathered so that they leave in one write.
//!
//! A read's data is written by the plugin straight into the cork rather
//! than into a buffer of its own and then copied in: the copy costs as
//! much as a 4 KiB read's share of the reply's trip through the kernel.
//! So the bytes past what the cork holds stay initialised between
//! batches (`bytes` never shrinks below what was once written), and a
//! read's room is taken from there without zeroing it each time.

/// A cork holding this much is sent at once.
pub const CORK_MAX: usize = 256 * 1024;

#[derive(Default)]
pub struct CorkBuf {
    /// Initialised bytes; the first `used` are replies waiting to go.
    bytes: Vec<u8>,
    used: usize,
}

impl CorkBuf {
    /// The replies waiting to go.
    pub fn pending(&self) -> &[u8] {
        &self.bytes[..self.used]
    }

    pub fn is_full(&self) -> bool {
        self.used >= CORK_MAX
    }

    pub fn push(&mut self, part: &[u8]) {
        self.room(part.len()).copy_from_slice(part);
    }

    /// `n` more bytes at the end of what waits to go, for the caller to
    /// write.  Bytes left from earlier replies are there until it does.
    pub fn room(&mut self, n: usize) -> &mut [u8] {
        let start = self.used;
        let end = start + n;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.used = end;
        &mut self.bytes[start..end]
    }

    /// Take back what was added since `pending().len()` was `len`.
    pub fn truncate(&mut self, len: usize) {
        self.used = self.used.min(len);
    }

    /// Everything was sent.  A cork that grew well past its usual size
    /// (a burst of large reads) gives its memory back.
    pub fn clear(&mut self) {
        self.used = 0;
        if self.bytes.len() > 2 * CORK_MAX {
            self.bytes = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_room_keep_their_order() {
        let mut c = CorkBuf::default();
        c.push(b"head");
        c.room(3).copy_from_slice(b"abc");
        c.push(b"!");
        assert_eq!(c.pending(), b"headabc!");
    }

    #[test]
    fn truncate_takes_back_a_failed_read() {
        let mut c = CorkBuf::default();
        c.push(b"one");
        let mark = c.pending().len();
        c.push(b"HEAD");
        c.room(4096);
        c.truncate(mark);
        assert_eq!(c.pending(), b"one");
        // Truncating never lengthens.
        c.truncate(100);
        assert_eq!(c.pending(), b"one");
    }

    #[test]
    fn room_after_clear_reuses_old_bytes_without_zeroing() {
        let mut c = CorkBuf::default();
        c.push(b"xyz");
        c.clear();
        assert!(c.pending().is_empty());
        // What the plugin does not write is what the cork held before,
        // as nbdkit's per-thread read buffer holds earlier reads.
        assert_eq!(c.room(3), b"xyz");
    }

    #[test]
    fn full_at_cork_max_and_shrinks_after_a_burst() {
        let mut c = CorkBuf::default();
        c.room(CORK_MAX - 1);
        assert!(!c.is_full());
        c.push(b"x");
        assert!(c.is_full());
        c.room(2 * CORK_MAX);
        c.clear();
        assert_eq!(c.bytes.capacity(), 0);
    }
}
