//! The option negotiation state machine driven by a stream of options:
//! no panic, every reply a well-formed sequence of option replies to the
//! option asked, and nothing after a transition that leaves negotiation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nbdkit_fuzz::protocol::consts::NBD_REP_MAGIC;
use nbdkit_fuzz::protocol::negotiate::{Nego, Next, Policy, TlsMode};

/// Reply bytes must be whole replies, each for `opt`.
fn check_replies(mut b: &[u8], opt: u32) {
    while !b.is_empty() {
        assert!(b.len() >= 20, "truncated reply");
        assert_eq!(&b[0..8], &NBD_REP_MAGIC.to_be_bytes());
        assert_eq!(u32::from_be_bytes(b[8..12].try_into().unwrap()), opt);
        let len = u32::from_be_bytes(b[16..20].try_into().unwrap()) as usize;
        assert!(b.len() >= 20 + len, "reply payload truncated");
        b = &b[20 + len..];
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let policy = Policy {
        tls: match data[0] % 3 {
            0 => TlsMode::Off,
            1 => TlsMode::On,
            _ => TlsMode::Require,
        },
        no_sr: data[0] & 4 != 0,
        no_mc: data[0] & 8 != 0,
    };
    let flags = u32::from(data[1] & 7);
    let Ok(mut nego) = Nego::from_client_flags(flags) else {
        return;
    };
    // Options: a byte picks the option (small numbers are the real ones),
    // two bytes the payload length, then the payload.
    let mut rest = &data[2..];
    while rest.len() >= 3 {
        let opt = u32::from(rest[0] % 16);
        let len = (usize::from(u16::from_le_bytes([rest[1], rest[2]])) % 512).min(rest.len() - 3);
        let payload = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let t = nego.option(&policy, opt, payload);
        check_replies(&t.reply, opt);
        match t.next {
            Next::Options => {}
            _ => break,
        }
    }
});
