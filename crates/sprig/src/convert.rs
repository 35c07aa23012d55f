//! Argument checking and Go's conversions, shared by every function module.
//!
//! Go's template engine checks a function's arity and argument types by
//! reflection before calling it; these helpers reproduce those checks and
//! their messages. The `to_*` conversions are those of the `cast` package
//! Sprig uses (`cast.ToInt64`, `cast.ToFloat64`, …): a value that does not
//! convert becomes zero, never an error.

use caravel_gotemplate::{FuncError, Value};

/// Checks an exact argument count, with Go's message.
pub fn want(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::new(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// Checks the argument count of a variadic function (`n` fixed arguments
/// and any number after them).
pub fn want_at_least(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() < n {
        return Err(FuncError::new(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn wrong_type(expected: &str, got: &Value) -> FuncError {
    FuncError::new(format!(
        "wrong type for value; expected {expected}; got {}",
        got.type_name()
    ))
}

/// A `string` parameter: only a string is assignable.
pub fn string_arg(v: &Value) -> Result<&str, FuncError> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

/// An `int`/`int64` parameter: an integer (Go converts an untyped integer
/// constant; a float64 from values is not assignable).
pub fn int_arg(v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(wrong_type("int", v)),
    }
}

/// A `float64` parameter: a float, or an integer constant.
pub fn float_arg(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        _ => Err(wrong_type("float64", v)),
    }
}

/// A `bool` parameter.
pub fn bool_arg(v: &Value) -> Result<bool, FuncError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_type("bool", v)),
    }
}

/// A `[]interface{}` parameter: a list, or nil (a nil slice).
pub fn list_arg(v: &Value) -> Result<&[Value], FuncError> {
    match v {
        Value::List(items) => Ok(items),
        Value::Nil => Ok(&[]),
        _ => Err(wrong_type("[]interface {}", v)),
    }
}

/// A `map[string]interface{}` parameter: a map, or nil (a nil map).
pub fn map_arg(v: &Value) -> Result<Option<&std::collections::BTreeMap<String, Value>>, FuncError> {
    match v {
        Value::Map(map) => Ok(Some(map)),
        Value::Nil => Ok(None),
        _ => Err(wrong_type("map[string]interface {}", v)),
    }
}

/// A `map[string]interface{}` parameter that may be a map of either kind
/// (a [`Value::SharedMap`] is read as a snapshot), or nil (a nil map).
pub fn dict_arg(
    v: &Value,
) -> Result<Option<std::sync::Arc<std::collections::BTreeMap<String, Value>>>, FuncError> {
    match v {
        Value::Nil => Ok(None),
        other => other
            .as_map()
            .map(Some)
            .ok_or_else(|| wrong_type("map[string]interface {}", other)),
    }
}

/// Sprig's `strval`: a string as it is, anything else as `fmt.Sprint`
/// prints it (nil is `<nil>`).
pub fn to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => caravel_gotemplate::fmt::sprint_value(other),
    }
}

/// Sprig's `strslice`: a list's non-nil items as strings, nil as an empty
/// list, anything else as a one-item list.
pub fn to_strings(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items
            .iter()
            .filter(|item| !item.is_nil())
            .map(to_string)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![to_string(other)],
    }
}

/// `cast.ToInt64`: integers as they are, floats truncated, strings parsed
/// as Go's `strconv.ParseInt(s, 0, 0)` (with a `.0…` suffix dropped), true
/// as 1; everything else is 0.
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.is_finite() => *f as i64,
        Value::Bool(true) => 1,
        Value::String(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// `cast.ToFloat64`: numbers as floats, strings parsed as Go's
/// `strconv.ParseFloat`, true as 1; everything else is 0.
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(true) => 1.0,
        Value::String(s) => parse_go_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    match s.split_once('.') {
        Some((int, frac)) if !int.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        _ => s,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, `0x`/`0o`/`0b`/`0`
/// prefixes, underscores between digits only with a prefix.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned(), true)
    } else {
        (10, lower, false)
    };
    let digits = if prefixed {
        if digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
            return None;
        }
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms charts use: decimal and
/// exponent notation, `inf`/`infinity`/`nan` in any case, with a sign.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let unsigned = s.trim_start_matches(['+', '-']);
    let special = unsigned.to_ascii_lowercase();
    if matches!(special.as_str(), "inf" | "infinity" | "nan") {
        return s.parse::<f64>().ok();
    }
    if unsigned.is_empty()
        || !unsigned
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
    {
        return None;
    }
    if unsigned.contains(['x', 'X', '_']) {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ints_parse_as_go_does() {
        assert_eq!(parse_go_int("42"), Some(42));
        assert_eq!(parse_go_int("-0x1f"), Some(-31));
        assert_eq!(parse_go_int("0755"), Some(0o755));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("1_000"), None);
        assert_eq!(parse_go_int("0x1_0"), Some(16));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int("9223372036854775808"), None);
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_int("1.5"), None);
    }

    #[test]
    fn cast_conversions_fall_back_to_zero() {
        assert_eq!(to_int64(&Value::from("12.000")), 12);
        assert_eq!(to_int64(&Value::from("12.5")), 0);
        assert_eq!(to_int64(&Value::Float(3.9)), 3);
        assert_eq!(to_int64(&Value::Bool(true)), 1);
        assert_eq!(to_int64(&Value::Nil), 0);
        assert_eq!(to_float64(&Value::from("2.5")), 2.5);
        assert_eq!(to_float64(&Value::from("abc")), 0.0);
        assert_eq!(to_float64(&Value::Int(2)), 2.0);
    }

    #[test]
    fn strings_print_as_sprig_does() {
        assert_eq!(to_string(&Value::Nil), "<nil>");
        assert_eq!(to_string(&Value::Float(1e6)), "1e+06");
        assert_eq!(
            to_strings(&Value::list([Value::Int(1), Value::Nil, Value::from("a")])),
            vec!["1".to_owned(), "a".to_owned()]
        );
    }

    #[test]
    fn argument_types_are_checked_with_gos_message() {
        let err = string_arg(&Value::Float(1.0)).unwrap_err();
        assert_eq!(
            err.message,
            "wrong type for value; expected string; got float64"
        );
        assert!(want("trunc", &[Value::Nil], 2).is_err());
        assert!(list_arg(&Value::Nil).unwrap().is_empty());
    }
}
