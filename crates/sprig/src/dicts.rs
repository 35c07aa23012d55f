//! Sprig's dict functions (`dict`, `get`, `set`, `dig`, `merge`, …) with
//! Go's reference semantics: `set`, `unset`, `merge` and `mergeOverwrite`
//! change their first argument in place and return it, so the change is
//! seen through every other reference to that dict (`$_ := set $d "k" v`).
//!
//! Only a [`Value::SharedMap`] can change in place. Every dict these
//! functions make is one; a [`Value::Map`] (data a host built without
//! [`Value::into_shared`]) is copied into a new shared map instead, and the
//! change is then seen only through the returned value.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravel_gotemplate::{FuncError, Funcs, SharedMap, Value};

use crate::convert::{dict_arg, string_arg, to_string, want, want_at_least};
use crate::defaults::is_empty;
use crate::types::MAX_DEPTH;

pub fn register(funcs: &mut Funcs) {
    funcs.insert("dict", |_, args| {
        let mut map = BTreeMap::new();
        for pair in args.chunks(2) {
            let value = pair.get(1).cloned().unwrap_or_else(|| Value::from(""));
            map.insert(to_string(&pair[0]), value);
        }
        Ok(Value::SharedMap(SharedMap::new(map)))
    });
    funcs.insert("get", |_, args| {
        want("get", args, 2)?;
        let map = dict_arg(&args[0])?;
        let key = string_arg(&args[1])?;
        Ok(map
            .and_then(|m| m.get(key).cloned())
            .unwrap_or_else(|| Value::from("")))
    });
    funcs.insert("set", |_, args| {
        want("set", args, 3)?;
        dict_arg(&args[0])?;
        let key = string_arg(&args[1])?;
        let target = writable(&args[0])?;
        target.insert(key, args[2].clone());
        Ok(Value::SharedMap(target))
    });
    funcs.insert("unset", |_, args| {
        want("unset", args, 2)?;
        let map = dict_arg(&args[0])?;
        let key = string_arg(&args[1])?;
        if map.is_none() {
            // Deleting from a nil map is allowed and leaves it nil.
            return Ok(Value::map::<String>([]));
        }
        let target = writable(&args[0])?;
        target.remove(key);
        Ok(Value::SharedMap(target))
    });
    funcs.insert("hasKey", |_, args| {
        want("hasKey", args, 2)?;
        let map = dict_arg(&args[0])?;
        let key = string_arg(&args[1])?;
        Ok(Value::Bool(map.is_some_and(|m| m.contains_key(key))))
    });
    funcs.insert("pluck", |_, args| {
        want_at_least("pluck", args, 1)?;
        let key = string_arg(&args[0])?;
        let mut found = Vec::new();
        for arg in &args[1..] {
            if let Some(v) = dict_arg(arg)?.and_then(|m| m.get(key).cloned()) {
                found.push(v);
            }
        }
        Ok(Value::list(found))
    });
    funcs.insert("keys", |_, args| {
        let mut keys = Vec::new();
        for arg in args {
            if let Some(map) = dict_arg(arg)? {
                keys.extend(map.keys().map(|k| Value::from(k.as_str())));
            }
        }
        Ok(Value::list(keys))
    });
    funcs.insert("values", |_, args| {
        want("values", args, 1)?;
        let map = dict_arg(&args[0])?;
        Ok(Value::list(map.iter().flat_map(|m| m.values().cloned())))
    });
    funcs.insert("pick", |_, args| {
        want_at_least("pick", args, 1)?;
        let map = dict_arg(&args[0])?.unwrap_or_default();
        let mut picked = BTreeMap::new();
        for key in &args[1..] {
            let key = string_arg(key)?;
            if let Some(v) = map.get(key) {
                picked.insert(key.to_owned(), v.clone());
            }
        }
        Ok(Value::SharedMap(SharedMap::new(picked)))
    });
    funcs.insert("omit", |_, args| {
        want_at_least("omit", args, 1)?;
        let map = dict_arg(&args[0])?.unwrap_or_default();
        let omitted = args[1..]
            .iter()
            .map(string_arg)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::SharedMap(SharedMap::new(
            map.iter()
                .filter(|(k, _)| !omitted.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )))
    });
    funcs.insert("dig", |_, args| dig(args));
    for (name, overwrite) in [
        ("merge", false),
        ("mustMerge", false),
        ("mergeOverwrite", true),
        ("mustMergeOverwrite", true),
    ] {
        funcs.insert(name, move |_, args| {
            want_at_least(name, args, 1)?;
            let sources = args[1..]
                .iter()
                .map(dict_arg)
                .collect::<Result<Vec<_>, _>>()?;
            dict_arg(&args[0])?;
            let dst = writable_or_new(&args[0]);
            for src in sources.into_iter().flatten() {
                merge_into(&dst, &src, overwrite, 0)?;
            }
            Ok(Value::SharedMap(dst))
        });
    }
}

/// The map `v` as one that can change in place: itself when shared, a
/// shared copy of an immutable one; nil is Go's nil map.
fn writable(v: &Value) -> Result<SharedMap, FuncError> {
    match v {
        Value::SharedMap(map) => Ok(map.clone()),
        Value::Map(map) => Ok(SharedMap::new(map.as_ref().clone())),
        _ => Err(FuncError::new("assignment to entry in nil map")),
    }
}

/// As [`writable`], with a new empty map for nil (mergo allocates one).
fn writable_or_new(v: &Value) -> SharedMap {
    writable(v).unwrap_or_default()
}

/// Sprig's `dig KEY… DEFAULT DICT`: follows the keys through nested maps,
/// the default when a key is missing; a non-map on the way is Go's failed
/// type assertion.
fn dig(args: &[Value]) -> Result<Value, FuncError> {
    if args.len() < 3 {
        return Err(FuncError::new("dig needs at least three arguments"));
    }
    let (keys, rest) = args.split_at(args.len() - 2);
    let (default, dict) = (&rest[0], &rest[1]);
    let mut current = assert_map(dict)?;
    let keys = keys
        .iter()
        .map(|k| {
            k.as_str().ok_or_else(|| {
                FuncError::new(format!(
                    "interface conversion: interface {{}} is {}, not string",
                    interface_type(k)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, key) in keys.iter().enumerate() {
        let Some(step) = current.get(*key).cloned() else {
            return Ok(default.clone());
        };
        if i == keys.len() - 1 {
            return Ok(step);
        }
        current = assert_map(&step)?;
    }
    Ok(default.clone())
}

/// Go's `v.(map[string]interface{})`.
fn assert_map(v: &Value) -> Result<Arc<BTreeMap<String, Value>>, FuncError> {
    v.as_map().ok_or_else(|| {
        FuncError::new(format!(
            "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
            interface_type(v)
        ))
    })
}

fn interface_type(v: &Value) -> &str {
    match v {
        Value::Nil => "nil",
        other => other.type_name(),
    }
}

/// mergo's deep merge of `src` into `dst` (`mergo.Merge`, or
/// `mergo.MergeWithOverwrite` when `overwrite`), key by key:
///
/// - a nil source value is set only when overwriting;
/// - a map merges into a map already there (in place, so other references
///   to that inner map see it), and is otherwise set, shared, where the
///   destination is missing or empty, or when overwriting;
/// - anything else is set where the destination is missing or empty, or
///   when overwriting.
pub fn merge_into(
    dst: &SharedMap,
    src: &BTreeMap<String, Value>,
    overwrite: bool,
    depth: usize,
) -> Result<(), FuncError> {
    if depth > MAX_DEPTH {
        return Err(FuncError::new("merge: maps nested too deeply"));
    }
    for (key, src_value) in src {
        let current = dst.get(key);
        if src_value.is_nil() {
            if overwrite {
                dst.insert(key.clone(), Value::Nil);
            }
            continue;
        }
        if let (Some(src_map), Some(dst_value)) = (src_value.as_map(), &current) {
            if dst_value.as_map().is_some() {
                let inner = match dst_value {
                    Value::SharedMap(inner) => inner.clone(),
                    _ => {
                        let inner = writable_or_new(dst_value);
                        dst.insert(key.clone(), Value::SharedMap(inner.clone()));
                        inner
                    }
                };
                merge_into(&inner, &src_map, overwrite, depth + 1)?;
                if !inner.is_empty() {
                    continue;
                }
            }
        }
        let dst_missing_or_empty = current.as_ref().is_none_or(is_empty);
        if overwrite || dst_missing_or_empty {
            dst.insert(key.clone(), src_value.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn merged(dst: &Value, src: &Value, overwrite: bool) -> String {
        let Value::SharedMap(dst) = dst else {
            panic!("not shared")
        };
        merge_into(dst, &src.as_map().unwrap(), overwrite, 0).unwrap();
        Value::SharedMap(dst.clone()).to_string()
    }

    fn sample() -> (Value, Value) {
        let dst = Value::shared_map([
            (
                "a",
                Value::shared_map([("x", Value::Int(1)), ("y", Value::from(""))]),
            ),
            ("b", Value::Int(0)),
            ("c", Value::list([Value::Int(1)])),
            ("e", Value::Int(1)),
        ]);
        let src = Value::shared_map([
            (
                "a",
                Value::shared_map([
                    ("x", Value::Int(2)),
                    ("y", Value::from("yy")),
                    ("z", Value::Int(3)),
                ]),
            ),
            ("b", Value::Int(5)),
            ("c", Value::list([Value::Int(2)])),
            ("d", Value::Nil),
            ("e", Value::Nil),
        ]);
        (dst, src)
    }

    #[test]
    fn merge_fills_only_missing_or_empty_values() {
        let (dst, src) = sample();
        assert_eq!(
            merged(&dst, &src, false),
            "map[a:map[x:1 y:yy z:3] b:5 c:[1] e:1]"
        );
    }

    #[test]
    fn merge_overwrite_replaces_values_even_with_nil() {
        let (dst, src) = sample();
        assert_eq!(
            merged(&dst, &src, true),
            "map[a:map[x:2 y:yy z:3] b:5 c:[2] d:<nil> e:<nil>]"
        );
    }

    #[test]
    fn set_on_shared_values_is_seen_by_later_reads() {
        let mut set = caravel_gotemplate::Template::with_funcs(crate::funcs());
        set.parse(
            "t",
            r#"{{ $_ := set .Values "x" 1 }}{{ $_ := merge .Values.m (dict "b" 2) }}{{ .Values.x }} {{ .Values.m }}"#,
        )
        .unwrap();
        let values = Value::map([("m", Value::map([("a", Value::Int(1))]))]);
        let data = Value::map([("Values", values)]).into_shared();
        assert_eq!(set.execute("t", &data).unwrap(), "1 map[a:1 b:2]");
        // The caller's data changed too, as Go's maps would.
        let values = data.as_map().unwrap()["Values"].clone();
        assert_eq!(values.to_string(), "map[m:map[a:1 b:2] x:1]");
    }

    #[test]
    fn merge_changes_inner_maps_in_place_and_shares_new_ones() {
        let inner = Value::shared_map([("x", Value::Int(1))]);
        let dst = Value::shared_map([("a", inner.clone())]);
        let added = Value::shared_map([("k", Value::Int(1))]);
        let src = Value::map([
            ("a", Value::map([("y", Value::Int(2))])),
            ("n", added.clone()),
        ]);
        merged(&dst, &src, false);
        assert_eq!(inner.to_string(), "map[x:1 y:2]");
        let Value::SharedMap(added) = added else {
            panic!()
        };
        added.insert("later", Value::Int(9));
        assert_eq!(dst.to_string(), "map[a:map[x:1 y:2] n:map[k:1 later:9]]");
    }
}
