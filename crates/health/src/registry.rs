//! The engine: find the rule for an object's (group, kind) and run it, after
//! the one check that applies to every kind (pending deletion).

use std::sync::LazyLock;

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields;
use crate::rules;

/// A health rule: reads a live object, answers its health.
pub type HealthRule = fn(&Value) -> Health;

/// Argo CD's hook finalizer. A hook being deleted while it still carries it is
/// assessed normally, so the sync can read the hook's outcome.
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// Health rules keyed by (API group, kind). The core group is `""`.
#[derive(Clone, Debug, Default)]
pub struct HealthRegistry {
    // A handful of rules: a linear scan beats hashing two strings per lookup.
    rules: Vec<(String, String, HealthRule)>,
}

static BUILTIN: LazyLock<HealthRegistry> = LazyLock::new(HealthRegistry::with_builtin_rules);

/// The registry of Argo CD's built-in rules.
pub fn builtin() -> &'static HealthRegistry {
    &BUILTIN
}

impl HealthRegistry {
    /// A registry without rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding Argo CD's built-in rules.
    pub fn with_builtin_rules() -> Self {
        let mut registry = Self::new();
        for (group, kind, rule) in rules::BUILTIN {
            registry.register(group, kind, *rule);
        }
        registry
    }

    /// Adds a rule, replacing (and returning) any rule for the same group and kind.
    pub fn register(&mut self, group: &str, kind: &str, rule: HealthRule) -> Option<HealthRule> {
        match self
            .rules
            .iter_mut()
            .find(|(g, k, _)| g == group && k == kind)
        {
            Some(entry) => Some(std::mem::replace(&mut entry.2, rule)),
            None => {
                self.rules.push((group.to_owned(), kind.to_owned(), rule));
                None
            }
        }
    }

    /// The rule for a group and kind.
    pub fn rule(&self, group: &str, kind: &str) -> Option<HealthRule> {
        self.rules
            .iter()
            .find(|(g, k, _)| g == group && k == kind)
            .map(|(_, _, rule)| *rule)
    }

    /// The (group, kind) pairs that have a rule, in registration order.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rules.iter().map(|(g, k, _)| (g.as_str(), k.as_str()))
    }

    /// An object's health, or `None` when no rule covers its kind.
    ///
    /// An object with a deletion timestamp is Progressing ("Pending deletion")
    /// whatever its kind, unless it still carries the hook finalizer.
    pub fn assess(&self, obj: &Value) -> Option<Health> {
        if is_pending_deletion(obj) {
            return Some(Health::new(HealthCode::Progressing, "Pending deletion"));
        }
        let (group, kind) = group_kind(obj);
        self.rule(group, kind).map(|rule| rule(obj))
    }

    /// Like [`HealthRegistry::assess`], with Healthy for kinds without a rule.
    pub fn assess_or_healthy(&self, obj: &Value) -> Health {
        self.assess(obj).unwrap_or_else(Health::healthy)
    }
}

/// An object's API group (from `apiVersion`; `""` for the core group) and kind.
pub fn group_kind(obj: &Value) -> (&str, &str) {
    let api_version = fields::text(obj, &["apiVersion"]);
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    (group, fields::text(obj, &["kind"]))
}

fn is_pending_deletion(obj: &Value) -> bool {
    fields::present(obj, &["metadata", "deletionTimestamp"])
        && !fields::list(obj, &["metadata", "finalizers"])
            .iter()
            .any(|f| f.as_str() == Some(HOOK_FINALIZER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn always_degraded(_: &Value) -> Health {
        Health::new(HealthCode::Degraded, "custom")
    }

    #[test]
    fn group_and_kind_come_from_api_version_and_kind() {
        assert_eq!(
            group_kind(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
            ("apps", "Deployment")
        );
        assert_eq!(
            group_kind(&json!({"apiVersion": "v1", "kind": "Pod"})),
            ("", "Pod")
        );
        assert_eq!(group_kind(&json!({})), ("", ""));
    }

    #[test]
    fn kinds_without_a_rule_have_no_health() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(builtin().assess(&cm), None);
    }

    #[test]
    fn assess_or_healthy_counts_kinds_without_a_rule_as_healthy() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(crate::assess_or_healthy(&cm), Health::healthy());
    }

    #[test]
    fn anything_with_a_deletion_timestamp_is_progressing_pending_deletion() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z"}});
        assert_eq!(
            crate::assess(&cm),
            Some(Health::new(HealthCode::Progressing, "Pending deletion"))
        );
    }

    #[test]
    fn a_hook_being_deleted_with_the_hook_finalizer_is_assessed_by_its_rule() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "hook", "deletionTimestamp": "2024-01-01T00:00:00Z",
                         "finalizers": [HOOK_FINALIZER]},
            "spec": {"restartPolicy": "Never"},
            "status": {"phase": "Succeeded"}});
        assert_eq!(
            crate::assess(&pod).map(|h| h.status),
            Some(HealthCode::Healthy)
        );
    }

    #[test]
    fn registering_a_rule_adds_a_kind_without_touching_the_engine() {
        let mut registry = HealthRegistry::new();
        let cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"});
        assert_eq!(registry.assess(&cert), None);
        assert!(registry
            .register("cert-manager.io", "Certificate", always_degraded)
            .is_none());
        assert_eq!(
            registry.assess(&cert).map(|h| h.status),
            Some(HealthCode::Degraded)
        );
    }

    #[test]
    fn registering_a_rule_twice_replaces_the_first() {
        let mut registry = HealthRegistry::with_builtin_rules();
        let before = registry.kinds().count();
        assert!(registry
            .register("apps", "Deployment", always_degraded)
            .is_some());
        assert_eq!(registry.kinds().count(), before);
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(
            registry.assess(&deploy).map(|h| h.status),
            Some(HealthCode::Degraded)
        );
    }

    #[test]
    fn the_builtin_registry_covers_argo_cd_builtin_kinds() {
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("", "Pod"),
            ("", "PersistentVolumeClaim"),
            ("", "Service"),
            ("networking.k8s.io", "Ingress"),
            ("extensions", "Ingress"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("apiregistration.k8s.io", "APIService"),
            ("argoproj.io", "Application"),
            ("argoproj.io", "Workflow"),
        ] {
            assert!(builtin().rule(group, kind).is_some(), "{group}/{kind}");
        }
    }
}
