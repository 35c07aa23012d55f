//! Sprig's list functions (`list`, `append`, `first`, `uniq`, `has`,
//! `slice`, `chunk`, …). Each `mustX` fails with the message its `X` panics
//! with, which Go's template engine reports the same way, so both share an
//! implementation.
//!
//! Sprig finds a list by reflection: a nil argument is Go's nil pointer
//! dereference, anything else that is not a list a `Cannot … on type KIND`
//! error.

use caravel_gotemplate::{FuncError, Funcs, Value};

use crate::convert::{int_arg, to_int64, to_strings, want, want_at_least};
use crate::types::{deep_equal, kind_of};

const NIL_DEREFERENCE: &str = "runtime error: invalid memory address or nil pointer dereference";

pub fn register(funcs: &mut Funcs) {
    for name in ["list", "tuple"] {
        funcs.insert(name, |_, args| Ok(Value::list(args.iter().cloned())));
    }
    for name in ["append", "push", "mustAppend", "mustPush"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            let items = list_items(&args[0], |kind| format!("Cannot push on type {kind}"))?;
            Ok(Value::list(items.iter().cloned().chain([args[1].clone()])))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            let items = list_items(&args[0], |kind| format!("Cannot prepend on type {kind}"))?;
            Ok(Value::list(
                [args[1].clone()].into_iter().chain(items.iter().cloned()),
            ))
        });
    }
    for name in ["first", "mustFirst"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            let items = list_items(&args[0], |kind| format!("Cannot find first on type {kind}"))?;
            Ok(items.first().cloned().unwrap_or(Value::Nil))
        });
    }
    for name in ["last", "mustLast"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            let items = list_items(&args[0], |kind| format!("Cannot find last on type {kind}"))?;
            Ok(items.last().cloned().unwrap_or(Value::Nil))
        });
    }
    for name in ["rest", "mustRest"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            let items = list_items(&args[0], |kind| format!("Cannot find rest on type {kind}"))?;
            Ok(match items.split_first() {
                Some((_, rest)) => Value::list(rest.iter().cloned()),
                // A nil []interface{}: typed, so it prints `[]`.
                None => Value::list([]),
            })
        });
    }
    for name in ["initial", "mustInitial"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            let items = list_items(&args[0], |kind| {
                format!("Cannot find initial on type {kind}")
            })?;
            Ok(match items.split_last() {
                Some((_, initial)) => Value::list(initial.iter().cloned()),
                None => Value::list([]),
            })
        });
    }
    for name in ["reverse", "mustReverse"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            let items = list_items(&args[0], |kind| {
                format!("Cannot find reverse on type {kind}")
            })?;
            Ok(Value::list(items.iter().rev().cloned()))
        });
    }
    for name in ["uniq", "mustUniq"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            let items = list_items(&args[0], |kind| format!("Cannot find uniq on type {kind}"))?;
            let mut unique: Vec<Value> = Vec::new();
            for item in items {
                if !unique.iter().any(|u| deep_equal(item, u)) {
                    unique.push(item.clone());
                }
            }
            Ok(Value::list(unique))
        });
    }
    for name in ["without", "mustWithout"] {
        funcs.insert(name, move |_, args| {
            want_at_least(name, args, 1)?;
            let items = list_items(&args[0], |kind| {
                format!("Cannot find without on type {kind}")
            })?;
            let omit = &args[1..];
            Ok(Value::list(
                items
                    .iter()
                    .filter(|item| !omit.iter().any(|o| deep_equal(item, o)))
                    .cloned(),
            ))
        });
    }
    for name in ["has", "mustHas"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            // A nil haystack holds nothing (Sprig checks it before reflecting).
            if args[1].is_nil() {
                return Ok(Value::Bool(false));
            }
            let items = list_items(&args[1], |kind| format!("Cannot find has on type {kind}"))?;
            Ok(Value::Bool(
                items.iter().any(|item| deep_equal(&args[0], item)),
            ))
        });
    }
    for name in ["slice", "mustSlice"] {
        funcs.insert(name, move |_, args| {
            want_at_least(name, args, 1)?;
            let items = list_items(&args[0], |kind| {
                format!("list should be type of slice or array but {kind}")
            })?;
            slice(items, &args[1..])
        });
    }
    funcs.insert("concat", |_, args| {
        let mut all = Vec::new();
        for arg in args {
            let items = list_items(arg, |kind| format!("Cannot concat type {kind} as list"))?;
            all.extend(items.iter().cloned());
        }
        Ok(Value::list(all))
    });
    for name in ["chunk", "mustChunk"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            let size = int_arg(&args[0])?;
            let items = list_items(&args[1], |kind| format!("Cannot chunk type {kind}"))?;
            chunk(items, size)
        });
    }
    funcs.insert("toStrings", |_, args| {
        want("toStrings", args, 1)?;
        Ok(Value::list(
            to_strings(&args[0]).into_iter().map(Value::from),
        ))
    });
}

/// The items of a list argument found by reflection: nil is Go's nil
/// pointer dereference, a value of another kind the error `not_a_list`
/// makes from its kind name.
pub(crate) fn list_items(
    v: &Value,
    not_a_list: impl Fn(&str) -> String,
) -> Result<&[Value], FuncError> {
    match v {
        Value::List(items) => Ok(items),
        Value::Nil => Err(FuncError::new(NIL_DEREFERENCE)),
        other => Err(FuncError::new(not_a_list(kind_of(other)))),
    }
}

/// Sprig's `slice LIST [START [END]]` with `cast.ToInt` indexes; an empty
/// list slices to nil whatever the indexes.
fn slice(items: &[Value], indexes: &[Value]) -> Result<Value, FuncError> {
    if items.is_empty() {
        return Ok(Value::Nil);
    }
    let start = indexes.first().map_or(0, to_int64);
    let end = indexes.get(1).map_or(items.len() as i64, to_int64);
    if start < 0 || end < start || end > items.len() as i64 {
        return Err(FuncError::new(
            "reflect.Value.Slice: slice index out of bounds",
        ));
    }
    Ok(Value::list(
        items[start as usize..end as usize].iter().cloned(),
    ))
}

/// Sprig's `chunk`, including the float arithmetic it sizes chunks with
/// (a size of zero or less fails as Go's `make` does, except for the few
/// lengths where that arithmetic happens to stay in range).
fn chunk(items: &[Value], size: i64) -> Result<Value, FuncError> {
    const BAD_LEN: &str = "runtime error: makeslice: len out of range";
    let len = items.len() as i64;
    let count = ((len - 1) as f64 / size as f64).floor() + 1.0;
    if !count.is_finite() || count < 0.0 {
        return Err(FuncError::new(BAD_LEN));
    }
    let count = count as i64;
    let mut chunks = Vec::new();
    for i in 0..count {
        let mut chunk_len = size;
        if i == count - 1 {
            chunk_len = (len as f64 % size as f64).floor() as i64;
            if chunk_len == 0 {
                chunk_len = size;
            }
        }
        if chunk_len < 0 {
            return Err(FuncError::new(BAD_LEN));
        }
        let mut chunk = Vec::new();
        for j in 0..chunk_len {
            let index = i * size + j;
            match usize::try_from(index).ok().and_then(|ix| items.get(ix)) {
                Some(item) => chunk.push(item.clone()),
                None => return Err(FuncError::new("reflect: slice index out of range")),
            }
        }
        chunks.push(Value::list(chunk));
    }
    Ok(Value::list(chunks))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ints(n: i64) -> Vec<Value> {
        (1..=n).map(Value::Int).collect()
    }

    #[test]
    fn chunk_keeps_the_remainder_last() {
        let out = chunk(&ints(5), 2).unwrap();
        assert_eq!(out.to_string(), "[[1 2] [3 4] [5]]");
        assert_eq!(chunk(&[], 3).unwrap().to_string(), "[]");
    }

    #[test]
    fn chunk_of_size_zero_fails_like_make() {
        assert!(chunk(&ints(3), 0).is_err());
        assert!(chunk(&ints(3), -1).is_err());
    }

    #[test]
    fn slice_checks_bounds_as_reflect_does() {
        assert_eq!(
            slice(&ints(3), &[Value::Int(1)]).unwrap().to_string(),
            "[2 3]"
        );
        assert!(slice(&ints(3), &[Value::Int(2), Value::Int(1)]).is_err());
        assert!(slice(&[], &[Value::Int(5)]).unwrap().is_nil());
    }
}
