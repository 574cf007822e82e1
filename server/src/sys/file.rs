//! File operations for the built-in file plugin: fadvise, fallocate,
//! SEEK_DATA/SEEK_HOLE.

use std::io;

// File operations for the built-in file plugin.

/// `posix_fadvise` on a range of an open file (`len` 0: to the end).  Only
/// a hint: failures are ignored.
pub fn fadvise(file: &std::fs::File, offset: u64, len: u64, advice: libc::c_int) {
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise only reads its integer arguments; the fd is
    // owned by `file`, which is borrowed for the duration of the call.
    unsafe {
        libc::posix_fadvise(std::os::fd::AsRawFd::as_raw_fd(file), off, len, advice);
    }
}

/// `fallocate(2)` on a range.  Returns the OS error on failure.
pub fn fallocate(file: &std::fs::File, mode: libc::c_int, offset: u64, len: u64) -> io::Result<()> {
    let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let len = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: fallocate takes only integers; the fd is valid for the call
    // because `file` is borrowed.
    let r = unsafe { libc::fallocate(std::os::fd::AsRawFd::as_raw_fd(file), mode, off, len) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `lseek(fd, offset, SEEK_DATA|SEEK_HOLE)`.  Does not disturb reads and
/// writes, which are positional.
pub fn seek_data_hole(file: &std::fs::File, offset: u64, whence: libc::c_int) -> io::Result<u64> {
    let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: lseek takes only integers; the fd is valid for the call
    // because `file` is borrowed.
    let r = unsafe { libc::lseek(std::os::fd::AsRawFd::as_raw_fd(file), off, whence) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as u64)
    }
}

/// A block device's logical sector size (`BLKSSZGET`).
pub fn block_sector_size(file: &std::fs::File) -> io::Result<u32> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which points
    // at `size`, live for the call; the fd is valid because `file` is
    // borrowed.
    let r = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(file),
            libc::BLKSSZGET,
            &mut size as *mut libc::c_int,
        )
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(size.max(0) as u32)
    }
}

/// `_IO(0x12, 127)`: zero a byte range of a block device.
const BLKZEROOUT: libc::c_ulong = 0x127f;

/// Zero `len` bytes at `offset` of a block device (`BLKZEROOUT`; both
/// must be multiples of its sector size).
pub fn block_zero_out(file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
    let range: [u64; 2] = [offset, len];
    // SAFETY: BLKZEROOUT reads two u64s (start, length) through the
    // pointer, which points at `range`, live for the call; the fd is
    // valid because `file` is borrowed.
    let r = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(file),
            BLKZEROOUT as _,
            range.as_ptr(),
        )
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A scratch file of 1 MiB holding data at 256 KiB..320 KiB only.
    fn sparse_file(tag: &str) -> (std::path::PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("nbdkit-sys-{tag}-{}", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(1 << 20).unwrap();
        f.write_all_at(&[0xaa; 65536], 256 << 10).unwrap();
        (path, f)
    }

    #[test]
    fn seek_data_and_hole_find_the_written_range() {
        let (path, f) = sparse_file("seek");
        let data = seek_data_hole(&f, 0, libc::SEEK_DATA).unwrap();
        let hole = seek_data_hole(&f, data, libc::SEEK_HOLE).unwrap();
        // A file system may round to its blocks, never away from the data.
        assert!(data <= 256 << 10, "{data}");
        assert!((320 << 10..=1 << 20).contains(&hole), "{hole}");
        // Past the last data: ENXIO, as lseek says.
        let e = seek_data_hole(&f, 1 << 20, libc::SEEK_DATA).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENXIO));
        let e = seek_data_hole(&f, u64::MAX, libc::SEEK_DATA).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "offsets past i64");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_punched_hole_reads_as_zeroes_and_keeps_the_size() {
        let (path, f) = sparse_file("punch");
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        match fallocate(&f, mode, 256 << 10, 65536) {
            Ok(()) => {
                let mut buf = [1u8; 4096];
                f.read_exact_at(&mut buf, 260 << 10).unwrap();
                assert!(buf.iter().all(|&b| b == 0));
                assert_eq!(f.metadata().unwrap().len(), 1 << 20);
            }
            // A temporary directory on a file system without hole punching.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}"),
        }
        let e = fallocate(&f, mode, u64::MAX, 1).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        fadvise(&f, 0, 0, libc::POSIX_FADV_DONTNEED);
        fadvise(&f, u64::MAX, 0, libc::POSIX_FADV_DONTNEED); // ignored
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_regular_file_is_no_block_device() {
        let (path, f) = sparse_file("blk");
        assert_eq!(
            block_sector_size(&f).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );
        assert_eq!(
            block_zero_out(&f, 0, 512).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );
        std::fs::remove_file(path).unwrap();
    }
}
