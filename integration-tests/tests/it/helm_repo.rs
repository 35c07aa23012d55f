//! Charts from a Helm repository (a local HTTP server with an index.yaml)
//! and from an OCI registry (Debian's docker-registry, charts pushed by
//! real Helm), both synced with `targetRevision: 1.2.*`, which must pick
//! the highest matching version (1.2.3). The OCI registry is plain HTTP,
//! so its repository Secret says `insecureOCIForceHttp`, as in Argo CD.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use caravel_integration_tests::chart_repo::{
    chart_archive, index_yaml, sha256_hex, ChartRepoServer,
};
use caravel_integration_tests::oci_registry::Registry;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

use crate::common::*;

const VERSIONS: &[&str] = &["1.0.0", "1.2.0", "1.2.3", "1.3.0"];

/// Creates an app deploying `chart` from `repo_url` at `1.2.*`.
async fn chart_app(caravel: &Caravel, name: &str, repo_url: &str, dest: &str) -> Result<()> {
    let app: caravel_crd::application::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": { "name": name, "namespace": caravel.app_ns },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": repo_url,
                "chart": "app-v2",
                "targetRevision": "1.2.*",
                "helm": { "skipTests": true, "valuesObject": { "replicaCount": 1 } }
            },
            "destination": { "server": IN_CLUSTER, "namespace": dest },
            "syncPolicy": { "automated": { "prune": true } }
        }
    }))?;
    caravel.apps().create(&PostParams::default(), &app).await?;
    Ok(())
}

/// Waits for the app to be synced and healthy at chart version 1.2.3, and
/// checks the Deployment came from that version.
async fn assert_synced_at_1_2_3(caravel: &Caravel, name: &str, dest: &str) -> Result<()> {
    let app = caravel
        .wait_app(name, Duration::from_secs(60), "Synced and Healthy", |a| {
            sync_status(a) == "Synced" && health_status(a) == "Healthy" && history_len(a) == 1
        })
        .await?;
    assert_eq!(
        revision(&app),
        "1.2.3",
        "the highest version matching 1.2.*"
    );
    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), dest);
    let deployment = deployments.get(&format!("{name}-app-v2")).await?;
    let labels = deployment.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("helm.sh/chart").map(String::as_str),
        Some("app-v2-1.2.3")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_from_a_helm_repository_and_an_oci_registry_sync_the_highest_matching_version(
) -> Result<()> {
    let caravel = Caravel::start("helm-repo").await?;

    // An OCI registry with the same versions, pushed by real Helm, and its
    // repository Secret (created before any app, as a user would).
    let registry = Registry::start(None).await?;
    registry.push("app-v2", VERSIONS)?;
    let oci_url = format!("oci://{}/charts", registry.host);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "local-registry",
            "namespace": caravel.app_ns,
            "labels": { "argocd.argoproj.io/secret-type": "repository" }
        },
        "stringData": {
            "type": "helm",
            "url": oci_url,
            "insecureOCIForceHttp": "true"
        }
    }))?;
    Api::<Secret>::namespaced(caravel.client.clone(), &caravel.app_ns)
        .create(&PostParams::default(), &secret)
        .await?;
    // An HTTP chart repository with four versions.
    let server = ChartRepoServer::start(None).await?;
    let mut entries = Vec::new();
    let mut urls = Vec::new();
    for version in VERSIONS {
        let archive = chart_archive("app-v2", version)?;
        let path = format!("/charts/app-v2-{version}.tgz");
        let digest = sha256_hex(&archive);
        server.file(&path, archive);
        urls.push((version.to_string(), format!("{}{path}", server.url), digest));
    }
    for (version, url, digest) in &urls {
        entries.push((version.as_str(), url.as_str(), Some(digest.as_str())));
    }
    server.file("/index.yaml", index_yaml("app-v2", &entries));
    let http_dest = caravel.dest_namespace("helm-http").await?;
    chart_app(&caravel, "from-http", &server.url, &http_dest).await?;

    let oci_dest = caravel.dest_namespace("helm-oci").await?;
    chart_app(&caravel, "from-oci", &oci_url, &oci_dest).await?;

    assert_synced_at_1_2_3(&caravel, "from-http", &http_dest).await?;
    assert_synced_at_1_2_3(&caravel, "from-oci", &oci_dest).await?;
    // The archive was fetched once per version resolved, not per render.
    let fetched: BTreeMap<String, usize> = VERSIONS
        .iter()
        .map(|v| {
            let path = format!("/charts/app-v2-{v}.tgz");
            (v.to_string(), server.hits(&path))
        })
        .collect();
    assert_eq!(fetched["1.2.3"], 1, "{fetched:?}");
    assert_eq!(
        fetched["1.3.0"] + fetched["1.0.0"] + fetched["1.2.0"],
        0,
        "{fetched:?}"
    );
    Ok(())
}
