//! A failed sync is retried with backoff, as Argo CD's `retry` says: here
//! the first wave needs a CRD that is not installed yet.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::watcher;
use kube::Api;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_needing_a_missing_crd_is_retried_then_succeeds_once_it_exists() -> Result<()> {
    let caravel = Caravel::start("retry").await?;
    let group = format!("{}.caravel.test", caravel.app_ns);
    let widget = format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: gear\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-1\"\nspec:\n  size: 3\n");
    let dest = caravel
        .manual_app(
            "retried",
            "app",
            vec![
                ("app/widget.yaml", widget),
                (
                    "app/config.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n"
                        .to_owned(),
                ),
            ],
        )
        .await?;

    let seen = Arc::new(Mutex::new(Vec::<(String, i64, String)>::new()));
    let recorder = {
        let seen = seen.clone();
        let stream = watcher(
            caravel.apps(),
            watcher::Config::default().fields("metadata.name=retried"),
        );
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(Ok(ev)) = stream.next().await {
                if let watcher::Event::Apply(a) = ev {
                    if let Some(s) = a.status.and_then(|s| s.operation_state) {
                        seen.lock().unwrap().push((
                            s.phase,
                            s.retry_count.unwrap_or(0),
                            s.message.unwrap_or_default(),
                        ));
                    }
                }
            }
        })
    };

    let started = Instant::now();
    caravel
        .request_sync(
            "retried",
            json!({"sync": {}, "retry": {"limit": 3, "backoff": {"duration": "1s", "factor": 2, "maxDuration": "10s"}}}),
        )
        .await?;
    let app = caravel
        .wait_app(
            "retried",
            Duration::from_secs(40),
            "the operation to fail after its retries",
            |a| operation_phase(a) == "Failed" && a.operation.is_none(),
        )
        .await?;
    let took = started.elapsed();
    recorder.abort();

    let state = app.status.and_then(|s| s.operation_state).unwrap();
    assert_eq!(state.retry_count, Some(3), "{state:?}");
    let message = state.message.clone().unwrap_or_default();
    assert!(
        message.contains("Widget"),
        "the message names the culprit: {message}"
    );
    // Backoff 1 s, 2 s then 4 s between the four attempts.
    assert!(
        took >= Duration::from_secs(7),
        "retries waited their backoff: {took:?}"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(phase, n, msg)| phase == "Running"
            && *n == 1
            && msg.starts_with("Retrying attempt #1")),
        "a Running state with retryCount 1 was reported: {seen:?}"
    );
    for attempt in [2, 3] {
        assert!(
            seen.iter()
                .any(|(phase, n, _)| phase == "Running" && *n == attempt),
            "{seen:?}"
        );
    }

    // Install the CRD; the next (manual) sync succeeds.
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))?;
    let crds = Api::<CustomResourceDefinition>::all(caravel.client.clone());
    crds.create(&PostParams::default(), &crd).await?;
    let crd_name = format!("widgets.{group}");
    eventually(
        Duration::from_secs(30),
        "the CRD to be established",
        || async {
            let c = crds.get(&crd_name).await?;
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            Ok(established.then_some(()))
        },
    )
    .await?;
    caravel.request_sync("retried", json!({"sync": {}})).await?;
    caravel
        .wait_app(
            "retried",
            Duration::from_secs(40),
            "the sync to succeed",
            |a| operation_phase(a) == "Succeeded" && a.operation.is_none(),
        )
        .await?;
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        caravel.client.clone(),
        &dest,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(&group, "v1", "Widget")),
    );
    assert!(widgets.get_opt("gear").await?.is_some());
    Ok(())
}
