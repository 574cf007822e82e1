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
