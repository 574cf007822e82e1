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

/// A `-v` line for a connection set-up call of a layer (nbdkit's
/// "controlpath"; `-D nbdkit.backend.controlpath=0` hides them).
macro_rules! controlpath {
    ($($arg:tt)*) => {
        if log::log_enabled!(log::Level::Debug) && $crate::backend::context::debug_controlpath() {
            log::debug!($($arg)*)
        }
    };
}
/// A `-v` line for a data call of a layer (nbdkit's "datapath").
macro_rules! datapath {
    ($($arg:tt)*) => {
        if log::log_enabled!(log::Level::Debug) && $crate::backend::context::debug_datapath() {
            log::debug!($($arg)*)
        }
    };
}
pub(crate) use controlpath;

/// Whether `-v` shows the layers' connection set-up calls and data calls
/// (nbdkit's `-D nbdkit.backend.controlpath=0` and `datapath=0` hide them);
/// set once at start-up by [`set_debug_paths`].
static DEBUG_CONTROLPATH: AtomicBool = AtomicBool::new(true);
static DEBUG_DATAPATH: AtomicBool = AtomicBool::new(true);

/// Show (or hide) the `-v` lines of connection set-up calls and of data
/// calls.
pub fn set_debug_paths(controlpath: bool, datapath: bool) {
    DEBUG_CONTROLPATH.store(controlpath, Ordering::Relaxed);
    DEBUG_DATAPATH.store(datapath, Ordering::Relaxed);
}

pub fn debug_controlpath() -> bool {
    DEBUG_CONTROLPATH.load(Ordering::Relaxed)
}

pub fn debug_datapath() -> bool {
    DEBUG_DATAPATH.load(Ordering::Relaxed)
}

/// Where emulated zeroing writes from: nbdkit's maximum request size of
/// zeroes (mapped from the kernel's zero page, costing no memory), so the
/// layer gets the same writes as under nbdkit.
static ZERO_BUF: std::sync::OnceLock<Option<&'static [u8]>> = std::sync::OnceLock::new();
const ZERO_CHUNK: usize = crate::protocol::consts::MAX_REQUEST_SIZE as usize;
/// Largest read an emulated cache request makes at once: nbdkit's maximum
/// request size, so the layer sees the same reads as under nbdkit.
const CACHE_CHUNK: u64 = crate::protocol::consts::MAX_REQUEST_SIZE as u64;

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
    block_size: OnceLock<Option<BlockSize>>,
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
    Error::reported(libc::EINVAL, None).in_layer(name)
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

    /// Say which layer and callback a failure from below came from (an
    /// inner layer that already said so is kept).
    fn locate(&self, e: Error, callback: &'static str) -> Error {
        e.in_layer(&self.name).in_callback(callback)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Prepare the layers below (innermost first), then this one.
    pub fn prepare(&self) -> Result<()> {
        self.handle.prepare_below()?;
        controlpath!("{}: prepare readonly={}", self.name, self.readonly as i32);
        self.handle.prepare(self.readonly)?;
        self.connected.store(true, Ordering::Release);
        Ok(())
    }

    /// Finalize this layer, then the ones below (outermost first).  Only a
    /// prepared layer is finalized; every layer below is still visited.
    pub fn finalize(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            // The failure that marked it was reported when it happened.
            return Err(Error::reported(libc::EIO, None).in_layer(&self.name));
        }
        let mut r = Ok(());
        if self.connected.swap(false, Ordering::AcqRel) {
            controlpath!("{}: finalize", self.name);
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
            controlpath!("{}: get_size", self.name);
            self.handle.get_size()
        })
    }
    pub fn export_description(&self) -> Result<Option<String>> {
        controlpath!("{}: export_description", self.name);
        self.handle.export_description()
    }
    pub fn block_size(&self) -> Result<Option<BlockSize>> {
        // Asked once per connection, as nbdkit (a filter's prepare may
        // ask before the client does).
        cached(&self.answers.block_size, || {
            controlpath!("{}: block_size", self.name);
            self.handle.block_size()
        })
    }
    pub fn can_write(&self) -> Result<bool> {
        if self.readonly {
            return Ok(false);
        }
        cached(&self.answers.write, || {
            controlpath!("{}: can_write", self.name);
            self.handle.can_write()
        })
    }
    pub fn can_flush(&self) -> Result<bool> {
        cached(&self.answers.flush, || {
            controlpath!("{}: can_flush", self.name);
            self.handle.can_flush()
        })
    }
    pub fn is_rotational(&self) -> Result<bool> {
        cached(&self.answers.rotational, || {
            controlpath!("{}: is_rotational", self.name);
            self.handle.is_rotational()
        })
    }
    pub fn can_trim(&self) -> Result<bool> {
        // As nbdkit: the line, then the answer that needs no asking.
        cached(&self.answers.trim, || {
            controlpath!("{}: can_trim", self.name);
            if !self.can_write()? {
                return Ok(false);
            }
            self.handle.can_trim()
        })
    }
    pub fn can_zero(&self) -> Result<Support> {
        // As nbdkit: the line, then the answer that needs no asking.
        cached(&self.answers.zero, || {
            controlpath!("{}: can_zero", self.name);
            if !self.can_write()? {
                return Ok(Support::None);
            }
            self.handle.can_zero()
        })
    }
    pub fn can_fast_zero(&self) -> Result<bool> {
        // As nbdkit: the line, then the answer that needs no asking.
        cached(&self.answers.fast_zero, || {
            controlpath!("{}: can_fast_zero", self.name);
            if self.can_zero()? == Support::None {
                return Ok(false);
            }
            self.handle.can_fast_zero()
        })
    }
    pub fn can_extents(&self) -> Result<bool> {
        cached(&self.answers.extents, || {
            controlpath!("{}: can_extents", self.name);
            self.handle.can_extents()
        })
    }
    pub fn can_fua(&self) -> Result<Support> {
        // As nbdkit: the line, then the answer that needs no asking.
        cached(&self.answers.fua, || {
            controlpath!("{}: can_fua", self.name);
            if !self.can_write()? {
                return Ok(Support::None);
            }
            self.handle.can_fua()
        })
    }
    pub fn can_multi_conn(&self) -> Result<bool> {
        cached(&self.answers.multi_conn, || {
            controlpath!("{}: can_multi_conn", self.name);
            self.handle.can_multi_conn()
        })
    }
    pub fn can_cache(&self) -> Result<Support> {
        cached(&self.answers.cache, || {
            controlpath!("{}: can_cache", self.name);
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
        datapath!("{}: pread count={} offset={offset}", self.name, buf.len());
        self.check_range("pread", buf.len() as u64, offset)?;
        self.check_flags("pread", flags, 0)?;
        let r = self.handle.pread(buf, offset, flags);
        r.map_err(|e| self.locate(e, "pread").at(offset, buf.len() as u64))
    }

    /// A read answered from the layer's own memory, when it offers that.
    /// Only the protocol calls this, on a range it validated.
    pub fn read_shared(&self, count: u32, offset: u64) -> Option<Result<Vec<Piece>>> {
        let r = self.handle.read_shared(count, offset);
        if r.is_some() {
            datapath!("{}: pread count={count} offset={offset}", self.name);
        }
        r
    }

    pub fn pwrite(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        datapath!(
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
        let r = self.handle.pwrite(buf, offset, flags);
        r.map_err(|e| self.locate(e, "pwrite").at(offset, buf.len() as u64))
    }

    pub fn flush(&self, flags: Flags) -> Result<()> {
        datapath!("{}: flush", self.name);
        if !self.can_flush()? {
            return Err(refuse(&self.name, "flush: not supported".into()));
        }
        self.check_flags("flush", flags, 0)?;
        self.handle
            .flush(flags)
            .map_err(|e| self.locate(e, "flush"))
    }

    pub fn trim(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        datapath!(
            "{}: trim count={count} offset={offset} fua={}",
            self.name,
            flags.fua() as i32
        );
        if !self.can_trim()? {
            return Err(refuse(&self.name, "trim: not supported".into()));
        }
        self.check_range("trim", count, offset)?;
        self.check_flags("trim", flags, Flags::FUA)?;
        let r = self.handle.trim(count, offset, flags);
        r.map_err(|e| self.locate(e, "trim").at(offset, count))
    }

    pub fn zero(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        datapath!(
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
        if self.can_zero()? == Support::Emulate {
            // The layer asked for zeroes to be written (nbdkit does not call
            // its .zero then); a fast zero cannot be that.
            if flags.fast_zero() {
                return Err(Error::silent(libc::ENOTSUP).in_layer(&self.name));
            }
            return self.write_zeroes(count, offset, flags.without(Flags::MAY_TRIM));
        }
        let r = self.handle.zero(count, offset, flags);
        r.map_err(|e| self.locate(e, "zero").at(offset, count))
    }

    /// Zero by writing zeroes through this layer's own `pwrite`, in
    /// nbdkit's chunks (its largest request): each carries FUA when the
    /// layer does FUA natively, else one flush follows them all.
    fn write_zeroes(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        let zeroes = ZERO_BUF
            .get_or_init(|| crate::sys::zero_pages(ZERO_CHUNK))
            .ok_or_else(|| Error::new(libc::ENOMEM, "zero: cannot map a buffer of zeroes"))?;
        let flush = flags.fua() && self.can_fua()? != Support::Native;
        let wflags = if flush {
            flags.without(Flags::FUA)
        } else {
            flags
        }
        .without(Flags::FAST_ZERO);
        let mut done = 0;
        while done < count {
            let n = (count - done).min(ZERO_CHUNK as u64);
            self.pwrite(&zeroes[..n as usize], offset + done, wflags)?;
            done += n;
        }
        if flush {
            self.flush(Flags::NONE)?;
        }
        Ok(())
    }

    pub fn cache(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        datapath!("{}: cache count={count} offset={offset}", self.name);
        if self.can_cache()? == Support::None {
            return Err(refuse(&self.name, "cache: not supported".into()));
        }
        self.check_range("cache", count, offset)?;
        self.check_flags("cache", flags, 0)?;
        if self.can_cache()? == Support::Emulate {
            // Cached by reading it (nbdkit does not call .cache then).
            let mut buf = super::request_memory::zeroed(count.min(CACHE_CHUNK) as usize, "cache")?;
            let mut done = 0;
            while done < count {
                let n = (count - done).min(CACHE_CHUNK) as usize;
                self.pread(&mut buf[..n], offset + done, Flags::NONE)?;
                done += n as u64;
            }
            return Ok(());
        }
        let r = self.handle.cache(count, offset, flags);
        r.map_err(|e| self.locate(e, "cache").at(offset, count))
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
        datapath!(
            "{}: extents count={count} offset={offset} req_one={}",
            self.name,
            flags.req_one() as i32
        );
        self.check_range("extents", count, offset)?;
        if count == 0 {
            // Only a layer above can ask this (the protocol refuses it): a
            // filter whose 32-bit sums wrapped (CVE-2025-47712, the
            // blocksize filter), where nbdkit 1.32.5 fails an assertion.
            return Err(refuse(
                &self.name,
                format!("extents: invalid request: count=0 offset={offset}"),
            ));
        }
        self.check_flags("extents", flags, Flags::REQ_ONE)?;
        if !self.can_extents()? {
            return extents.add(offset, count, 0);
        }
        let r = self.handle.extents(count, offset, flags, extents);
        r.map_err(|e| self.locate(e, "extents").at(offset, count))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        controlpath!("{}: close", self.name);
        // The handle (and, for a filter, the contexts below it) closes as
        // the field drops, after this line.
    }
}

impl super::extents::Layer for Context {
    fn name(&self) -> &str {
        Context::name(self)
    }
    fn get_size(&self) -> Result<u64> {
        Context::get_size(self)
    }
    fn extents(&self, count: u64, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        Context::extents(self, count, offset, flags, extents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::extents::{aligned, full};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// A layer that counts how often each answer is asked for and
    /// describes its 64 KiB as a fixed list of extents.
    #[derive(Default)]
    struct Probe {
        asked: AtomicUsize,
        extents: Vec<(u64, u64, u32)>,
    }

    impl Handle for Arc<Probe> {
        fn get_size(&self) -> Result<u64> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(65536)
        }
        fn can_write(&self) -> Result<bool> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }
        fn can_zero(&self) -> Result<Support> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(Support::Emulate)
        }
        fn can_fua(&self) -> Result<Support> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(Support::None)
        }
        fn can_extents(&self) -> Result<bool> {
            Ok(true)
        }
        fn pread(&self, buf: &mut [u8], _offset: u64, _flags: Flags) -> Result<()> {
            buf.fill(7);
            Ok(())
        }
        fn extents(&self, _c: u64, _o: u64, _f: Flags, e: &mut Extents) -> Result<()> {
            for &(o, l, t) in &self.extents {
                e.add(o, l, t)?;
            }
            Ok(())
        }
    }

    fn context(p: &Arc<Probe>, readonly: bool) -> Context {
        Context::new(Arc::from("probe"), Box::new(p.clone()), readonly)
    }

    #[test]
    fn answers_are_asked_once_per_context() {
        let p = Arc::new(Probe::default());
        let c = context(&p, false);
        for _ in 0..3 {
            assert_eq!(c.get_size().unwrap(), 65536);
            assert!(c.can_write().unwrap());
            assert_eq!(c.can_zero().unwrap(), Support::Emulate);
            assert_eq!(c.can_fua().unwrap(), Support::None);
        }
        assert_eq!(p.asked.load(Ordering::SeqCst), 4);
        // A second context (a new open) asks again.
        let c2 = context(&p, false);
        c2.get_size().unwrap();
        assert_eq!(p.asked.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn readonly_answers_without_asking() {
        let p = Arc::new(Probe::default());
        let c = context(&p, true);
        assert!(!c.can_write().unwrap());
        assert_eq!(c.can_zero().unwrap(), Support::None);
        assert!(!c.can_trim().unwrap());
        assert_eq!(p.asked.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn what_a_filter_passes_down_is_checked() {
        let p = Arc::new(Probe::default());
        let c = context(&p, false);
        let mut buf = [0u8; 512];
        assert_eq!(
            c.pread(&mut buf, 65536 - 511, Flags::NONE)
                .unwrap_err()
                .errno,
            libc::EINVAL
        );
        assert_eq!(
            c.pread(&mut buf, u64::MAX - 10, Flags::NONE)
                .unwrap_err()
                .errno,
            libc::EINVAL
        );
        // FUA where the layer said it has none.
        assert_eq!(
            c.pwrite(&buf, 0, Flags(Flags::FUA)).unwrap_err().errno,
            libc::EINVAL
        );
        c.pread(&mut buf, 0, Flags::NONE).unwrap();
        assert_eq!(buf, [7; 512]);
        let ro = context(&p, true);
        assert_eq!(
            ro.pwrite(&buf, 0, Flags::NONE).unwrap_err().errno,
            libc::EINVAL
        );
    }

    #[test]
    fn a_failure_says_where_it_happened() {
        let p = Arc::new(Probe::default());
        let c = context(&p, false);
        // The probe has no pwrite: its default refuses with a message.
        let e = c.pwrite(&[0u8; 512], 1024, Flags::NONE).unwrap_err();
        assert_eq!(
            (e.errno, e.unreported()),
            (libc::EPERM, Some("write not supported"))
        );
        let w = &e.context;
        assert_eq!(
            (w.layer.as_deref(), w.callback),
            (Some("probe"), Some("pwrite"))
        );
        assert_eq!((w.offset, w.count), (Some(1024), Some(512)));
        // Refused by the layer itself: logged here, so already reported.
        let e = context(&p, true)
            .pwrite(&[0u8; 1], 0, Flags::NONE)
            .unwrap_err();
        assert_eq!((e.errno, e.unreported()), (libc::EINVAL, None));
        assert_eq!(e.context.layer.as_deref(), Some("probe"));
    }

    fn probe_with(extents: &[(u64, u64, u32)]) -> Context {
        let p = Arc::new(Probe {
            extents: extents.to_vec(),
            ..Default::default()
        });
        context(&p, false)
    }

    fn list(e: &Extents) -> Vec<(u64, u64, u32)> {
        e.as_slice()
            .iter()
            .map(|x| (x.offset, x.length, x.kind))
            .collect()
    }

    #[test]
    fn extents_aligned_merges_within_blocks() {
        // 0..1000 data, 1000..5000 hole+zero, 5000..8192 zero, rest hole.
        let c = probe_with(&[
            (0, 1000, 0),
            (1000, 4000, 3),
            (5000, 3192, 2),
            (8192, 57344, 1),
        ]);
        let mut out = Extents::new(0, 65536).unwrap();
        aligned(&c, 16384, 0, Flags::NONE, 4096, &mut out).unwrap();
        // As nbdkit: block 0 mixes data and hole+zero: one data extent,
        // and the answer stops there.
        assert_eq!(list(&out), [(0, 4096, 0)]);
        // Aligned extents pass as they are (past the request, as a plugin
        // may say); the first unaligned one past the first block is cut
        // back to its whole blocks, and the answer stops.
        let c2 = probe_with(&[(0, 8192, 0), (8192, 5000, 3), (13192, 52344, 1)]);
        let mut out = Extents::new(0, 65536).unwrap();
        aligned(&c2, 4096, 0, Flags::NONE, 4096, &mut out).unwrap();
        assert_eq!(list(&out), [(0, 8192, 0), (8192, 4096, 3)]);
        // Unaligned requests are refused, unless the count stops short of
        // a block only at the end of the disk (65536 here): that unaligned
        // tail is one extent of what its parts share.
        let mut out = Extents::new(0, 65536).unwrap();
        assert!(aligned(&c, 1000, 0, Flags::NONE, 4096, &mut out).is_err());
        aligned(&c, 65536, 0, Flags::NONE, 131072, &mut out).unwrap();
        assert_eq!(list(&out), [(0, 65536, 0)]);
        let mut out = Extents::new(0, 65536).unwrap();
        // So are empty ones (a filter's 32-bit sum that wrapped,
        // CVE-2025-47712), here and on the layer itself.
        let e = aligned(&c, 0, 0, Flags::NONE, 4096, &mut out).unwrap_err();
        assert_eq!(e.errno, libc::EINVAL);
        assert!(full(&c, 0, 4096, Flags::NONE).is_err());
        assert!(c.extents(0, 0, Flags::NONE, &mut out).is_err());
        assert!(out.as_slice().is_empty());
    }

    #[test]
    fn extents_full_covers_the_range() {
        let c = probe_with(&[(0, 100, 0), (100, 65436, 3)]);
        let e = full(&c, 65536, 0, Flags(Flags::REQ_ONE)).unwrap();
        assert_eq!(list(&e), [(0, 100, 0), (100, 65436, 3)]);
    }
}
