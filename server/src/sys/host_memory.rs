//! How much memory the machine and the process limits allow, and handing
//! free heap pages back to the kernel.

/// Give the heap's free pages back to the kernel (glibc keeps them after
/// `free`, so memory of closed connections would stay in the RSS).
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own heaps under their locks.
    unsafe { libc::malloc_trim(0) };
}

/// Bytes of physical memory, if the kernel says.
pub fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf takes an integer and returns one.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || size <= 0 {
        return None;
    }
    (pages as u64).checked_mul(size as u64)
}

/// The soft address-space limit (`ulimit -v`), if one is set.
pub fn address_space_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the rlimit it is given, a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } != 0 || r.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some(r.rlim_cur)
}

/// `len` bytes of zeroes that cost no memory: a read-only anonymous
/// mapping, whose pages are all the kernel's shared zero page.  Mapped for
/// the rest of the process (never unmapped), so the slice is `'static`.
/// None if the mapping cannot be had (address-space limit).
pub fn zero_pages(len: usize) -> Option<&'static [u8]> {
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the mapping is `len` readable bytes, zero-filled by the
    // kernel, never written (PROT_READ) and never unmapped.
    Some(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
}

/// Lock `buf`'s pages into RAM (`mlock`), so they are never swapped out.
pub fn mlock(buf: &[u8]) -> std::io::Result<()> {
    // SAFETY: mlock only changes how the kernel pages this range, which
    // `buf` borrows for the call; no memory is read or written.
    let r = unsafe { libc::mlock(buf.as_ptr().cast(), buf.len()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_has_memory_and_zero_pages_cost_none() {
        let ram = physical_memory().expect("the kernel says");
        assert!(ram >= 64 << 20, "{ram}");
        if let Some(limit) = address_space_limit() {
            assert!(limit > 0);
        }
        // A gigabyte of address space, read at both ends.
        let z = zero_pages(1 << 30).expect("a NORESERVE mapping");
        assert_eq!(z.len(), 1 << 30);
        assert!(z[..8192].iter().all(|&b| b == 0));
        assert_eq!(z[(1 << 30) - 1], 0);
        release_free_memory();
    }
}
