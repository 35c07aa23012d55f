//! Starting an api-server in-process on a free port.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use caravel_api_server::Config;
use caravel_proto::application::v1::application_service_client::ApplicationServiceClient;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// A running api-server whose Kubernetes API does not answer.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), caravel_api_server::Error>>,
    _dir: tempfile::TempDir,
}

impl Server {
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
