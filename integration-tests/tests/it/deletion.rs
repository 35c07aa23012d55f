//! Deleting an Application: with Argo CD's resources finalizer its objects
//! go, highest wave first; without it they stay; `Delete=false` objects
//! always stay.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::common::*;

fn files() -> Vec<(&'static str, String)> {
    vec![
        ("app/w0.yaml", config_map("w0", 0, "", "v")),
        ("app/w1.yaml", config_map("w1", 1, "", "v")),
        ("app/w2.yaml", config_map("w2", 2, "", "v")),
        ("app/keep.yaml", config_map("keep", 2, "Delete=false", "v")),
    ]
}

async fn synced_app(caravel: &Caravel, name: &str, finalizer: Option<&str>) -> Result<String> {
    let dest = caravel.manual_app(name, "app", files()).await?;
    if let Some(f) = finalizer {
        caravel
            .apps()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": [f]}})),
            )
            .await?;
    }
    caravel.request_sync(name, json!({"sync": {}})).await?;
    caravel
        .wait_app(name, Duration::from_secs(60), "the sync to succeed", |a| {
            operation_phase(a) == "Succeeded" && a.operation.is_none()
        })
        .await?;
    Ok(dest)
}

async fn delete_and_wait_gone(caravel: &Caravel, name: &str) -> Result<()> {
    caravel
        .apps()
        .delete(name, &DeleteParams::default())
        .await?;
    eventually_gone(
        &caravel.apps(),
        name,
        Duration::from_secs(60),
        "the Application to be gone",
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", caravel.logs()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resources_finalizer_deletes_highest_wave_first_and_keeps_delete_false() -> Result<()> {
    let caravel = Caravel::start("delete").await?;
    let with = synced_app(
        &caravel,
        "cascaded",
        Some("resources-finalizer.argocd.argoproj.io"),
    )
    .await?;
    let without = synced_app(&caravel, "orphaning", None).await?;

    let mut rec = Recorder::new();
    rec.watch(
        Api::<ConfigMap>::namespaced(caravel.client.clone(), &with),
        |_| vec![],
    );
    delete_and_wait_gone(&caravel, "cascaded").await?;
    rec.assert_before("configmap/w2 deleted", "configmap/w1 deleted");
    rec.assert_before("configmap/w1 deleted", "configmap/w0 deleted");
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &with);
    assert!(cms.get_opt("w0").await?.is_none());
    assert!(cms.get_opt("keep").await?.is_some(), "Delete=false stays");

    delete_and_wait_gone(&caravel, "orphaning").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &without);
    for name in ["w0", "w1", "w2", "keep"] {
        assert!(
            cms.get_opt(name).await?.is_some(),
            "{name} stays without the finalizer"
        );
    }
    Ok(())
}
