//! The `caravel-repo-server` binary: flags to [`Config`], telemetry, serve
//! until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use caravel_repo_server::{parse_size, Config};
use clap::Parser;

/// Rendering allocates many small values; mimalloc is markedly faster at
/// that than glibc's allocator (measured by scripts/helm-bench.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Caravel repo-server: Git access and manifest rendering over gRPC.
#[derive(Debug, Parser)]
#[command(name = "caravel-repo-server", version)]
struct Opt {
    /// Address to serve gRPC on.
    #[arg(
        long,
        env = "CARAVEL_REPO_SERVER_LISTEN",
        default_value = "0.0.0.0:8081"
    )]
    listen: SocketAddr,

    /// Address of the HTTP health endpoint (`/healthz`) for probes.
    #[arg(
        long,
        env = "CARAVEL_REPO_SERVER_HEALTH_LISTEN",
        default_value = "0.0.0.0:8084"
    )]
    health_listen: SocketAddr,

    /// Directory holding one bare mirror per repository
    /// (default: caravel-repo-cache under the system temp directory).
    #[arg(long, env = "CARAVEL_REPO_CACHE_DIR")]
    repo_cache_dir: Option<PathBuf>,

    /// How long branch, tag and HEAD resolutions (remote ref listings) are cached.
    #[arg(long, env = "CARAVEL_REPO_SERVER_REVISION_CACHE_TTL", default_value = "3m", value_parser = humantime::parse_duration)]
    revision_cache_ttl: Duration,

    /// How long rendered manifests are cached, in memory and in Redis.
    #[arg(long, env = "CARAVEL_REPO_SERVER_MANIFEST_CACHE_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    manifest_cache_ttl: Duration,

    /// Capacity of the in-memory manifest cache (bytes; k, M, G, Ki, Mi, Gi suffixes).
    #[arg(long, env = "CARAVEL_REPO_SERVER_MANIFEST_MEMORY_CACHE_SIZE", default_value = "256Mi", value_parser = parse_size)]
    manifest_memory_cache_size: u64,

    /// Redis URL for the shared manifest cache, e.g. redis://:password@redis:6379/0.
    /// Without it only the in-memory cache is used.
    #[arg(long, env = "CARAVEL_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,

    /// Redis password, replacing any in --redis-url (the chart reads it from
    /// a Secret).
    #[arg(long, env = "CARAVEL_REDIS_PASSWORD", hide_env_values = true)]
    redis_password: Option<String>,

    /// Prefix of every Redis key the repo-server writes.
    #[arg(long, env = "CARAVEL_REDIS_KEY_PREFIX", default_value = "caravel")]
    redis_key_prefix: String,

    /// Key signing Redis cache entries (HMAC-SHA256). Set the same value on
    /// every replica; if unset a random key is used and entries are not
    /// shared across replicas or restarts.
    #[arg(long, env = "CARAVEL_CACHE_SIGNING_KEY", hide_env_values = true)]
    cache_signing_key: Option<String>,

    /// Maximum combined size of the manifest files of one directory app
    /// (k, M, G, Ki, Mi, Gi suffixes), checked before parsing.
    #[arg(long, env = "CARAVEL_REPO_SERVER_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE", default_value = "10M", value_parser = parse_size)]
    max_combined_directory_manifests_size: u64,

    /// OpenSSH known_hosts file the host keys of ssh repositories are
    /// verified against, read on every connection (the Helm chart mounts
    /// ConfigMap <fullname>-ssh-known-hosts, value repoServer.knownHosts, at
    /// /app/config/ssh/ssh_known_hosts, as Argo CD does with
    /// argocd-ssh-known-hosts-cm). Default: ~/.ssh/known_hosts. A host that
    /// is not in the file, or offers another key, is refused unless the
    /// repository is marked insecure.
    #[arg(long, env = "CARAVEL_SSH_KNOWN_HOSTS")]
    ssh_known_hosts: Option<PathBuf>,

    #[command(flatten)]
    telemetry: caravel_telemetry::TelemetryArgs,
}

impl Opt {
    fn config(self) -> anyhow::Result<Config> {
        let redis_url = self
            .redis_url
            .map(|url| {
                caravel_appstate::redis_url_with_password(&url, self.redis_password.as_deref())
            })
            .transpose()?;
        let ssh_known_hosts = match self.ssh_known_hosts {
            Some(path) => {
                std::fs::File::open(&path).with_context(|| {
                    format!("reading the --ssh-known-hosts file {}", path.display())
                })?;
                Some(path)
            }
            None => std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".ssh").join("known_hosts")),
        };
        Ok(Config {
            repo_cache_dir: self
                .repo_cache_dir
                .unwrap_or_else(caravel_repo_server::default_repo_cache_dir),
            revision_cache_ttl: self.revision_cache_ttl,
            manifest_cache_ttl: self.manifest_cache_ttl,
            manifest_memory_cache_size: self.manifest_memory_cache_size,
            redis_url,
            redis_key_prefix: self.redis_key_prefix,
            cache_signing_key: self.cache_signing_key,
            max_combined_directory_manifests_size: self.max_combined_directory_manifests_size,
            ssh_known_hosts,
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opt = Opt::parse();
    let _telemetry = caravel_telemetry::init("caravel-repo-server", &opt.telemetry)
        .context("starting telemetry")?;
    let listen = opt.listen;
    caravel_grpc::spawn_http_health(opt.health_listen)
        .await
        .with_context(|| format!("binding {}", opt.health_listen))?;
    let config = opt.config()?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    caravel_repo_server::run(config, listener, caravel_grpc::shutdown_signal()).await?;
    Ok(())
}
