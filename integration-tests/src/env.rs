//! The environment shared by all tests of one test binary: started once,
//! on first use, and kept until the process exits.
//!
//! Every `#[tokio::test]` has its own runtime that ends with the test, so the
//! servers and watchers of the shared environment run on a dedicated
//! background thread with its own multi-thread runtime. Child processes are
//! forked by the process keeper (see [`crate::process`]) and die with the
//! test process.
//!
//! With `CARAVEL_TEST_KUBECONFIG` set, tests use that cluster and no local
//! control plane or node simulator is started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::json;
use tokio::runtime::Handle;
use tokio::sync::OnceCell;

use crate::control_plane::{client_config, default_envtest_dir, ControlPlane};
use crate::git_server::GitServer;
use crate::node_simulator::NodeSimulator;
use crate::otlp::OtlpReceiver;

/// Label on every namespace created by [`TestEnv::create_namespace`].
pub const TEST_NAMESPACE_LABEL: &str = "caravel.dev/test-namespace";

/// Prefix of the per-process run directories under the system temp dir.
const RUN_DIR_PREFIX: &str = "caravel-it-";

static SHARED: OnceCell<std::result::Result<TestEnv, String>> = OnceCell::const_new();

/// The shared environment, started on first call. A failed start is
/// reported to every caller (it is not retried).
pub async fn shared() -> Result<&'static TestEnv> {
    let env = SHARED
        .get_or_init(|| async { TestEnv::start().await.map_err(|e| format!("{e:#}")) })
        .await;
    env.as_ref()
        .map_err(|e| anyhow!("the shared test environment failed to start: {e}"))
}

/// Control plane (or external cluster), node simulator, OTLP receiver and
/// Git server, shared by the tests of one process.
#[derive(Debug)]
pub struct TestEnv {
    run_dir: PathBuf,
    kubeconfig_path: PathBuf,
    kube_config: kube::Config,
    control_plane: Option<ControlPlane>,
    _simulator: Option<NodeSimulator>,
    otlp: OtlpReceiver,
    git: GitServer,
    runtime: Handle,
    startup: Duration,
}

impl TestEnv {
    async fn start() -> Result<TestEnv> {
        crate::install_crypto_provider();
        let runtime = background_runtime().await?;
        let handle = runtime.clone();
        runtime
            .spawn(async move { Self::start_on_background(handle).await })
            .await
            .context("starting the test environment")?
    }

    async fn start_on_background(runtime: Handle) -> Result<TestEnv> {
        let started = Instant::now();
        remove_stale_run_dirs();
        let run_dir = tempfile::Builder::new()
            .prefix(&format!("{RUN_DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .context("creating the run dir")?
            // Kept after exit for the logs; the next run removes it.
            .keep();

        let (kubeconfig_path, control_plane) = match std::env::var_os("CARAVEL_TEST_KUBECONFIG") {
            Some(path) if !path.is_empty() => (PathBuf::from(path), None),
            _ => {
                let control_plane =
                    ControlPlane::start(&run_dir.join("control-plane"), &default_envtest_dir())
                        .await?;
                (
                    control_plane.kubeconfig_path().to_owned(),
                    Some(control_plane),
                )
            }
        };
        let kube_config = client_config(&kubeconfig_path).await?;
        let simulator = match &control_plane {
            Some(_) => {
                let client =
                    Client::try_from(kube_config.clone()).context("building the kube client")?;
                Some(NodeSimulator::start(client))
            }
            None => None,
        };
        let otlp = OtlpReceiver::start().await?;
        let git = GitServer::start(&run_dir.join("git")).await?;
        let startup = started.elapsed();
        eprintln!(
            "caravel test environment ready in {:.1}s: cluster {} ({}), run dir {}",
            startup.as_secs_f64(),
            kube_config.cluster_url,
            if control_plane.is_some() {
                "local control plane"
            } else {
                "CARAVEL_TEST_KUBECONFIG"
            },
            run_dir.display()
        );
        Ok(TestEnv {
            run_dir,
            kubeconfig_path,
            kube_config,
            control_plane,
            _simulator: simulator,
            otlp,
            git,
            runtime,
            startup,
        })
    }

    /// A new client bound to the calling tokio runtime (call it inside one;
    /// a client must not outlive the runtime that created it, so build one
    /// per test).
    pub fn kube_client(&self) -> Result<Client> {
        Client::try_from(self.kube_config.clone()).context("building the kube client")
    }

    /// The client configuration (cluster URL, token, TLS settings).
    pub fn kube_config(&self) -> &kube::Config {
        &self.kube_config
    }

    /// Kubeconfig for processes under test (`KUBECONFIG`, `--kubeconfig`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The local control plane; `None` with `CARAVEL_TEST_KUBECONFIG`.
    pub fn control_plane(&self) -> Option<&ControlPlane> {
        self.control_plane.as_ref()
    }

    /// `true` when tests run against the local control plane (and the node
    /// simulator), `false` with `CARAVEL_TEST_KUBECONFIG`.
    pub fn is_local(&self) -> bool {
        self.control_plane.is_some()
    }

    /// `http://127.0.0.1:<port>` of the OTLP receiver.
    pub fn otlp_endpoint(&self) -> &str {
        self.otlp.endpoint()
    }

    pub fn otlp(&self) -> &OtlpReceiver {
        &self.otlp
    }

    pub fn git(&self) -> &GitServer {
        &self.git
    }

    /// Directory of this run (control plane data and logs, git repositories).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// How long starting the environment took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The background runtime, for tasks that must outlive one test.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// A fresh directory `<run dir>/tests/<prefix>-<random>` for a test's
    /// files and process logs.
    pub fn test_dir(&self, prefix: &str) -> Result<PathBuf> {
        let dir = self
            .run_dir
            .join("tests")
            .join(format!("{prefix}-{}", random_suffix()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Creates namespace `<prefix>-<random>` and returns its name.
    pub async fn create_namespace(&self, prefix: &str) -> Result<String> {
        let api: Api<Namespace> = Api::all(self.kube_client()?);
        for _ in 0..5 {
            let name = format!("{prefix}-{}", random_suffix());
            let namespace: Namespace = serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {TEST_NAMESPACE_LABEL: "true"}}
            }))?;
            match api.create(&PostParams::default(), &namespace).await {
                Ok(_) => return Ok(name),
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => return Err(e).with_context(|| format!("creating namespace {name}")),
            }
        }
        bail!("could not find a free namespace name for {prefix}")
    }

    /// Deletes a namespace (without waiting for it to be gone).
    pub async fn delete_namespace(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.kube_client()?);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting namespace {name}")),
        }
    }

    /// Runs `kubectl` against the test cluster; returns stdout.
    pub async fn kubectl(&self, args: &[&str]) -> Result<String> {
        let output = tokio::process::Command::new(kubectl_binary())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig_path)
            .output()
            .await
            .context("running kubectl")?;
        if !output.status.success() {
            bail!(
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Six lowercase alphanumerics, like Argo CD's e2e namespace suffixes.
pub fn random_suffix() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(6)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}

/// Starts a thread running a multi-thread runtime forever; returns its handle.
async fn background_runtime() -> Result<Handle> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("caravel-testenv".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("caravel-testenv-rt")
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    if sender.send(Ok(runtime.handle().clone())).is_ok() {
                        runtime.block_on(std::future::pending::<()>());
                    }
                }
                Err(e) => {
                    let _ = sender.send(Err(e));
                }
            }
        })
        .context("starting the test environment thread")?;
    receiver
        .await
        .context("test environment thread ended")?
        .context("building the test environment runtime")
}

/// Removes run dirs of test processes that no longer exist (etcd preallocates
/// 60+ MB per run).
fn remove_stale_run_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(RUN_DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// kubectl v1.20.2, built by `scripts/deps.sh` next to the control plane
/// (a fresh machine has no other); `kubectl` from PATH if it is missing.
pub fn kubectl_binary() -> PathBuf {
    let built = crate::control_plane::default_envtest_dir().join("kubectl");
    if built.is_file() {
        built
    } else {
        PathBuf::from("kubectl")
    }
}
