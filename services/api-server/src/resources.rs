//! `ManagedResources`: the controller's last comparison of an app, read from
//! the app state cache and shaped into `ResourceDiff`s with a unified YAML
//! diff from the live state to the predicted one.

use caravel_appstate::ManagedResource;
use caravel_proto::application::v1::ResourceDiff;
use serde_json::Value;

/// One managed resource as the API returns it.
pub fn resource_diff(r: ManagedResource) -> ResourceDiff {
    let target = r.target_state.map(ensure_masked);
    let live = r.live_state.map(ensure_masked);
    let predicted = r.predicted_live_state.map(ensure_masked);
    // Without a dry-run result (e.g. its namespace does not exist yet) the
    // target is the best prediction; a resource to prune predicts nothing.
    let after = predicted.as_ref().or(target.as_ref());
    let diff = if r.modified {
        caravel_diff::unified_diff(live.as_ref(), after, "")
    } else {
        String::new()
    };
    ResourceDiff {
        group: r.group,
        kind: r.kind,
        namespace: r.namespace,
        name: r.name,
        target_state: json_or_empty(target.as_ref()),
        live_state: json_or_empty(live.as_ref()),
        predicted_live_state: json_or_empty(predicted.as_ref()),
        modified: r.modified,
        hook: r.hook,
        diff,
    }
}

fn json_or_empty(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_default()
}

/// The controller publishes Secrets masked already; if a Secret still
/// carries a clear value (an older or faulty writer), mask it here rather
/// than ever serving it.
fn ensure_masked(obj: Value) -> Value {
    let is_secret = obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if !is_secret {
        return obj;
    }
    let clear = ["data", "stringData"].iter().any(|field| {
        obj.get(*field)
            .and_then(Value::as_object)
            .is_some_and(|m| m.values().any(|v| !is_mask(v)))
    });
    let annotated = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(caravel_diff::LAST_APPLIED_ANNOTATION));
    if clear || annotated {
        caravel_diff::mask_secret(&obj)
    } else {
        obj
    }
}

fn is_mask(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b == b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map(value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cfg", "namespace": "prod"}, "data": {"k": value}})
    }

    fn managed(
        live: Option<Value>,
        target: Option<Value>,
        predicted: Option<Value>,
    ) -> ManagedResource {
        ManagedResource {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "prod".into(),
            name: "cfg".into(),
            target_state: target,
            live_state: live,
            predicted_live_state: predicted,
            modified: true,
            hook: false,
        }
    }

    #[test]
    fn a_modified_resource_carries_a_diff_from_live_to_predicted() {
        let d = resource_diff(managed(
            Some(config_map("a")),
            Some(config_map("b")),
            Some(config_map("b")),
        ));
        assert!(d.modified);
        assert!(d.diff.starts_with("--- live\n+++ target\n"), "{}", d.diff);
        assert!(d.diff.contains("\n-  k: a\n+  k: b\n"), "{}", d.diff);
        assert_eq!(d.live_state, config_map("a").to_string());
        assert_eq!(d.predicted_live_state, config_map("b").to_string());
    }

    #[test]
    fn a_missing_resource_diffs_against_the_target_when_there_is_no_prediction() {
        let d = resource_diff(managed(None, Some(config_map("b")), None));
        assert_eq!(d.live_state, "");
        assert_eq!(d.predicted_live_state, "");
        assert!(d.diff.contains("+kind: ConfigMap\n"), "{}", d.diff);
    }

    #[test]
    fn a_resource_to_prune_shows_everything_removed() {
        let d = resource_diff(managed(Some(config_map("a")), None, None));
        assert_eq!(d.target_state, "");
        assert!(d.diff.contains("-kind: ConfigMap\n"), "{}", d.diff);
        assert!(
            !d.diff.lines().skip(2).any(|l| l.starts_with('+')),
            "{}",
            d.diff
        );
    }

    #[test]
    fn an_unmodified_resource_has_no_diff() {
        let mut r = managed(Some(config_map("a")), Some(config_map("a")), None);
        r.modified = false;
        assert_eq!(resource_diff(r).diff, "");
    }

    #[test]
    fn clear_secret_values_are_never_served() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "prod"},
            "data": {"password": "aHVudGVyMg=="}});
        let mut r = managed(Some(secret.clone()), Some(secret), None);
        r.kind = "Secret".into();
        let d = resource_diff(r);
        for text in [&d.live_state, &d.target_state, &d.diff] {
            assert!(!text.contains("aHVudGVyMg=="), "{text}");
        }
        assert!(d.live_state.contains(caravel_diff::MASK));
    }

    #[test]
    fn masked_secrets_keep_their_masks() {
        let masked = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"a": "++++++++", "b": "++++++++++++"}});
        assert_eq!(ensure_masked(masked.clone()), masked);
    }
}
