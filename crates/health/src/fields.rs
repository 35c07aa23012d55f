//! Lenient readers for Kubernetes JSON. A missing or mistyped field reads as
//! Go's zero value (0, "", false, empty list), which is what Argo CD's rules
//! see after converting the unstructured object to its typed struct.

use serde_json::Value;

/// The value at `path`, if every step exists.
pub(crate) fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| v.get(key))
}

/// An integer field that Go would model as a pointer (`nil` when absent).
pub(crate) fn opt_int(obj: &Value, path: &[&str]) -> Option<i64> {
    // Integral floats happen when JSON went through a float-only decoder.
    at(obj, path).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// An integer field, 0 when absent.
pub(crate) fn int(obj: &Value, path: &[&str]) -> i64 {
    opt_int(obj, path).unwrap_or(0)
}

/// A string field, "" when absent.
pub(crate) fn text<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    at(obj, path).and_then(Value::as_str).unwrap_or("")
}

/// A boolean field, false when absent.
pub(crate) fn flag(obj: &Value, path: &[&str]) -> bool {
    at(obj, path).and_then(Value::as_bool).unwrap_or(false)
}

/// A list field, empty when absent.
pub(crate) fn list<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Whether an object-valued field is present and not null (Go: pointer != nil).
pub(crate) fn present(obj: &Value, path: &[&str]) -> bool {
    at(obj, path).is_some_and(|v| !v.is_null())
}

/// The object's `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    text(obj, &["metadata", "name"])
}

/// The object's `metadata.annotations[key]`, if set.
pub(crate) fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    at(obj, &["metadata", "annotations", key])
}

/// The first entry of `status.conditions` whose `type` is `condition_type`.
pub(crate) fn condition<'a>(obj: &'a Value, condition_type: &str) -> Option<&'a Value> {
    list(obj, &["status", "conditions"])
        .iter()
        .find(|c| text(c, &["type"]) == condition_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_read_as_go_zero_values() {
        let obj = json!({"spec": {}});
        assert_eq!(int(&obj, &["spec", "replicas"]), 0);
        assert_eq!(opt_int(&obj, &["spec", "replicas"]), None);
        assert_eq!(text(&obj, &["spec", "type"]), "");
        assert!(!flag(&obj, &["spec", "paused"]));
        assert!(list(&obj, &["status", "conditions"]).is_empty());
        assert!(!present(&obj, &["spec", "rollingUpdate"]));
    }

    #[test]
    fn null_object_fields_count_as_absent() {
        let obj = json!({"spec": {"rollingUpdate": null}});
        assert!(!present(&obj, &["spec", "rollingUpdate"]));
    }

    #[test]
    fn integral_floats_read_as_integers() {
        let obj = json!({"spec": {"replicas": 3.0}});
        assert_eq!(opt_int(&obj, &["spec", "replicas"]), Some(3));
    }

    #[test]
    fn condition_finds_the_first_entry_of_a_type() {
        let obj = json!({"status": {"conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "reason": "First"},
            {"type": "Progressing", "reason": "Second"},
        ]}});
        assert_eq!(
            condition(&obj, "Progressing").map(|c| text(c, &["reason"])),
            Some("First")
        );
        assert!(condition(&obj, "ReplicaFailure").is_none());
    }
}
