//! Sprig's reflection functions (`typeOf`, `kindOf`, `typeIs`, …) and the
//! deep operations Go gets from `reflect` and `copystructure`
//! (`deepEqual`, `deepCopy`).
//!
//! Our values do not keep Go's exact types: an `int64` from `add` reads as
//! `int`, and the `[]int`/`[]string` results of `until` and `keys` read as
//! `[]interface {}`.

use caravel_gotemplate::{FuncError, Funcs, SharedMap, Value};

use crate::convert::{string_arg, want};

/// Deeper nesting than this is treated as a cycle (a map set into itself),
/// which Go would follow until its stack overflows.
pub(crate) const MAX_DEPTH: usize = 10_000;

pub fn register(funcs: &mut Funcs) {
    funcs.insert("typeOf", |_, args| {
        want("typeOf", args, 1)?;
        Ok(Value::from(type_of(&args[0])))
    });
    funcs.insert("typeIs", |_, args| {
        want("typeIs", args, 2)?;
        Ok(Value::Bool(string_arg(&args[0])? == type_of(&args[1])))
    });
    funcs.insert("typeIsLike", |_, args| {
        want("typeIsLike", args, 2)?;
        let target = string_arg(&args[0])?;
        let actual = type_of(&args[1]);
        Ok(Value::Bool(
            target == actual || actual.strip_prefix('*') == Some(target),
        ))
    });
    funcs.insert("kindOf", |_, args| {
        want("kindOf", args, 1)?;
        Ok(Value::from(kind_of(&args[0])))
    });
    funcs.insert("kindIs", |_, args| {
        want("kindIs", args, 2)?;
        Ok(Value::Bool(string_arg(&args[0])? == kind_of(&args[1])))
    });
    funcs.insert("deepEqual", |_, args| {
        want("deepEqual", args, 2)?;
        Ok(Value::Bool(deep_equal(&args[0], &args[1])))
    });
    for name in ["deepCopy", "mustDeepCopy"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            if args[0].is_nil() {
                return Err(FuncError::new(
                    "reflect: call of reflect.Value.Type on zero Value",
                ));
            }
            deep_copy(&args[0], 0)
        });
    }
}

/// Go's `%T`: `int`, `float64`, `[]interface {}`, `<nil>`, ….
pub fn type_of(v: &Value) -> String {
    v.type_name().to_owned()
}

/// Go's `reflect.Kind` name: `invalid` for nil, `slice`, `map`, `int`, ….
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) | Value::SharedMap(_) => "map",
        // Helm's objects (`.Release`, `.Chart`, `.Files`) are structs or
        // pointers to them.
        Value::Object(_) => "struct",
    }
}

/// Go's `reflect.DeepEqual` on template values: same kinds and equal
/// contents (an int never equals a float; a map of either kind equals a
/// map with the same entries).
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    deep_equal_at(a, b, 0)
}

fn deep_equal_at(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| deep_equal_at(p, q, depth + 1))
        }
        (Value::SharedMap(x), Value::SharedMap(y)) if x.ptr_eq(y) => true,
        (Value::Map(_) | Value::SharedMap(_), Value::Map(_) | Value::SharedMap(_)) => {
            match (a.as_map(), b.as_map()) {
                (Some(x), Some(y)) => {
                    x.len() == y.len()
                        && x.iter()
                            .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal_at(v, w, depth + 1)))
                }
                _ => false,
            }
        }
        (Value::Object(x), Value::Object(y)) => std::sync::Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// `copystructure.Copy`: lists and maps copied at every depth, every map
/// of the copy a new [`Value::SharedMap`] that templates may change.
pub fn deep_copy(v: &Value, depth: usize) -> Result<Value, FuncError> {
    if depth > MAX_DEPTH {
        return Err(FuncError::new("deepCopy: value nested too deeply"));
    }
    Ok(match v {
        Value::List(items) => Value::list(
            items
                .iter()
                .map(|item| deep_copy(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Map(_) | Value::SharedMap(_) => {
            let entries = v.as_map().unwrap_or_default();
            let mut copy = std::collections::BTreeMap::new();
            for (k, item) in entries.iter() {
                copy.insert(k.clone(), deep_copy(item, depth + 1)?);
            }
            Value::SharedMap(SharedMap::new(copy))
        }
        other => other.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn deep_equal_tells_ints_from_floats_and_ignores_map_kind() {
        assert!(!deep_equal(&Value::Int(1), &Value::Float(1.0)));
        let shared = Value::shared_map([("a", Value::Int(1))]);
        let plain = Value::map([("a", Value::Int(1))]);
        assert!(deep_equal(&shared, &plain));
        assert!(!deep_equal(
            &shared,
            &Value::map([("a", Value::Float(1.0))])
        ));
    }

    #[test]
    fn deep_copy_makes_independent_maps() {
        let inner = Value::shared_map([("y", Value::Int(1))]);
        let outer = Value::shared_map([("x", inner.clone())]);
        let copy = deep_copy(&outer, 0).unwrap();
        let Value::SharedMap(copied_inner) = copy.as_map().unwrap()["x"].clone() else {
            panic!("inner map not shared");
        };
        copied_inner.insert("y", Value::Int(2));
        assert!(deep_equal(&inner, &Value::map([("y", Value::Int(1))])));
    }
}
