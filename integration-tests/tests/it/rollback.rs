//! Rollback through the CLI: back to the first of three revisions, refused
//! while auto-sync is on; history records it.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::common::*;

fn config(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  release: \"{value}\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_first_revision_and_is_refused_under_auto_sync() -> Result<()> {
    let caravel = Caravel::start_with(
        "rollback",
        Options {
            api_server: true,
            ..Default::default()
        },
    )
    .await?;
    let (repo, first) = caravel
        .env
        .git()
        .create_repo_with(
            "rolled",
            vec![
                ("app/settings.yaml", config("1")),
                (
                    "app/extra.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: only-in-one\ndata: {}\n"
                        .to_owned(),
                ),
            ],
        )
        .await?;
    let dest = caravel.dest_namespace("rolled").await?;
    caravel
        .create_app(
            "rolled",
            &repo.file_url(),
            "app",
            &dest,
            json!({"automated": {"prune": true}}),
        )
        .await?;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &dest);
    let release = || async {
        Ok::<_, anyhow::Error>(
            cms.get_opt("settings")
                .await?
                .and_then(|c| c.data)
                .and_then(|d| d.get("release").cloned()),
        )
    };
    caravel
        .wait_app(
            "rolled",
            Duration::from_secs(30),
            "revision 1 synced",
            |a| history_len(a) == 1 && sync_status(a) == "Synced",
        )
        .await?;
    repo.delete_files(&["app/extra.yaml"]).await?;
    for (n, value) in [(2, "2"), (3, "3")] {
        repo.commit_files(vec![("app/settings.yaml", config(value))])
            .await?;
        caravel.refresh("rolled", "normal").await?;
        caravel
            .wait_app(
                "rolled",
                Duration::from_secs(30),
                "the next revision synced",
                |a| history_len(a) == n && sync_status(a) == "Synced" && a.operation.is_none(),
            )
            .await?;
    }
    assert_eq!(release().await?.as_deref(), Some("3"));
    let app = caravel.apps().get("rolled").await?;
    let history = app.status.and_then(|s| s.history).unwrap_or_default();
    let rev1 = history
        .iter()
        .find(|h| h.revision.as_deref() == Some(first.as_str()))
        .expect("revision 1 in history");
    let id = rev1.id.to_string();

    let refused = caravel.cli(&["app", "rollback", "rolled", &id]).await?;
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains("rollback cannot be initiated when auto-sync is enabled"),
        "{}",
        output_text(&refused)
    );

    caravel
        .apps()
        .patch(
            "rolled",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": null}}})),
        )
        .await?;
    let out = caravel
        .cli(&[
            "app",
            "rollback",
            "rolled",
            &id,
            "--prune",
            "--timeout",
            "60",
        ])
        .await?;
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        caravel.logs()
    );

    assert_eq!(release().await?.as_deref(), Some("1"));
    assert!(
        cms.get_opt("only-in-one").await?.is_some(),
        "revision 1's objects are back"
    );
    let app = caravel.apps().get("rolled").await?;
    let history = app
        .status
        .clone()
        .and_then(|s| s.history)
        .unwrap_or_default();
    assert_eq!(history.len(), 4, "{history:?}");
    let last = history.last().unwrap();
    assert_eq!(last.revision.as_deref(), Some(first.as_str()));
    assert!(last
        .initiated_by
        .as_ref()
        .and_then(|i| i.username.as_deref())
        .is_some());

    let shown = caravel.cli(&["app", "history", "rolled"]).await?;
    let shown = output_text(&shown);
    assert!(
        shown.lines().filter(|l| l.contains(&first[..7])).count() >= 2,
        "{shown}"
    );
    Ok(())
}
