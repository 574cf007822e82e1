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
