//! Ownership: an app never prunes an object another app (or another
//! object) owns; two apps claiming one object is a SharedResourceWarning,
//! and a sync with FailOnSharedResource refuses it.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

use crate::common::*;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\ndata:\n  k: v\n";
const SHARED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  k: v\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_owned_elsewhere_are_never_pruned_and_shared_objects_are_reported() -> Result<()> {
    let caravel = Caravel::start("owner").await?;
    let dest = caravel
        .manual_app(
            "owner",
            "app",
            vec![
                ("app/mine.yaml", CM.to_owned()),
                ("app/shared.yaml", SHARED.to_owned()),
            ],
        )
        .await?;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    let foreign = |name: &str, id: String| -> ConfigMap {
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {"argocd.argoproj.io/tracking-id": id}},
            "data": {"k": "v"}
        }))
        .unwrap()
    };
    // Another app's object, and a copy of this app's annotation naming
    // another object.
    cms.create(
        &PostParams::default(),
        &foreign("theirs", format!("other-app:/ConfigMap:{dest}/theirs")),
    )
    .await?;
    cms.create(
        &PostParams::default(),
        &foreign("copied", format!("owner:/ConfigMap:{dest}/mine")),
    )
    .await?;

    caravel
        .request_sync("owner", json!({"sync": {"prune": true}}))
        .await?;
    let app = caravel
        .wait_app(
            "owner",
            Duration::from_secs(60),
            "the sync to succeed",
            |a| operation_phase(a) == "Succeeded" && a.operation.is_none(),
        )
        .await?;
    assert!(
        cms.get_opt("theirs").await?.is_some(),
        "another app's object is not pruned"
    );
    assert!(
        cms.get_opt("copied").await?.is_some(),
        "a copied tracking id is not ownership"
    );
    let resources = app.status.and_then(|s| s.resources).unwrap_or_default();
    assert!(
        resources
            .iter()
            .all(|r| r.name != "theirs" && r.name != "copied"),
        "{resources:?}"
    );

    // A second app declaring `shared` too.
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with("rival", vec![("app/shared.yaml", SHARED.to_owned())])
        .await?;
    caravel
        .create_app(
            "rival",
            &repo.file_url(),
            "app",
            &dest,
            json!({"syncOptions": ["FailOnSharedResource=true"]}),
        )
        .await?;
    caravel
        .wait_app(
            "rival",
            Duration::from_secs(30),
            "a SharedResourceWarning",
            |a| {
                a.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c.type_ == "SharedResourceWarning" && c.message.contains("owner")
                        })
                    })
            },
        )
        .await?;
    caravel.request_sync("rival", json!({"sync": {}})).await?;
    let app = caravel
        .wait_app("rival", Duration::from_secs(30), "the sync to fail", |a| {
            operation_phase(a) == "Failed" && a.operation.is_none()
        })
        .await?;
    let message = app
        .status
        .and_then(|s| s.operation_state)
        .and_then(|o| o.message)
        .unwrap_or_default();
    assert!(
        message.contains("Shared resource found") && message.contains("shared"),
        "{message}"
    );
    let shared = cms.get("shared").await?;
    assert_eq!(
        shared.metadata.annotations.unwrap()["argocd.argoproj.io/tracking-id"],
        format!("owner:/ConfigMap:{dest}/shared"),
        "the object still belongs to the first app"
    );
    Ok(())
}
