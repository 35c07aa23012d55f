use super::*;
use serde_json::{json, Value};

fn app(value: Value) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(value)?)
}

fn op() -> Value {
    json!({"sync": {"prune": false, "dryRun": false}, "initiatedBy": {"username": "admin"}})
}

fn requested() -> anyhow::Result<Operation> {
    Ok(serde_json::from_value(op())?)
}

fn at(s: &str) -> DateTime<Utc> {
    render::parse_time(s).unwrap_or_default()
}

fn base() -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {"project": "default", "destination": {"server": "s"}},
        "status": {
            "resources": [{"kind": "ConfigMap", "namespace": "web", "name": "cfg", "status": "OutOfSync",
                           "health": {"status": "Missing"}}],
            "operationState": {
                "operation": {"sync": {"revision": "old"}},
                "phase": "Succeeded", "startedAt": "2024-05-01T09:00:00Z", "finishedAt": "2024-05-01T09:00:05Z",
                "syncResult": {"revision": "old", "resources": [
                    {"kind": "ConfigMap", "namespace": "web", "name": "cfg", "status": "Synced", "message": "old result"}
                ]}
            }
        }
    })
}

#[test]
fn a_requested_operation_is_pending_until_the_controller_runs_it() -> anyhow::Result<()> {
    let requested_at = at("2024-05-01T10:00:00Z");
    let mut v = base();
    v["operation"] = op();
    let r = requested()?;
    assert_eq!(
        operation_status(&app(v.clone())?, Some(&r), requested_at),
        OpStatus::Pending
    );

    v["status"]["operationState"] = json!({"operation": op(), "phase": "Running",
                                           "startedAt": "2024-05-01T10:00:01Z"});
    assert_eq!(
        operation_status(&app(v.clone())?, Some(&r), requested_at),
        OpStatus::Running
    );

    // Final state written, `.operation` not cleared yet: still waiting.
    v["status"]["operationState"]["phase"] = json!("Failed");
    v["status"]["operationState"]["finishedAt"] = json!("2024-05-01T10:00:09Z");
    assert_eq!(
        operation_status(&app(v.clone())?, Some(&r), requested_at),
        OpStatus::Pending
    );

    v["operation"] = Value::Null;
    assert_eq!(
        operation_status(&app(v)?, Some(&r), requested_at),
        OpStatus::Finished
    );
    Ok(())
}

#[test]
fn an_operation_removed_before_it_ran_is_reported() -> anyhow::Result<()> {
    // `.operation` gone, and the last operation state is an older one.
    let status = operation_status(
        &app(base())?,
        Some(&requested()?),
        at("2024-05-01T10:00:00Z"),
    );
    assert_eq!(status, OpStatus::Vanished);
    Ok(())
}

#[test]
fn an_operation_started_after_the_request_is_ours_even_if_it_differs() -> anyhow::Result<()> {
    let mut v = base();
    v["status"]["operationState"]["startedAt"] = json!("2024-05-01T10:00:02Z");
    v["status"]["operationState"]["finishedAt"] = json!("2024-05-01T10:00:04Z");
    let status = operation_status(&app(v)?, Some(&requested()?), at("2024-05-01T10:00:00Z"));
    assert_eq!(status, OpStatus::Finished);
    Ok(())
}

#[test]
fn progress_prints_only_what_changed() -> anyhow::Result<()> {
    let r = requested()?;
    let mut progress = Progress::default();
    let mut v = base();
    v["operation"] = op();

    // Before our operation runs: current resources, not the old results.
    let first = progress.update(&app(v.clone())?, Some(&r), "T1");
    assert_eq!(
        first,
        "TIMESTAMP  GROUP  KIND       NAMESPACE  NAME  STATUS     HEALTH   HOOK  MESSAGE\n\
         T1                ConfigMap  web        cfg   OutOfSync  Missing\n"
    );
    assert_eq!(progress.update(&app(v.clone())?, Some(&r), "T2"), "");

    v["status"]["operationState"] = json!({"operation": op(), "phase": "Running", "message": "syncing",
                                           "startedAt": "2024-05-01T10:00:01Z"});
    assert_eq!(
        progress.update(&app(v.clone())?, Some(&r), "T3"),
        "T3  Operation Running: syncing\n"
    );

    v["status"]["resources"][0]["status"] = json!("Synced");
    v["status"]["resources"][0]["health"]["status"] = json!("Healthy");
    v["status"]["operationState"]["phase"] = json!("Succeeded");
    v["status"]["operationState"]["message"] = json!("successfully synced");
    v["status"]["operationState"]["syncResult"] = json!({"revision": "abc", "resources": [
        {"kind": "ConfigMap", "namespace": "web", "name": "cfg", "status": "Synced", "message": "configmap/cfg created"}
    ]});
    assert_eq!(
        progress.update(&app(v)?, Some(&r), "T4"),
        "T4  Operation Succeeded: successfully synced\n\
         T4    ConfigMap  web  cfg  Synced  Healthy    configmap/cfg created\n"
    );
    Ok(())
}
