//! The gRPC face of the repo-server: validates requests, runs each RPC in a
//! span named after it, calls the domain code in [`State`] and maps its
//! errors to status codes in one place (`impl From<Error> for Status`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use caravel_proto::reposerver::v1::repo_server_service_server::RepoServerService;
use caravel_proto::reposerver::v1::{
    GenerateManifestRequest, GenerateManifestResponse, ListRefsRequest, ListRefsResponse,
    Repository, ResolveRevisionRequest, ResolveRevisionResponse,
};
use tonic::{Request, Response, Status};
use tracing::field::Empty;

use crate::cache::{
    self, CacheSource, CachedManifests, ManifestCache, ManifestKeyInputs, RefsCache,
};
use crate::error::Error;
use crate::git::{self, CommitTree, Credentials, MirrorStore, RemoteRefs, RepoAccess, RepoUrl};
use crate::source::{self, RenderLimits, SourceSpec};

// === errors to status ===

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(m) => Status::invalid_argument(m),
            Error::RevisionNotFound(m) => Status::not_found(m),
            Error::Git(m) => Status::unavailable(m),
            Error::HostKey(m) => Status::failed_precondition(m),
            Error::Render(m) => Status::failed_precondition(m),
            Error::Unsupported(m) => Status::unimplemented(m),
            Error::Startup(m) | Error::Internal(m) => Status::internal(m),
        }
    }
}

/// Logs a failed RPC (inside its span) and converts the result.
fn respond<T>(rpc: &str, result: Result<T, Error>) -> Result<Response<T>, Status> {
    match result {
        Ok(v) => Ok(Response::new(v)),
        Err(e) => {
            tracing::warn!(rpc, error = %e, kind = e.metric_label(), "request failed");
            Err(e.into())
        }
    }
}

// === validation ===

fn repo_access(repo: Option<Repository>) -> Result<RepoAccess, Error> {
    let repo = repo.ok_or_else(|| Error::InvalidArgument("repo is required".to_owned()))?;
    Ok(RepoAccess {
        url: RepoUrl::parse(&repo.repo)?,
        credentials: Credentials {
            username: repo.username,
            password: repo.password,
            ssh_private_key: repo.ssh_private_key,
            insecure: repo.insecure,
        },
    })
}

fn check_revision(revision: &str) -> Result<(), Error> {
    if revision.len() > 1024 || revision.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::InvalidArgument(
            "revision contains spaces or control characters, or is too long".to_owned(),
        ));
    }
    Ok(())
}

// === domain ===

/// Everything the RPCs share.
#[derive(Debug)]
pub struct State {
    pub(crate) mirrors: MirrorStore,
    pub(crate) refs: RefsCache,
    pub(crate) manifests: ManifestCache,
    pub(crate) limits: RenderLimits,
    pub(crate) renders: AtomicU64,
    /// Charts from Helm repositories and OCI registries.
    pub(crate) charts: caravel_chart_source::ChartSource,
}

/// A resolved revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedRevision {
    pub sha: String,
    /// The revision asked for was already a (full or short) SHA.
    pub is_sha: bool,
}

impl State {
    pub fn render_count(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    async fn remote_refs(
        &self,
        access: &RepoAccess,
        no_cache: bool,
    ) -> Result<Arc<RemoteRefs>, Error> {
        self.refs
            .get_or_list(access.url.normalized(), no_cache, || {
                self.mirrors.ls_remote(access)
            })
            .await
    }

    /// Resolves a branch, tag, `HEAD` (or ""), full or short SHA to a
    /// commit. A full SHA needs no network; symbolic names come from the
    /// remote's (cached) ref listing; a short SHA needs a fetch.
    pub async fn resolve_revision(
        &self,
        access: &RepoAccess,
        revision: &str,
        no_cache: bool,
    ) -> Result<ResolvedRevision, Error> {
        if git::is_full_sha(revision) {
            return Ok(ResolvedRevision {
                sha: revision.to_ascii_lowercase(),
                is_sha: true,
            });
        }
        let refs = self.remote_refs(access, no_cache).await?;
        if let Some(sha) = refs.resolve(revision) {
            return Ok(ResolvedRevision { sha, is_sha: false });
        }
        if git::is_short_sha(revision) {
            let sha = self.mirrors.resolve_short_sha(access, revision).await?;
            return Ok(ResolvedRevision { sha, is_sha: true });
        }
        Err(Error::RevisionNotFound(format!(
            "unable to resolve {revision:?} to a commit sha in {}",
            access.url.redacted()
        )))
    }

    async fn render(
        &self,
        access: &RepoAccess,
        commit: &str,
        spec: &SourceSpec,
        request: RenderRequest,
        refs: Vec<ResolvedRef>,
    ) -> Result<CachedManifests, Error> {
        self.renders.fetch_add(1, Ordering::Relaxed);
        let commit = self.mirrors.ensure_commit(access, commit).await?;
        let mirror = self.mirrors.mirror_path(&access.url);
        let ref_mirrors = self.ref_mirrors(refs).await?;
        let url = access.url.clone();
        let spec = spec.clone();
        let limits = self.limits.clone();
        tokio::task::spawn_blocking(move || {
            let tree = CommitTree::open(&mirror, &url, &commit)?;
            let ref_trees = open_refs(&ref_mirrors)?;
            let refs: source::helm::RefTrees<'_> =
                ref_trees.iter().map(|(n, t)| (n.clone(), t)).collect();
            let rendered = source::render(&tree, &spec, &limits, &request.context(), &refs)?;
            Ok(CachedManifests {
                manifests: rendered.manifests,
                revision: commit,
                source_type: rendered.source_type,
            })
        })
        .await?
    }

    /// Makes sure every resolved ref source's commit is in its mirror.
    async fn ref_mirrors(&self, refs: Vec<ResolvedRef>) -> Result<Vec<RefMirror>, Error> {
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let commit = self.mirrors.ensure_commit(&r.access, &r.commit).await?;
            let path = self.mirrors.mirror_path(&r.access.url);
            out.push((r.name, path, r.access.url, commit));
        }
        Ok(out)
    }

    /// Resolves every ref source of a multi-source request.
    async fn resolve_refs(
        &self,
        req: &GenerateManifestRequest,
        no_cache: bool,
    ) -> Result<Vec<ResolvedRef>, Error> {
        let mut out = Vec::with_capacity(req.ref_sources.len());
        for (name, r) in &req.ref_sources {
            let access = repo_access(r.repo.clone())?;
            check_revision(&r.target_revision)?;
            let resolved = self
                .resolve_revision(&access, &r.target_revision, no_cache)
                .await?;
            out.push(ResolvedRef {
                name: name.trim_start_matches('$').to_owned(),
                access,
                commit: resolved.sha,
            });
        }
        Ok(out)
    }

    pub async fn generate_manifest(
        &self,
        req: GenerateManifestRequest,
    ) -> Result<GenerateManifestResponse, Error> {
        let spec = SourceSpec::parse(&req.application_source_json)?;
        spec.check_supported()?;
        if spec.source.chart.is_some() {
            return self.generate_chart_manifest(req, spec).await;
        }
        let access = repo_access(req.repo.clone())?;
        let revision = requested_revision(&req, &spec)?;
        let no_revision_cache = req.no_cache || req.no_revision_cache;
        let resolved = self
            .resolve_revision(&access, &revision, no_revision_cache)
            .await?;
        let refs = self.resolve_refs(&req, no_revision_cache).await?;
        let ref_keys = ref_keys(&refs);
        let key = cache::manifest_key(&ManifestKeyInputs {
            repo: access.url.normalized(),
            commit: &resolved.sha,
            source: &spec.source,
            app_name: &req.app_name,
            namespace: &req.namespace,
            kube_version: &req.kube_version,
            api_versions: &req.api_versions,
            tracking_method: &req.tracking_method,
            refs: &ref_keys,
        });
        let request = RenderRequest::of(&req);
        let (value, origin) = self
            .manifests
            .get_or_render(&key, req.no_cache, || {
                self.render(&access, &resolved.sha, &spec, request, refs)
            })
            .await?;
        Ok(manifest_response(&value, origin, ref_keys))
    }

    /// A chart from a Helm repository or an OCI registry: the version
    /// `targetRevision` (a version or a range) resolves to is fetched (an
    /// archive is immutable, so its digest keys the cache) and rendered.
    async fn generate_chart_manifest(
        &self,
        req: GenerateManifestRequest,
        spec: SourceSpec,
    ) -> Result<GenerateManifestResponse, Error> {
        let repo = req
            .repo
            .clone()
            .ok_or_else(|| Error::InvalidArgument("repo is required".to_owned()))?;
        let revision = requested_revision(&req, &spec)?;
        let no_revision_cache = req.no_cache || req.no_revision_cache;
        let request = caravel_chart_source::ChartRequest {
            repo_url: spec.source.repo_url.clone(),
            chart: spec.source.chart.clone().unwrap_or_default(),
            target_revision: revision,
            credentials: caravel_chart_source::RepoCredentials {
                username: repo.username,
                password: repo.password,
                insecure: repo.insecure,
                enable_oci: repo.enable_oci,
                plain_http: repo.force_http,
                pass_credentials: spec
                    .source
                    .helm
                    .as_ref()
                    .and_then(|h| h.pass_credentials)
                    .unwrap_or(false),
                ..Default::default()
            },
            refresh: no_revision_cache,
        };
        let fetched = self.charts.fetch(&request).await?;
        let refs = self.resolve_refs(&req, no_revision_cache).await?;
        let ref_keys = ref_keys(&refs);
        let key = cache::manifest_key(&ManifestKeyInputs {
            repo: &fetched.source,
            commit: &fetched.digest,
            source: &spec.source,
            app_name: &req.app_name,
            namespace: &req.namespace,
            kube_version: &req.kube_version,
            api_versions: &req.api_versions,
            tracking_method: &req.tracking_method,
            refs: &ref_keys,
        });
        let render_request = RenderRequest::of(&req);
        let version = fetched.version.clone();
        let (value, origin) = self
            .manifests
            .get_or_render(&key, req.no_cache, || async {
                self.renders.fetch_add(1, Ordering::Relaxed);
                let ref_mirrors = self.ref_mirrors(refs).await?;
                let limits = self.limits.clone();
                let archive = fetched.archive.clone();
                let helm = spec.source.helm.clone();
                tokio::task::spawn_blocking(move || {
                    let ref_trees = open_refs(&ref_mirrors)?;
                    let refs: source::helm::RefTrees<'_> =
                        ref_trees.iter().map(|(n, t)| (n.clone(), t)).collect();
                    let manifests = source::helm::render_archive(
                        &archive,
                        helm.as_ref(),
                        &render_request.context(),
                        &refs,
                        &limits.helm,
                    )?;
                    Ok(CachedManifests {
                        manifests,
                        revision: version,
                        source_type: source::helm::SOURCE_TYPE_HELM.to_owned(),
                    })
                })
                .await?
            })
            .await?;
        Ok(manifest_response(&value, origin, ref_keys))
    }
}

/// The revision to render: the request's override (sync `--revision`,
/// rollback), else the source's `targetRevision`; checked.
fn requested_revision(req: &GenerateManifestRequest, spec: &SourceSpec) -> Result<String, Error> {
    let revision = if req.revision.is_empty() {
        spec.source.target_revision.clone().unwrap_or_default()
    } else {
        req.revision.clone()
    };
    check_revision(&revision)?;
    Ok(revision)
}

/// A ref source in its mirror: name, mirror path, URL, commit.
type RefMirror = (String, std::path::PathBuf, RepoUrl, String);

/// The answer to GenerateManifest: the rendered (or cached) manifests,
/// where they came from, and the commit of each `$ref` source.
fn manifest_response(
    value: &CachedManifests,
    origin: CacheSource,
    ref_keys: BTreeMap<String, (String, String)>,
) -> GenerateManifestResponse {
    GenerateManifestResponse {
        manifests: value.manifests.clone(),
        revision: value.revision.clone(),
        source_type: value.source_type.clone(),
        cache_source: origin.as_str().to_owned(),
        ref_revisions: ref_keys.into_iter().map(|(k, (_, c))| (k, c)).collect(),
    }
}

/// What identifies the ref sources in a cache key: name → (normalized
/// URL, commit).
fn ref_keys(refs: &[ResolvedRef]) -> BTreeMap<String, (String, String)> {
    refs.iter()
        .map(|r| {
            (
                r.name.clone(),
                (r.access.url.normalized().to_owned(), r.commit.clone()),
            )
        })
        .collect()
}

/// Opens the trees of resolved ref sources.
fn open_refs(mirrors: &[RefMirror]) -> Result<Vec<(String, CommitTree)>, Error> {
    mirrors
        .iter()
        .map(|(name, path, url, commit)| {
            CommitTree::open(path, url, commit).map(|t| (name.clone(), t))
        })
        .collect()
}

impl RenderRequest {
    fn of(req: &GenerateManifestRequest) -> Self {
        RenderRequest {
            app_name: req.app_name.clone(),
            namespace: req.namespace.clone(),
            kube_version: req.kube_version.clone(),
            api_versions: req.api_versions.clone(),
        }
    }

    fn context(&self) -> source::helm::HelmContext<'_> {
        source::helm::HelmContext {
            app_name: &self.app_name,
            namespace: &self.namespace,
            kube_version: &self.kube_version,
            api_versions: &self.api_versions,
        }
    }
}

/// What a render needs from the request besides the source.
#[derive(Clone, Debug)]
struct RenderRequest {
    app_name: String,
    namespace: String,
    kube_version: String,
    api_versions: Vec<String>,
}

/// A ref source resolved to a commit.
#[derive(Clone, Debug)]
struct ResolvedRef {
    name: String,
    access: RepoAccess,
    commit: String,
}

#[derive(Clone, Debug)]
pub struct RepoService {
    state: Arc<State>,
}

impl RepoService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl RepoServerService for RepoService {
    #[tracing::instrument(name = "GenerateManifest", skip_all, fields(repo = Empty, revision = Empty, app = Empty))]
    async fn generate_manifest(
        &self,
        request: Request<GenerateManifestRequest>,
    ) -> Result<Response<GenerateManifestResponse>, Status> {
        let req = request.into_inner();
        let span = tracing::Span::current();
        if let Some(repo) = &req.repo {
            if let Ok(url) = RepoUrl::parse(&repo.repo) {
                span.record("repo", url.redacted());
            }
        }
        span.record("revision", req.revision.as_str());
        span.record("app", req.app_name.as_str());
        let result = self.state.generate_manifest(req).await;
        if let Ok(resp) = &result {
            span.record("revision", resp.revision.as_str());
            tracing::debug!(
                objects = resp.manifests.len(),
                cache_source = %resp.cache_source,
                "manifests generated"
            );
        }
        respond("GenerateManifest", result)
    }

    #[tracing::instrument(name = "ResolveRevision", skip_all, fields(repo = Empty, revision = Empty, app = Empty))]
    async fn resolve_revision(
        &self,
        request: Request<ResolveRevisionRequest>,
    ) -> Result<Response<ResolveRevisionResponse>, Status> {
        let req = request.into_inner();
        let span = tracing::Span::current();
        span.record("revision", req.revision.as_str());
        let result = async {
            let access = repo_access(req.repo)?;
            span.record("repo", access.url.redacted());
            check_revision(&req.revision)?;
            let resolved = self
                .state
                .resolve_revision(&access, &req.revision, req.no_cache)
                .await?;
            Ok(ResolveRevisionResponse {
                revision: resolved.sha,
                is_sha: resolved.is_sha,
            })
        }
        .await;
        respond("ResolveRevision", result)
    }

    #[tracing::instrument(name = "ListRefs", skip_all, fields(repo = Empty, revision = Empty, app = Empty))]
    async fn list_refs(
        &self,
        request: Request<ListRefsRequest>,
    ) -> Result<Response<ListRefsResponse>, Status> {
        let req = request.into_inner();
        let span = tracing::Span::current();
        let result = async {
            let access = repo_access(req.repo)?;
            span.record("repo", access.url.redacted());
            let refs = self.state.remote_refs(&access, false).await?;
            Ok(ListRefsResponse {
                branches: refs.branches(),
                tags: refs.tags(),
            })
        }
        .await;
        respond("ListRefs", result)
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn errors_map_to_status_codes() {
        let code = |e: Error| Status::from(e).code();
        assert_eq!(
            code(Error::InvalidArgument("x".into())),
            Code::InvalidArgument
        );
        assert_eq!(code(Error::RevisionNotFound("x".into())), Code::NotFound);
        assert_eq!(code(Error::Git("x".into())), Code::Unavailable);
        assert_eq!(code(Error::Render("x".into())), Code::FailedPrecondition);
        assert_eq!(code(Error::Unsupported("x".into())), Code::Unimplemented);
        assert_eq!(code(Error::Internal("x".into())), Code::Internal);
    }

    #[test]
    fn requests_without_a_repo_are_invalid() {
        assert!(matches!(repo_access(None), Err(Error::InvalidArgument(_))));
        assert!(check_revision("main").is_ok());
        assert!(matches!(
            check_revision("a\nb"),
            Err(Error::InvalidArgument(_))
        ));
    }
}
