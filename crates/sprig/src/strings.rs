//! Sprig's string functions (`trunc`, `indent`, `quote`, `snakecase`,
//! `split`, `join`, …) with Sprig's argument order and Go's semantics:
//! lengths and offsets in bytes, Go's simple Unicode case mappings, and
//! the panics Go raises (`substr` out of range, a negative `repeat`) as
//! call errors.

mod unicode;
mod words;

pub(crate) use unicode::{is_digit as is_go_digit, is_letter as is_go_letter};

use std::collections::BTreeMap;

use caravel_gotemplate::{FuncError, Funcs, Value};

use crate::convert::{int_arg, string_arg, to_string, to_strings, want};

/// The largest string `repeat`, `indent` and `nindent` build; Go has no
/// limit short of memory, a renderer must have one.
const MAX_BUILT_LEN: usize = 64 << 20;

/// A function of one string.
type StringFn = fn(&str) -> String;

/// A function of two strings.
type PairFn = fn(&str, &str) -> Value;

/// Registers the string functions.
pub fn register(funcs: &mut Funcs) {
    // One string in, one string out.
    let unary: [(&str, StringFn); 12] = [
        ("trim", |s| s.trim().to_owned()),
        ("upper", unicode::upper),
        ("lower", unicode::lower),
        ("title", words::title),
        ("untitle", words::uncapitalize),
        ("nospace", words::delete_white_space),
        ("initials", words::initials),
        ("swapcase", words::swap_case),
        ("shuffle", words::shuffle),
        ("snakecase", |s| words::to_lower_words(s, '_')),
        ("kebabcase", |s| words::to_lower_words(s, '-')),
        ("camelcase", words::to_pascal_case),
    ];
    for (name, f) in unary {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            Ok(Value::from(f(string_arg(&args[0])?)))
        });
    }

    // Two strings in (Sprig swaps Go's order so the subject can be piped).
    let binary: [(&str, PairFn); 8] = [
        ("trimAll", |cutset, s| {
            Value::from(s.trim_matches(|c| cutset.contains(c)))
        }),
        ("trimall", |cutset, s| {
            Value::from(s.trim_matches(|c| cutset.contains(c)))
        }),
        ("trimSuffix", |suffix, s| {
            Value::from(s.strip_suffix(suffix).unwrap_or(s))
        }),
        ("trimPrefix", |prefix, s| {
            Value::from(s.strip_prefix(prefix).unwrap_or(s))
        }),
        ("contains", |sub, s| Value::Bool(s.contains(sub))),
        ("hasPrefix", |prefix, s| Value::Bool(s.starts_with(prefix))),
        ("hasSuffix", |suffix, s| Value::Bool(s.ends_with(suffix))),
        ("splitList", |sep, s| {
            Value::list(go_split(s, sep, -1).into_iter().map(Value::from))
        }),
    ];
    for (name, f) in binary {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            Ok(f(string_arg(&args[0])?, string_arg(&args[1])?))
        });
    }

    funcs.insert("split", |_, args| {
        want("split", args, 2)?;
        let sep = string_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(indexed_map(go_split(s, sep, -1)))
    });
    funcs.insert("splitn", |_, args| {
        want("splitn", args, 3)?;
        let sep = string_arg(&args[0])?;
        let n = int_arg(&args[1])?;
        let s = string_arg(&args[2])?;
        Ok(indexed_map(go_split(s, sep, n)))
    });
    funcs.insert("join", |_, args| {
        want("join", args, 2)?;
        let sep = string_arg(&args[0])?;
        Ok(Value::from(to_strings(&args[1]).join(sep)))
    });
    funcs.insert("sortAlpha", |_, args| {
        want("sortAlpha", args, 1)?;
        let mut items = match &args[0] {
            Value::List(_) => to_strings(&args[0]),
            other => vec![to_string(other)],
        };
        items.sort_unstable();
        Ok(Value::list(items.into_iter().map(Value::from)))
    });
    funcs.insert("toString", |_, args| {
        want("toString", args, 1)?;
        Ok(Value::from(to_string(&args[0])))
    });
    funcs.insert("quote", |_, args| {
        let quoted: Vec<String> = args
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| caravel_gotemplate::fmt::quote(&to_string(v), false))
            .collect();
        Ok(Value::from(quoted.join(" ")))
    });
    funcs.insert("squote", |_, args| {
        let quoted: Vec<String> = args
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| format!("'{}'", caravel_gotemplate::fmt::sprint_value(v)))
            .collect();
        Ok(Value::from(quoted.join(" ")))
    });
    funcs.insert("cat", |_, args| {
        let parts: Vec<String> = args
            .iter()
            .filter(|v| !v.is_nil())
            .map(caravel_gotemplate::fmt::sprint_value)
            .collect();
        Ok(Value::from(parts.join(" ")))
    });
    funcs.insert("trunc", |_, args| {
        want("trunc", args, 2)?;
        let count = int_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(Value::from(trunc(count, s)))
    });
    funcs.insert("substr", |_, args| {
        want("substr", args, 3)?;
        let start = int_arg(&args[0])?;
        let end = int_arg(&args[1])?;
        let s = string_arg(&args[2])?;
        Ok(Value::from(substr(start, end, s)?))
    });
    funcs.insert("abbrev", |_, args| {
        want("abbrev", args, 2)?;
        let width = int_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        if width < 4 {
            return Ok(Value::from(s));
        }
        Ok(Value::from(
            words::abbreviate_full(s, 0, width).unwrap_or_default(),
        ))
    });
    funcs.insert("abbrevboth", |_, args| {
        want("abbrevboth", args, 3)?;
        let left = int_arg(&args[0])?;
        let right = int_arg(&args[1])?;
        let s = string_arg(&args[2])?;
        if right < 4 || left > 0 && right < 7 {
            return Ok(Value::from(s));
        }
        Ok(Value::from(
            words::abbreviate_full(s, left, right).unwrap_or_default(),
        ))
    });
    funcs.insert("repeat", |_, args| {
        want("repeat", args, 2)?;
        let count = int_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(Value::from(repeat(s, count)?))
    });
    funcs.insert("wrap", |_, args| {
        want("wrap", args, 2)?;
        let width = int_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(Value::from(words::wrap_custom(s, width, "", false)))
    });
    funcs.insert("wrapWith", |_, args| {
        want("wrapWith", args, 3)?;
        let width = int_arg(&args[0])?;
        let sep = string_arg(&args[1])?;
        let s = string_arg(&args[2])?;
        Ok(Value::from(words::wrap_custom(s, width, sep, true)))
    });
    funcs.insert("indent", |_, args| {
        want("indent", args, 2)?;
        let spaces = int_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(Value::from(indent(spaces, s)?))
    });
    funcs.insert("nindent", |_, args| {
        want("nindent", args, 2)?;
        let spaces = int_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(Value::from(format!("\n{}", indent(spaces, s)?)))
    });
    funcs.insert("replace", |_, args| {
        want("replace", args, 3)?;
        let old = string_arg(&args[0])?;
        let new = string_arg(&args[1])?;
        let s = string_arg(&args[2])?;
        Ok(Value::from(s.replace(old, new)))
    });
    funcs.insert("plural", |_, args| {
        want("plural", args, 3)?;
        let one = string_arg(&args[0])?;
        let many = string_arg(&args[1])?;
        let count = int_arg(&args[2])?;
        Ok(Value::from(if count == 1 { one } else { many }))
    });
}

/// Sprig's `trunc`: the first `count` bytes, or with a negative count the
/// last `-count` bytes.
fn trunc(count: i64, s: &str) -> String {
    let len = s.len() as i64;
    if count < 0 && len + count > 0 {
        return words::from_bytes(&s.as_bytes()[(len + count) as usize..]);
    }
    if count >= 0 && len > count {
        return words::from_bytes(&s.as_bytes()[..count as usize]);
    }
    s.to_owned()
}

/// Sprig's `substring`: byte offsets; out-of-range offsets are Go's slice
/// panics.
fn substr(start: i64, end: i64, s: &str) -> Result<String, FuncError> {
    let b = s.as_bytes();
    let len = b.len() as i64;
    if start < 0 {
        if end < 0 {
            return Err(FuncError::new(format!(
                "runtime error: slice bounds out of range [:{end}]"
            )));
        }
        if end > len {
            return Err(FuncError::new(format!(
                "runtime error: slice bounds out of range [:{end}] with length {len}"
            )));
        }
        return Ok(words::from_bytes(&b[..end as usize]));
    }
    let end = if end < 0 || end > len { len } else { end };
    if start > end {
        return Err(FuncError::new(format!(
            "runtime error: slice bounds out of range [{start}:{end}]"
        )));
    }
    Ok(words::from_bytes(&b[start as usize..end as usize]))
}

/// `strings.Repeat`, with Go's panic on a negative count.
fn repeat(s: &str, count: i64) -> Result<String, FuncError> {
    if count < 0 {
        return Err(FuncError::new("strings: negative Repeat count"));
    }
    let total = (s.len() as u128) * (count as u128);
    if total > MAX_BUILT_LEN as u128 {
        return Err(FuncError::new(format!(
            "strings: Repeat output length {total} exceeds the limit of {MAX_BUILT_LEN} bytes"
        )));
    }
    Ok(s.repeat(count as usize))
}

/// Sprig's `indent`: `spaces` spaces before the text and after every
/// newline.
fn indent(spaces: i64, s: &str) -> Result<String, FuncError> {
    let pad = repeat(" ", spaces)?;
    let lines = s.matches('\n').count() + 1;
    if (lines as u128) * (pad.len() as u128) + s.len() as u128 > MAX_BUILT_LEN as u128 {
        return Err(FuncError::new(format!(
            "indent output exceeds the limit of {MAX_BUILT_LEN} bytes"
        )));
    }
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

/// `strings.SplitN(s, sep, n)`: `n < 0` is every part, `0` none; an empty
/// separator splits into runes.
fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if sep.is_empty() {
        let mut parts: Vec<String> = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if parts.len() + 1 == limit {
                parts.push(rest.to_owned());
                return parts;
            }
            parts.push(c.to_string());
            rest = &rest[c.len_utf8()..];
        }
        return parts;
    }
    s.splitn(limit, sep).map(str::to_owned).collect()
}

/// Sprig's `split` result: `{_0: first, _1: second, …}`.
fn indexed_map(parts: Vec<String>) -> Value {
    let map: BTreeMap<String, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| (format!("_{i}"), Value::from(part)))
        .collect();
    Value::from(map)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trunc_counts_bytes_from_either_end() {
        assert_eq!(trunc(2, "abc"), "ab");
        assert_eq!(trunc(-2, "abc"), "bc");
        assert_eq!(trunc(-5, "abc"), "abc");
        assert_eq!(trunc(2, "héllo"), "h\u{FFFD}");
    }

    #[test]
    fn substr_out_of_range_is_gos_panic() {
        assert_eq!(substr(1, -1, "abc").unwrap(), "bc");
        assert_eq!(
            substr(3, 1, "abcdef").unwrap_err().message,
            "runtime error: slice bounds out of range [3:1]"
        );
        assert_eq!(
            substr(-1, 10, "abc").unwrap_err().message,
            "runtime error: slice bounds out of range [:10] with length 3"
        );
        assert_eq!(
            substr(5, 10, "abc").unwrap_err().message,
            "runtime error: slice bounds out of range [5:3]"
        );
    }

    #[test]
    fn split_follows_go_strings_split() {
        assert_eq!(go_split("abc", "", -1), vec!["a", "b", "c"]);
        assert_eq!(go_split("abc", "", 2), vec!["a", "bc"]);
        assert_eq!(go_split("", ",", -1), vec![""]);
        assert!(go_split("", "", -1).is_empty());
        assert!(go_split("a,b", ",", 0).is_empty());
        assert_eq!(go_split("a,b,c", ",", 2), vec!["a", "b,c"]);
    }

    #[test]
    fn repeat_rejects_negative_counts() {
        assert_eq!(repeat("ab", 2).unwrap(), "abab");
        assert_eq!(
            repeat("ab", -1).unwrap_err().message,
            "strings: negative Repeat count"
        );
        assert!(repeat("ab", i64::MAX).is_err());
        assert_eq!(indent(2, "a\nb").unwrap(), "  a\n  b");
    }
}
