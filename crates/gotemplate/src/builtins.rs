//! Go's predefined template functions (`and` and `or` short-circuit in the
//! executor): comparisons, `index`, `slice`, `len`, printing and escaping.

use crate::format;
use crate::value::Value;

pub const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "call",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

pub enum BuiltinError {
    /// A wrong argument count, reported without "error calling".
    Arity(String),
    /// The function failed: "error calling NAME: …".
    Call(String),
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), BuiltinError> {
    if args.len() != n {
        return Err(BuiltinError::Arity(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn want_at_least(name: &str, args: &[Value], n: usize) -> Result<(), BuiltinError> {
    if args.len() < n {
        return Err(BuiltinError::Arity(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

pub fn call(name: &str, args: &[Value]) -> Result<Value, BuiltinError> {
    let fail = |m: String| BuiltinError::Call(m);
    match name {
        "not" => {
            want(name, args, 1)?;
            Ok(Value::Bool(!args[0].is_true()))
        }
        "len" => {
            want(name, args, 1)?;
            length(&args[0]).map(Value::Int).map_err(fail)
        }
        "index" => {
            want_at_least(name, args, 1)?;
            index(&args[0], &args[1..]).map_err(fail)
        }
        "slice" => {
            want_at_least(name, args, 1)?;
            slice(&args[0], &args[1..]).map_err(fail)
        }
        "print" => Ok(Value::from(format::sprint(args))),
        "println" => Ok(Value::from(format::sprintln(args))),
        "printf" => {
            want_at_least(name, args, 1)?;
            let Value::String(f) = &args[0] else {
                return Err(BuiltinError::Arity(format!(
                    "wrong type for value; expected string; got {}",
                    args[0].type_name()
                )));
            };
            Ok(Value::from(format::sprintf(f, &args[1..])))
        }
        "eq" => {
            want_at_least(name, args, 1)?;
            eq(&args[0], &args[1..]).map(Value::Bool).map_err(fail)
        }
        "ne" => {
            want(name, args, 2)?;
            eq(&args[0], &args[1..2])
                .map(|b| Value::Bool(!b))
                .map_err(fail)
        }
        "lt" => {
            want(name, args, 2)?;
            lt(&args[0], &args[1]).map(Value::Bool).map_err(fail)
        }
        "le" => {
            want(name, args, 2)?;
            le(&args[0], &args[1]).map(Value::Bool).map_err(fail)
        }
        "gt" => {
            want(name, args, 2)?;
            le(&args[0], &args[1])
                .map(|b| Value::Bool(!b))
                .map_err(fail)
        }
        "ge" => {
            want(name, args, 2)?;
            lt(&args[0], &args[1])
                .map(|b| Value::Bool(!b))
                .map_err(fail)
        }
        "html" => Ok(Value::from(html_escape(&eval_args(args)))),
        "js" => Ok(Value::from(js_escape(&eval_args(args)))),
        "urlquery" => Ok(Value::from(query_escape(&eval_args(args)))),
        "call" => {
            want_at_least(name, args, 1)?;
            Err(fail(format!(
                "non-function of type {}",
                args[0].type_name()
            )))
        }
        other => Err(fail(format!("{other} is not a builtin"))),
    }
}

// === comparison ===

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

/// Go's `eq`: basic kinds compare by value (ints and floats do not mix),
/// nil equals only nil, lists and maps are not comparable.
pub fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".to_string());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !a.is_nil() && !b.is_nil() {
                return Err(format!(
                    "incompatible types for comparison: {} and {}",
                    a.type_name(),
                    b.type_name()
                ));
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ if a.is_nil() || b.is_nil() => a.is_nil() == b.is_nil(),
                (Value::Object(x), Value::Object(y)) => std::sync::Arc::ptr_eq(x, y),
                _ => {
                    let (v, t) =
                        if matches!(b, Value::List(_) | Value::Map(_) | Value::SharedMap(_)) {
                            (b, b.type_name())
                        } else {
                            (a, a.type_name())
                        };
                    return Err(format!(
                        "non-comparable type {}: {t}",
                        format::sprint_value(v)
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err("invalid type for comparison".to_string());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".to_string());
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        _ => Err("invalid type for comparison".to_string()),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

// === index, slice, len ===

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".to_string()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

pub fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if item.is_nil() {
        return Err("index of untyped nil".to_string());
    }
    let mut item = item.clone();
    for idx in indexes {
        item = match &item {
            Value::Nil => return Err("index of nil pointer".to_string()),
            Value::List(items) => {
                let x = index_arg(idx, items.len())?;
                match items.get(x) {
                    Some(v) => v.clone(),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::String(s) => {
                let x = index_arg(idx, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::Map(_) | Value::SharedMap(_) => match idx {
                Value::String(k) => item
                    .as_map()
                    .and_then(|map| map.get(k.as_ref()).cloned())
                    .unwrap_or(Value::Nil),
                Value::Nil => return Err("value is nil; should be of type string".to_string()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

pub fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if item.is_nil() {
        return Err("slice of untyped nil".to_string());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".to_string());
            }
            s.len()
        }
        Value::List(items) => items.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::String(s) => {
            Value::from(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
        }
        Value::List(items) => Value::list(items[idx[0]..idx[1]].iter().cloned()),
        _ => Value::Nil,
    })
}

fn length(item: &Value) -> Result<i64, String> {
    match item {
        Value::String(s) => Ok(s.len() as i64),
        Value::List(items) => Ok(items.len() as i64),
        Value::Map(map) => Ok(map.len() as i64),
        Value::SharedMap(map) => Ok(map.len() as i64),
        Value::Nil => Err("reflect: call of reflect.Value.Type on zero Value".to_string()),
        other => Err(format!("len of type {}", other.type_name())),
    }
}

// === escaping ===

/// Go's `evalArgs`: one string as is, otherwise `fmt.Sprint` of the
/// arguments with nil printed as `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::from("<no value>"),
            other => other.clone(),
        })
        .collect();
    format::sprint(&printable)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) >= 0x80 && (c.is_control() || c == '\u{2028}' || c == '\u{2029}') => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
