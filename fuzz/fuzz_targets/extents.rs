//! The extents list and its contract: any sequence of `add` calls, then
//! nbdkit_extents_full and nbdkit_extents_aligned over a scripted layer.
//! What the list holds is ascending, contiguous, inside its range, starts
//! at its start and never merges two extents of different types.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nbdkit_fuzz::backend::{extents, Context, Extents, Flags};

fn u64_at(d: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in b.iter_mut().enumerate() {
        *x = d.get(i + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fn check(ex: &Extents) {
    let mut pos = ex.start();
    let mut last_kind = None;
    for e in ex.as_slice() {
        assert_eq!(e.offset, pos, "not contiguous");
        assert!(e.length > 0);
        pos = e.offset.checked_add(e.length).expect("overflow");
        assert!(pos <= ex.end(), "past the end");
        assert_ne!(Some(e.kind), last_kind, "unmerged");
        last_kind = Some(e.kind);
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 24 {
        return;
    }
    let start = u64_at(data, 0) >> (data[0] & 63);
    let end = start.saturating_add(u64_at(data, 8) >> (data[1] & 63));
    // Scripted calls: (shift, length, kind) from 10-byte records.
    let recs: Vec<(u64, u64, u32)> = data[16..]
        .chunks(10)
        .map(|c| {
            let shift = u64::from(c[0]) << (c.get(1).copied().unwrap_or(0) & 31);
            let len = u64_at(c, 2) >> (c.get(1).copied().unwrap_or(0) >> 3);
            (shift, len, u32::from(c.get(9).copied().unwrap_or(0) & 3))
        })
        .collect();
    if let Ok(mut ex) = Extents::new(start, end) {
        for &(shift, len, kind) in &recs {
            let off = start.wrapping_add(shift).wrapping_sub(1 << 20);
            let _ = ex.add(off, len, kind);
        }
        check(&ex);
    }
    let ctx = Context {
        size: end,
        script: recs,
        next: Default::default(),
        calls: Default::default(),
    };
    let count = end - start;
    if let Ok(ex) = extents::full(&ctx, count, start, Flags::NONE) {
        check(&ex);
        assert_eq!(ex.as_slice().iter().map(|e| e.length).sum::<u64>(), count);
    }
    let align = 1u32 << (data[2] & 15);
    let a = u64::from(align);
    let (s, c) = (start / a * a, count / a * a);
    ctx.next.set(0);
    ctx.calls.set(0);
    if let Ok(mut out) = Extents::new(s, s.saturating_add(c)) {
        let flags = if data[3] & 1 != 0 {
            Flags(Flags::REQ_ONE)
        } else {
            Flags::NONE
        };
        if extents::aligned(&ctx, c, s, flags, align, &mut out).is_ok() {
            check(&out);
            for e in out.as_slice() {
                assert_eq!(e.offset % a, 0, "unaligned start");
                assert!(
                    e.length % a == 0 || e.offset + e.length == out.end(),
                    "unaligned"
                );
            }
        }
    }
});
