//! One sync is one trace across the controller and the repo-server.

use std::time::Duration;

use anyhow::Result;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_is_one_trace_across_controller_and_repo_server() -> Result<()> {
    let caravel = Caravel::start_with(
        "trace",
        Options {
            otlp: true,
            ..Default::default()
        },
    )
    .await?;
    let (repo, _) = guestbook_repo(caravel.env).await?;
    let dest = caravel.dest_namespace("trace").await?;
    caravel
        .create_app("traced", &repo.file_url(), "guestbook", &dest, json!(null))
        .await?;
    caravel
        .wait_app("traced", Duration::from_secs(20), "compared", |a| {
            sync_status(a) == "OutOfSync"
        })
        .await?;
    let op =
        json!({"operation": {"sync": {"prune": true}, "initiatedBy": {"username": "trace-test"}}});
    caravel
        .apps()
        .patch("traced", &PatchParams::default(), &Patch::Merge(op))
        .await?;
    caravel
        .wait_app("traced", Duration::from_secs(30), "sync succeeded", |a| {
            operation_phase(a) == "Succeeded"
        })
        .await?;

    let otlp = caravel.env.otlp();
    let sync_span = otlp
        .wait_for_span(Duration::from_secs(15), |s| {
            s.service_name == "caravel-application-controller"
                && s.name == "sync"
                && s.attributes.get("app").map(String::as_str) == Some("traced")
        })
        .await?;
    let services = otlp
        .wait_for_trace_services(
            &sync_span.trace_id,
            &["caravel-application-controller", "caravel-repo-server"],
            Duration::from_secs(15),
        )
        .await?;
    assert!(services.contains("caravel-repo-server"), "{services:?}");
    let spans = otlp.spans_for_trace(&sync_span.trace_id);
    let repo_spans: Vec<_> = spans
        .iter()
        .filter(|s| s.service_name == "caravel-repo-server")
        .collect();
    assert!(
        repo_spans
            .iter()
            .any(|s| s.name.contains("GenerateManifest") || s.name.contains("generate_manifest")),
        "repo-server spans in the trace: {:?}",
        repo_spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    // The repo-server's request span is a child of a controller span. The
    // parent (the reconcile span) ends, and is exported, after the sync.
    let trace_id = sync_span.trace_id.clone();
    eventually(
        Duration::from_secs(15),
        "a controller parent for a repo-server span",
        || {
            let spans = otlp.spans_for_trace(&trace_id);
            async move {
                let controller_ids: std::collections::HashSet<_> = spans
                    .iter()
                    .filter(|s| s.service_name == "caravel-application-controller")
                    .map(|s| s.span_id.clone())
                    .collect();
                let linked = spans.iter().any(|s| {
                    s.service_name == "caravel-repo-server"
                        && s.parent_span_id
                            .as_ref()
                            .is_some_and(|p| controller_ids.contains(p))
                });
                Ok(linked.then_some(()))
            }
        },
    )
    .await?;
    Ok(())
}
