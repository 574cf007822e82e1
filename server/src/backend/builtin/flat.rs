//! A flat byte array holding the whole disk, allocated up front: the
//! storage behind the `memory` plugin's `allocator=malloc`.
//!
//! As nbdkit's malloc allocator: the disk's size is allocated (and zeroed)
//! when the plugin gets ready, so a disk larger than memory fails then;
//! with `mlock=true` the array is also locked into RAM.  Nothing is ever
//! freed, so extents report everything as data.  One lock: reads share it,
//! writes take it alone, so every request sees the disk at one instant.

use std::sync::RwLock;

use crate::backend::{Error, Extents, Result};

pub struct FlatArray {
    bytes: RwLock<Box<[u8]>>,
}

/// nbdkit's words when the array cannot be had.
fn out_of_memory() -> Error {
    Error::new(
        libc::ENOMEM,
        format!(
            "realloc: {}",
            crate::sys::strerror(&std::io::Error::from_raw_os_error(libc::ENOMEM))
        ),
    )
}

impl FlatArray {
    /// `size` zeroed bytes, locked into RAM if `mlock`.
    pub fn new(size: u64, mlock: bool) -> Result<FlatArray> {
        let len = usize::try_from(size).map_err(|_| out_of_memory())?;
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(len).map_err(|_| out_of_memory())?;
        v.resize(len, 0);
        if mlock {
            crate::sys::mlock(&v).map_err(|e| {
                Error::new(
                    e.raw_os_error().unwrap_or(libc::ENOMEM),
                    format!("allocator=malloc: mlock: {}", crate::sys::strerror(&e)),
                )
            })?;
        }
        Ok(FlatArray {
            bytes: RwLock::new(v.into_boxed_slice()),
        })
    }

    fn range(offset: u64, len: u64) -> std::ops::Range<usize> {
        // The dispatch checked offset + len <= size, which fits in usize.
        offset as usize..(offset + len) as usize
    }

    pub fn read(&self, buf: &mut [u8], offset: u64) {
        let b = self.bytes.read().unwrap_or_else(|e| e.into_inner());
        buf.copy_from_slice(&b[Self::range(offset, buf.len() as u64)]);
    }

    pub fn write(&self, buf: &[u8], offset: u64) {
        let mut b = self.bytes.write().unwrap_or_else(|e| e.into_inner());
        b[Self::range(offset, buf.len() as u64)].copy_from_slice(buf);
    }

    pub fn zero(&self, count: u64, offset: u64) {
        let mut b = self.bytes.write().unwrap_or_else(|e| e.into_inner());
        b[Self::range(offset, count)].fill(0);
    }

    /// Everything is allocated: one data extent over the request.
    pub fn extents(&self, count: u64, offset: u64, out: &mut Extents) -> Result<()> {
        out.add(offset, count, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_round_trip() {
        let a = FlatArray::new(1 << 20, false).unwrap();
        a.write(b"hello", 1000);
        let mut b = [0u8; 7];
        a.read(&mut b, 999);
        assert_eq!(&b, b"\0hello\0");
        a.zero(2, 1001);
        a.read(&mut b, 999);
        assert_eq!(&b, b"\0h\0\0lo\0");
        let mut e = Extents::new(0, 1 << 20).unwrap();
        a.extents(4096, 0, &mut e).unwrap();
        assert_eq!(e.get(0).unwrap().kind, 0);
    }

    #[test]
    fn flat_too_large_fails_as_nbdkit() {
        let e = FlatArray::new(1 << 62, false).err().unwrap();
        assert_eq!(e.to_string(), "realloc: Cannot allocate memory");
    }
}
