//! Bad input in Git never changes the cluster.

use std::time::Duration;

use anyhow::Result;
use caravel_integration_tests::Changes;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_yaml_is_a_comparison_error_naming_the_file_and_nothing_changes() -> Result<()> {
    let caravel = Caravel::start("badyaml").await?;
    let (repo, _) = guestbook_repo(caravel.env).await?;
    let dest = caravel.dest_namespace("badyaml").await?;
    caravel
        .create_app(
            "broken",
            &repo.file_url(),
            "guestbook",
            &dest,
            json!({"automated": {"prune": true, "selfHeal": true}}),
        )
        .await?;
    caravel
        .wait_app("broken", Duration::from_secs(30), "Synced", |a| {
            sync_status(a) == "Synced"
        })
        .await?;

    // One commit breaks a file and removes another: nothing may be applied or pruned.
    repo.commit(
        "main",
        "break things",
        Changes::new()
            .write("guestbook/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook-config\ndata:\n  GREETING: [unclosed\n")
            .delete("guestbook/service.yaml"),
    )
    .await?;
    caravel.refresh("broken", "normal").await?;
    let app = caravel
        .wait_app(
            "broken",
            Duration::from_secs(30),
            "a ComparisonError",
            |a| {
                a.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "ComparisonError"))
            },
        )
        .await?;
    let conditions = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let message = &conditions
        .iter()
        .find(|c| c.type_ == "ComparisonError")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("configmap.yaml"),
        "condition names the file: {message}"
    );
    assert!(
        message.contains("line"),
        "condition names the line: {message}"
    );

    tokio::time::sleep(Duration::from_secs(6)).await;
    let services = Api::<Service>::namespaced(caravel.client.clone(), &dest);
    assert!(
        services.get_opt("guestbook-ui").await?.is_some(),
        "nothing was pruned"
    );
    let cm = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest)
        .get("guestbook-config")
        .await?;
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("GREETING")
            .map(String::as_str),
        Some("hello"),
        "nothing was applied"
    );
    assert_eq!(history_len(&caravel.apps().get("broken").await?), 1);
    Ok(())
}
