//! The built-in `pattern` plugin: a read-only disk of `size=` bytes
//! (default 0) in which each 8-byte aligned word holds its own offset,
//! big-endian, as nbdkit 1.32's pattern plugin.

use crate::backend::{ConnInfo, Error, Flags, Handle, Plugin, Result, Support};

pub struct PatternPlugin {
    size: u64,
}

impl PatternPlugin {
    pub fn new() -> Self {
        PatternPlugin { size: 0 }
    }
}

impl Default for PatternPlugin {
    fn default() -> Self {
        Self::new()
    }
}

/// Fill `buf` with the pattern bytes found at `offset`.
pub fn fill(buf: &mut [u8], offset: u64) {
    let mut pos = offset;
    let mut rest = buf;
    // Head, up to the next 8-byte boundary.
    let skip = (pos % 8) as usize;
    if skip != 0 {
        let word = (pos - skip as u64).to_be_bytes();
        let n = (8 - skip).min(rest.len());
        rest[..n].copy_from_slice(&word[skip..skip + n]);
        rest = &mut rest[n..];
        pos += n as u64;
    }
    // Whole words.
    let mut words = rest.chunks_exact_mut(8);
    for w in &mut words {
        w.copy_from_slice(&pos.to_be_bytes());
        pos += 8;
    }
    // Tail.
    let tail = words.into_remainder();
    let n = tail.len();
    tail.copy_from_slice(&pos.to_be_bytes()[..n]);
}

impl Plugin for PatternPlugin {
    fn nonblocking(&self) -> bool {
        true
    }
    fn name(&self) -> &str {
        "pattern"
    }
    fn version(&self) -> Option<&str> {
        Some("1.32.5")
    }
    fn config_help(&self) -> Option<&str> {
        Some("size=<SIZE>  (required) Size of the backing disk")
    }
    fn magic_config_key(&self) -> Option<&str> {
        Some("size")
    }
    fn config(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "size" => {
                self.size = crate::parse::size(value.as_bytes())?;
                Ok(())
            }
            _ => Err(Error::einval(format!("unknown parameter '{key}'"))),
        }
    }
    fn dump_has(&self) -> Vec<&'static str> {
        vec![
            "config",
            "config_help",
            "open",
            "get_size",
            "can_multi_conn",
            "can_cache",
            "pread",
        ]
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Ok(Box::new(PatternHandle { size: self.size }))
    }
}

pub struct PatternHandle {
    size: u64,
}

impl Handle for PatternHandle {
    fn get_size(&self) -> Result<u64> {
        Ok(self.size)
    }
    fn can_multi_conn(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_cache(&self) -> Result<Support> {
        // The data is computed: caching is a successful no-op.
        Ok(Support::Native)
    }
    fn pread(&self, buf: &mut [u8], offset: u64, _flags: Flags) -> Result<()> {
        fill(buf, offset);
        Ok(())
    }
    fn cache(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnInfo {
        ConnInfo::detached("", false)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn read(offset: u64, len: usize) -> String {
        let mut p = PatternPlugin::new();
        p.config("size", "1M").unwrap();
        let h = p.open(&conn()).unwrap();
        let mut b = vec![0xaau8; len];
        h.pread(&mut b, offset, Flags::NONE).unwrap();
        hex(&b)
    }

    #[test]
    fn pattern_bytes_as_nbdkit() {
        // Compared with nbdkit 1.32.5's pattern plugin through nbdsh.
        assert_eq!(read(0, 20), "0000000000000000000000000000000800000000");
        assert_eq!(read(3, 13), "00000000000000000000000008");
        assert_eq!(read(1048570, 5), "0000000fff");
        assert_eq!(read(9, 3), "000000");
        assert_eq!(read(13, 2), "0000");
        assert_eq!(read(14, 2), "0008");
        assert_eq!(read(0x123456789, 0), "");
        let mut b = [0u8; 8];
        fill(&mut b, 0x0102_0304_0506_0708);
        assert_eq!(hex(&b), "0102030405060708");
        fill(&mut b[..5], 0x0102_0304_0506_070b);
        assert_eq!(hex(&b[..5]), "0405060708");
    }

    #[test]
    fn pattern_odd_offsets_agree_with_bytewise() {
        let mut whole = vec![0u8; 4096];
        fill(&mut whole, 0);
        for off in 0..40u64 {
            for len in 0..30usize {
                let mut b = vec![0u8; len];
                fill(&mut b, off);
                assert_eq!(
                    &b[..],
                    &whole[off as usize..off as usize + len],
                    "{off} {len}"
                );
            }
        }
    }

    #[test]
    fn pattern_is_read_only_and_config() {
        let mut p = PatternPlugin::new();
        let e = p.config("foo", "1").unwrap_err();
        assert_eq!(
            (e.errno, e.client_message()),
            (libc::EINVAL, "unknown parameter 'foo'")
        );
        assert_eq!(p.open(&conn()).unwrap().get_size().unwrap(), 0);
        p.config("size", "1G").unwrap();
        let h = p.open(&conn()).unwrap();
        assert!(!h.can_write().unwrap());
        assert!(!h.can_extents().unwrap());
        assert_eq!(
            h.pwrite(b"x", 0, Flags::NONE).unwrap_err().errno,
            libc::EPERM
        );
    }
}
