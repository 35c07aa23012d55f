//! Helm's own serialization template functions (helm.sh/helm/v4
//! pkg/engine funcMap), with byte-identical output:
//!
//! - `toYaml`, `mustToYaml`: `sigs.k8s.io/yaml.Marshal` (JSON first, then
//!   yaml.v2), the final newline trimmed; `toYaml` yields "" on error.
//! - `toYamlPretty`: yaml.v3 with a 2-space indent.
//! - `fromYaml`, `fromYamlArray`: `sigs.k8s.io/yaml.Unmarshal`; an error
//!   becomes the map `{"Error": msg}` or the list `[msg]`.
//! - `toToml`, `mustToToml`, `fromToml`: BurntSushi/toml.
//! - `fromJson`, `fromJsonArray`: `encoding/json` into `interface{}`.
//!
//! `toJson`/`mustToJson` are Go's `json.Marshal` and live with Sprig's JSON.

mod go_json;
mod go_number;
mod toml;
mod yaml_emit;
mod yaml_pretty;
mod yaml_read;
mod yaml_resolve;

use std::collections::BTreeMap;

use caravel_gotemplate::{FuncError, Funcs, Value};
use caravel_sprig::convert::{string_arg, want};

use yaml_emit::{emit_document, sort_keys, Node};
use yaml_resolve::{resolve_plain, Resolved};

/// Registers Helm's serialization functions.
pub fn register(funcs: &mut Funcs) {
    funcs.insert("toYaml", |_, args| {
        want("toYaml", args, 1)?;
        Ok(Value::from(
            to_yaml(&args[0]).map(trim_newline).unwrap_or_default(),
        ))
    });
    funcs.insert("mustToYaml", |_, args| {
        want("mustToYaml", args, 1)?;
        to_yaml(&args[0])
            .map(|s| Value::from(trim_newline(s)))
            .map_err(FuncError::new)
    });
    funcs.insert("toYamlPretty", |_, args| {
        want("toYamlPretty", args, 1)?;
        Ok(Value::from(
            yaml_pretty::to_yaml_pretty(&args[0])
                .map(trim_newline)
                .unwrap_or_default(),
        ))
    });
    funcs.insert("fromYaml", |_, args| {
        want("fromYaml", args, 1)?;
        Ok(from_yaml(string_arg(&args[0])?))
    });
    funcs.insert("fromYamlArray", |_, args| {
        want("fromYamlArray", args, 1)?;
        Ok(from_yaml_array(string_arg(&args[0])?))
    });
    funcs.insert("toToml", |_, args| {
        want("toToml", args, 1)?;
        if args[0].is_nil() {
            // Go's encoder panics on a nil interface before it can report.
            return Err(FuncError::new(toml::NIL_PANIC));
        }
        Ok(Value::from(toml::encode(&args[0]).unwrap_or_else(|e| e)))
    });
    funcs.insert("mustToToml", |_, args| {
        want("mustToToml", args, 1)?;
        toml::encode(&args[0])
            .map(Value::from)
            .map_err(FuncError::new)
    });
    funcs.insert("fromToml", |_, args| {
        want("fromToml", args, 1)?;
        Ok(match toml::decode(string_arg(&args[0])?) {
            Ok(map) => Value::from(map),
            Err(e) => error_map(e),
        })
    });
    funcs.insert("fromJson", |_, args| {
        want("fromJson", args, 1)?;
        Ok(from_json(string_arg(&args[0])?))
    });
    funcs.insert("fromJsonArray", |_, args| {
        want("fromJsonArray", args, 1)?;
        Ok(from_json_array(string_arg(&args[0])?))
    });
}

fn trim_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

fn error_map(message: String) -> Value {
    Value::from(BTreeMap::from([("Error".to_owned(), Value::from(message))]))
}

/// `sigs.k8s.io/yaml.Marshal(v)`: the YAML text (ending in a newline) or
/// Go's error message. Helm's `toYaml` is this with the last newline trimmed.
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let node = json_node(v)
        .map_err(|e| format!("error marshaling into JSON: {e}"))?
        .map_err(|e| format!("error converting JSON to YAML: {e}"))?;
    Ok(emit_document(&node))
}

/// `sigs.k8s.io/yaml.Unmarshal(text, &v)` with `v` an `interface{}`: the
/// first document as Helm's template functions see it (maps, lists,
/// strings, bools, nil, and float64 numbers), `Nil` for an empty document.
pub fn parse_yaml_go(text: &str) -> Result<Value, String> {
    yaml_read::unmarshal(text)
}

fn json_type_error(v: &Value, target: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {target}",
        go_json::kind_name(v)
    )
}

/// Helm's `fromYaml`.
pub fn from_yaml(text: &str) -> Value {
    let wrap = |e: String| format!("error unmarshaling JSON: while decoding JSON: {e}");
    match parse_yaml_go(text) {
        Ok(Value::Nil) => Value::from(BTreeMap::new()),
        Ok(map @ Value::Map(_)) => map,
        Ok(other) => error_map(wrap(json_type_error(&other, "map[string]interface {}"))),
        Err(e) => error_map(e),
    }
}

/// Helm's `fromYamlArray`.
pub fn from_yaml_array(text: &str) -> Value {
    let wrap = |e: String| format!("error unmarshaling JSON: while decoding JSON: {e}");
    match parse_yaml_go(text) {
        Ok(Value::Nil) => Value::from(Vec::new()),
        Ok(list @ Value::List(_)) => list,
        Ok(other) => Value::from(vec![Value::from(wrap(json_type_error(
            &other,
            "[]interface {}",
        )))]),
        Err(e) => Value::from(vec![Value::from(e)]),
    }
}

/// Helm's `fromJson`.
pub fn from_json(text: &str) -> Value {
    let decoded = match go_json::decode(text) {
        Ok(decoded) => decoded,
        Err(e) => return error_map(e),
    };
    let mut map = match decoded.value {
        Value::Nil => BTreeMap::new(),
        Value::Map(map) => (*map).clone(),
        other => return error_map(json_type_error(&other, "map[string]interface {}")),
    };
    if let Some(e) = decoded.type_error {
        map.insert("Error".to_owned(), Value::from(e));
    }
    Value::from(map)
}

/// Helm's `fromJsonArray`.
pub fn from_json_array(text: &str) -> Value {
    let error_list = |e: String| Value::from(vec![Value::from(e)]);
    let decoded = match go_json::decode(text) {
        Ok(decoded) => decoded,
        Err(e) => return error_list(e),
    };
    // Go reports the document's own kind mismatch before anything inside.
    match (decoded.value, decoded.type_error) {
        (Value::Nil, _) => Value::from(Vec::new()),
        (list @ Value::List(_), None) => list,
        (Value::List(_), Some(e)) => error_list(e),
        (other, _) => error_list(json_type_error(&other, "[]interface {}")),
    }
}

// === toYaml's JSON round trip ===

/// The node yaml.v2 decodes from `json.Marshal(v)`. The outer error is a
/// JSON marshalling error, the inner one a YAML reading error.
fn json_node(v: &Value) -> Result<Result<Node, String>, String> {
    json_node_at(v, 0)
}

/// Go's encoder starts checking for cycles this deep; a shared map that
/// contains itself is the one way to get there.
const MAX_DEPTH: usize = 1000;

fn json_node_at(v: &Value, depth: usize) -> Result<Result<Node, String>, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "json: unsupported value: encountered a cycle via {}",
            v.type_name()
        ));
    }
    Ok(match v {
        Value::Nil => Ok(Node::Null),
        Value::Bool(b) => Ok(Node::Bool(*b)),
        Value::Int(i) => Ok(Node::Int(*i)),
        Value::Float(f) => {
            let text = caravel_sprig::json::format_float(*f)?;
            Ok(match resolve_plain(&text) {
                Resolved::Int(i) => Node::Int(i),
                Resolved::Uint(u) => Node::Uint(u),
                _ => Node::Float(*f),
            })
        }
        Value::String(s) => json_string(s).map(Node::Str),
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                match json_node_at(item, depth + 1)? {
                    Ok(n) => out.push(n),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(Node::Seq(out))
        }
        Value::Map(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, item) in map.iter() {
                let key = match json_string(k) {
                    Ok(key) => key,
                    Err(e) => return Ok(Err(e)),
                };
                let node = match json_node_at(item, depth + 1)? {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(e)),
                };
                // Folding a NEL can make two keys equal; the later one wins.
                match entries
                    .iter_mut()
                    .find(|(k2, _)| k.contains('\u{85}') && *k2 == key)
                {
                    Some(slot) => slot.1 = node,
                    None => entries.push((key, node)),
                }
            }
            sort_keys(&mut entries, yaml_emit::Flavor::V2);
            Ok(Node::Map(entries))
        }
        Value::SharedMap(map) => return json_node_at(&Value::Map(map.snapshot()), depth),
        Value::Object(o) => match o.to_value() {
            Some(v) => return json_node_at(&v, depth + 1),
            None => return Err(format!("json: unsupported type: {}", o.type_name())),
        },
    })
}

/// A string as yaml.v2 reads it back from `json.Marshal`'s text: Go writes
/// most characters raw, the YAML reader rejects raw C1 controls, DEL and
/// U+FFFE/U+FFFF, and a raw NEL is a line break that double-quoted
/// scalars fold.
fn json_string(s: &str) -> Result<String, String> {
    if s.chars()
        .any(|c| matches!(c, '\u{7F}'..='\u{84}' | '\u{86}'..='\u{9F}' | '\u{FFFE}' | '\u{FFFF}'))
    {
        return Err("yaml: control characters are not allowed".to_owned());
    }
    if !s.contains('\u{85}') {
        return Ok(s.to_owned());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i] != ' ' && chars[i] != '\u{85}' {
            out.push(chars[i]);
            i += 1;
        }
        if i == chars.len() {
            break;
        }
        let mut whitespace = String::new();
        let mut leading_break = false;
        let mut trailing_breaks = 0;
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\u{85}') {
            if chars[i] == ' ' {
                if !leading_break {
                    whitespace.push(' ');
                }
            } else if !leading_break {
                whitespace.clear();
                leading_break = true;
            } else {
                trailing_breaks += 1;
            }
            i += 1;
        }
        if leading_break {
            if trailing_breaks == 0 {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(trailing_breaks));
            }
        } else {
            out.push_str(&whitespace);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
