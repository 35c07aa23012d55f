//! Git repositories for tests, served over smart HTTP.
//!
//! Repositories are bare repositories under one root directory, written to
//! directly with git2 (no work tree): [`GitRepo::commit`] applies a set of
//! [`Changes`] to a branch. [`GitServer`] serves the root at
//! `http://127.0.0.1:<port>/<name>.git` by running `git http-backend` as a
//! CGI program (fetch and clone only; pushes are refused).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, RepositoryInitOptions, Signature};
use http::{HeaderName, HeaderValue, StatusCode};
use rand::distributions::Alphanumeric;
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// The default branch of every test repository.
pub const DEFAULT_BRANCH: &str = "main";

// === server ===

/// Serves the bare repositories under a root directory over smart HTTP.
#[derive(Debug)]
pub struct GitServer {
    root: PathBuf,
    base_url: String,
    task: JoinHandle<()>,
}

impl GitServer {
    /// Serves `root` on a free loopback port, on the current tokio runtime.
    pub async fn start(root: &Path) -> Result<GitServer> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the git http server")?;
        let addr = listener.local_addr()?;
        let project_root = root.to_owned();
        let app = axum::Router::new().fallback(move |connect: ConnectInfo<SocketAddr>, request: Request| {
            let project_root = project_root.clone();
            async move {
                match http_backend(&project_root, connect.0, request).await {
                    Ok(response) => response,
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "git http-backend failed");
                        (StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed\n").into_response()
                    }
                }
            }
        });
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(error) = axum::serve(listener, service).await {
                tracing::warn!(%error, "git http server stopped");
            }
        });
        Ok(GitServer {
            root: root.to_owned(),
            base_url: format!("http://{addr}"),
            task,
        })
    }

    /// Directory holding the bare repositories.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Creates an empty bare repository `<prefix>-<random>.git` (HEAD on
    /// [`DEFAULT_BRANCH`], no commits yet).
    pub async fn create_repo(&self, prefix: &str) -> Result<GitRepo> {
        let suffix: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(6)
            .map(|c| char::from(c).to_ascii_lowercase())
            .collect();
        GitRepo::init(
            &self.root,
            &format!("{prefix}-{suffix}"),
            Some(&self.base_url),
        )
        .await
    }

    /// Creates a repository and commits `files` to [`DEFAULT_BRANCH`].
    pub async fn create_repo_with<I, K, V>(
        &self,
        prefix: &str,
        files: I,
    ) -> Result<(GitRepo, String)>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Vec<u8>>,
    {
        let repo = self.create_repo(prefix).await?;
        let sha = repo.commit_files(files).await?;
        Ok((repo, sha))
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn http_backend(project_root: &Path, peer: SocketAddr, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("REMOTE_ADDR", peer.ip().to_string())
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (var, name) in [
        ("CONTENT_TYPE", "content-type"),
        ("CONTENT_LENGTH", "content-length"),
        ("HTTP_CONTENT_ENCODING", "content-encoding"),
        ("HTTP_GIT_PROTOCOL", "git-protocol"),
    ] {
        if let Some(value) = header(name) {
            command.env(var, value);
        }
    }
    let mut child = command.spawn().context("spawning git http-backend")?;
    let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
    let mut stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;

    // Feed the body while the response is read, so neither pipe can fill up.
    tokio::spawn(async move {
        let mut body = body.into_data_stream();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut errors = String::new();
        let _ = stderr.read_to_string(&mut errors).await;
        let status = child.wait().await;
        if !errors.trim().is_empty() {
            tracing::debug!(stderr = %errors.trim(), ?status, "git http-backend");
        }
    });

    // CGI headers end at the first empty line.
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let body_start = loop {
        if let Some(end) = find_header_end(&head) {
            break end;
        }
        let n = stdout
            .read(&mut buf)
            .await
            .context("reading git http-backend output")?;
        if n == 0 {
            bail!("git http-backend ended before its headers");
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 64 * 1024 {
            bail!("git http-backend headers too long");
        }
    };
    let rest = head.split_off(body_start.1);
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in String::from_utf8_lossy(&head[..body_start.0]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default();
            status = code.parse().context("bad CGI status")?;
        } else {
            let name = HeaderName::from_bytes(name.trim().as_bytes()).context("bad CGI header")?;
            response = response.header(
                name,
                HeaderValue::from_str(value).context("bad CGI header value")?,
            );
        }
    }
    let first = futures::stream::iter(
        (!rest.is_empty()).then(|| Ok::<Bytes, std::io::Error>(Bytes::from(rest))),
    );
    let body = Body::from_stream(first.chain(read_stream(stdout)));
    Ok(response.status(status).body(body)?)
}

/// `(end of headers, start of body)` if the header block is complete.
fn find_header_end(data: &[u8]) -> Option<(usize, usize)> {
    let crlf = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn read_stream<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0u8; 32 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

// === repositories ===

/// One change to a tree.
#[derive(Debug, Clone)]
enum Change {
    Write {
        path: String,
        content: Vec<u8>,
        mode: FileMode,
    },
    Delete {
        path: String,
    },
}

/// A set of file changes for one commit.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    changes: Vec<Change>,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a regular file (parent directories are implied).
    pub fn write(mut self, path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        self.changes.push(Change::Write {
            path: path.into(),
            content: content.into(),
            mode: FileMode::Blob,
        });
        self
    }

    /// Adds or replaces an executable file.
    pub fn write_executable(
        mut self,
        path: impl Into<String>,
        content: impl Into<Vec<u8>>,
    ) -> Self {
        self.changes.push(Change::Write {
            path: path.into(),
            content: content.into(),
            mode: FileMode::BlobExecutable,
        });
        self
    }

    /// Adds a symbolic link at `path` pointing to `target` (stored as is,
    /// e.g. `../../etc/passwd` or `/`).
    pub fn symlink(mut self, path: impl Into<String>, target: impl Into<String>) -> Self {
        self.changes.push(Change::Write {
            path: path.into(),
            content: target.into().into_bytes(),
            mode: FileMode::Link,
        });
        self
    }

    /// Removes a file, or a whole directory.
    pub fn delete(mut self, path: impl Into<String>) -> Self {
        self.changes.push(Change::Delete { path: path.into() });
        self
    }
}

impl<K: Into<String>, V: Into<Vec<u8>>> FromIterator<(K, V)> for Changes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Changes::new(), |c, (k, v)| c.write(k, v))
    }
}

/// A bare test repository, reachable as `file://` and (when served) HTTP URL.
#[derive(Debug, Clone)]
pub struct GitRepo {
    name: String,
    path: PathBuf,
    http_url: Option<String>,
}

impl GitRepo {
    /// Creates an empty bare repository `<root>/<name>.git` with HEAD on
    /// [`DEFAULT_BRANCH`]; `http_base` is the serving [`GitServer`]'s base URL.
    pub async fn init(root: &Path, name: &str, http_base: Option<&str>) -> Result<GitRepo> {
        let path = root.join(format!("{name}.git"));
        let repo = GitRepo {
            name: name.to_owned(),
            path: path.clone(),
            http_url: http_base.map(|base| format!("{base}/{name}.git")),
        };
        tokio::task::spawn_blocking(move || {
            let mut options = RepositoryInitOptions::new();
            options
                .bare(true)
                .no_reinit(true)
                .initial_head(DEFAULT_BRANCH);
            Repository::init_opts(&path, &options)
                .map(|_| ())
                .with_context(|| format!("creating git repository {}", path.display()))
        })
        .await??;
        Ok(repo)
    }

    /// `<name>` without `.git`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bare repository directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `file:///.../<name>.git`.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// `http://127.0.0.1:<port>/<name>.git`; fails for repositories created
    /// without a server.
    pub fn http_url(&self) -> Result<String> {
        self.http_url
            .clone()
            .ok_or_else(|| anyhow!("repository {} is not served over http", self.name))
    }

    /// Commits `files` (path -> content) to [`DEFAULT_BRANCH`]; returns the SHA.
    pub async fn commit_files<I, K, V>(&self, files: I) -> Result<String>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Vec<u8>>,
    {
        self.commit(DEFAULT_BRANCH, "update files", files.into_iter().collect())
            .await
    }

    /// Removes `paths` on [`DEFAULT_BRANCH`] in one commit; returns the SHA.
    pub async fn delete_files(&self, paths: &[&str]) -> Result<String> {
        let changes = paths.iter().fold(Changes::new(), |c, p| c.delete(*p));
        self.commit(DEFAULT_BRANCH, "delete files", changes).await
    }

    /// Applies `changes` on top of `branch` (created if missing, as a root
    /// commit) and moves the branch; returns the new commit's SHA.
    pub async fn commit(&self, branch: &str, message: &str, changes: Changes) -> Result<String> {
        let path = self.path.clone();
        let branch = branch.to_owned();
        let message = message.to_owned();
        tokio::task::spawn_blocking(move || commit_blocking(&path, &branch, &message, changes))
            .await?
    }

    /// Creates (or moves) branch `name` to `rev` (a SHA, branch or tag).
    pub async fn create_branch(&self, name: &str, rev: &str) -> Result<()> {
        self.with_repo(name, rev, |repo, name, commit| {
            repo.branch(name, &commit, true).map(|_| ())
        })
        .await
    }

    /// Moves `branch` to `rev`, as a force-push would (history may vanish).
    pub async fn reset_branch(&self, branch: &str, rev: &str) -> Result<()> {
        self.create_branch(branch, rev).await
    }

    /// Creates a lightweight tag `name` at `rev`.
    pub async fn create_tag(&self, name: &str, rev: &str) -> Result<()> {
        self.with_repo(name, rev, |repo, name, commit| {
            repo.tag_lightweight(name, commit.as_object(), true)
                .map(|_| ())
        })
        .await
    }

    /// Creates an annotated tag `name` at `rev`.
    pub async fn create_annotated_tag(&self, name: &str, rev: &str, message: &str) -> Result<()> {
        let message = message.to_owned();
        self.with_repo(name, rev, move |repo, name, commit| {
            repo.tag(name, commit.as_object(), &signature()?, &message, true)
                .map(|_| ())
        })
        .await
    }

    /// Deletes a branch or tag reference (`refs/heads/x`, `refs/tags/x`).
    pub async fn delete_ref(&self, reference: &str) -> Result<()> {
        let path = self.path.clone();
        let reference = reference.to_owned();
        tokio::task::spawn_blocking(move || {
            let repo = Repository::open_bare(&path)?;
            repo.find_reference(&reference)?.delete()?;
            Ok(())
        })
        .await?
    }

    /// The commit SHA `rev` resolves to.
    pub async fn rev_parse(&self, rev: &str) -> Result<String> {
        let path = self.path.clone();
        let rev = rev.to_owned();
        tokio::task::spawn_blocking(move || {
            let repo = Repository::open_bare(&path)?;
            let commit = repo
                .revparse_single(&rev)
                .and_then(|o| o.peel_to_commit())
                .with_context(|| format!("resolving {rev}"))?;
            Ok(commit.id().to_string())
        })
        .await?
    }

    async fn with_repo<F>(&self, name: &str, rev: &str, action: F) -> Result<()>
    where
        F: FnOnce(&Repository, &str, git2::Commit<'_>) -> std::result::Result<(), git2::Error>
            + Send
            + 'static,
    {
        let path = self.path.clone();
        let name = name.to_owned();
        let rev = rev.to_owned();
        tokio::task::spawn_blocking(move || {
            let repo = Repository::open_bare(&path)?;
            let commit = repo
                .revparse_single(&rev)
                .and_then(|o| o.peel_to_commit())
                .with_context(|| format!("resolving {rev}"))?;
            action(&repo, &name, commit).with_context(|| format!("updating {name}"))
        })
        .await?
    }
}

fn signature() -> std::result::Result<Signature<'static>, git2::Error> {
    Signature::now("Caravel Test", "test@caravel.dev")
}

fn commit_blocking(path: &Path, branch: &str, message: &str, changes: Changes) -> Result<String> {
    let repo =
        Repository::open_bare(path).with_context(|| format!("opening {}", path.display()))?;
    let reference = format!("refs/heads/{branch}");
    let parent = match repo.find_reference(&reference) {
        Ok(r) => Some(r.peel_to_commit()?),
        Err(e) if e.code() == git2::ErrorCode::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let base_tree = match &parent {
        Some(commit) => commit.tree()?,
        None => {
            let empty = repo.treebuilder(None)?.write()?;
            repo.find_tree(empty)?
        }
    };
    let mut update = TreeUpdateBuilder::new();
    for change in &changes.changes {
        match change {
            Change::Write {
                path,
                content,
                mode,
            } => {
                let blob: Oid = repo.blob(content)?;
                update.upsert(path.as_str(), blob, *mode);
            }
            Change::Delete { path } => {
                if base_tree.get_path(Path::new(path)).is_err() {
                    bail!("cannot delete {path}: not in {branch}");
                }
                update.remove(path.as_str());
            }
        }
    }
    let tree_id = update.create_updated(&repo, &base_tree)?;
    let tree = repo.find_tree(tree_id)?;
    let signature = signature()?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo.commit(
        Some(&reference),
        &signature,
        &signature,
        message,
        &tree,
        &parents,
    )?;
    Ok(oid.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn header_end_is_found_with_either_line_ending() {
        assert_eq!(find_header_end(b"Status: 200\r\n\r\nbody"), Some((11, 15)));
        assert_eq!(find_header_end(b"A: b\n\nbody"), Some((4, 6)));
        assert_eq!(find_header_end(b"A: b\r\n"), None);
    }

    #[tokio::test]
    async fn commits_update_and_delete_files_on_a_branch() {
        let dir = tempfile::tempdir().unwrap();
        let repo = GitRepo::init(dir.path(), "apps", None).await.unwrap();
        let first = repo
            .commit_files([("a/one.yaml", "one"), ("two.yaml", "two")])
            .await
            .unwrap();
        let second = repo
            .commit(
                DEFAULT_BRANCH,
                "change",
                Changes::new()
                    .write("a/one.yaml", "uno")
                    .delete("two.yaml")
                    .symlink("link", "../x"),
            )
            .await
            .unwrap();
        repo.create_tag("v1", &first).await.unwrap();
        repo.create_branch("feature", &first).await.unwrap();
        assert_eq!(repo.rev_parse("v1").await.unwrap(), first);
        assert_eq!(repo.rev_parse("main").await.unwrap(), second);

        let git = Repository::open_bare(repo.path()).unwrap();
        let tree = git
            .find_commit(Oid::from_str(&second).unwrap())
            .unwrap()
            .tree()
            .unwrap();
        let one = tree.get_path(Path::new("a/one.yaml")).unwrap();
        assert_eq!(git.find_blob(one.id()).unwrap().content(), b"uno");
        assert!(tree.get_path(Path::new("two.yaml")).is_err());
        assert_eq!(
            tree.get_path(Path::new("link")).unwrap().filemode(),
            0o120000
        );
        assert!(repo.delete_files(&["missing.yaml"]).await.is_err());
    }
}
