//! A per-test Caravel: its own Application namespace, Redis and the three
//! services as processes, on the shared control plane.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use caravel_crd::Application;
use caravel_integration_tests::net::free_port;
use caravel_integration_tests::{shared, GitRepo, ManagedProcess, ProcessSpec, Redis, TestEnv};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

static CRDS: OnceCell<()> = OnceCell::const_new();

/// The shared environment with Caravel's CRDs installed.
pub async fn env() -> Result<&'static TestEnv> {
    caravel_integration_tests::install_crypto_provider();
    let env = shared().await?;
    CRDS.get_or_try_init(|| async {
        let dir = workspace().join("helm/caravel/crds");
        env.kubectl(&["apply", "-f", dir.to_str().context("crd path")?])
            .await?;
        // kubectl errors (rather than waits) while a new CRD has no
        // status conditions yet, so ask again until it is established.
        eventually(
            Duration::from_secs(60),
            "the CRDs to be established",
            || async {
                let out = env
                    .kubectl(&[
                        "wait",
                        "--for=condition=established",
                        "--timeout=10s",
                        "crd/applications.argoproj.io",
                        "crd/appprojects.argoproj.io",
                    ])
                    .await;
                Ok(out.ok().map(drop))
            },
        )
        .await?;
        anyhow::Ok(())
    })
    .await?;
    Ok(env)
}

/// Every file under `dir`, as (path relative to `dir`, content), sorted.
pub fn files_under(dir: &std::path::Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir)?.to_string_lossy().into_owned();
                out.push((relative, std::fs::read_to_string(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Options for one Caravel instance.
#[derive(Clone, Debug)]
pub struct Options {
    pub resync: &'static str,
    pub otlp: bool,
    /// Start the api-server too (only the CLI tests need it).
    pub api_server: bool,
    /// Extra controller flags (e.g. `--resource-namespaces`).
    pub controller_args: Vec<String>,
    /// The controller's kubeconfig, instead of the admin one.
    pub controller_kubeconfig: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            resync: "5s",
            otlp: false,
            api_server: false,
            controller_args: Vec::new(),
            controller_kubeconfig: None,
        }
    }
}

pub struct Caravel {
    pub env: &'static TestEnv,
    pub client: kube::Client,
    /// Namespace the Applications live in (the controller's namespace).
    pub app_ns: String,
    pub redis: Redis,
    pub repo_server_addr: String,
    pub api_server_addr: String,
    pub redis_prefix: String,
    pub repo_server: ManagedProcess,
    pub controller: ManagedProcess,
    controller_spec: ProcessSpec,
    pub api_server: Option<ManagedProcess>,
}

impl Caravel {
    pub async fn start(prefix: &str) -> Result<Self> {
        Self::start_with(prefix, Options::default()).await
    }

    pub async fn start_with(prefix: &str, opts: Options) -> Result<Self> {
        let env = env().await?;
        let client = env.kube_client()?;
        let app_ns = env.create_namespace(&format!("{prefix}-apps")).await?;
        let dir = env.test_dir(prefix)?;
        let redis = Redis::start().await?;
        let redis_prefix = format!("caravel-{app_ns}");
        let kubeconfig = env.kubeconfig_path().to_path_buf();

        let repo_port = free_port()?;
        let api_port = free_port()?;
        let health_port = free_port()?;
        let repo_server_addr = format!("127.0.0.1:{repo_port}");
        let api_server_addr = format!("127.0.0.1:{api_port}");

        let with_otel = |spec: ProcessSpec| {
            let spec = spec
                .env("RUST_LOG", "info,caravel=debug")
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
            if opts.otlp {
                spec.env("OTEL_EXPORTER_OTLP_ENDPOINT", env.otlp_endpoint())
                    .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            } else {
                spec
            }
        };

        let repo_server = with_otel(
            ProcessSpec::cargo_binary("caravel-repo-server", dir.join("repo-server.log"))?
                .args(["--listen", &repo_server_addr])
                .args(["--redis-url", &redis.url()])
                .args(["--redis-key-prefix", &redis_prefix])
                .args(["--cache-signing-key", "integration-test-key"])
                .args(["--health-listen", &format!("127.0.0.1:{}", free_port()?)])
                .arg("--repo-cache-dir")
                .arg(dir.join("repos")),
        )
        .spawn()?;
        caravel_integration_tests::net::wait_for_tcp(repo_port, Duration::from_secs(30)).await?;

        let controller_spec = with_otel(
            ProcessSpec::cargo_binary(
                "caravel-application-controller",
                dir.join("controller.log"),
            )?
            .args(["--namespace", &app_ns])
            .args(["--repo-server", &repo_server_addr])
            .args(["--app-resync-period", opts.resync])
            .args(["--app-resync-jitter", "1s"])
            .args(["--redis-url", &redis.url()])
            .args(["--redis-key-prefix", &redis_prefix])
            .args(["--health-listen", &format!("127.0.0.1:{health_port}")])
            .arg("--kubeconfig")
            .arg(opts.controller_kubeconfig.as_ref().unwrap_or(&kubeconfig))
            .args(&opts.controller_args),
        );
        let controller = controller_spec.clone().spawn()?;

        let api_server = if opts.api_server {
            let p = with_otel(
                ProcessSpec::cargo_binary("caravel-api-server", dir.join("api-server.log"))?
                    .args(["--listen", &api_server_addr])
                    .args(["--health-listen", &format!("127.0.0.1:{}", free_port()?)])
                    .args(["--namespace", &app_ns])
                    .args(["--redis-url", &redis.url()])
                    .args(["--redis-key-prefix", &redis_prefix])
                    .env("KUBECONFIG", &kubeconfig),
            )
            .spawn()?;
            caravel_integration_tests::net::wait_for_tcp(api_port, Duration::from_secs(30)).await?;
            Some(p)
        } else {
            None
        };
        caravel_integration_tests::net::wait_for_tcp(health_port, Duration::from_secs(30)).await?;

        Ok(Self {
            env,
            client,
            app_ns,
            redis,
            repo_server_addr,
            api_server_addr,
            redis_prefix,
            repo_server,
            controller,
            controller_spec,
            api_server,
        })
    }

    /// Kills the controller (SIGKILL, no chance to clean up) and starts a
    /// new one with the same flags and log file.
    pub async fn restart_controller(&mut self) -> Result<()> {
        self.controller.kill()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.controller.is_running() {
            if Instant::now() > deadline {
                bail!("the controller did not exit after SIGKILL");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.controller = self.controller_spec.clone().spawn()?;
        Ok(())
    }

    pub fn apps(&self) -> Api<Application> {
        Api::namespaced(self.client.clone(), &self.app_ns)
    }

    /// A destination namespace for this test.
    pub async fn dest_namespace(&self, prefix: &str) -> Result<String> {
        self.env.create_namespace(prefix).await
    }

    /// Creates an Application for a directory in `repo`.
    pub async fn create_app(
        &self,
        name: &str,
        repo_url: &str,
        path: &str,
        dest_ns: &str,
        sync_policy: Value,
    ) -> Result<Application> {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": { "name": name, "namespace": self.app_ns },
            "spec": {
                "project": "default",
                "source": { "repoURL": repo_url, "path": path, "targetRevision": "HEAD" },
                "destination": { "server": IN_CLUSTER, "namespace": dest_ns },
                "syncPolicy": sync_policy,
            }
        }))?;
        Ok(self.apps().create(&PostParams::default(), &app).await?)
    }

    /// Waits until `pred` holds for the Application, or fails with its last state and logs.
    pub async fn wait_app(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Application) -> bool,
    ) -> Result<Application> {
        let apps = self.apps();
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < timeout {
            if let Some(app) = apps.get_opt(name).await? {
                if pred(&app) {
                    return Ok(app);
                }
                last = Some(app);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "timed out after {timeout:?} waiting for {what} on app {name}\nlast status: {}\n--- controller log ---\n{}\n--- repo-server log ---\n{}",
            serde_json::to_string_pretty(&last.map(|a| a.status)).unwrap_or_default(),
            self.controller.log_tail(60),
            self.repo_server.log_tail(30),
        )
    }

    /// A manual-sync app `name` deploying `path` of a new repository holding
    /// `files`, compared once; returns its destination namespace.
    pub async fn manual_app(
        &self,
        name: &str,
        path: &str,
        files: Vec<(&str, String)>,
    ) -> Result<String> {
        let (repo, _) = self.env.git().create_repo_with(name, files).await?;
        let dest = self.dest_namespace(name).await?;
        self.create_app(name, &repo.file_url(), path, &dest, Value::Null)
            .await?;
        self.wait_app(name, Duration::from_secs(20), "the first comparison", |a| {
            !sync_status(a).is_empty()
        })
        .await?;
        Ok(dest)
    }

    /// Requests a sync by writing `.operation`, as the API and CLI do;
    /// `operation` holds `sync` and, optionally, `retry`.
    pub async fn request_sync(&self, name: &str, mut operation: Value) -> Result<()> {
        operation["initiatedBy"] = json!({ "username": "e2e-test" });
        let patch = json!({ "operation": operation });
        self.apps()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    /// Asks for a refresh the way `argocd app get --refresh` does.
    pub async fn refresh(&self, name: &str, kind: &str) -> Result<()> {
        let patch =
            json!({ "metadata": { "annotations": { "argocd.argoproj.io/refresh": kind } } });
        self.apps()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    /// The last lines of every service's log, for failure messages.
    pub fn logs(&self) -> String {
        let api = self
            .api_server
            .as_ref()
            .map(|p| p.log_tail(40))
            .unwrap_or_default();
        format!(
            "--- controller ---\n{}\n--- repo-server ---\n{}\n--- api-server ---\n{api}",
            self.controller.log_tail(40),
            self.repo_server.log_tail(20)
        )
    }

    /// Runs the `caravel` CLI against this instance's api-server.
    pub async fn cli(&self, args: &[&str]) -> Result<std::process::Output> {
        let bin = caravel_integration_tests::binary_path("caravel")?;
        let out = tokio::process::Command::new(bin)
            .args(args)
            .env("CARAVEL_SERVER", &self.api_server_addr)
            .env("CARAVEL_APP_NAMESPACE", &self.app_ns)
            .output()
            .await?;
        Ok(out)
    }
}

/// What a [`Recorder`] notes about an Application: `app/<name> created`,
/// and `app/<name> healthy` once it is.
pub fn app_created_and_healthy(a: &Application) -> Vec<String> {
    let name = a.metadata.name.clone().unwrap_or_default();
    let mut states = vec![format!("app/{name} created")];
    if health_status(a) == "Healthy" {
        states.push(format!("app/{name} healthy"));
    }
    states
}

/// Synced, Healthy and no operation running.
pub fn synced_healthy_and_idle(a: &Application) -> bool {
    sync_status(a) == "Synced" && health_status(a) == "Healthy" && a.operation.is_none()
}

/// The operation's message (`status.operationState.message`), or "".
pub fn operation_message(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .and_then(|o| o.message.as_deref())
        .unwrap_or("")
}

/// The resource results of the last operation.
pub fn sync_results(app: &Application) -> Vec<caravel_crd::application::ResourceResult> {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .and_then(|o| o.sync_result.as_ref())
        .and_then(|r| r.resources.clone())
        .unwrap_or_default()
}

/// A process's stdout and stderr, for assertions and failure messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A ConfigMap `name` in sync wave `wave` with `k: value`, and the
/// `argocd.argoproj.io/sync-options` annotation when `options` is set.
pub fn config_map(name: &str, wave: i64, options: &str, value: &str) -> String {
    let options = if options.is_empty() {
        String::new()
    } else {
        format!("    argocd.argoproj.io/sync-options: {options}\n")
    };
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\n{options}data:\n  k: {value}\n")
}

pub fn sync_status(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .map(|s| s.status.as_str())
        .unwrap_or("")
}

pub fn health_status(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status.as_deref())
        .unwrap_or("")
}

pub fn revision(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revision.as_deref())
        .unwrap_or("")
}

pub fn history_len(app: &Application) -> usize {
    app.status
        .as_ref()
        .and_then(|s| s.history.as_ref())
        .map_or(0, Vec::len)
}

pub fn operation_phase(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .map(|o| o.phase.as_str())
        .unwrap_or("")
}

/// A Deployment whose selector does not match its template: every dry run
/// of it fails.
pub const INVALID_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: y}\n    spec:\n      containers: [{name: c, image: nginx}]\n";

/// The Deployment + Service + ConfigMap app the acceptance scenarios use.
pub fn guestbook(greeting: &str, replicas: u32) -> Vec<(&'static str, String)> {
    vec![
        (
            "guestbook/configmap.yaml",
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook-config\ndata:\n  GREETING: \"{greeting}\"\n"),
        ),
        (
            "guestbook/deployment.yaml",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook-ui\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: guestbook-ui\n  template:\n    metadata:\n      labels:\n        app: guestbook-ui\n    spec:\n      containers:\n        - name: ui\n          image: gcr.io/heptio-images/ks-guestbook-demo:0.2\n          ports:\n            - containerPort: 80\n"
            ),
        ),
        (
            "guestbook/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: guestbook-ui\nspec:\n  selector:\n    app: guestbook-ui\n  ports:\n    - port: 80\n      targetPort: 80\n".to_owned(),
        ),
    ]
}

pub async fn guestbook_repo(env: &TestEnv) -> Result<(GitRepo, String)> {
    env.git()
        .create_repo_with("guestbook", guestbook("hello", 2))
        .await
}

/// Polls `f` until it returns Some, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) if started.elapsed() >= timeout => return Err(e),
            Err(_) => {}
        }
        if started.elapsed() >= timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `name` no longer exists in `api`, or fails after `timeout`.
pub async fn eventually_gone<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    what: &str,
) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(timeout, what, || async {
        Ok(api.get_opt(name).await?.is_none().then_some(()))
    })
    .await
}

/// Records when each described state of watched objects was first seen, so
/// a test can check the order things happened in across kinds.
#[derive(Default)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<(Instant, String)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Watches `api`; for each object, `describe` lists the states it is
    /// in (e.g. `job/migrate complete`). A deleted object is recorded as
    /// `<kind>/<name> deleted`.
    pub fn watch<K>(&mut self, api: Api<K>, describe: impl Fn(&K) -> Vec<String> + Send + 'static)
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default,
    {
        let seen = self.seen.clone();
        let stream = kube::runtime::watcher(api, kube::runtime::watcher::Config::default());
        self.tasks.push(tokio::spawn(async move {
            use futures::StreamExt;
            futures::pin_mut!(stream);
            while let Some(Ok(ev)) = stream.next().await {
                let states = match &ev {
                    kube::runtime::watcher::Event::Apply(o)
                    | kube::runtime::watcher::Event::InitApply(o) => describe(o),
                    kube::runtime::watcher::Event::Delete(o) => {
                        let kind = K::kind(&K::DynamicType::default()).to_lowercase();
                        vec![format!(
                            "{kind}/{} deleted",
                            o.meta().name.as_deref().unwrap_or("")
                        )]
                    }
                    _ => vec![],
                };
                let mut seen = seen.lock().unwrap();
                for s in states {
                    if !seen.iter().any(|(_, x)| *x == s) {
                        seen.push((Instant::now(), s));
                    }
                }
            }
        }));
    }

    /// When `state` was first seen.
    pub fn at(&self, state: &str) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|(_, s)| s == state)
            .map(|(t, _)| *t)
    }

    /// Every state seen, in order.
    pub fn states(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Fails unless both were seen, `first` before `then`.
    pub fn assert_before(&self, first: &str, then: &str) {
        let a = self.at(first);
        let b = self.at(then);
        assert!(
            matches!((a, b), (Some(a), Some(b)) if a < b),
            "expected '{first}' before '{then}'; seen: {:#?}",
            self.states()
        );
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
