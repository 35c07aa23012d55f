//! Git access: repository URLs (normalized for keys, redacted for messages),
//! per-request credentials, listing a remote's refs (`ls-remote`), one local
//! bare mirror per repository fetched only when a wanted commit is missing,
//! and reading files from a commit's tree object.
//!
//! Everything that touches libgit2 is blocking: callers run it in
//! `spawn_blocking`. Credentials live only in [`Credentials`], whose `Debug`
//! hides them, and every libgit2 message is scrubbed before it becomes an
//! [`Error`]. SSH host keys are checked by [`HostKeyVerifier`] (see
//! [`known_hosts`]) unless the repository is marked insecure.

pub mod known_hosts;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, FetchOptions,
    FetchPrune, ObjectType, Oid, Remote, RemoteCallbacks, Repository,
};
use sha2::{Digest, Sha256};

use crate::error::Error;
pub use crate::git::known_hosts::HostKeyVerifier;
use crate::repo_path::{self, Node, ResolveError, Resolved};

// === RepoUrl ===

/// A repository URL in three forms: as given (used to talk to the remote),
/// normalized (mirror directory and cache keys; no userinfo) and redacted
/// (logs and errors; no userinfo either).
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    raw: String,
    normalized: String,
    redacted: String,
    /// Secrets embedded in the URL itself (password, or an HTTP token used
    /// as the user name), scrubbed from messages.
    embedded_secrets: Vec<String>,
}

impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

const SCHEMES: &[&str] = &["file", "http", "https", "ssh", "git"];

impl RepoUrl {
    /// Parses file://, http(s)://, ssh://, git:// and scp-like
    /// `user@host:path` URLs.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        if s.is_empty() {
            return Err(Error::InvalidArgument("repository url is empty".to_owned()));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::InvalidArgument(
                "repository url contains whitespace or control characters".to_owned(),
            ));
        }
        if let Some((scheme, rest)) = s.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if !SCHEMES.contains(&scheme.as_str()) {
                return Err(Error::InvalidArgument(format!(
                    "unsupported repository url scheme {scheme:?}: expected file, http, https, ssh or git"
                )));
            }
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let (userinfo, host) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority),
            };
            if scheme != "file" && host.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "repository url {scheme}://… has no host"
                )));
            }
            let (user, password) = split_userinfo(userinfo);
            let mut embedded_secrets: Vec<String> =
                password.iter().map(|p| (*p).to_owned()).collect();
            let is_http = scheme == "http" || scheme == "https";
            if is_http {
                // A token is often passed as the user name over HTTP.
                embedded_secrets.extend(user.iter().map(|u| (*u).to_owned()));
            }
            if let Some(info) = userinfo {
                embedded_secrets.push(info.to_owned());
            }
            embedded_secrets.retain(|s| !s.is_empty());
            let redacted = format!("{scheme}://{host}{path}");
            let normalized = format!(
                "{scheme}://{}{}",
                host.to_ascii_lowercase(),
                normalize_path(path)
            );
            return Ok(Self {
                raw: s.to_owned(),
                normalized,
                redacted,
                embedded_secrets,
            });
        }
        // scp-like: [user@]host:path, where the host part has no '/'.
        if let Some((authority, path)) = s.split_once(':') {
            let (userinfo, host) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority),
            };
            if !host.is_empty() && !host.contains('/') && !path.is_empty() {
                let (_, password) = split_userinfo(userinfo);
                let mut embedded_secrets: Vec<String> =
                    password.iter().map(|p| (*p).to_owned()).collect();
                embedded_secrets.retain(|s| !s.is_empty());
                let redacted = format!("{host}:{path}");
                let normalized = format!(
                    "ssh://{}/{}",
                    host.to_ascii_lowercase(),
                    normalize_path(path).trim_start_matches('/')
                );
                return Ok(Self {
                    raw: s.to_owned(),
                    normalized,
                    redacted,
                    embedded_secrets,
                });
            }
        }
        Err(Error::InvalidArgument(
            "unsupported repository url: expected file://, http(s)://, ssh:// or scp-like user@host:path"
                .to_owned(),
        ))
    }

    /// The URL as given, for libgit2 only. Never log it.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Lowercased scheme and host, no userinfo, no trailing `/` or `.git`.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// Safe to log: no userinfo (user, password or token).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The port an ssh URL names (`ssh://host:2222/...`, `ssh://[::1]:2222/...`),
    /// else 22; scp-like URLs cannot name one.
    pub fn ssh_port(&self) -> u16 {
        let Some(rest) = self.normalized.strip_prefix("ssh://") else {
            return known_hosts::DEFAULT_SSH_PORT;
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let port = match authority.strip_prefix('[') {
            Some(bracketed) => bracketed
                .split_once(']')
                .and_then(|(_, after)| after.strip_prefix(':')),
            None => authority.rsplit_once(':').map(|(_, port)| port),
        };
        port.and_then(|p| p.parse().ok())
            .unwrap_or(known_hosts::DEFAULT_SSH_PORT)
    }
}

fn split_userinfo(userinfo: Option<&str>) -> (Option<&str>, Option<&str>) {
    match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((u, p)) => (Some(u), Some(p)),
            None => (Some(info), None),
        },
    }
}

fn normalize_path(path: &str) -> &str {
    let p = path.trim_end_matches('/');
    p.strip_suffix(".git").unwrap_or(p).trim_end_matches('/')
}

// === Credentials ===

/// Credentials sent with one request. Held only in memory; `Debug` prints
/// nothing secret.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub ssh_private_key: String,
    /// Skip TLS certificate and SSH host key verification.
    pub insecure: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field(
                "password",
                &(!self.password.is_empty()).then_some("<redacted>"),
            )
            .field(
                "ssh_private_key",
                &(!self.ssh_private_key.is_empty()).then_some("<redacted>"),
            )
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// A repository and the credentials to reach it.
#[derive(Clone, Debug)]
pub struct RepoAccess {
    pub url: RepoUrl,
    pub credentials: Credentials,
}

impl RepoAccess {
    /// Removes the raw URL and every secret from a message.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.replace(self.url.raw(), self.url.redacted());
        let secrets = [
            self.credentials.password.as_str(),
            self.credentials.ssh_private_key.as_str(),
        ];
        for secret in secrets
            .into_iter()
            .chain(self.url.embedded_secrets.iter().map(String::as_str))
        {
            if !secret.is_empty() {
                out = out.replace(secret, "***");
            }
        }
        out
    }

    fn git_error(&self, context: &str, e: &git2::Error) -> Error {
        Error::Git(format!(
            "{context} {}: {}",
            self.url.redacted(),
            self.scrub(e.message())
        ))
    }

    /// Callbacks answering libgit2's credential and certificate questions
    /// from this request's credentials and `host_keys`. A refused ssh host
    /// key is also left in `rejection`: libgit2 replaces the callback's
    /// message with its own "invalid or unknown remote ssh hostkey".
    fn callbacks<'a>(
        &'a self,
        host_keys: &'a HostKeyVerifier,
        rejection: &'a HostKeyRejection,
    ) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        let creds = &self.credentials;
        let mut attempts = 0u32;
        callbacks.credentials(move |_url, username_from_url, allowed| {
            // libgit2 asks again after a rejected credential; give up
            // instead of looping.
            attempts += 1;
            if attempts > 3 {
                return Err(git2::Error::from_str("authentication failed"));
            }
            let user = if !creds.username.is_empty() {
                creds.username.as_str()
            } else {
                username_from_url.unwrap_or("git")
            };
            if allowed.contains(CredentialType::SSH_KEY) && !creds.ssh_private_key.is_empty() {
                let user = username_from_url.unwrap_or(user);
                return Cred::ssh_key_from_memory(user, None, &creds.ssh_private_key, None);
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
                && (!creds.username.is_empty() || !creds.password.is_empty())
            {
                return Cred::userpass_plaintext(user, &creds.password);
            }
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(user);
            }
            Err(git2::Error::from_str(
                "the repository requires credentials that were not provided",
            ))
        });
        let insecure = creds.insecure;
        let port = self.url.ssh_port();
        callbacks.certificate_check(move |cert, host| {
            if insecure {
                return Ok(CertificateCheckStatus::CertificateOk);
            }
            // TLS certificates are left to libgit2's own verification.
            let Some(hostkey) = cert.as_hostkey() else {
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let verdict = match hostkey.hostkey() {
                Some(offered) => host_keys.verify(host, port, offered),
                None => Err(Error::HostKey(format!(
                    "ssh host key verification failed for {host}: the ssh library did not \
                     hand over the server's host key"
                ))),
            };
            verdict
                .map(|()| CertificateCheckStatus::CertificateOk)
                .map_err(|e| {
                    let message = git2::Error::from_str(&e.to_string());
                    rejection.0.set(Some(e));
                    message
                })
        });
        callbacks
    }

    /// The host key rejection if there was one, else the libgit2 error.
    fn connect_error(&self, rejection: &HostKeyRejection, context: &str, e: &git2::Error) -> Error {
        rejection
            .0
            .take()
            .unwrap_or_else(|| self.git_error(context, e))
    }
}

/// Why the ssh host key of one connection was refused, if it was.
#[derive(Default)]
struct HostKeyRejection(Cell<Option<Error>>);

// === ls-remote ===

/// A remote's advertised refs, annotated tags peeled to their commits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteRefs {
    /// The commit `HEAD` points at, if the remote advertises one.
    pub head: Option<String>,
    /// Full ref name (`refs/heads/main`) to the commit SHA.
    pub refs: BTreeMap<String, String>,
}

impl RemoteRefs {
    /// Builds the table from `(name, sha)` advertisement entries. Servers
    /// advertise an annotated tag twice: the tag object, then `name^{}` with
    /// the commit it peels to; the commit wins.
    pub fn from_advertisement<'a>(entries: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let mut refs = BTreeMap::new();
        let mut peeled = HashMap::new();
        let mut head = None;
        for (name, sha) in entries {
            if name == "HEAD" {
                head = Some(sha);
            } else if let Some(base) = name.strip_suffix("^{}") {
                peeled.insert(base.to_owned(), sha);
            } else {
                refs.insert(name.to_owned(), sha);
            }
        }
        for (name, sha) in refs.iter_mut() {
            if let Some(p) = peeled.remove(name) {
                *sha = p;
            }
        }
        Self { head, refs }
    }

    /// Resolves `HEAD` (or ""), a full ref name, a branch or a tag, in that
    /// order, like `git rev-parse` does against a remote.
    pub fn resolve(&self, revision: &str) -> Option<String> {
        if revision.is_empty() || revision == "HEAD" {
            return self.head.clone();
        }
        let candidates = [
            revision.to_owned(),
            format!("refs/heads/{revision}"),
            format!("refs/tags/{revision}"),
        ];
        candidates
            .iter()
            .find_map(|name| self.refs.get(name).cloned())
    }

    /// Branch names, sorted.
    pub fn branches(&self) -> Vec<String> {
        self.short_names("refs/heads/")
    }

    /// Tag names, sorted.
    pub fn tags(&self) -> Vec<String> {
        self.short_names("refs/tags/")
    }

    fn short_names(&self, prefix: &str) -> Vec<String> {
        self.refs
            .keys()
            .filter_map(|name| name.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }
}

/// Lists the remote's refs without fetching (`git ls-remote`). Blocking.
pub fn ls_remote(access: &RepoAccess, host_keys: &HostKeyVerifier) -> Result<RemoteRefs, Error> {
    let mut remote = Remote::create_detached(access.url.raw())
        .map_err(|e| access.git_error("opening remote", &e))?;
    let rejection = HostKeyRejection::default();
    let connection = remote
        .connect_auth(
            Direction::Fetch,
            Some(access.callbacks(host_keys, &rejection)),
            None,
        )
        .map_err(|e| access.connect_error(&rejection, "listing refs of", &e))?;
    let heads = connection
        .list()
        .map_err(|e| access.git_error("listing refs of", &e))?;
    Ok(RemoteRefs::from_advertisement(
        heads.iter().map(|h| (h.name(), h.oid().to_string())),
    ))
}

/// Whether `revision` is a full (40 hex digit) commit SHA.
pub fn is_full_sha(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `revision` could be an abbreviated commit SHA.
pub fn is_short_sha(revision: &str) -> bool {
    (4..40).contains(&revision.len()) && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

// === mirrors ===

/// One bare mirror per repository URL under a root directory, each behind
/// its own lock so fetches of one repository serialize while different
/// repositories fetch in parallel. Every connection to a remote, fetch or
/// ref listing, checks ssh host keys with the store's verifier.
#[derive(Debug)]
pub struct MirrorStore {
    root: PathBuf,
    host_keys: HostKeyVerifier,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    fetches: AtomicU64,
}

impl MirrorStore {
    pub fn new(root: PathBuf, host_keys: HostKeyVerifier) -> Result<Self, Error> {
        create_private_dir(&root).map_err(|e| {
            Error::Startup(format!(
                "creating repository cache directory {}: {e}",
                root.display()
            ))
        })?;
        Ok(Self {
            root,
            host_keys,
            locks: Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
        })
    }

    /// Lists the remote's refs ([`ls_remote`]) on a blocking thread.
    pub async fn ls_remote(&self, access: &RepoAccess) -> Result<RemoteRefs, Error> {
        let access = access.clone();
        let host_keys = self.host_keys.clone();
        blocking(move || ls_remote(&access, &host_keys)).await
    }

    /// How many fetches from remotes this store has made.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The mirror directory of a repository: sha256 of its normalized URL.
    pub fn mirror_path(&self, url: &RepoUrl) -> PathBuf {
        self.root
            .join(hex::encode(Sha256::digest(url.normalized().as_bytes())))
    }

    fn lock_for(&self, url: &RepoUrl) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.locks.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks
            .entry(url.normalized().to_owned())
            .or_default()
            .clone()
    }

    /// Makes sure `sha` is in the mirror, fetching only if it is missing, and
    /// returns the commit it names (annotated tags peel to their commit).
    pub async fn ensure_commit(&self, access: &RepoAccess, sha: &str) -> Result<String, Error> {
        let oid = Oid::from_str(sha)
            .map_err(|_| Error::InvalidArgument(format!("{sha:?} is not a commit sha")))?;
        let path = self.mirror_path(&access.url);
        if let Some(commit) = blocking({
            let path = path.clone();
            move || Ok(find_commit(&path, oid))
        })
        .await?
        {
            return Ok(commit);
        }
        let lock = self.lock_for(&access.url);
        let _guard = lock.lock().await;
        let access2 = access.clone();
        let host_keys = self.host_keys.clone();
        let fetched = blocking(move || {
            if let Some(commit) = find_commit(&path, oid) {
                return Ok((Some(commit), false));
            }
            fetch(&path, &access2, &host_keys, Some(oid))?;
            Ok((find_commit(&path, oid), true))
        })
        .await?;
        if fetched.1 {
            self.fetches.fetch_add(1, Ordering::Relaxed);
        }
        fetched.0.ok_or_else(|| {
            Error::RevisionNotFound(format!(
                "revision {sha} not found in {}",
                access.url.redacted()
            ))
        })
    }

    /// Resolves an abbreviated SHA: fetches all branches and tags, then
    /// looks the prefix up in the mirror.
    pub async fn resolve_short_sha(
        &self,
        access: &RepoAccess,
        short: &str,
    ) -> Result<String, Error> {
        let path = self.mirror_path(&access.url);
        let lock = self.lock_for(&access.url);
        let _guard = lock.lock().await;
        let access2 = access.clone();
        let short2 = short.to_owned();
        let host_keys = self.host_keys.clone();
        let result = blocking(move || {
            fetch(&path, &access2, &host_keys, None)?;
            let repo = Repository::open_bare(&path)
                .map_err(|e| access2.git_error("opening the mirror of", &e))?;
            let commit = repo
                .revparse_single(&format!("{short2}^{{commit}}"))
                .map(|o| o.id().to_string());
            Ok(commit)
        })
        .await;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match result? {
            Ok(sha) => Ok(sha),
            Err(e) if e.code() == git2::ErrorCode::Ambiguous => {
                Err(Error::InvalidArgument(format!(
                    "short sha {short} is ambiguous in {}",
                    access.url.redacted()
                )))
            }
            Err(_) => Err(Error::RevisionNotFound(format!(
                "revision {short} not found in {}",
                access.url.redacted()
            ))),
        }
    }
}

async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The commit `oid` names in the mirror at `path`, if it is there.
fn find_commit(path: &Path, oid: Oid) -> Option<String> {
    let repo = Repository::open_bare(path).ok()?;
    let object = repo.find_object(oid, None).ok()?;
    object.peel_to_commit().ok().map(|c| c.id().to_string())
}

/// Opens the mirror, creating it if it is missing or broken.
fn open_or_init_mirror(path: &Path, access: &RepoAccess) -> Result<Repository, Error> {
    if let Ok(repo) = Repository::open_bare(path) {
        return Ok(repo);
    }
    if path.exists() {
        // A half-created mirror from a crash: start again.
        std::fs::remove_dir_all(path).map_err(|e| {
            Error::Git(format!(
                "removing the broken mirror of {}: {e}",
                access.url.redacted()
            ))
        })?;
    }
    Repository::init_bare(path).map_err(|e| access.git_error("creating the mirror of", &e))
}

/// Fetches every branch and tag into the mirror; if `want` is still
/// missing afterwards, asks for it by id (servers that allow it serve
/// commits no ref points at any more). The URL is used anonymously, so it
/// is never written to the mirror's config.
fn fetch(
    path: &Path,
    access: &RepoAccess,
    host_keys: &HostKeyVerifier,
    want: Option<Oid>,
) -> Result<(), Error> {
    let repo = open_or_init_mirror(path, access)?;
    let mut remote = repo
        .remote_anonymous(access.url.raw())
        .map_err(|e| access.git_error("opening remote", &e))?;
    let rejection = HostKeyRejection::default();
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(access.callbacks(host_keys, &rejection))
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None);
    remote
        .fetch(
            &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
            Some(&mut options),
            None,
        )
        .map_err(|e| access.connect_error(&rejection, "fetching", &e))?;
    if let Some(oid) = want {
        if repo.find_object(oid, None).is_err() {
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(access.callbacks(host_keys, &rejection))
                .download_tags(AutotagOption::None);
            let refspec = format!("+{oid}:refs/caravel/wanted/{oid}");
            if let Err(e) = remote.fetch(&[refspec.as_str()], Some(&mut options), None) {
                tracing::debug!(
                    repo = %access.url.redacted(),
                    error = %access.scrub(e.message()),
                    "fetching a commit by id failed"
                );
            }
        }
    }
    Ok(())
}

// === reading trees ===

/// The tree of one commit in a mirror. Files are read from Git objects, never
/// from a shared working copy.
pub struct CommitTree {
    repo: Repository,
    tree_id: Oid,
}

/// One entry of a directory listing.
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// The raw name: Git allows any bytes but NUL and `/`.
    pub name: Vec<u8>,
    pub kind: EntryKind,
    pub id: Oid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
    Other,
}

const MODE_TYPE_MASK: i32 = 0o170000;
const MODE_DIR: i32 = 0o040000;
const MODE_FILE: i32 = 0o100000;
const MODE_SYMLINK: i32 = 0o120000;

fn entry_kind(filemode: i32) -> EntryKind {
    match filemode & MODE_TYPE_MASK {
        MODE_DIR => EntryKind::Dir,
        MODE_FILE => EntryKind::File,
        MODE_SYMLINK => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

impl CommitTree {
    /// Opens the tree of `commit`, which must be in the mirror at
    /// `mirror`. Blocking.
    pub fn open(mirror: &Path, url: &RepoUrl, commit: &str) -> Result<Self, Error> {
        let mirror_error = |e: git2::Error| {
            Error::Git(format!(
                "reading commit {commit} of {}: {}",
                url.redacted(),
                e.message()
            ))
        };
        let repo = Repository::open_bare(mirror).map_err(mirror_error)?;
        let oid = Oid::from_str(commit).map_err(mirror_error)?;
        let tree_id = repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map(|t| t.id())
            .map_err(mirror_error)?;
        Ok(Self { repo, tree_id })
    }

    fn git_error(&self, context: &str, e: &git2::Error) -> Error {
        Error::Git(format!("{context}: {}", e.message()))
    }

    /// What the real path (no symlinks in it) names, if anything.
    pub fn lookup(&self, path: &[String]) -> Result<Option<Node<Oid>>, Error> {
        if path.is_empty() {
            return Ok(Some(Node::Dir(self.tree_id)));
        }
        let tree = self
            .repo
            .find_tree(self.tree_id)
            .map_err(|e| self.git_error("reading the root tree", &e))?;
        let entry = match tree.get_path(Path::new(&path.join("/"))) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(self.git_error(&format!("reading {}", path.join("/")), &e)),
        };
        Ok(Some(match entry_kind(entry.filemode()) {
            EntryKind::Dir => Node::Dir(entry.id()),
            EntryKind::File => Node::File(entry.id()),
            EntryKind::Symlink => Node::Symlink(self.symlink_target(path, entry.id())?),
            EntryKind::Other => Node::Other,
        }))
    }

    fn symlink_target(&self, path: &[String], id: Oid) -> Result<String, Error> {
        let link = path.join("/");
        let (size, _) = self
            .repo
            .odb()
            .and_then(|odb| odb.read_header(id))
            .map_err(|e| self.git_error(&format!("reading symlink {link}"), &e))?;
        if size > repo_path::MAX_SYMLINK_TARGET_LEN {
            return Err(Error::Render(format!(
                "symlink {link} has a target that is too long"
            )));
        }
        let blob = self
            .repo
            .find_blob(id)
            .map_err(|e| self.git_error(&format!("reading symlink {link}"), &e))?;
        String::from_utf8(blob.content().to_vec()).map_err(|_| {
            Error::Render(format!(
                "symlink {link} has a target that is not valid utf-8"
            ))
        })
    }

    /// Resolves a path from the repository root, following symlinks that
    /// stay inside the repository. `Ok(None)` if it does not exist.
    pub fn resolve(&self, path: &[String]) -> Result<Option<Resolved<Oid>>, Error> {
        repo_path::resolve(path, |p: &[String]| self.lookup(p)).map_err(|e| match e {
            ResolveError::Lookup(e) => e,
            other => Error::Render(other.to_string()),
        })
    }

    /// The entries of the directory tree `id`, in Git's (name) order.
    pub fn list(&self, id: Oid) -> Result<Vec<DirEntry>, Error> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| self.git_error("reading a directory", &e))?;
        Ok(tree
            .iter()
            .map(|entry| DirEntry {
                name: entry.name_bytes().to_vec(),
                kind: entry_kind(entry.filemode()),
                id: entry.id(),
            })
            .collect())
    }

    /// The size of a blob, without loading it.
    pub fn blob_size(&self, id: Oid) -> Result<u64, Error> {
        let (size, kind) = self
            .repo
            .odb()
            .and_then(|odb| odb.read_header(id))
            .map_err(|e| self.git_error("reading a file header", &e))?;
        if kind != ObjectType::Blob {
            return Err(Error::Git(format!("object {id} is not a file")));
        }
        Ok(size as u64)
    }

    /// The content of a blob.
    pub fn read_blob(&self, id: Oid) -> Result<Vec<u8>, Error> {
        self.repo
            .find_blob(id)
            .map(|b| b.content().to_vec())
            .map_err(|e| self.git_error("reading a file", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_are_redacted_and_normalized_without_userinfo() -> Result<(), Error> {
        let url = RepoUrl::parse("https://user:s3cret@GitHub.com/Org/Repo.git/")?;
        assert_eq!(url.redacted(), "https://GitHub.com/Org/Repo.git/");
        assert_eq!(url.normalized(), "https://github.com/Org/Repo");
        assert!(!format!("{url:?}").contains("s3cret"));
        let token = RepoUrl::parse("https://ghp_token123@github.com/org/repo")?;
        assert!(!token.redacted().contains("ghp_token123"));
        assert_eq!(token.normalized(), "https://github.com/org/repo");
        Ok(())
    }

    #[test]
    fn ssh_and_scp_urls_are_redacted_of_userinfo() -> Result<(), Error> {
        let scp = RepoUrl::parse("git@github.com:org/repo.git")?;
        assert_eq!(scp.redacted(), "github.com:org/repo.git");
        assert_eq!(scp.normalized(), "ssh://github.com/org/repo");
        let ssh = RepoUrl::parse("ssh://git:pw@host:2222/org/repo")?;
        assert_eq!(ssh.redacted(), "ssh://host:2222/org/repo");
        let file = RepoUrl::parse("file:///tmp/Repo")?;
        assert_eq!(file.normalized(), "file:///tmp/Repo");
        Ok(())
    }

    #[test]
    fn ssh_ports_come_from_the_url_and_default_to_22() -> Result<(), Error> {
        let port = |url: &str| RepoUrl::parse(url).map(|u| u.ssh_port());
        assert_eq!(port("ssh://git@host:2222/org/repo")?, 2222);
        assert_eq!(port("ssh://git:pw@host/org/repo")?, 22);
        assert_eq!(port("ssh://[::1]:2200/repo")?, 2200);
        assert_eq!(port("ssh://[::1]/repo")?, 22);
        assert_eq!(port("git@host:org/repo.git")?, 22);
        assert_eq!(port("https://host:8443/repo")?, 22);
        Ok(())
    }

    #[test]
    fn unsupported_urls_are_invalid_arguments() {
        for bad in [
            "",
            "/tmp/repo",
            "ftp://host/x",
            "https://host/a b",
            "http:///x",
        ] {
            assert!(
                matches!(RepoUrl::parse(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn scrub_removes_passwords_and_raw_urls() -> Result<(), Error> {
        let access = RepoAccess {
            url: RepoUrl::parse("https://me:urlpass@host/repo")?,
            credentials: Credentials {
                username: "me".into(),
                password: "hunter2".into(),
                ..Default::default()
            },
        };
        let msg = access.scrub("failed https://me:urlpass@host/repo with hunter2 and urlpass");
        assert!(
            !msg.contains("hunter2") && !msg.contains("urlpass"),
            "{msg}"
        );
        assert!(msg.contains("https://host/repo"), "{msg}");
        Ok(())
    }

    #[test]
    fn advertisement_peels_annotated_tags_and_resolves_in_order() {
        let refs = RemoteRefs::from_advertisement([
            ("HEAD", "h".to_owned()),
            ("refs/heads/main", "h".to_owned()),
            ("refs/heads/v1", "b".to_owned()),
            ("refs/tags/v1", "tagobj".to_owned()),
            ("refs/tags/v1^{}", "c".to_owned()),
            ("refs/tags/light", "d".to_owned()),
        ]);
        let sha = |r: &str| refs.resolve(r);
        assert_eq!(sha("").as_deref(), Some("h"));
        assert_eq!(sha("HEAD").as_deref(), Some("h"));
        assert_eq!(sha("main").as_deref(), Some("h"));
        // A branch wins over a tag of the same name, like git rev-parse.
        assert_eq!(sha("v1").as_deref(), Some("b"));
        assert_eq!(sha("refs/tags/v1").as_deref(), Some("c"));
        assert_eq!(sha("light").as_deref(), Some("d"));
        assert_eq!(sha("nope"), None);
        assert_eq!(refs.branches(), vec!["main", "v1"]);
        assert_eq!(refs.tags(), vec!["light", "v1"]);
    }
}
