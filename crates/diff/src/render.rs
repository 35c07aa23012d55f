//! Showing a difference: both sides as YAML with sorted keys, then a unified
//! diff of the lines.

use serde_json::Value;
use similar::TextDiff;

/// Lines of unchanged context around each change.
const CONTEXT_LINES: usize = 3;

/// An object as YAML with object keys sorted at every level, so that two
/// renderings differ only where the objects do.
pub fn to_sorted_yaml(obj: &Value) -> String {
    let sorted = sort_keys(obj);
    caravel_yaml::to_string(&sorted).unwrap_or_else(|_| {
        // A JSON value always has a YAML form; keep a readable fallback anyway.
        let mut json = serde_json::to_string_pretty(&sorted).unwrap_or_default();
        json.push('\n');
        json
    })
}

/// A unified diff from `live` to `target`, both rendered with
/// [`to_sorted_yaml`] (an absent side is empty, so every line shows as added
/// or removed), with `--- live` / `+++ target` headers. An empty `label` adds
/// nothing; otherwise the diff is preceded by Argo CD's banner line
/// `===== {label} ======` (as `argocd app diff` prints
/// `===== apps/Deployment ns/name ======`). Empty when the sides are equal.
pub fn unified_diff(live: Option<&Value>, target: Option<&Value>, label: &str) -> String {
    if live == target {
        return String::new();
    }
    let live_yaml = live.map(to_sorted_yaml).unwrap_or_default();
    let target_yaml = target.map(to_sorted_yaml).unwrap_or_default();
    if live_yaml == target_yaml {
        return String::new();
    }
    let diff = TextDiff::from_lines(&live_yaml, &target_yaml);
    let body = diff
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header("live", "target")
        .to_string();
    if label.is_empty() {
        body
    } else {
        format!("===== {label} ======\n{body}")
    }
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "prod"},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    #[test]
    fn equal_objects_have_an_empty_diff() {
        let d = deployment(2, "nginx:1.25");
        assert_eq!(
            unified_diff(Some(&d), Some(&d.clone()), "apps/Deployment prod/web"),
            ""
        );
        assert_eq!(unified_diff(None, None, "x"), "");
    }

    #[test]
    fn the_diff_shows_changed_lines_under_live_and_target_headers() {
        let live = deployment(2, "nginx:1.25");
        let target = deployment(3, "nginx:1.25");
        assert_eq!(
            unified_diff(Some(&live), Some(&target), ""),
            "--- live\n+++ target\n@@ -4,7 +4,7 @@\n   name: web\n   namespace: prod\n spec:\n-  replicas: 2\n+  replicas: 3\n   template:\n     spec:\n       containers:\n"
        );
    }

    #[test]
    fn a_label_adds_argo_cd_banner_line() {
        let diff = unified_diff(
            Some(&deployment(2, "nginx:1.25")),
            Some(&deployment(2, "nginx:1.26")),
            "apps/Deployment prod/web",
        );
        assert!(
            diff.starts_with("===== apps/Deployment prod/web ======\n--- live\n+++ target\n"),
            "{diff}"
        );
        assert!(
            diff.contains("\n-      - image: nginx:1.25\n+      - image: nginx:1.26\n"),
            "{diff}"
        );
    }

    #[test]
    fn a_resource_missing_from_the_cluster_shows_as_all_added() {
        let diff = unified_diff(
            None,
            Some(&json!({"kind": "ConfigMap", "data": {"k": "v"}})),
            "",
        );
        assert_eq!(
            diff,
            "--- live\n+++ target\n@@ -0,0 +1,3 @@\n+data:\n+  k: v\n+kind: ConfigMap\n"
        );
    }

    #[test]
    fn a_resource_to_prune_shows_as_all_removed() {
        let diff = unified_diff(Some(&json!({"kind": "ConfigMap"})), None, "");
        assert_eq!(
            diff,
            "--- live\n+++ target\n@@ -1 +0,0 @@\n-kind: ConfigMap\n"
        );
    }

    #[test]
    fn yaml_keys_are_sorted_at_every_level() {
        assert_eq!(
            to_sorted_yaml(&json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": true}})),
            "a:\n  c: true\n  z:\n  - x: 2\n    y: 1\nb: 1\n"
        );
    }
}
