//! From rendered files to `helm template`'s output: NOTES.txt and partials
//! dropped, files split into YAML documents, hooks told apart from plain
//! manifests by their `helm.sh/hook` annotation, each group sorted by
//! Helm's install order (`releaseutil.SortManifests`), test hooks dropped
//! on request, and the `crds/` files first when asked for.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{Manifest, ManifestKind, RenderError};

/// The hook annotation.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// `releaseutil.InstallOrder`.
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Go's `unicode.IsSpace`.
pub fn is_go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// `releaseutil.SplitManifests`: documents separated by Go's
/// `(?:^|\s*\n)---\s*` (ASCII `\s`), leading whitespace trimmed, empty
/// ones dropped. A `---` right after a separator that swallowed its newline
/// is not a separator, as in Go.
pub fn split_documents(text: &str) -> Vec<&str> {
    static SEPARATOR: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*").ok());
    let text = text.trim_start_matches(is_go_space);
    let docs: Vec<&str> = match SEPARATOR.as_ref() {
        Some(separator) => separator.split(text).collect(),
        None => vec![text],
    };
    docs.into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_start_matches(is_go_space))
        .collect()
}

struct Head {
    kind: String,
    hook_events: Option<Vec<String>>,
}

fn head(path: &str, doc: &str) -> Result<Head, RenderError> {
    let parsed: Json = caravel_yaml::from_str(doc).map_err(|e| RenderError::Yaml {
        template: path.to_owned(),
        message: e.to_string(),
    })?;
    let kind = parsed
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let hook_events = parsed
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(HOOK_ANNOTATION))
        .map(|h| match h {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
        .map(|h| h.split(',').map(|e| e.trim().to_lowercase()).collect());
    Ok(Head { kind, hook_events })
}

fn kind_rank(kind: &str) -> (usize, &str) {
    match INSTALL_ORDER.iter().position(|k| *k == kind) {
        Some(i) => (i, ""),
        None => (INSTALL_ORDER.len(), kind),
    }
}

/// Sorts rendered files (path → text) into manifests then hooks, each in
/// install order, as `helm template` prints them.
pub fn sort(
    rendered: &BTreeMap<String, String>,
    skip_tests: bool,
) -> Result<Vec<Manifest>, RenderError> {
    let mut plain: Vec<(String, Manifest)> = Vec::new();
    let mut hooks: Vec<(String, Manifest)> = Vec::new();
    for (path, text) in rendered {
        if path.ends_with("NOTES.txt") {
            continue;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || text.trim_matches(is_go_space).is_empty() {
            continue;
        }
        for doc in split_documents(text) {
            let head = head(path, doc)?;
            let manifest = |kind| Manifest {
                template: path.clone(),
                kind,
                content: doc.to_owned(),
            };
            match head.hook_events {
                None => plain.push((head.kind, manifest(ManifestKind::Manifest))),
                Some(events) => {
                    if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
                        continue; // Helm skips hooks with an unknown event.
                    }
                    let test = events.iter().any(|e| e == "test" || e == "test-success");
                    if test && skip_tests {
                        continue;
                    }
                    hooks.push((head.kind, manifest(ManifestKind::Hook { test })));
                }
            }
        }
    }
    plain.sort_by(|a, b| kind_rank(&a.0).cmp(&kind_rank(&b.0)));
    hooks.sort_by(|a, b| kind_rank(&a.0).cmp(&kind_rank(&b.0)));
    Ok(plain.into_iter().chain(hooks).map(|(_, m)| m).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_as_helm_splits_them() {
        assert_eq!(split_documents("a: 1\n---\nb: 2\n"), vec!["a: 1", "b: 2\n"]);
        assert_eq!(split_documents("\n---\na: 1\n  \n---  \n\n"), vec!["a: 1"]);
        assert_eq!(
            split_documents("a: '---'\nb: x---y"),
            vec!["a: '---'\nb: x---y"]
        );
        assert_eq!(split_documents("---\n# c\n"), vec!["# c\n"]);
        // The first separator swallowed the newline the second needed.
        assert_eq!(split_documents("---\n---\nx: 1"), vec!["---\nx: 1"]);
        assert!(split_documents("  \n").is_empty());
    }

    #[test]
    fn manifests_sort_by_install_order_and_hooks_come_last() {
        let mut files = BTreeMap::new();
        files.insert(
            "c/templates/a.yaml".to_owned(),
            "kind: Deployment\n---\nkind: Zebra\n---\nkind: Service\n".to_owned(),
        );
        files.insert(
            "c/templates/b.yaml".to_owned(),
            "kind: Job\nmetadata:\n  annotations:\n    helm.sh/hook: test\n---\nkind: ConfigMap\nmetadata:\n  annotations:\n    helm.sh/hook: pre-install,bogus\n---\nkind: Namespace\n".to_owned(),
        );
        files.insert("c/templates/NOTES.txt".to_owned(), "hi".to_owned());
        let out = sort(&files, false).unwrap();
        let kinds: Vec<&str> = out
            .iter()
            .map(|m| m.content.lines().next().unwrap())
            .collect();
        assert_eq!(
            kinds,
            vec![
                "kind: Namespace",
                "kind: Service",
                "kind: Deployment",
                "kind: Zebra",
                "kind: Job"
            ]
        );
        assert_eq!(out[4].kind, ManifestKind::Hook { test: true });
        assert_eq!(sort(&files, true).unwrap().len(), 4);
    }

    #[test]
    fn a_broken_document_names_its_template() {
        let mut files = BTreeMap::new();
        files.insert("c/templates/x.yaml".to_owned(), "a: [1, 2\n".to_owned());
        let err = sort(&files, false).unwrap_err().to_string();
        assert!(
            err.starts_with("YAML parse error on c/templates/x.yaml: "),
            "{err}"
        );
    }
}
