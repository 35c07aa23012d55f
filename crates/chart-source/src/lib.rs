//! Helm chart archives for the repo-server: Argo CD's `source.repoURL` +
//! `source.chart` + `source.targetRevision` resolved to one chart version
//! and fetched as `.tgz` bytes, from a classic HTTP chart repository
//! (`index.yaml`) or an OCI registry (`oci://host/path/chart`).
//!
//! Versions are picked as Helm picks them (exact entry first, else the
//! highest version matching the constraint; `*` or empty means the latest
//! stable release). Downloads are size-capped, time-limited and verified
//! against the digest the index or the manifest promises. Indexes and tag
//! lists are cached for a short TTL; archives are cached by digest and
//! never downloaded twice. Credentials never appear in errors, logs or
//! cache keys.
//!
//! Loading and rendering the archive is `caravel-helm`'s job.

mod cache;
mod credentials;
mod digest;
mod error;
mod http_repository;
mod index;
mod location;
mod oci;
mod resolve;
mod transport;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use crate::cache::{ArchiveStore, MetadataCache};
use crate::location::ChartLocation;
use crate::transport::Transport;

pub use crate::credentials::RepoCredentials;
pub use crate::error::Error;
pub use crate::index::{ChartIndex, IndexEntry};

/// Defaults, in one place.
pub mod defaults {
    use std::time::Duration;

    /// How long an `index.yaml` or a tag list is reused (Argo CD caches
    /// Helm indexes for 3 minutes by default).
    pub const INDEX_CACHE_TTL: Duration = Duration::from_secs(180);
    /// Memory for cached indexes and tag lists.
    pub const INDEX_CACHE_MAX_BYTES: u64 = 256 << 20;
    /// Memory for cached archives when no cache directory is set.
    pub const ARCHIVE_MEMORY_CACHE_MAX_BYTES: u64 = 512 << 20;
    /// Largest `index.yaml` accepted.
    pub const MAX_INDEX_BYTES: u64 = 50 << 20;
    /// Largest chart archive accepted.
    pub const MAX_ARCHIVE_BYTES: u64 = 100 << 20;
    /// TCP + TLS connection setup.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// A whole request, body included.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
    /// Redirects followed per request.
    pub const MAX_REDIRECTS: usize = 10;
}

/// Settings of a [`ChartSource`].
#[derive(Debug, Clone)]
pub struct ChartSourceConfig {
    /// Directory for archives by digest (`<dir>/charts/sha256/<hex>.tgz`);
    /// `None` keeps them in memory, capped by
    /// `archive_memory_cache_max_bytes`. Files are never evicted.
    pub cache_dir: Option<PathBuf>,
    pub index_cache_ttl: Duration,
    pub index_cache_max_bytes: u64,
    pub archive_memory_cache_max_bytes: u64,
    pub max_index_bytes: u64,
    pub max_archive_bytes: u64,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_redirects: usize,
}

impl Default for ChartSourceConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            index_cache_ttl: defaults::INDEX_CACHE_TTL,
            index_cache_max_bytes: defaults::INDEX_CACHE_MAX_BYTES,
            archive_memory_cache_max_bytes: defaults::ARCHIVE_MEMORY_CACHE_MAX_BYTES,
            max_index_bytes: defaults::MAX_INDEX_BYTES,
            max_archive_bytes: defaults::MAX_ARCHIVE_BYTES,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            max_redirects: defaults::MAX_REDIRECTS,
        }
    }
}

/// One chart to fetch: an Argo CD Helm source plus its repository's
/// credentials.
#[derive(Debug, Clone, Default)]
pub struct ChartRequest {
    /// `source.repoURL`: `https://charts.example.com/stable`,
    /// `oci://registry.example.com/charts` (or scheme-less with
    /// `credentials.enable_oci`).
    pub repo_url: String,
    /// `source.chart`. For OCI it is appended to the repository path; it
    /// may be empty when the `oci://` URL already names the chart.
    pub chart: String,
    /// `source.targetRevision`: an exact version, a constraint (`1.2.*`,
    /// `>=1.0 <2`, `^1.2`), or `*`/empty for the latest stable version.
    pub target_revision: String,
    pub credentials: RepoCredentials,
    /// Re-read the index or tag list instead of using the cached one
    /// (hard refresh). Archives stay cached: they are addressed by digest.
    pub refresh: bool,
}

/// A fetched chart archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedChart {
    /// The chart's name as requested (last path segment for OCI).
    pub chart: String,
    /// The version picked for the target revision (with `+`, as in
    /// `Chart.yaml`, also for OCI tags stored with `_`).
    pub version: String,
    /// `sha256:<hex>` of the archive bytes.
    pub digest: String,
    /// For OCI, `sha256:<hex>` of the manifest the archive came from.
    pub manifest_digest: Option<String>,
    /// Where it came from, redacted: the archive URL or `oci://…:tag`.
    pub source: String,
    /// The `.tgz` bytes.
    pub archive: Bytes,
}

/// Fetches chart archives; one per process, shared (all methods take
/// `&self`; caches and HTTP clients live inside).
pub struct ChartSource {
    config: ChartSourceConfig,
    salt: [u8; 32],
    transport: Transport,
    metadata: MetadataCache,
    archives: ArchiveStore,
}

impl std::fmt::Debug for ChartSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ChartSource {
    pub fn new(config: ChartSourceConfig) -> Self {
        // Salts the cache keys so they are not hashes an observer could
        // test guessed passwords against.
        let salt: [u8; 32] = rand::random();
        let archives = match &config.cache_dir {
            Some(dir) => ArchiveStore::disk(dir),
            None => ArchiveStore::memory(config.archive_memory_cache_max_bytes),
        };
        Self {
            transport: Transport::new(
                config.connect_timeout,
                config.request_timeout,
                config.max_redirects,
                salt,
            ),
            metadata: MetadataCache::new(config.index_cache_ttl, config.index_cache_max_bytes),
            archives,
            salt,
            config,
        }
    }

    /// Resolves `request.target_revision` and returns the chart archive.
    pub async fn fetch(&self, request: &ChartRequest) -> Result<FetchedChart, Error> {
        let (location, embedded) =
            ChartLocation::parse(&request.repo_url, &request.chart, &request.credentials)?;
        let mut credentials = request.credentials.clone();
        if credentials.username.is_empty() && !embedded.username.is_empty() {
            credentials.username = embedded.username;
            credentials.password = embedded.password;
        }
        let fetched = match &location {
            ChartLocation::Http { repo, chart } => {
                http_repository::fetch(self, repo, chart, request, &credentials).await
            }
            ChartLocation::Oci(repository) => {
                oci::fetch(self, repository, request, &credentials).await
            }
        };
        match &fetched {
            Ok(chart) => tracing::debug!(
                chart = %chart.chart,
                version = %chart.version,
                digest = %chart.digest,
                source = %chart.source,
                "chart fetched"
            ),
            Err(e) => tracing::debug!(error = %e, kind = e.metric_label(), "chart fetch failed"),
        }
        fetched
    }
}
