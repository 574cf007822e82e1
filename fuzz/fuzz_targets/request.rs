//! Transmission requests: any bytes, as a connection holds them, through
//! the request side's `next` (magic, header, validation against export
//! capabilities chosen by the fuzzer), then the payload counted in.  What
//! validation lets through must stay inside the export; nothing is taken
//! beyond the bytes there are.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nbdkit_fuzz::protocol::requests::{self, Next, Payload, Serving};
use nbdkit_fuzz::protocol::transmission as tx;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let (knobs, input) = data.split_at(12);
    let bits = u32::from_le_bytes(knobs[0..4].try_into().unwrap());
    let extended = bits & (1 << 17) != 0;
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
    let serving = match (bits >> 5) & 3 {
        1 => Serving::ShuttingDown,
        2 => Serving::Disconnecting,
        _ => Serving::Yes,
    };
    let header_len = tx::Request::header_len(extended);
    match requests::next(input, &caps, serving) {
        Next::NeedBytes => assert!(input.len() < header_len),
        Next::Broken(_) => {}
        Next::Disconnect { header_len: n } => assert_eq!(n, header_len),
        Next::Request {
            req,
            header_len: n,
            verdict,
        } => {
            assert!(n == header_len && n <= input.len());
            if let Ok(v) = &verdict {
                assert!(serving == Serving::Yes);
                if v.cmd != tx::Command::Flush {
                    let end = req.offset.checked_add(req.count);
                    assert!(end.is_some_and(|e| e <= caps.size), "{req:?} {caps:?}");
                }
            }
            let mut payload = Payload::new(req.payload_len(), verdict.is_ok());
            let rest = input.len() - n;
            let took = payload.take(rest);
            assert!(took <= rest && took as u64 <= req.payload_len());
            assert_eq!(payload.is_complete(), payload.missing() == 0);
        }
    }
});
