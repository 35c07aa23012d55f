//! Sync options, app-wide and per object: Prune=confirm, PruneLast,
//! ApplyOutOfSyncOnly, Replace=true, ServerSideApply=true.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::common::*;

async fn sync_and_wait(
    caravel: &Caravel,
    name: &str,
    sync: serde_json::Value,
) -> Result<caravel_crd::Application> {
    caravel.request_sync(name, json!({ "sync": sync })).await?;
    caravel
        .wait_app(name, Duration::from_secs(60), "the sync to succeed", |a| {
            operation_phase(a) == "Succeeded" && a.operation.is_none()
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_confirm_waits_for_approval_and_prune_last_prunes_after_everything() -> Result<()> {
    let caravel = Caravel::start("pruneopts").await?;
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with(
            "pruning",
            vec![
                ("app/keep.yaml", config_map("keep", 0, "", "v")),
                (
                    "app/confirm.yaml",
                    config_map("confirm", 0, "Prune=confirm", "v"),
                ),
                (
                    "app/last.yaml",
                    config_map("last", 0, "PruneLast=true", "v"),
                ),
            ],
        )
        .await?;
    let dest = caravel.dest_namespace("pruning").await?;
    caravel
        .create_app(
            "pruning",
            &repo.file_url(),
            "app",
            &dest,
            serde_json::Value::Null,
        )
        .await?;
    sync_and_wait(&caravel, "pruning", json!({})).await?;

    repo.delete_files(&["app/confirm.yaml", "app/last.yaml"])
        .await?;
    repo.commit_files(vec![("app/new.yaml", config_map("new", 1, "", "v"))])
        .await?;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    let mut rec = Recorder::new();
    rec.watch(cms.clone(), |c: &ConfigMap| {
        vec![format!(
            "configmap/{} created",
            c.metadata.name.clone().unwrap_or_default()
        )]
    });

    caravel
        .request_sync("pruning", json!({"sync": {"prune": true}}))
        .await?;
    caravel
        .wait_app(
            "pruning",
            Duration::from_secs(30),
            "the prune to wait for confirmation",
            |a| {
                let m = operation_message(a);
                m.starts_with("Waiting for pruning confirmation of ConfigMap/")
                    && m.ends_with("/confirm")
            },
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        cms.get_opt("confirm").await?.is_some(),
        "nothing is pruned before approval"
    );
    assert_eq!(
        operation_phase(&caravel.apps().get("pruning").await?),
        "Running"
    );

    let approved = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    caravel
        .apps()
        .patch(
            "pruning",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"argocd.argoproj.io/deletion-approved": approved}}})),
        )
        .await?;
    caravel
        .wait_app(
            "pruning",
            Duration::from_secs(60),
            "the sync to succeed",
            |a| operation_phase(a) == "Succeeded" && a.operation.is_none(),
        )
        .await?;
    assert!(cms.get_opt("confirm").await?.is_none());
    assert!(cms.get_opt("last").await?.is_none());
    assert!(cms.get_opt("keep").await?.is_some());
    // PruneLast: pruned only after the last wave (wave 1: `new`) ran.
    rec.assert_before("configmap/new created", "configmap/last deleted");
    rec.assert_before("configmap/confirm deleted", "configmap/new created");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_out_of_sync_only_replace_and_server_side_apply() -> Result<()> {
    let caravel = Caravel::start("applyopts").await?;
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with(
            "applying",
            vec![
                ("app/a.yaml", config_map("a", 0, "", "v1")),
                ("app/b.yaml", config_map("b", 0, "", "v1")),
                ("app/r.yaml", config_map("r", 0, "Replace=true", "v1")),
                (
                    "app/s.yaml",
                    config_map("s", 0, "ServerSideApply=true", "v1"),
                ),
            ],
        )
        .await?;
    let dest = caravel.dest_namespace("applying").await?;
    caravel
        .create_app(
            "applying",
            &repo.file_url(),
            "app",
            &dest,
            json!({"syncOptions": ["ApplyOutOfSyncOnly=true"]}),
        )
        .await?;
    sync_and_wait(&caravel, "applying", json!({})).await?;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    let b_version = cms.get("b").await?.metadata.resource_version;

    // Someone else adds a key to r and s.
    let other = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    for name in ["r", "s"] {
        cms.patch(
            name,
            &other,
            &Patch::Merge(json!({"data": {"extra": "added by hand"}})),
        )
        .await?;
    }
    repo.commit_files(vec![
        ("app/a.yaml", config_map("a", 0, "", "v2")),
        ("app/r.yaml", config_map("r", 0, "Replace=true", "v2")),
        (
            "app/s.yaml",
            config_map("s", 0, "ServerSideApply=true", "v2"),
        ),
    ])
    .await?;
    let app = sync_and_wait(&caravel, "applying", json!({})).await?;

    let applied: Vec<String> = sync_results(&app).iter().map(|r| r.name.clone()).collect();
    assert_eq!(
        applied,
        vec!["a", "r", "s"],
        "only out-of-sync objects are applied"
    );
    assert_eq!(
        cms.get("b").await?.metadata.resource_version,
        b_version,
        "b was not touched"
    );

    let r = cms.get("r").await?;
    let data = r.data.clone().unwrap_or_default();
    assert_eq!(data.get("k").map(String::as_str), Some("v2"));
    assert!(
        !data.contains_key("extra"),
        "Replace=true replaces the whole object: {data:?}"
    );
    let r_result = sync_results(&app)
        .into_iter()
        .find(|x| x.name == "r")
        .unwrap();
    assert!(r_result.message.unwrap_or_default().ends_with("replaced"));

    let s = cms.get("s").await?;
    let data = s.data.clone().unwrap_or_default();
    assert_eq!(data.get("k").map(String::as_str), Some("v2"));
    assert_eq!(
        data.get("extra").map(String::as_str),
        Some("added by hand"),
        "server-side apply leaves fields other managers own"
    );
    let managers = s.metadata.managed_fields.unwrap_or_default();
    assert!(
        managers.iter().any(
            |m| m.manager.as_deref() == Some("caravel-application-controller")
                && m.operation.as_deref() == Some("Apply")
        ),
        "{managers:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_differences_do_not_drift_and_respect_ignore_differences_keeps_them() -> Result<()>
{
    use k8s_openapi::api::apps::v1::Deployment;
    let caravel = Caravel::start("ignoring").await?;
    let web = |label: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {{tier: {label}}}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers: [{{name: c, image: nginx}}]\n")
    };
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with(
            "ignoring",
            vec![
                ("app/web.yaml", web("a")),
                ("app/cm.yaml", config_map("cm", 0, "", "v1")),
            ],
        )
        .await?;
    let dest = caravel.dest_namespace("ignoring").await?;
    let app: caravel_crd::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "ignoring", "namespace": caravel.app_ns},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.file_url(), "path": "app", "targetRevision": "HEAD"},
            "destination": {"server": IN_CLUSTER, "namespace": dest},
            "ignoreDifferences": [
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
                {"kind": "ConfigMap", "jqPathExpressions": [".data.generated"]}
            ],
            "syncPolicy": {"syncOptions": ["RespectIgnoreDifferences=true"]}
        }
    }))?;
    caravel.apps().create(&Default::default(), &app).await?;
    sync_and_wait(&caravel, "ignoring", json!({})).await?;

    // Changes only in ignored fields, by other managers.
    let other = PatchParams {
        field_manager: Some("autoscaler".into()),
        ..Default::default()
    };
    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), &dest);
    deployments
        .patch(
            "web",
            &other,
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await?;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    cms.patch(
        "cm",
        &other,
        &Patch::Merge(json!({"data": {"generated": "by-hand"}})),
    )
    .await?;
    caravel.refresh("ignoring", "hard").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let app = caravel
        .wait_app("ignoring", Duration::from_secs(20), "the refresh", |a| {
            !a.metadata
                .annotations
                .as_ref()
                .is_some_and(|x| x.contains_key("argocd.argoproj.io/refresh"))
        })
        .await?;
    assert_eq!(
        sync_status(&app),
        "Synced",
        "ignored fields are not drift: {:?}",
        app.status
    );

    // A real change syncs, and the ignored fields keep their live values.
    repo.commit_files(vec![
        ("app/web.yaml", web("b")),
        ("app/cm.yaml", config_map("cm", 0, "", "v2")),
    ])
    .await?;
    caravel.refresh("ignoring", "normal").await?;
    caravel
        .wait_app("ignoring", Duration::from_secs(20), "OutOfSync", |a| {
            sync_status(a) == "OutOfSync"
        })
        .await?;
    sync_and_wait(&caravel, "ignoring", json!({})).await?;
    let d = deployments.get("web").await?;
    assert_eq!(
        d.metadata
            .labels
            .unwrap_or_default()
            .get("tier")
            .map(String::as_str),
        Some("b")
    );
    assert_eq!(
        d.spec.and_then(|s| s.replicas),
        Some(3),
        "replicas kept by RespectIgnoreDifferences"
    );
    let data = cms.get("cm").await?.data.unwrap_or_default();
    assert_eq!(data.get("k").map(String::as_str), Some("v2"));
    assert_eq!(data.get("generated").map(String::as_str), Some("by-hand"));
    Ok(())
}
