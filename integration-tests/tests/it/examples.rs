//! The examples in `deploy/examples/` work as shipped: the App-of-Apps is
//! pushed to a Git repository exactly as a user would (only `REPO_URL` and
//! the namespaces are filled in) and its root Application is applied.

use std::time::Duration;

use anyhow::{Context as _, Result};
use caravel_crd::Application;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::Api;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_of_apps_example_syncs_every_environment_with_its_values() -> Result<()> {
    let caravel = Caravel::start("example").await?;
    let ns = caravel.app_ns.clone();
    let repo = caravel.env.git().create_repo("example").await?;
    let url = repo.file_url();
    let example = workspace().join("deploy/examples/app-of-apps");
    let files: Vec<(String, String)> = files_under(&example)?
        .into_iter()
        .map(|(path, text)| {
            let text = text
                .replace("REPO_URL", &url)
                .replace("namespace: argocd", &format!("namespace: {ns}"))
                .replace(
                    "namespace: guestbook-",
                    &format!("namespace: {ns}-guestbook-"),
                )
                // Tracking ids name the app without its namespace (as Argo
                // CD's do), so two test instances must not both have a
                // "root": the App-of-Apps test has one.
                .replace("name: root\n", "name: example-root\n");
            (path, text)
        })
        .collect();
    let root_yaml = files
        .iter()
        .find(|(p, _)| p == "root.yaml")
        .map(|(_, t)| t.clone())
        .context("root.yaml in the example")?;
    assert!(
        files.iter().any(|(p, _)| p.ends_with("values-prod.yaml")),
        "the example has per-environment values files"
    );
    repo.commit_files(files).await?;

    let mut rec = Recorder::new();
    rec.watch(caravel.apps(), app_created_and_healthy);
    let root: Application = caravel_yaml::from_str(&root_yaml)?;
    caravel.apps().create(&PostParams::default(), &root).await?;

    for env in ["stg", "prod"] {
        caravel
            .wait_app(
                &format!("guestbook-{env}"),
                Duration::from_secs(180),
                "Synced and Healthy",
                |a| sync_status(a) == "Synced" && health_status(a) == "Healthy",
            )
            .await?;
    }
    let root = caravel
        .wait_app(
            "example-root",
            Duration::from_secs(60),
            "root Synced and Healthy",
            synced_healthy_and_idle,
        )
        .await?;
    assert_eq!(
        root.status
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .map(Vec::len),
        Some(2),
        "the root manages the two child Applications"
    );
    // Staging (wave 1) is Healthy before production (wave 2) is created.
    rec.assert_before("app/guestbook-stg healthy", "app/guestbook-prod created");

    // Each environment got its own values on top of the chart's defaults.
    for (env, replicas, greeting) in [("stg", 1, "hello from stg"), ("prod", 2, "hello from prod")]
    {
        let dest = format!("{ns}-guestbook-{env}");
        let deployment = Api::<Deployment>::namespaced(caravel.client.clone(), &dest)
            .get("guestbook-ui")
            .await?;
        assert_eq!(
            deployment.spec.as_ref().and_then(|s| s.replicas),
            Some(replicas),
            "{env} replicas"
        );
        let config = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest)
            .get("guestbook-ui-config")
            .await?;
        let data = config.data.unwrap_or_default();
        assert_eq!(data.get("GREETING").map(String::as_str), Some(greeting));
        assert_eq!(data.get("ENVIRONMENT").map(String::as_str), Some(env));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_managed_example_deploys_caravels_own_chart_from_git() -> Result<()> {
    let caravel = Caravel::start("self").await?;
    let dest = caravel.dest_namespace("self-dest").await?;
    let repo = caravel.env.git().create_repo("self").await?;
    let chart: Vec<(String, String)> = files_under(&workspace().join("helm/caravel"))?
        .into_iter()
        .map(|(path, text)| (format!("helm/caravel/{path}"), text))
        .collect();
    repo.commit_files(chart).await?;
    let example =
        std::fs::read_to_string(workspace().join("deploy/examples/self-managed/caravel.yaml"))?;
    let mut app: serde_json::Value =
        caravel_yaml::from_str(&example.replace("REPO_URL", &repo.file_url()).replace(
            "namespace: argocd",
            &format!("namespace: {}", caravel.app_ns),
        ))?;
    // This cluster serves the suite's own installation: the release gets a
    // name of its own (cluster-scoped RBAC names derive from it), and the
    // CRDs it shares with the suite are left alone.
    app["spec"]["destination"]["namespace"] = dest.clone().into();
    app["spec"]["source"]["helm"]["releaseName"] = "self".into();
    app["spec"]["source"]["helm"]["skipCrds"] = true.into();
    let app: Application = serde_json::from_value(app)?;
    caravel.apps().create(&PostParams::default(), &app).await?;

    let synced = caravel
        .wait_app(
            "caravel",
            Duration::from_secs(180),
            "Synced and Healthy",
            synced_healthy_and_idle,
        )
        .await?;
    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), &dest)
        .list(&Default::default())
        .await?;
    let mut names: Vec<String> = deployments
        .items
        .iter()
        .filter_map(|d| d.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "self-caravel-api-server",
            "self-caravel-application-controller",
            "self-caravel-redis",
            "self-caravel-repo-server",
        ]
    );
    // The chart's Helm pre-install hook ran as a PreSync hook.
    let hooks: Vec<String> = sync_results(&synced)
        .iter()
        .filter(|r| r.hook_phase.is_some())
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect();
    assert!(
        hooks.iter().any(|h| h == "Job/self-caravel-secret-init"),
        "{hooks:?}"
    );
    Ok(())
}
