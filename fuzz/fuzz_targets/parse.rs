//! nbdkit_parse_* behind the exported functions and the command line:
//! sizes, delays, booleans from any text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nbdkit_fuzz::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = parse::size(s) {
        assert!(n <= i64::MAX as u64);
    }
    let _ = parse::delay(s);
    let _ = parse::boolean(s);
});
