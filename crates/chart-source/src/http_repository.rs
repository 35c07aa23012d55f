//! Classic chart repositories: `index.yaml` (cached for a TTL), version
//! resolution, then the archive, verified against the index digest.

use std::sync::Arc;

use reqwest::Url;

use crate::cache::cache_key;
use crate::credentials::RepoCredentials;
use crate::digest::{parse_sha256, sha256_hex};
use crate::error::Error;
use crate::index::ChartIndex;
use crate::location::{archive_url, index_url, redact, same_origin};
use crate::resolve::pick_version;
use crate::transport::{check_status, read_limited, send};
use crate::{ChartRequest, ChartSource, FetchedChart};

pub(crate) async fn fetch(
    source: &ChartSource,
    repo: &Url,
    chart: &str,
    request: &ChartRequest,
    credentials: &RepoCredentials,
) -> Result<FetchedChart, Error> {
    let shown_repo = redact(repo);
    let index = load_index(source, repo, credentials, request.refresh).await?;
    let versions = index.versions(chart).ok_or_else(|| Error::ChartNotFound {
        chart: chart.to_owned(),
        repo: shown_repo.clone(),
    })?;
    let version = pick_version(
        chart,
        &shown_repo,
        &request.target_revision,
        versions.iter().map(|entry| entry.version.as_str()),
    )?;
    // `pick_version` returned the text of one of these entries.
    let Some(entry) = versions.iter().find(|entry| entry.version == version) else {
        return Err(Error::ChartNotFound {
            chart: chart.to_owned(),
            repo: shown_repo,
        });
    };
    let first_url = entry.urls.first().ok_or_else(|| Error::NoDownloadUrl {
        chart: chart.to_owned(),
        version: version.to_owned(),
    })?;
    let url = archive_url(repo, first_url).map_err(|reason| Error::InvalidIndex {
        url: redact(&index_url(repo)),
        reason: format!("chart {chart:?} version {version:?} has a bad URL: {reason}"),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::InvalidIndex {
            url: redact(&index_url(repo)),
            reason: format!(
                "chart {chart:?} version {version:?} URL scheme {:?} is not http(s)",
                url.scheme()
            ),
        });
    }
    let expected = match &entry.digest {
        None => None,
        Some(digest) => Some(
            parse_sha256(digest).ok_or_else(|| Error::UnsupportedDigest {
                url: redact(&url),
                digest: digest.clone(),
            })?,
        ),
    };

    if let Some(expected) = &expected {
        if let Some(archive) = source.archives.get(expected).await {
            return Ok(FetchedChart {
                chart: chart.to_owned(),
                version: version.to_owned(),
                digest: format!("sha256:{expected}"),
                manifest_digest: None,
                source: redact(&url),
                archive,
            });
        }
    }

    let client = source.transport.client(credentials, &shown_repo)?;
    let mut get = client.get(url.clone());
    // Like Helm: the repository's credentials go to archives on the same
    // origin only, unless the repository says to pass them on.
    if same_origin(repo, &url) || credentials.pass_credentials {
        if let Some(authorization) = credentials.authorization() {
            get = authorization.apply(get);
        }
    }
    let response = send(get, &url).await?;
    check_status(&response, &url)?;
    let archive = read_limited(response, &url, source.config.max_archive_bytes).await?;
    let hashed = archive.clone();
    let actual = tokio::task::spawn_blocking(move || sha256_hex(&hashed))
        .await
        .map_err(|e| Error::Request {
            url: redact(&url),
            reason: format!("hashing the archive: {e}"),
        })?;
    if let Some(expected) = &expected {
        if *expected != actual {
            return Err(Error::DigestMismatch {
                url: redact(&url),
                expected: format!("sha256:{expected}"),
                actual: format!("sha256:{actual}"),
            });
        }
    }
    source.archives.put(&actual, archive.clone()).await?;
    Ok(FetchedChart {
        chart: chart.to_owned(),
        version: version.to_owned(),
        digest: format!("sha256:{actual}"),
        manifest_digest: None,
        source: redact(&url),
        archive,
    })
}

/// The repository's index, from the cache unless `refresh`.
async fn load_index(
    source: &ChartSource,
    repo: &Url,
    credentials: &RepoCredentials,
    refresh: bool,
) -> Result<Arc<ChartIndex>, Error> {
    let key = cache_key(
        &source.salt,
        "index",
        repo.as_str(),
        &credentials.fingerprint(&source.salt),
    );
    if refresh {
        source.metadata.indexes.invalidate(&key).await;
    }
    source
        .metadata
        .indexes
        .try_get_with(key, download_index(source, repo, credentials))
        .await
        .map_err(|e| (*e).clone())
}

async fn download_index(
    source: &ChartSource,
    repo: &Url,
    credentials: &RepoCredentials,
) -> Result<Arc<ChartIndex>, Error> {
    let url = index_url(repo);
    let client = source.transport.client(credentials, &redact(repo))?;
    let mut get = client.get(url.clone());
    if let Some(authorization) = credentials.authorization() {
        get = authorization.apply(get);
    }
    let response = send(get, &url).await?;
    check_status(&response, &url)?;
    let body = read_limited(response, &url, source.config.max_index_bytes).await?;
    let parsed = tokio::task::spawn_blocking(move || ChartIndex::parse(&body))
        .await
        .map_err(|e| e.to_string())
        .and_then(|parsed| parsed);
    let index = parsed.map_err(|reason| Error::InvalidIndex {
        url: redact(&url),
        reason,
    })?;
    tracing::debug!(url = %redact(&url), "repository index downloaded");
    Ok(Arc::new(index))
}
