//! The core group: Pod, PersistentVolumeClaim, Service.

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields::{annotation, at, condition, int, list, present, text};

/// Makes a Running pod with restartPolicy Never/OnFailure assessed like a
/// long-running one (operators that run such pods set it).
pub(crate) const IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

pub(crate) fn pod(obj: &Value) -> Health {
    let restart_policy = text(obj, &["spec", "restartPolicy"]);
    let status_message = text(obj, &["status", "message"]);

    // Only for restartPolicy Always: a hook pod stuck in ImagePullBackOff must
    // not fail its hook early, and would run late once the image shows up.
    if restart_policy == "Always" {
        let waiting_errors: Vec<&str> = list(obj, &["status", "containerStatuses"])
            .iter()
            .filter_map(|c| at(c, &["state", "waiting"]).filter(|w| !w.is_null()))
            .filter(|w| is_error_reason(text(w, &["reason"])))
            .map(|w| text(w, &["message"]))
            .collect();
        if !waiting_errors.is_empty() {
            return Health::new(HealthCode::Degraded, waiting_errors.join(", "));
        }
    }

    match text(obj, &["status", "phase"]) {
        "Pending" => Health::new(HealthCode::Progressing, status_message),
        "Succeeded" => Health::new(HealthCode::Healthy, status_message),
        "Failed" => {
            if !status_message.is_empty() {
                return Health::new(HealthCode::Degraded, status_message);
            }
            let containers = list(obj, &["status", "initContainerStatuses"])
                .iter()
                .chain(list(obj, &["status", "containerStatuses"]));
            let message = containers
                .filter_map(failure_message)
                .next()
                .unwrap_or_default();
            Health::new(HealthCode::Degraded, message)
        }
        "Running" if annotation(obj, IGNORE_RESTART_POLICY).is_some() => running_pod(obj),
        "Running" => match restart_policy {
            "Always" => running_pod(obj),
            // Finite pods are usually hooks: not Healthy until they succeed.
            "OnFailure" | "Never" => Health::new(HealthCode::Progressing, status_message),
            _ => Health::new(HealthCode::Unknown, status_message),
        },
        _ => Health::new(HealthCode::Unknown, status_message),
    }
}

fn is_error_reason(reason: &str) -> bool {
    reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
}

fn running_pod(obj: &Value) -> Health {
    let status_message = text(obj, &["status", "message"]);
    if condition(obj, "Ready").is_some_and(|c| text(c, &["status"]) == "True") {
        return Health::new(HealthCode::Healthy, status_message);
    }
    let restarted_after_termination = list(obj, &["status", "containerStatuses"])
        .iter()
        .any(|c| present(c, &["lastState", "terminated"]));
    if restarted_after_termination {
        return Health::new(HealthCode::Degraded, status_message);
    }
    Health::new(HealthCode::Progressing, status_message)
}

fn failure_message(container: &Value) -> Option<String> {
    let terminated = at(container, &["state", "terminated"]).filter(|t| !t.is_null())?;
    let message = text(terminated, &["message"]);
    if !message.is_empty() {
        return Some(message.to_owned());
    }
    if text(terminated, &["reason"]) == "OOMKilled" {
        return Some("OOMKilled".to_owned());
    }
    match int(terminated, &["exitCode"]) {
        0 => None,
        code => Some(format!(
            "container {:?} failed with exit code {code}",
            text(container, &["name"])
        )),
    }
}

pub(crate) fn persistent_volume_claim(obj: &Value) -> Health {
    Health::of(match text(obj, &["status", "phase"]) {
        "Lost" => HealthCode::Degraded,
        "Pending" => HealthCode::Progressing,
        "Bound" => HealthCode::Healthy,
        _ => HealthCode::Unknown,
    })
}

pub(crate) fn service(obj: &Value) -> Health {
    if text(obj, &["spec", "type"]) == "LoadBalancer"
        && list(obj, &["status", "loadBalancer", "ingress"]).is_empty()
    {
        return Health::of(HealthCode::Progressing);
    }
    Health::healthy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_with(restart_policy: &str, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"restartPolicy": restart_policy, "containers": [{"name": "main"}]}, "status": status})
    }

    fn ready(status: &str) -> Value {
        json!([{"type": "Ready", "status": status}])
    }

    // === Pod ===

    #[test]
    fn a_pod_in_crash_loop_back_off_is_degraded() {
        let p = pod_with(
            "Always",
            json!({"phase": "Running", "containerStatuses": [{"name": "main",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}}]}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(
                HealthCode::Degraded,
                "back-off 5m0s restarting failed container"
            ))
        );
    }

    #[test]
    fn a_pod_waiting_with_an_err_reason_is_degraded() {
        let p = pod_with(
            "Always",
            json!({"phase": "Pending", "containerStatuses": [{"name": "main",
                "state": {"waiting": {"reason": "ErrImagePull", "message": "pull failed"}}}]}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(HealthCode::Degraded, "pull failed"))
        );
    }

    #[test]
    fn a_pod_waiting_with_an_error_suffix_reason_joins_every_message() {
        let p = pod_with(
            "Always",
            json!({"phase": "Pending", "containerStatuses": [
                {"name": "a", "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"s\" not found"}}},
                {"name": "b", "state": {"waiting": {"reason": "ContainerCreating"}}},
                {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(
                HealthCode::Degraded,
                "secret \"s\" not found, Back-off pulling image"
            ))
        );
    }

    #[test]
    fn a_hook_pod_in_image_pull_back_off_is_not_degraded_because_it_never_restarts() {
        let p = pod_with(
            "Never",
            json!({"phase": "Pending", "containerStatuses": [{"name": "main",
                "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
        );
        assert_eq!(
            crate::assess(&p).map(|h| h.status),
            Some(HealthCode::Progressing)
        );
    }

    #[test]
    fn a_pending_pod_is_progressing() {
        let p = pod_with(
            "Always",
            json!({"phase": "Pending", "message": "0/3 nodes are available"}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(
                HealthCode::Progressing,
                "0/3 nodes are available"
            ))
        );
    }

    #[test]
    fn a_succeeded_pod_is_healthy() {
        let p = pod_with("Never", json!({"phase": "Succeeded"}));
        assert_eq!(crate::assess(&p), Some(Health::healthy()));
    }

    #[test]
    fn a_failed_pod_is_degraded_with_the_pod_message() {
        let p = pod_with(
            "Never",
            json!({"phase": "Failed", "message": "Pod was evicted"}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(HealthCode::Degraded, "Pod was evicted"))
        );
    }

    #[test]
    fn a_failed_pod_without_a_message_reports_the_first_failed_container() {
        let p = pod_with(
            "Never",
            json!({"phase": "Failed",
                "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 0}}}],
                "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(
                HealthCode::Degraded,
                "container \"main\" failed with exit code 2"
            ))
        );
    }

    #[test]
    fn a_failed_pod_killed_for_memory_says_oom_killed() {
        let p = pod_with(
            "Never",
            json!({"phase": "Failed",
                "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(HealthCode::Degraded, "OOMKilled"))
        );
    }

    #[test]
    fn a_running_ready_pod_is_healthy() {
        let p = pod_with(
            "Always",
            json!({"phase": "Running", "conditions": ready("True")}),
        );
        assert_eq!(crate::assess(&p), Some(Health::healthy()));
    }

    #[test]
    fn a_running_pod_not_ready_yet_is_progressing() {
        let p = pod_with(
            "Always",
            json!({"phase": "Running", "conditions": ready("False")}),
        );
        assert_eq!(crate::assess(&p), Some(Health::of(HealthCode::Progressing)));
    }

    #[test]
    fn a_running_pod_not_ready_after_a_container_terminated_is_degraded() {
        let p = pod_with(
            "Always",
            json!({"phase": "Running", "conditions": ready("False"),
                "containerStatuses": [{"name": "main", "lastState": {"terminated": {"exitCode": 1}},
                                       "state": {"running": {}}}]}),
        );
        assert_eq!(crate::assess(&p), Some(Health::of(HealthCode::Degraded)));
    }

    #[test]
    fn a_running_pod_that_never_restarts_is_progressing_even_when_ready() {
        for policy in ["Never", "OnFailure"] {
            let p = pod_with(
                policy,
                json!({"phase": "Running", "conditions": ready("True")}),
            );
            assert_eq!(
                crate::assess(&p),
                Some(Health::of(HealthCode::Progressing)),
                "{policy}"
            );
        }
    }

    #[test]
    fn a_running_pod_with_the_ignore_restart_policy_annotation_is_judged_by_readiness() {
        let mut p = pod_with(
            "Never",
            json!({"phase": "Running", "conditions": ready("True")}),
        );
        p["metadata"]["annotations"] = json!({IGNORE_RESTART_POLICY: "true"});
        assert_eq!(crate::assess(&p), Some(Health::healthy()));
    }

    #[test]
    fn a_pod_in_an_unknown_phase_is_unknown() {
        let p = pod_with(
            "Always",
            json!({"phase": "Unknown", "message": "node lost"}),
        );
        assert_eq!(
            crate::assess(&p),
            Some(Health::new(HealthCode::Unknown, "node lost"))
        );
    }

    // === PersistentVolumeClaim ===

    fn pvc(phase: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
               "status": {"phase": phase}})
    }

    #[test]
    fn a_bound_pvc_is_healthy() {
        assert_eq!(crate::assess(&pvc("Bound")), Some(Health::healthy()));
    }

    #[test]
    fn a_pending_pvc_is_progressing() {
        assert_eq!(
            crate::assess(&pvc("Pending")),
            Some(Health::of(HealthCode::Progressing))
        );
    }

    #[test]
    fn a_lost_pvc_is_degraded() {
        assert_eq!(
            crate::assess(&pvc("Lost")),
            Some(Health::of(HealthCode::Degraded))
        );
    }

    #[test]
    fn a_pvc_without_a_phase_is_unknown() {
        assert_eq!(
            crate::assess(&pvc("")),
            Some(Health::of(HealthCode::Unknown))
        );
    }

    // === Service ===

    fn svc(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec, "status": status})
    }

    #[test]
    fn a_cluster_ip_service_is_healthy() {
        assert_eq!(
            crate::assess(&svc(json!({"type": "ClusterIP"}), json!({}))),
            Some(Health::healthy())
        );
    }

    #[test]
    fn a_load_balancer_service_without_an_ingress_point_is_progressing() {
        let s = svc(json!({"type": "LoadBalancer"}), json!({"loadBalancer": {}}));
        assert_eq!(crate::assess(&s), Some(Health::of(HealthCode::Progressing)));
    }

    #[test]
    fn a_load_balancer_service_with_an_ingress_point_is_healthy() {
        let s = svc(
            json!({"type": "LoadBalancer"}),
            json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}),
        );
        assert_eq!(crate::assess(&s), Some(Health::healthy()));
    }
}
