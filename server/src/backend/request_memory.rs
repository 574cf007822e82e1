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
