//! `encoding/json`'s decoder as `fromJson` uses it: Go's syntax checking
//! with Go's error messages, numbers decoded as float64, the last of
//! duplicate keys kept.

use std::collections::BTreeMap;

use caravel_gotemplate::Value;

/// A decoded document and the first type error met while decoding it:
/// Go keeps decoding after a number that does not fit a float64, leaving
/// nil in its place, and reports the error at the end.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub value: Value,
    pub type_error: Option<String>,
}

/// Decodes `text` as Go's `json.Unmarshal` into `interface{}` does; a
/// syntax error fails the whole document.
pub(crate) fn decode(text: &str) -> Result<Decoded, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        type_error: None,
    };
    p.skip_ws();
    let v = p.value("looking for beginning of value")?;
    p.skip_ws();
    if p.i < p.s.len() {
        return Err(p.invalid("after top-level value"));
    }
    Ok(Decoded {
        value: v,
        type_error: p.type_error,
    })
}

/// Go's name of a decoded value's kind in "cannot unmarshal X into" errors.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) | Value::SharedMap(_) | Value::Object(_) => "object",
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    type_error: Option<String>,
}

/// Go's `quoteChar`: the offending character as the scanner names it.
fn quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '"' => "'\"'".to_owned(),
        _ => {
            let q = caravel_gotemplate::fmt::quote(&c.to_string(), false);
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn invalid(&self, context: &str) -> String {
        match self.text.get(self.i..).and_then(|s| s.chars().next()) {
            Some(c) => format!("invalid character {} {context}", quote_char(c)),
            None => "unexpected end of JSON input".to_owned(),
        }
    }

    fn value(&mut self, context: &str) -> Result<Value, String> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::from(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Nil),
            _ => Err(self.invalid(context)),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
        for (k, expected) in word.bytes().enumerate() {
            if k == 0 {
                self.i += 1;
                continue;
            }
            if self.peek() != Some(expected) {
                return Err(self.invalid(&format!(
                    "in literal {word} (expecting {})",
                    quote_char(char::from(expected))
                )));
            }
            self.i += 1;
        }
        Ok(v)
    }

    fn object(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut map = BTreeMap::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::from(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.invalid("looking for beginning of object key string"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.invalid("after object key"));
            }
            self.i += 1;
            self.skip_ws();
            let v = self.value("looking for beginning of value")?;
            map.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::from(map));
                }
                _ => return Err(self.invalid("after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::from(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value("looking for beginning of value")?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::from(items));
                }
                _ => return Err(self.invalid("after array element")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0;
        for _ in 0..4 {
            let Some(d) = self.peek().and_then(|c| char::from(c).to_digit(16)) else {
                return Err(self.invalid("in \\u hexadecimal character escape"));
            };
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.text.get(self.i..).and_then(|s| s.chars().next()) else {
                return Err("unexpected end of JSON input".to_owned());
            };
            match c {
                '"' => {
                    self.i += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.i += 1;
                    let esc = self.peek();
                    self.i += 1;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                } else {
                                    self.i = save;
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            out.push(c.unwrap_or('\u{FFFD}'));
                        }
                        None => return Err("unexpected end of JSON input".to_owned()),
                        Some(_) => {
                            self.i -= 1;
                            return Err(self.invalid("in string escape code"));
                        }
                    }
                }
                c if (c as u32) < 0x20 => return Err(self.invalid("in string literal")),
                c => {
                    out.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.invalid("in numeric literal")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.invalid("after decimal point in numeric literal"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.invalid("in exponent of numeric literal"));
            }
        }
        let text = &self.text[start..self.i];
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => {
                self.type_error.get_or_insert_with(|| {
                    format!("json: cannot unmarshal number {text} into Go value of type float64")
                });
                Ok(Value::Nil)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_worded_as_go_words_them() {
        assert_eq!(decode("").unwrap_err(), "unexpected end of JSON input");
        assert_eq!(
            decode("{a}").unwrap_err(),
            "invalid character 'a' looking for beginning of object key string"
        );
        assert_eq!(
            decode("[1 2]").unwrap_err(),
            "invalid character '2' after array element"
        );
        assert_eq!(
            decode("{} x").unwrap_err(),
            "invalid character 'x' after top-level value"
        );
        assert_eq!(decode("tru").unwrap_err(), "unexpected end of JSON input");
    }

    #[test]
    fn numbers_are_floats_and_later_duplicates_win() {
        let v = decode(r#"{"a": 1, "a": 2.5, "b": [true, null, "\u00e9"]}"#).unwrap();
        assert_eq!(format!("{}", v.value), "map[a:2.5 b:[true <nil> é]]");
        let v = decode(r#"{"a": 1e999, "b": 1}"#).unwrap();
        assert_eq!(format!("{}", v.value), "map[a:<nil> b:1]");
        assert!(v.type_error.is_some());
    }
}
