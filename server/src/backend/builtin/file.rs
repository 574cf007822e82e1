//! The built-in `file` plugin: serves a regular file or block device
//! (`[file=]PATH`), or the files of a directory chosen by export name
//! (`dir=PATH`), as nbdkit 1.32's file plugin does.
//!
//! Differences from nbdkit's, none visible on the wire in normal use:
//! - `cache=none` asks the kernel (`POSIX_FADV_DONTNEED`) to drop the range
//!   from the page cache after each read and write; nbdkit additionally
//!   starts and waits for write-back of written ranges so they can be
//!   evicted at once.
//! - `fadvise=` is applied once per opened file, as nbdkit does.
//! - Zeroing tries nbdkit's methods in nbdkit's order (punching a hole
//!   when the client allows trimming, `FALLOC_FL_ZERO_RANGE`, a punched
//!   hole reallocated, `BLKZEROOUT` on a block device), then writes zeroes
//!   itself where nbdkit's server would write them for the plugin.

use crate::sys::strerror;
use crate::sys::{block_sector_size, block_zero_out, fadvise, fallocate, seek_data_hole};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::backend::extents::{EXTENT_HOLE, EXTENT_ZERO};
use crate::backend::{
    ConnInfo, Error, ExportEntry, ExportList, Extents, Flags, Handle, Plugin, Result, Support,
};

/// What in these command-line parameters the built-in does not serve:
/// nbdkit 1.44's `fd=` and `dirfd=` (a file or directory passed open).
/// The server then loads nbdkit's file plugin, which serves them or
/// refuses them as that plugin's version does.
pub fn unserved(params: &[(Option<String>, std::ffi::OsString)]) -> Option<String> {
    params.iter().find_map(|(k, v)| match k.as_deref() {
        Some(k @ ("fd" | "dirfd")) => Some(format!("{k}={}", v.to_string_lossy())),
        _ => None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fadvise {
    Normal,
    Random,
    Sequential,
}

pub struct FilePlugin {
    file: Option<PathBuf>,
    dir: Option<PathBuf>,
    /// `cache=none`: evict what requests touched from the page cache.
    cache_none: bool,
    fadvise: Fadvise,
}

impl FilePlugin {
    pub fn new() -> Self {
        FilePlugin {
            file: None,
            dir: None,
            cache_none: false,
            fadvise: Fadvise::Normal,
        }
    }
}

impl Default for FilePlugin {
    fn default() -> Self {
        Self::new()
    }
}

/// An error naming the operation and the path, with the call's errno.
fn io_error(op: &str, path: &dyn std::fmt::Display, e: &io::Error) -> Error {
    Error::new(
        e.raw_os_error().unwrap_or(libc::EIO),
        format!("{op}: {path}: {}", strerror(e)),
    )
}

/// A data call's failure naming the operation, with the call's errno,
/// logged as nbdkit's file plugin logs it (`nbdkit_error`).
fn op_error(op: &str, e: &io::Error) -> Error {
    Error::new(
        e.raw_os_error().unwrap_or(libc::EIO),
        format!("{op}: {}", strerror(e)),
    )
    .report_now()
}

fn realpath(value: &str) -> Result<PathBuf> {
    std::fs::canonicalize(value).map_err(|e| io_error("realpath", &value, &e))
}

/// Whether a path may be served: regular files and block devices only.
fn servable(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_file() || meta.file_type().is_block_device()
}

impl Plugin for FilePlugin {
    /// Debian's file plugin has `file_debug_zero` (say how each zero was
    /// done): this plugin has it too.
    fn check_debug_flag(&self, f: &crate::debug_flag::DebugFlag) {
        if f.flag == "zero" {
            DEBUG_ZERO.store(f.value != 0, Ordering::Relaxed);
        } else {
            log::warn!(
                "-D {}.{}: file does not contain a global variable called file_debug_{}",
                f.name,
                f.flag,
                f.flag.replace('.', "_")
            );
        }
    }
    fn name(&self) -> &str {
        "file"
    }
    fn version(&self) -> Option<&str> {
        Some("1.32.5")
    }
    fn longname(&self) -> Option<&str> {
        Some("nbdkit file plugin")
    }
    fn config_help(&self) -> Option<&str> {
        // "fadise" is how nbdkit 1.32 spells it.
        Some(
            "[file=]<FILENAME>     The filename to serve.\n\
             dir=<DIRNAME>         A directory containing files to serve.\n\
             cache=<MODE>          Set use of caching (default, none).\n\
             fadise=<LEVEL>        Set fadvise hint (normal, random, sequential).",
        )
    }
    fn magic_config_key(&self) -> Option<&str> {
        Some("file")
    }
    fn config(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            // nbdkit makes paths absolute at config time, so a later chdir
            // (e.g. when daemonizing) does not change what is served.
            "file" => self.file = Some(realpath(value)?),
            "dir" => self.dir = Some(realpath(value)?),
            "cache" => {
                self.cache_none = match value {
                    "default" => false,
                    "none" => true,
                    _ => return Err(Error::einval(format!("unknown cache mode: {value}"))),
                }
            }
            "fadvise" => {
                self.fadvise = match value {
                    "normal" => Fadvise::Normal,
                    "random" => Fadvise::Random,
                    "sequential" => Fadvise::Sequential,
                    _ => return Err(Error::einval(format!("unknown fadvise mode: {value}"))),
                }
            }
            _ => return Err(Error::einval(format!("unknown parameter '{key}'"))),
        }
        Ok(())
    }
    fn config_complete(&mut self) -> Result<()> {
        match (&self.file, &self.dir) {
            (None, None) => Err(Error::einval(
                "you must supply either [file=]<FILENAME> or dir=<DIRNAME> parameter \
                 after the plugin name on the command line",
            )),
            (Some(_), Some(_)) => Err(Error::einval(
                "file= and dir= cannot be used at the same time",
            )),
            (Some(file), None) => {
                let shown = file.display();
                let meta = std::fs::metadata(file).map_err(|e| io_error("stat", &shown, &e))?;
                if meta.is_dir() {
                    Err(Error::einval(format!(
                        "use dir= to serve files within {shown}"
                    )))
                } else if !servable(&meta) {
                    Err(Error::einval(format!(
                        "file is not regular or block device: {shown}"
                    )))
                } else {
                    Ok(())
                }
            }
            (None, Some(dir)) => {
                let shown = dir.display();
                let meta = std::fs::metadata(dir).map_err(|e| io_error("stat", &shown, &e))?;
                if meta.is_dir() {
                    Ok(())
                } else {
                    Err(Error::einval(format!("expecting a directory: {shown}")))
                }
            }
        }
    }
    fn dump_has(&self) -> Vec<&'static str> {
        vec![
            "longname",
            "unload",
            "dump_plugin",
            "config",
            "config_complete",
            "config_help",
            "list_exports",
            "open",
            "close",
            "get_size",
            "can_write",
            "can_trim",
            "can_extents",
            "can_fua",
            "can_multi_conn",
            "can_cache",
            "pread",
            "pwrite",
            "flush",
            "trim",
            "zero",
            "extents",
            "cache",
        ]
    }
    fn dump_plugin(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "file_blksszget=yes")?;
        writeln!(out, "file_blkzeroout=yes")?;
        writeln!(out, "file_falloc_fl_punch_hole=yes")?;
        writeln!(out, "file_falloc_fl_zero_range=yes")
    }
    fn list_exports(&self, _conn: &ConnInfo) -> Result<Option<ExportList>> {
        let Some(dir) = &self.dir else {
            return Ok(Some(ExportList {
                entries: vec![ExportEntry {
                    name: String::new(),
                    description: None,
                }],
                use_default: false,
            }));
        };
        let shown = dir.display();
        let entries = std::fs::read_dir(dir).map_err(|e| io_error("opendir", &shown, &e))?;
        let mut list = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("readdir", &shown, &e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue; // Not representable as an export name.
            };
            // Follow symlinks, skip what cannot be served (or stat'ed).
            match std::fs::metadata(entry.path()) {
                Ok(meta) if servable(&meta) => list.push(ExportEntry {
                    name,
                    description: None,
                }),
                _ => {}
            }
        }
        Ok(Some(ExportList {
            entries: list,
            use_default: false,
        }))
    }
    fn open(&self, conn: &ConnInfo) -> Result<Box<dyn Handle>> {
        let (path, shown): (PathBuf, String) = match (&self.file, &self.dir) {
            (Some(file), _) => (file.clone(), file.display().to_string()),
            (None, Some(dir)) => {
                let name = &conn.export_name;
                let shown = String::from_utf8_lossy(name).into_owned();
                if name.contains(&b'/') {
                    return Err(Error::einval("exportname cannot contain /"));
                }
                let name = std::ffi::OsStr::from_bytes(name);
                (dir.join(name), shown)
            }
            (None, None) => return Err(Error::einval("file: open before config_complete")),
        };
        if self.file.is_none() && conn.export_name.is_empty() {
            // dir.join("") is the directory itself; nbdkit tries to open ""
            // relative to the directory, which fails like this.
            return Err(Error::new(
                libc::ENOENT,
                format!(
                    "open: : {}",
                    strerror(&io::Error::from_raw_os_error(libc::ENOENT))
                ),
            ));
        }
        // Refuse directories and special files before trying to open them
        // (opening a directory for writing would fail with a less helpful
        // EISDIR).  A failing stat is left for open to report.
        if let Ok(meta) = std::fs::metadata(&path) {
            if !servable(&meta) {
                return Err(Error::einval(format!(
                    "file is not regular or block device: {shown}"
                )));
            }
        }
        // As nbdkit: a file that cannot be opened for writing is served
        // read-only.
        let mut can_write = !conn.readonly;
        let opened = match OpenOptions::new().read(true).write(can_write).open(&path) {
            Err(e) if can_write => {
                log::debug!(
                    target: crate::logging::PLUGIN,
                    "open O_RDWR failed, falling back to read-only: {shown}: {}",
                    strerror(&e)
                );
                can_write = false;
                OpenOptions::new().read(true).open(&path)
            }
            other => other,
        };
        let file = opened.map_err(|e| io_error("open", &shown, &e))?;
        let meta = file.metadata().map_err(|e| io_error("fstat", &shown, &e))?;
        if !servable(&meta) {
            return Err(Error::einval(format!(
                "file is not regular or block device: {shown}"
            )));
        }
        match self.fadvise {
            Fadvise::Normal => fadvise(&file, 0, 0, libc::POSIX_FADV_NORMAL),
            Fadvise::Random => fadvise(&file, 0, 0, libc::POSIX_FADV_RANDOM),
            Fadvise::Sequential => fadvise(&file, 0, 0, libc::POSIX_FADV_SEQUENTIAL),
        }
        let is_block_device = meta.file_type().is_block_device();
        // Zeroing a block device by BLKZEROOUT needs the range aligned to
        // its sectors; 4096 is a safe guess when it will not say.
        let mut sector_size = 4096;
        if is_block_device {
            match block_sector_size(&file) {
                Ok(n) if n > 0 => sector_size = u64::from(n),
                Ok(_) => {}
                Err(e) => {
                    log::debug!(target: crate::logging::PLUGIN, "cannot get sector size: {shown}: {}", strerror(&e))
                }
            }
        }
        Ok(Box::new(FileHandle {
            file,
            can_write,
            cache_none: self.cache_none,
            is_block_device,
            sector_size,
            can_punch_hole: AtomicBool::new(true),
            can_zero_range: AtomicBool::new(true),
            can_fallocate: AtomicBool::new(true),
            can_zero_out: AtomicBool::new(is_block_device),
        }))
    }
}

/// `-D file.zero=1`: say which method each zero request used, as nbdkit's
/// file plugin does.
static DEBUG_ZERO: AtomicBool = AtomicBool::new(false);

fn debug_zero(how: &str) {
    if DEBUG_ZERO.load(Ordering::Relaxed) {
        log::debug!(target: crate::logging::PLUGIN, "{how}");
    }
}

pub struct FileHandle {
    file: File,
    can_write: bool,
    cache_none: bool,
    is_block_device: bool,
    sector_size: u64,
    /// Each cleared the first time the kernel says it cannot do this
    /// (ENOTSUP/EOPNOTSUPP, or ENOTTY for the ioctl: the only answers
    /// nbdkit takes as "not supported"), so later requests skip it.
    can_punch_hole: AtomicBool,
    can_zero_range: AtomicBool,
    can_fallocate: AtomicBool,
    can_zero_out: AtomicBool,
}

/// Zeroes for the write-zeroes fallback.
static ZEROES: [u8; 65536] = [0; 65536];

/// What nbdkit's file plugin takes as "this method is not supported here".
fn is_enotsup(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP))
}

/// A zero request's failure, in nbdkit's words.
fn zero_error(e: &io::Error) -> Error {
    op_error("zero", e)
}

impl FileHandle {
    fn fua(&self, flags: Flags) -> Result<()> {
        if flags.fua() {
            self.file
                .sync_data()
                .map_err(|e| op_error("fdatasync", &e))?;
        }
        Ok(())
    }

    fn punch_hole(&self, count: u64, offset: u64) -> io::Result<()> {
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        fallocate(&self.file, mode, offset, count)
    }

    /// The zeroing methods nbdkit's file plugin tries, in its order
    /// (those that may trim first); the first that works answers.  A
    /// method the kernel says is unsupported is not tried again; any other
    /// failure fails the request.  Ok(false): none applied.
    fn zero_in_place(&self, count: u64, offset: u64, may_trim: bool) -> Result<bool> {
        let aligned = (offset | count).is_multiple_of(self.sector_size);
        if may_trim && self.can_punch_hole.load(Ordering::Relaxed) {
            match self.punch_hole(count, offset) {
                Ok(()) => {
                    debug_zero("h->can_punch_hole && may_trim: zero succeeded using fallocate");
                    return Ok(true);
                }
                Err(e) if is_enotsup(&e) => self.can_punch_hole.store(false, Ordering::Relaxed),
                Err(e) => return Err(zero_error(&e)),
            }
        }
        if self.can_zero_range.load(Ordering::Relaxed) {
            match fallocate(&self.file, libc::FALLOC_FL_ZERO_RANGE, offset, count) {
                Ok(()) => {
                    debug_zero("h->can_zero-range: zero succeeded using fallocate");
                    return Ok(true);
                }
                Err(e) if is_enotsup(&e) => self.can_zero_range.store(false, Ordering::Relaxed),
                Err(e) => return Err(zero_error(&e)),
            }
        }
        if self.can_punch_hole.load(Ordering::Relaxed) && self.can_fallocate.load(Ordering::Relaxed)
        {
            match self.punch_hole(count, offset) {
                Ok(()) => match fallocate(&self.file, 0, offset, count) {
                    Ok(()) => {
                        debug_zero(
                            "h->can_punch_hole && h->can_fallocate: zero succeeded using fallocate",
                        );
                        return Ok(true);
                    }
                    Err(e) if is_enotsup(&e) => self.can_fallocate.store(false, Ordering::Relaxed),
                    Err(e) => return Err(zero_error(&e)),
                },
                Err(e) if is_enotsup(&e) => self.can_punch_hole.store(false, Ordering::Relaxed),
                Err(e) => return Err(zero_error(&e)),
            }
        }
        if self.can_zero_out.load(Ordering::Relaxed) && aligned {
            match block_zero_out(&self.file, offset, count) {
                Ok(()) => {
                    debug_zero("h->can_zeroout && IS_ALIGNED: zero succeeded using BLKZEROOUT");
                    return Ok(true);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => {
                    self.can_zero_out.store(false, Ordering::Relaxed)
                }
                Err(e) => return Err(zero_error(&e)),
            }
        }
        Ok(false)
    }
}

impl Handle for FileHandle {
    fn get_size(&self) -> Result<u64> {
        if self.is_block_device {
            // The file position is otherwise unused (all I/O is
            // positional).
            (&self.file)
                .seek(SeekFrom::End(0))
                .map_err(|e| op_error("lseek (to find device size)", &e))
        } else {
            self.file
                .metadata()
                .map(|m| m.len())
                .map_err(|e| op_error("fstat", &e))
        }
    }
    fn can_write(&self) -> Result<bool> {
        Ok(self.can_write)
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
        // nbdkit's file plugin has no can_fast_zero, so the server answers
        // false for it; we answer the same.
        Ok(false)
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
    /// As nbdkit: extents are answered where `SEEK_HOLE` works (asked when
    /// a client first needs to know, and said in the log when not).
    fn can_extents(&self) -> Result<bool> {
        match seek_data_hole(&self.file, 0, libc::SEEK_HOLE) {
            Ok(_) => Ok(true),
            Err(e) => {
                log::debug!(target: crate::logging::PLUGIN, "extents disabled: lseek: SEEK_HOLE: {}", strerror(&e));
                Ok(false)
            }
        }
    }

    fn pread(&self, buf: &mut [u8], offset: u64, _flags: Flags) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::eio("pread: unexpected end of file").report_now()
            } else {
                op_error("pread", &e)
            }
        })?;
        if self.cache_none {
            fadvise(
                &self.file,
                offset,
                buf.len() as u64,
                libc::POSIX_FADV_DONTNEED,
            );
        }
        Ok(())
    }
    fn pwrite(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| op_error("pwrite", &e))?;
        self.fua(flags)?;
        if self.cache_none {
            fadvise(
                &self.file,
                offset,
                buf.len() as u64,
                libc::POSIX_FADV_DONTNEED,
            );
        }
        Ok(())
    }
    fn flush(&self, _flags: Flags) -> Result<()> {
        self.file.sync_data().map_err(|e| op_error("fdatasync", &e))
    }
    /// Trim is advisory, as in nbdkit's file plugin: a hole is punched
    /// where the kernel can; only EPERM and EIO fail the request, other
    /// failures are logged and then punching is not tried again.
    fn trim(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        if self.can_punch_hole.load(Ordering::Relaxed) {
            if let Err(e) = self.punch_hole(count, offset) {
                if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EIO)) {
                    return Err(op_error("fallocate", &e));
                }
                self.can_punch_hole.store(false, Ordering::Relaxed);
                log::debug!(target: crate::logging::PLUGIN, "ignoring failed fallocate during trim: {}", strerror(&e));
            }
        }
        self.fua(flags)
    }
    fn zero(&self, count: u64, offset: u64, flags: Flags) -> Result<()> {
        if self.zero_in_place(count, offset, flags.may_trim())? {
            return self.fua(flags);
        }
        // nbdkit's server writes zeroes when the plugin has no other way;
        // a fast zero cannot be that.
        debug_zero("zero falling back to writing");
        if flags.fast_zero() {
            return Err(Error::enotsup(
                "zero: fast zero is not possible on this file",
            ));
        }
        let mut done = 0u64;
        while done < count {
            let n = (count - done).min(ZEROES.len() as u64) as usize;
            self.file
                .write_all_at(&ZEROES[..n], offset + done)
                .map_err(|e| op_error("pwrite", &e))?;
            done += n as u64;
        }
        self.fua(flags)
    }
    fn cache(&self, count: u64, offset: u64, _flags: Flags) -> Result<()> {
        fadvise(&self.file, offset, count, libc::POSIX_FADV_WILLNEED);
        Ok(())
    }
    fn extents(&self, count: u64, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        let end = offset + count;
        // Whole extents, as nbdkit's file plugin reports them: the list
        // reaches to the end of the export and the server stops the reply.
        let lim = extents.end().max(end);
        let mut pos = offset;
        let seek_error = |what: &str, pos: u64, e: &io::Error| {
            Error::new(
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("lseek: {what}: {pos}: {}", strerror(e)),
            )
            .report_now()
        };
        while pos < end {
            let data = match seek_data_hole(&self.file, pos, libc::SEEK_DATA) {
                Ok(d) => d,
                // No data from here to the end of the file: nbdkit's file
                // plugin then reports a hole to the end of the request only.
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => end,
                Err(e) => return Err(seek_error("SEEK_DATA", pos, &e)),
            };
            if data > pos {
                extents.add(pos, data.min(lim) - pos, EXTENT_HOLE | EXTENT_ZERO)?;
                pos = data;
                if flags.req_one() || pos >= end {
                    break;
                }
            }
            let hole = match seek_data_hole(&self.file, pos, libc::SEEK_HOLE) {
                Ok(h) => h,
                // Raced with a truncate: treat the rest as data.
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => lim,
                Err(e) => return Err(seek_error("SEEK_HOLE", pos, &e)),
            };
            // SEEK_HOLE never returns `pos` for a data offset; guard anyway
            // so a confused filesystem cannot make us loop.
            let hole = hole.max(pos + 1);
            extents.add(pos, hole.min(lim) - pos, 0)?;
            pos = hole;
            if flags.req_one() {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn temp_path(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("nbdkit-rs-file-{}-{tag}", std::process::id()))
    }

    fn cleanup(p: &Path) {
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_dir_all(p);
    }

    fn conn(readonly: bool, export: &str) -> ConnInfo {
        ConnInfo::detached(export, readonly)
    }

    fn plugin_for(path: &Path) -> FilePlugin {
        let mut p = FilePlugin::new();
        p.config("file", path.to_str().unwrap()).unwrap();
        p.config_complete().unwrap();
        p
    }

    fn kinds(h: &dyn Handle, count: u64, offset: u64, flags: Flags) -> Vec<(u64, u64, u32)> {
        let mut e = Extents::new(offset, offset + count).unwrap();
        h.extents(count, offset, flags, &mut e).unwrap();
        e.as_slice()
            .iter()
            .map(|x| (x.offset, x.length, x.kind))
            .collect()
    }

    #[test]
    fn fd_and_dirfd_go_to_nbdkits_plugin() {
        let param = |k: Option<&str>, v: &str| (k.map(str::to_string), std::ffi::OsString::from(v));
        assert_eq!(
            unserved(&[param(None, "/a.img"), param(Some("cache"), "none")]),
            None
        );
        assert_eq!(unserved(&[param(Some("fd"), "3")]).as_deref(), Some("fd=3"));
        assert_eq!(
            unserved(&[param(Some("file"), "x"), param(Some("dirfd"), "4")]).as_deref(),
            Some("dirfd=4")
        );
    }

    #[test]
    fn file_config_errors() {
        let mut p = FilePlugin::new();
        let e = p.config_complete().unwrap_err();
        assert!(e
            .to_string()
            .starts_with("you must supply either [file=]<FILENAME> or dir=<DIRNAME>"));
        let e = p.config("file", "/nonexistent-nbdkit-rs").unwrap_err();
        assert_eq!(
            e.to_string(),
            "realpath: /nonexistent-nbdkit-rs: No such file or directory"
        );
        assert_eq!(e.errno, libc::ENOENT);
        let e = p.config("foo", "bar").unwrap_err();
        assert_eq!(
            (e.errno, e.client_message()),
            (libc::EINVAL, "unknown parameter 'foo'")
        );
        assert_eq!(
            p.config("cache", "foo").unwrap_err().to_string(),
            "unknown cache mode: foo"
        );
        assert_eq!(
            p.config("fadvise", "foo").unwrap_err().to_string(),
            "unknown fadvise mode: foo"
        );
        p.config("cache", "none").unwrap();
        p.config("fadvise", "random").unwrap();

        let tmp = std::fs::canonicalize(std::env::temp_dir()).unwrap();
        let mut p = FilePlugin::new();
        p.config("file", tmp.to_str().unwrap()).unwrap();
        let msg = p.config_complete().unwrap_err().to_string();
        assert_eq!(
            msg,
            format!("use dir= to serve files within {}", tmp.display())
        );
        p.config("dir", tmp.to_str().unwrap()).unwrap();
        assert_eq!(
            p.config_complete().unwrap_err().to_string(),
            "file= and dir= cannot be used at the same time"
        );

        let mut p = FilePlugin::new();
        p.config("file", "/dev/null").unwrap();
        assert_eq!(
            p.config_complete().unwrap_err().to_string(),
            "file is not regular or block device: /dev/null"
        );
    }

    #[test]
    fn file_relative_path_made_absolute() {
        let mut p = FilePlugin::new();
        // Cargo runs tests in the package directory, which has Cargo.toml.
        p.config("file", "Cargo.toml").unwrap();
        assert!(p.file.as_ref().unwrap().is_absolute());
        p.config_complete().unwrap();
    }

    #[test]
    fn file_round_trip_zero_trim_and_sparse_extents() {
        let path = temp_path("rw");
        cleanup(&path);
        let f = File::create(&path).unwrap();
        f.set_len(10 << 20).unwrap();
        f.write_all_at(b"x", 100_000).unwrap();
        drop(f);

        let p = plugin_for(&path);
        let h = p.open(&conn(false, "")).unwrap();
        assert_eq!(h.get_size().unwrap(), 10 << 20);
        assert!(h.can_write().unwrap());
        assert_eq!(h.can_fua().unwrap(), Support::Native);

        h.pwrite(b"hello", 3 << 20, Flags(Flags::FUA)).unwrap();
        let mut b = [0u8; 5];
        h.pread(&mut b, 3 << 20, Flags::NONE).unwrap();
        assert_eq!(&b, b"hello");
        h.flush(Flags::NONE).unwrap();

        if h.can_extents().unwrap() {
            let got = kinds(h.as_ref(), 10 << 20, 0, Flags::NONE);
            // Some data around 100000 and 3 MiB, holes elsewhere (unless
            // the filesystem does not do holes, then all data).
            let at = |off: u64| {
                got.iter()
                    .find(|e| e.0 <= off && off < e.0 + e.1)
                    .unwrap()
                    .2
            };
            assert_eq!(at(100_000), 0);
            assert_eq!(at(3 << 20), 0);
            let total: u64 = got.iter().map(|e| e.1).sum();
            assert_eq!(total, 10 << 20);
            if got.len() > 1 {
                assert_eq!(at(0), EXTENT_HOLE | EXTENT_ZERO);
                assert_eq!(at((10 << 20) - 1), EXTENT_HOLE | EXTENT_ZERO);
                let one = kinds(h.as_ref(), 10 << 20, 0, Flags(Flags::REQ_ONE));
                assert_eq!(one.len(), 1);
            }
        }

        // Zero with and without MAY_TRIM, and trim.
        h.zero(5, 3 << 20, Flags(Flags::MAY_TRIM)).unwrap();
        h.pread(&mut b, 3 << 20, Flags::NONE).unwrap();
        assert_eq!(b, [0; 5]);
        h.pwrite(b"hello", 3 << 20, Flags::NONE).unwrap();
        h.zero(3, (3 << 20) + 1, Flags::NONE).unwrap();
        h.pread(&mut b, 3 << 20, Flags::NONE).unwrap();
        assert_eq!(&b, b"h\0\0\0o");
        h.trim(1 << 20, 0, Flags::NONE).unwrap();

        // Read-only connections open read-only.
        let ro = p.open(&conn(true, "")).unwrap();
        assert!(!ro.can_write().unwrap());
        assert_eq!(
            ro.pwrite(b"x", 0, Flags::NONE).unwrap_err().errno,
            libc::EBADF
        );
        cleanup(&path);
    }

    #[test]
    fn file_zero_fallback_writes_zeroes() {
        let path = temp_path("fallback");
        cleanup(&path);
        std::fs::write(&path, vec![0xffu8; 200_000]).unwrap();
        let p = plugin_for(&path);
        let h = p.open(&conn(false, "")).unwrap();
        let fh = FileHandle {
            file: OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap(),
            can_write: true,
            cache_none: true,
            is_block_device: false,
            sector_size: 4096,
            can_punch_hole: AtomicBool::new(false),
            can_zero_range: AtomicBool::new(false),
            can_fallocate: AtomicBool::new(false),
            can_zero_out: AtomicBool::new(false),
        };
        assert_eq!(
            fh.zero(100, 10, Flags(Flags::FAST_ZERO)).unwrap_err().errno,
            libc::ENOTSUP
        );
        fh.zero(150_000, 7, Flags(Flags::MAY_TRIM)).unwrap();
        let mut b = vec![0u8; 200_000];
        h.pread(&mut b, 0, Flags::NONE).unwrap();
        assert!(b[..7].iter().all(|&x| x == 0xff));
        assert!(b[7..150_007].iter().all(|&x| x == 0));
        assert!(b[150_007..].iter().all(|&x| x == 0xff));
        cleanup(&path);
    }

    #[test]
    fn file_dir_mode() {
        let dir = temp_path("dir");
        cleanup(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.img"), vec![1u8; 1024]).unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        let mut p = FilePlugin::new();
        p.config("dir", dir.to_str().unwrap()).unwrap();
        p.config_complete().unwrap();
        let list = p.list_exports(&conn(false, "")).unwrap().unwrap();
        let names: Vec<_> = list.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["a.img"]);
        let h = p.open(&conn(false, "a.img")).unwrap();
        assert_eq!(h.get_size().unwrap(), 1024);
        let e = p.open(&conn(false, "nope")).err().unwrap();
        assert_eq!(
            (e.errno, e.client_message()),
            (libc::ENOENT, "open: nope: No such file or directory")
        );
        let e = p.open(&conn(false, "")).err().unwrap();
        assert_eq!(e.errno, libc::ENOENT);
        let e = p.open(&conn(false, "sub")).err().unwrap();
        assert_eq!(e.to_string(), "file is not regular or block device: sub");
        assert!(p.open(&conn(false, "../x")).is_err());

        let mut p = FilePlugin::new();
        p.config("dir", dir.join("a.img").to_str().unwrap())
            .unwrap();
        assert!(p
            .config_complete()
            .unwrap_err()
            .to_string()
            .starts_with("expecting a directory: "));
        cleanup(&dir);
    }
}
