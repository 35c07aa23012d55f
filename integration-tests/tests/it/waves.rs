//! Sync waves: a wave starts only when the previous one is applied and
//! healthy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher;
use kube::Api;
use serde_json::json;

use crate::common::*;

const SLOW_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: slow\n  annotations:\n    argocd.argoproj.io/sync-wave: \"0\"\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: slow}\n  template:\n    metadata:\n      labels: {app: slow}\n      annotations:\n        caravel.dev/simulate-delay: 4s\n    spec:\n      containers: [{name: c, image: nginx}]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_starts_only_when_the_previous_wave_is_healthy() -> Result<()> {
    let caravel = Caravel::start("waves").await?;
    let dest = caravel
        .manual_app(
            "waved",
            "app",
            vec![
                ("app/first.yaml", config_map("first", -1, "", "v")),
                ("app/slow.yaml", SLOW_DEPLOYMENT.to_owned()),
                ("app/last.yaml", config_map("last", 1, "", "v")),
            ],
        )
        .await?;

    let messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorder = {
        let messages = messages.clone();
        let stream = watcher(
            caravel.apps(),
            watcher::Config::default().fields("metadata.name=waved"),
        );
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(Ok(ev)) = stream.next().await {
                if let watcher::Event::Apply(a) = ev {
                    if let Some(m) = a
                        .status
                        .and_then(|s| s.operation_state)
                        .and_then(|o| o.message)
                    {
                        messages.lock().unwrap().push(m);
                    }
                }
            }
        })
    };
    caravel.request_sync("waved", json!({"sync": {}})).await?;
    caravel
        .wait_app(
            "waved",
            Duration::from_secs(60),
            "the sync to succeed",
            |a| operation_phase(a) == "Succeeded" && a.operation.is_none(),
        )
        .await?;
    recorder.abort();

    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    let created = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second())
            .unwrap_or_default()
    };
    let first = created(&cms.get("first").await?.metadata);
    let last = created(&cms.get("last").await?.metadata);
    let slow = created(
        &Api::<Deployment>::namespaced(caravel.client.clone(), &dest)
            .get("slow")
            .await?
            .metadata,
    );
    assert!(first <= slow, "wave -1 before wave 0");
    // The simulator readies the pod 4 s after it appears; wave 1 waits for that.
    assert!(
        last - slow >= 3,
        "wave 1 started {}s after wave 0",
        last - slow
    );
    let messages = messages.lock().unwrap().clone();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("waiting for healthy state of wave 0")
                && m.contains("Deployment")),
        "progress names the wave and what it waits for: {messages:?}"
    );
    Ok(())
}

const CRASHING_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: crashing\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: crashing}\n  template:\n    metadata:\n      labels: {app: crashing}\n      annotations:\n        caravel.dev/simulate: crashloop\n    spec:\n      containers: [{name: c, image: nginx}]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_sync_stops_it_before_the_next_wave() -> Result<()> {
    let caravel = Caravel::start_with(
        "terminate",
        Options {
            api_server: true,
            ..Default::default()
        },
    )
    .await?;
    let dest = caravel
        .manual_app(
            "stuck",
            "app",
            vec![
                ("app/crashing.yaml", CRASHING_DEPLOYMENT.to_owned()),
                ("app/last.yaml", config_map("last", 1, "", "v")),
            ],
        )
        .await?;
    caravel.request_sync("stuck", json!({"sync": {}})).await?;
    caravel
        .wait_app(
            "stuck",
            Duration::from_secs(30),
            "the sync to wait on wave 0",
            |a| operation_message(a).starts_with("waiting for healthy state of wave 0"),
        )
        .await?;

    let out = caravel.cli(&["app", "terminate-op", "stuck"]).await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = caravel
        .wait_app(
            "stuck",
            Duration::from_secs(20),
            "the operation to end",
            |a| operation_phase(a) == "Failed" && a.operation.is_none(),
        )
        .await?;
    let message = app
        .status
        .and_then(|s| s.operation_state)
        .and_then(|o| o.message);
    assert_eq!(message.as_deref(), Some("Operation terminated"));
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    assert!(cms.get_opt("last").await?.is_none(), "wave 1 never ran");

    // Nothing left to terminate.
    let again = caravel.cli(&["app", "terminate-op", "stuck"]).await?;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("No operation is in progress"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_wave_fails_the_sync_and_later_waves_never_run() -> Result<()> {
    let caravel = Caravel::start("degraded").await?;
    let failing_job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: seed\nspec:\n  backoffLimit: 0\n  template:\n    metadata:\n      annotations:\n        caravel.dev/simulate: fail\n    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: busybox}]\n";
    let dest = caravel
        .manual_app(
            "degraded",
            "app",
            vec![
                ("app/seed.yaml", failing_job.to_owned()),
                ("app/last.yaml", config_map("last", 1, "", "v")),
            ],
        )
        .await?;
    caravel
        .request_sync("degraded", json!({"sync": {}}))
        .await?;
    let app = caravel
        .wait_app(
            "degraded",
            Duration::from_secs(60),
            "the sync to fail",
            |a| operation_phase(a) == "Failed" && a.operation.is_none(),
        )
        .await?;
    let message = operation_message(&app).to_owned();
    assert!(
        message.contains("Job/") && message.contains("seed") && message.contains("Degraded"),
        "the message names the degraded object: {message}"
    );
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    assert!(cms.get_opt("last").await?.is_none(), "wave 1 never ran");
    Ok(())
}
