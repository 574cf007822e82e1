//! Option headers and the payload parsers of the handshake: no panic, and
//! what they accept obeys nbdkit's limits (names and queries at most 4096
//! bytes, never a NUL).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nbdkit_fuzz::protocol::handshake as hs;

fn clean(s: &[u8]) -> bool {
    s.len() <= 4096 && !s.contains(&0)
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= hs::OPTION_HEADER_LEN {
        let _ = hs::OptionHeader::parse(data[..hs::OPTION_HEADER_LEN].try_into().unwrap());
    }
    if let Ok(n) = hs::parse_export_name(data) {
        assert!(clean(&n));
    }
    if let Ok(i) = hs::parse_info(data, "NBD_OPT_GO") {
        assert!(clean(&i.export_name));
    }
    if let Ok(m) = hs::parse_meta(data, "NBD_OPT_SET_META_CONTEXT") {
        assert!(clean(&m.export_name));
        assert!(m.queries.iter().all(|q| clean(q)));
    }
});
