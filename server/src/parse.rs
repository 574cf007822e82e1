//! Parsers for human-entered values, with nbdkit 1.32's rules and messages.
//! Shared by the command line, the built-in plugins and the exported
//! `nbdkit_parse_*` functions.

/// Parse a size such as `1G`, `512M`, `2s` (sectors of 512), `100` or `1b`.
/// Suffixes are powers of 1024 up to `E`; the result must fit in an `i64`.
pub fn size(s: &str) -> Result<u64, String> {
    let t = s.trim_start();
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(format!("could not parse size string ({s})"));
    }
    let (num, suffix) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| format!("size ({s}) too large"))?;
    let scale: u64 = match suffix {
        "" | "b" | "B" => 1,
        "s" | "S" => 512,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        "t" | "T" => 1 << 40,
        "p" | "P" => 1 << 50,
        "e" | "E" => 1 << 60,
        _ => {
            // nbdkit names the suffix from its first unparsed character on.
            return Err(format!("could not parse size: unknown suffix '{suffix}'"));
        }
    };
    n.checked_mul(scale)
        .filter(|v| *v <= i64::MAX as u64)
        .ok_or_else(|| format!("overflow computing size ({s})"))
}

/// Parse a delay as nbdkit_parse_delay(3) does: a non-negative decimal
/// number of seconds, or with a unit `s`, `ms`, `us`/`μs` or `ns`.
pub fn delay(s: &str) -> Result<std::time::Duration, String> {
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
        _ => return Err(format!("could not parse delay: {s}")),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(format!("could not parse delay: {s}"));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| format!("delay too large: {s}"))?
    };
    let mut ns = whole
        .checked_mul(scale_ns)
        .ok_or_else(|| format!("delay too large: {s}"))?;
    // Digits after the point, each a tenth of the one before.
    let mut place = scale_ns;
    for d in frac.bytes() {
        place /= 10;
        ns += u128::from(d - b'0') * place;
    }
    let secs = u64::try_from(ns / 1_000_000_000).map_err(|_| format!("delay too large: {s}"))?;
    if secs > u64::from(u32::MAX) {
        return Err(format!("delay too large: {s}"));
    }
    Ok(std::time::Duration::new(secs, (ns % 1_000_000_000) as u32))
}

/// Parse a boolean such as `on`, `yes`, `1`, `true` (any case).
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Ok(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!("could not decipher boolean ({s})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_nbdkit_parses_them() {
        assert_eq!(size("1G"), Ok(1 << 30));
        assert_eq!(size("1g"), Ok(1 << 30));
        assert_eq!(size("2s"), Ok(1024));
        assert_eq!(size("1b"), Ok(1));
        assert_eq!(size(" 5"), Ok(5));
        assert_eq!(size("010"), Ok(10));
        assert_eq!(size("1E"), Ok(1 << 60));
        assert_eq!(size("8E"), Err("overflow computing size (8E)".into()));
        assert_eq!(
            size("1MiB"),
            Err("could not parse size: unknown suffix 'MiB'".into())
        );
        assert_eq!(
            size("1.5G"),
            Err("could not parse size: unknown suffix '.5G'".into())
        );
        assert_eq!(size("abc"), Err("could not parse size string (abc)".into()));
        assert_eq!(size(""), Err("could not parse size string ()".into()));
        assert!(size("99999999999999999999999").is_err());
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean("ON"), Ok(true));
        assert_eq!(boolean("n"), Ok(false));
        assert!(boolean("x").is_err());
    }
}
