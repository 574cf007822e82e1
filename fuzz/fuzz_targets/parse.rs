//! nbdkit_parse_* behind the exported functions and the command line:
//! sizes, integers, delays, booleans from any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nbdkit_fuzz::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = parse::size(data) {
        assert!(n <= i64::MAX as u64);
    }
    if let Ok(n) = parse::integer("i", data, true, i32::MIN as i128, i32::MAX as i128) {
        assert!((i32::MIN as i128..=i32::MAX as i128).contains(&n));
    }
    if let Ok(n) = parse::integer("u", data, false, 0, u64::MAX as i128) {
        assert!((0..=u64::MAX as i128).contains(&n));
    }
    let _ = parse::boolean(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse::delay(s);
    }
});
