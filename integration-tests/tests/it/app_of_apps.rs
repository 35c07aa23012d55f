//! App-of-Apps shaped like the seeds: a root Application renders six child
//! Applications (three per environment) in sync waves -1, 1 and 2; each
//! child creates its namespace. Waves of children wait for the earlier
//! wave's children to be Healthy; pruning a child deletes its resources.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

use crate::common::*;
use crate::hooks::deployment;

const CHILDREN: [(&str, i64); 3] = [("config", -1), ("db", 1), ("web", 2)];
const ENVS: [&str; 2] = ["stg", "prod"];

fn child(app_ns: &str, repo: &str, name: &str, env: &str, wave: i64) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}-{env}
  namespace: {app_ns}
  annotations:
    argocd.argoproj.io/sync-wave: \"{wave}\"
  finalizers:
  - resources-finalizer.argocd.argoproj.io
spec:
  project: default
  source:
    repoURL: {repo}
    path: apps/{name}
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: {app_ns}-{env}
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
    - CreateNamespace=true
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_app_creates_children_wave_by_wave_and_prunes_a_removed_child() -> Result<()> {
    let caravel = Caravel::start("aoa").await?;
    let ns = caravel.app_ns.clone();
    let repo = caravel.env.git().create_repo("aoa").await?;
    let url = repo.file_url();
    let mut files: Vec<(String, String)> = vec![
        (
            "apps/config/settings.yaml".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: gitops\n"
                .into(),
        ),
        ("apps/db/db.yaml".into(), deployment("db", 0, "3s")),
        ("apps/web/web.yaml".into(), deployment("web", 0, "1s")),
    ];
    for env in ENVS {
        for (name, wave) in CHILDREN {
            files.push((
                format!("root/{name}-{env}.yaml"),
                child(&ns, &url, name, env, wave),
            ));
        }
    }
    repo.commit_files(files).await?;

    let mut rec = Recorder::new();
    rec.watch(caravel.apps(), app_created_and_healthy);
    caravel
        .create_app(
            "root",
            &url,
            "root",
            &ns,
            json!({"automated": {"prune": true, "selfHeal": true}}),
        )
        .await?;

    let children: Vec<String> = ENVS
        .iter()
        .flat_map(|env| CHILDREN.iter().map(move |(n, _)| format!("{n}-{env}")))
        .collect();
    let apps = caravel.apps();
    eventually(
        Duration::from_secs(120),
        "every child Synced and Healthy",
        || async {
            for c in &children {
                match apps.get_opt(c).await? {
                    Some(a) if sync_status(&a) == "Synced" && health_status(&a) == "Healthy" => {}
                    _ => return Ok(None),
                }
            }
            Ok(Some(()))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\nseen: {:#?}\n{}", rec.states(), caravel.logs()))?;
    caravel
        .wait_app(
            "root",
            Duration::from_secs(60),
            "root Synced and Healthy",
            synced_healthy_and_idle,
        )
        .await?;

    // Wave order, from the times each child was first seen created/healthy.
    for env_a in ENVS {
        for env_b in ENVS {
            rec.assert_before(
                &format!("app/config-{env_a} healthy"),
                &format!("app/db-{env_b} created"),
            );
            rec.assert_before(
                &format!("app/db-{env_a} healthy"),
                &format!("app/web-{env_b} created"),
            );
        }
    }
    // Each child created its namespace and deployed into it.
    for env in ENVS {
        let dest = format!("{ns}-{env}");
        let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
        assert!(cms.get_opt("settings").await?.is_some());
        let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), &dest);
        assert!(deployments.get_opt("web").await?.is_some());
    }

    // Removing a child from Git prunes it, and its finalizer removes its
    // resources.
    repo.delete_files(&["root/web-prod.yaml"]).await?;
    caravel.refresh("root", "normal").await?;
    let prod = Api::<Deployment>::namespaced(caravel.client.clone(), &format!("{ns}-prod"));
    eventually(
        Duration::from_secs(60),
        "web-prod and its Deployment to be gone",
        || async {
            Ok(
                (apps.get_opt("web-prod").await?.is_none() && prod.get_opt("web").await?.is_none())
                    .then_some(()),
            )
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", caravel.logs()))?;
    assert!(
        apps.get_opt("web-stg").await?.is_some(),
        "the other environment stays"
    );
    let stg = Api::<Deployment>::namespaced(caravel.client.clone(), &format!("{ns}-stg"));
    assert!(stg.get_opt("web").await?.is_some());
    Ok(())
}
