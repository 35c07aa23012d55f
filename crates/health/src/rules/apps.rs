//! `apps` workloads: Deployment, StatefulSet, DaemonSet, ReplicaSet. The
//! rollout checks are kubectl's `rollout status`, as Argo CD borrowed them.

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields::{condition, flag, int, name, opt_int, present, text};

pub(crate) fn deployment(obj: &Value) -> Health {
    if flag(obj, &["spec", "paused"]) {
        return Health::new(HealthCode::Suspended, "Deployment is paused");
    }
    if int(obj, &["metadata", "generation"]) > int(obj, &["status", "observedGeneration"]) {
        return Health::new(
            HealthCode::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let progressing = condition(obj, "Progressing");
    if progressing.is_some_and(|c| text(c, &["reason"]) == "ProgressDeadlineExceeded") {
        return Health::new(
            HealthCode::Degraded,
            format!("Deployment {:?} exceeded its progress deadline", name(obj)),
        );
    }
    let desired = opt_int(obj, &["spec", "replicas"]);
    let replicas = int(obj, &["status", "replicas"]);
    let updated = int(obj, &["status", "updatedReplicas"]);
    let available = int(obj, &["status", "availableReplicas"]);
    if let Some(desired) = desired.filter(|d| updated < *d) {
        return Health::new(
            HealthCode::Progressing,
            format!("Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."),
        );
    }
    if replicas > updated {
        return Health::new(
            HealthCode::Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        );
    }
    if available < updated {
        return Health::new(
            HealthCode::Progressing,
            format!("Waiting for rollout to finish: {available} of {updated} updated replicas are available..."),
        );
    }
    Health::healthy()
}

pub(crate) fn stateful_set(obj: &Value) -> Health {
    let observed = int(obj, &["status", "observedGeneration"]);
    if observed == 0 || int(obj, &["metadata", "generation"]) > observed {
        return Health::new(
            HealthCode::Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let desired = opt_int(obj, &["spec", "replicas"]);
    let ready = int(obj, &["status", "readyReplicas"]);
    let updated = int(obj, &["status", "updatedReplicas"]);
    if let Some(desired) = desired.filter(|d| ready < *d) {
        return Health::new(
            HealthCode::Progressing,
            format!("Waiting for {} pods to be ready...", desired - ready),
        );
    }
    let strategy = text(obj, &["spec", "updateStrategy", "type"]);
    if strategy == "RollingUpdate" && present(obj, &["spec", "updateStrategy", "rollingUpdate"]) {
        let partition = opt_int(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
        );
        if let (Some(desired), Some(partition)) = (desired, partition) {
            let target = desired - partition;
            if updated < target {
                return Health::new(
                    HealthCode::Progressing,
                    format!(
                        "Waiting for partitioned roll out to finish: {updated} out of {target} new pods have been updated..."
                    ),
                );
            }
        }
        return Health::new(
            HealthCode::Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return Health::new(
            HealthCode::Healthy,
            format!("statefulset has {ready} ready pods"),
        );
    }
    let update_revision = text(obj, &["status", "updateRevision"]);
    let current_revision = text(obj, &["status", "currentRevision"]);
    if update_revision != current_revision {
        return Health::new(
            HealthCode::Progressing,
            format!("waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."),
        );
    }
    let current = int(obj, &["status", "currentReplicas"]);
    Health::new(
        HealthCode::Healthy,
        format!(
            "statefulset rolling update complete {current} pods at revision {current_revision}..."
        ),
    )
}

pub(crate) fn daemon_set(obj: &Value) -> Health {
    if int(obj, &["metadata", "generation"]) > int(obj, &["status", "observedGeneration"]) {
        return Health::new(
            HealthCode::Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let desired = int(obj, &["status", "desiredNumberScheduled"]);
    let updated = int(obj, &["status", "updatedNumberScheduled"]);
    let available = int(obj, &["status", "numberAvailable"]);
    if text(obj, &["spec", "updateStrategy", "type"]) == "OnDelete" {
        return Health::new(
            HealthCode::Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    if updated < desired {
        return Health::new(
            HealthCode::Progressing,
            format!(
                "Waiting for daemon set {:?} rollout to finish: {updated} out of {desired} new pods have been updated...",
                name(obj)
            ),
        );
    }
    if available < desired {
        return Health::new(
            HealthCode::Progressing,
            format!(
                "Waiting for daemon set {:?} rollout to finish: {available} of {desired} updated pods are available...",
                name(obj)
            ),
        );
    }
    Health::healthy()
}

pub(crate) fn replica_set(obj: &Value) -> Health {
    if int(obj, &["metadata", "generation"]) > int(obj, &["status", "observedGeneration"]) {
        return Health::new(
            HealthCode::Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(failure) =
        condition(obj, "ReplicaFailure").filter(|c| text(c, &["status"]) == "True")
    {
        return Health::new(HealthCode::Degraded, text(failure, &["message"]));
    }
    let available = int(obj, &["status", "availableReplicas"]);
    if let Some(desired) = opt_int(obj, &["spec", "replicas"]).filter(|d| available < *d) {
        return Health::new(
            HealthCode::Progressing,
            format!("Waiting for rollout to finish: {available} out of {desired} new replicas are available..."),
        );
    }
    Health::healthy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "ns", "generation": 2},
               "spec": spec, "status": status})
    }

    fn health(obj: &Value) -> Option<Health> {
        crate::assess(obj)
    }

    // === Deployment ===

    #[test]
    fn a_paused_deployment_is_suspended() {
        let d = deploy(json!({"paused": true, "replicas": 1}), json!({}));
        assert_eq!(
            health(&d),
            Some(Health::new(HealthCode::Suspended, "Deployment is paused"))
        );
    }

    #[test]
    fn a_deployment_whose_spec_change_is_not_observed_yet_is_progressing() {
        let d = deploy(
            json!({"replicas": 1}),
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for rollout to finish: observed deployment generation less than desired generation"
            ))
        );
    }

    #[test]
    fn a_deployment_past_its_progress_deadline_is_degraded() {
        let d = deploy(
            json!({"replicas": 2}),
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
                   "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Degraded,
                "Deployment \"web\" exceeded its progress deadline"
            ))
        );
    }

    #[test]
    fn a_deployment_with_fewer_updated_than_desired_replicas_is_progressing() {
        let d = deploy(
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."
            ))
        );
    }

    #[test]
    fn a_deployment_with_old_replicas_pending_termination_is_progressing() {
        let d = deploy(
            json!({"replicas": 2}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for rollout to finish: 1 old replicas are pending termination..."
            ))
        );
    }

    #[test]
    fn a_deployment_with_updated_replicas_not_yet_available_is_progressing() {
        let d = deploy(
            json!({"replicas": 2}),
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for rollout to finish: 1 of 2 updated replicas are available..."
            ))
        );
    }

    #[test]
    fn a_fully_rolled_out_deployment_is_healthy() {
        let d = deploy(
            json!({"replicas": 2}),
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
        );
        assert_eq!(health(&d), Some(Health::healthy()));
    }

    #[test]
    fn a_deployment_scaled_to_zero_is_healthy() {
        let d = deploy(json!({"replicas": 0}), json!({"observedGeneration": 2}));
        assert_eq!(health(&d), Some(Health::healthy()));
    }

    // === StatefulSet ===

    fn sts(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "db", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn a_statefulset_never_observed_is_progressing() {
        let s = sts(json!({"replicas": 1}), json!({}));
        assert_eq!(
            health(&s),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for statefulset spec update to be observed..."
            ))
        );
    }

    #[test]
    fn a_statefulset_with_a_stale_observed_generation_is_progressing() {
        let mut s = sts(json!({"replicas": 1}), json!({"observedGeneration": 1}));
        s["metadata"]["generation"] = json!(2);
        assert_eq!(health(&s).map(|h| h.status), Some(HealthCode::Progressing));
    }

    #[test]
    fn a_statefulset_with_pods_not_ready_is_progressing() {
        let s = sts(
            json!({"replicas": 3}),
            json!({"observedGeneration": 1, "readyReplicas": 1}),
        );
        assert_eq!(
            health(&s),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for 2 pods to be ready..."
            ))
        );
    }

    #[test]
    fn a_statefulset_with_an_unfinished_partitioned_rollout_is_progressing() {
        let s = sts(
            json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
            json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1}),
        );
        assert_eq!(
            health(&s),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated..."
            ))
        );
    }

    #[test]
    fn a_statefulset_with_a_finished_partitioned_rollout_is_healthy() {
        let s = sts(
            json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}}),
            json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 3,
                   "currentRevision": "db-1", "updateRevision": "db-2"}),
        );
        assert_eq!(
            health(&s),
            Some(Health::new(
                HealthCode::Healthy,
                "partitioned roll out complete: 3 new pods have been updated..."
            ))
        );
    }

    #[test]
    fn a_statefulset_with_the_on_delete_strategy_is_healthy_once_ready() {
        let s = sts(
            json!({"replicas": 2, "updateStrategy": {"type": "OnDelete"}}),
            json!({"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"}),
        );
        assert_eq!(
            health(&s),
            Some(Health::new(
                HealthCode::Healthy,
                "statefulset has 2 ready pods"
            ))
        );
    }

    #[test]
    fn a_statefulset_between_revisions_is_progressing() {
        let s = sts(
            json!({"replicas": 2, "updateStrategy": {"type": "RollingUpdate"}}),
            json!({"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 1,
                   "currentRevision": "db-1", "updateRevision": "db-2"}),
        );
        assert_eq!(
            health(&s),
            Some(Health::new(
                HealthCode::Progressing,
                "waiting for statefulset rolling update to complete 1 pods at revision db-2..."
            ))
        );
    }

    #[test]
    fn a_statefulset_at_its_update_revision_is_healthy() {
        let s = sts(
            json!({"replicas": 2}),
            json!({"observedGeneration": 1, "readyReplicas": 2, "currentReplicas": 2,
                   "currentRevision": "db-2", "updateRevision": "db-2"}),
        );
        assert_eq!(
            health(&s),
            Some(Health::new(
                HealthCode::Healthy,
                "statefulset rolling update complete 2 pods at revision db-2..."
            ))
        );
    }

    // === DaemonSet ===

    fn ds(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "agent", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn a_daemonset_with_a_stale_observed_generation_is_progressing() {
        let d = ds(json!({}), json!({"observedGeneration": 0}));
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for rollout to finish: observed daemon set generation less than desired generation"
            ))
        );
    }

    #[test]
    fn a_daemonset_with_the_on_delete_strategy_is_healthy() {
        let d = ds(
            json!({"updateStrategy": {"type": "OnDelete"}}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Healthy,
                "daemon set 1 out of 3 new pods have been updated"
            ))
        );
    }

    #[test]
    fn a_daemonset_with_pods_not_yet_updated_is_progressing() {
        let d = ds(
            json!({"updateStrategy": {"type": "RollingUpdate"}}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2, "numberAvailable": 3}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for daemon set \"agent\" rollout to finish: 2 out of 3 new pods have been updated..."
            ))
        );
    }

    #[test]
    fn a_daemonset_with_pods_not_yet_available_is_progressing() {
        let d = ds(
            json!({}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 1}),
        );
        assert_eq!(
            health(&d),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for daemon set \"agent\" rollout to finish: 1 of 3 updated pods are available..."
            ))
        );
    }

    #[test]
    fn a_daemonset_with_all_pods_updated_and_available_is_healthy() {
        let d = ds(
            json!({}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
        );
        assert_eq!(health(&d), Some(Health::healthy()));
    }

    // === ReplicaSet ===

    fn rs(replicas: i64, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": "web-abc", "generation": 1}, "spec": {"replicas": replicas}, "status": status})
    }

    #[test]
    fn a_replicaset_with_a_stale_observed_generation_is_progressing() {
        assert_eq!(
            health(&rs(1, json!({}))),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for rollout to finish: observed replica set generation less than desired generation"
            ))
        );
    }

    #[test]
    fn a_replicaset_with_a_replica_failure_is_degraded_with_its_message() {
        let r = rs(
            2,
            json!({"observedGeneration": 1, "conditions": [
                {"type": "ReplicaFailure", "status": "True", "message": "pods \"web-abc-\" is forbidden: exceeded quota"}]}),
        );
        assert_eq!(
            health(&r),
            Some(Health::new(
                HealthCode::Degraded,
                "pods \"web-abc-\" is forbidden: exceeded quota"
            ))
        );
    }

    #[test]
    fn a_replicaset_with_too_few_available_replicas_is_progressing() {
        assert_eq!(
            health(&rs(
                2,
                json!({"observedGeneration": 1, "availableReplicas": 1})
            )),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for rollout to finish: 1 out of 2 new replicas are available..."
            ))
        );
    }

    #[test]
    fn a_replicaset_with_all_replicas_available_is_healthy() {
        assert_eq!(
            health(&rs(
                2,
                json!({"observedGeneration": 1, "availableReplicas": 2})
            )),
            Some(Health::healthy())
        );
    }
}
