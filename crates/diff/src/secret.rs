//! Secret masking for diffs (Argo CD's `HideSecretData`): every value becomes
//! a run of `+`, equal values on both sides get the same run and different
//! values get different lengths, so a change still shows without showing the
//! secret.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::normalize::{is_secret, normalize_secret, strip_last_applied};

/// The mask of the first distinct value of a key. Each further distinct value
/// of the same key gets four more `+`.
pub const MASK: &str = "++++++++";

/// One Secret with every `data` (and `stringData`, folded into `data` first)
/// value replaced by [`MASK`], and without the last-applied annotation.
/// Anything that is not a core/v1 Secret is returned unchanged.
pub fn mask_secret(obj: &Value) -> Value {
    match mask_secrets(None, Some(obj)) {
        (_, Some(masked)) => masked,
        (_, None) => obj.clone(),
    }
}

/// Masks a target and a live Secret together, so that a key whose value is
/// the same on both sides masks to the same string and a key whose value
/// differs masks to strings of different lengths. `stringData` is folded
/// into `data` first (as the API server does) and the last-applied
/// annotation, which repeats the data in clear, is removed. Objects that are
/// not core/v1 Secrets are returned unchanged.
pub fn mask_secrets(
    target: Option<&Value>,
    live: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    let mut target = target.cloned();
    let mut live = live.cloned();
    let mut sides: Vec<&mut Value> = [target.as_mut(), live.as_mut()]
        .into_iter()
        .flatten()
        .filter(|obj| is_secret(obj))
        .collect();

    let mut keys = BTreeSet::new();
    for obj in sides.iter_mut() {
        normalize_secret(obj);
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            strip_last_applied(meta);
        }
        if let Some(data) = obj.get("data").and_then(Value::as_object) {
            keys.extend(data.keys().cloned());
        }
    }

    for key in &keys {
        let mut next = MASK.to_owned();
        let mut masks: Vec<(Value, String)> = Vec::new();
        for obj in sides.iter_mut() {
            let Some(value) = obj.get_mut("data").and_then(|d| d.get_mut(key)) else {
                continue;
            };
            let mask = match masks.iter().find(|(seen, _)| seen == value) {
                Some((_, mask)) => mask.clone(),
                None => {
                    let mask = next.clone();
                    next.push_str("++++");
                    masks.push((value.clone(), mask.clone()));
                    mask
                }
            };
            *value = Value::String(mask);
        }
    }
    (target, live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::LAST_APPLIED_ANNOTATION;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": data})
    }

    #[test]
    fn mask_secret_replaces_every_data_and_string_data_value() {
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"user": "YWRtaW4=", "password": "aHVudGVyMg=="}, "stringData": {"token": "t0k3n"}});
        assert_eq!(
            mask_secret(&s),
            secret(json!({"user": MASK, "password": MASK, "token": MASK}))
        );
    }

    #[test]
    fn mask_secret_removes_the_last_applied_annotation_that_repeats_the_data() {
        let mut s = secret(json!({"password": "aHVudGVyMg=="}));
        s["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}",
                                              "team": "db"});
        let masked = mask_secret(&s);
        assert_eq!(masked["metadata"]["annotations"], json!({"team": "db"}));
        assert!(!masked.to_string().contains("aHVudGVyMg=="));
    }

    #[test]
    fn mask_secret_leaves_other_kinds_alone() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        assert_eq!(mask_secret(&cm), cm);
    }

    #[test]
    fn equal_values_mask_to_the_same_string_on_both_sides() {
        let target = secret(json!({"password": "aHVudGVyMg=="}));
        let live = secret(json!({"password": "aHVudGVyMg=="}));
        let (t, l) = mask_secrets(Some(&target), Some(&live));
        assert_eq!(t, Some(secret(json!({"password": MASK}))));
        assert_eq!(t, l);
    }

    #[test]
    fn a_changed_value_masks_to_a_different_length_without_revealing_either_value() {
        let target = secret(json!({"password": "bmV3", "user": "YWRtaW4="}));
        let live = secret(json!({"password": "b2xk", "user": "YWRtaW4="}));
        let (t, l) = mask_secrets(Some(&target), Some(&live));
        assert_eq!(
            t,
            Some(secret(json!({"password": "++++++++", "user": "++++++++"})))
        );
        assert_eq!(
            l,
            Some(secret(
                json!({"password": "++++++++++++", "user": "++++++++"})
            ))
        );
    }

    #[test]
    fn a_string_data_target_matches_the_same_value_in_live_data() {
        let target = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                            "stringData": {"password": "hunter2"}});
        let live = secret(json!({"password": "aHVudGVyMg=="}));
        let (t, l) = mask_secrets(Some(&target), Some(&live));
        assert_eq!(t, l);
    }

    #[test]
    fn keys_present_on_one_side_only_are_masked_there() {
        let target = secret(json!({"new": "eA=="}));
        let live = secret(json!({"old": "eQ=="}));
        let (t, l) = mask_secrets(Some(&target), Some(&live));
        assert_eq!(t, Some(secret(json!({"new": MASK}))));
        assert_eq!(l, Some(secret(json!({"old": MASK}))));
    }

    #[test]
    fn a_missing_side_stays_missing() {
        let live = secret(json!({"password": "aHVudGVyMg=="}));
        let (t, l) = mask_secrets(None, Some(&live));
        assert_eq!(t, None);
        assert_eq!(l, Some(secret(json!({"password": MASK}))));
    }
}
