//! Replies to requests run where the connection is driven (the loop, or a
//! worker driving it as a batch), gathered and sent in one write when the
//! driver has parsed all it can: one write for a batch of small replies.

use super::shared::Shared;
use crate::dispatch::ReplySink;
use std::cell::RefCell;

/// A cork holding this much is sent at once.
const CORK_MAX: usize = 256 * 1024;

/// The replies gathered so far, in order.
#[derive(Default)]
pub struct Cork {
    buf: RefCell<Vec<u8>>,
}

impl Cork {
    /// Where a request's reply goes to be gathered here.
    pub fn sink<'a>(&'a self, shared: &'a Shared) -> CorkSink<'a> {
        CorkSink { cork: self, shared }
    }

    /// Send what is gathered.
    pub fn flush(&self, shared: &Shared) {
        let mut buf = self.buf.borrow_mut();
        if !buf.is_empty() {
            shared.send(&[&buf]);
            buf.clear();
            if buf.capacity() > 2 * CORK_MAX {
                *buf = Vec::new();
            }
        }
    }

    /// Bytes gathered and not sent yet.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.buf.borrow().len()
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
                buf.extend_from_slice(p);
            }
            buf.len() >= CORK_MAX
        };
        if full {
            self.cork.flush(self.shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use std::io::Read;

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
