use super::*;
use caravel_proto::application::v1::ApplicationDeleteRequest;
use serde_json::json;

fn app(value: Value) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(value)?)
}

fn guestbook() -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "syncPolicy": {"automated": {"prune": true}}
        },
        "status": {
            "sync": {"status": "Synced", "revision": "1ff8a67b1c9d5e0b7f0f7d2a3f4e5d6c7b8a9f00"},
            "health": {"status": "Healthy"},
            "resources": [
                {"version": "v1", "kind": "Service", "namespace": "web", "name": "guestbook-ui",
                 "status": "Synced", "health": {"status": "Healthy"}},
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web", "name": "guestbook-ui",
                 "status": "Synced", "health": {"status": "Progressing"}}
            ],
            "operationState": {
                "operation": {"sync": {"prune": true}, "initiatedBy": {"username": "admin"}},
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "startedAt": "2024-05-01T10:00:00Z",
                "finishedAt": "2024-05-01T10:01:05Z",
                "syncResult": {
                    "revision": "1ff8a67b1c9d5e0b7f0f7d2a3f4e5d6c7b8a9f00",
                    "resources": [
                        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web",
                         "name": "guestbook-ui", "status": "Synced", "message": "deployment.apps/guestbook-ui created"},
                        {"group": "batch", "version": "v1", "kind": "Job", "namespace": "web", "name": "migrate",
                         "status": "Synced", "hookType": "PreSync", "hookPhase": "Succeeded", "message": "job completed"}
                    ]
                }
            }
        }
    })
}

fn now() -> DateTime<Utc> {
    parse_time("2024-05-01T12:00:00Z").unwrap_or_default()
}

#[test]
fn app_list_prints_argocd_columns() -> anyhow::Result<()> {
    let mut other = guestbook();
    other["metadata"]["name"] = json!("api");
    other["spec"]["syncPolicy"] = json!(null);
    other["spec"]["destination"] = json!({"name": "in-cluster", "namespace": "api"});
    other["status"] = json!({
        "sync": {"status": "OutOfSync"},
        "health": {"status": "Degraded"},
        "conditions": [
            {"type": "SyncError", "message": "a"},
            {"type": "ComparisonError", "message": "b"},
            {"type": "ComparisonError", "message": "c"}
        ]
    });
    let text = app_list(&[app(guestbook())?, app(other)?]);
    assert_eq!(
        text,
        "NAME              CLUSTER                         NAMESPACE  PROJECT  STATUS     HEALTH    SYNCPOLICY  CONDITIONS                    REPO                              PATH       TARGET\n\
         argocd/guestbook  https://kubernetes.default.svc  web        default  Synced     Healthy   Auto-Prune  <none>                        https://git.example.com/apps.git  guestbook  main\n\
         argocd/api        in-cluster                      api        default  OutOfSync  Degraded  Manual      ComparisonError(2),SyncError  https://git.example.com/apps.git  guestbook  main\n"
    );
    Ok(())
}

#[test]
fn an_app_without_status_lists_as_unknown() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["status"] = json!(null);
    let a = app(v)?;
    let text = app_list(std::slice::from_ref(&a));
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(row.contains("Unknown  Unknown"), "{row}");
    assert_eq!(app_names(&[a]), "argocd/guestbook\n");
    Ok(())
}

#[test]
fn app_get_prints_summary_operation_and_resources() -> anyhow::Result<()> {
    let text = app_details(&app(guestbook())?, now());
    assert_eq!(
        text,
        "Name:               argocd/guestbook\n\
         Project:            default\n\
         Server:             https://kubernetes.default.svc\n\
         Namespace:          web\n\
         Repo:               https://git.example.com/apps.git\n\
         Target:             main\n\
         Path:               guestbook\n\
         Sync Policy:        Automated (Prune)\n\
         Sync Status:        Synced to main (1ff8a67)\n\
         Health Status:      Healthy\n\
         \n\
         Operation:          Sync\n\
         Sync Revision:      1ff8a67b1c9d5e0b7f0f7d2a3f4e5d6c7b8a9f00\n\
         Phase:              Succeeded\n\
         Start:              2024-05-01 10:00:00 +0000 UTC\n\
         Finished:           2024-05-01 10:01:05 +0000 UTC\n\
         Duration:           1m5s\n\
         Message:            successfully synced (all tasks run)\n\
         \n\
         GROUP  KIND        NAMESPACE  NAME          STATUS     HEALTH       HOOK     MESSAGE\n\
         apps   Deployment  web        guestbook-ui  Synced     Progressing           deployment.apps/guestbook-ui created\n\
         batch  Job         web        migrate       Succeeded  Synced       PreSync  job completed\n\
         \x20      Service     web        guestbook-ui  Synced     Healthy\n"
    );
    Ok(())
}

#[test]
fn conditions_appear_in_their_own_table() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["status"]["conditions"] = json!([{
        "type": "ComparisonError",
        "message": "rpc error: repository not found",
        "lastTransitionTime": "2024-05-01T09:00:00Z"
    }]);
    let text = app_details(&app(v)?, now());
    assert!(
        text.contains(
            "\nCONDITION        MESSAGE                          LAST TRANSITION\n\
             ComparisonError  rpc error: repository not found  2024-05-01 09:00:00 +0000 UTC\n"
        ),
        "{text}"
    );
    Ok(())
}

#[test]
fn a_running_operation_lasts_until_now() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["status"]["operationState"]["phase"] = json!("Running");
    v["status"]["operationState"]["finishedAt"] = json!(null);
    let a = app(v)?;
    let state = a
        .status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .ok_or_else(|| anyhow::anyhow!("no operation state"))?;
    let text = operation_state(state, now());
    assert!(text.contains("Phase:              Running\n"), "{text}");
    assert!(!text.contains("Finished:"), "{text}");
    assert!(text.contains("Duration:           2h0m0s\n"), "{text}");
    Ok(())
}

#[test]
fn sync_status_shows_the_short_sha_unless_the_target_is_a_sha() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["status"]["sync"]["status"] = json!("OutOfSync");
    assert_eq!(
        sync_status_line(&app(v.clone())?),
        "OutOfSync from main (1ff8a67)"
    );
    v["spec"]["source"]["targetRevision"] = json!("1ff8a67b1c9d");
    assert_eq!(
        sync_status_line(&app(v.clone())?),
        "OutOfSync from 1ff8a67b1c9d"
    );
    v["spec"]["source"]["targetRevision"] = json!(null);
    v["status"]["sync"]["status"] = json!("Unknown");
    assert_eq!(sync_status_line(&app(v)?), "Unknown");
    Ok(())
}

#[test]
fn multi_source_apps_list_every_source() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["spec"]["source"] = json!(null);
    v["spec"]["sources"] = json!([
        {"repoURL": "https://charts.example.com", "chart": "redis", "targetRevision": "17.0.0"},
        {"repoURL": "https://git.example.com/values.git", "targetRevision": "main", "ref": "values"}
    ]);
    let text = app_summary(&app(v)?);
    assert!(
        text.contains(
            "Sources:\n\
             - Repo:             https://charts.example.com\n\
             \x20 Target:           17.0.0\n\
             \x20 Chart:            redis\n\
             - Repo:             https://git.example.com/values.git\n"
        ),
        "{text}"
    );
    Ok(())
}

#[test]
fn resource_states_without_the_last_operation_come_from_status() -> anyhow::Result<()> {
    let states = resource_states(&app(guestbook())?, false);
    let keys: Vec<String> = states.iter().map(ResourceState::key).collect();
    assert_eq!(
        keys,
        vec![
            "/Service/web/guestbook-ui",
            "apps/Deployment/web/guestbook-ui"
        ]
    );
    assert!(states
        .iter()
        .all(|s| s.message.is_empty() && s.hook.is_empty()));
    Ok(())
}

#[test]
fn progress_rows_carry_a_timestamp_the_phase_and_a_header_once() {
    let row = SyncResultRow {
        sync_phase: "PreSync".into(),
        group: "batch".into(),
        kind: "Job".into(),
        namespace: "web".into(),
        name: "migrate".into(),
        status: "Synced".into(),
        hook_type: "PreSync".into(),
        hook_phase: "Running".into(),
        message: "job.batch/migrate created".into(),
    };
    let mut widths = Vec::new();
    assert_eq!(
        progress_rows(
            "2024-05-01T10:00:00Z",
            std::slice::from_ref(&row),
            true,
            &mut widths
        ),
        "TIMESTAMP             PHASE    GROUP  KIND  NAMESPACE  NAME     STATUS   HOOK     MESSAGE\n\
         2024-05-01T10:00:00Z  PreSync  batch  Job   web        migrate  Running  PreSync  job.batch/migrate created\n"
    );
    let cm = SyncResultRow {
        sync_phase: "Sync".into(),
        kind: "ConfigMap".into(),
        namespace: "web".into(),
        name: "cfg".into(),
        status: "Synced".into(),
        ..Default::default()
    };
    // Later rows keep the columns of earlier ones, widening where needed.
    assert_eq!(
        progress_rows("2024-05-01T10:00:01Z", &[cm], false, &mut widths),
        "2024-05-01T10:00:01Z  Sync            ConfigMap  web        cfg      Synced\n"
    );
}

fn with_waves_and_hooks() -> Value {
    let mut v = guestbook();
    v["status"]["resources"] = json!([
        {"version": "v1", "kind": "ConfigMap", "namespace": "web", "name": "guestbook-config",
         "status": "Synced", "health": {"status": "Healthy"}, "syncWave": -1},
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web", "name": "guestbook-ui",
         "status": "Synced", "health": {"status": "Progressing"}, "syncWave": 1},
        {"version": "v1", "kind": "Service", "namespace": "web", "name": "old",
         "status": "OutOfSync", "health": {"status": "Healthy"}, "requiresPruning": true},
        {"group": "batch", "version": "v1", "kind": "Job", "namespace": "web", "name": "smoke",
         "status": "Synced", "health": {"status": "Progressing"}, "hook": true}
    ]);
    v["status"]["operationState"]["syncResult"]["resources"] = json!([
        {"group": "batch", "version": "v1", "kind": "Job", "namespace": "web", "name": "migrate",
         "status": "Synced", "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync",
         "message": "job completed"},
        {"version": "v1", "kind": "ConfigMap", "namespace": "web", "name": "guestbook-config",
         "status": "Synced", "syncPhase": "Sync", "message": "configmap/guestbook-config created"},
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web", "name": "guestbook-ui",
         "status": "Synced", "syncPhase": "Sync", "message": "deployment.apps/guestbook-ui created"},
        {"group": "batch", "version": "v1", "kind": "Job", "namespace": "web", "name": "smoke",
         "status": "Synced", "hookType": "PostSync", "hookPhase": "Running", "syncPhase": "PostSync",
         "message": "job.batch/smoke created"}
    ]);
    v
}

#[test]
fn app_resources_joins_status_resources_with_the_last_results() -> anyhow::Result<()> {
    let rows = resource_rows(&app(with_waves_and_hooks())?);
    assert_eq!(
        resource_rows_table(&rows),
        "GROUP  KIND        NAMESPACE  NAME              WAVE  HOOK      STATUS     HEALTH       MESSAGE\n\
         \x20      ConfigMap   web        guestbook-config  -1              Synced     Healthy      configmap/guestbook-config created\n\
         apps   Deployment  web        guestbook-ui      1               Synced     Progressing  deployment.apps/guestbook-ui created\n\
         \x20      Service     web        old               0               OutOfSync  Healthy      requires pruning\n\
         batch  Job         web        smoke             0     PostSync  Running    Progressing  job.batch/smoke created\n\
         batch  Job         web        migrate                 PreSync   Succeeded               job completed\n"
    );
    Ok(())
}

#[test]
fn app_resources_as_json_keeps_every_field() -> anyhow::Result<()> {
    let rows = resource_rows(&app(with_waves_and_hooks())?);
    let json: Vec<Value> = rows.iter().map(ResourceRow::to_json).collect();
    assert_eq!(
        json[3],
        json!({"group": "batch", "kind": "Job", "namespace": "web", "name": "smoke", "syncWave": 0,
               "hook": true, "hookType": "PostSync", "hookPhase": "Running", "syncPhase": "PostSync",
               "status": "Synced", "health": "Progressing", "requiresPruning": false,
               "message": "job.batch/smoke created"})
    );
    assert_eq!(json[4]["syncWave"], Value::Null);
    assert_eq!(json[4]["hookType"], "PreSync");
    assert_eq!(json[2]["requiresPruning"], true);
    Ok(())
}

#[test]
fn a_hook_without_a_result_is_marked_and_keeps_its_sync_status() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["status"]["operationState"] = Value::Null;
    v["status"]["resources"] = json!([
        {"group": "batch", "kind": "Job", "namespace": "web", "name": "smoke",
         "status": "Synced", "health": {"status": "Healthy"}, "hook": true, "syncWave": 2}
    ]);
    assert_eq!(
        resource_rows_table(&resource_rows(&app(v)?)),
        "GROUP  KIND  NAMESPACE  NAME   WAVE  HOOK  STATUS  HEALTH   MESSAGE\n\
         batch  Job   web        smoke  2     true  Synced  Healthy\n"
    );
    Ok(())
}

#[test]
fn an_app_without_resources_has_a_header_only_table() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["status"] = Value::Null;
    assert_eq!(
        resource_rows_table(&resource_rows(&app(v)?)),
        "GROUP  KIND  NAMESPACE  NAME  WAVE  HOOK  STATUS  HEALTH  MESSAGE\n"
    );
    Ok(())
}

#[test]
fn a_delete_says_what_happens_to_the_resources() {
    let request = |cascade: Option<bool>, policy: &str| ApplicationDeleteRequest {
        name: "web".into(),
        cascade,
        propagation_policy: policy.into(),
        ..Default::default()
    };
    assert_eq!(
        deletion_requested("web", &request(None, "")),
        "application 'web' is being deleted: its resources are deleted first (foreground propagation)\n"
    );
    assert_eq!(
        deletion_requested("web", &request(Some(true), "background")),
        "application 'web' is being deleted: its resources are deleted first (background propagation)\n"
    );
    assert_eq!(
        deletion_requested("web", &request(Some(false), "")),
        "application 'web' deleted; its resources are kept\n"
    );
}

#[test]
fn deletion_progress_counts_resources_and_names_the_finalizers() -> anyhow::Result<()> {
    let mut v = guestbook();
    v["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
    assert_eq!(
        deletion_progress(&app(v.clone())?),
        "deleting: 2 resources, waiting for resources-finalizer.argocd.argoproj.io"
    );
    v["metadata"]["finalizers"] = json!(null);
    v["status"]["resources"] = json!([]);
    assert_eq!(deletion_progress(&app(v)?), "deleting: 0 resources");
    Ok(())
}

#[test]
fn history_groups_by_source_oldest_first() {
    let source =
        |repo: &str, target: &str| json!({"repoURL": repo, "targetRevision": target}).to_string();
    let items = vec![
        RevisionHistory {
            id: 0,
            revision: "1ff8a67b1c9d5e0b".into(),
            deployed_at: "2024-05-01T10:00:00Z".into(),
            source_json: source("https://git.example.com/apps.git", "main"),
            ..Default::default()
        },
        RevisionHistory {
            id: 1,
            revision: "2aa8a67b1c9d5e0b".into(),
            deployed_at: "2024-05-02T10:00:00Z".into(),
            source_json: source("https://git.example.com/apps.git", "v2"),
            ..Default::default()
        },
        RevisionHistory {
            id: 2,
            revision: "17.0.0".into(),
            deployed_at: "2024-05-03T10:00:00Z".into(),
            source_json: source("https://charts.example.com", "17.0.0"),
            ..Default::default()
        },
    ];
    assert_eq!(
        history(&items),
        "SOURCE  https://git.example.com/apps.git\n\
         ID      DATE                           REVISION\n\
         0       2024-05-01 10:00:00 +0000 UTC  main (1ff8a67)\n\
         1       2024-05-02 10:00:00 +0000 UTC  v2 (2aa8a67)\n\
         \n\
         SOURCE  https://charts.example.com\n\
         ID      DATE                           REVISION\n\
         2       2024-05-03 10:00:00 +0000 UTC  17.0.0 (17.0.0)\n"
    );
    assert_eq!(history(&[]), "");
}

#[test]
fn diffs_print_a_banner_per_modified_resource() {
    let item = |name: &str, modified: bool, hook: bool, diff: &str| ResourceDiff {
        group: "apps".into(),
        kind: "Deployment".into(),
        namespace: "web".into(),
        name: name.into(),
        modified,
        hook,
        diff: diff.into(),
        ..Default::default()
    };
    let body = "--- live\n+++ target\n@@ -1 +1 @@\n-replicas: 1\n+replicas: 2\n";
    let text = diffs(&[
        item("a", true, false, body),
        item("b", false, false, ""),
        item("hook", true, true, body),
    ]);
    assert_eq!(
        text,
        format!("\n===== apps/Deployment web/a ======\n{body}")
    );
    assert_eq!(diffs(&[item("b", false, false, "")]), "");
}

#[test]
fn a_diff_is_computed_locally_when_the_server_sent_only_states() {
    let d = ResourceDiff {
        kind: "ConfigMap".into(),
        namespace: "web".into(),
        name: "cfg".into(),
        live_state: json!({"data": {"k": "a"}}).to_string(),
        predicted_live_state: json!({"data": {"k": "b"}}).to_string(),
        modified: true,
        ..Default::default()
    };
    let text = diffs(&[d]);
    assert!(
        text.starts_with("\n===== /ConfigMap web/cfg ======\n--- live\n+++ target\n"),
        "{text}"
    );
    assert!(text.contains("-  k: a\n+  k: b\n"), "{text}");
}

#[test]
fn go_durations_read_like_go() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(42), "42s");
    assert_eq!(go_duration(65), "1m5s");
    assert_eq!(go_duration(7203), "2h0m3s");
    assert_eq!(go_duration(-3), "-3s");
}

#[test]
fn times_print_as_go_prints_utc_and_pass_through_when_unparsable() {
    assert_eq!(
        go_time("2024-05-01T10:00:00Z"),
        "2024-05-01 10:00:00 +0000 UTC"
    );
    assert_eq!(
        go_time("2024-05-01T12:00:00+02:00"),
        "2024-05-01 10:00:00 +0000 UTC"
    );
    assert_eq!(go_time("yesterday"), "yesterday");
}
