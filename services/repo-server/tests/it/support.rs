//! Test fixtures: Git repositories built with the `git` CLI in temp dirs,
//! a real `redis-server` on a free port, the repo-server started in-process
//! and called over real gRPC, and a capture of everything it logs.

use std::io::Write;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use caravel_proto::reposerver::v1::repo_server_service_client::RepoServerServiceClient;
use caravel_proto::reposerver::v1::{
    GenerateManifestRequest, GenerateManifestResponse, Repository,
};
use caravel_repo_server::{Config, RepoServer};
use tempfile::TempDir;
use tonic::transport::Channel;

// === logs ===

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<LogBuffer> = OnceLock::new();

/// Captures every log line and span (debug and up) of the test binary.
fn init_logging() {
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
}

/// Everything logged so far by any test in this binary.
pub fn captured_logs() -> String {
    LOGS.get()
        .and_then(|b| {
            b.0.lock()
                .ok()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        })
        .unwrap_or_default()
}

// === git ===

/// A working Git repository in a temp dir, served to the repo-server as
/// `file://`.
pub struct GitRepo {
    dir: TempDir,
}

impl GitRepo {
    pub fn new() -> Result<Self> {
        let repo = Self {
            dir: tempfile::tempdir()?,
        };
        repo.git(&["init", "-q", "-b", "main"])?;
        Ok(repo)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// Runs git in the repository and returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.dir.path())
            .args([
                "-c",
                "user.name=Caravel Test",
                "-c",
                "user.email=test@caravel.invalid",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
                "-c",
                "core.symlinks=true",
            ])
            .args(args)
            .output()
            .context("running git")?;
        if !out.status.success() {
            bail!(
                "git {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    pub fn write(&self, rel: &str, content: &str) -> Result<()> {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
        Ok(())
    }

    pub fn symlink(&self, rel: &str, target: &str) -> Result<()> {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(target, path)?;
        Ok(())
    }

    /// Commits everything and returns the new commit SHA.
    pub fn commit(&self, message: &str) -> Result<String> {
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "--allow-empty", "-m", message])?;
        self.git(&["rev-parse", "HEAD"])
    }
}

// === redis ===

/// A `redis-server` on a free port, killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
}

pub fn free_port() -> Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl RedisServer {
    pub fn start() -> Result<Self> {
        let port = free_port()?;
        let child = Command::new("/usr/bin/redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn connection(&self) -> Result<redis::aio::MultiplexedConnection> {
        Ok(redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await?)
    }

    /// Keys matching `pattern`, sorted.
    pub async fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let mut c = self.connection().await?;
        let mut keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut c).await?;
        keys.sort();
        Ok(keys)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// === repo-server ===

/// The repo-server running in-process on 127.0.0.1:0, and a gRPC client.
pub struct TestServer {
    pub server: RepoServer,
    pub addr: std::net::SocketAddr,
    pub client: RepoServerServiceClient<Channel>,
    pub cache_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _cache_dir: TempDir,
}

impl TestServer {
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Result<Self> {
        init_logging();
        let cache_dir = tempfile::tempdir()?;
        let mut config = Config {
            repo_cache_dir: cache_dir.path().join("repos"),
            ..Config::default()
        };
        configure(&mut config);
        let server = RepoServer::new(config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = server.clone();
        tokio::spawn(async move {
            let _ = serving
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await;
        });
        let client = RepoServerServiceClient::connect(format!("http://{addr}")).await?;
        Ok(Self {
            server,
            addr,
            client,
            cache_dir: cache_dir.path().join("repos"),
            shutdown: Some(tx),
            _cache_dir: cache_dir,
        })
    }

    pub async fn generate(
        &self,
        req: GenerateManifestRequest,
    ) -> Result<GenerateManifestResponse, tonic::Status> {
        self.client
            .clone()
            .generate_manifest(req)
            .await
            .map(tonic::Response::into_inner)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn repo(url: &str) -> Option<Repository> {
    Some(Repository {
        repo: url.to_owned(),
        ..Default::default()
    })
}

/// A GenerateManifest request for a directory app at `path`.
pub fn generate_request(
    url: &str,
    source: serde_json::Value,
    app: &str,
) -> GenerateManifestRequest {
    let mut source = source;
    if let Some(map) = source.as_object_mut() {
        map.entry("repoURL").or_insert_with(|| url.into());
    }
    GenerateManifestRequest {
        repo: repo(url),
        application_source_json: source.to_string(),
        app_name: app.to_owned(),
        namespace: "default".to_owned(),
        tracking_method: "annotation".to_owned(),
        ..Default::default()
    }
}

/// The `kind/name` of each rendered object.
pub fn kinds_and_names(resp: &GenerateManifestResponse) -> Result<Vec<String>> {
    resp.manifests
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(m)?;
            Ok(format!(
                "{}/{}",
                v["kind"].as_str().unwrap_or("?"),
                v["metadata"]["name"].as_str().unwrap_or("?")
            ))
        })
        .collect()
}

pub fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value\n")
}
