//! The application state cache: what the controller learned in its last
//! comparison of an app (each managed resource's target, live and predicted
//! state), published to Redis so the api-server can answer
//! `ManagedResources` and `app diff` without recomputing. Mirrors Argo CD's
//! `appStateCache` (`app|managed-resources|<app>` keys).

use std::io::{Read, Write};
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

/// How long published state lives without being refreshed.
const STATE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Redis calls are bounded so a sick Redis cannot stall reconciliation.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound on a decompressed entry (defence against a corrupted entry).
const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AppStateError {
    #[error("invalid redis url: {0}")]
    Url(redis::RedisError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("app state entry is corrupt: {0}")]
    Corrupt(String),
}

/// One resource the app manages, as compared by the controller. JSON states
/// are already normalised and have Secret data masked.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Desired state; `None` when the object is to be pruned.
    pub target_state: Option<serde_json::Value>,
    /// Live state; `None` when the object is missing.
    pub live_state: Option<serde_json::Value>,
    /// Live state after a sync, from a server-side-apply dry run.
    pub predicted_live_state: Option<serde_json::Value>,
    pub modified: bool,
    pub hook: bool,
}

/// Redis-backed app state, shared by controller (writer) and api-server
/// (reader).
#[derive(Clone)]
pub struct AppStateCache {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for AppStateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStateCache")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl AppStateCache {
    /// Connects lazily: a Redis that is down now is retried on each call.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, AppStateError> {
        let client = redis::Client::open(url).map_err(AppStateError::Url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let conn = bounded(redis::aio::ConnectionManager::new_lazy_with_config(
            client, config,
        ))?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, app_namespace: &str, app_name: &str) -> String {
        format!(
            "{}|app|managed-resources|{app_namespace}/{app_name}",
            self.prefix
        )
    }

    pub async fn set_managed_resources(
        &self,
        app_namespace: &str,
        app_name: &str,
        resources: &[ManagedResource],
    ) -> Result<(), AppStateError> {
        let json =
            serde_json::to_vec(resources).map_err(|e| AppStateError::Corrupt(e.to_string()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&json)
            .map_err(|e| AppStateError::Corrupt(e.to_string()))?;
        let bytes = gz
            .finish()
            .map_err(|e| AppStateError::Corrupt(e.to_string()))?;
        let mut conn = self.conn.clone();
        let key = self.key(app_namespace, app_name);
        timed(conn.set_ex::<_, _, ()>(key, bytes, STATE_TTL.as_secs())).await
    }

    /// `None` when the controller has not published state for this app.
    pub async fn managed_resources(
        &self,
        app_namespace: &str,
        app_name: &str,
    ) -> Result<Option<Vec<ManagedResource>>, AppStateError> {
        let mut conn = self.conn.clone();
        let key = self.key(app_namespace, app_name);
        let bytes: Option<Vec<u8>> = timed(conn.get(key)).await?;
        let Some(bytes) = bytes else { return Ok(None) };
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut json)
            .map_err(|e| AppStateError::Corrupt(e.to_string()))?;
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| AppStateError::Corrupt(e.to_string()))
    }

    pub async fn delete(&self, app_namespace: &str, app_name: &str) -> Result<(), AppStateError> {
        let mut conn = self.conn.clone();
        let key = self.key(app_namespace, app_name);
        timed(conn.del::<_, ()>(key)).await
    }
}

fn bounded<T>(r: Result<T, redis::RedisError>) -> Result<T, AppStateError> {
    r.map_err(AppStateError::Redis)
}

async fn timed<T>(
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, AppStateError> {
    match tokio::time::timeout(REDIS_TIMEOUT, fut).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(AppStateError::Timeout(REDIS_TIMEOUT)),
    }
}
