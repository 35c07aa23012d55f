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

fn running(message: &str, results: Value) -> Value {
    json!({"operation": op(), "phase": "Running", "message": message,
           "startedAt": "2024-05-01T10:00:01Z",
           "syncResult": {"revision": "abc", "resources": results}})
}

fn hook(phase: &str, message: &str) -> Value {
    json!({"group": "batch", "kind": "Job", "namespace": "web", "name": "migrate", "status": "Synced",
           "hookType": "PreSync", "hookPhase": phase, "syncPhase": "PreSync", "message": message})
}

fn synced(kind: &str, name: &str, message: &str) -> Value {
    json!({"kind": kind, "namespace": "web", "name": name, "status": "Synced",
           "syncPhase": "Sync", "message": message})
}

#[test]
fn nothing_is_printed_before_our_operation_reports() -> anyhow::Result<()> {
    let r = requested()?;
    let mut progress = Progress::default();
    let mut v = base();
    v["operation"] = op();
    // The last operation's results are someone else's.
    assert_eq!(progress.update(&app(v)?, Some(&r), "T1"), "");
    Ok(())
}

#[test]
fn progress_prints_each_result_per_phase_and_the_operation_message() -> anyhow::Result<()> {
    let r = requested()?;
    let mut progress = Progress::default();
    let mut v = base();
    v["operation"] = op();

    v["status"]["operationState"] = running(
        "running PreSync hooks",
        json!([hook("Running", "job.batch/migrate created")]),
    );
    assert_eq!(
        progress.update(&app(v.clone())?, Some(&r), "T1"),
        "TIMESTAMP  PHASE    GROUP  KIND  NAMESPACE  NAME     STATUS   HOOK     MESSAGE\n\
         T1         PreSync  batch  Job   web        migrate  Running  PreSync  job.batch/migrate created\n\
         T1  Operation Running: running PreSync hooks\n"
    );
    assert_eq!(progress.update(&app(v.clone())?, Some(&r), "T2"), "");

    // Only the message changed: not printed again.
    v["status"]["operationState"] = running(
        "running PreSync hooks",
        json!([hook("Running", "pod started")]),
    );
    assert_eq!(progress.update(&app(v.clone())?, Some(&r), "T3"), "");

    // The hook finished and wave 0 of the Sync phase was applied.
    v["status"]["operationState"] = running(
        "waiting for healthy state of wave 1: Deployment/web/web",
        json!([
            hook("Succeeded", "job completed"),
            synced("ConfigMap", "cfg", "configmap/cfg created"),
            synced("Deployment", "web", "deployment.apps/web created")
        ]),
    );
    v["status"]["operationState"]["syncResult"]["resources"][2]["group"] = json!("apps");
    assert_eq!(
        progress.update(&app(v.clone())?, Some(&r), "T4"),
        "T4         PreSync  batch  Job         web        migrate  Succeeded  PreSync  job completed\n\
         T4         Sync            ConfigMap   web        cfg      Synced              configmap/cfg created\n\
         T4         Sync     apps   Deployment  web        web      Synced              deployment.apps/web created\n\
         T4  Operation Running: waiting for healthy state of wave 1: Deployment/web/web\n"
    );

    v["status"]["operationState"]["phase"] = json!("Succeeded");
    v["status"]["operationState"]["message"] = json!("successfully synced (all tasks run)");
    v["status"]["operationState"]["finishedAt"] = json!("2024-05-01T10:00:09Z");
    assert_eq!(
        progress.update(&app(v)?, Some(&r), "T5"),
        "T5  Operation Succeeded: successfully synced (all tasks run)\n"
    );
    Ok(())
}

#[test]
fn a_failed_result_is_printed_again_with_its_new_status() -> anyhow::Result<()> {
    let r = requested()?;
    let mut progress = Progress::default();
    let mut v = base();
    v["status"]["operationState"] =
        running("syncing", json!([synced("ConfigMap", "cfg", "applying")]));
    progress.update(&app(v.clone())?, Some(&r), "T1");

    v["status"]["operationState"]["syncResult"]["resources"] = json!([
        {"kind": "ConfigMap", "namespace": "web", "name": "cfg", "status": "SyncFailed",
         "syncPhase": "Sync", "message": "invalid"},
        {"kind": "Pod", "namespace": "web", "name": "notify", "status": "Synced",
         "hookType": "SyncFail", "hookPhase": "Running", "syncPhase": "SyncFail"}
    ]);
    assert_eq!(
        progress.update(&app(v)?, Some(&r), "T2"),
        "T2         Sync             ConfigMap  web        cfg     SyncFailed            invalid\n\
         T2         SyncFail         Pod        web        notify  Running     SyncFail\n"
    );
    Ok(())
}

#[test]
fn a_retry_prints_its_results_afresh() -> anyhow::Result<()> {
    let r = requested()?;
    let mut progress = Progress::default();
    let mut v = base();
    v["status"]["operationState"] = running(
        "syncing",
        json!([synced("ConfigMap", "cfg", "configmap/cfg configured")]),
    );
    progress.update(&app(v.clone())?, Some(&r), "T1");

    v["status"]["operationState"]["message"] = json!("Retrying attempt #1");
    v["status"]["operationState"]["retryCount"] = json!(1);
    assert_eq!(
        progress.update(&app(v)?, Some(&r), "T2"),
        "T2         Sync          ConfigMap  web        cfg   Synced        configmap/cfg configured\n\
         T2  Operation Running: Retrying attempt #1\n"
    );
    Ok(())
}
