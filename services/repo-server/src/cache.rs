//! Caches. Manifests live in two tiers: an in-process moka cache in front of
//! Redis (shared by replicas), keyed by a hash of everything that changes
//! the output but never the credentials. Redis entries are gzip-compressed
//! JSON with an HMAC-SHA256 tag over key and payload, so a tampered entry is
//! rejected (and regenerated) instead of deployed. Concurrent identical
//! requests render once: the memory tier's loader, which checks Redis and
//! then renders, runs for one caller while the others wait for it.
//!
//! Remote ref listings (`ls-remote`) get a short in-memory cache with the
//! same one-resolves-others-wait behaviour.
//!
//! Redis is optional and best effort: every operation is bounded by a short
//! timeout, and while it is unreachable the service answers from memory and
//! Git, warning at most once a minute.

use std::future::Future;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravel_crd::application::ApplicationSource;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use hmac::{Hmac, Mac};
use moka::future::Cache;
use rand::RngCore;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::git::RemoteRefs;

/// Bumped whenever rendering or the cached value changes shape, so old
/// entries stop matching.
pub const CACHE_FORMAT_VERSION: u32 = 2;

/// Every Redis operation gives up after this long.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failure, Redis is left alone this long so a dead Redis does not
/// slow every request down by the timeout.
const REDIS_BACKOFF: Duration = Duration::from_secs(5);
/// At most one "Redis unreachable" warning per this interval.
const REDIS_WARN_INTERVAL: Duration = Duration::from_secs(60);
/// Decompressed entries larger than this are rejected.
const MAX_ENTRY_SIZE: u64 = 512 * 1024 * 1024;

const TAG_LEN: usize = 32;

// === keys ===

/// Every input that changes a rendered result. Credentials are not here.
#[derive(Clone, Copy, Debug)]
pub struct ManifestKeyInputs<'a> {
    /// Normalized repository URL (no userinfo).
    pub repo: &'a str,
    /// Resolved commit SHA.
    pub commit: &'a str,
    pub source: &'a ApplicationSource,
    pub app_name: &'a str,
    pub namespace: &'a str,
    pub kube_version: &'a str,
    pub api_versions: &'a [String],
    pub tracking_method: &'a str,
    /// Ref sources of a multi-source app: ref name → (normalized
    /// repository URL, commit).
    pub refs: &'a std::collections::BTreeMap<String, (String, String)>,
}

/// The manifest cache key: hex sha256 over the canonical JSON of the
/// inputs. The source's `repoURL` is replaced by the normalized URL (it may
/// carry credentials) and `targetRevision` dropped (the commit stands for
/// it), so only what changes the output changes the key.
pub fn manifest_key(inputs: &ManifestKeyInputs<'_>) -> String {
    let mut source = serde_json::to_value(inputs.source).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut source {
        map.insert("repoURL".to_owned(), Value::String(inputs.repo.to_owned()));
        map.remove("targetRevision");
    }
    let mut api_versions = inputs.api_versions.to_vec();
    api_versions.sort();
    api_versions.dedup();
    let material = serde_json::json!([
        CACHE_FORMAT_VERSION,
        inputs.repo,
        inputs.commit,
        source,
        inputs.app_name,
        inputs.namespace,
        inputs.kube_version,
        api_versions,
        inputs.tracking_method,
        inputs.refs,
    ]);
    let mut canonical = String::new();
    write_canonical(&material, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// JSON with object keys sorted at every level, whatever map type
/// serde_json was built with.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

// === values ===

/// A cached render.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedManifests {
    pub manifests: Vec<String>,
    /// The commit the manifests were rendered from.
    pub revision: String,
    pub source_type: String,
}

impl CachedManifests {
    fn weight(&self) -> u32 {
        let bytes: usize = self.manifests.iter().map(String::len).sum::<usize>() + 128;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// Where an answer came from, as reported in `cache_source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSource {
    Memory,
    Redis,
    Rendered,
}

impl CacheSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheSource::Memory => "memory",
            CacheSource::Redis => "redis",
            CacheSource::Rendered => "",
        }
    }
}

/// Why a Redis entry was not used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is too short to hold a signature")]
    Truncated,
    #[error("entry signature does not match")]
    BadSignature,
    #[error("entry does not decompress: {0}")]
    Corrupt(String),
    #[error("entry is larger than {MAX_ENTRY_SIZE} bytes")]
    TooLarge,
}

/// Signs and checks Redis entries with HMAC-SHA256.
pub struct EntrySigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for EntrySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntrySigner(<redacted>)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl EntrySigner {
    /// A signer with the configured key, or a random one (entries then only
    /// verify in this process).
    pub fn new(key: Option<&str>) -> Self {
        match key {
            Some(k) if !k.is_empty() => Self {
                key: k.as_bytes().to_vec(),
            },
            _ => {
                let mut key = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                Self { key }
            }
        }
    }

    fn mac(&self, cache_key: &str, payload: &[u8]) -> Result<HmacSha256, Error> {
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .map_err(|e| Error::Internal(format!("creating the cache hmac: {e}")))?;
        // The key is signed too, so a valid entry cannot be copied under
        // another key.
        mac.update(&(cache_key.len() as u64).to_be_bytes());
        mac.update(cache_key.as_bytes());
        mac.update(payload);
        Ok(mac)
    }

    /// `tag || gzip(json(value))`.
    pub fn seal(&self, cache_key: &str, value: &CachedManifests) -> Result<Vec<u8>, Error> {
        use std::io::Write;
        let json = serde_json::to_vec(value)
            .map_err(|e| Error::Internal(format!("serializing a cache entry: {e}")))?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        let payload = gz
            .write_all(&json)
            .and_then(|()| gz.finish())
            .map_err(|e| Error::Internal(format!("compressing a cache entry: {e}")))?;
        let tag = self.mac(cache_key, &payload)?.finalize().into_bytes();
        let mut out = Vec::with_capacity(TAG_LEN + payload.len());
        out.extend_from_slice(&tag);
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Checks the tag (in constant time) before decompressing anything.
    pub fn open(&self, cache_key: &str, entry: &[u8]) -> Result<CachedManifests, EntryError> {
        if entry.len() < TAG_LEN {
            return Err(EntryError::Truncated);
        }
        let (tag, payload) = entry.split_at(TAG_LEN);
        self.mac(cache_key, payload)
            .map_err(|_| EntryError::BadSignature)?
            .verify_slice(tag)
            .map_err(|_| EntryError::BadSignature)?;
        let mut json = Vec::new();
        GzDecoder::new(payload)
            .take(MAX_ENTRY_SIZE + 1)
            .read_to_end(&mut json)
            .map_err(|e| EntryError::Corrupt(e.to_string()))?;
        if json.len() as u64 > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge);
        }
        serde_json::from_slice(&json).map_err(|e| EntryError::Corrupt(e.to_string()))
    }
}

// === Redis tier ===

/// Best-effort Redis: bounded operations, backoff after a failure,
/// rate-limited warnings.
pub struct RedisTier {
    connection: ConnectionManager,
    prefix: String,
    /// Until when Redis is skipped after a failure.
    down_until: Mutex<Option<Instant>>,
    warned_at: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl RedisTier {
    /// Connects lazily: the server starts even while Redis is down.
    pub fn new(url: &str, prefix: &str) -> Result<Self, Error> {
        let scrub = |e: redis::RedisError| {
            let message = e.to_string().replace(url, "<redis url>");
            Error::Startup(format!("invalid --redis-url: {message}"))
        };
        let client = redis::Client::open(url).map_err(scrub)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(REDIS_TIMEOUT);
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(scrub)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            down_until: Mutex::new(None),
            warned_at: Mutex::new(None),
        })
    }

    fn redis_key(&self, key: &str) -> String {
        format!("{}:manifests:{key}", self.prefix)
    }

    fn available(&self) -> bool {
        lock(&self.down_until).is_none_or(|until| Instant::now() >= until)
    }

    fn failed(&self, operation: &str, error: &str) {
        let now = Instant::now();
        *lock(&self.down_until) = Some(now + REDIS_BACKOFF);
        let mut warned = lock(&self.warned_at);
        if warned.is_none_or(|at| now.duration_since(at) >= REDIS_WARN_INTERVAL) {
            *warned = Some(now);
            tracing::warn!(
                operation,
                error,
                "redis is unreachable; answering from memory and git"
            );
        } else {
            tracing::debug!(operation, error, "redis operation failed");
        }
    }

    fn recovered(&self) {
        let mut down = lock(&self.down_until);
        if down.take().is_some() {
            tracing::info!("redis is reachable again");
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, operation: &str, cmd: redis::Cmd) -> Option<T> {
        if !self.available() {
            return None;
        }
        let mut connection = self.connection.clone();
        match tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(&mut connection)).await {
            Ok(Ok(v)) => {
                self.recovered();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(operation, &e.to_string());
                None
            }
            Err(_) => {
                self.failed(operation, "timed out");
                None
            }
        }
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(key));
        self.run::<Option<Vec<u8>>>("get", cmd).await.flatten()
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key))
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs().max(1));
        let _: Option<()> = self.run("set", cmd).await;
    }
}

// === ManifestCache ===

/// Settings of the manifest cache.
#[derive(Clone, Debug)]
pub struct ManifestCacheConfig {
    pub ttl: Duration,
    /// Capacity of the memory tier in bytes of manifests.
    pub memory_capacity: u64,
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    pub signing_key: Option<String>,
}

/// The two-tier manifest cache.
#[derive(Debug)]
pub struct ManifestCache {
    memory: Cache<String, Arc<CachedManifests>>,
    redis: Option<RedisTier>,
    signer: EntrySigner,
    ttl: Duration,
}

impl ManifestCache {
    pub fn new(config: &ManifestCacheConfig) -> Result<Self, Error> {
        let memory = Cache::builder()
            .max_capacity(config.memory_capacity)
            .weigher(|_k: &String, v: &Arc<CachedManifests>| v.weight())
            .time_to_live(config.ttl)
            .build();
        let redis = match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => {
                if config.signing_key.as_deref().is_none_or(str::is_empty) {
                    tracing::warn!(
                        "no --cache-signing-key set: using a random key, so redis cache entries cannot be shared across replicas or restarts"
                    );
                }
                Some(RedisTier::new(url, &config.redis_key_prefix)?)
            }
            None => None,
        };
        Ok(Self {
            memory,
            redis,
            signer: EntrySigner::new(config.signing_key.as_deref()),
            ttl: config.ttl,
        })
    }

    async fn redis_get(&self, key: &str) -> Option<CachedManifests> {
        let redis = self.redis.as_ref()?;
        let entry = redis.get(key).await?;
        match self.signer.open(key, &entry) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(key, error = %e, "rejecting a redis cache entry; rendering again");
                None
            }
        }
    }

    async fn redis_put(&self, key: &str, value: &CachedManifests) {
        let Some(redis) = self.redis.as_ref() else {
            return;
        };
        match self.signer.seal(key, value) {
            Ok(entry) => redis.set(key, &entry, self.ttl).await,
            Err(e) => tracing::warn!(key, error = %e, "not caching manifests in redis"),
        }
    }

    /// Answers from memory, then Redis, then `render`. Concurrent calls for
    /// one key share a single lookup-or-render. With `no_cache` both tiers
    /// are skipped for reading but get the fresh result.
    pub async fn get_or_render<F, Fut>(
        &self,
        key: &str,
        no_cache: bool,
        render: F,
    ) -> Result<(Arc<CachedManifests>, CacheSource), Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedManifests, Error>>,
    {
        if no_cache {
            let value = Arc::new(render().await?);
            self.memory.insert(key.to_owned(), value.clone()).await;
            self.redis_put(key, &value).await;
            return Ok((value, CacheSource::Rendered));
        }
        let from_redis = AtomicBool::new(false);
        let entry = self
            .memory
            .entry(key.to_owned())
            .or_try_insert_with(async {
                if let Some(value) = self.redis_get(key).await {
                    from_redis.store(true, Ordering::Relaxed);
                    return Ok(Arc::new(value));
                }
                let value = render().await?;
                self.redis_put(key, &value).await;
                Ok::<_, Error>(Arc::new(value))
            })
            .await
            .map_err(|e: Arc<Error>| (*e).clone())?;
        let source = if !entry.is_fresh() {
            CacheSource::Memory
        } else if from_redis.load(Ordering::Relaxed) {
            CacheSource::Redis
        } else {
            CacheSource::Rendered
        };
        Ok((entry.into_value(), source))
    }
}

// === RefsCache ===

/// Short-lived cache of remote ref listings, by normalized repository URL.
#[derive(Debug)]
pub struct RefsCache {
    cache: Cache<String, Arc<RemoteRefs>>,
}

impl RefsCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The cached listing, or `list()`'s, with one caller listing while
    /// concurrent callers wait. `no_cache` lists again and stores the result.
    pub async fn get_or_list<F, Fut>(
        &self,
        repo: &str,
        no_cache: bool,
        list: F,
    ) -> Result<Arc<RemoteRefs>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RemoteRefs, Error>>,
    {
        if no_cache {
            let refs = Arc::new(list().await?);
            self.cache.insert(repo.to_owned(), refs.clone()).await;
            return Ok(refs);
        }
        self.cache
            .try_get_with(repo.to_owned(), async { list().await.map(Arc::new) })
            .await
            .map_err(|e: Arc<Error>| (*e).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(json: &str) -> ApplicationSource {
        serde_json::from_str(json).unwrap_or_default()
    }

    fn key_with(source: &ApplicationSource, commit: &str, app: &str, api: &[String]) -> String {
        manifest_key(&ManifestKeyInputs {
            repo: "https://host/repo",
            commit,
            source,
            app_name: app,
            namespace: "default",
            kube_version: "1.30",
            api_versions: api,
            tracking_method: "annotation",
            refs: &Default::default(),
        })
    }

    #[test]
    fn manifest_keys_change_with_every_output_input_and_nothing_else() {
        let s = source(r#"{"repoURL":"https://host/repo","path":"a","targetRevision":"main"}"#);
        let base = key_with(&s, "c1", "app", &[]);
        assert_eq!(base.len(), 64);
        assert_ne!(base, key_with(&s, "c2", "app", &[]));
        assert_ne!(base, key_with(&s, "c1", "other", &[]));
        assert_ne!(base, key_with(&s, "c1", "app", &["v1".into()]));
        let other_path = source(r#"{"repoURL":"https://host/repo","path":"b"}"#);
        assert_ne!(base, key_with(&other_path, "c1", "app", &[]));
        // Credentials in the source URL and the symbolic revision do not
        // change the key: the normalized URL and the commit stand for them.
        let with_creds =
            source(r#"{"repoURL":"https://u:pw@host/repo","path":"a","targetRevision":"HEAD"}"#);
        assert_eq!(base, key_with(&with_creds, "c1", "app", &[]));
        // Field order in the source JSON does not matter.
        let reordered = source(r#"{"path":"a","repoURL":"https://host/repo"}"#);
        assert_eq!(base, key_with(&reordered, "c1", "app", &[]));
        let a = key_with(&s, "c1", "app", &["b".into(), "a".into()]);
        assert_eq!(a, key_with(&s, "c1", "app", &["a".into(), "b".into()]));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = String::new();
        write_canonical(
            &serde_json::json!({"b": {"d": 1, "c": [ {"z": 1, "y": 2} ]}, "a": "x"}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":"x","b":{"c":[{"y":2,"z":1}],"d":1}}"#);
    }

    fn value() -> CachedManifests {
        CachedManifests {
            manifests: vec![r#"{"apiVersion":"v1","kind":"ConfigMap"}"#.into()],
            revision: "abc".into(),
            source_type: "Directory".into(),
        }
    }

    #[test]
    fn sealed_entries_open_only_with_the_same_key_and_cache_key() -> Result<(), Error> {
        let signer = EntrySigner::new(Some("secret"));
        let entry = signer.seal("k1", &value())?;
        assert_eq!(signer.open("k1", &entry), Ok(value()));
        assert_eq!(signer.open("k2", &entry), Err(EntryError::BadSignature));
        assert_eq!(
            EntrySigner::new(Some("other")).open("k1", &entry),
            Err(EntryError::BadSignature)
        );
        let mut tampered = entry.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(signer.open("k1", &tampered), Err(EntryError::BadSignature));
        assert_eq!(signer.open("k1", b"short"), Err(EntryError::Truncated));
        Ok(())
    }

    #[test]
    fn random_signing_keys_differ_between_signers() -> Result<(), Error> {
        let entry = EntrySigner::new(None).seal("k", &value())?;
        assert_eq!(
            EntrySigner::new(None).open("k", &entry),
            Err(EntryError::BadSignature)
        );
        Ok(())
    }
}
