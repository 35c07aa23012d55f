//! Helm charts from Git, rendered natively by the repo-server: a chart with
//! per-environment value files (the seeds' shape) synced and following a
//! change of `values-prod.yaml`, and a multi-source app reading its values
//! from another repository through `$values`.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

use crate::common::*;

/// A chart in the shape of the seeds: `_helpers.tpl` names, a ConfigMap and
/// a Deployment driven by values, a sync-wave annotation, and per-environment
/// value files next to the chart.
fn chart_files(prod_replicas: u32, prod_greeting: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.0\"\n".to_owned(),
        ),
        (
            "charts/web/values.yaml",
            "replicaCount: 1\ngreeting: hello from defaults\nenv: dev\n".to_owned(),
        ),
        (
            "charts/web/values-stg.yaml",
            "env: stg\ngreeting: hello from stg\n".to_owned(),
        ),
        (
            "charts/web/values-prod.yaml",
            format!("env: prod\nreplicaCount: {prod_replicas}\ngreeting: {prod_greeting}\n"),
        ),
        (
            "charts/web/templates/_helpers.tpl",
            r#"{{- define "web.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "web.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
env: {{ .Values.env | quote }}
{{- end }}
"#
            .to_owned(),
        ),
        (
            "charts/web/templates/configmap.yaml",
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "web.fullname" . }}
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
  labels:
    {{- include "web.labels" . | nindent 4 }}
data:
  greeting: {{ .Values.greeting | quote }}
  namespace: {{ .Release.Namespace }}
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  servesDeployments: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
"#
            .to_owned(),
        ),
        (
            "charts/web/templates/deployment.yaml",
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.fullname" . }}
  labels:
    {{- include "web.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    spec:
      containers:
        - name: web
          image: "nginx:{{ .Chart.AppVersion }}"
"#
            .to_owned(),
        ),
        (
            "charts/web/templates/NOTES.txt",
            "Thanks for installing {{ .Chart.Name }}.\n".to_owned(),
        ),
    ]
}

/// Creates Application `name` with `source` (or `sources` when given a
/// list) deploying to `dest`.
async fn create_helm_app(
    caravel: &Caravel,
    name: &str,
    source: serde_json::Value,
    dest: &str,
    sync_policy: serde_json::Value,
) -> Result<()> {
    let key = if source.is_array() {
        "sources"
    } else {
        "source"
    };
    let app: caravel_crd::application::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": { "name": name, "namespace": caravel.app_ns },
        "spec": {
            "project": "default",
            key: source,
            "destination": { "server": IN_CLUSTER, "namespace": dest },
            "syncPolicy": sync_policy,
        }
    }))?;
    caravel.apps().create(&PostParams::default(), &app).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_with_prod_value_files_syncs_and_follows_value_changes() -> Result<()> {
    let caravel = Caravel::start("helm-values").await?;
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with("helm-values", chart_files(2, "hello from prod"))
        .await?;
    let dest = caravel.dest_namespace("helm-values").await?;
    create_helm_app(
        &caravel,
        "web-prod",
        json!({
            "repoURL": repo.file_url(),
            "path": "charts/web",
            "targetRevision": "HEAD",
            "helm": { "valueFiles": ["values-prod.yaml"] }
        }),
        &dest,
        json!({ "automated": { "prune": true } }),
    )
    .await?;
    let synced = caravel
        .wait_app(
            "web-prod",
            Duration::from_secs(40),
            "Synced and Healthy",
            |a| sync_status(a) == "Synced" && health_status(a) == "Healthy" && history_len(a) == 1,
        )
        .await?;
    assert_eq!(
        synced
            .status
            .as_ref()
            .and_then(|s| s.source_type.as_deref()),
        Some("Helm")
    );

    // The release is named after the app, the namespace is the destination,
    // and the prod values win over the chart defaults.
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), &dest);
    let cm = cms.get("web-prod-web").await?;
    let data = cm.data.clone().unwrap_or_default();
    assert_eq!(
        data.get("greeting").map(String::as_str),
        Some("hello from prod")
    );
    assert_eq!(
        data.get("namespace").map(String::as_str),
        Some(dest.as_str())
    );
    // .Capabilities describe the destination cluster (the test control
    // plane runs Kubernetes v1.20), not Helm's defaults (v1.36).
    assert!(
        data.get("kubeVersion")
            .is_some_and(|v| v.starts_with("v1.20.")),
        "{data:?}"
    );
    assert_eq!(
        data.get("servesDeployments").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        cm.metadata
            .labels
            .unwrap_or_default()
            .get("env")
            .map(String::as_str),
        Some("prod")
    );
    let deployment = deployments.get("web-prod-web").await?;
    assert_eq!(deployment.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let checksum = |d: &Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get("checksum/config").cloned())
            .unwrap_or_default()
    };
    let first_checksum = checksum(&deployment);
    assert_eq!(first_checksum.len(), 64, "{first_checksum}");

    // Changing values-prod.yaml in Git changes the live objects.
    let prod: Vec<(&str, String)> = chart_files(3, "hello again from prod")
        .into_iter()
        .filter(|(path, _)| *path == "charts/web/values-prod.yaml")
        .collect();
    repo.commit_files(prod).await?;
    caravel.refresh("web-prod", "normal").await?;
    caravel
        .wait_app(
            "web-prod",
            Duration::from_secs(40),
            "the new values synced",
            |a| history_len(a) == 2 && sync_status(a) == "Synced" && a.operation.is_none(),
        )
        .await?;
    let cm = cms.get("web-prod-web").await?;
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("greeting")
            .map(String::as_str),
        Some("hello again from prod")
    );
    let deployment = deployments.get("web-prod-web").await?;
    assert_eq!(deployment.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_ne!(
        checksum(&deployment),
        first_checksum,
        "the config checksum follows the values"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_source_app_reads_value_files_from_its_values_source() -> Result<()> {
    let caravel = Caravel::start("helm-multi").await?;
    let git = caravel.env.git();
    let (charts, _) = git
        .create_repo_with("helm-charts", chart_files(1, "unused"))
        .await?;
    let values = |greeting: &str, replicas: u32| {
        vec![(
            "envs/prod/web.yaml",
            format!("env: prod-from-values-repo\nreplicaCount: {replicas}\ngreeting: {greeting}\n"),
        )]
    };
    let (values_repo, _) = git
        .create_repo_with("helm-env-values", values("from the values repo", 2))
        .await?;
    let dest = caravel.dest_namespace("helm-multi").await?;
    create_helm_app(
        &caravel,
        "multi",
        json!([
            {
                "repoURL": charts.file_url(),
                "path": "charts/web",
                "targetRevision": "HEAD",
                "helm": {
                    "releaseName": "shop",
                    "valueFiles": ["$values/envs/prod/web.yaml", "$values/envs/prod/missing.yaml"],
                    "ignoreMissingValueFiles": true
                }
            },
            { "repoURL": values_repo.file_url(), "targetRevision": "HEAD", "ref": "values" }
        ]),
        &dest,
        json!({ "automated": {} }),
    )
    .await?;
    let synced = caravel
        .wait_app(
            "multi",
            Duration::from_secs(40),
            "Synced and Healthy",
            |a| sync_status(a) == "Synced" && health_status(a) == "Healthy" && history_len(a) == 1,
        )
        .await?;
    // One revision per source, the values repository's included.
    let revisions = synced
        .status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revisions.clone())
        .unwrap_or_default();
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert!(revisions.iter().all(|r| r.len() == 40), "{revisions:?}");

    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    let cm = cms.get("shop-web").await?;
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("greeting")
            .map(String::as_str),
        Some("from the values repo")
    );
    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), &dest);
    let replicas = deployments
        .get("shop-web")
        .await?
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(replicas, Some(2));

    // A commit to the values repository alone is picked up and synced.
    values_repo
        .commit_files(values("changed in the values repo", 3))
        .await?;
    caravel.refresh("multi", "normal").await?;
    caravel
        .wait_app(
            "multi",
            Duration::from_secs(40),
            "the changed values synced",
            |a| history_len(a) == 2 && sync_status(a) == "Synced" && a.operation.is_none(),
        )
        .await?;
    let cm = cms.get("shop-web").await?;
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("greeting")
            .map(String::as_str),
        Some("changed in the values repo")
    );
    let replicas = deployments
        .get("shop-web")
        .await?
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(replicas, Some(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_files_outside_the_repository_fail_the_app_without_echoing_paths() -> Result<()> {
    let caravel = Caravel::start("helm-escape").await?;
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with("helm-escape", chart_files(1, "x"))
        .await?;
    let dest = caravel.dest_namespace("helm-escape").await?;
    create_helm_app(
        &caravel,
        "escape",
        json!({
            "repoURL": repo.file_url(),
            "path": "charts/web",
            "targetRevision": "HEAD",
            "helm": { "valueFiles": ["../../../../etc/passwd"] }
        }),
        &dest,
        serde_json::Value::Null,
    )
    .await?;
    let failed = caravel
        .wait_app(
            "escape",
            Duration::from_secs(30),
            "a comparison error",
            |a| {
                a.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "ComparisonError"))
            },
        )
        .await?;
    let message = failed
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|c| {
            c.iter()
                .map(|c| c.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    assert!(message.contains("outside the repository"), "{message}");
    assert!(!message.contains("root:"), "file content leaked: {message}");
    assert!(
        !message.contains("/tmp/") && !message.contains(".cache"),
        "a resolved path leaked: {message}"
    );
    Ok(())
}
