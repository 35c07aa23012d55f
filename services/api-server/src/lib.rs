//! Caravel's api-server: the Application API
//! (`caravel.application.v1.ApplicationService`) over gRPC. Applications are
//! read and written through the Kubernetes API; a sync or rollback is
//! requested by writing `.operation`, which the controller runs; a delete
//! sets or removes the resources finalizer first; managed resources and
//! diffs come from the app state the controller publishes in Redis.
//!
//! `main.rs` only parses flags into [`Config`] and calls [`run`]; tests start
//! the server in-process the same way.

pub mod apps;
pub mod delete;
pub mod error;
pub mod history;
pub mod init_secrets;
pub mod resources;
pub mod rollback;
pub mod service;
pub mod sync;
pub mod validate;
pub mod watch;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caravel_proto::application::v1::application_service_server::ApplicationServiceServer;

pub use crate::error::Error;
use crate::service::{ApplicationApi, State};

/// The gRPC service name, as registered for health checks.
pub const SERVICE_NAME: &str = "caravel.application.v1.ApplicationService";
/// Argo CD's api-server port; bound to localhost until authentication exists.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long `Get` with a refresh waits for the controller.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the api-server is configured with.
#[derive(Clone)]
pub struct Config {
    /// Namespace of Applications when a request names none.
    pub namespace: String,
    /// Kubeconfig file to use; `None` infers the configuration
    /// ($KUBECONFIG, ~/.kube/config, then the in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
    /// Redis URL of the app state cache the controller publishes to; without
    /// it `ManagedResources` answers Unavailable.
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys (the controller's `--redis-key-prefix`).
    pub redis_key_prefix: String,
    /// How long `Get` with `refresh` waits for the controller to refresh.
    pub refresh_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: caravel_crd::DEFAULT_NAMESPACE.to_owned(),
            kubeconfig: None,
            redis_url: None,
            redis_key_prefix: "caravel".to_owned(),
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("namespace", &self.namespace)
            .field("kubeconfig", &self.kubeconfig)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("refresh_timeout", &self.refresh_timeout)
            .finish()
    }
}

/// A configured api-server.
#[derive(Clone, Debug)]
pub struct ApiServer {
    api: ApplicationApi,
    state: Arc<State>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("namespace", &self.namespace)
            .field("app_state", &self.app_state)
            .field("refresh_timeout", &self.refresh_timeout)
            .finish()
    }
}

impl ApiServer {
    /// Builds the Kubernetes client and the (lazily connecting) Redis cache.
    pub async fn new(config: Config) -> Result<Self, Error> {
        validate::app_namespace(&config.namespace, "").map_err(|_| {
            Error::Startup(format!(
                "invalid namespace {:?}: must be a lowercase RFC 1123 label",
                config.namespace
            ))
        })?;
        let client = kube_client(config.kubeconfig.as_deref()).await?;
        let app_state = match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(
                caravel_appstate::AppStateCache::connect(url, &config.redis_key_prefix)
                    .await
                    .map_err(|e| Error::Startup(format!("app state cache: {e}")))?,
            ),
            None => None,
        };
        let (stop_streams, _) = tokio::sync::watch::channel(false);
        let state = Arc::new(State {
            apps: apps::Applications::new(client),
            namespace: config.namespace,
            app_state,
            refresh_timeout: config.refresh_timeout,
            stop_streams,
        });
        Ok(Self {
            api: ApplicationApi::new(state.clone()),
            state,
        })
    }

    /// The tonic service, for embedding in another server.
    pub fn service(&self) -> ApplicationServiceServer<ApplicationApi> {
        ApplicationServiceServer::new(self.api.clone())
    }

    /// Serves gRPC (plus health and reflection) on `listener` until
    /// `shutdown` resolves; open Watch streams end then, so draining the
    /// remaining requests does not wait for them.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let routes = tonic::service::Routes::new(self.service());
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            state.stop_streams.send_replace(true);
        };
        caravel_grpc::serve(listener, routes, &[SERVICE_NAME], shutdown)
            .await
            .map_err(|e| Error::Startup(format!("serving grpc: {e}")))
    }
}

/// Runs the api-server on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    tracing::info!(
        namespace = %config.namespace,
        address = %listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        app_state_cache = config.redis_url.is_some(),
        "starting api-server"
    );
    ApiServer::new(config)
        .await?
        .serve(listener, shutdown)
        .await
}

/// `init-secrets`: makes sure the install's generated Secrets exist (see
/// [`init_secrets`]).
pub async fn init_secrets(
    kubeconfig: Option<&std::path::Path>,
    namespace: &str,
    secrets: &[init_secrets::GeneratedSecret],
) -> Result<Vec<(String, init_secrets::Outcome)>, Error> {
    let client = kube_client(kubeconfig).await?;
    init_secrets::ensure(client, namespace, secrets).await
}

async fn kube_client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, Error> {
    install_crypto_provider();
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                Error::Startup(format!("reading kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| {
                    Error::Startup(format!("loading kubeconfig {}: {e}", path.display()))
                })?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Startup(format!("kubernetes client configuration: {e}")))?,
    };
    kube::Client::try_from(config)
        .map_err(|e| Error::Startup(format!("building the kubernetes client: {e}")))
}

/// kube is built with rustls on `ring`; choose it process-wide (idempotent).
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only if another thread installed one first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
