//! Concrete field paths into one object (`["spec", "containers", 1,
//! "image"]`): what every kind of ignore rule resolves to before anything is
//! removed or copied, so pointers, jq paths and managed fields share one
//! removal and one copy routine.

use serde_json::{Map, Value};

use crate::pointer::array_index;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSegment {
    /// A field of an object.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// A path to a value that exists in a particular object.
pub type FieldPath = Vec<PathSegment>;

/// The value at `path`, if it exists.
pub(crate) fn get<'a>(obj: &'a Value, path: &[PathSegment]) -> Option<&'a Value> {
    path.iter()
        .try_fold(obj, |value, segment| match (segment, value) {
            (PathSegment::Key(key), Value::Object(map)) => map.get(key),
            (PathSegment::Index(i), Value::Array(items)) => items.get(*i),
            _ => None,
        })
}

fn get_mut<'a>(obj: &'a mut Value, path: &[PathSegment]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(obj, |value, segment| match (segment, value) {
            (PathSegment::Key(key), Value::Object(map)) => map.get_mut(key),
            (PathSegment::Index(i), Value::Array(items)) => items.get_mut(*i),
            _ => None,
        })
}

/// The path an RFC 6901 pointer names in `obj`, if that value exists. Like a
/// JSON patch `remove`, an array step must be a canonical index in bounds.
pub(crate) fn resolve_pointer(obj: &Value, tokens: &[String]) -> Option<FieldPath> {
    let mut current = obj;
    let mut path = Vec::with_capacity(tokens.len());
    for token in tokens {
        let segment = match current {
            Value::Object(_) => PathSegment::Key(token.clone()),
            Value::Array(_) => PathSegment::Index(array_index(token)?),
            _ => return None,
        };
        current = get(current, std::slice::from_ref(&segment))?;
        path.push(segment);
    }
    Some(path)
}

/// A path as jq reports it (`path(f)`), made concrete: negative indices count
/// from the end, as jq's `delpaths` reads them. `None` when the path does not
/// lead to an existing value.
pub(crate) fn resolve_jq(obj: &Value, raw: &[Value]) -> Option<FieldPath> {
    let mut current = obj;
    let mut path = Vec::with_capacity(raw.len());
    for step in raw {
        let segment = match (step, current) {
            (Value::String(key), Value::Object(_)) => PathSegment::Key(key.clone()),
            (Value::Number(n), Value::Array(items)) => {
                let i = n.as_i64()?;
                let i = if i < 0 {
                    items
                        .len()
                        .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(i).ok()?
                };
                PathSegment::Index(i)
            }
            _ => return None,
        };
        current = get(current, std::slice::from_ref(&segment))?;
        path.push(segment);
    }
    Some(path)
}

/// Removes the value at `path`. The empty path (the whole object) removes
/// nothing. Returns whether something was removed.
pub(crate) fn remove(obj: &mut Value, path: &[PathSegment]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    match (last, get_mut(obj, parents)) {
        (PathSegment::Key(key), Some(Value::Object(map))) => map.remove(key).is_some(),
        (PathSegment::Index(i), Some(Value::Array(items))) if *i < items.len() => {
            items.remove(*i);
            true
        }
        _ => false,
    }
}

/// Removes every path, deepest and last first so that removing one never
/// shifts the array indices of another (jq's `delpaths` order).
pub(crate) fn remove_all(obj: &mut Value, mut paths: Vec<FieldPath>) {
    paths.sort_by(|a, b| b.cmp(a));
    paths.dedup();
    for path in &paths {
        remove(obj, path);
    }
}

/// Like [`remove_all`], and a map or array that one of the removals leaves
/// empty goes too (up to, not including, the root), so that removing a
/// manager's only annotation does not leave `annotations: {}` behind.
pub(crate) fn remove_all_pruning(obj: &mut Value, mut paths: Vec<FieldPath>) {
    paths.sort_by(|a, b| b.cmp(a));
    paths.dedup();
    for path in &paths {
        if !remove(obj, path) {
            continue;
        }
        let mut parent = &path[..path.len().saturating_sub(1)];
        while !parent.is_empty() && get(obj, parent).is_some_and(is_empty_container) {
            remove(obj, parent);
            parent = &parent[..parent.len() - 1];
        }
    }
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Writes `value` at `path` in `target`, where `path` is a path into
/// `source` (the object the value was read from). Array steps are matched
/// by identity rather than position: an element with a string `name` (the
/// merge key of containers, env, volumes, ports by name, …) is the element
/// with the same name in the target; any other element keeps its index. An
/// element the target lacks is appended when it is the value being written,
/// and the write is skipped when it would have to pass through it. Missing
/// objects along the way are created. Returns whether the value was written.
pub(crate) fn copy_into(
    target: &mut Value,
    source: &Value,
    path: &[PathSegment],
    value: Value,
) -> bool {
    let Some((last, parents)) = path.split_last() else {
        *target = value;
        return true;
    };
    let mut source_cursor = Some(source);
    let mut cursor = target;
    for segment in parents {
        let source_child = source_cursor.and_then(|s| get(s, std::slice::from_ref(segment)));
        cursor = match segment {
            PathSegment::Key(key) => {
                if cursor.is_null() {
                    *cursor = Value::Object(Map::new());
                }
                let Value::Object(map) = cursor else {
                    return false;
                };
                map.entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            PathSegment::Index(i) => {
                let Value::Array(items) = cursor else {
                    return false;
                };
                match matching_index(items, source_child, *i) {
                    Some(j) => &mut items[j],
                    None => return false,
                }
            }
        };
        source_cursor = source_child;
    }
    match last {
        PathSegment::Key(key) => {
            if cursor.is_null() {
                *cursor = Value::Object(Map::new());
            }
            let Value::Object(map) = cursor else {
                return false;
            };
            map.insert(key.clone(), value);
            true
        }
        PathSegment::Index(i) => {
            let Value::Array(items) = cursor else {
                return false;
            };
            match matching_index(items, Some(&value), *i) {
                Some(j) => items[j] = value,
                None => items.push(value),
            }
            true
        }
    }
}

/// The path in `target` of the value at `path` in `source`, array elements
/// matched as [`copy_into`] matches them, if `target` has that value.
pub(crate) fn counterpart(
    target: &Value,
    source: &Value,
    path: &[PathSegment],
) -> Option<FieldPath> {
    let mut out = Vec::with_capacity(path.len());
    let (mut cursor, mut source_cursor) = (target, source);
    for segment in path {
        let source_child = get(source_cursor, std::slice::from_ref(segment))?;
        let step = match (segment, cursor) {
            (PathSegment::Key(key), Value::Object(map)) if map.contains_key(key) => segment.clone(),
            (PathSegment::Index(i), Value::Array(items)) => {
                PathSegment::Index(matching_index(items, Some(source_child), *i)?)
            }
            _ => return None,
        };
        cursor = get(cursor, std::slice::from_ref(&step))?;
        out.push(step);
        source_cursor = source_child;
    }
    Some(out)
}

/// The index in `items` of the element that corresponds to `source_element`
/// (found at `source_index` on the other side).
fn matching_index(
    items: &[Value],
    source_element: Option<&Value>,
    source_index: usize,
) -> Option<usize> {
    match source_element.and_then(merge_name) {
        Some(name) => items.iter().position(|item| merge_name(item) == Some(name)),
        None => (source_index < items.len()).then_some(source_index),
    }
}

fn merge_name(element: &Value) -> Option<&str> {
    element.get("name").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> PathSegment {
        PathSegment::Key(k.to_owned())
    }

    #[test]
    fn pointers_resolve_only_to_existing_values() {
        let obj = json!({"spec": {"containers": [{"name": "a"}], "replicas": 2}});
        let tokens = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            resolve_pointer(&obj, &tokens(&["spec", "containers", "0", "name"])),
            Some(vec![
                key("spec"),
                key("containers"),
                PathSegment::Index(0),
                key("name")
            ])
        );
        assert_eq!(
            resolve_pointer(&obj, &tokens(&["spec", "containers", "1"])),
            None
        );
        assert_eq!(
            resolve_pointer(&obj, &tokens(&["spec", "containers", "-"])),
            None
        );
        assert_eq!(resolve_pointer(&obj, &tokens(&["spec", "absent"])), None);
        assert_eq!(
            resolve_pointer(&obj, &tokens(&["spec", "replicas", "x"])),
            None
        );
    }

    #[test]
    fn jq_paths_resolve_negative_indices_from_the_end() {
        let obj = json!({"list": [1, 2, 3]});
        assert_eq!(
            resolve_jq(&obj, &[json!("list"), json!(-1)]),
            Some(vec![key("list"), PathSegment::Index(2)])
        );
        assert_eq!(resolve_jq(&obj, &[json!("list"), json!(-4)]), None);
        assert_eq!(resolve_jq(&obj, &[json!("list"), json!(3)]), None);
        assert_eq!(resolve_jq(&obj, &[json!("list"), json!("x")]), None);
        assert_eq!(resolve_jq(&obj, &[json!({"start": 0})]), None);
    }

    #[test]
    fn removing_several_paths_into_one_array_removes_the_right_elements() {
        let mut obj = json!({"list": ["a", "b", "c", "d"]});
        remove_all(
            &mut obj,
            vec![
                vec![key("list"), PathSegment::Index(1)],
                vec![key("list"), PathSegment::Index(3)],
                vec![key("list"), PathSegment::Index(1)],
            ],
        );
        assert_eq!(obj, json!({"list": ["a", "c"]}));
    }

    #[test]
    fn pruning_removes_containers_a_removal_emptied_but_not_ones_already_empty() {
        let mut obj = json!({"metadata": {"annotations": {"a": "1"}, "labels": {}}});
        remove_all_pruning(
            &mut obj,
            vec![vec![key("metadata"), key("annotations"), key("a")]],
        );
        assert_eq!(obj, json!({"metadata": {"labels": {}}}));
    }

    #[test]
    fn copying_a_named_element_finds_it_by_name_or_appends_it() {
        let source =
            json!({"containers": [{"name": "a", "image": "a:2"}, {"name": "b", "image": "b:1"}]});
        let mut target = json!({"containers": [{"name": "b", "image": "b:0"}]});
        let image_of_b = vec![key("containers"), PathSegment::Index(1), key("image")];
        assert!(copy_into(&mut target, &source, &image_of_b, json!("b:1")));
        let a = vec![key("containers"), PathSegment::Index(0)];
        assert!(copy_into(
            &mut target,
            &source,
            &a,
            source["containers"][0].clone()
        ));
        assert_eq!(
            target,
            json!({"containers": [{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:2"}]})
        );
    }

    #[test]
    fn copying_through_a_missing_element_is_skipped_and_missing_objects_are_created() {
        let source =
            json!({"containers": [{"name": "a", "image": "a:2"}], "spec": {"replicas": 5}});
        let mut target = json!({"containers": []});
        let path = vec![key("containers"), PathSegment::Index(0), key("image")];
        assert!(!copy_into(&mut target, &source, &path, json!("a:2")));
        assert!(copy_into(
            &mut target,
            &source,
            &[key("spec"), key("replicas")],
            json!(5)
        ));
        assert_eq!(target, json!({"containers": [], "spec": {"replicas": 5}}));
    }
}
