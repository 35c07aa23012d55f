//! `argoproj.io`: a child Application (App-of-Apps) reports the health its
//! own controller wrote, as Argo CD's `argoproj.io/Application` health check
//! does; an Argo Workflow follows its phase.

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields::{at, text};

/// What Argo CD reports when a Lua health check returns a status that is not
/// one of the six codes.
const INVALID_LUA_STATUS: &str = "Lua returned an invalid health status";

/// The child's `status.health`, as the `argoproj.io/Application` Lua check
/// passes it through; a status that is no health code becomes Unknown, as
/// Argo CD's Lua runner reports it.
pub(crate) fn application(obj: &Value) -> Health {
    match at(obj, &["status", "health", "status"]).filter(|s| !s.is_null()) {
        None => Health::new(
            HealthCode::Progressing,
            "Waiting for application to be reconciled",
        ),
        Some(reported) => match reported.as_str().map(str::parse::<HealthCode>) {
            Some(Ok(status)) => Health::new(status, text(obj, &["status", "health", "message"])),
            _ => Health::new(HealthCode::Unknown, INVALID_LUA_STATUS),
        },
    }
}

pub(crate) fn workflow(obj: &Value) -> Health {
    let message = text(obj, &["status", "message"]);
    let status = match text(obj, &["status", "phase"]) {
        "" | "Pending" | "Running" => HealthCode::Progressing,
        "Succeeded" => HealthCode::Healthy,
        "Failed" | "Error" => HealthCode::Degraded,
        _ => HealthCode::Unknown,
    };
    Health::new(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(status: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": "child", "namespace": "argocd"}, "spec": {"project": "default"}, "status": status})
    }

    fn wf(status: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "status": status})
    }

    #[test]
    fn a_child_application_reports_the_health_its_controller_wrote() {
        let a =
            app(json!({"health": {"status": "Degraded", "message": "Deployment/web is degraded"}}));
        assert_eq!(
            crate::assess(&a),
            Some(Health::new(
                HealthCode::Degraded,
                "Deployment/web is degraded"
            ))
        );
        let a = app(json!({"health": {"status": "Healthy"}}));
        assert_eq!(crate::assess(&a), Some(Health::healthy()));
        let a = app(json!({"health": {"status": "Suspended"}}));
        assert_eq!(crate::assess(&a), Some(Health::of(HealthCode::Suspended)));
    }

    #[test]
    fn a_child_application_not_reconciled_yet_is_progressing() {
        assert_eq!(
            crate::assess(&app(json!({}))),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for application to be reconciled"
            ))
        );
        let no_status = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "c"}});
        assert_eq!(
            crate::assess(&no_status).map(|h| h.status),
            Some(HealthCode::Progressing)
        );
    }

    #[test]
    fn a_child_application_with_an_unrecognised_health_is_unknown_as_the_lua_runner_reports_it() {
        for status in ["Bogus", ""] {
            let a = app(json!({"health": {"status": status, "message": "ignored"}}));
            assert_eq!(
                crate::assess(&a),
                Some(Health::new(
                    HealthCode::Unknown,
                    "Lua returned an invalid health status"
                )),
                "{status}"
            );
        }
    }

    #[test]
    fn a_child_application_whose_health_has_no_status_yet_is_progressing() {
        let a = app(json!({"health": {"message": "x"}}));
        assert_eq!(
            crate::assess(&a),
            Some(Health::new(
                HealthCode::Progressing,
                "Waiting for application to be reconciled"
            ))
        );
    }

    #[test]
    fn a_running_workflow_is_progressing() {
        let w = wf(json!({"phase": "Running", "message": "This node is running"}));
        assert_eq!(
            crate::assess(&w),
            Some(Health::new(HealthCode::Progressing, "This node is running"))
        );
        assert_eq!(
            crate::assess(&wf(json!({}))),
            Some(Health::of(HealthCode::Progressing))
        );
    }

    #[test]
    fn a_succeeded_workflow_is_healthy() {
        assert_eq!(
            crate::assess(&wf(json!({"phase": "Succeeded"}))),
            Some(Health::healthy())
        );
    }

    #[test]
    fn a_failed_or_errored_workflow_is_degraded() {
        for phase in ["Failed", "Error"] {
            let w = wf(json!({"phase": phase, "message": "child failed"}));
            assert_eq!(
                crate::assess(&w),
                Some(Health::new(HealthCode::Degraded, "child failed")),
                "{phase}"
            );
        }
    }
}
