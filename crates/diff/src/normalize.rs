//! Normalization: reduce an object to the part that is desired state, so a
//! manifest and the live object it produced compare equal.

use base64::Engine as _;
use serde_json::{Map, Value};

/// kubectl's client-side-apply record. It holds the whole last applied
/// manifest, Secret data included, so it never belongs in a diff.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata the API server sets; a manifest never declares it.
const SERVER_SET_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionGracePeriodSeconds",
];

/// A copy of `obj` without what is never desired state:
/// `metadata.{managedFields, resourceVersion, uid, generation,
/// creationTimestamp, selfLink, deletionGracePeriodSeconds}`, the
/// last-applied-configuration annotation, `status`, and `metadata.annotations`
/// / `metadata.labels` left empty by that. A core/v1 Secret also gets its
/// `stringData` folded into `data` (base64-encoded) and null `data` values
/// turned into `""`, as Argo CD's `NormalizeSecret` does, so a manifest using
/// `stringData` matches the live Secret.
pub fn normalize(obj: &Value) -> Value {
    let mut out = obj.clone();
    let Some(map) = out.as_object_mut() else {
        return out;
    };
    map.remove("status");
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_SET_METADATA {
            meta.remove(*field);
        }
        strip_last_applied(meta);
        remove_if_empty(meta, "labels");
    }
    if is_secret(&out) {
        normalize_secret(&mut out);
    }
    out
}

/// Whether two objects are equal once both are normalized.
pub fn is_equal(a: &Value, b: &Value) -> bool {
    a == b || normalize(a) == normalize(b)
}

/// Removes the last-applied annotation, and `annotations` if that empties it.
pub(crate) fn strip_last_applied(meta: &mut Map<String, Value>) {
    if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
    remove_if_empty(meta, "annotations");
}

fn remove_if_empty(meta: &mut Map<String, Value>, key: &str) {
    let empty = meta
        .get(key)
        .is_some_and(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty));
    if empty {
        meta.remove(key);
    }
}

/// Whether `obj` is a core/v1 Secret.
pub(crate) fn is_secret(obj: &Value) -> bool {
    obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && obj.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// Folds `stringData` into `data` (base64-encoding string values) and turns
/// null `data` values into `""`.
pub(crate) fn normalize_secret(secret: &mut Value) {
    let Some(map) = secret.as_object_mut() else {
        return;
    };
    let string_data = match map.remove("stringData") {
        Some(Value::Object(string_data)) => Some(string_data),
        // A null stringData declares nothing; anything else is left for the
        // API server to reject.
        Some(Value::Null) | None => None,
        Some(other) => {
            map.insert("stringData".to_owned(), other);
            None
        }
    };
    if let Some(string_data) = string_data {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if data.is_null() {
            *data = Value::Object(Map::new());
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in string_data {
                let value = match value {
                    Value::String(s) => {
                        Value::String(base64::engine::general_purpose::STANDARD.encode(s))
                    }
                    other => other,
                };
                data.insert(key, value);
            }
        }
    }
    if let Some(data) = map.get_mut("data").and_then(Value::as_object_mut) {
        for value in data.values_mut().filter(|v| v.is_null()) {
            *value = Value::String(String::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "prod",
                "uid": "5e4f",
                "resourceVersion": "812",
                "generation": 3,
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "selfLink": "/apis/apps/v1/namespaces/prod/deployments/web",
                "deletionGracePeriodSeconds": 30,
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {
                    "deployment.kubernetes.io/revision": "3",
                    LAST_APPLIED_ANNOTATION: "{\"kind\":\"Deployment\"}"
                },
                "labels": {"app": "web"}
            },
            "spec": {"replicas": 2},
            "status": {"replicas": 2, "availableReplicas": 2}
        })
    }

    #[test]
    fn normalize_strips_server_set_metadata_and_status() {
        assert_eq!(
            normalize(&live_deployment()),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": "web",
                    "namespace": "prod",
                    "annotations": {"deployment.kubernetes.io/revision": "3"},
                    "labels": {"app": "web"}
                },
                "spec": {"replicas": 2}
            })
        );
    }

    #[test]
    fn normalize_drops_annotations_and_labels_left_empty() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {LAST_APPLIED_ANNOTATION: "{}"}, "labels": {}},
            "data": {"k": "v"}});
        assert_eq!(
            normalize(&obj),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn normalize_leaves_non_objects_alone() {
        assert_eq!(normalize(&json!(null)), json!(null));
        assert_eq!(normalize(&json!([1, 2])), json!([1, 2]));
    }

    #[test]
    fn normalize_folds_secret_string_data_into_base64_data() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "YQ==", "empty": null}, "stringData": {"password": "hunter2"}});
        assert_eq!(
            normalize(&secret),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "data": {"a": "YQ==", "empty": "", "password": "aHVudGVyMg=="}})
        );
    }

    #[test]
    fn normalize_leaves_string_data_of_non_secrets_alone() {
        let obj =
            json!({"apiVersion": "example.com/v1", "kind": "Secret", "stringData": {"k": "v"}});
        assert_eq!(normalize(&obj), obj);
    }

    #[test]
    fn is_equal_ignores_what_normalize_strips() {
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod",
                         "annotations": {"deployment.kubernetes.io/revision": "3"}, "labels": {"app": "web"}},
            "spec": {"replicas": 2}});
        assert!(is_equal(&live_deployment(), &target));
        let mut changed = target.clone();
        changed["spec"]["replicas"] = json!(3);
        assert!(!is_equal(&live_deployment(), &changed));
    }

    #[test]
    fn is_equal_matches_a_string_data_manifest_with_the_live_secret() {
        let target = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "stringData": {"password": "hunter2"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "uid": "1", "resourceVersion": "2"},
            "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"});
        assert!(
            !is_equal(&live, &target),
            "type: Opaque is still a difference"
        );
        let mut live = live;
        live.as_object_mut().map(|m| m.remove("type"));
        assert!(is_equal(&live, &target));
    }
}
