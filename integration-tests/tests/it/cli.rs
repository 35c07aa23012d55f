//! The manual workflow through the CLI and the api-server: diff, sync with
//! progress, get -o json.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::common::*;

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
    assert!(
        list.status.success(),
        "{}\n{}",
        output_text(&list),
        caravel.logs()
    );
    assert!(
        output_text(&list).contains("manual"),
        "{}",
        output_text(&list)
    );

    // diff shows what a sync would create; exit code 1 means "differences".
    let diff = caravel.cli(&["app", "diff", "manual"]).await?;
    let out = output_text(&diff);
    assert_eq!(diff.status.code(), Some(1), "{out}");
    assert!(out.contains("guestbook-config"), "{out}");
    assert!(out.contains("GREETING"), "{out}");

    let sync = caravel
        .cli(&["app", "sync", "manual", "--timeout", "60"])
        .await?;
    let out = output_text(&sync);
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
    assert!(get.status.success(), "{}", output_text(&get));
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
    assert!(waited.status.success(), "{}", output_text(&waited));
    assert!(
        output_text(&waited).contains("health=Healthy"),
        "{}",
        output_text(&waited)
    );

    // A refresh through the API (Get with refresh) waits for the controller.
    let refreshed = caravel
        .cli(&["app", "get", "manual", "--hard-refresh", "-o", "json"])
        .await?;
    assert!(refreshed.status.success(), "{}", output_text(&refreshed));
    let app: serde_json::Value = serde_json::from_slice(&refreshed.stdout)?;
    assert!(
        app["metadata"]["annotations"]["argocd.argoproj.io/refresh"].is_null(),
        "refresh done: {:#}",
        app["metadata"]
    );
    assert_eq!(app["status"]["sync"]["status"], "Synced");

    let history = caravel.cli(&["app", "history", "manual"]).await?;
    assert!(
        output_text(&history).contains(&sha[..7]),
        "{}",
        output_text(&history)
    );

    // Nothing left to diff.
    let diff = caravel.cli(&["app", "diff", "manual"]).await?;
    assert_eq!(diff.status.code(), Some(0), "{}", output_text(&diff));
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
        output_text(&sync)
    );
    let app = caravel.apps().get("doomed").await?;
    assert_eq!(operation_phase(&app), "Failed");
    // It never becomes Synced: app wait gives up with exit code 1.
    let waited = caravel
        .cli(&["app", "wait", "doomed", "--sync", "--timeout", "2"])
        .await?;
    assert_eq!(waited.status.code(), Some(1), "{}", output_text(&waited));
    assert!(
        output_text(&waited).contains("timed out"),
        "{}",
        output_text(&waited)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_resources_lists_a_synced_apps_resources_with_their_waves() -> Result<()> {
    let caravel = Caravel::start_with(
        "clires",
        Options {
            api_server: true,
            ..Default::default()
        },
    )
    .await?;
    let mut files = guestbook("hello", 1);
    files[0].1 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook-config\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-1\"\ndata:\n  GREETING: hello\n".to_owned();
    caravel.manual_app("res", "guestbook", files).await?;

    let sync = caravel
        .cli(&["app", "sync", "res", "--timeout", "90"])
        .await?;
    let out = output_text(&sync);
    assert!(sync.status.success(), "{out}\n{}", caravel.logs());
    // Progress lists each reported result with its sync phase.
    assert!(out.contains("PHASE"), "{out}");

    let table = caravel.cli(&["app", "resources", "res"]).await?;
    let out = output_text(&table);
    assert!(table.status.success(), "{out}");
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "GROUP",
            "KIND",
            "NAMESPACE",
            "NAME",
            "WAVE",
            "HOOK",
            "STATUS",
            "HEALTH",
            "MESSAGE"
        ],
        "{out}"
    );
    let row = |name: &str, kind: &str| -> Vec<String> {
        out.lines()
            .find(|l| l.contains(name) && l.contains(kind))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let config = row("guestbook-config", "ConfigMap");
    assert!(
        config.contains(&"-1".to_owned()) && config.contains(&"Synced".to_owned()),
        "{out}"
    );
    let deployment = row("guestbook-ui", "Deployment");
    assert!(
        deployment.contains(&"0".to_owned()) && deployment.contains(&"Synced".to_owned()),
        "{out}"
    );

    let json = caravel
        .cli(&["app", "resources", "res", "-o", "json"])
        .await?;
    assert!(json.status.success(), "{}", output_text(&json));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout)?;
    let find = |kind: &str| rows.iter().find(|r| r["kind"] == kind).cloned();
    let config = find("ConfigMap").expect("the ConfigMap is listed");
    assert_eq!(config["syncWave"], -1, "{rows:#?}");
    assert_eq!(config["status"], "Synced", "{rows:#?}");
    let service = find("Service").expect("the Service is listed");
    assert_eq!(service["syncWave"], 0, "{rows:#?}");
    assert_eq!(service["group"], "", "{rows:#?}");
    assert_eq!(rows.len(), 3, "{rows:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sync_retry_flags_become_the_operations_retry() -> Result<()> {
    let caravel = Caravel::start_with(
        "cliretry",
        Options {
            api_server: true,
            ..Default::default()
        },
    )
    .await?;
    caravel
        .manual_app("retry", "guestbook", guestbook("hello", 1))
        .await?;

    // A malformed duration is refused before anything is written.
    let refused = caravel
        .cli(&[
            "app",
            "sync",
            "retry",
            "--retry-limit",
            "1",
            "--retry-backoff-duration",
            "5x",
        ])
        .await?;
    assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("invalid retry backoff duration \"5x\""),
        "{}",
        output_text(&refused)
    );
    let app = caravel.apps().get("retry").await?;
    assert!(app.operation.is_none(), "{:?}", app.operation);

    let sync = caravel
        .cli(&[
            "app",
            "sync",
            "retry",
            "--retry-limit",
            "2",
            "--retry-backoff-duration",
            "1s",
            "--retry-backoff-max-duration",
            "10s",
            "--retry-backoff-factor",
            "3",
            "--timeout",
            "90",
        ])
        .await?;
    assert!(
        sync.status.success(),
        "{}\n{}",
        output_text(&sync),
        caravel.logs()
    );
    let app = caravel.apps().get("retry").await?;
    let retry = app
        .status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .and_then(|o| o.operation.retry.as_ref());
    assert_eq!(
        serde_json::to_value(retry)?,
        json!({"limit": 2, "backoff": {"duration": "1s", "factor": 3, "maxDuration": "10s"}}),
        "{:#?}",
        app.status
    );
    Ok(())
}
