//! TOML as Helm's `toToml` writes it (BurntSushi/toml's encoder: plain
//! keys first, then tables and arrays of tables, each group sorted; nested
//! headers indented two spaces per level; floats always with a decimal
//! point or exponent) and `fromToml` reads it.

use std::collections::BTreeMap;

use caravel_gotemplate::Value;

use super::go_number::format_g;

/// What Go's reflection panics with when the encoder is given nil.
pub(crate) const NIL_PANIC: &str = "reflect: call of reflect.Value.Type on zero Value";
const NIL_ELEMENT: &str = "toml: cannot encode array with nil element";
const NO_KEY: &str = "toml: top-level values must be Go maps or structs";
/// Deeper than this a value can only be a shared map that contains itself.
const MAX_DEPTH: usize = 1000;

/// `toml.NewEncoder(buf).Encode(v)`: the document or Go's error message.
pub(crate) fn encode(v: &Value) -> Result<String, String> {
    let mut e = Encoder {
        out: String::new(),
        written: false,
        depth: 0,
    };
    let v = plain(v);
    match &v {
        Value::Nil => return Err(NIL_PANIC.to_owned()),
        Value::Map(_) => e.table(&[], &v)?,
        Value::List(_) if is_table_array(&v)? => return Err(NO_KEY.to_owned()),
        other => e.element(other)?,
    }
    Ok(e.out)
}

/// The value as plain data: a shared map's entries, an object's data.
fn plain(v: &Value) -> Value {
    match v {
        Value::SharedMap(map) => Value::Map(map.snapshot()),
        Value::Object(o) => o.to_value().map(|v| plain(&v)).unwrap_or(Value::Nil),
        other => other.clone(),
    }
}

fn is_table(v: &Value) -> Result<bool, String> {
    Ok(match v {
        Value::Map(_) => true,
        Value::List(_) => is_table_array(v)?,
        _ => false,
    })
}

/// A non-empty list whose elements are all maps; a nil element is an error.
fn is_table_array(v: &Value) -> Result<bool, String> {
    let Value::List(items) = v else {
        return Ok(false);
    };
    if items.is_empty() {
        return Ok(false);
    }
    let mut all_maps = true;
    for item in items.iter() {
        match plain(item) {
            Value::Nil => return Err(NIL_ELEMENT.to_owned()),
            Value::Map(_) => {}
            _ => all_maps = false,
        }
    }
    Ok(all_maps)
}

fn is_bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn key_part(k: &str) -> String {
    if is_bare_key(k) {
        k.to_owned()
    } else {
        quote(k)
    }
}

fn header(key: &[String]) -> String {
    key.iter()
        .map(|k| key_part(k))
        .collect::<Vec<_>>()
        .join(".")
}

fn indent(key: &[String]) -> String {
    "  ".repeat(key.len().saturating_sub(1))
}

struct Encoder {
    out: String,
    written: bool,
    depth: usize,
}

impl Encoder {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        self.written = true;
    }

    fn newline(&mut self) {
        if self.written {
            self.out.push('\n');
        }
    }

    fn element(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::Nil => return Err(NIL_ELEMENT.to_owned()),
            Value::Bool(b) => self.write(&b.to_string()),
            Value::Int(i) => self.write(&i.to_string()),
            Value::Float(f) => {
                let text = if f.is_nan() {
                    if f.is_sign_negative() { "-nan" } else { "nan" }.to_owned()
                } else if f.is_infinite() {
                    if *f < 0.0 { "-inf" } else { "inf" }.to_owned()
                } else {
                    let g = format_g(*f);
                    if g.contains('.') || g.contains('e') {
                        g
                    } else {
                        format!("{g}.0")
                    }
                };
                self.write(&text);
            }
            Value::String(s) => self.write(&quote(s)),
            Value::List(items) => {
                if self.depth > MAX_DEPTH {
                    return Err("toml: value nested too deeply".to_owned());
                }
                self.write("[");
                for (i, item) in items.iter().enumerate() {
                    let item = plain(item);
                    if item.is_nil() {
                        return Err(NIL_ELEMENT.to_owned());
                    }
                    self.depth += 1;
                    self.element(&item)?;
                    self.depth -= 1;
                    if i + 1 != items.len() {
                        self.write(", ");
                    }
                }
                self.write("]");
            }
            Value::Map(_) => self.map(&[], v, true)?,
            Value::SharedMap(_) | Value::Object(_) => self.element(&plain(v))?,
        }
        Ok(())
    }

    fn key_value(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        let last = key.last().map(|k| key_part(k)).unwrap_or_default();
        self.write(&format!("{}{} = ", indent(key), last));
        self.element(v)?;
        self.newline();
        Ok(())
    }

    fn encode(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        let v = plain(v);
        match &v {
            Value::Nil => Ok(()),
            Value::Map(_) => self.table(key, &v),
            Value::List(items) if is_table_array(&v)? => {
                for item in items.iter() {
                    self.newline();
                    self.write(&format!("{}[[{}]]", indent(key), header(key)));
                    self.newline();
                    self.map(key, &plain(item), false)?;
                }
                Ok(())
            }
            other => self.key_value(key, other),
        }
    }

    fn table(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        if key.len() == 1 {
            self.newline();
        }
        if !key.is_empty() {
            self.write(&format!("{}[{}]", indent(key), header(key)));
            self.newline();
        }
        self.map(key, v, false)
    }

    fn map(&mut self, key: &[String], v: &Value, inline: bool) -> Result<(), String> {
        let Value::Map(map) = v else {
            return Ok(());
        };
        if key.len() + self.depth > MAX_DEPTH {
            return Err("toml: value nested too deeply".to_owned());
        }
        let mut direct = Vec::new();
        let mut sub = Vec::new();
        for (k, item) in map.iter() {
            if is_table(&plain(item))? {
                sub.push((k, item));
            } else {
                direct.push((k, item));
            }
        }
        if inline {
            self.write("{");
        }
        let groups = [(direct, !sub.is_empty()), (sub, false)];
        for (entries, trailing_comma) in groups {
            let n = entries.len();
            for (i, (k, item)) in entries.into_iter().enumerate() {
                let item = plain(item);
                if item.is_nil() {
                    continue;
                }
                if inline {
                    self.write(&format!("{} = ", key_part(k)));
                    self.depth += 1;
                    self.element(&item)?;
                    self.depth -= 1;
                    if trailing_comma || i + 1 != n {
                        self.write(", ");
                    }
                } else {
                    let mut sub_key = key.to_vec();
                    sub_key.push(k.clone());
                    self.encode(&sub_key, &item)?;
                }
            }
        }
        if inline {
            self.write("}");
        }
        Ok(())
    }
}

/// `toml.Decode(text, &map[string]interface{})`: integers stay integers,
/// dates and times become their RFC 3339 text.
pub(crate) fn decode(text: &str) -> Result<BTreeMap<String, Value>, String> {
    let table: ::toml::Table = text.parse().map_err(|e: ::toml::de::Error| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        format!("toml: line {line}: {}", e.message())
    })?;
    Ok(table.into_iter().map(|(k, v)| (k, from_toml(v))).collect())
}

fn from_toml(v: ::toml::Value) -> Value {
    match v {
        ::toml::Value::String(s) => Value::from(s),
        ::toml::Value::Integer(i) => Value::Int(i),
        ::toml::Value::Float(f) => Value::Float(f),
        ::toml::Value::Boolean(b) => Value::Bool(b),
        ::toml::Value::Datetime(d) => Value::from(datetime_text(&d)),
        ::toml::Value::Array(items) => {
            Value::from(items.into_iter().map(from_toml).collect::<Vec<_>>())
        }
        ::toml::Value::Table(t) => Value::from(
            t.into_iter()
                .map(|(k, v)| (k, from_toml(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// The RFC 3339 text Go's `time.Time` marshals to; local dates and times
/// are UTC-less in TOML and print as UTC, as Helm's `toJson` shows them.
fn datetime_text(d: &::toml::value::Datetime) -> String {
    let date = d
        .date
        .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_else(|| "0000-01-01".to_owned());
    let time = d
        .time
        .map(|t| {
            let nanos = t.nanosecond.unwrap_or(0);
            let frac = if nanos == 0 {
                String::new()
            } else {
                format!(".{nanos:09}").trim_end_matches('0').to_owned()
            };
            let second = t.second.unwrap_or(0);
            format!("{:02}:{:02}:{second:02}{frac}", t.hour, t.minute)
        })
        .unwrap_or_else(|| "00:00:00".to_owned());
    let zone = match d.offset {
        None | Some(::toml::value::Offset::Z) => "Z".to_owned(),
        Some(::toml::value::Offset::Custom { minutes: 0 }) => "Z".to_owned(),
        Some(::toml::value::Offset::Custom { minutes }) => {
            let sign = if minutes < 0 { '-' } else { '+' };
            let m = minutes.unsigned_abs();
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        }
    };
    format!("{date}T{time}{zone}")
}
