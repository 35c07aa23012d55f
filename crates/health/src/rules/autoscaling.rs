//! HorizontalPodAutoscaler. autoscaling/v2 (and v2beta*) keep conditions in
//! `status.conditions`; autoscaling/v1 has none there, so the controller
//! writes them as JSON into an annotation.

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields::{annotation, list, text};

const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
const WAITING: &str = "Waiting to Autoscale";

/// (condition type, reason) pairs that mean the autoscaler cannot work: the
/// reasons the HPA controller writes when it cannot read its target or any
/// kind of metric (the non-resource metric reasons since argo-cd#26274).
const DEGRADED: &[(&str, &str)] = &[
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "FailedGetObjectMetric"),
    ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"),
    ("ScalingActive", "FailedComputeMetricsReplicas"),
    ("ScalingActive", "InvalidSelector"),
];

/// Condition types that, when True, mean the autoscaler is doing its job.
const HEALTHY: &[&str] = &["AbleToScale", "ScalingLimited"];

pub(crate) fn horizontal_pod_autoscaler(obj: &Value) -> Health {
    let api_version = text(obj, &["apiVersion"]);
    if api_version == "autoscaling/v1" {
        let Some(raw) = annotation(obj, CONDITIONS_ANNOTATION).and_then(Value::as_str) else {
            return Health::new(HealthCode::Progressing, WAITING);
        };
        return match serde_json::from_str::<Vec<Value>>(raw) {
            Ok(conditions) => check(&conditions),
            Err(e) => Health::new(
                HealthCode::Unknown,
                format!("failed to convert conditions annotation to typed: {e}"),
            ),
        };
    }
    check(list(obj, &["status", "conditions"]))
}

/// Any degraded condition wins over a healthy one, wherever it sits in the
/// list (argo-cd#26274: `AbleToScale=True` listed first no longer hides a
/// metrics failure).
fn check(conditions: &[Value]) -> Health {
    let degraded = conditions.iter().find(|c| {
        let (kind, reason) = (text(c, &["type"]), text(c, &["reason"]));
        DEGRADED.iter().any(|(t, r)| *t == kind && *r == reason)
    });
    if let Some(c) = degraded {
        return Health::new(HealthCode::Degraded, text(c, &["message"]));
    }
    let healthy = conditions
        .iter()
        .find(|c| HEALTHY.contains(&text(c, &["type"])) && text(c, &["status"]) == "True");
    if let Some(c) = healthy {
        return Health::new(HealthCode::Healthy, text(c, &["message"]));
    }
    Health::new(HealthCode::Progressing, WAITING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hpa_v2(conditions: Value) -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
               "status": {"conditions": conditions}})
    }

    fn hpa_v1(conditions: Option<&str>) -> Value {
        let mut obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                             "metadata": {"name": "web"}, "status": {"currentReplicas": 1}});
        if let Some(c) = conditions {
            obj["metadata"]["annotations"] = json!({CONDITIONS_ANNOTATION: c});
        }
        obj
    }

    #[test]
    fn an_hpa_able_to_scale_is_healthy() {
        let h = hpa_v2(json!([
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"}]));
        assert_eq!(
            crate::assess(&h),
            Some(Health::new(
                HealthCode::Healthy,
                "recommended size matches current size"
            ))
        );
    }

    #[test]
    fn an_hpa_limited_by_its_bounds_is_healthy() {
        let h = hpa_v2(
            json!([{"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas", "message": "too few"}]),
        );
        assert_eq!(
            crate::assess(&h),
            Some(Health::new(HealthCode::Healthy, "too few"))
        );
    }

    #[test]
    fn an_hpa_failing_to_read_metrics_is_degraded() {
        let h = hpa_v2(json!([
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
             "message": "unable to get metrics for resource cpu"}]));
        assert_eq!(
            crate::assess(&h),
            Some(Health::new(
                HealthCode::Degraded,
                "unable to get metrics for resource cpu"
            ))
        );
    }

    #[test]
    fn an_hpa_failing_to_read_any_kind_of_metric_is_degraded() {
        for reason in [
            "FailedGetObjectMetric",
            "FailedGetPodsMetric",
            "FailedGetExternalMetric",
            "FailedComputeMetricsReplicas",
        ] {
            let h = hpa_v2(json!([
                {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"},
                {"type": "ScalingActive", "status": "False", "reason": reason, "message": "no metric"}]));
            assert_eq!(
                crate::assess(&h),
                Some(Health::new(HealthCode::Degraded, "no metric")),
                "{reason}"
            );
        }
    }

    #[test]
    fn an_hpa_failing_to_get_its_scale_target_is_degraded() {
        let h = hpa_v2(
            json!([{"type": "AbleToScale", "status": "False", "reason": "FailedGetScale", "message": "no such deployment"}]),
        );
        assert_eq!(
            crate::assess(&h),
            Some(Health::new(HealthCode::Degraded, "no such deployment"))
        );
    }

    #[test]
    fn an_hpa_with_scaling_disabled_is_not_degraded() {
        let h = hpa_v2(json!([
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"},
            {"type": "ScalingActive", "status": "False", "reason": "ScalingDisabled"}]));
        assert_eq!(
            crate::assess(&h).map(|h| h.status),
            Some(HealthCode::Healthy)
        );
    }

    #[test]
    fn an_hpa_without_a_healthy_condition_is_waiting_to_autoscale() {
        let h = hpa_v2(json!([
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"}]));
        assert_eq!(
            crate::assess(&h),
            Some(Health::new(HealthCode::Progressing, "Waiting to Autoscale"))
        );
    }

    #[test]
    fn a_v1_hpa_reads_its_conditions_from_the_annotation() {
        let h = hpa_v1(Some(
            r#"[{"type":"AbleToScale","status":"True","reason":"SucceededRescale","message":"rescaled"}]"#,
        ));
        assert_eq!(
            crate::assess(&h),
            Some(Health::new(HealthCode::Healthy, "rescaled"))
        );
        let h = hpa_v1(Some(
            r#"[{"type":"AbleToScale","status":"True"},{"type":"ScalingActive","status":"False","reason":"FailedGetObjectMetric","message":"no metric"}]"#,
        ));
        assert_eq!(
            crate::assess(&h),
            Some(Health::new(HealthCode::Degraded, "no metric"))
        );
    }

    #[test]
    fn a_v1_hpa_without_the_annotation_is_waiting_to_autoscale() {
        assert_eq!(
            crate::assess(&hpa_v1(None)),
            Some(Health::new(HealthCode::Progressing, "Waiting to Autoscale"))
        );
        assert_eq!(
            crate::assess(&hpa_v1(Some("[]"))).map(|h| h.status),
            Some(HealthCode::Progressing)
        );
    }

    #[test]
    fn a_v1_hpa_with_an_unreadable_annotation_is_unknown() {
        let h = crate::assess(&hpa_v1(Some("not json")));
        assert_eq!(h.as_ref().map(|h| h.status), Some(HealthCode::Unknown));
        assert!(h
            .and_then(|h| h.message)
            .is_some_and(|m| m.starts_with("failed to convert conditions annotation to typed: ")));
    }
}
