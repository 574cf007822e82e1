//! `backend`'s pure files, and a scripted layer for `extents`.

#[path = "../../../server/src/backend/extents.rs"]
pub mod extents;
#[path = "../../../server/src/backend/flags.rs"]
pub mod flags;

pub use crate::error::{Error, Result};
pub use extents::Extents;
pub use flags::Flags;

/// A layer whose extents come from the fuzzer: each call replays the
/// script from where the last call stopped, starting near the offset
/// asked for (sometimes before it, sometimes after: contract breaks).
pub struct Context {
    pub size: u64,
    /// (shift, length, kind): the first extent of a call starts at
    /// `offset - shift` (wrapping: may start after it).
    pub script: Vec<(u64, u64, u32)>,
    pub next: std::cell::Cell<usize>,
    pub calls: std::cell::Cell<usize>,
}

impl extents::Layer for Context {
    fn get_size(&self) -> Result<u64> {
        Ok(self.size)
    }
    fn name(&self) -> &str {
        "fuzz"
    }
    fn extents(&self, count: u64, offset: u64, _f: Flags, ex: &mut Extents) -> Result<()> {
        // Bound the work a script can ask for.
        self.calls.set(self.calls.get() + 1);
        if self.calls.get() > 500 || self.script.is_empty() {
            return Err(Error::eio("script exhausted"));
        }
        let mut i = self.next.get();
        let (shift, _, _) = self.script[i % self.script.len()];
        let mut pos = offset.wrapping_sub(shift);
        for _ in 0..self.script.len().min(64) {
            let (_, len, kind) = self.script[i % self.script.len()];
            i += 1;
            ex.add(pos, len, kind)?;
            pos = match pos.checked_add(len) {
                Some(p) => p,
                None => break,
            };
            if pos >= offset.saturating_add(count) {
                break;
            }
        }
        self.next.set(i);
        Ok(())
    }
}
