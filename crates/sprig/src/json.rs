//! JSON as Go's `encoding/json` writes it, for Sprig's `toJson`,
//! `toPrettyJson` and `toRawJson` (and Helm's own `toJson`), and Sprig's
//! `fromJson`/`mustFromJson` reading.
//!
//! Go's output differs from serde_json's in ways charts see: `<`, `>` and
//! `&` are escaped as `\u003c`… (except by `toRawJson`), U+2028 and U+2029
//! are always escaped, and floats switch to exponent form below 1e-6 and
//! from 1e21 (`1e+21`, `1e-7`).

use std::fmt::Write as _;

use caravel_gotemplate::{FuncError, Funcs, JsonNumbers, Value};

use crate::convert::{string_arg, want};
use crate::types::MAX_DEPTH;

pub fn register(funcs: &mut Funcs) {
    // (name, indent, escape HTML, swallow errors)
    let encoders: [(&'static str, Option<&'static str>, bool, bool); 6] = [
        ("toJson", None, true, true),
        ("mustToJson", None, true, false),
        ("toPrettyJson", Some("  "), true, true),
        ("mustToPrettyJson", Some("  "), true, false),
        // Sprig's toRawJson panics on an error rather than swallowing it.
        ("toRawJson", None, false, false),
        ("mustToRawJson", None, false, false),
    ];
    for (name, indent, escape_html, swallow) in encoders {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            match to_json(&args[0], indent, escape_html) {
                Ok(text) => Ok(Value::from(text)),
                Err(_) if swallow => Ok(Value::from("")),
                Err(e) => Err(FuncError::new(e)),
            }
        });
    }
    funcs.insert("fromJson", |_, args| {
        want("fromJson", args, 1)?;
        Ok(from_json(string_arg(&args[0])?).unwrap_or(Value::Nil))
    });
    funcs.insert("mustFromJson", |_, args| {
        want("mustFromJson", args, 1)?;
        from_json(string_arg(&args[0])?).map_err(FuncError::new)
    });
}

/// Encodes `v` as Go's `json.Marshal` does (`json.MarshalIndent(v, "",
/// indent)` with an indent; without HTML escaping as an `Encoder` with
/// `SetEscapeHTML(false)`, minus its trailing newline). Map keys are
/// sorted; host objects encode as their [`caravel_gotemplate::Object::to_value`]
/// data, or null.
///
/// # Errors
///
/// Go's message for values JSON cannot hold: `json: unsupported value: NaN`
/// (or `+Inf`, `-Inf`).
pub fn to_json(v: &Value, indent: Option<&str>, escape_html: bool) -> Result<String, String> {
    let mut encoder = Encoder {
        out: String::new(),
        indent,
        escape_html,
    };
    encoder.value(v, 0)?;
    Ok(encoder.out)
}

/// Decodes JSON as Go's `json.Unmarshal` into `interface{}` does: every
/// number a float64, every object a map templates may change in place.
///
/// # Errors
///
/// Go's message for the common failures (`unexpected end of JSON input`,
/// `invalid character 'x' …`); other messages are serde_json's.
pub fn from_json(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => Ok(Value::from_json_with(&json, JsonNumbers::Float).into_shared()),
        Err(e) if e.is_eof() => Err("unexpected end of JSON input".to_owned()),
        Err(e) => Err(go_syntax_error(text, &e)),
    }
}

fn go_syntax_error(text: &str, e: &serde_json::Error) -> String {
    let offending = text
        .lines()
        .nth(e.line().saturating_sub(1))
        .and_then(|line| line.chars().nth(e.column().saturating_sub(1)));
    match offending {
        Some(c) if text.trim_start().starts_with(c) => {
            format!(
                "invalid character {} looking for beginning of value",
                quote_char(c)
            )
        }
        Some(c) => format!("invalid character {} {e}", quote_char(c)),
        None => e.to_string(),
    }
}

/// Go's `quoteChar`: `'x'`, with `'\''` and `'"'` escaped.
fn quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '"' => "'\"'".to_owned(),
        c if c.is_control() => format!("{:?}", c),
        c => format!("'{c}'"),
    }
}

struct Encoder<'a> {
    out: String,
    indent: Option<&'a str>,
    escape_html: bool,
}

impl Encoder<'_> {
    fn value(&mut self, v: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("json: unsupported value: encountered a cycle".to_owned());
        }
        match v {
            Value::Nil => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Value::Float(f) => self.out.push_str(&format_float(*f)?),
            Value::String(s) => self.string(s),
            Value::List(items) => {
                if items.is_empty() {
                    self.out.push_str("[]");
                    return Ok(());
                }
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.value(item, depth + 1)?;
                }
                self.newline(depth);
                self.out.push(']');
            }
            Value::Map(_) | Value::SharedMap(_) => {
                let map = v.as_map().unwrap_or_default();
                if map.is_empty() {
                    self.out.push_str("{}");
                    return Ok(());
                }
                self.out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.string(k);
                    self.out.push(':');
                    if self.indent.is_some() {
                        self.out.push(' ');
                    }
                    self.value(item, depth + 1)?;
                }
                self.newline(depth);
                self.out.push('}');
            }
            Value::Object(o) => match o.to_value() {
                Some(data) => self.value(&data, depth + 1)?,
                None => self.out.push_str("null"),
            },
        }
        Ok(())
    }

    fn newline(&mut self, depth: usize) {
        if let Some(indent) = self.indent {
            self.out.push('\n');
            for _ in 0..depth {
                self.out.push_str(indent);
            }
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                '\u{8}' => self.out.push_str("\\b"),
                '\u{c}' => self.out.push_str("\\f"),
                '<' | '>' | '&' if self.escape_html => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                '\u{2028}' | '\u{2029}' => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }
}

/// A float64 as `encoding/json` writes it: the shortest digits that read
/// back, in plain form from 1e-6 up to 1e21 and in exponent form outside
/// (`1e+21`, `1e-7`).
///
/// # Errors
///
/// `json: unsupported value: NaN` (or `+Inf`, `-Inf`).
pub fn format_float(f: f64) -> Result<String, String> {
    if f.is_nan() {
        return Err("json: unsupported value: NaN".to_owned());
    }
    if f.is_infinite() {
        let sign = if f > 0.0 { "+" } else { "-" };
        return Err(format!("json: unsupported value: {sign}Inf"));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` and `1.5e-7`; Go `1e+21` and `1.5e-7`.
        let text = format!("{f:e}");
        return Ok(match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        });
    }
    // Rust's plain form is the shortest round-trip digits, never exponent.
    Ok(format!("{f}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        let cases = [
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (1.5, "1.5"),
            (100000.0, "100000"),
            (-0.0, "-0"),
            (123456789.123, "123456789.123"),
            (1e300, "1e+300"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f).unwrap(), want, "{f}");
        }
        assert_eq!(
            format_float(f64::NAN).unwrap_err(),
            "json: unsupported value: NaN"
        );
        assert_eq!(
            format_float(f64::NEG_INFINITY).unwrap_err(),
            "json: unsupported value: -Inf"
        );
    }

    #[test]
    fn strings_escape_html_unless_raw() {
        let v = Value::from("<a>&\u{2028}\u{8}\u{1}\t\"\\");
        assert_eq!(
            to_json(&v, None, true).unwrap(),
            r#""\u003ca\u003e\u0026\u2028\b\u0001\t\"\\""#
        );
        assert_eq!(
            to_json(&v, None, false).unwrap(),
            r#""<a>&\u2028\b\u0001\t\"\\""#
        );
    }

    #[test]
    fn pretty_output_indents_and_keeps_empty_containers_inline() {
        let v = Value::map([
            ("a", Value::list([])),
            ("b", Value::map::<String>([])),
            (
                "c",
                Value::list([Value::Int(1), Value::map([("x", Value::Nil)])]),
            ),
        ]);
        assert_eq!(
            to_json(&v, Some("  "), true).unwrap(),
            "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"x\": null\n    }\n  ]\n}"
        );
    }

    #[test]
    fn decoding_gives_floats_and_shared_maps() {
        let v = from_json(r#"{"a": 1, "b": [2.5]}"#).unwrap();
        assert!(matches!(v, Value::SharedMap(_)));
        assert_eq!(v.to_string(), "map[a:1 b:[2.5]]");
        assert_eq!(from_json("{").unwrap_err(), "unexpected end of JSON input");
        assert_eq!(
            from_json("x").unwrap_err(),
            "invalid character 'x' looking for beginning of value"
        );
    }
}
