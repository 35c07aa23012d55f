//! Caravel's repo-server: keeps one bare mirror per Git repository, resolves
//! revisions, renders Application sources into manifests and caches the
//! results in memory and Redis. Served over gRPC as
//! `caravel.reposerver.v1.RepoServerService`.
//!
//! `main.rs` only parses flags into [`Config`] and calls [`run`]; tests start
//! the server in-process through [`RepoServer`].

pub mod cache;
pub mod error;
pub mod git;
pub mod repo_path;
pub mod service;
pub mod source;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use caravel_proto::reposerver::v1::repo_server_service_server::RepoServerServiceServer;

use crate::cache::{ManifestCache, ManifestCacheConfig, RefsCache};
pub use crate::error::Error;
use crate::git::{HostKeyVerifier, MirrorStore};
use crate::service::{RepoService, State};
use crate::source::RenderLimits;

/// The gRPC service name, as registered for health checks.
pub const SERVICE_NAME: &str = "caravel.reposerver.v1.RepoServerService";

/// Argo CD's revision cache expiration.
pub const DEFAULT_REVISION_CACHE_TTL: Duration = Duration::from_secs(3 * 60);
/// Argo CD's repo cache expiration.
pub const DEFAULT_MANIFEST_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Argo CD's `--max-combined-directory-manifests-size` default (10M).
pub const DEFAULT_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE: u64 = 10_000_000;
/// Default capacity of the in-memory manifest cache.
pub const DEFAULT_MANIFEST_MEMORY_CACHE_SIZE: u64 = 256 * 1024 * 1024;

/// Everything the repo-server is configured with.
#[derive(Clone)]
pub struct Config {
    /// Directory holding one bare mirror per repository URL.
    pub repo_cache_dir: PathBuf,
    /// How long remote ref listings (branch/tag/HEAD resolution) are cached.
    pub revision_cache_ttl: Duration,
    /// How long rendered manifests are cached (memory and Redis).
    pub manifest_cache_ttl: Duration,
    /// Capacity of the in-memory manifest cache, in bytes of manifests.
    pub manifest_memory_cache_size: u64,
    /// Redis URL (`redis://[:password@]host:port/db`); no Redis tier if unset.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this server writes.
    pub redis_key_prefix: String,
    /// HMAC key signing Redis entries; random per process if unset.
    pub cache_signing_key: Option<String>,
    /// Limit on the combined size of a directory app's manifest files.
    pub max_combined_directory_manifests_size: u64,
    /// OpenSSH known_hosts file that ssh servers' host keys are checked
    /// against, read on every connection. `None`: every ssh host is unknown
    /// and refused, unless the repository is marked insecure.
    pub ssh_known_hosts: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            repo_cache_dir: default_repo_cache_dir(),
            revision_cache_ttl: DEFAULT_REVISION_CACHE_TTL,
            manifest_cache_ttl: DEFAULT_MANIFEST_CACHE_TTL,
            manifest_memory_cache_size: DEFAULT_MANIFEST_MEMORY_CACHE_SIZE,
            redis_url: None,
            redis_key_prefix: "caravel".to_owned(),
            cache_signing_key: None,
            max_combined_directory_manifests_size: DEFAULT_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE,
            ssh_known_hosts: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("repo_cache_dir", &self.repo_cache_dir)
            .field("revision_cache_ttl", &self.revision_cache_ttl)
            .field("manifest_cache_ttl", &self.manifest_cache_ttl)
            .field(
                "manifest_memory_cache_size",
                &self.manifest_memory_cache_size,
            )
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field(
                "cache_signing_key",
                &self.cache_signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "max_combined_directory_manifests_size",
                &self.max_combined_directory_manifests_size,
            )
            .field("ssh_known_hosts", &self.ssh_known_hosts)
            .finish()
    }
}

/// `caravel-repo-cache` under the system temp directory.
pub fn default_repo_cache_dir() -> PathBuf {
    std::env::temp_dir().join("caravel-repo-cache")
}

/// Parses a Kubernetes-style quantity such as `10M`, `512Ki` or `1G` into
/// bytes (as Argo CD's `--max-combined-directory-manifests-size` does).
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let number: u64 = digits.parse().map_err(|_| {
        format!(
            "invalid size {input:?}: expected a number with an optional suffix like 10M or 512Ki"
        )
    })?;
    let factor: u64 = match suffix {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => {
            return Err(format!(
                "invalid size suffix {other:?} in {input:?}: use k, M, G, Ki, Mi or Gi"
            ))
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("size {input:?} is too large"))
}

/// A configured repo-server. Tests keep a clone to read its counters.
#[derive(Clone, Debug)]
pub struct RepoServer {
    state: Arc<State>,
}

impl RepoServer {
    /// Prepares the mirror directory and caches. Redis is connected lazily.
    pub async fn new(config: Config) -> Result<Self, Error> {
        let state = State {
            mirrors: MirrorStore::new(
                config.repo_cache_dir.clone(),
                HostKeyVerifier::new(config.ssh_known_hosts.clone()),
            )?,
            refs: RefsCache::new(config.revision_cache_ttl),
            manifests: ManifestCache::new(&ManifestCacheConfig {
                ttl: config.manifest_cache_ttl,
                memory_capacity: config.manifest_memory_cache_size,
                redis_url: config.redis_url.clone(),
                redis_key_prefix: config.redis_key_prefix.clone(),
                signing_key: config.cache_signing_key.clone(),
            })?,
            limits: RenderLimits {
                max_combined_directory_manifests_size: config.max_combined_directory_manifests_size,
                helm: Default::default(),
            },
            renders: AtomicU64::new(0),
            charts: caravel_chart_source::ChartSource::new(
                caravel_chart_source::ChartSourceConfig {
                    cache_dir: Some(config.repo_cache_dir.join("helm")),
                    ..Default::default()
                },
            ),
        };
        Ok(Self {
            state: Arc::new(state),
        })
    }

    /// How many renders this server started (cache misses).
    pub fn render_count(&self) -> u64 {
        self.state.render_count()
    }

    /// How many fetches from Git remotes this server made.
    pub fn fetch_count(&self) -> u64 {
        self.state.mirrors.fetch_count()
    }

    /// The tonic service, for embedding in another server.
    pub fn service(&self) -> RepoServerServiceServer<RepoService> {
        RepoServerServiceServer::new(RepoService::new(self.state.clone()))
    }

    /// Serves gRPC (plus health and reflection) on `listener` until
    /// `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let routes = tonic::service::Routes::new(self.service());
        caravel_grpc::serve(listener, routes, &[SERVICE_NAME], shutdown)
            .await
            .map_err(|e| Error::Startup(format!("serving grpc: {e}")))
    }
}

/// Runs the repo-server on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let server = RepoServer::new(config).await?;
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, "repo-server listening"),
        Err(e) => tracing::info!(error = %e, "repo-server listening"),
    }
    server.serve(listener, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_kubernetes_quantities() {
        assert_eq!(parse_size("10M"), Ok(10_000_000));
        assert_eq!(parse_size("512Ki"), Ok(512 * 1024));
        assert_eq!(parse_size("1Gi"), Ok(1 << 30));
        assert_eq!(parse_size("42"), Ok(42));
        assert!(parse_size("10X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn config_debug_hides_secrets() {
        let config = Config {
            redis_url: Some("redis://:pw@host".into()),
            cache_signing_key: Some("topsecret".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("pw@") && !shown.contains("topsecret"),
            "{shown}"
        );
    }
}
