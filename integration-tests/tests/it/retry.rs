//! A failed sync is retried with backoff, as Argo CD's `retry` says.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use kube::runtime::watcher;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sync_is_retried_with_backoff_up_to_the_limit() -> Result<()> {
    let caravel = Caravel::start("retry").await?;
    caravel
        .manual_app(
            "retried",
            "bad",
            vec![("bad/deployment.yaml", INVALID_DEPLOYMENT.to_owned())],
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
            json!({"sync": {}, "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 2, "maxDuration": "10s"}}}),
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
    assert_eq!(state.retry_count, Some(2), "{state:?}");
    // Backoff 1 s then 2 s between the three attempts.
    assert!(
        took >= Duration::from_secs(3),
        "retries waited their backoff: {took:?}"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(phase, n, msg)| phase == "Running"
            && *n == 1
            && msg.starts_with("Retrying attempt #1")),
        "a Running state with retryCount 1 was reported: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(phase, n, _)| phase == "Running" && *n == 2),
        "{seen:?}"
    );
    Ok(())
}
