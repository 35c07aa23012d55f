//! JSON pointers (RFC 6901) for `ignoreDifferences[].jsonPointers`: remove
//! the named fields from both sides before comparing.

use serde_json::Value;

use crate::DiffError;

/// Splits a JSON pointer into its unescaped reference tokens
/// (`~1` → `/`, `~0` → `~`). `""` is the whole document: no tokens.
pub fn parse_json_pointer(pointer: &str) -> Result<Vec<String>, DiffError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let invalid = |reason| DiffError::InvalidJsonPointer {
        pointer: pointer.to_owned(),
        reason,
    };
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| invalid("must start with '/'"))?;
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(invalid("'~' must be followed by '0' or '1'")),
                }
            }
            Ok(out)
        })
        .collect()
}

/// Removes the value a pointer names. Returns whether something was removed;
/// a path that does not exist is not an error. The empty pointer (the whole
/// document) removes nothing.
pub fn remove_json_pointer(obj: &mut Value, pointer: &str) -> Result<bool, DiffError> {
    let tokens = parse_json_pointer(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Ok(false);
    };
    let mut current = obj;
    for token in parents {
        let next = match current {
            Value::Object(map) => map.get_mut(token.as_str()),
            Value::Array(items) => array_index(token).and_then(|i| items.get_mut(i)),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return Ok(false),
        }
    }
    Ok(match current {
        Value::Object(map) => map.remove(last.as_str()).is_some(),
        Value::Array(items) => match array_index(last) {
            Some(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    })
}

/// Removes every field the pointers name, in order (so two pointers into the
/// same array see the indices shift, as a JSON patch would). Pointers that
/// do not parse are skipped; validate them up front with
/// [`parse_json_pointer`] to report them.
pub fn ignore_json_pointers(obj: &mut Value, pointers: &[String]) {
    for pointer in pointers {
        // Skipping is the documented behaviour for invalid pointers.
        let _ = remove_json_pointer(obj, pointer);
    }
}

/// An RFC 6901 array index: `0` or digits without a leading zero.
pub(crate) fn array_index(token: &str) -> Option<usize> {
    let canonical =
        token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
    if canonical && !token.is_empty() {
        token.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_unescape_tilde_and_slash() -> Result<(), DiffError> {
        assert_eq!(
            parse_json_pointer("/metadata/annotations/example.com~1owner~0x")?,
            vec!["metadata", "annotations", "example.com/owner~x"]
        );
        assert_eq!(parse_json_pointer("")?, Vec::<String>::new());
        assert_eq!(parse_json_pointer("/")?, vec![""]);
        Ok(())
    }

    #[test]
    fn pointers_without_a_leading_slash_are_rejected() {
        assert_eq!(
            parse_json_pointer("spec/replicas"),
            Err(DiffError::InvalidJsonPointer {
                pointer: "spec/replicas".into(),
                reason: "must start with '/'"
            })
        );
    }

    #[test]
    fn a_bad_tilde_escape_is_rejected_with_the_pointer_in_the_message() {
        let err = parse_json_pointer("/a~2b").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid json pointer \"/a~2b\": '~' must be followed by '0' or '1'")
        );
        assert!(parse_json_pointer("/a~").is_err());
    }

    #[test]
    fn ignore_json_pointers_removes_object_fields() {
        let mut obj = json!({"spec": {"replicas": 3, "template": {}}});
        ignore_json_pointers(&mut obj, &["/spec/replicas".to_owned()]);
        assert_eq!(obj, json!({"spec": {"template": {}}}));
    }

    #[test]
    fn ignore_json_pointers_removes_escaped_keys() {
        let mut obj = json!({"metadata": {"annotations": {"example.com/owner": "a", "keep": "b"}}});
        ignore_json_pointers(
            &mut obj,
            &["/metadata/annotations/example.com~1owner".to_owned()],
        );
        assert_eq!(obj, json!({"metadata": {"annotations": {"keep": "b"}}}));
    }

    #[test]
    fn ignore_json_pointers_removes_array_elements_and_walks_through_arrays() {
        let mut obj = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "resources": {}},
            {"name": "b", "image": "b:1"}]}});
        ignore_json_pointers(
            &mut obj,
            &[
                "/spec/containers/0/resources".to_owned(),
                "/spec/containers/1".to_owned(),
            ],
        );
        assert_eq!(
            obj,
            json!({"spec": {"containers": [{"name": "a", "image": "a:1"}]}})
        );
    }

    #[test]
    fn missing_paths_and_invalid_pointers_change_nothing() {
        let original = json!({"spec": {"replicas": 3, "list": [1]}});
        let mut obj = original.clone();
        ignore_json_pointers(
            &mut obj,
            &[
                "/spec/absent/deeper".to_owned(),
                "/spec/list/5".to_owned(),
                "/spec/list/01".to_owned(),
                "/spec/list/-".to_owned(),
                "/spec/replicas/x".to_owned(),
                "spec/replicas".to_owned(),
                String::new(),
            ],
        );
        assert_eq!(obj, original);
    }

    #[test]
    fn remove_json_pointer_says_whether_it_removed_something() -> Result<(), DiffError> {
        let mut obj = json!({"a": {"b": 1}});
        assert!(remove_json_pointer(&mut obj, "/a/b")?);
        assert!(!remove_json_pointer(&mut obj, "/a/b")?);
        assert!(remove_json_pointer(&mut obj, "/a~").is_err());
        Ok(())
    }
}
