//! `batch`: Job (gitops-engine) and CronJob (the Lua check Argo CD 3.2+
//! ships in `resource_customizations/batch/CronJob/health.lua`).

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields::{at, flag, list, text};

pub(crate) fn job(obj: &Value) -> Health {
    let mut complete = false;
    let mut failed = false;
    let mut suspended = false;
    let mut message = "";
    let mut fail_message = "";
    // Argo CD reads the condition types alone; a Job only ever sets them True.
    for condition in list(obj, &["status", "conditions"]) {
        match text(condition, &["type"]) {
            "Failed" => {
                failed = true;
                complete = true;
                fail_message = text(condition, &["message"]);
            }
            "Complete" => {
                complete = true;
                message = text(condition, &["message"]);
            }
            "Suspended" => {
                complete = true;
                message = text(condition, &["message"]);
                suspended = text(condition, &["status"]) == "True";
            }
            _ => {}
        }
    }
    if !complete {
        Health::new(HealthCode::Progressing, message)
    } else if failed {
        Health::new(HealthCode::Degraded, fail_message)
    } else if suspended {
        // The Suspended condition's own message (argo-cd#28738; earlier
        // releases reported an empty message here).
        Health::new(HealthCode::Suspended, message)
    } else {
        Health::new(HealthCode::Healthy, message)
    }
}

/// Argo CD 3.2+ reports a suspended CronJob as Healthy (not Suspended) so it
/// does not drag its Application's health down (argo-cd#24428, #19126), and a
/// CronJob with a running Job as Healthy because its status cannot tell
/// whether the last run failed (argo-cd#24429).
pub(crate) fn cron_job(obj: &Value) -> Health {
    if flag(obj, &["spec", "suspend"]) {
        return Health::new(HealthCode::Healthy, "CronJob is Suspended");
    }
    let Some(status) = at(obj, &["status"]).filter(|s| !s.is_null()) else {
        return Health::new(HealthCode::Progressing, "Waiting for CronJob");
    };
    let last_schedule = at(status, &["lastScheduleTime"]).and_then(Value::as_str);
    let last_success = at(status, &["lastSuccessfulTime"]).and_then(Value::as_str);
    let Some(last_schedule) = last_schedule else {
        return Health::new(HealthCode::Healthy, "CronJob has not been scheduled yet");
    };
    let Some(last_success) = last_success else {
        return Health::new(
            HealthCode::Healthy,
            "The CronJob never completed successfully. It may not be healthy",
        );
    };
    if !list(status, &["active"]).is_empty() {
        return Health::new(
            HealthCode::Healthy,
            "The job is running. Its last execution may not have been successful",
        );
    }
    // RFC 3339 timestamps in UTC ("…Z") order as text, as the Lua compares them.
    if last_success < last_schedule {
        return Health::new(
            HealthCode::Degraded,
            "CronJob has not completed its last execution successfully",
        );
    }
    Health::new(
        HealthCode::Healthy,
        "CronJob has completed its last execution successfully",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job_with(spec: Value, conditions: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
               "spec": spec, "status": {"conditions": conditions}})
    }

    fn cron(spec: Value, status: Option<Value>) -> Value {
        let mut obj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup"}, "spec": spec});
        if let Some(status) = status {
            obj["status"] = status;
        }
        obj
    }

    // === Job ===

    #[test]
    fn a_running_job_is_progressing() {
        let j = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m"}, "status": {"active": 1}});
        assert_eq!(crate::assess(&j), Some(Health::of(HealthCode::Progressing)));
    }

    #[test]
    fn a_failed_job_is_degraded_with_the_failure_message() {
        let j = job_with(
            json!({}),
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit"}]),
        );
        assert_eq!(
            crate::assess(&j),
            Some(Health::new(
                HealthCode::Degraded,
                "Job has reached the specified backoff limit"
            ))
        );
    }

    #[test]
    fn a_suspended_job_is_suspended() {
        let j = job_with(
            json!({"suspend": true}),
            json!([{"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended"}]),
        );
        assert_eq!(
            crate::assess(&j),
            Some(Health::new(HealthCode::Suspended, "Job suspended"))
        );
    }

    #[test]
    fn a_resumed_job_whose_suspended_condition_is_false_is_healthy_as_argo_cd_reports_it() {
        let j = job_with(
            json!({"suspend": false}),
            json!([{"type": "Suspended", "status": "False", "reason": "JobResumed", "message": "Job resumed"}]),
        );
        assert_eq!(
            crate::assess(&j),
            Some(Health::new(HealthCode::Healthy, "Job resumed"))
        );
    }

    #[test]
    fn a_completed_job_is_healthy() {
        let j = job_with(json!({}), json!([{"type": "Complete", "status": "True"}]));
        assert_eq!(crate::assess(&j), Some(Health::healthy()));
    }

    // === CronJob ===

    #[test]
    fn a_suspended_cronjob_is_healthy_with_a_suspended_message() {
        let c = cron(json!({"suspend": true}), Some(json!({})));
        assert_eq!(
            crate::assess(&c),
            Some(Health::new(HealthCode::Healthy, "CronJob is Suspended"))
        );
    }

    #[test]
    fn a_cronjob_without_status_is_progressing() {
        assert_eq!(
            crate::assess(&cron(json!({}), None)),
            Some(Health::new(HealthCode::Progressing, "Waiting for CronJob"))
        );
    }

    #[test]
    fn a_cronjob_never_scheduled_is_healthy() {
        assert_eq!(
            crate::assess(&cron(json!({}), Some(json!({})))),
            Some(Health::new(
                HealthCode::Healthy,
                "CronJob has not been scheduled yet"
            ))
        );
    }

    #[test]
    fn a_cronjob_that_never_succeeded_is_healthy_with_a_warning() {
        let c = cron(
            json!({}),
            Some(json!({"lastScheduleTime": "2024-05-01T10:00:00Z"})),
        );
        assert_eq!(
            crate::assess(&c),
            Some(Health::new(
                HealthCode::Healthy,
                "The CronJob never completed successfully. It may not be healthy"
            ))
        );
    }

    #[test]
    fn a_cronjob_with_an_active_job_is_healthy() {
        let c = cron(
            json!({}),
            Some(
                json!({"lastScheduleTime": "2024-05-01T10:00:00Z", "lastSuccessfulTime": "2024-05-01T09:00:05Z",
                        "active": [{"name": "backup-1"}]}),
            ),
        );
        assert_eq!(
            crate::assess(&c).map(|h| h.status),
            Some(HealthCode::Healthy)
        );
    }

    #[test]
    fn a_cronjob_whose_last_run_failed_is_degraded() {
        let c = cron(
            json!({}),
            Some(
                json!({"lastScheduleTime": "2024-05-01T10:00:00Z", "lastSuccessfulTime": "2024-05-01T09:00:05Z"}),
            ),
        );
        assert_eq!(
            crate::assess(&c),
            Some(Health::new(
                HealthCode::Degraded,
                "CronJob has not completed its last execution successfully"
            ))
        );
    }

    #[test]
    fn a_cronjob_whose_last_run_succeeded_is_healthy() {
        let c = cron(
            json!({}),
            Some(
                json!({"lastScheduleTime": "2024-05-01T10:00:00Z", "lastSuccessfulTime": "2024-05-01T10:00:07Z"}),
            ),
        );
        assert_eq!(
            crate::assess(&c),
            Some(Health::new(
                HealthCode::Healthy,
                "CronJob has completed its last execution successfully"
            ))
        );
    }
}
