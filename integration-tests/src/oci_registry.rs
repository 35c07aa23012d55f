//! Fixtures for OCI tests: Debian's CNCF distribution registry
//! (`docker-registry`) started on a free port, and charts pushed to it by
//! real Helm (helm_python).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::chart_repo::{charts_dir, helm_python};

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A running registry, killed on drop.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    pub credentials: Option<(String, String)>,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts a registry storing blobs in a temporary directory; with
    /// `htpasswd`, every request needs those basic credentials.
    pub async fn start(htpasswd: Option<(&str, &str)>) -> Result<Self> {
        ensure!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: install Debian's docker-registry package (scripts/deps.sh does)"
        );
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {host}\n  secret: caravel-test\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = htpasswd {
            let line = bcrypt_htpasswd_line(user, password)?;
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, line)?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: caravel-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)?;
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {REGISTRY_BINARY}"))?;
        let registry = Self {
            host,
            credentials: htpasswd.map(|(u, p)| (u.to_owned(), p.to_owned())),
            child,
            dir,
        };
        registry.wait_ready().await?;
        Ok(registry)
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = format!("http://{}/v2/", self.host);
        loop {
            if let Ok(response) = reqwest::get(&url).await {
                if response.status().is_success() || response.status().as_u16() == 401 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("docker-registry did not answer on {url} within 10s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Packages testdata chart `chart` at each version with real Helm and
    /// pushes it to `oci://<host>/charts`; returns the archives pushed.
    pub fn push(&self, chart: &str, versions: &[&str]) -> Result<Vec<Vec<u8>>> {
        let out = self.dir.path().join("packages");
        std::fs::create_dir_all(&out)?;
        let script = r#"
import json, sys
from helm_python import chart, registry
host, chart_dir, out, creds_file, user, password = sys.argv[1:7]
versions = sys.argv[7:]
client = registry.RegistryClient(plain_http=True, credentials_file=creds_file)
if user:
    client.login(host, user, password, plain_http=True)
for version in versions:
    archive = chart.package(chart_dir, destination=out, version=version)
    client.push(archive, f"oci://{host}/charts", plain_http=True)
    print(archive)
"#;
        let (user, password) = self.credentials.clone().unwrap_or_default();
        let output = Command::new(helm_python()?)
            .arg("-c")
            .arg(script)
            .arg(&self.host)
            .arg(charts_dir().join(chart))
            .arg(&out)
            .arg(self.dir.path().join("registry-credentials.json"))
            .arg(user)
            .arg(password)
            .args(versions)
            .output()?;
        ensure!(
            output.status.success(),
            "helm push failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let paths: Vec<PathBuf> = String::from_utf8(output.stdout)?
            .lines()
            .map(PathBuf::from)
            .collect();
        ensure!(paths.len() == versions.len(), "helm printed {paths:?}");
        paths.iter().map(|path| Ok(std::fs::read(path)?)).collect()
    }
}

/// An htpasswd line with a bcrypt hash (what the distribution registry
/// accepts), made with the libxcrypt-backed `crypt` module of Python.
fn bcrypt_htpasswd_line(user: &str, password: &str) -> Result<String> {
    let output = Command::new(helm_python()?)
        .arg("-W")
        .arg("ignore")
        .arg("-c")
        .arg("import crypt, sys; print(sys.argv[1] + ':' + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))")
        .arg(user)
        .arg(password)
        .output()?;
    ensure!(
        output.status.success(),
        "bcrypt hashing failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8(output.stdout)?;
    ensure!(line.contains(":$2"), "not a bcrypt htpasswd line: {line}");
    Ok(line)
}
