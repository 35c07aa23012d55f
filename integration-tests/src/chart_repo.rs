//! Helm chart repository fixtures: chart archives built from testdata
//! charts, a small chart repository server (axum) that records what it was
//! asked, an HTTPS variant, and helpers to read archives back. Used by the
//! chart-source tests and the end-to-end tests.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use sha2::Digest;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The workspace's testdata/helm/charts directory.
pub fn charts_dir() -> PathBuf {
    workspace_root().join("testdata/helm/charts")
}

/// A `.tgz` of testdata chart `name` with its `Chart.yaml` version set to
/// `version`, laid out as `helm package` does (`<name>/…`).
pub fn chart_archive(name: &str, version: &str) -> Result<Vec<u8>> {
    let root = charts_dir().join(name);
    let mut files = Vec::new();
    collect_files(&root, &root, &mut files)?;
    files.sort();
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for relative in files {
        let mut content = std::fs::read(root.join(&relative))?;
        if relative == Path::new("Chart.yaml") {
            let text = String::from_utf8(content)?;
            let rewritten: Vec<String> = text
                .lines()
                .map(|line| {
                    if line.starts_with("version:") {
                        format!("version: {version}")
                    } else {
                        line.to_owned()
                    }
                })
                .collect();
            content = (rewritten.join("\n") + "\n").into_bytes();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(
            &mut header,
            Path::new(name).join(&relative),
            content.as_slice(),
        )?;
    }
    Ok(builder.into_inner()?.finish()?)
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

/// The text of `<chart>/Chart.yaml` inside an archive.
pub fn chart_yaml_of(archive: &[u8]) -> Result<String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_path_buf();
        if path.components().count() == 2 && path.ends_with("Chart.yaml") {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            return Ok(text);
        }
    }
    anyhow::bail!("archive has no Chart.yaml")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// An index.yaml listing `versions` of `chart` as `(version, url, digest)`.
pub fn index_yaml(chart: &str, versions: &[(&str, &str, Option<&str>)]) -> String {
    let mut text = format!("apiVersion: v1\nentries:\n  {chart}:\n");
    for (version, url, digest) in versions {
        text.push_str(&format!(
            "  - apiVersion: v2\n    name: {chart}\n    version: {version}\n    urls:\n    - {url}\n"
        ));
        if let Some(digest) = digest {
            text.push_str(&format!("    digest: {digest}\n"));
        }
    }
    text.push_str("generated: \"2024-01-01T00:00:00Z\"\n");
    text
}

// === chart repository server ===

/// A response the server gives for one path.
#[derive(Clone)]
pub enum Route {
    Bytes(Vec<u8>),
    /// Answer after a delay (for timeouts).
    Slow(Duration, Vec<u8>),
    /// Redirect to a path (for redirect loops).
    Redirect(String),
}

#[derive(Default)]
struct ServerState {
    routes: Mutex<HashMap<String, Route>>,
    basic_auth: Option<String>,
    /// Requests per path, with the `Authorization` header each carried.
    requests: Mutex<Vec<(String, Option<String>)>>,
}

/// A chart repository on a free localhost port, stopped on drop.
pub struct ChartRepoServer {
    pub url: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChartRepoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChartRepoServer {
    /// Starts a server; with `basic_auth`, every request needs those
    /// credentials.
    pub async fn start(basic_auth: Option<(&str, &str)>) -> Result<Self> {
        let state = Arc::new(ServerState {
            basic_auth: basic_auth.map(|(user, password)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
            }),
            ..ServerState::default()
        });
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{addr}"),
            state,
            task,
        })
    }

    pub fn route(&self, path: &str, route: Route) {
        self.state
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_owned(), route);
    }

    pub fn file(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.route(path, Route::Bytes(bytes.into()));
    }

    /// How many requests asked for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|(p, _)| p == path).count()
    }

    /// Every request so far: path and `Authorization` header.
    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn serve(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((path.clone(), authorization.clone()));
    let respond = |status: StatusCode, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("www-authenticate", "Basic realm=\"charts\"")
            .body(Body::from(body))
            .unwrap_or_default()
    };
    if let Some(expected) = &state.basic_auth {
        if authorization.as_deref() != Some(expected.as_str()) {
            return respond(StatusCode::UNAUTHORIZED, b"unauthorized".to_vec());
        }
    }
    let route = state
        .routes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&path)
        .cloned();
    match route {
        None => respond(StatusCode::NOT_FOUND, b"not found".to_vec()),
        Some(Route::Bytes(bytes)) => respond(StatusCode::OK, bytes),
        Some(Route::Slow(delay, bytes)) => {
            tokio::time::sleep(delay).await;
            respond(StatusCode::OK, bytes)
        }
        Some(Route::Redirect(target)) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", target)
            .body(Body::empty())
            .unwrap_or_default(),
    }
}

/// Where the Helm oracle's Python lives (scripts/deps.sh installs it).
pub fn helm_python() -> Result<PathBuf> {
    let cache = std::env::var_os("CARAVEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/caravel")))
        .context("neither CARAVEL_CACHE nor HOME is set")?;
    let python = cache.join("helm-oracle/venv/bin/python");
    anyhow::ensure!(
        python.exists(),
        "the Helm oracle is missing at {}: run scripts/deps.sh",
        python.display()
    );
    Ok(python)
}

// === HTTPS repository ===

/// A directory served over HTTPS by Python's http.server with a fresh
/// self-signed certificate for 127.0.0.1; killed on drop.
pub struct TlsRepoServer {
    pub url: String,
    /// The server certificate (PEM), to trust as a CA bundle.
    pub certificate_pem: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for TlsRepoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsRepoServer {
    /// Serves `files` (path relative to the root → bytes).
    pub fn start(files: &[(&str, Vec<u8>)]) -> Result<Self> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("root");
        for (path, bytes) in files {
            let target = root.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, bytes)?;
        }
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running openssl (scripts/deps.sh installs it)")?;
        anyhow::ensure!(status.success(), "openssl could not make a certificate");
        let script = r#"
import functools, http.server, ssl, sys
cert, key, root = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.HTTPServer(("127.0.0.1", 0), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
        let mut child = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(&cert)
            .arg(&key)
            .arg(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting /usr/bin/python3 (scripts/deps.sh installs it)")?;
        let mut port = String::new();
        if let Some(stdout) = child.stdout.take() {
            std::io::BufReader::new(stdout).read_line(&mut port)?;
        }
        let port: u16 = port
            .trim()
            .parse()
            .context("the HTTPS server printed no port")?;
        Ok(Self {
            url: format!("https://127.0.0.1:{port}"),
            certificate_pem: std::fs::read_to_string(&cert)?,
            child,
            _dir: dir,
        })
    }
}
