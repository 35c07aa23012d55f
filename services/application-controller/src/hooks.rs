//! Resource hooks: which objects are hooks, in which phases they run and
//! when they are deleted, read from Argo CD's annotations or, failing
//! those, from Helm's (mapped as Argo CD maps them).

use caravel_crd::annotations::{HOOK, HOOK_DELETE_POLICY, SYNC_WAVE};
use serde_json::Value;

pub const HELM_HOOK: &str = "helm.sh/hook";
pub const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
pub const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// The phases of a sync, in the order they run (SyncFail only on failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    PreSync,
    Sync,
    PostSync,
    SyncFail,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::PreSync => "PreSync",
            Phase::Sync => "Sync",
            Phase::PostSync => "PostSync",
            Phase::SyncFail => "SyncFail",
        }
    }
}

/// When a hook object is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletePolicy {
    /// Delete an existing object of the same name before creating the hook.
    BeforeHookCreation,
    /// Delete the hook once it succeeded.
    HookSucceeded,
    /// Delete the hook once it failed.
    HookFailed,
}

/// What the annotations say about a hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookInfo {
    /// Phases the hook runs in; empty for `Skip` (never applied).
    pub phases: Vec<Phase>,
    pub delete_policies: Vec<DeletePolicy>,
    /// True for `Skip`: the object is neither applied nor compared.
    pub skip: bool,
}

impl HookInfo {
    pub fn deletes_on(&self, policy: DeletePolicy) -> bool {
        self.delete_policies.contains(&policy)
    }
}

fn annotation<'a>(manifest: &'a Value, key: &str) -> Option<&'a str> {
    manifest
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// The hook a manifest declares, if it is one. Argo CD's annotation wins
/// over Helm's; Helm's `test*` hooks and unknown values are skipped.
pub fn hook_info(manifest: &Value) -> Option<HookInfo> {
    let (phases, skip, helm) = if let Some(v) = annotation(manifest, HOOK) {
        let mut phases = Vec::new();
        let mut skip = false;
        for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match t {
                "PreSync" => phases.push(Phase::PreSync),
                "Sync" => phases.push(Phase::Sync),
                "PostSync" => phases.push(Phase::PostSync),
                "SyncFail" => phases.push(Phase::SyncFail),
                "Skip" => skip = true,
                // PreDelete/PostDelete and unknown types: not run by a sync.
                _ => {}
            }
        }
        (phases, skip, false)
    } else {
        let v = annotation(manifest, HELM_HOOK)?;
        let mut phases = Vec::new();
        for t in v.split(',').map(str::trim) {
            let phase = match t {
                "crd-install" | "pre-install" | "pre-upgrade" => Some(Phase::PreSync),
                "post-install" | "post-upgrade" => Some(Phase::PostSync),
                _ => None,
            };
            if let Some(p) = phase.filter(|p| !phases.contains(p)) {
                phases.push(p);
            }
        }
        (phases, false, true)
    };
    let policy_key = if helm {
        HELM_HOOK_DELETE_POLICY
    } else {
        HOOK_DELETE_POLICY
    };
    let policy_value = annotation(manifest, policy_key)
        .or_else(|| annotation(manifest, HELM_HOOK_DELETE_POLICY))
        .unwrap_or("");
    let mut delete_policies = Vec::new();
    for p in policy_value.split(',').map(str::trim) {
        let policy = match p {
            "BeforeHookCreation" | "before-hook-creation" => Some(DeletePolicy::BeforeHookCreation),
            "HookSucceeded" | "hook-succeeded" => Some(DeletePolicy::HookSucceeded),
            "HookFailed" | "hook-failed" => Some(DeletePolicy::HookFailed),
            _ => None,
        };
        if let Some(p) = policy.filter(|p| !delete_policies.contains(p)) {
            delete_policies.push(p);
        }
    }
    if delete_policies.is_empty() {
        delete_policies.push(DeletePolicy::BeforeHookCreation);
    }
    Some(HookInfo {
        phases,
        delete_policies,
        skip,
    })
}

/// A hook's wave: `sync-wave`, or Helm's `hook-weight` for Helm hooks.
pub fn hook_wave(manifest: &Value) -> i64 {
    annotation(manifest, SYNC_WAVE)
        .or_else(|| {
            annotation(manifest, HOOK)
                .is_none()
                .then(|| annotation(manifest, HELM_HOOK_WEIGHT))
                .flatten()
        })
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether a live object is a hook (hooks are never pruned).
pub fn is_hook_annotations(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    annotations.is_some_and(|a| a.contains_key(HOOK) || a.contains_key(HELM_HOOK))
}

/// The name of a `generateName` hook: stable for one operation (derived
/// from its start time), so a restarted controller finds the hook it
/// created instead of creating another.
pub fn generated_name(
    prefix: &str,
    operation_started_at: &str,
    phase: Phase,
    index: usize,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(operation_started_at.as_bytes());
    h.update(phase.as_str().as_bytes());
    h.update(index.to_le_bytes());
    h.update(prefix.as_bytes());
    let digest = hex::encode(h.finalize());
    format!("{prefix}{}", &digest[..5])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(annotations: Value) -> Value {
        json!({"metadata": {"name": "x", "annotations": annotations}})
    }

    #[test]
    fn argo_hook_types_and_default_delete_policy() {
        let h = hook_info(&with(json!({HOOK: "PreSync"}))).unwrap();
        assert_eq!(h.phases, vec![Phase::PreSync]);
        assert_eq!(h.delete_policies, vec![DeletePolicy::BeforeHookCreation]);
        assert!(!h.skip);
        let h = hook_info(&with(
            json!({HOOK: "PreSync, PostSync", HOOK_DELETE_POLICY: "HookSucceeded,HookFailed"}),
        ))
        .unwrap();
        assert_eq!(h.phases, vec![Phase::PreSync, Phase::PostSync]);
        assert!(h.deletes_on(DeletePolicy::HookSucceeded));
        assert!(h.deletes_on(DeletePolicy::HookFailed));
        assert!(!h.deletes_on(DeletePolicy::BeforeHookCreation));
        let skip = hook_info(&with(json!({HOOK: "Skip"}))).unwrap();
        assert!(skip.skip && skip.phases.is_empty());
        assert!(hook_info(&with(json!({"a": "b"}))).is_none());
    }

    #[test]
    fn helm_hooks_map_onto_argo_phases() {
        let h = hook_info(&with(json!({HELM_HOOK: "pre-install,pre-upgrade", HELM_HOOK_DELETE_POLICY: "hook-succeeded"}))).unwrap();
        assert_eq!(h.phases, vec![Phase::PreSync]);
        assert_eq!(h.delete_policies, vec![DeletePolicy::HookSucceeded]);
        let h = hook_info(&with(json!({HELM_HOOK: "post-install"}))).unwrap();
        assert_eq!(h.phases, vec![Phase::PostSync]);
        let test = hook_info(&with(json!({HELM_HOOK: "test"}))).unwrap();
        assert!(test.phases.is_empty(), "helm tests never run in a sync");
        // Argo CD's annotation takes precedence over Helm's.
        let h = hook_info(&with(json!({HOOK: "Sync", HELM_HOOK: "pre-install"}))).unwrap();
        assert_eq!(h.phases, vec![Phase::Sync]);
    }

    #[test]
    fn helm_weight_is_the_wave_of_helm_hooks_only() {
        assert_eq!(
            hook_wave(&with(
                json!({HELM_HOOK: "pre-install", HELM_HOOK_WEIGHT: "-5"})
            )),
            -5
        );
        assert_eq!(
            hook_wave(&with(
                json!({HOOK: "PreSync", SYNC_WAVE: "3", HELM_HOOK_WEIGHT: "-5"})
            )),
            3
        );
        assert_eq!(
            hook_wave(&with(json!({HOOK: "PreSync", HELM_HOOK_WEIGHT: "-5"}))),
            0
        );
    }

    #[test]
    fn generated_names_are_stable_per_operation() {
        let a = generated_name("migrate-", "2026-11-23T10:00:00Z", Phase::PreSync, 0);
        assert_eq!(
            a,
            generated_name("migrate-", "2026-11-23T10:00:00Z", Phase::PreSync, 0)
        );
        assert!(a.starts_with("migrate-") && a.len() == "migrate-".len() + 5);
        assert_ne!(
            a,
            generated_name("migrate-", "2026-11-23T10:00:01Z", Phase::PreSync, 0)
        );
        assert_ne!(
            a,
            generated_name("migrate-", "2026-11-23T10:00:00Z", Phase::PostSync, 0)
        );
    }
}
