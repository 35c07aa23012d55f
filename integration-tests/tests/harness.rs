//! Checks the end-to-end harness itself against the real local control
//! plane, Redis, Git and an OpenTelemetry exporter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use caravel_integration_tests::node_simulator::{LOAD_BALANCER_IP, SIMULATE_KEY};
use caravel_integration_tests::{shared, Changes, Redis};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, Service};
use kube::api::{ListParams, PostParams};
use kube::Api;
use serde_json::json;

async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    let mut last_error = None;
    while started.elapsed() < timeout {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out after {timeout:?} waiting for {what} (last error: {last_error:?})")
}

fn deployment(name: &str, replicas: i32, pod_annotations: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": pod_annotations},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn control_plane_comes_up_and_lists_namespaces() -> Result<()> {
    let env = shared().await?;
    let namespaces: Api<Namespace> = Api::all(env.kube_client()?);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_owned()), "{names:?}");
    assert!(names.contains(&"kube-system".to_owned()), "{names:?}");

    let created = env.create_namespace("harness").await?;
    assert!(created.starts_with("harness-") && created.len() == "harness-".len() + 6);
    let listed = env
        .kubectl(&["get", "namespace", &created, "-o", "name"])
        .await?;
    assert_eq!(listed.trim(), format!("namespace/{created}"));
    env.delete_namespace(&created).await?;
    Ok(())
}

#[tokio::test]
async fn deployment_becomes_available_through_the_simulator() -> Result<()> {
    let env = shared().await?;
    let ns = env.create_namespace("sim-deploy").await?;
    let client = env.kube_client()?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(&PostParams::default(), &deployment("web", 2, json!({})))
        .await?;
    eventually(Duration::from_secs(30), "2 available replicas", || async {
        let d = deployments.get("web").await?;
        let status = d.status.unwrap_or_default();
        Ok((status.available_replicas == Some(2)).then_some(()))
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    for pod in pods.list(&ListParams::default()).await? {
        let status = pod.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let containers = status.container_statuses.unwrap();
        assert!(containers[0].ready);
        assert_eq!(containers[0].image, "nginx:1.25");
    }
    Ok(())
}

#[tokio::test]
async fn crash_loop_annotation_yields_crash_loop_back_off() -> Result<()> {
    let env = shared().await?;
    let ns = env.create_namespace("sim-crash").await?;
    let client = env.kube_client()?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &deployment("crash", 1, json!({SIMULATE_KEY: "crashloop"})),
        )
        .await?;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let reason = eventually(Duration::from_secs(30), "a crash-looping pod", || async {
        let list = pods.list(&ListParams::default()).await?;
        let waiting = list.items.iter().find_map(|p| {
            let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
            statuses[0].state.as_ref()?.waiting.as_ref()?.reason.clone()
        });
        Ok(waiting)
    })
    .await?;
    assert_eq!(reason, "CrashLoopBackOff");
    let d = deployments.get("crash").await?;
    assert_eq!(
        d.status.unwrap_or_default().available_replicas.unwrap_or(0),
        0
    );
    Ok(())
}

#[tokio::test]
async fn run_to_completion_pod_succeeds() -> Result<()> {
    let env = shared().await?;
    let ns = env.create_namespace("sim-job").await?;
    let pods: Api<Pod> = Api::namespaced(env.kube_client()?, &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "hook"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox"}]},
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let phase = eventually(
        Duration::from_secs(20),
        "the hook pod to finish",
        || async {
            let phase = pods.get("hook").await?.status.and_then(|s| s.phase);
            Ok(phase.filter(|p| p != "Pending"))
        },
    )
    .await?;
    assert_eq!(phase, "Succeeded");
    Ok(())
}

#[tokio::test]
async fn load_balancer_service_gets_an_address() -> Result<()> {
    let env = shared().await?;
    let ns = env.create_namespace("sim-lb").await?;
    let services: Api<Service> = Api::namespaced(env.kube_client()?, &ns);
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }))?;
    services.create(&PostParams::default(), &service).await?;
    let ip = eventually(
        Duration::from_secs(20),
        "a load balancer address",
        || async {
            let service = services.get("web").await?;
            let ip = service
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .and_then(|i| i.into_iter().next())
                .and_then(|i| i.ip);
            Ok(ip)
        },
    )
    .await?;
    assert_eq!(ip, LOAD_BALANCER_IP);
    Ok(())
}

#[tokio::test]
async fn persistent_volume_claim_becomes_bound() -> Result<()> {
    let env = shared().await?;
    let ns = env.create_namespace("sim-pvc").await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.kube_client()?, &ns);
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "standard",
            "resources": {"requests": {"storage": "2Gi"}},
        },
    }))?;
    claims.create(&PostParams::default(), &claim).await?;
    let bound = eventually(Duration::from_secs(30), "the claim to be bound", || async {
        let claim = claims.get("data").await?;
        let phase = claim.status.as_ref().and_then(|s| s.phase.clone());
        Ok((phase.as_deref() == Some("Bound")).then_some(claim))
    })
    .await?;
    let capacity = bound.status.unwrap().capacity.unwrap();
    assert_eq!(capacity["storage"].0, "2Gi");
    Ok(())
}

#[tokio::test]
async fn git_over_http_clones_with_git_and_git2() -> Result<()> {
    let env = shared().await?;
    let (repo, first) = env
        .git()
        .create_repo_with(
            "harness",
            [("app/cm.yaml", "kind: ConfigMap\n"), ("README.md", "hi\n")],
        )
        .await?;
    let second = repo
        .commit(
            "main",
            "second",
            Changes::new()
                .write("app/cm.yaml", "kind: Secret\n")
                .delete("README.md"),
        )
        .await?;
    repo.create_tag("v1.0.0", &first).await?;
    let url = repo.http_url()?;
    let work = tempfile::tempdir()?;

    let cli_dir = work.path().join("cli");
    let output = tokio::process::Command::new("git")
        .args(["clone", "--quiet", &url])
        .arg(&cli_dir)
        .output()
        .await?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let head = tokio::process::Command::new("git")
        .arg("-C")
        .arg(&cli_dir)
        .args(["rev-parse", "HEAD"])
        .output()
        .await?;
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), second);
    assert_eq!(
        std::fs::read_to_string(cli_dir.join("app/cm.yaml"))?,
        "kind: Secret\n"
    );
    assert!(!cli_dir.join("README.md").exists());

    let git2_dir = work.path().join("git2");
    let (url2, dir2) = (url.clone(), git2_dir.clone());
    let tag_target = tokio::task::spawn_blocking(move || -> Result<String> {
        let cloned = git2::Repository::clone(&url2, &dir2)?;
        let tag = cloned.revparse_single("v1.0.0")?.peel_to_commit()?;
        Ok(tag.id().to_string())
    })
    .await??;
    assert_eq!(tag_target, first);

    let file_clone = git2::Repository::clone(&repo.file_url(), work.path().join("file"))?;
    assert_eq!(
        file_clone.head()?.peel_to_commit()?.id().to_string(),
        second
    );
    Ok(())
}

// Multi-thread: the exporter's gRPC channel needs a runtime thread that is
// not blocked in `force_flush`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_receiver_collects_spans_from_an_otlp_exporter() -> Result<()> {
    use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_otlp::WithExportConfig as _;

    let env = shared().await?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(env.otlp_endpoint())
        .build()?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("harness-test")
                .build(),
        )
        .build();
    let tracer = provider.tracer("harness");
    let (trace_id, parent_id) = tracer.in_span("parent", |cx| {
        let mut child = tracer.start("child");
        child.set_attribute(opentelemetry::KeyValue::new("app", "guestbook"));
        child.end();
        let span = cx.span();
        let context = span.span_context();
        (
            context.trace_id().to_string(),
            context.span_id().to_string(),
        )
    });
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush()).await??;

    let otlp = env.otlp();
    let services = otlp
        .wait_for_trace_services(&trace_id, &["harness-test"], Duration::from_secs(10))
        .await?;
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        vec!["harness-test"]
    );
    let spans = otlp.spans_for_trace(&trace_id);
    let by_name: BTreeMap<_, _> = spans.iter().map(|s| (s.name.as_str(), s)).collect();
    assert_eq!(by_name["parent"].parent_span_id, None);
    assert_eq!(by_name["parent"].span_id, parent_id);
    assert_eq!(
        by_name["child"].parent_span_id.as_deref(),
        Some(parent_id.as_str())
    );
    assert_eq!(by_name["child"].attributes["app"], "guestbook");
    tokio::task::spawn_blocking(move || provider.shutdown()).await??;
    Ok(())
}

#[tokio::test]
async fn redis_stops_and_starts_again_on_the_same_port() -> Result<()> {
    let redis = Redis::start().await?;
    assert_eq!(redis.command(&["SET", "k", "v"]).await?, "+OK\r\n");
    let port = redis.port();
    redis.stop()?;
    assert!(!redis.is_running());
    assert!(redis.command(&["PING"]).await.is_err());
    redis.start_again().await?;
    assert_eq!(redis.port(), port);
    // No persistence: the data is gone after a restart.
    assert_eq!(redis.command(&["GET", "k"]).await?, "$-1\r\n");

    let secured = Redis::start_with_password("s3cret").await?;
    assert!(secured.url().starts_with("redis://:s3cret@127.0.0.1:"));
    assert_eq!(secured.command(&["PING"]).await?, "+PONG\r\n");
    assert!(caravel_integration_tests::redis::ping(secured.port(), None)
        .await
        .is_err());
    Ok(())
}
