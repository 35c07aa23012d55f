//! The application controller: watches Applications, compares the desired
//! state rendered by the repo-server with the live state of the cluster,
//! writes Application status, and runs sync operations.
//!
//! Files split by concern, as in Argo CD's controller: `cluster` (discovery
//! and the dynamic API), `live_state` (watch-driven cache of managed
//! objects), `compare` (desired vs live), `sync` (operations), `status`
//! (writing the Application), `reconcile` (the kube-runtime loop).

pub mod cluster;
pub mod compare;
pub mod deletion;
pub mod error;
pub mod hooks;
pub mod live_state;
pub mod reconcile;
pub mod repositories;
pub mod retry;
pub mod settings;
pub mod status;
pub mod sync;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::Error;

/// Flags of `caravel-application-controller`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "caravel-application-controller", version, about)]
pub struct Opt {
    /// Namespace whose Applications this controller reconciles.
    #[arg(long, env = "CARAVEL_NAMESPACE", default_value = caravel_crd::DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// Address of the repo-server (host:port or URL).
    #[arg(
        long,
        env = "CARAVEL_REPO_SERVER",
        default_value = "caravel-repo-server:8081"
    )]
    pub repo_server: String,

    /// Periodic refresh interval (Argo CD's timeout.reconciliation).
    #[arg(long, env = "CARAVEL_APP_RESYNC_PERIOD", default_value = "120s", value_parser = humantime::parse_duration)]
    pub app_resync_period: Duration,

    /// Random jitter added to each periodic refresh (Argo CD's timeout.reconciliation.jitter).
    #[arg(long, env = "CARAVEL_APP_RESYNC_JITTER", default_value = "60s", value_parser = humantime::parse_duration)]
    pub app_resync_jitter: Duration,

    /// How long status stays as it was while the repo-server is unreachable
    /// before the app turns Unknown (Argo CD's repo error grace period).
    #[arg(long, env = "CARAVEL_REPO_ERROR_GRACE_PERIOD", default_value = "180s", value_parser = humantime::parse_duration)]
    pub repo_error_grace_period: Duration,

    /// Pause between sync waves, after a wave is healthy (Argo CD's
    /// ARGOCD_SYNC_WAVE_DELAY).
    #[arg(long, env = "CARAVEL_SYNC_WAVE_DELAY", default_value = "2s", value_parser = humantime::parse_duration)]
    pub sync_wave_delay: Duration,

    /// Redis URL for publishing app state to the api-server (optional).
    #[arg(long, env = "CARAVEL_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Redis password, replacing any in --redis-url (the chart reads it from
    /// a Secret).
    #[arg(long, env = "CARAVEL_REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<String>,

    /// Prefix of every Redis key this controller writes.
    #[arg(long, env = "CARAVEL_REDIS_KEY_PREFIX", default_value = "caravel")]
    pub redis_key_prefix: String,

    /// Namespaces whose objects the controller watches and manages,
    /// comma-separated (RFC 1123 names; empty entries are ignored); empty
    /// (the default) means cluster-wide, as in Argo CD. When set (Argo CD's
    /// namespaced mode, for namespace-scoped RBAC) objects in other
    /// namespaces and cluster-scoped objects are refused.
    #[arg(
        long,
        env = "CARAVEL_RESOURCE_NAMESPACES",
        value_delimiter = ',',
        value_parser = cluster::parse_namespace_name
    )]
    pub resource_namespaces: Vec<String>,

    /// Kubeconfig to use instead of the in-cluster config or $KUBECONFIG.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Number of Applications reconciled at once (Argo CD's status processors).
    #[arg(long, env = "CARAVEL_STATUS_PROCESSORS", default_value_t = 20)]
    pub status_processors: u16,

    /// Address of the HTTP health endpoint (`/healthz`) for probes.
    #[arg(
        long,
        env = "CARAVEL_CONTROLLER_HEALTH_LISTEN",
        default_value = "0.0.0.0:8082"
    )]
    pub health_listen: SocketAddr,

    #[command(flatten)]
    pub telemetry: caravel_telemetry::TelemetryArgs,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    opt: Opt,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let client = kube_client(opt.kubeconfig.as_deref()).await?;
    caravel_grpc::spawn_http_health(opt.health_listen).await?;
    tracing::info!(
        namespace = %opt.namespace,
        repo_server = %opt.repo_server,
        resync = ?opt.app_resync_period,
        "starting application controller"
    );
    reconcile::run(client, opt, shutdown).await
}

async fn kube_client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}
