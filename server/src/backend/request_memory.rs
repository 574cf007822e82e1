//! Memory a request takes beyond its own data buffers (cache emulated by
//! reading, block-status descriptors and replies), counted against the
//! server's memory budget (`--memory-limit`, `crate::budget`).  The server
//! installs its budget as the [`Gate`]; a request whose memory the gate
//! refuses fails with ENOMEM, as a read the budget cannot cover does.
//! Without a gate (unit tests) everything is granted.

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// Where memory is asked for and given back.
pub trait Gate: Send + Sync {
    /// Take `bytes` if the limit allows it (never waits).
    fn take(&self, bytes: u64) -> bool;
    fn give(&self, bytes: u64);
}

static GATE: OnceLock<std::sync::Arc<dyn Gate>> = OnceLock::new();

/// Count what requests take from now on against `gate` (once, at start).
pub fn install(gate: std::sync::Arc<dyn Gate>) {
    let _ = GATE.set(gate);
}

/// `bytes` held against the budget until dropped.
#[must_use]
#[derive(Debug)]
pub struct Held {
    bytes: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let (Some(g), true) = (GATE.get(), self.bytes > 0) {
            g.give(self.bytes);
        }
    }
}

/// Hold `bytes` for `what`, or fail with ENOMEM.
pub fn hold(bytes: u64, what: &str) -> Result<Held> {
    match GATE.get() {
        Some(g) if bytes > 0 && !g.take(bytes) => Err(Error::new(
            libc::ENOMEM,
            format!("{what}: cannot allocate {bytes} bytes: over the memory limit"),
        )),
        Some(_) => Ok(Held { bytes }),
        None => Ok(Held { bytes: 0 }),
    }
}

/// A zeroed buffer held against the budget; ENOMEM if the budget or the
/// system cannot give it (allocation on the request path must not abort
/// the server).
pub struct Buffer {
    data: Vec<u8>,
    _held: Held,
}

pub fn zeroed(len: usize, what: &str) -> Result<Buffer> {
    let held = hold(len as u64, what)?;
    let mut data = Vec::new();
    data.try_reserve_exact(len)
        .map_err(|_| Error::new(libc::ENOMEM, format!("{what}: cannot allocate {len} bytes")))?;
    data.resize(len, 0);
    Ok(Buffer { data, _held: held })
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Sizes no other code asks for, so that the other tests of this
    /// process (which go through the same process-wide gate once it is
    /// installed) neither see nor disturb what this one counts.
    const GRANTED: u64 = 777_777;
    const REFUSED: u64 = 999_999;
    /// Granted by the gate, too large for the allocator.
    const HUGE: u64 = 1 << 62;

    /// Grants everything but `REFUSED`; logs what it sees of the sizes
    /// above (and of 0, which the gate must never be asked for).
    #[derive(Default)]
    struct Ledger(Mutex<Vec<(&'static str, u64)>>);

    impl Ledger {
        fn seen(&self) -> Vec<(&'static str, u64)> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl Gate for Ledger {
        fn take(&self, bytes: u64) -> bool {
            if [0, GRANTED, REFUSED, HUGE].contains(&bytes) {
                self.0.lock().unwrap().push(("take", bytes));
            }
            bytes != REFUSED
        }
        fn give(&self, bytes: u64) {
            if [0, GRANTED, REFUSED, HUGE].contains(&bytes) {
                self.0.lock().unwrap().push(("give", bytes));
            }
        }
    }

    #[test]
    fn memory_is_held_until_dropped_and_refused_with_enomem() {
        let ledger = Arc::new(Ledger::default());
        install(ledger.clone());
        assert!(
            std::ptr::addr_eq(Arc::as_ptr(GATE.get().unwrap()), Arc::as_ptr(&ledger)),
            "no other gate in unit tests"
        );

        let held = hold(GRANTED, "test").unwrap();
        assert_eq!(ledger.seen(), [("take", GRANTED)]);
        drop(held);
        assert_eq!(ledger.seen(), [("give", GRANTED)]);

        let e = hold(REFUSED, "block status").unwrap_err();
        assert_eq!(e.errno, libc::ENOMEM);
        assert!(
            e.to_string()
                .contains("block status: cannot allocate 999999 bytes: over the memory limit"),
            "{e}"
        );
        // Nothing taken, nothing given back.
        assert_eq!(ledger.seen(), [("take", REFUSED)]);

        drop(hold(0, "nothing").unwrap());
        assert_eq!(ledger.seen(), []);

        let mut buf = zeroed(GRANTED as usize, "cache").unwrap();
        assert_eq!(buf.len(), GRANTED as usize);
        assert!(buf.iter().all(|&b| b == 0));
        buf[1] = 7;
        assert_eq!(buf[1], 7);
        assert_eq!(ledger.seen(), [("take", GRANTED)]);
        drop(buf);
        assert_eq!(ledger.seen(), [("give", GRANTED)]);

        assert_eq!(
            zeroed(REFUSED as usize, "cache").err().unwrap().errno,
            libc::ENOMEM
        );
        assert_eq!(ledger.seen(), [("take", REFUSED)]);

        // The budget allows it, the system does not: ENOMEM rather than an
        // abort, and the budget gets its share back.
        let e = zeroed(HUGE as usize, "cache").err().unwrap();
        assert_eq!(e.errno, libc::ENOMEM);
        assert!(e.to_string().contains("cache: cannot allocate"), "{e}");
        assert_eq!(ledger.seen(), [("take", HUGE), ("give", HUGE)]);
    }
}
