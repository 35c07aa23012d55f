//! Starting an api-server in-process on a free port: against an
//! unreachable Kubernetes API, or against the shared test cluster.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use caravel_api_server::Config;
use caravel_proto::application::v1::application_service_client::ApplicationServiceClient;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// A running api-server.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), caravel_api_server::Error>>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// An api-server whose Kubernetes API does not answer.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        // Port 1 on loopback: connection refused, at once.
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1
kind: Config
clusters:
- name: down
  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t}
contexts:
- name: down
  context: {cluster: down, user: u}
current-context: down
",
        )?;
        let config = Config {
            kubeconfig: Some(kubeconfig),
            refresh_timeout: Duration::from_secs(1),
            ..Config::default()
        };
        Self::start_with(config, Some(dir)).await
    }

    /// An api-server on the cluster of `kubeconfig`, serving Applications of
    /// `namespace` by default.
    pub async fn on_cluster(kubeconfig: &std::path::Path, namespace: &str) -> anyhow::Result<Self> {
        let config = Config {
            kubeconfig: Some(kubeconfig.to_owned()),
            namespace: namespace.to_owned(),
            refresh_timeout: Duration::from_secs(1),
            ..Config::default()
        };
        Self::start_with(config, None).await
    }

    async fn start_with(config: Config, dir: Option<tempfile::TempDir>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(caravel_api_server::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
            _dir: dir,
        })
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Channel::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await
            .context("connecting to the api-server")
    }

    pub async fn client(&self) -> anyhow::Result<ApplicationServiceClient<Channel>> {
        Ok(ApplicationServiceClient::new(self.channel().await?))
    }

    /// Shuts down and returns what `run` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .context("the api-server did not stop within 10s")???;
        Ok(())
    }
}
