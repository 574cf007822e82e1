//! Parsers for human-entered values, with nbdkit 1.32's rules and messages.
//! Shared by the command line, the built-in plugins and the exported
//! `nbdkit_parse_*` functions.  Pure functions over bytes: what C's
//! `strtoll`/`strtoimax` accept, without calling them.

use crate::error::{Error, Result};

/// C's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What C's `strto*` functions read from the front of `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scanned {
    negative: bool,
    /// The digits' value, saturated at `u128::MAX`.
    magnitude: u128,
    /// Bytes consumed; 0 when no digits were found (C then sets
    /// `*endptr` to the start, whitespace and sign included).
    end: usize,
}

/// Scan a number as `strtol(s, &end, base)` does for base 0 (`0x` hex,
/// leading-zero octal, else decimal) or base 10.
fn scan(s: &[u8], base0: bool) -> Scanned {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let mut radix = 10;
    if base0 && i < s.len() && s[i] == b'0' {
        let hex = s.get(i + 1).is_some_and(|c| *c == b'x' || *c == b'X')
            && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit());
        if hex {
            radix = 16;
            i += 2;
        } else {
            radix = 8;
        }
    }
    let start = i;
    let mut magnitude: u128 = 0;
    while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(radix)) {
        magnitude = magnitude
            .saturating_mul(radix as u128)
            .saturating_add(d as u128);
        i += 1;
    }
    Scanned {
        negative,
        magnitude,
        end: if i == start { 0 } else { i },
    }
}

/// Text of `s` for a message (its bytes, invalid UTF-8 replaced).
fn shown(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

const ERANGE_TEXT: &str = "Numerical result out of range";

/// `nbdkit_parse_int` and friends: a number in C syntax (`0x` hex,
/// leading-zero octal, decimal; leading whitespace and sign) filling the
/// whole string and in `min..=max`; for unsigned targets no minus sign
/// at all.  The error is nbdkit's message, `what` first.
pub fn integer(what: &str, s: &[u8], signed: bool, min: i128, max: i128) -> Result<i128> {
    // Checked first: strtoull would accept a minus sign and wrap.
    if !signed && s.iter().find(|b| !is_c_space(**b)) == Some(&b'-') {
        return Err(Error::einval(format!(
            "{what}: negative numbers are not allowed"
        )));
    }
    let n = scan(s, true);
    let text = shown(s);
    // strtoll clamps to i64, strtoull to u64 (a negative value wraps).
    let (value, erange) = if signed {
        let limit = if n.negative {
            1u128 << 63
        } else {
            (1u128 << 63) - 1
        };
        let m = n.magnitude.min(limit) as i128;
        (if n.negative { -m } else { m }, n.magnitude > limit)
    } else {
        let erange = n.magnitude > u64::MAX as u128;
        (n.magnitude.min(u64::MAX as u128) as i128, erange)
    };
    if erange {
        return Err(Error::new(
            libc::ERANGE,
            format!("{what}: could not parse number: \"{text}\": {ERANGE_TEXT}"),
        ));
    }
    if n.end == 0 {
        return Err(Error::einval(format!(
            "{what}: empty string where we expected a number"
        )));
    }
    if n.end != s.len() {
        return Err(Error::einval(format!(
            "{what}: could not parse number: \"{text}\": trailing garbage"
        )));
    }
    if value < min || value > max {
        return Err(Error::new(
            libc::ERANGE,
            format!("{what}: could not parse number: \"{text}\": {ERANGE_TEXT}"),
        ));
    }
    Ok(value)
}

/// Parse a size such as `1G`, `512M`, `2s` (sectors of 512), `100` or `1b`
/// as `nbdkit_parse_size`: a decimal number (leading whitespace and sign
/// allowed, as `strtoimax` reads it), then at most one suffix, powers of
/// 1024 up to `E`; the result must fit in an `i64`.
pub fn size(s: &[u8]) -> Result<u64> {
    // The messages are nbdkit 1.44.1's: "<what went wrong>: <the text from
    // where it went wrong>".
    let text = shown(s);
    let n = scan(s, false);
    if n.end == 0 {
        return Err(Error::einval(format!(
            "could not parse size string: {text}"
        )));
    }
    if n.negative && n.magnitude != 0 {
        return Err(Error::einval(format!("size cannot be negative: {text}")));
    }
    if n.magnitude > i64::MAX as u128 {
        return Err(Error::einval(format!("size exceeds maximum value: {text}")));
    }
    let rest = &s[n.end..];
    let (scale, used): (u64, usize) = match rest.first() {
        None => (1, 0),
        Some(b'b' | b'B') => (1, 1),
        Some(b's' | b'S') => (512, 1),
        Some(b'k' | b'K') => (1 << 10, 1),
        Some(b'm' | b'M') => (1 << 20, 1),
        Some(b'g' | b'G') => (1 << 30, 1),
        Some(b't' | b'T') => (1 << 40, 1),
        Some(b'p' | b'P') => (1 << 50, 1),
        Some(b'e' | b'E') => (1 << 60, 1),
        Some(_) => (1, 0),
    };
    if (n.magnitude as u64)
        .checked_mul(scale)
        .filter(|v| *v <= i64::MAX as u64)
        .is_none()
    {
        return Err(Error::einval(format!(
            "could not parse size: size * scale overflows: {text}"
        )));
    }
    if rest.len() > used {
        // Named from the first character after the one suffix letter.
        return Err(Error::einval(format!(
            "could not parse size: unknown suffix: {}",
            shown(&rest[used..])
        )));
    }
    Ok(n.magnitude as u64 * scale)
}

/// Parse a delay as nbdkit_parse_delay(3) does: a non-negative decimal
/// number of seconds, or with a unit `s`, `ms`, `us`/`μs` or `ns`.
pub fn delay(s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    let num_len = t
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (num, unit) = t.split_at(num_len);
    let scale_ns: u128 = match unit {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "us" | "μs" => 1_000,
        "ns" => 1,
        _ => return Err(Error::einval(format!("could not parse delay: {s}"))),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(Error::einval(format!("could not parse delay: {s}")));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| Error::einval(format!("delay too large: {s}")))?
    };
    let mut ns = whole
        .checked_mul(scale_ns)
        .ok_or_else(|| Error::einval(format!("delay too large: {s}")))?;
    // Digits after the point, each a tenth of the one before.
    let mut place = scale_ns;
    for d in frac.bytes() {
        place /= 10;
        ns += u128::from(d - b'0') * place;
    }
    let secs = u64::try_from(ns / 1_000_000_000)
        .map_err(|_| Error::einval(format!("delay too large: {s}")))?;
    if secs > u64::from(u32::MAX) {
        return Err(Error::einval(format!("delay too large: {s}")));
    }
    Ok(std::time::Duration::new(secs, (ns % 1_000_000_000) as u32))
}

/// Parse a boolean such as `on`, `yes`, `1`, `true` (any case).
pub fn boolean(s: &[u8]) -> Result<bool> {
    match s.to_ascii_lowercase().as_slice() {
        b"1" | b"true" | b"t" | b"yes" | b"y" | b"on" => Ok(true),
        b"0" | b"false" | b"f" | b"no" | b"n" | b"off" => Ok(false),
        _ => Err(Error::einval(format!(
            "could not decipher boolean ({})",
            shown(s)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn einval(msg: &str) -> Error {
        Error::einval(msg)
    }
    fn erange(msg: &str) -> Error {
        Error::new(libc::ERANGE, msg)
    }

    fn sz(s: &str) -> Result<u64> {
        size(s.as_bytes())
    }

    #[test]
    fn sizes_as_nbdkit_parses_them() {
        assert_eq!(sz("1G"), Ok(1 << 30));
        assert_eq!(sz("1g"), Ok(1 << 30));
        assert_eq!(sz("2s"), Ok(1024));
        assert_eq!(sz("1b"), Ok(1));
        assert_eq!(sz(" 5"), Ok(5));
        assert_eq!(sz("\t5"), Ok(5));
        assert_eq!(sz("010"), Ok(10));
        assert_eq!(sz("+1M"), Ok(1 << 20));
        assert_eq!(sz("-0"), Ok(0));
        assert_eq!(sz("1E"), Ok(1 << 60));
        assert_eq!(sz("9223372036854775807"), Ok(i64::MAX as u64));
        // C nbdkit 1.44.1's messages for the same inputs.
        for (input, message) in [
            ("8E", "could not parse size: size * scale overflows: 8E"),
            ("-1", "size cannot be negative: -1"),
            ("-1x", "size cannot be negative: -1x"),
            (
                "-9223372036854775809",
                "size cannot be negative: -9223372036854775809",
            ),
            (
                "9223372036854775808",
                "size exceeds maximum value: 9223372036854775808",
            ),
            (
                "99999999999999999999x",
                "size exceeds maximum value: 99999999999999999999x",
            ),
            ("1MiB", "could not parse size: unknown suffix: iB"),
            ("1.5G", "could not parse size: unknown suffix: .5G"),
            ("0x10", "could not parse size: unknown suffix: x10"),
            ("abc", "could not parse size string: abc"),
            ("", "could not parse size string: "),
            ("-", "could not parse size string: -"),
            ("+", "could not parse size string: +"),
            ("1bb", "could not parse size: unknown suffix: b"),
            ("1Kx", "could not parse size: unknown suffix: x"),
        ] {
            assert_eq!(sz(input), Err(einval(message)), "{input}");
        }
    }

    fn int(s: &str) -> Result<i128> {
        integer(
            "int",
            s.as_bytes(),
            true,
            i32::MIN as i128,
            i32::MAX as i128,
        )
    }
    fn u64p(s: &str) -> Result<i128> {
        integer("u", s.as_bytes(), false, 0, u64::MAX as i128)
    }

    #[test]
    fn integers_as_strtol_reads_them() {
        assert_eq!(int("0x10"), Ok(16));
        assert_eq!(int("010"), Ok(8));
        assert_eq!(int(" +0x1f"), Ok(31));
        assert_eq!(int("-0"), Ok(0));
        assert_eq!(int("-2147483648"), Ok(-2147483648));
        assert_eq!(
            int(""),
            Err(einval("int: empty string where we expected a number"))
        );
        assert_eq!(
            int("x"),
            Err(einval("int: empty string where we expected a number"))
        );
        assert_eq!(
            int("0x"),
            Err(einval(
                "int: could not parse number: \"0x\": trailing garbage"
            ))
        );
        assert_eq!(
            int("08"),
            Err(einval(
                "int: could not parse number: \"08\": trailing garbage"
            ))
        );
        assert_eq!(
            int("1 "),
            Err(einval(
                "int: could not parse number: \"1 \": trailing garbage"
            ))
        );
        assert_eq!(
            int("2147483648"),
            Err(erange(
                "int: could not parse number: \"2147483648\": Numerical result out of range"
            ))
        );
        assert_eq!(u64p("18446744073709551615"), Ok(u64::MAX as i128));
        assert_eq!(
            u64p("18446744073709551616"),
            Err(erange("u: could not parse number: \"18446744073709551616\": Numerical result out of range"))
        );
        assert_eq!(
            u64p("-0"),
            Err(einval("u: negative numbers are not allowed"))
        );
        assert_eq!(
            u64p(" -1"),
            Err(einval("u: negative numbers are not allowed"))
        );
        assert_eq!(
            u64p("-x"),
            Err(einval("u: negative numbers are not allowed"))
        );
        assert_eq!(
            u64p("-99999999999999999999"),
            Err(einval("u: negative numbers are not allowed"))
        );
        assert_eq!(
            u64p("+-5"),
            Err(einval("u: empty string where we expected a number"))
        );
        assert_eq!(
            integer("i64", b"-9223372036854775809", true, i64::MIN as i128, i64::MAX as i128),
            Err(erange("i64: could not parse number: \"-9223372036854775809\": Numerical result out of range"))
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean(b"ON"), Ok(true));
        assert_eq!(boolean(b"n"), Ok(false));
        assert!(boolean(b"x").is_err());
        assert!(boolean(b"").is_err());
    }

    #[test]
    fn delays_in_nbdkit_parse_delay_formats() {
        use std::time::Duration;
        assert_eq!(delay("60"), Ok(Duration::from_secs(60)));
        assert_eq!(delay("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(delay("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(delay("120ms"), Ok(Duration::from_millis(120)));
        assert_eq!(delay("1.2us"), Ok(Duration::from_nanos(1200)));
        assert_eq!(delay("3μs"), Ok(Duration::from_micros(3)));
        assert_eq!(delay("1ns"), Ok(Duration::from_nanos(1)));
        assert_eq!(delay("0"), Ok(Duration::ZERO));
        assert_eq!(delay(".5"), Ok(Duration::from_millis(500)));
        for bad in [
            "",
            "abc",
            "-1",
            "1.2.3",
            "5m",
            "1 s",
            ".",
            "99999999999999999999",
        ] {
            assert!(delay(bad).is_err(), "{bad:?}");
        }
    }
}
