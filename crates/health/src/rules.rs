//! Argo CD's built-in health rules, one module per API family. Adding a kind
//! is adding a row to [`BUILTIN`].
//!
//! Each rule mirrors its gitops-engine counterpart branch for branch, with the
//! same messages, reading missing fields as Go's zero values. Rules are
//! version-agnostic except where the version changes the data (HPA v1 keeps
//! its conditions in an annotation).

mod apiregistration;
mod apps;
mod argoproj;
mod autoscaling;
mod batch;
mod core;
mod networking;

use crate::registry::HealthRule;

/// (group, kind, rule) for every built-in kind.
pub(crate) static BUILTIN: &[(&str, &str, HealthRule)] = &[
    ("apps", "Deployment", apps::deployment),
    ("apps", "StatefulSet", apps::stateful_set),
    ("apps", "DaemonSet", apps::daemon_set),
    ("apps", "ReplicaSet", apps::replica_set),
    ("batch", "Job", batch::job),
    ("batch", "CronJob", batch::cron_job),
    ("", "Pod", core::pod),
    ("", "PersistentVolumeClaim", core::persistent_volume_claim),
    ("", "Service", core::service),
    ("networking.k8s.io", "Ingress", networking::ingress),
    ("extensions", "Ingress", networking::ingress),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        autoscaling::horizontal_pod_autoscaler,
    ),
    (
        "apiregistration.k8s.io",
        "APIService",
        apiregistration::api_service,
    ),
    ("argoproj.io", "Application", argoproj::application),
    ("argoproj.io", "Workflow", argoproj::workflow),
];
