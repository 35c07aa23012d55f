//! The manual workflow through the CLI and the api-server: diff, sync with
//! progress, get -o json.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::common::*;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_diff_sync_and_get_drive_a_manual_app() -> Result<()> {
    let caravel = Caravel::start_with(
        "cli",
        Options {
            api_server: true,
            ..Default::default()
        },
    )
    .await?;
    let (repo, sha) = guestbook_repo(caravel.env).await?;
    let dest = caravel.dest_namespace("cli").await?;
    caravel
        .create_app("manual", &repo.file_url(), "guestbook", &dest, json!(null))
        .await?;
    caravel
        .wait_app(
            "manual",
            Duration::from_secs(20),
            "OutOfSync (never synced)",
            |a| sync_status(a) == "OutOfSync",
        )
        .await?;

    let list = caravel.cli(&["app", "list"]).await?;
    assert!(list.status.success(), "{}\n{}", text(&list), caravel.logs());
    assert!(text(&list).contains("manual"), "{}", text(&list));

    // diff shows what a sync would create; exit code 1 means "differences".
    let diff = caravel.cli(&["app", "diff", "manual"]).await?;
    let out = text(&diff);
    assert_eq!(diff.status.code(), Some(1), "{out}");
    assert!(out.contains("guestbook-config"), "{out}");
    assert!(out.contains("GREETING"), "{out}");

    let sync = caravel
        .cli(&["app", "sync", "manual", "--timeout", "60"])
        .await?;
    let out = text(&sync);
    assert!(
        sync.status.success(),
        "sync failed:\n{out}\n{}",
        caravel.logs()
    );
    assert!(out.contains("Succeeded"), "{out}");
    assert!(
        out.contains("guestbook-ui"),
        "progress names the resources: {out}"
    );

    let get = caravel.cli(&["app", "get", "manual", "-o", "json"]).await?;
    assert!(get.status.success(), "{}", text(&get));
    let app: serde_json::Value = serde_json::from_slice(&get.stdout)?;
    assert_eq!(
        app["status"]["sync"]["status"],
        "Synced",
        "{:#}\n{}",
        app["status"]["resources"],
        caravel.logs()
    );
    assert_eq!(app["status"]["sync"]["revision"], sha.as_str());
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");
    assert_eq!(app["status"]["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app["status"]["history"][0]["initiatedBy"]["username"],
        "admin"
    );

    // app wait: the simulator readies the pods, so the app becomes Healthy.
    let waited = caravel
        .cli(&[
            "app",
            "wait",
            "manual",
            "--health",
            "--sync",
            "--timeout",
            "60",
        ])
        .await?;
    assert!(waited.status.success(), "{}", text(&waited));
    assert!(
        text(&waited).contains("health=Healthy"),
        "{}",
        text(&waited)
    );

    // A refresh through the API (Get with refresh) waits for the controller.
    let refreshed = caravel
        .cli(&["app", "get", "manual", "--hard-refresh", "-o", "json"])
        .await?;
    assert!(refreshed.status.success(), "{}", text(&refreshed));
    let app: serde_json::Value = serde_json::from_slice(&refreshed.stdout)?;
    assert!(
        app["metadata"]["annotations"]["argocd.argoproj.io/refresh"].is_null(),
        "refresh done: {:#}",
        app["metadata"]
    );
    assert_eq!(app["status"]["sync"]["status"], "Synced");

    let history = caravel.cli(&["app", "history", "manual"]).await?;
    assert!(text(&history).contains(&sha[..7]), "{}", text(&history));

    // Nothing left to diff.
    let diff = caravel.cli(&["app", "diff", "manual"]).await?;
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_exits_non_zero() -> Result<()> {
    let caravel = Caravel::start_with(
        "clifail",
        Options {
            api_server: true,
            ..Default::default()
        },
    )
    .await?;
    caravel
        .manual_app(
            "doomed",
            "bad",
            vec![("bad/deployment.yaml", INVALID_DEPLOYMENT.to_owned())],
        )
        .await?;
    let sync = caravel
        .cli(&["app", "sync", "doomed", "--timeout", "60"])
        .await?;
    assert!(
        !sync.status.success(),
        "a sync whose dry run fails must exit non-zero:\n{}",
        text(&sync)
    );
    let app = caravel.apps().get("doomed").await?;
    assert_eq!(operation_phase(&app), "Failed");
    // It never becomes Synced: app wait gives up with exit code 1.
    let waited = caravel
        .cli(&["app", "wait", "doomed", "--sync", "--timeout", "2"])
        .await?;
    assert_eq!(waited.status.code(), Some(1), "{}", text(&waited));
    assert!(text(&waited).contains("timed out"), "{}", text(&waited));
    Ok(())
}
