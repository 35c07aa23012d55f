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
    #[error("invalid redis url: {0}")]
    InvalidUrl(String),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("app state entry is corrupt: {0}")]
    Corrupt(String),
}

/// `url` with its password set to `password` (percent-encoded, so a
/// password read from a Secret may hold any character). The password never
/// appears in the error.
pub fn redis_url_with_password(url: &str, password: Option<&str>) -> Result<String, AppStateError> {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Ok(url.to_owned());
    };
    let mut parsed =
        url::Url::parse(url).map_err(|e| AppStateError::InvalidUrl(format!("not a URL ({e})")))?;
    let encoded =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    parsed
        .set_password(Some(&encoded))
        .map_err(|()| AppStateError::InvalidUrl("it cannot carry a password".into()))?;
    Ok(parsed.into())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_password_from_a_secret_reaches_redis_unchanged() {
        let password = "p@ss:w/rd%20?#";
        let url = redis_url_with_password("redis://caravel-redis:6379/0", Some(password)).unwrap();
        let client = redis::Client::open(url.as_str()).unwrap();
        let info = client.get_connection_info();
        assert_eq!(info.redis_settings().password(), Some(password));
        assert_eq!(info.redis_settings().db(), 0);
        assert_eq!(
            info.addr().to_string(),
            "caravel-redis:6379",
            "host and port are kept"
        );
    }

    #[test]
    fn without_a_password_the_url_is_kept_and_bad_urls_do_not_echo_the_password() {
        assert_eq!(
            redis_url_with_password("redis://:old@r:6379/1", None).unwrap(),
            "redis://:old@r:6379/1"
        );
        assert_eq!(
            redis_url_with_password("redis://r:6379", Some("")).unwrap(),
            "redis://r:6379"
        );
        let err = redis_url_with_password("not a url", Some("hunter2")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("invalid redis url"), "{err}");
    }
}
