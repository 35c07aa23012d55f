//! Go's `time.Duration`: `String()` (`1h2m3.5s`) and `time.ParseDuration`.

/// Go's `Duration.String()` of `nanos` nanoseconds.
pub fn to_string(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let negative = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Below a second: one unit with a fraction.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, scale));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let frac = u % 1_000_000_000;
        let hours = secs / 3600;
        let minutes = secs / 60 % 60;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if hours > 0 || minutes > 0 {
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&fraction((secs % 60) * 1_000_000_000 + frac, 1_000_000_000));
        out.push('s');
    }
    if negative {
        format!("-{out}")
    } else {
        out
    }
}

/// `value / scale` with the remainder as a decimal fraction, trailing
/// zeros dropped.
fn fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Go's `time.ParseDuration`, in nanoseconds, with Go's error texts.
pub fn parse(text: &str) -> Result<i64, String> {
    let quoted = caravel_gotemplate::fmt::quote(text, false);
    let invalid = || format!("time: invalid duration {quoted}");
    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let whole: u64 = if int_len == 0 {
            0
        } else {
            s[..int_len].parse().map_err(|_| invalid())?
        };
        s = &s[int_len..];
        let mut frac_digits = "";
        let had_point = s.starts_with('.');
        if had_point {
            s = &s[1..];
            let n = s.bytes().take_while(u8::is_ascii_digit).count();
            frac_digits = &s[..n];
            s = &s[n..];
        }
        if int_len == 0 && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {quoted}"));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale: u64 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {quoted}",
                    caravel_gotemplate::fmt::quote(unit, false)
                ))
            }
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_digits.is_empty() {
            let mut fraction = 0.0;
            let mut place = 1.0;
            for d in frac_digits.bytes() {
                place /= 10.0;
                fraction += f64::from(d - b'0') * place;
            }
            value = value
                .checked_add((fraction * scale as f64) as u64)
                .ok_or_else(invalid)?;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > 1 << 63 {
            return Err(invalid());
        }
    }
    if negative {
        Ok(0i64.wrapping_sub_unsigned(total))
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(to_string(0), "0s");
        assert_eq!(to_string(1), "1ns");
        assert_eq!(to_string(1_500), "1.5µs");
        assert_eq!(to_string(2_000_000), "2ms");
        assert_eq!(to_string(95_000_000_000), "1m35s");
        assert_eq!(to_string(3_600_000_000_000), "1h0m0s");
        assert_eq!(to_string(-5_500_000_000), "-5.5s");
    }

    #[test]
    fn durations_parse_as_go_does() {
        assert_eq!(parse("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse("-1.5s").unwrap(), -1_500_000_000);
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("x").unwrap_err(), "time: invalid duration \"x\"");
        assert_eq!(
            parse("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
    }
}
