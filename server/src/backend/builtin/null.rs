//! The built-in `null` plugin: a disk of `size=` bytes (default 0) that
//! reads as zeroes and discards writes, as nbdkit 1.32's null plugin.

use crate::backend::extents::{EXTENT_HOLE, EXTENT_ZERO};
use crate::backend::{ConnInfo, Error, Extents, Flags, Handle, Plugin, Result, Support};

pub struct NullPlugin {
    size: u64,
}

impl NullPlugin {
    pub fn new() -> Self {
        NullPlugin { size: 0 }
    }
}

impl Default for NullPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for NullPlugin {
    /// Everything is zeroes, always.
    fn extents_exact(&self) -> bool {
        true
    }
    fn nonblocking(&self) -> bool {
        true
    }
    fn name(&self) -> &str {
        "null"
    }
    fn version(&self) -> Option<&str> {
        Some("1.32.5")
    }
    fn config_help(&self) -> Option<&str> {
        Some("size=<SIZE>             Size of the backing disk")
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
            "can_fast_zero",
            "can_fua",
            "can_multi_conn",
            "can_cache",
            "pread",
            "pwrite",
            "flush",
            "trim",
            "zero",
            "extents",
        ]
    }
    fn open(&self, _conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        Ok(Box::new(NullHandle { size: self.size }))
    }
}

pub struct NullHandle {
    size: u64,
}

impl Handle for NullHandle {
    fn get_size(&self) -> Result<u64> {
        Ok(self.size)
    }
    fn can_write(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_flush(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_trim(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_zero(&self) -> Result<Support> {
        Ok(Support::Native)
    }
    fn can_fast_zero(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_fua(&self) -> Result<Support> {
        Ok(Support::Native)
    }
    fn can_multi_conn(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_cache(&self) -> Result<Support> {
        Ok(Support::Native)
    }
    fn can_extents(&self) -> Result<bool> {
        Ok(true)
    }

    fn pread(&self, buf: &mut [u8], _offset: u64, _flags: Flags) -> Result<()> {
        buf.fill(0);
        Ok(())
    }
    fn pwrite(&self, _buf: &[u8], _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn flush(&self, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn trim(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn zero(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn cache(&self, _count: u64, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
    fn extents(
        &self,
        _count: u64,
        offset: u64,
        _flags: Flags,
        extents: &mut Extents,
    ) -> Result<()> {
        // All of the rest of the disk at once, as nbdkit's null plugin says.
        extents.add(offset, extents.end() - offset, EXTENT_HOLE | EXTENT_ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnInfo {
        ConnInfo::detached("", false)
    }

    #[test]
    fn null_config() {
        let mut p = NullPlugin::new();
        assert_eq!(p.open(&conn()).unwrap().get_size().unwrap(), 0);
        let e = p.config("foo", "1").unwrap_err();
        assert_eq!(
            (e.errno, e.client_message()),
            (libc::EINVAL, "unknown parameter 'foo'")
        );
        assert_eq!(
            p.config("size", "abc").unwrap_err().to_string(),
            "could not parse size string: abc"
        );
        p.config("size", "1M").unwrap();
        assert_eq!(p.open(&conn()).unwrap().get_size().unwrap(), 1 << 20);
    }

    #[test]
    fn null_reads_zeroes_and_discards_writes() {
        let mut p = NullPlugin::new();
        p.config("size", "1M").unwrap();
        let h = p.open(&conn()).unwrap();
        h.pwrite(&[1; 512], 0, Flags(Flags::FUA)).unwrap();
        let mut b = [9u8; 512];
        h.pread(&mut b, 0, Flags::NONE).unwrap();
        assert_eq!(b, [0u8; 512]);
        h.zero(512, 0, Flags(Flags::FAST_ZERO)).unwrap();
        let mut e = Extents::new(100, 1 << 20).unwrap();
        h.extents((1 << 20) - 100, 100, Flags::NONE, &mut e)
            .unwrap();
        assert_eq!(e.count(), 1);
        assert_eq!(e.get(0).unwrap().kind, EXTENT_HOLE | EXTENT_ZERO);
        assert_eq!(e.get(0).unwrap().length, (1 << 20) - 100);
    }
}
