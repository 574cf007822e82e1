//! A connection's cork: replies of the requests a thread answers in one
//! go (the loop, or a worker driving the connection as a batch), gathered
//! so that they leave in one write when it has parsed all it can.
//!
//! A read's data is written by the plugin straight into the cork rather
//! than into a buffer of its own and then copied in: the copy costs as
//! much as a 4 KiB read's share of the reply's trip through the kernel.
//! So the bytes past what the cork holds stay initialised between
//! batches (`bytes` never shrinks below what was once written), and a
//! read's room is taken from there without zeroing it each time.

use super::shared::Shared;
use crate::backend::Error;
use crate::dispatch::ReplySink;
use std::cell::RefCell;

/// A cork holding this much is sent at once.
pub const CORK_MAX: usize = 256 * 1024;

/// The replies gathered so far, in order, for the thread driving the
/// connection.
#[derive(Default)]
pub struct Cork {
    buf: RefCell<CorkBuf>,
}

impl Cork {
    /// Where a request's reply goes to be gathered here.
    pub fn sink<'a>(&'a self, shared: &'a Shared) -> CorkSink<'a> {
        CorkSink { cork: self, shared }
    }

    /// Send what is gathered.
    pub fn flush(&self, shared: &Shared) {
        let mut buf = self.buf.borrow_mut();
        if !buf.pending().is_empty() {
            shared.send(&[buf.pending()]);
            buf.clear();
        }
    }

    /// Bytes gathered and not sent yet.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.buf.borrow().pending().len()
    }
}

/// A [`Cork`] as the destination of one connection's replies.
pub struct CorkSink<'a> {
    cork: &'a Cork,
    shared: &'a Shared,
}

impl ReplySink for CorkSink<'_> {
    fn send(&self, parts: &[&[u8]]) {
        if self.shared.dropped_by_plugin() {
            return;
        }
        let full = {
            let mut buf = self.cork.buf.borrow_mut();
            for p in parts {
                buf.push(p);
            }
            buf.is_full()
        };
        if full {
            self.cork.flush(self.shared);
        }
    }

    fn send_filled(
        &self,
        head: &[u8],
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let full = {
            let mut buf = self.cork.buf.borrow_mut();
            let mark = buf.pending().len();
            buf.push(head);
            let res = fill(buf.room(len));
            // A failed read sends its error reply instead; a client the
            // plugin dropped gets nothing more.
            if res.is_err() || self.shared.dropped_by_plugin() {
                buf.truncate(mark);
                return res;
            }
            buf.is_full()
        };
        if full {
            self.cork.flush(self.shared);
        }
        Ok(())
    }
}

/// The bytes of a [`Cork`].
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
    use super::super::testing;
    use super::*;
    use std::io::Read;

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

    #[test]
    fn replies_wait_in_the_cork_until_flushed_or_full() {
        let (srv, _rx) = testing::server();
        let (sh, mut client) = testing::shared(&srv);
        client.set_nonblocking(true).unwrap();
        let cork = Cork::default();
        let sink = cork.sink(&sh);
        sink.send(&[b"ab", b"cd"]);
        sink.send(&[b"ef"]);
        assert_eq!(cork.held(), 6);
        let mut buf = vec![0u8; 2 * CORK_MAX];
        assert!(client.read(&mut buf).is_err(), "nothing sent yet");
        cork.flush(&sh);
        assert_eq!(cork.held(), 0);
        client.set_nonblocking(false).unwrap();
        let mut six = [0u8; 6];
        client.read_exact(&mut six).unwrap();
        assert_eq!(&six, b"abcdef");
        // A cork reaching its limit is sent at once (more than the socket
        // holds: read meanwhile).
        let reader = std::thread::spawn(move || {
            client.read_exact(&mut buf[..CORK_MAX]).unwrap();
            assert!(buf[..CORK_MAX].iter().all(|&b| b == 7));
            client
        });
        let big = vec![7u8; CORK_MAX];
        sink.send(&[&big]);
        assert_eq!(cork.held(), 0);
        let mut client = reader.join().unwrap();
        // Flushing an empty cork sends nothing.
        cork.flush(&sh);
        client.set_nonblocking(true).unwrap();
        assert!(client.read(&mut [0u8; 8]).is_err());
    }
}
