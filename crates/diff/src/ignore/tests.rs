use std::time::{Duration, Instant};

use caravel_crd::application::ResourceIgnoreDifferences;
use serde_json::{json, Value};

use super::*;

fn entry(value: Value) -> Result<ResourceIgnoreDifferences, serde_json::Error> {
    serde_json::from_value(value)
}

fn rules(entries: Value) -> anyhow::Result<IgnoreRules> {
    let entries: Vec<ResourceIgnoreDifferences> = serde_json::from_value(entries)?;
    Ok(IgnoreRules::compile(&entries)?)
}

// === fixtures: objects as the API server returns them ===

/// The desired Deployment, as rendered from Git.
fn desired_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {
                    "initContainers": [
                        {"name": "migrate", "image": "ghcr.io/example/migrate:2.3.1"}
                    ],
                    "containers": [
                        {"name": "web", "image": "ghcr.io/example/web:1.5.0",
                         "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]}
                    ]
                }
            }
        }
    })
}

/// The live Deployment: scaled to 7 by an HPA (through the scale
/// subresource, so kube-controller-manager owns spec.replicas), and with an
/// init container a mutating webhook injected.
fn live_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "shop", "generation": 9, "resourceVersion": "48213",
            "uid": "6b1f9c3e-2d4a-4f7e-9a51-0c8e2f7d3b10",
            "labels": {"app.kubernetes.io/name": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "4"},
            "managedFields": [
                {"apiVersion": "apps/v1", "fieldsType": "FieldsV1", "manager": "argocd-controller",
                 "operation": "Apply", "time": "2026-10-07T14:02:11Z",
                 "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
                    "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                        "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
                        "f:spec": {
                            "f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {},
                                "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {
                                    ".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}}}},
                            "f:initContainers": {"k:{\"name\":\"migrate\"}": {".": {}, "f:image": {}, "f:name": {}}}
                        }}}}},
                {"apiVersion": "apps/v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager",
                 "operation": "Update", "subresource": "scale", "time": "2026-10-07T15:30:02Z",
                 "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"apiVersion": "apps/v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager",
                 "operation": "Update", "subresource": "status", "time": "2026-10-07T15:30:40Z",
                 "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
                              "f:status": {"f:availableReplicas": {}, "f:replicas": {}}}}
            ]
        },
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": 7,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app.kubernetes.io/name": "web"}},
                "spec": {
                    "initContainers": [
                        {"name": "migrate", "image": "ghcr.io/example/migrate:2.3.1",
                         "terminationMessagePath": "/dev/termination-log"},
                        {"name": "istio-validation", "image": "docker.io/istio/proxyv2:1.23.2",
                         "args": ["istio-iptables", "--run-validation", "--skip-rule-apply"]}
                    ],
                    "containers": [
                        {"name": "web", "image": "ghcr.io/example/web:1.5.0",
                         "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                         "resources": {}}
                    ],
                    "securityContext": {}
                }
            }
        },
        "status": {"availableReplicas": 7, "replicas": 7}
    })
}

/// A MutatingWebhookConfiguration as Git has it: no caBundle, cert-manager's
/// CA injector fills it in live.
fn desired_webhook() -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "sidecar-injector",
                     "annotations": {"cert-manager.io/inject-ca-from": "istio-system/injector-serving-cert"}},
        "webhooks": [
            {"name": "namespace.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"],
             "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system", "path": "/inject", "port": 443}},
             "failurePolicy": "Fail", "sideEffects": "None"},
            {"name": "object.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"],
             "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system", "path": "/inject", "port": 443}},
             "failurePolicy": "Fail", "sideEffects": "None"}
        ]
    })
}

fn live_webhook() -> Value {
    let mut live = desired_webhook();
    for webhook in live["webhooks"].as_array_mut().into_iter().flatten() {
        webhook["clientConfig"]["caBundle"] =
            json!("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvVENDQWVXZ0F3SUJBZ0lSQU5...");
    }
    live["metadata"]["uid"] = json!("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    live
}

// === compile and match ===

#[test]
fn an_entry_matches_its_group_and_kind_and_optionally_name_and_namespace() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "apps", "kind": "Deployment", "name": "web", "namespace": "shop",
                          "jsonPointers": ["/spec/replicas"]}]),
    )?;
    assert!(r.matches("apps", "Deployment", "shop", "web"));
    assert!(!r.matches("apps", "Deployment", "shop", "api"));
    assert!(!r.matches("apps", "Deployment", "other", "web"));
    assert!(!r.matches("apps", "StatefulSet", "shop", "web"));
    assert!(!r.matches("extensions", "Deployment", "shop", "web"));

    let any_name = rules(
        json!([{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]),
    )?;
    assert!(any_name.matches("apps", "Deployment", "shop", "api"));
    assert!(any_name.matches("apps", "Deployment", "", "api"));
    Ok(())
}

#[test]
fn a_missing_group_is_the_core_group() -> anyhow::Result<()> {
    let r = rules(json!([{"kind": "ConfigMap", "jsonPointers": ["/data/generated"]}]))?;
    assert!(r.matches("", "ConfigMap", "shop", "web-config"));
    assert!(!r.matches("example.com", "ConfigMap", "shop", "web-config"));
    Ok(())
}

#[test]
fn group_and_kind_are_glob_patterns_as_in_argo_cd() -> anyhow::Result<()> {
    let every = rules(
        json!([{"group": "*", "kind": "*", "managedFieldsManagers": ["kube-controller-manager"]}]),
    )?;
    assert!(every.matches("", "Service", "shop", "web"));
    assert!(every.matches("apps", "Deployment", "shop", "web"));
    let some = rules(
        json!([{"group": "*.k8s.io", "kind": "*WebhookConfiguration", "jsonPointers": ["/webhooks"]}]),
    )?;
    assert!(some.matches(
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "",
        "x"
    ));
    assert!(some.matches(
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "",
        "x"
    ));
    assert!(!some.matches("apps", "MutatingWebhookConfiguration", "", "x"));
    Ok(())
}

#[test]
fn an_invalid_pointer_expression_or_pattern_is_an_error_naming_it() -> anyhow::Result<()> {
    let bad_pointer = entry(
        json!({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas", "spec/template"]}),
    )?;
    assert_eq!(
        IgnoreRules::compile(&[bad_pointer]).err(),
        Some(DiffError::InvalidJsonPointer {
            pointer: "spec/template".into(),
            reason: "must start with '/'"
        })
    );

    let bad_jq = entry(json!({"group": "apps", "kind": "Deployment",
                              "jqPathExpressions": [".spec.template.spec.containers[] | select(.name == "]}))?;
    let err = IgnoreRules::compile(&[bad_jq]).err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.starts_with(
            "invalid jq path expression \".spec.template.spec.containers[] | select(.name == \": expected a closing delimiter for \"(\""
        )),
        "{err:?}"
    );

    let bad_glob =
        entry(json!({"group": "apps", "kind": "Deploy[ment", "jsonPointers": ["/spec"]}))?;
    assert!(matches!(
        IgnoreRules::compile(&[bad_glob]),
        Err(DiffError::InvalidPattern { pattern, .. }) if pattern == "Deploy[ment"
    ));
    Ok(())
}

// === normalize ===

#[test]
fn hpa_managed_replicas_ignored_by_pointer_compare_equal() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]),
    )?;
    let (mut desired, mut live) = (desired_deployment(), live_deployment());
    r.normalize(&mut desired, &[])?;
    r.normalize(&mut live, &[])?;
    assert!(desired.pointer("/spec/replicas").is_none());
    assert!(live.pointer("/spec/replicas").is_none());
    assert_eq!(desired["spec"]["selector"], live["spec"]["selector"]);
    Ok(())
}

#[test]
fn a_webhook_ca_bundle_injected_live_is_ignored_by_pointer() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
                          "jsonPointers": ["/webhooks/0/clientConfig/caBundle", "/webhooks/1/clientConfig/caBundle"]}]),
    )?;
    let mut live = live_webhook();
    r.normalize(&mut live, &[])?;
    let mut desired = desired_webhook();
    r.normalize(&mut desired, &[])?;
    live["metadata"].as_object_mut().map(|m| m.remove("uid"));
    assert_eq!(live, desired);
    Ok(())
}

#[test]
fn a_jq_select_removes_only_the_injected_container() -> anyhow::Result<()> {
    let r = rules(json!([{"group": "apps", "kind": "Deployment",
        "jqPathExpressions": [".spec.template.spec.initContainers[] | select(.name == \"istio-validation\")"]}]))?;
    let mut live = live_deployment();
    r.normalize(&mut live, &[])?;
    let names: Vec<&str> = live["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["migrate"]);

    let mut desired = desired_deployment();
    let before = desired.clone();
    r.normalize(&mut desired, &[])?;
    assert_eq!(desired, before, "nothing to remove from the desired object");
    Ok(())
}

#[test]
fn fields_a_trusted_manager_owns_are_removed_from_both_sides() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "*", "kind": "*", "managedFieldsManagers": ["kube-controller-manager"]}]),
    )?;
    let live = live_deployment();
    let managed = managed_fields(&live);
    let (mut desired, mut normalized_live) = (desired_deployment(), live.clone());
    r.normalize(&mut desired, managed)?;
    r.normalize(&mut normalized_live, managed)?;
    assert!(desired.pointer("/spec/replicas").is_none());
    assert!(normalized_live.pointer("/spec/replicas").is_none());
    assert!(
        normalized_live.pointer("/metadata/annotations").is_none(),
        "the revision annotation was its only entry"
    );
    assert!(normalized_live.pointer("/status/replicas").is_none());
    // Fields the Application itself applies stay.
    assert_eq!(
        normalized_live.pointer("/spec/template/spec/containers/0/image"),
        Some(&json!("ghcr.io/example/web:1.5.0"))
    );
    Ok(())
}

#[test]
fn managers_not_listed_keep_their_fields() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["vpa-updater"]}]),
    )?;
    let live = live_deployment();
    let mut normalized = live.clone();
    r.normalize(&mut normalized, managed_fields(&live))?;
    assert_eq!(normalized, live);
    Ok(())
}

#[test]
fn objects_no_rule_matches_are_left_alone() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "apps", "kind": "StatefulSet", "jsonPointers": ["/spec/replicas"]}]),
    )?;
    let mut live = live_deployment();
    r.normalize(&mut live, &[])?;
    assert_eq!(live, live_deployment());
    Ok(())
}

#[test]
fn when_a_pointer_or_jq_rule_applies_empty_objects_are_swept_as_argo_cd_does() -> anyhow::Result<()>
{
    let r = rules(
        json!([{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]),
    )?;
    let mut live = live_deployment();
    r.normalize(&mut live, &[])?;
    assert!(live
        .pointer("/spec/template/spec/securityContext")
        .is_none());
    assert!(live
        .pointer("/spec/template/spec/containers/0/resources")
        .is_none());
    // A null is not an empty object.
    assert_eq!(
        live.pointer("/spec/template/metadata/creationTimestamp"),
        Some(&Value::Null)
    );
    Ok(())
}

#[test]
fn pointers_of_one_entry_apply_one_after_another() -> anyhow::Result<()> {
    // Argo CD applies each pointer as its own JSON patch: after removing
    // element 0, the old element 1 is element 0.
    let r = rules(
        json!([{"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
                          "jsonPointers": ["/webhooks/0", "/webhooks/0"]}]),
    )?;
    let mut live = live_webhook();
    r.normalize(&mut live, &[])?;
    assert_eq!(
        live.get("webhooks"),
        None,
        "both removed, then the empty list swept"
    );
    Ok(())
}

// === runaway and broken expressions ===

#[test]
fn a_runaway_jq_expression_fails_with_a_timeout_in_bounded_time() -> anyhow::Result<()> {
    let limit = Duration::from_millis(300);
    for expression in [
        "def f: f; f",
        "repeat(.) | select(false)",
        ".spec | select(last(range(1e18)) > 0)",
    ] {
        let r = rules(
            json!([{"group": "apps", "kind": "Deployment", "jqPathExpressions": [expression]}]),
        )?
        .with_jq_timeout(limit);
        let started = Instant::now();
        let result = r.normalize(&mut live_deployment(), &[]);
        let took = started.elapsed();
        assert_eq!(
            result,
            Err(DiffError::JqTimeout {
                expression: expression.to_owned(),
                limit
            })
        );
        assert!(took < Duration::from_secs(2), "{expression} took {took:?}");
    }
    Ok(())
}

#[test]
fn a_jq_expression_erroring_at_run_time_removes_nothing() -> anyhow::Result<()> {
    let r = rules(json!([{"group": "apps", "kind": "Deployment",
        "jqPathExpressions": [".spec.template.spec.volumes[] | select(.name == \"cache\")"]}]))?;
    let mut desired = desired_deployment();
    r.normalize(&mut desired, &[])?;
    assert_eq!(desired, desired_deployment());
    Ok(())
}

// === ignored paths and RespectIgnoreDifferences ===

#[test]
fn ignored_paths_lists_what_each_kind_of_rule_names() -> anyhow::Result<()> {
    let r = rules(json!([
        {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/progressDeadlineSeconds"],
         "jqPathExpressions": [".spec.template.spec.initContainers[] | select(.name == \"istio-validation\")"]},
        {"group": "*", "kind": "*", "managedFieldsManagers": ["kube-controller-manager"]}
    ]))?;
    let live = live_deployment();
    let key = |k: &str| PathSegment::Key(k.to_owned());
    let paths = r.ignored_paths(&live, managed_fields(&live))?;
    for expected in [
        vec![key("spec"), key("progressDeadlineSeconds")],
        vec![key("spec"), key("replicas")],
        vec![
            key("spec"),
            key("template"),
            key("spec"),
            key("initContainers"),
            PathSegment::Index(1),
        ],
        vec![
            key("metadata"),
            key("annotations"),
            key("deployment.kubernetes.io/revision"),
        ],
    ] {
        assert!(
            paths.contains(&expected),
            "{expected:?} missing from {paths:?}"
        );
    }
    Ok(())
}

#[test]
fn respect_copies_live_replicas_into_the_target() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]),
    )?;
    let mut target = desired_deployment();
    r.respect(&mut target, &live_deployment())?;
    let mut expected = desired_deployment();
    expected["spec"]["replicas"] = json!(7);
    assert_eq!(target, expected);
    Ok(())
}

#[test]
fn respect_keeps_an_injected_container_and_the_rest_of_the_target() -> anyhow::Result<()> {
    let r = rules(json!([{"group": "apps", "kind": "Deployment",
        "jqPathExpressions": [".spec.template.spec.initContainers[] | select(.name == \"istio-validation\")"]}]))?;
    let mut target = desired_deployment();
    target["spec"]["template"]["spec"]["initContainers"][0]["image"] =
        json!("ghcr.io/example/migrate:2.4.0");
    r.respect(&mut target, &live_deployment())?;
    assert_eq!(
        target["spec"]["template"]["spec"]["initContainers"],
        json!([
            {"name": "migrate", "image": "ghcr.io/example/migrate:2.4.0"},
            {"name": "istio-validation", "image": "docker.io/istio/proxyv2:1.23.2",
             "args": ["istio-iptables", "--run-validation", "--skip-rule-apply"]}
        ]),
        "the desired change to migrate goes through, the injected container is kept"
    );
    Ok(())
}

#[test]
fn respect_removes_an_ignored_field_the_live_object_does_not_have() -> anyhow::Result<()> {
    let r = rules(json!([{"group": "apps", "kind": "Deployment",
                          "jsonPointers": ["/spec/template/spec/terminationGracePeriodSeconds"]}]))?;
    let mut target = desired_deployment();
    target["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(60);
    r.respect(&mut target, &live_deployment())?;
    assert_eq!(target, desired_deployment());
    Ok(())
}

#[test]
fn respect_takes_manager_owned_fields_from_the_live_object() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["kube-controller-manager"]}]),
    )?;
    let mut target = desired_deployment();
    r.respect(&mut target, &live_deployment())?;
    let mut expected = desired_deployment();
    expected["spec"]["replicas"] = json!(7);
    assert_eq!(
        target, expected,
        "replicas taken from live; the revision annotation and status, which the target does not set, not added"
    );
    Ok(())
}

#[test]
fn respect_with_a_ca_bundle_pointer_keeps_the_injected_bundle() -> anyhow::Result<()> {
    let r = rules(
        json!([{"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
                          "jsonPointers": ["/webhooks/0/clientConfig/caBundle", "/webhooks/1/clientConfig/caBundle"]}]),
    )?;
    let mut target = desired_webhook();
    let live = live_webhook();
    r.respect(&mut target, &live)?;
    assert_eq!(target["webhooks"], live["webhooks"]);
    Ok(())
}
