//! Sprig's defaults and flow functions: `default`, `empty`, `coalesce`,
//! `all`, `any`, `compact`, `ternary` and `fail`, all built on Sprig's
//! notion of an empty value.

use caravel_gotemplate::{FuncError, Funcs, Value};

use crate::convert::{bool_arg, string_arg, want, want_at_least};
use crate::lists::list_items;

pub fn register(funcs: &mut Funcs) {
    funcs.insert("default", |_, args| {
        want_at_least("default", args, 1)?;
        Ok(match args.get(1) {
            Some(given) if !is_empty(given) => given.clone(),
            _ => args[0].clone(),
        })
    });
    funcs.insert("empty", |_, args| {
        want("empty", args, 1)?;
        Ok(Value::Bool(is_empty(&args[0])))
    });
    funcs.insert("coalesce", |_, args| {
        Ok(args
            .iter()
            .find(|v| !is_empty(v))
            .cloned()
            .unwrap_or(Value::Nil))
    });
    funcs.insert("all", |_, args| {
        Ok(Value::Bool(args.iter().all(|v| !is_empty(v))))
    });
    funcs.insert("any", |_, args| {
        Ok(Value::Bool(args.iter().any(|v| !is_empty(v))))
    });
    for name in ["compact", "mustCompact"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            let items = list_items(&args[0], |kind| format!("Cannot compact on type {kind}"))?;
            Ok(Value::list(
                items.iter().filter(|item| !is_empty(item)).cloned(),
            ))
        });
    }
    funcs.insert("ternary", |_, args| {
        want("ternary", args, 3)?;
        let condition = bool_arg(&args[2])?;
        Ok(if condition { &args[0] } else { &args[1] }.clone())
    });
    funcs.insert("fail", |_, args| {
        want("fail", args, 1)?;
        Err(FuncError::new(string_arg(&args[0])?))
    });
}

/// Sprig's `empty`: nil, false, zero numbers and empty strings, lists and
/// maps are empty; host objects (Go structs) never are.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::List(items) => items.is_empty(),
        Value::Map(map) => map.is_empty(),
        Value::SharedMap(map) => map.is_empty(),
        Value::Object(_) => false,
    }
}
