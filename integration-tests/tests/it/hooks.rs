//! Resource hooks: PreSync, Sync waves, PostSync and SyncFail, run in
//! Argo CD's order, and deleted as their delete policy says.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
use kube::Api;
use serde_json::json;

use crate::common::*;

pub fn job(name: &str, hook: &str, extra_annotations: &str, pod_annotations: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/hook: {hook}\n{extra_annotations}spec:\n  backoffLimit: 0\n  template:\n    metadata:\n      annotations:\n        caravel.dev/simulate-delay: 1s\n{pod_annotations}    spec:\n      restartPolicy: Never\n      containers: [{{name: main, image: busybox}}]\n"
    )
}

const PVC: &str = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-5\"\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n";

pub fn deployment(name: &str, wave: i64, pod_delay: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n      annotations:\n        caravel.dev/simulate-delay: {pod_delay}\n    spec:\n      containers: [{{name: c, image: nginx}}]\n")
}

/// States of Jobs, PVCs and Deployments in `ns`, for ordering checks.
pub fn record_workloads(caravel: &Caravel, ns: &str) -> Recorder {
    let mut rec = Recorder::new();
    rec.watch(
        Api::<Job>::namespaced(caravel.client.clone(), ns),
        |j: &Job| {
            let name = j.metadata.name.clone().unwrap_or_default();
            let mut states = vec![format!("job/{name} created")];
            let status = j.status.clone().unwrap_or_default();
            if status.succeeded.unwrap_or(0) > 0 {
                states.push(format!("job/{name} complete"));
            }
            if status.failed.unwrap_or(0) > 0 {
                states.push(format!("job/{name} failed"));
            }
            states
        },
    );
    rec.watch(
        Api::<PersistentVolumeClaim>::namespaced(caravel.client.clone(), ns),
        |p: &PersistentVolumeClaim| {
            let name = p.metadata.name.clone().unwrap_or_default();
            let mut states = vec![format!("pvc/{name} created")];
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound") {
                states.push(format!("pvc/{name} bound"));
            }
            states
        },
    );
    rec.watch(
        Api::<Deployment>::namespaced(caravel.client.clone(), ns),
        |d: &Deployment| {
            vec![format!(
                "deployment/{} created",
                d.metadata.name.clone().unwrap_or_default()
            )]
        },
    );
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_and_waves_run_in_order_and_succeeded_hooks_are_deleted() -> Result<()> {
    let caravel = Caravel::start_with(
        "hooks",
        Options {
            api_server: true,
            ..Default::default()
        },
    )
    .await?;
    let delete_on_success = "    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n";
    let dest = caravel
        .manual_app(
            "hooked",
            "app",
            vec![
                (
                    "app/migrate.yaml",
                    job("migrate", "PreSync", delete_on_success, ""),
                ),
                ("app/pvc.yaml", PVC.to_owned()),
                ("app/web.yaml", deployment("web", 0, "1s")),
                (
                    "app/smoke.yaml",
                    job("smoke", "PostSync", delete_on_success, ""),
                ),
            ],
        )
        .await?;
    let rec = record_workloads(&caravel, &dest);

    // Synced through the CLI, which reports each phase as it happens.
    let sync = caravel
        .cli(&["app", "sync", "hooked", "--timeout", "90"])
        .await?;
    let out = output_text(&sync);
    assert!(sync.status.success(), "{out}\n{}", caravel.logs());
    let row = |name: &str, phase: &str| {
        out.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.contains(&name) && cols.contains(&phase)
        })
    };
    assert!(row("migrate", "PreSync"), "{out}");
    assert!(row("data", "Sync") && row("web", "Sync"), "{out}");
    assert!(row("smoke", "PostSync"), "{out}");
    let app = caravel
        .wait_app(
            "hooked",
            Duration::from_secs(90),
            "the sync to succeed",
            |a| operation_phase(a) == "Succeeded" && a.operation.is_none(),
        )
        .await?;

    rec.assert_before("job/migrate complete", "pvc/data created");
    rec.assert_before("pvc/data bound", "deployment/web created");
    rec.assert_before("deployment/web created", "job/smoke created");

    let results = sync_results(&app);
    for (name, phase) in [("migrate", "PreSync"), ("smoke", "PostSync")] {
        let r = results
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} in {results:#?}"));
        assert_eq!(r.hook_type.as_deref(), Some(phase), "{r:?}");
        assert_eq!(r.sync_phase.as_deref(), Some(phase), "{r:?}");
        assert_eq!(r.hook_phase.as_deref(), Some("Succeeded"), "{r:?}");
    }
    let web = results.iter().find(|r| r.name == "web").unwrap();
    assert_eq!(web.sync_phase.as_deref(), Some("Sync"));
    assert_eq!(web.status.as_deref(), Some("Synced"));

    // HookSucceeded: both hooks are deleted once they succeeded.
    let jobs = Api::<Job>::namespaced(caravel.client.clone(), &dest);
    eventually(Duration::from_secs(20), "hooks to be deleted", || async {
        Ok(
            (jobs.get_opt("migrate").await?.is_none() && jobs.get_opt("smoke").await?.is_none())
                .then_some(()),
        )
    })
    .await?;
    // Hooks are not part of the app's resources, and their deletion does
    // not make it OutOfSync.
    let app = caravel
        .wait_app("hooked", Duration::from_secs(20), "Synced", |a| {
            sync_status(a) == "Synced"
        })
        .await?;
    let resources = app.status.and_then(|s| s.resources).unwrap_or_default();
    assert!(resources.iter().all(|r| r.kind != "Job"), "{resources:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_presync_hook_applies_nothing_and_runs_the_syncfail_hook() -> Result<()> {
    let caravel = Caravel::start("hookfail").await?;
    let dest = caravel
        .manual_app(
            "failing",
            "app",
            vec![
                (
                    "app/migrate.yaml",
                    job(
                        "migrate",
                        "PreSync",
                        "",
                        "        caravel.dev/simulate: fail\n",
                    ),
                ),
                ("app/web.yaml", deployment("web", 0, "0s")),
                (
                    "app/config.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n"
                        .to_owned(),
                ),
                ("app/cleanup.yaml", job("cleanup", "SyncFail", "", "")),
            ],
        )
        .await?;

    caravel.request_sync("failing", json!({"sync": {}})).await?;
    let app = caravel
        .wait_app(
            "failing",
            Duration::from_secs(90),
            "the sync to fail",
            |a| operation_phase(a) == "Failed" && a.operation.is_none(),
        )
        .await?;
    let state = app
        .status
        .as_ref()
        .and_then(|s| s.operation_state.clone())
        .unwrap();
    let message = state.message.clone().unwrap_or_default();
    assert!(
        message.contains("PreSync hook Job/") && message.contains("migrate"),
        "the message names the failed hook: {message}"
    );

    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), &dest);
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    assert!(
        deployments.get_opt("web").await?.is_none(),
        "nothing of the Sync phase was applied"
    );
    assert!(
        cms.get_opt("settings").await?.is_none(),
        "nothing of the Sync phase was applied"
    );

    let results = sync_results(&app);
    let migrate = results.iter().find(|r| r.name == "migrate").unwrap();
    assert_eq!(migrate.hook_phase.as_deref(), Some("Failed"), "{migrate:?}");
    let cleanup = results
        .iter()
        .find(|r| r.name == "cleanup")
        .unwrap_or_else(|| panic!("SyncFail hook in {results:#?}"));
    assert_eq!(cleanup.hook_type.as_deref(), Some("SyncFail"));
    assert_eq!(cleanup.sync_phase.as_deref(), Some("SyncFail"));
    assert_eq!(
        cleanup.hook_phase.as_deref(),
        Some("Succeeded"),
        "{cleanup:?}"
    );
    let jobs = Api::<Job>::namespaced(caravel.client.clone(), &dest);
    let job = jobs.get("cleanup").await?;
    assert_eq!(job.status.and_then(|s| s.succeeded), Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_resumes_the_sync_without_rerunning_hooks() -> Result<()> {
    let mut caravel = Caravel::start("restart").await?;
    let dest = caravel
        .manual_app(
            "resumed",
            "app",
            vec![
                ("app/migrate.yaml", job("migrate", "PreSync", "", "")),
                ("app/slow.yaml", deployment("slow", 0, "8s")),
                ("app/after.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\ndata:\n  k: v\n".to_owned()),
            ],
        )
        .await?;
    let mut uids = Recorder::new();
    uids.watch(
        Api::<Job>::namespaced(caravel.client.clone(), &dest),
        |j: &Job| {
            vec![format!(
                "migrate uid {}",
                j.metadata.uid.clone().unwrap_or_default()
            )]
        },
    );

    caravel.request_sync("resumed", json!({"sync": {}})).await?;
    caravel
        .wait_app(
            "resumed",
            Duration::from_secs(60),
            "the sync to wait on wave 0",
            |a| operation_message(a).starts_with("waiting for healthy state of wave 0"),
        )
        .await?;
    caravel.restart_controller().await?;

    let app = caravel
        .wait_app(
            "resumed",
            Duration::from_secs(60),
            "the resumed sync to succeed",
            |a| operation_phase(a) == "Succeeded" && a.operation.is_none(),
        )
        .await?;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    assert!(
        cms.get_opt("after").await?.is_some(),
        "wave 1 ran after the restart"
    );
    let created: Vec<String> = uids.states();
    assert_eq!(
        created.len(),
        1,
        "the PreSync hook was created once: {created:?}"
    );
    let state = app.status.and_then(|s| s.operation_state).unwrap();
    assert_eq!(state.retry_count.unwrap_or(0), 0);
    assert!(
        caravel
            .controller
            .log()
            .contains("resuming the operation that was running"),
        "{}",
        caravel.logs()
    );
    Ok(())
}
