//! Transmission requests: any compact or extended header parsed, then
//! validated against export capabilities chosen by the fuzzer.  What
//! validation lets through must stay inside the export.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nbdkit_fuzz::protocol::transmission as tx;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 + tx::EXTENDED_REQUEST_LEN {
        return;
    }
    let (knobs, head) = data.split_at(12);
    let bits = u32::from_le_bytes(knobs[0..4].try_into().unwrap());
    let extended = bits & (1 << 17) != 0;
    let Ok(req) = tx::Request::parse(head, extended) else {
        return;
    };
    let size = u64::from_le_bytes(knobs[4..12].try_into().unwrap()) >> (bits & 31);
    let min = 1u32 << ((bits >> 20) & 15);
    let caps = tx::ExportCaps {
        size,
        readonly: bits & (1 << 8) != 0,
        structured: bits & (1 << 9) != 0 || extended,
        extended,
        can_zero: bits & (1 << 10) != 0,
        can_fast_zero: bits & (1 << 11) != 0,
        can_trim: bits & (1 << 12) != 0,
        can_fua: bits & (1 << 13) != 0,
        can_flush: bits & (1 << 14) != 0,
        can_cache: bits & (1 << 15) != 0,
        base_allocation: bits & (1 << 16) != 0,
        block_size: (bits & (1 << 18) != 0).then_some((min, 32 << 20)),
        enforce_block_size: bits & (1 << 7) != 0,
        error_messages: bits & (1 << 19) != 0,
    };
    let _ = req.payload_len();
    if tx::validate(&req, &caps).is_ok_and(|v| v.cmd != tx::Command::Flush) {
        let end = req.offset.checked_add(req.count);
        assert!(end.is_some_and(|e| e <= caps.size), "{req:?} {caps:?}");
    }
});
