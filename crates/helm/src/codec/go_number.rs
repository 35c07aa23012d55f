//! Go's `strconv.FormatFloat(f, 'g', -1, 64)` as the YAML and TOML
//! encoders need it (`encoding/json`'s number text is
//! `caravel_sprig::json::format_float`).

/// The shortest round-trip decimal digits of `f` (no sign) and the decimal
/// exponent `dp`: the value is `0.DIGITS × 10^dp`.
fn shortest_digits(f: f64) -> (String, i32) {
    let text = format!("{:e}", f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return ("0".to_owned(), 1);
    }
    (digits.to_owned(), exp + 1)
}

fn fixed(digits: &str, dp: i32) -> String {
    if dp <= 0 {
        format!("0.{}{}", "0".repeat(dp.unsigned_abs() as usize), digits)
    } else if dp as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(dp as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        format!("{int}.{frac}")
    }
}

fn exponent(digits: &str, dp: i32, min_exp_digits: usize) -> String {
    let exp = dp - 1;
    let (first, rest) = digits.split_at(1);
    let mantissa = if rest.is_empty() {
        first.to_owned()
    } else {
        format!("{first}.{rest}")
    };
    let sign = if exp < 0 { '-' } else { '+' };
    format!(
        "{mantissa}e{sign}{:0width$}",
        exp.unsigned_abs(),
        width = min_exp_digits
    )
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, with YAML's spellings of the
/// non-finite values as yaml.v2 writes them.
pub(crate) fn format_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    // With the shortest precision Go switches to %e from exponent 6 on.
    let body = if !(-4..6).contains(&exp) {
        exponent(&digits, dp, 2)
    } else {
        fixed(&digits, dp)
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format_switches_to_exponent_like_go() {
        assert_eq!(format_g(1.5), "1.5");
        assert_eq!(format_g(100000.0), "100000");
        assert_eq!(format_g(1e6), "1e+06");
        assert_eq!(format_g(1234567.5), "1.2345675e+06");
        assert_eq!(format_g(1e-7), "1e-07");
        assert_eq!(format_g(0.0001), "0.0001");
        assert_eq!(format_g(1.5e300), "1.5e+300");
        assert_eq!(format_g(-0.0), "-0");
        assert_eq!(format_g(f64::NEG_INFINITY), "-.inf");
    }
}
