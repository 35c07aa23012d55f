//! The health matrix: every outcome of every built-in rule, each checked on a
//! fixture shaped like the object kube-apiserver returns (full metadata,
//! defaulted spec, status with the conditions, reasons and messages the
//! Kubernetes controllers write). Expected statuses and messages are Argo
//! CD's: gitops-engine `pkg/health` for the Go rules, and the Lua checks in
//! `resource_customizations/` for `batch/CronJob` and
//! `argoproj.io/Application`.
//!
//! One fixture per case lives in `tests/fixtures/<case>.yaml`; its header
//! comment says what the object is and what Argo CD reports for it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use caravel_health::{assess, assess_or_healthy, builtin, group_kind, Health, HealthCode};
use serde_json::Value;

use HealthCode::{Degraded, Healthy, Missing, Progressing, Suspended, Unknown};

/// What a fixture should assess to: `None` when no rule covers its kind.
type Expected = Option<(HealthCode, Option<&'static str>)>;

const fn health(status: HealthCode) -> Expected {
    Some((status, None))
}

const fn said(status: HealthCode, message: &'static str) -> Expected {
    Some((status, Some(message)))
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(case: &str) -> Result<Value> {
    let path = fixtures_dir().join(format!("{case}.yaml"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    caravel_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Assesses every case and reports all mismatches at once.
fn check(cases: &[(&str, Expected)]) -> Result<()> {
    let mut mismatches = Vec::new();
    for (case, expected) in cases {
        let obj = fixture(case)?;
        let want = expected.map(|(status, message)| Health {
            status,
            message: message.map(str::to_owned),
        });
        let got = assess(&obj);
        if got != want {
            mismatches.push(format!("{case}: expected {want:?}, got {got:?}"));
        }
    }
    if !mismatches.is_empty() {
        bail!("{}", mismatches.join("\n"));
    }
    Ok(())
}

// === cases ===

const DEPLOYMENT: &[(&str, Expected)] = &[
    ("deployment-healthy", health(Healthy)),
    (
        "deployment-rollout-progressing",
        said(
            Progressing,
            "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
        ),
    ),
    (
        "deployment-old-replicas-pending-termination",
        said(
            Progressing,
            "Waiting for rollout to finish: 1 old replicas are pending termination...",
        ),
    ),
    (
        "deployment-updated-replicas-unavailable",
        said(
            Progressing,
            "Waiting for rollout to finish: 2 of 3 updated replicas are available...",
        ),
    ),
    ("deployment-paused", said(Suspended, "Deployment is paused")),
    (
        "deployment-progress-deadline-exceeded",
        said(Degraded, "Deployment \"web\" exceeded its progress deadline"),
    ),
    (
        "deployment-observed-generation-stale",
        said(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        ),
    ),
];

const STATEFUL_SET: &[(&str, Expected)] = &[
    (
        "statefulset-healthy",
        said(
            Healthy,
            "partitioned roll out complete: 3 new pods have been updated...",
        ),
    ),
    (
        "statefulset-observed-generation-stale",
        said(
            Progressing,
            "Waiting for statefulset spec update to be observed...",
        ),
    ),
    (
        "statefulset-pods-not-ready",
        said(Progressing, "Waiting for 2 pods to be ready..."),
    ),
    (
        "statefulset-partitioned-rollout-progressing",
        said(
            Progressing,
            "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
        ),
    ),
    (
        "statefulset-partitioned-rollout-complete",
        said(
            Healthy,
            "partitioned roll out complete: 2 new pods have been updated...",
        ),
    ),
    (
        "statefulset-ondelete",
        said(Healthy, "statefulset has 3 ready pods"),
    ),
    (
        "statefulset-revision-rollout-progressing",
        said(
            Progressing,
            "waiting for statefulset rolling update to complete 1 pods at revision db-5f8c6d9b77...",
        ),
    ),
    (
        "statefulset-revision-rollout-complete",
        said(
            Healthy,
            "statefulset rolling update complete 3 pods at revision db-5f8c6d9b77...",
        ),
    ),
];

const DAEMON_SET: &[(&str, Expected)] = &[
    ("daemonset-healthy", health(Healthy)),
    (
        "daemonset-observed-generation-stale",
        said(
            Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        ),
    ),
    (
        "daemonset-rollout-progressing",
        said(
            Progressing,
            "Waiting for daemon set \"fluent-bit\" rollout to finish: 1 out of 3 new pods have been updated...",
        ),
    ),
    (
        "daemonset-pods-unavailable",
        said(
            Progressing,
            "Waiting for daemon set \"fluent-bit\" rollout to finish: 2 of 3 updated pods are available...",
        ),
    ),
    (
        "daemonset-ondelete",
        said(Healthy, "daemon set 1 out of 3 new pods have been updated"),
    ),
];

const REPLICA_SET: &[(&str, Expected)] = &[
    ("replicaset-healthy", health(Healthy)),
    (
        "replicaset-observed-generation-stale",
        said(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        ),
    ),
    (
        "replicaset-replica-failure",
        said(
            Degraded,
            "pods \"web-6c9f8d7b5c-x7k2p\" is forbidden: exceeded quota: compute-resources, requested: requests.cpu=100m, used: requests.cpu=2, limited: requests.cpu=2",
        ),
    ),
    (
        "replicaset-progressing",
        said(
            Progressing,
            "Waiting for rollout to finish: 2 out of 3 new replicas are available...",
        ),
    ),
];

const JOB: &[(&str, Expected)] = &[
    (
        "job-complete",
        said(Healthy, "Reached expected number of succeeded pods"),
    ),
    (
        "job-failed",
        said(Degraded, "Job has reached the specified backoff limit"),
    ),
    ("job-suspended", said(Suspended, "Job suspended")),
    ("job-resumed-running", said(Healthy, "Job resumed")),
    ("job-running", health(Progressing)),
];

const CRON_JOB: &[(&str, Expected)] = &[
    (
        "cronjob-last-run-succeeded",
        said(
            Healthy,
            "CronJob has completed its last execution successfully",
        ),
    ),
    (
        "cronjob-last-run-failed",
        said(
            Degraded,
            "CronJob has not completed its last execution successfully",
        ),
    ),
    (
        "cronjob-job-running",
        said(
            Healthy,
            "The job is running. Its last execution may not have been successful",
        ),
    ),
    (
        "cronjob-never-scheduled",
        said(Healthy, "CronJob has not been scheduled yet"),
    ),
    (
        "cronjob-never-succeeded",
        said(
            Healthy,
            "The CronJob never completed successfully. It may not be healthy",
        ),
    ),
    ("cronjob-suspended", said(Healthy, "CronJob is Suspended")),
    (
        "cronjob-without-status",
        said(Progressing, "Waiting for CronJob"),
    ),
];

const PERSISTENT_VOLUME_CLAIM: &[(&str, Expected)] = &[
    ("pvc-bound", health(Healthy)),
    ("pvc-pending", health(Progressing)),
    ("pvc-lost", health(Degraded)),
];

const POD: &[(&str, Expected)] = &[
    ("pod-running-ready", health(Healthy)),
    ("pod-running-not-ready", health(Progressing)),
    ("pod-running-not-ready-after-restart", health(Degraded)),
    ("pod-pending-unschedulable", health(Progressing)),
    (
        "pod-crashloopbackoff",
        said(
            Degraded,
            "back-off 2m40s restarting failed container=web pod=web-6c9f8d7b5c-q8m4t_shop(f1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8)",
        ),
    ),
    (
        "pod-errimagepull",
        said(
            Degraded,
            "failed to pull and unpack image \"ghcr.io/example/web:1.5.1\": failed to resolve reference \"ghcr.io/example/web:1.5.1\": ghcr.io/example/web:1.5.1: not found",
        ),
    ),
    ("pod-imagepullbackoff-restart-never", health(Progressing)),
    ("pod-running-restart-never", health(Progressing)),
    ("pod-succeeded", health(Healthy)),
    (
        "pod-failed-exit-code",
        said(Degraded, "container \"migrate\" failed with exit code 1"),
    ),
    (
        "pod-node-lost",
        said(
            Unknown,
            "Node ip-10-0-12-34.eu-west-1.compute.internal which was running pod web-6c9f8d7b5c-q8m4t is unresponsive",
        ),
    ),
    (
        "pod-failed-evicted",
        said(
            Degraded,
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 84236Ki. Container web was using 212744Ki, request is 128Mi, has larger consumption of memory. ",
        ),
    ),
];

const SERVICE: &[(&str, Expected)] = &[
    ("service-clusterip", health(Healthy)),
    ("service-loadbalancer-pending", health(Progressing)),
    ("service-loadbalancer-ready", health(Healthy)),
];

const INGRESS: &[(&str, Expected)] = &[
    ("ingress-networking-ready", health(Healthy)),
    ("ingress-networking-pending", health(Progressing)),
    ("ingress-extensions-ready", health(Healthy)),
    ("ingress-extensions-pending", health(Progressing)),
];

const HORIZONTAL_POD_AUTOSCALER: &[(&str, Expected)] = &[
    (
        "hpa-v2-healthy",
        said(Healthy, "recommended size matches current size"),
    ),
    (
        "hpa-v2-degraded",
        said(
            Degraded,
            "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)",
        ),
    ),
    (
        "hpa-v2-degraded-external-metric",
        said(
            Degraded,
            "the HPA was unable to compute the replica count: unable to get external metric shop/queue_messages_ready/&LabelSelector{MatchLabels:map[string]string{queue: orders,},MatchExpressions:[]LabelSelectorRequirement{},}: unable to fetch metrics from external metrics API: the server could not find the requested resource (get queue_messages_ready.external.metrics.k8s.io)",
        ),
    ),
    ("hpa-v2-progressing", said(Progressing, "Waiting to Autoscale")),
    (
        "hpa-v1-healthy",
        said(Healthy, "recommended size matches current size"),
    ),
    (
        "hpa-v1-degraded",
        said(
            Degraded,
            "the HPA controller was unable to get the target's current scale: deployments/scale.apps \"web\" not found",
        ),
    ),
    ("hpa-v1-no-conditions", said(Progressing, "Waiting to Autoscale")),
];

const API_SERVICE: &[(&str, Expected)] = &[
    ("apiservice-available", said(Healthy, "Passed: all checks passed")),
    (
        "apiservice-unavailable",
        said(
            Progressing,
            "MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\"",
        ),
    ),
    (
        "apiservice-not-processed",
        said(Progressing, "Waiting to be processed"),
    ),
];

const APPLICATION: &[(&str, Expected)] = &[
    ("application-healthy", health(Healthy)),
    (
        "application-progressing",
        said(
            Progressing,
            "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
        ),
    ),
    (
        "application-degraded",
        said(
            Degraded,
            "Deployment \"payments\" exceeded its progress deadline",
        ),
    ),
    ("application-missing", health(Missing)),
    ("application-suspended", health(Suspended)),
    (
        "application-no-health",
        said(Progressing, "Waiting for application to be reconciled"),
    ),
];

const PENDING_DELETION: &[(&str, Expected)] = &[
    (
        "deployment-terminating",
        said(Progressing, "Pending deletion"),
    ),
    ("pod-terminating", said(Progressing, "Pending deletion")),
    (
        "configmap-terminating",
        said(Progressing, "Pending deletion"),
    ),
    ("pod-hook-finalizer-terminating", health(Healthy)),
];

const NO_RULE: &[(&str, Expected)] = &[("configmap", None), ("certificate-no-rule", None)];

const ALL: &[&[(&str, Expected)]] = &[
    DEPLOYMENT,
    STATEFUL_SET,
    DAEMON_SET,
    REPLICA_SET,
    JOB,
    CRON_JOB,
    PERSISTENT_VOLUME_CLAIM,
    POD,
    SERVICE,
    INGRESS,
    HORIZONTAL_POD_AUTOSCALER,
    API_SERVICE,
    APPLICATION,
    PENDING_DELETION,
    NO_RULE,
];

// === tests ===

#[test]
fn deployments_are_assessed_as_argo_cd_assesses_them() -> Result<()> {
    check(DEPLOYMENT)
}

#[test]
fn statefulsets_are_assessed_as_argo_cd_assesses_them() -> Result<()> {
    check(STATEFUL_SET)
}

#[test]
fn daemonsets_are_assessed_as_argo_cd_assesses_them() -> Result<()> {
    check(DAEMON_SET)
}

#[test]
fn replicasets_are_assessed_as_argo_cd_assesses_them() -> Result<()> {
    check(REPLICA_SET)
}

#[test]
fn jobs_are_assessed_as_argo_cd_assesses_them() -> Result<()> {
    check(JOB)
}

#[test]
fn cronjobs_are_healthy_unless_their_last_job_failed() -> Result<()> {
    check(CRON_JOB)
}

#[test]
fn persistent_volume_claims_follow_their_phase() -> Result<()> {
    check(PERSISTENT_VOLUME_CLAIM)
}

#[test]
fn pods_are_assessed_as_argo_cd_assesses_them() -> Result<()> {
    check(POD)
}

#[test]
fn load_balancer_services_wait_for_an_address() -> Result<()> {
    check(SERVICE)
}

#[test]
fn ingresses_of_both_groups_wait_for_an_address() -> Result<()> {
    check(INGRESS)
}

#[test]
fn horizontal_pod_autoscalers_of_v1_and_v2_are_assessed_from_their_conditions() -> Result<()> {
    check(HORIZONTAL_POD_AUTOSCALER)
}

#[test]
fn api_services_follow_their_available_condition() -> Result<()> {
    check(API_SERVICE)
}

#[test]
fn child_applications_report_the_health_their_controller_wrote() -> Result<()> {
    check(APPLICATION)
}

#[test]
fn anything_being_deleted_is_progressing_unless_a_hook_finalizer_holds_it() -> Result<()> {
    check(PENDING_DELETION)
}

#[test]
fn kinds_without_a_rule_have_no_health_and_count_as_healthy() -> Result<()> {
    check(NO_RULE)?;
    for (case, _) in NO_RULE {
        assert_eq!(
            assess_or_healthy(&fixture(case)?),
            Health::healthy(),
            "{case}"
        );
    }
    Ok(())
}

#[test]
fn every_fixture_is_in_the_matrix_and_every_case_has_a_fixture() -> Result<()> {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_dir())?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    let in_matrix: BTreeSet<String> = ALL
        .iter()
        .flat_map(|cases| cases.iter())
        .map(|(case, _)| format!("{case}.yaml"))
        .collect();
    assert_eq!(on_disk, in_matrix);
    Ok(())
}

#[test]
fn every_builtin_rule_is_covered_by_a_fixture() -> Result<()> {
    let mut covered = BTreeSet::new();
    for (case, _) in ALL.iter().flat_map(|cases| cases.iter()) {
        let obj = fixture(case)?;
        let (group, kind) = group_kind(&obj);
        covered.insert((group.to_owned(), kind.to_owned()));
    }
    let uncovered: Vec<_> = builtin()
        .kinds()
        // Argo Workflows are not part of the matrix the acceptance names;
        // their rule has unit tests.
        .filter(|(group, kind)| (*group, *kind) != ("argoproj.io", "Workflow"))
        .filter(|(group, kind)| !covered.contains(&((*group).to_owned(), (*kind).to_owned())))
        .collect();
    assert!(
        uncovered.is_empty(),
        "rules without a fixture: {uncovered:?}"
    );
    Ok(())
}

#[test]
fn every_status_code_a_rule_can_report_appears_in_the_matrix() {
    let seen: BTreeSet<HealthCode> = ALL
        .iter()
        .flat_map(|cases| cases.iter())
        .filter_map(|(_, expected)| expected.map(|(status, _)| status))
        .collect();
    assert_eq!(seen, HealthCode::ALL.into_iter().collect());
}
