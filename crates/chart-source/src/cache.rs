//! Caches: repository indexes and OCI tag lists for a short TTL (they
//! change when charts are published), chart archives by digest forever
//! (content addressed, so never stale). Keys are salted hashes; no key
//! holds a URL's userinfo or a credential.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::digest::sha256_hex;
use crate::error::Error;
use crate::index::ChartIndex;

/// A cache key: sha256 over a salt, the kind of entry, the repository URL
/// (without userinfo) and the credentials' fingerprint.
pub(crate) type CacheKey = [u8; 32];

pub(crate) fn cache_key(
    salt: &[u8; 32],
    kind: &str,
    location: &str,
    credentials: &[u8; 32],
) -> CacheKey {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    for part in [kind.as_bytes(), location.as_bytes(), credentials] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Semantic-version tags of one OCI repository, as listed.
#[derive(Debug, Clone, Default)]
pub(crate) struct TagList {
    pub tags: Vec<String>,
}

/// Indexes and tag lists with a TTL and a byte cap, loads coalesced (one
/// download when many requests miss at once).
pub(crate) struct MetadataCache {
    pub indexes: Cache<CacheKey, Arc<ChartIndex>>,
    pub tags: Cache<CacheKey, Arc<TagList>>,
}

impl MetadataCache {
    pub fn new(ttl: Duration, max_bytes: u64) -> Self {
        let weight = |len: usize| u32::try_from(len).unwrap_or(u32::MAX).max(1);
        Self {
            indexes: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(max_bytes)
                .weigher(move |_, index: &Arc<ChartIndex>| weight(index.source_len))
                .build(),
            tags: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(max_bytes)
                .weigher(move |_, list: &Arc<TagList>| {
                    weight(list.tags.iter().map(|t| t.len() + 16).sum())
                })
                .build(),
        }
    }
}

/// Chart archives by sha256: files under a directory, or memory with a
/// byte cap.
pub(crate) enum ArchiveStore {
    Disk(PathBuf),
    Memory(Cache<String, Bytes>),
}

impl ArchiveStore {
    pub fn disk(root: &Path) -> Self {
        ArchiveStore::Disk(root.join("charts").join("sha256"))
    }

    pub fn memory(max_bytes: u64) -> Self {
        ArchiveStore::Memory(
            Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, bytes: &Bytes| u32::try_from(bytes.len()).unwrap_or(u32::MAX).max(1))
                .build(),
        )
    }

    /// The archive with this sha256 (lowercase hex), if stored. A file
    /// whose content no longer matches its name is removed and reported
    /// as missing.
    pub async fn get(&self, sha256: &str) -> Option<Bytes> {
        match self {
            ArchiveStore::Memory(cache) => cache.get(sha256).await,
            ArchiveStore::Disk(dir) => {
                let path = dir.join(format!("{sha256}.tgz"));
                let bytes = tokio::fs::read(&path).await.ok()?;
                let bytes = Bytes::from(bytes);
                let check = bytes.clone();
                let matches = tokio::task::spawn_blocking(move || sha256_hex(&check))
                    .await
                    .ok()?
                    == sha256;
                if matches {
                    Some(bytes)
                } else {
                    tracing::warn!(path = %path.display(), "cached chart archive is corrupt; removing it");
                    let _ = tokio::fs::remove_file(&path).await;
                    None
                }
            }
        }
    }

    /// Stores an archive whose sha256 the caller has verified.
    pub async fn put(&self, sha256: &str, bytes: Bytes) -> Result<(), Error> {
        match self {
            ArchiveStore::Memory(cache) => {
                cache.insert(sha256.to_owned(), bytes).await;
                Ok(())
            }
            ArchiveStore::Disk(dir) => {
                let dir = dir.clone();
                let name = format!("{sha256}.tgz");
                tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
                    .await
                    .map_err(|e| Error::Cache {
                        path: String::new(),
                        reason: e.to_string(),
                    })?
            }
        }
    }
}

/// Writes through a temporary file and a rename, so readers never see a
/// partial archive.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let cache_error = |e: std::io::Error| Error::Cache {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(cache_error)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(cache_error)?;
    file.write_all(bytes).map_err(cache_error)?;
    file.persist(dir.join(name))
        .map_err(|e| cache_error(e.error))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part_and_hide_them() {
        let salt = [1; 32];
        let a = cache_key(&salt, "index", "https://host/charts", &[0; 32]);
        assert_ne!(a, cache_key(&salt, "index", "https://host/other", &[0; 32]));
        assert_ne!(a, cache_key(&salt, "tags", "https://host/charts", &[0; 32]));
        assert_ne!(
            a,
            cache_key(&salt, "index", "https://host/charts", &[9; 32])
        );
        assert_ne!(
            a,
            cache_key(&[2; 32], "index", "https://host/charts", &[0; 32])
        );
    }

    #[tokio::test]
    async fn disk_store_round_trips_and_drops_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArchiveStore::disk(dir.path());
        let bytes = Bytes::from_static(b"archive bytes");
        let sha = sha256_hex(&bytes);
        assert_eq!(store.get(&sha).await, None);
        store.put(&sha, bytes.clone()).await.unwrap();
        assert_eq!(store.get(&sha).await, Some(bytes));

        let path = dir.path().join("charts/sha256").join(format!("{sha}.tgz"));
        std::fs::write(&path, b"tampered").unwrap();
        assert_eq!(store.get(&sha).await, None);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn memory_store_round_trips() {
        let store = ArchiveStore::memory(1024);
        let bytes = Bytes::from_static(b"x");
        store.put("ab", bytes.clone()).await.unwrap();
        assert_eq!(store.get("ab").await, Some(bytes));
    }
}
