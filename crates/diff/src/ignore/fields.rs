//! `metadata.managedFields`: which fields a field manager owns, in the
//! FieldsV1 format the API server writes, and which values of an object
//! those are (for `ignoreDifferences[].managedFieldsManagers`).
//!
//! FieldsV1 is a tree of JSON objects keyed by path elements:
//! `f:<name>` a field of a map or struct, `k:<json object>` the element of a
//! keyed list whose key fields have those values, `v:<json value>` the
//! element of a set-like list with that value, `i:<index>` the element of an
//! atomic-ish list at that position, and `.` the node itself (written only
//! next to children). A node with no children (`{}`) is a field the manager
//! owns outright.

use serde_json::{Map, Value};

use super::path::{self, FieldPath, PathSegment};
use crate::DiffError;

/// One path element of a FieldsV1 set.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKey {
    /// `f:<name>`: a field of a map or struct.
    Field(String),
    /// `k:{…}`: the list element whose key fields have these values.
    Key(Map<String, Value>),
    /// `v:<json>`: the set element equal to this value.
    Value(Value),
    /// `i:<n>`: the list element at this index.
    Index(usize),
}

/// A parsed FieldsV1 set: the fields one manager owns under one node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    /// Whether the node itself is owned (the `.` marker).
    pub owns_self: bool,
    /// The owned children, in the order the API server wrote them.
    pub children: Vec<(FieldKey, FieldSet)>,
}

impl FieldSet {
    /// A node owned outright: no children listed, so its whole value is the
    /// manager's.
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }

    /// The paths, in `obj`, of the values this set owns, as
    /// `managedFieldsManagers` removes them:
    ///
    /// - a leaf is removed whole, whatever its value;
    /// - a list element the manager owns itself (a leaf, or `.` among its
    ///   children) is removed whole; otherwise only its owned fields are,
    ///   never its key fields, so the element keeps its identity;
    /// - a map or struct field with children is never removed whole, even
    ///   when it carries `.`: other managers' fields live beside the owned
    ///   ones (`metadata.annotations`);
    /// - list elements are found by key (`k:`) or value (`v:`) in `obj`
    ///   itself, so the live object's managed fields apply to a desired
    ///   manifest whose lists are in another order.
    ///
    /// Entries that name nothing in `obj` are skipped.
    pub fn owned_paths(&self, obj: &Value) -> Vec<FieldPath> {
        let mut out = Vec::new();
        collect(self, obj, &mut Vec::new(), &[], &mut out);
        out
    }
}

fn collect(
    set: &FieldSet,
    node: &Value,
    prefix: &mut FieldPath,
    protected: &[String],
    out: &mut Vec<FieldPath>,
) {
    for (key, child) in &set.children {
        match key {
            FieldKey::Field(name) => {
                let Some(value) = node.as_object().and_then(|m| m.get(name)) else {
                    continue;
                };
                prefix.push(PathSegment::Key(name.clone()));
                if child.is_leaf() {
                    if !protected.contains(name) {
                        out.push(prefix.clone());
                    }
                } else {
                    collect(child, value, prefix, &[], out);
                }
                prefix.pop();
            }
            FieldKey::Key(fields) => {
                let found = elements(node).find(|(_, item)| {
                    item.as_object()
                        .is_some_and(|m| fields.iter().all(|(k, v)| m.get(k) == Some(v)))
                });
                if let Some((i, item)) = found {
                    let key_fields: Vec<String> = fields.keys().cloned().collect();
                    element(child, i, item, prefix, &key_fields, out);
                }
            }
            FieldKey::Value(wanted) => {
                if let Some((i, _)) = elements(node).find(|(_, item)| *item == wanted) {
                    prefix.push(PathSegment::Index(i));
                    out.push(prefix.clone());
                    prefix.pop();
                }
            }
            FieldKey::Index(i) => {
                if let Some(item) = node.as_array().and_then(|items| items.get(*i)) {
                    element(child, *i, item, prefix, &[], out);
                }
            }
        }
    }
}

fn element(
    set: &FieldSet,
    index: usize,
    item: &Value,
    prefix: &mut FieldPath,
    key_fields: &[String],
    out: &mut Vec<FieldPath>,
) {
    prefix.push(PathSegment::Index(index));
    if set.is_leaf() || set.owns_self {
        out.push(prefix.clone());
    } else {
        collect(set, item, prefix, key_fields, out);
    }
    prefix.pop();
}

fn elements(node: &Value) -> impl Iterator<Item = (usize, &Value)> {
    node.as_array()
        .map(|items| items.as_slice())
        .unwrap_or(&[])
        .iter()
        .enumerate()
}

/// Parses a `fieldsV1` object.
pub fn parse_fields_v1(raw: &Value) -> Result<FieldSet, DiffError> {
    let invalid = |reason: String| DiffError::InvalidManagedFields { reason };
    let Value::Object(map) = raw else {
        return Err(invalid(format!("expected an object, got {raw}")));
    };
    let mut set = FieldSet::default();
    for (key, child) in map {
        if key == "." {
            set.owns_self = true;
            continue;
        }
        let element = match key.split_at_checked(2) {
            Some(("f:", name)) => FieldKey::Field(name.to_owned()),
            Some(("k:", fields)) => match serde_json::from_str(fields) {
                Ok(Value::Object(fields)) => FieldKey::Key(fields),
                _ => {
                    return Err(invalid(format!(
                        "{key:?}: a k: element needs a JSON object"
                    )))
                }
            },
            Some(("v:", value)) => {
                FieldKey::Value(serde_json::from_str(value).map_err(|e| {
                    invalid(format!("{key:?}: a v: element needs a JSON value: {e}"))
                })?)
            }
            Some(("i:", index)) => FieldKey::Index(
                index
                    .parse()
                    .map_err(|_| invalid(format!("{key:?}: an i: element needs an index")))?,
            ),
            _ => return Err(invalid(format!("{key:?}: unknown path element"))),
        };
        set.children.push((element, parse_fields_v1(child)?));
    }
    Ok(set)
}

/// The entries of an object's `metadata.managedFields` (empty when absent).
pub fn managed_fields(obj: &Value) -> &[Value] {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The paths, in `obj`, of every value one of `managers` owns according to
/// `managed` (a live object's `metadata.managedFields`).
pub(crate) fn owned_by(
    obj: &Value,
    managed: &[Value],
    managers: &[&str],
) -> Result<Vec<FieldPath>, DiffError> {
    let mut out = Vec::new();
    for entry in managed {
        let manager = entry.get("manager").and_then(Value::as_str).unwrap_or("");
        if !managers.contains(&manager) {
            continue;
        }
        let Some(raw) = entry.get("fieldsV1").filter(|v| !v.is_null()) else {
            continue;
        };
        let set = parse_fields_v1(raw).map_err(|e| match e {
            DiffError::InvalidManagedFields { reason } => DiffError::InvalidManagedFields {
                reason: format!("manager {manager:?}: {reason}"),
            },
            other => other,
        })?;
        out.extend(set.owned_paths(obj));
    }
    Ok(out)
}

/// Removes from `obj` every value one of `managers` owns; see
/// [`FieldSet::owned_paths`].
pub(crate) fn remove_owned(
    obj: &mut Value,
    managed: &[Value],
    managers: &[&str],
) -> Result<(), DiffError> {
    let paths = owned_by(obj, managed, managers)?;
    path::remove_all_pruning(obj, paths);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> PathSegment {
        PathSegment::Key(k.to_owned())
    }

    #[test]
    fn f_elements_name_fields_and_empty_objects_are_leaves() -> Result<(), DiffError> {
        let set = parse_fields_v1(&json!({"f:spec": {"f:replicas": {}}}))?;
        assert_eq!(
            set,
            FieldSet {
                owns_self: false,
                children: vec![(
                    FieldKey::Field("spec".into()),
                    FieldSet {
                        owns_self: false,
                        children: vec![(FieldKey::Field("replicas".into()), FieldSet::default())]
                    }
                )]
            }
        );
        let obj = json!({"spec": {"replicas": 5, "paused": false}});
        assert_eq!(
            set.owned_paths(&obj),
            vec![vec![key("spec"), key("replicas")]]
        );
        Ok(())
    }

    #[test]
    fn field_names_may_contain_dots_slashes_and_colons() -> Result<(), DiffError> {
        let set = parse_fields_v1(
            &json!({"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}}),
        )?;
        let obj = json!({"metadata": {"annotations": {
            "deployment.kubernetes.io/revision": "4", "argocd.argoproj.io/tracking-id": "x"}}});
        assert_eq!(
            set.owned_paths(&obj),
            vec![vec![
                key("metadata"),
                key("annotations"),
                key("deployment.kubernetes.io/revision")
            ]],
            "the annotations map itself (.) is not removed: other managers own entries in it"
        );
        Ok(())
    }

    #[test]
    fn k_elements_find_list_items_by_their_key_fields() -> Result<(), DiffError> {
        let set = parse_fields_v1(&json!({"f:spec": {"f:ports": {
            "k:{\"port\":443,\"protocol\":\"TCP\"}": {"f:nodePort": {}, "f:port": {}}}}}))?;
        let port_key = Map::from_iter([
            ("port".to_owned(), json!(443)),
            ("protocol".to_owned(), json!("TCP")),
        ]);
        assert_eq!(
            set.children[0].1.children[0].1.children[0].0,
            FieldKey::Key(port_key)
        );
        // The element sits at another index than where the manager wrote it.
        let obj = json!({"spec": {"ports": [
            {"port": 80, "protocol": "TCP", "nodePort": 30080},
            {"port": 443, "protocol": "TCP", "nodePort": 30443}]}});
        assert_eq!(
            set.owned_paths(&obj),
            vec![vec![
                key("spec"),
                key("ports"),
                PathSegment::Index(1),
                key("nodePort")
            ]],
            "key fields stay so the element keeps its identity"
        );
        Ok(())
    }

    #[test]
    fn k_elements_owned_themselves_are_removed_whole() -> Result<(), DiffError> {
        let set = parse_fields_v1(&json!({"f:spec": {"f:containers": {
            "k:{\"name\":\"istio-proxy\"}": {".": {}, "f:image": {}, "f:name": {}}}}}))?;
        let obj = json!({"spec": {"containers": [{"name": "web"}, {"name": "istio-proxy", "image": "proxyv2"}]}});
        assert_eq!(
            set.owned_paths(&obj),
            vec![vec![key("spec"), key("containers"), PathSegment::Index(1)]]
        );
        assert!(set
            .owned_paths(&json!({"spec": {"containers": [{"name": "web"}]}}))
            .is_empty());
        Ok(())
    }

    #[test]
    fn v_elements_find_set_items_by_value() -> Result<(), DiffError> {
        let set = parse_fields_v1(&json!({"f:metadata": {"f:finalizers": {
            ".": {}, "v:\"example.com/cleanup\"": {}}}}))?;
        assert_eq!(
            set.children[0].1.children[0].1.children[0].0,
            FieldKey::Value(json!("example.com/cleanup"))
        );
        let obj = json!({"metadata": {"finalizers": ["kubernetes", "example.com/cleanup"]}});
        assert_eq!(
            set.owned_paths(&obj),
            vec![vec![
                key("metadata"),
                key("finalizers"),
                PathSegment::Index(1)
            ]]
        );
        Ok(())
    }

    #[test]
    fn i_elements_find_list_items_by_index() -> Result<(), DiffError> {
        let set = parse_fields_v1(&json!({"f:spec": {"f:args": {"i:1": {}},
            "f:tolerations": {"i:0": {"f:tolerationSeconds": {}}}}}))?;
        let obj = json!({"spec": {"args": ["--a", "--b"],
            "tolerations": [{"key": "k", "tolerationSeconds": 30}]}});
        assert_eq!(
            set.owned_paths(&obj),
            vec![
                vec![key("spec"), key("args"), PathSegment::Index(1)],
                vec![
                    key("spec"),
                    key("tolerations"),
                    PathSegment::Index(0),
                    key("tolerationSeconds")
                ],
            ]
        );
        assert!(set
            .owned_paths(&json!({"spec": {"args": ["--a"]}}))
            .is_empty());
        Ok(())
    }

    #[test]
    fn malformed_field_sets_are_errors_naming_the_element() {
        for (raw, needle) in [
            (json!({"x:spec": {}}), "\"x:spec\": unknown path element"),
            (json!({"k:[1]": {}}), "a k: element needs a JSON object"),
            (json!({"v:not json": {}}), "a v: element needs a JSON value"),
            (json!({"i:one": {}}), "an i: element needs an index"),
            (json!({"f:spec": "leaf"}), "expected an object"),
            (json!([]), "expected an object"),
        ] {
            let err = parse_fields_v1(&raw).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(needle)),
                "{raw}: {err:?}"
            );
        }
    }

    #[test]
    fn only_the_named_managers_fields_are_removed() -> Result<(), DiffError> {
        let managed = vec![
            json!({"manager": "argocd-controller", "operation": "Apply",
                   "fieldsV1": {"f:spec": {"f:replicas": {}, "f:paused": {}}}}),
            json!({"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
                   "fieldsV1": {"f:spec": {"f:replicas": {}}}}),
        ];
        let mut obj = json!({"spec": {"replicas": 7, "paused": false}});
        remove_owned(&mut obj, &managed, &["kube-controller-manager"])?;
        assert_eq!(obj, json!({"spec": {"paused": false}}));
        Ok(())
    }

    #[test]
    fn a_manager_with_broken_fields_is_named_in_the_error() {
        let managed = vec![json!({"manager": "operator", "fieldsV1": {"bogus": {}}})];
        let err = owned_by(&json!({}), &managed, &["operator"])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid managedFields: manager \"operator\": \"bogus\": unknown path element")
        );
    }
}
