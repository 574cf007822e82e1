//! One layer's view of one connection (nbdkit's `struct context`): the
//! layer's [`Handle`] plus what the server keeps around every call into it.
//!
//! Every call into a layer, from the protocol (the outermost context) or
//! from the filter above (its `next`), goes through here, so that each
//! layer gets what nbdkit gives it:
//!
//! - the `get_size`, `can_*` and `is_rotational` answers are asked at most
//!   once per context and cached (the filter above sees the cached answer);
//! - `can_write` is false without asking when the layer was opened
//!   read-only, and `can_zero`/`can_trim`/`can_fua` are "none" without
//!   asking when it cannot write, `can_fast_zero` false when it cannot zero;
//! - a request a filter passes down is checked against what this layer
//!   advertised (in range, allowed flags, supported command) before the
//!   layer sees it, so a broken filter gets EINVAL instead of confusing the
//!   layers below;
//! - `-v` shows each call with its arguments, as nbdkit's debug lines.
//!
//! A context owns its layer's handle; a filter's handle owns the context
//! below it.  Dropping the outermost context closes the connection's stack
//! from the outside in.

use super::{BlockSize, Error, Extents, Flags, Handle, Piece, Result, Support};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Cached per-context answers (nbdkit caches the same ones).
#[derive(Default)]
struct Answers {
    size: OnceLock<u64>,
    write: OnceLock<bool>,
    flush: OnceLock<bool>,
    rotational: OnceLock<bool>,
    trim: OnceLock<bool>,
    zero: OnceLock<Support>,
    fast_zero: OnceLock<bool>,
    extents: OnceLock<bool>,
    fua: OnceLock<Support>,
    multi_conn: OnceLock<bool>,
    cache: OnceLock<Support>,
}

pub struct Context {
    /// The layer's name, for debug lines.
    name: std::sync::Arc<str>,
    handle: Box<dyn Handle>,
    readonly: bool,
    /// Between a successful `prepare` and `finalize`.
    connected: AtomicBool,
    /// `finalize` failed: the connection must end.
    failed: AtomicBool,
    answers: Answers,
}

/// Ask `f` once and keep the answer; errors are not kept.
fn cached<T: Copy>(cell: &OnceLock<T>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if let Some(v) = cell.get() {
        return Ok(*v);
    }
    let v = f()?;
    Ok(*cell.get_or_init(|| v))
}

fn refuse(name: &str, what: String) -> Error {
    let msg = format!("{name}: {what}");
    log::error!("{msg}");
    Error::new(libc::EINVAL, String::new())
}

impl Context {
    pub fn new(name: std::sync::Arc<str>, handle: Box<dyn Handle>, readonly: bool) -> Context {
        Context {
            name,
            handle,
            readonly,
            connected: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            answers: Answers::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Prepare the layers below (innermost first), then this one.
    pub fn prepare(&self) -> Result<()> {
        self.handle.prepare_below()?;
        log::debug!("{}: prepare readonly={}", self.name, self.readonly as i32);
        self.handle.prepare(self.readonly)?;
        self.connected.store(true, Ordering::Release);
        Ok(())
    }

    /// Finalize this layer, then the ones below (outermost first).  Only a
    /// prepared layer is finalized; every layer below is still visited.
    pub fn finalize(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(Error::new(libc::EIO, String::new()));
        }
        let mut r = Ok(());
        if self.connected.swap(false, Ordering::AcqRel) {
            log::debug!("{}: finalize", self.name);
            r = self.handle.finalize();
        }
        let below = self.handle.finalize_below();
        if r.is_err() || below.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        r.and(below)
    }

    pub fn get_size(&self) -> Result<u64> {
        cached(&self.answers.size, || {
            log::debug!("{}: get_size", self.name);
            self.handle.get_size()
        })
    }
    pub fn export_description(&self) -> Result<Option<String>> {
        log::debug!("{}: export_description", self.name);
        self.handle.export_description()
    }
    pub fn block_size(&self) -> Result<Option<BlockSize>> {
        log::debug!("{}: block_size", self.name);
        self.handle.block_size()
    }
    pub fn can_write(&self) -> Result<bool> {
        if self.readonly {
            return Ok(false);
        }
        cached(&self.answers.write, || {
            log::debug!("{}: can_write", self.name);
            self.handle.can_write()
        })
    }
    pub fn can_flush(&self) -> Result<bool> {
        cached(&self.answers.flush, || {
            log::debug!("{}: can_flush", self.name);
            self.handle.can_flush()
        })
    }
    pub fn is_rotational(&self) -> Result<bool> {
        cached(&self.answers.rotational, || {
            log::debug!("{}: is_rotational", self.name);
            self.handle.is_rotational()
        })
    }
    pub fn can_trim(&self) -> Result<bool> {
        if !self.can_write()? {
            return Ok(false);
        }
        cached(&self.answers.trim, || {
            log::debug!("{}: can_trim", self.name);
            self.handle.can_trim()
        })
    }
    pub fn can_zero(&self) -> Result<Support> {
        if !self.can_write()? {
            return Ok(Support::None);
        }
        cached(&self.answers.zero, || {
            log::debug!("{}: can_zero", self.name);
            self.handle.can_zero()
        })
    }
    pub fn can_fast_zero(&self) -> Result<bool> {
        if self.can_zero()? == Support::None {
            return Ok(false);
        }
        cached(&self.answers.fast_zero, || {
            log::debug!("{}: can_fast_zero", self.name);
            self.handle.can_fast_zero()
        })
    }
    pub fn can_extents(&self) -> Result<bool> {
        cached(&self.answers.extents, || {
            log::debug!("{}: can_extents", self.name);
            self.handle.can_extents()
        })
    }
    pub fn can_fua(&self) -> Result<Support> {
        if !self.can_write()? {
            return Ok(Support::None);
        }
        cached(&self.answers.fua, || {
            log::debug!("{}: can_fua", self.name);
            self.handle.can_fua()
        })
    }
    pub fn can_multi_conn(&self) -> Result<bool> {
        cached(&self.answers.multi_conn, || {
            log::debug!("{}: can_multi_conn", self.name);
            self.handle.can_multi_conn()
        })
    }
    pub fn can_cache(&self) -> Result<Support> {
        cached(&self.answers.cache, || {
            log::debug!("{}: can_cache", self.name);
            self.handle.can_cache()
        })
    }

    /// `offset..offset+count` lies within the export.
    fn check_range(&self, what: &str, count: u64, offset: u64) -> Result<()> {
        let size = self.get_size()?;
        match offset.checked_add(count) {
            Some(end) if end <= size => Ok(()),
            _ => Err(refuse(
                &self.name,
                format!(
                    "{what}: request out of range (count={count} offset={offset}, size {size})"
                ),
            )),
        }
    }

    fn check_flags(&self, what: &str, flags: Flags, allowed: u32) -> Result<()> {
        if flags.0 & !allowed != 0 {
            return Err(refuse(
                &self.name,
                format!("{what}: unexpected flags 0x{:x}", flags.0),
            ));
        }
        if flags.fua() && self.can_fua()? == Support::None {
            return Err(refuse(&self.name, format!("{what}: FUA not supported")));
        }
        Ok(())
    }

    pub fn pread(&self, buf: &mut [u8], offset: u64, flags: Flags) -> Result<()> {
        log::debug!("{}: pread count={} offset={offset}", self.name, buf.len());
        self.check_range("pread", buf.len() as u64, offset)?;
        self.check_flags("pread", flags, 0)?;
        self.handle.pread(buf, offset, flags)
    }

    /// A read answered from the layer's own memory, when it offers that.
    /// Only the protocol calls this, on a range it validated.
    pub fn read_shared(&self, count: u32, offset: u64) -> Option<Result<Vec<Piece>>> {
        let r = self.handle.read_shared(count, offset);
        if r.is_some() {
            log::debug!("{}: pread count={count} offset={offset}", self.name);
        }
        r
    }

    pub fn pwrite(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        log::debug!(
            "{}: pwrite count={} offset={offset} fua={}",
            self.name,
            buf.len(),
            flags.fua() as i32
        );
        if !self.can_write()? {
            return Err(refuse(&self.name, "pwrite: not writable".into()));
        }
        self.check_range("pwrite", buf.len() as u64, offset)?;
        self.check_flags("pwrite", flags, Flags::FUA)?;
        self.handle.pwrite(buf, offset, flags)
    }

    pub fn flush(&self, flags: Flags) -> Result<()> {
        log::debug!("{}: flush", self.name);
        if !self.can_flush()? {
            return Err(refuse(&self.name, "flush: not supported".into()));
        }
        self.check_flags("flush", flags, 0)?;
        self.handle.flush(flags)
    }

    pub fn trim(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        log::debug!(
            "{}: trim count={count} offset={offset} fua={}",
            self.name,
            flags.fua() as i32
        );
        if !self.can_trim()? {
            return Err(refuse(&self.name, "trim: not supported".into()));
        }
        self.check_range("trim", count, offset)?;
        self.check_flags("trim", flags, Flags::FUA)?;
        self.handle.trim(count, offset, flags)
    }

    pub fn zero(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        log::debug!(
            "{}: zero count={count} offset={offset} may_trim={} fua={} fast={}",
            self.name,
            flags.may_trim() as i32,
            flags.fua() as i32,
            flags.fast_zero() as i32
        );
        if self.can_zero()? == Support::None {
            return Err(refuse(&self.name, "zero: not supported".into()));
        }
        self.check_range("zero", count, offset)?;
        self.check_flags(
            "zero",
            flags,
            Flags::MAY_TRIM | Flags::FUA | Flags::FAST_ZERO,
        )?;
        if flags.fast_zero() && !self.can_fast_zero()? {
            return Err(refuse(&self.name, "zero: fast zero not supported".into()));
        }
        self.handle.zero(count, offset, flags)
    }

    pub fn cache(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        log::debug!("{}: cache count={count} offset={offset}", self.name);
        if self.can_cache()? == Support::None {
            return Err(refuse(&self.name, "cache: not supported".into()));
        }
        self.check_range("cache", count, offset)?;
        self.check_flags("cache", flags, 0)?;
        self.handle.cache(count, offset, flags)
    }

    /// Fill `extents` for `offset..offset+count`.  A layer that cannot
    /// report extents describes the range as allocated data, as nbdkit
    /// does, without being called.
    pub fn extents(
        &self,
        count: u64,
        offset: u64,
        flags: Flags,
        extents: &mut Extents,
    ) -> Result<()> {
        log::debug!(
            "{}: extents count={count} offset={offset} req_one={}",
            self.name,
            flags.req_one() as i32
        );
        self.check_range("extents", count, offset)?;
        self.check_flags("extents", flags, Flags::REQ_ONE)?;
        if !self.can_extents()? {
            return extents.add(offset, count, 0);
        }
        self.handle.extents(count, offset, flags, extents)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        log::debug!("{}: close", self.name);
        // The handle (and, for a filter, the contexts below it) closes as
        // the field drops, after this line.
    }
}
