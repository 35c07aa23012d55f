//! Rollback, Delete and Sync against a real kube-apiserver, without a
//! controller: what the api-server writes on the Application (the
//! operation, the finalizers) and what it refuses.

use std::time::Duration;

use anyhow::Context as _;
use caravel_api_server::rollback::AUTO_SYNC_ENABLED;
use caravel_api_server::sync::OPERATION_IN_PROGRESS;
use caravel_crd::finalizers::{RESOURCES, RESOURCES_BACKGROUND};
use caravel_integration_tests::TestEnv;
use caravel_proto::application::v1::application_service_client::ApplicationServiceClient;
use caravel_proto::application::v1::{
    ApplicationDeleteRequest, ApplicationRollbackRequest, ApplicationSyncRequest, Backoff,
    RetryStrategy,
};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use tonic::transport::Channel;
use tonic::Code;

use crate::support::Server;

static CRDS: OnceCell<()> = OnceCell::const_new();

/// The shared test cluster with Caravel's CRDs installed.
async fn env() -> anyhow::Result<&'static TestEnv> {
    caravel_integration_tests::install_crypto_provider();
    let env = caravel_integration_tests::shared().await?;
    CRDS.get_or_try_init(|| async {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../helm/caravel/crds");
        env.kubectl(&["apply", "-f", dir.to_str().context("crd path")?])
            .await?;
        // kubectl errors (rather than waits) while a new CRD has no status
        // conditions yet, so ask again until it is established.
        let started = std::time::Instant::now();
        loop {
            let established = env
                .kubectl(&[
                    "wait",
                    "--for=condition=established",
                    "--timeout=10s",
                    "crd/applications.argoproj.io",
                ])
                .await;
            match established {
                Ok(_) => break,
                Err(e) if started.elapsed() > Duration::from_secs(60) => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        anyhow::Ok(())
    })
    .await?;
    Ok(env)
}

/// An Application namespace on the test cluster with an api-server for it.
struct Cluster {
    env: &'static TestEnv,
    namespace: String,
    apps: Api<DynamicObject>,
    server: Server,
}

impl Cluster {
    async fn start(prefix: &str) -> anyhow::Result<Self> {
        let env = env().await?;
        let namespace = env.create_namespace(prefix).await?;
        let apps = Api::namespaced_with(
            env.kube_client()?,
            &namespace,
            &ApiResource::erase::<caravel_crd::Application>(&()),
        );
        let server = Server::on_cluster(env.kubeconfig_path(), &namespace).await?;
        Ok(Self {
            env,
            namespace,
            apps,
            server,
        })
    }

    async fn client(&self) -> anyhow::Result<ApplicationServiceClient<Channel>> {
        self.server.client().await
    }

    /// Creates a manual-sync app with `finalizers`, then gives it `status`.
    async fn create_app(
        &self,
        name: &str,
        sync_policy: Value,
        finalizers: &[&str],
        status: Value,
    ) -> anyhow::Result<()> {
        let app: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": self.namespace, "finalizers": finalizers},
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook",
                           "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
                "syncPolicy": sync_policy,
            }
        }))?;
        self.apps.create(&PostParams::default(), &app).await?;
        if !status.is_null() {
            self.apps
                .patch_status(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "status": status })),
                )
                .await?;
        }
        Ok(())
    }

    /// The app's JSON, or `None` once it is gone.
    async fn get(&self, name: &str) -> anyhow::Result<Option<Value>> {
        Ok(match self.apps.get_opt(name).await? {
            Some(obj) => Some(serde_json::to_value(obj)?),
            None => None,
        })
    }

    /// Lets every app go (no controller removes the finalizers here) and
    /// deletes the namespace.
    async fn cleanup(self) -> anyhow::Result<()> {
        for app in self.apps.list(&Default::default()).await? {
            let name = app.metadata.name.unwrap_or_default();
            self.apps
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await?;
        }
        self.server.stop().await?;
        self.env.delete_namespace(&self.namespace).await
    }
}

fn history() -> Value {
    json!({"history": [
        {"id": 0, "revision": "1111111111111111111111111111111111111111",
         "deployedAt": "2024-05-01T10:00:00Z",
         "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook",
                    "targetRevision": "v1"},
         "initiatedBy": {"username": "admin"}},
        {"id": 1, "revision": "2222222222222222222222222222222222222222",
         "deployedAt": "2024-05-02T10:00:00Z",
         "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook",
                    "targetRevision": "main"},
         "initiatedBy": {"username": "admin"}}
    ]})
}

fn rollback(name: &str, id: i64) -> ApplicationRollbackRequest {
    ApplicationRollbackRequest {
        name: name.to_owned(),
        id,
        ..Default::default()
    }
}

fn finalizers(app: &Value) -> Value {
    app["metadata"]["finalizers"].clone()
}

// === Rollback ===

#[tokio::test]
async fn rollback_is_refused_while_auto_sync_is_enabled() -> anyhow::Result<()> {
    let cluster = Cluster::start("api-rollback-auto").await?;
    cluster
        .create_app(
            "auto",
            json!({"automated": {"prune": true}}),
            &[],
            history(),
        )
        .await?;
    let mut client = cluster.client().await?;

    let refused = client.rollback(rollback("auto", 0)).await;
    let Err(status) = refused else {
        anyhow::bail!("a rollback of an auto-synced app was accepted");
    };
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(status.message(), AUTO_SYNC_ENABLED);
    let app = cluster.get("auto").await?.context("app gone")?;
    assert!(app.get("operation").is_none_or(Value::is_null), "{app:#}");

    // `automated.enabled: false` turns automation off: allowed.
    cluster
        .apps
        .patch(
            "auto",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": {"enabled": false}}}})),
        )
        .await?;
    client.rollback(rollback("auto", 0)).await?;
    cluster.cleanup().await
}

#[tokio::test]
async fn rollback_to_an_unknown_history_id_is_not_found() -> anyhow::Result<()> {
    let cluster = Cluster::start("api-rollback-id").await?;
    cluster
        .create_app("manual", Value::Null, &[], history())
        .await?;
    let mut client = cluster.client().await?;

    let Err(status) = client.rollback(rollback("manual", 7)).await else {
        anyhow::bail!("a rollback to a missing deployment was accepted");
    };
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        status.message(),
        "application manual does not have deployment with id 7"
    );

    let Err(status) = client.rollback(rollback("nothere", 0)).await else {
        anyhow::bail!("a rollback of a missing app was accepted");
    };
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    cluster.cleanup().await
}

#[tokio::test]
async fn rollback_writes_a_sync_to_the_history_entry_then_refuses_a_second_one(
) -> anyhow::Result<()> {
    let cluster = Cluster::start("api-rollback-op").await?;
    cluster
        .create_app(
            "manual",
            json!({"syncOptions": ["CreateNamespace=true"]}),
            &[],
            history(),
        )
        .await?;
    let mut client = cluster.client().await?;

    let reply = client
        .rollback(ApplicationRollbackRequest {
            prune: true,
            ..rollback("manual", 0)
        })
        .await?
        .into_inner();
    let answered: Value = serde_json::from_str(&reply.json)?;
    let stored = cluster.get("manual").await?.context("app gone")?;
    let expected = json!({
        "sync": {
            "revision": "1111111111111111111111111111111111111111",
            "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook",
                       "targetRevision": "v1"},
            "prune": true,
            "dryRun": false,
            "syncOptions": ["CreateNamespace=true"]
        },
        "initiatedBy": {"username": "admin"}
    });
    assert_eq!(stored["operation"], expected, "{stored:#}");
    assert_eq!(answered["operation"], expected);

    // The operation is pending: another rollback (or sync) must wait.
    let Err(status) = client.rollback(rollback("manual", 1)).await else {
        anyhow::bail!("a second rollback was accepted while one is pending");
    };
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(status.message(), OPERATION_IN_PROGRESS);
    cluster.cleanup().await
}

// === Delete ===

fn delete(name: &str, cascade: Option<bool>, policy: &str) -> ApplicationDeleteRequest {
    ApplicationDeleteRequest {
        name: name.to_owned(),
        cascade,
        propagation_policy: policy.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_cascaded_delete_sets_the_policys_finalizer_and_the_app_waits_for_it(
) -> anyhow::Result<()> {
    let cluster = Cluster::start("api-delete-cascade").await?;
    cluster
        .create_app("plain", Value::Null, &[], Value::Null)
        .await?;
    cluster
        .create_app("background", Value::Null, &[RESOURCES], Value::Null)
        .await?;
    cluster
        .create_app(
            "explicit",
            Value::Null,
            &["example.com/keep", RESOURCES_BACKGROUND],
            Value::Null,
        )
        .await?;
    let mut client = cluster.client().await?;

    // Default (cascade unset, no policy): foreground.
    client.delete(delete("plain", None, "")).await?;
    // Background replaces the foreground finalizer.
    client
        .delete(delete("background", None, "background"))
        .await?;
    // Explicit foreground replaces background; other finalizers stay.
    client
        .delete(delete("explicit", Some(true), "foreground"))
        .await?;

    for (name, expected) in [
        ("plain", json!([RESOURCES])),
        ("background", json!([RESOURCES_BACKGROUND])),
        ("explicit", json!(["example.com/keep", RESOURCES])),
    ] {
        // Without a controller the finalizer holds the app, marked deleted.
        let app = cluster
            .get(name)
            .await?
            .with_context(|| format!("{name} is gone despite its finalizer"))?;
        assert_eq!(finalizers(&app), expected, "{name}: {:#}", app["metadata"]);
        assert!(
            app["metadata"]["deletionTimestamp"].is_string(),
            "{name}: {:#}",
            app["metadata"]
        );
    }

    // Once deleting, the app cannot switch to another cascade finalizer.
    let Err(status) = client.delete(delete("plain", None, "background")).await else {
        anyhow::bail!("a deleting app gained a finalizer");
    };
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    cluster.cleanup().await
}

#[tokio::test]
async fn a_delete_without_cascade_removes_the_finalizers_and_the_app() -> anyhow::Result<()> {
    let cluster = Cluster::start("api-delete-orphan").await?;
    cluster
        .create_app(
            "orphan",
            Value::Null,
            &[RESOURCES, RESOURCES_BACKGROUND],
            Value::Null,
        )
        .await?;
    let mut client = cluster.client().await?;

    client.delete(delete("orphan", Some(false), "")).await?;
    assert_eq!(cluster.get("orphan").await?, None);

    let Err(status) = client.delete(delete("orphan", Some(false), "")).await else {
        anyhow::bail!("deleting a missing app succeeded");
    };
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let Err(status) = client
        .delete(delete("orphan", Some(false), "background"))
        .await
    else {
        anyhow::bail!("a propagation policy without cascade was accepted");
    };
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    cluster.cleanup().await
}

// === Sync ===

#[tokio::test]
async fn a_sync_with_a_retry_strategy_writes_operation_retry() -> anyhow::Result<()> {
    let cluster = Cluster::start("api-sync-retry").await?;
    cluster
        .create_app("retry", json!({"retry": {"limit": 1}}), &[], Value::Null)
        .await?;
    let mut client = cluster.client().await?;

    client
        .sync(ApplicationSyncRequest {
            name: "retry".into(),
            retry_strategy: Some(RetryStrategy {
                limit: -1,
                backoff: Some(Backoff {
                    duration: "5s".into(),
                    factor: Some(2),
                    max_duration: "3m".into(),
                }),
            }),
            ..Default::default()
        })
        .await?;
    let app = cluster.get("retry").await?.context("app gone")?;
    assert_eq!(
        app["operation"]["retry"],
        json!({"limit": -1, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}}),
        "{app:#}"
    );
    cluster.cleanup().await
}
