//! APIService: its `Available` condition decides.

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields::{condition, text};

pub(crate) fn api_service(obj: &Value) -> Health {
    match condition(obj, "Available") {
        Some(available) => {
            let message = format!(
                "{}: {}",
                text(available, &["reason"]),
                text(available, &["message"])
            );
            let status = if text(available, &["status"]) == "True" {
                HealthCode::Healthy
            } else {
                HealthCode::Progressing
            };
            Health::new(status, message)
        }
        None => Health::new(HealthCode::Progressing, "Waiting to be processed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api_service_obj(conditions: Value) -> Value {
        json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
               "metadata": {"name": "v1beta1.metrics.k8s.io"}, "status": {"conditions": conditions}})
    }

    #[test]
    fn an_available_api_service_is_healthy() {
        let a = api_service_obj(
            json!([{"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}]),
        );
        assert_eq!(
            crate::assess(&a),
            Some(Health::new(
                HealthCode::Healthy,
                "Passed: all checks passed"
            ))
        );
    }

    #[test]
    fn an_unavailable_api_service_is_progressing() {
        let a = api_service_obj(
            json!([{"type": "Available", "status": "False", "reason": "MissingEndpoints",
                                        "message": "endpoints for service/metrics-server have no addresses"}]),
        );
        assert_eq!(
            crate::assess(&a),
            Some(Health::new(
                HealthCode::Progressing,
                "MissingEndpoints: endpoints for service/metrics-server have no addresses"
            ))
        );
    }

    #[test]
    fn an_api_service_without_an_available_condition_is_waiting_to_be_processed() {
        assert_eq!(
            crate::assess(&api_service_obj(json!([]))),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting to be processed"
            ))
        );
    }
}
