//! Sync options: the app's `syncPolicy.syncOptions`, the operation's own,
//! and each object's `argocd.argoproj.io/sync-options` annotation (which
//! wins for that object), as Argo CD reads them.

use caravel_crd::annotations::SYNC_OPTIONS;
use caravel_crd::application::{Application, SyncOperation};
use kube::api::PropagationPolicy;
use serde_json::Value;

use crate::compare::ResourceState;

/// Options in effect for one operation: the app's plus the operation's.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    /// `key=value` pairs as written, later entries overriding earlier ones.
    all: Vec<(String, String)>,
    pub prune: bool,
    pub dry_run: bool,
    pub force: bool,
    pub create_namespace: bool,
    pub apply_out_of_sync_only: bool,
    pub prune_last: bool,
    pub fail_on_shared_resource: bool,
    pub respect_ignore_differences: bool,
    pub propagation: Option<PropagationPolicy>,
    /// The app's ignoreDifferences when RespectIgnoreDifferences=true.
    pub respected: Option<std::sync::Arc<caravel_diff::IgnoreRules>>,
}

fn parse(options: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    options
        .into_iter()
        .filter_map(|o| {
            let (k, v) = o.trim().split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn value<'a>(all: &'a [(String, String)], key: &str) -> Option<&'a str> {
    all.iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn is_true(all: &[(String, String)], key: &str) -> bool {
    value(all, key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

impl SyncOptions {
    pub fn new(app: &Application, op: &SyncOperation) -> Self {
        let mut raw: Vec<String> = app.sync_options().to_vec();
        raw.extend(op.sync_options.iter().flatten().cloned());
        let all = parse(raw);
        let propagation = value(&all, "PrunePropagationPolicy").and_then(propagation_policy);
        Self {
            prune: op.prune.unwrap_or(false),
            dry_run: op.dry_run.unwrap_or(false),
            force: op
                .sync_strategy
                .as_ref()
                .and_then(|s| s.apply.as_ref().or(s.hook.as_ref()))
                .and_then(|f| f.force)
                .unwrap_or(false)
                || is_true(&all, "Force"),
            create_namespace: is_true(&all, "CreateNamespace"),
            apply_out_of_sync_only: is_true(&all, "ApplyOutOfSyncOnly"),
            prune_last: is_true(&all, "PruneLast"),
            fail_on_shared_resource: is_true(&all, "FailOnSharedResource"),
            respect_ignore_differences: is_true(&all, "RespectIgnoreDifferences"),
            propagation,
            respected: None,
            all,
        }
    }

    /// The value of option `key` for one object: its annotation first,
    /// then the operation's and the app's.
    pub fn for_resource<'a>(&'a self, r: &'a ResourceOptions, key: &str) -> Option<&'a str> {
        value(&r.0, key).or_else(|| value(&self.all, key))
    }

    /// Whether option `key` is `value` (case-insensitive) for one object.
    pub fn is(&self, r: &ResourceOptions, key: &str, expected: &str) -> bool {
        self.for_resource(r, key)
            .is_some_and(|v| v.eq_ignore_ascii_case(expected))
    }
}

fn propagation_policy(v: &str) -> Option<PropagationPolicy> {
    match v.to_ascii_lowercase().as_str() {
        "foreground" => Some(PropagationPolicy::Foreground),
        "background" => Some(PropagationPolicy::Background),
        "orphan" => Some(PropagationPolicy::Orphan),
        _ => None,
    }
}

/// One object's `sync-options` annotation, parsed.
#[derive(Clone, Debug, Default)]
pub struct ResourceOptions(Vec<(String, String)>);

impl ResourceOptions {
    /// From the desired object's annotation, else the live object's.
    pub fn of(r: &ResourceState) -> Self {
        let from_target = r
            .target
            .as_ref()
            .and_then(|t| t.pointer("/metadata/annotations"))
            .and_then(|a| a.get(SYNC_OPTIONS))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match (from_target, &r.live) {
            (Some(t), _) => Self::parse(&t),
            (None, Some(live)) => Self::of_live(live),
            (None, None) => Self::default(),
        }
    }

    /// From a live object's annotation.
    pub fn of_live(obj: &kube::api::DynamicObject) -> Self {
        Self::parse(
            obj.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SYNC_OPTIONS))
                .map(String::as_str)
                .unwrap_or(""),
        )
    }

    pub fn parse(annotation: &str) -> Self {
        Self(parse(annotation.split(',').map(str::to_owned)))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        value(&self.0, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_crd::application::{SyncPolicy, SyncStrategy, SyncStrategyForce};

    #[test]
    fn sync_options_merge_app_and_operation_settings() {
        let mut app = Application::default();
        app.spec.sync_policy = Some(SyncPolicy {
            sync_options: Some(vec![
                "CreateNamespace=true".into(),
                "PrunePropagationPolicy=background".into(),
                "Replace=true".into(),
            ]),
            ..Default::default()
        });
        let op = SyncOperation {
            prune: Some(true),
            sync_options: Some(vec![
                "ApplyOutOfSyncOnly=true".into(),
                "Replace=false".into(),
            ]),
            sync_strategy: Some(SyncStrategy {
                apply: Some(SyncStrategyForce {
                    force: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = SyncOptions::new(&app, &op);
        assert!(o.prune && o.force && o.create_namespace && o.apply_out_of_sync_only);
        assert!(!o.dry_run && !o.prune_last && !o.fail_on_shared_resource);
        assert!(matches!(o.propagation, Some(PropagationPolicy::Background)));
        let none = ResourceOptions::default();
        assert!(
            o.is(&none, "Replace", "false"),
            "the operation's option overrides the app's"
        );
    }

    #[test]
    fn the_annotation_wins_for_its_object() {
        let mut app = Application::default();
        app.spec.sync_policy = Some(SyncPolicy {
            sync_options: Some(vec!["Prune=false".into(), "Validate=false".into()]),
            ..Default::default()
        });
        let o = SyncOptions::new(&app, &SyncOperation::default());
        let r = ResourceOptions::parse("Prune=confirm, Delete=false");
        assert!(o.is(&r, "Prune", "confirm"));
        assert!(o.is(&r, "Delete", "false"));
        assert!(o.is(&r, "Validate", "false"), "falls back to the app");
        assert!(!o.is(&ResourceOptions::parse(""), "Prune", "confirm"));
        assert_eq!(
            ResourceOptions::parse("garbage,,Replace=true").get("replace"),
            Some("true")
        );
    }
}
