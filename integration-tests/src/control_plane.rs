//! A local Kubernetes control plane without nodes: etcd, kube-apiserver and
//! kube-controller-manager (v1.20.2) on free loopback ports, with a static
//! admin token and a kubeconfig file for it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::net::{free_port, http_get};
use crate::process::{ManagedProcess, ProcessSpec};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the prebuilt `kube-apiserver` and `kube-controller-manager` live:
/// `$CARAVEL_CACHE/envtest/v1.20.2`, `CARAVEL_CACHE` defaulting to
/// `$HOME/.cache/caravel`.
pub fn default_envtest_dir() -> PathBuf {
    let cache = std::env::var_os("CARAVEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/caravel")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache/caravel"));
    cache.join("envtest").join("v1.20.2")
}

/// A running control plane. Dropping it kills the processes.
#[derive(Debug)]
pub struct ControlPlane {
    dir: PathBuf,
    server: String,
    kubeconfig_path: PathBuf,
    // Declared in stop order: fields drop top to bottom.
    controller_manager: ManagedProcess,
    apiserver: ManagedProcess,
    etcd: ManagedProcess,
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver and kube-controller-manager with their
    /// data, certificates and logs in `dir`, and waits until the API server
    /// is ready and the controllers run. Retries once with new ports when a
    /// port was taken in the meantime.
    pub async fn start(dir: &Path, envtest_dir: &Path) -> Result<ControlPlane> {
        match Self::start_once(dir, envtest_dir).await {
            Ok(cp) => Ok(cp),
            Err(first) if format!("{first:#}").contains("address already in use") => {
                tracing::warn!(error = %format!("{first:#}"), "control plane port clash; retrying");
                Self::start_once(&dir.join("retry"), envtest_dir).await
            }
            Err(e) => Err(e),
        }
    }

    async fn start_once(dir: &Path, envtest_dir: &Path) -> Result<ControlPlane> {
        let apiserver_bin = envtest_dir.join("kube-apiserver");
        let kcm_bin = envtest_dir.join("kube-controller-manager");
        for bin in [&apiserver_bin, &kcm_bin] {
            if !bin.is_file() {
                bail!(
                    "{} is missing; run scripts/deps.sh to build the v1.20.2 control plane",
                    bin.display()
                );
            }
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let started = Instant::now();

        let token: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        let token_file = dir.join("tokens.csv");
        write_private(
            &token_file,
            &format!("{token},admin,admin,system:masters\n"),
        )?;
        let sa_key = dir.join("service-account.key");
        generate_rsa_key(&sa_key).await?;

        // etcd
        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let client_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd = ProcessSpec::new("etcd", "etcd", dir.join("etcd.log"))
            .arg("--name=caravel")
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=caravel={peer_url}"))
            .arg("--logger=zap")
            .spawn()?;
        wait_until(&etcd, "etcd /health", || async {
            matches!(http_get(etcd_port, "/health").await, Ok((200, body)) if body.contains("true"))
        })
        .await?;

        // kube-apiserver
        let api_port = free_port()?;
        let server = format!("https://127.0.0.1:{api_port}");
        let cert_dir = dir.join("certs");
        let apiserver = ProcessSpec::new(
            "kube-apiserver",
            &apiserver_bin,
            dir.join("kube-apiserver.log"),
        )
        .arg(format!("--etcd-servers={client_url}"))
        .arg(format!("--secure-port={api_port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!("--cert-dir={}", cert_dir.display()))
        .arg(format!("--service-account-key-file={}", sa_key.display()))
        .arg(format!(
            "--service-account-signing-key-file={}",
            sa_key.display()
        ))
        .arg("--service-account-issuer=https://kubernetes.default.svc")
        .arg("--api-audiences=https://kubernetes.default.svc")
        .arg(format!("--token-auth-file={}", token_file.display()))
        .arg("--authorization-mode=RBAC")
        .arg("--disable-admission-plugins=ServiceAccount")
        .arg("--service-cluster-ip-range=10.0.0.0/24")
        .arg("--allow-privileged=true")
        // The default reconciler publishes 127.0.0.1 as the `kubernetes`
        // endpoint, which validation rejects (loopback) every 10 s.
        .arg("--endpoint-reconciler-type=none")
        .arg("--profiling=false")
        .spawn()?;

        let kubeconfig_path = dir.join("kubeconfig");
        write_private(&kubeconfig_path, &kubeconfig_yaml(&server, &token))?;
        let config = client_config(&kubeconfig_path).await?;
        let client = Client::try_from(config).context("building the kube client")?;
        wait_until(&apiserver, "kube-apiserver /readyz", || async {
            let request = http::Request::get("/readyz").body(Vec::new());
            match request {
                Ok(request) => {
                    matches!(client.request_text(request).await, Ok(body) if body.trim() == "ok")
                }
                Err(_) => false,
            }
        })
        .await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        wait_until(&apiserver, "the default namespace", || async {
            matches!(namespaces.get_opt("default").await, Ok(Some(_)))
        })
        .await?;
        let api_ready = started.elapsed();

        // kube-controller-manager
        let controller_manager = ProcessSpec::new(
            "kube-controller-manager",
            &kcm_bin,
            dir.join("kube-controller-manager.log"),
        )
        .arg(format!("--kubeconfig={}", kubeconfig_path.display()))
        .arg(format!(
            "--service-account-private-key-file={}",
            sa_key.display()
        ))
        .arg(format!(
            "--root-ca-file={}",
            cert_dir.join("apiserver.crt").display()
        ))
        .arg("--controllers=*,-nodeipam,-nodelifecycle")
        .arg("--leader-elect=false")
        .arg("--port=0")
        .arg("--secure-port=0")
        .arg("--use-service-account-credentials=false")
        .arg("--kube-api-qps=200")
        .arg("--kube-api-burst=400")
        .spawn()?;
        // The service account controller creating `default` in `default`
        // proves the controllers are running.
        let service_accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        wait_until(
            &controller_manager,
            "the controllers (default service account)",
            || async { matches!(service_accounts.get_opt("default").await, Ok(Some(_))) },
        )
        .await?;
        if !apiserver.is_running() || !etcd.is_running() {
            bail!(
                "{}",
                failure_report("control plane process exited", &[&etcd, &apiserver])
            );
        }
        tracing::info!(
            server = %server,
            api_ready_ms = api_ready.as_millis() as u64,
            ready_ms = started.elapsed().as_millis() as u64,
            dir = %dir.display(),
            "control plane ready"
        );
        Ok(ControlPlane {
            dir: dir.to_owned(),
            server,
            kubeconfig_path,
            controller_manager,
            apiserver,
            etcd,
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// Kubeconfig with the admin token (`insecure-skip-tls-verify: true`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// Directory with data, certificates and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `(process name, log file)` of each process.
    pub fn log_paths(&self) -> Vec<(&str, &Path)> {
        [&self.etcd, &self.apiserver, &self.controller_manager]
            .into_iter()
            .map(|p| (p.name(), p.log_path()))
            .collect()
    }

    /// The processes, in start order (etcd, kube-apiserver, kube-controller-manager).
    pub fn processes(&self) -> [&ManagedProcess; 3] {
        [&self.etcd, &self.apiserver, &self.controller_manager]
    }

    /// Stops the processes gracefully, in reverse start order.
    pub async fn stop(self) -> Result<()> {
        for process in [&self.controller_manager, &self.apiserver, &self.etcd] {
            process.terminate(Duration::from_secs(10)).await?;
        }
        Ok(())
    }
}

/// A kube client config read from a kubeconfig file (its current context).
pub async fn client_config(kubeconfig_path: &Path) -> Result<kube::Config> {
    crate::install_crypto_provider();
    let kubeconfig = Kubeconfig::read_from(kubeconfig_path)
        .with_context(|| format!("reading kubeconfig {}", kubeconfig_path.display()))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", kubeconfig_path.display()))
}

fn kubeconfig_yaml(server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: caravel-local
  cluster:
    server: {server}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: {token}
contexts:
- name: caravel-local
  context:
    cluster: caravel-local
    user: admin
    namespace: default
current-context: caravel-local
"
    )
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

async fn generate_rsa_key(path: &Path) -> Result<()> {
    let output = tokio::process::Command::new("openssl")
        .arg("genrsa")
        .arg("-out")
        .arg(path)
        .arg("2048")
        .output()
        .await
        .context("running openssl genrsa")?;
    if !output.status.success() {
        bail!(
            "openssl genrsa failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Polls `ready` every 100 ms until it holds, failing early (with the log
/// tail) when `process` exits, or after [`START_TIMEOUT`].
async fn wait_until<F, Fut>(process: &ManagedProcess, what: &str, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready().await {
            return Ok(());
        }
        if !process.is_running() {
            bail!(
                "{}",
                failure_report(
                    &format!("{} exited while waiting for {what}", process.name()),
                    &[process]
                )
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{}",
                failure_report(
                    &format!("timed out after {START_TIMEOUT:?} waiting for {what}"),
                    &[process]
                )
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failure_report(headline: &str, processes: &[&ManagedProcess]) -> String {
    let mut report = headline.to_owned();
    for p in processes {
        report.push_str(&format!(
            "\n--- {} (log: {}) ---\n{}",
            p.name(),
            p.log_path().display(),
            p.log_tail(20)
        ));
    }
    report
}
