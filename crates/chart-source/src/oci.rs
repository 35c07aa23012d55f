//! Charts in OCI registries (Helm's `oci://` references): list the tags,
//! pick a version, read the image manifest, download and verify the chart
//! layer. Speaks the distribution API with anonymous, basic and token
//! authentication.

mod auth;

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, LINK, WWW_AUTHENTICATE};
use reqwest::{Client, Response, StatusCode, Url};
use serde::Deserialize;

use crate::cache::{cache_key, TagList};
use crate::credentials::{Authorization, RepoCredentials};
use crate::digest::{parse_sha256, sha256_hex};
use crate::error::Error;
use crate::location::{redact, OciRepository};
use crate::oci::auth::{fetch_token, pick_challenge, Challenge};
use crate::resolve::{pick_version, tag_of_version, version_of_tag};
use crate::transport::{check_status, read_limited, send};
use crate::{ChartRequest, ChartSource, FetchedChart};

/// Media type of the chart archive layer.
pub(crate) const CHART_LAYER_MEDIA_TYPE: &str =
    "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The layer type charts had before Helm 3.8; Helm still accepts it.
const LEGACY_CHART_LAYER_MEDIA_TYPE: &str = "application/tar+gzip";
/// The manifest type Helm pushes.
const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Manifests are small; registries cap them at 4 MiB.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// One page of a tag list.
const MAX_TAG_PAGE_BYTES: u64 = 16 << 20;
/// Tag list pages followed at most.
const MAX_TAG_PAGES: usize = 100;

pub(crate) async fn fetch(
    source: &ChartSource,
    repository: &OciRepository,
    request: &ChartRequest,
    credentials: &RepoCredentials,
) -> Result<FetchedChart, Error> {
    let reference = repository.reference();
    let chart = repository
        .name
        .rsplit('/')
        .next()
        .unwrap_or(&repository.name)
        .to_owned();
    let client = source.transport.client(credentials, &reference)?;
    let mut session = RegistrySession {
        client,
        repository,
        credentials,
        authorization: (!credentials.bearer_token.is_empty())
            .then(|| Authorization::Bearer(credentials.bearer_token.clone())),
    };

    let tags = load_tags(source, &mut session, request.refresh).await?;
    let version = pick_version(
        &chart,
        &reference,
        &request.target_revision,
        tags.tags.iter().map(String::as_str),
    )?
    .to_owned();
    let tag = tag_of_version(&version);
    let shown = format!("{reference}:{tag}");

    let manifest_url = repository.endpoint(&format!("manifests/{tag}"))?;
    let (headers, body) = session
        .get(
            &manifest_url,
            Some(OCI_MANIFEST_MEDIA_TYPE),
            MAX_MANIFEST_BYTES,
        )
        .await?;
    let manifest_sha = sha256_hex(&body);
    if let Some(announced) = headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_sha256)
    {
        if announced != manifest_sha {
            return Err(Error::DigestMismatch {
                url: redact(&manifest_url),
                expected: format!("sha256:{announced}"),
                actual: format!("sha256:{manifest_sha}"),
            });
        }
    }
    let layer = chart_layer(&body, &manifest_url, &shown)?;
    let expected = parse_sha256(&layer.digest).ok_or_else(|| Error::UnsupportedDigest {
        url: redact(&manifest_url),
        digest: layer.digest.clone(),
    })?;
    let limit = source.config.max_archive_bytes;
    if layer.size.is_some_and(|size| size > limit) {
        return Err(Error::TooLarge { url: shown, limit });
    }

    let fetched = |archive: Bytes| FetchedChart {
        chart: chart.clone(),
        version: version.clone(),
        digest: format!("sha256:{expected}"),
        manifest_digest: Some(format!("sha256:{manifest_sha}")),
        source: shown.clone(),
        archive,
    };
    if let Some(archive) = source.archives.get(&expected).await {
        return Ok(fetched(archive));
    }
    let blob_url = repository.endpoint(&format!("blobs/sha256:{expected}"))?;
    let (_, archive) = session.get(&blob_url, None, limit).await?;
    let hashed = archive.clone();
    let actual = tokio::task::spawn_blocking(move || sha256_hex(&hashed))
        .await
        .map_err(|e| Error::Request {
            url: redact(&blob_url),
            reason: format!("hashing the archive: {e}"),
        })?;
    if actual != expected {
        return Err(Error::DigestMismatch {
            url: redact(&blob_url),
            expected: format!("sha256:{expected}"),
            actual: format!("sha256:{actual}"),
        });
    }
    source.archives.put(&expected, archive.clone()).await?;
    Ok(fetched(archive))
}

// === tags ===

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

async fn load_tags(
    source: &ChartSource,
    session: &mut RegistrySession<'_>,
    refresh: bool,
) -> Result<Arc<TagList>, Error> {
    let key = cache_key(
        &source.salt,
        "oci-tags",
        &format!("{}{}", session.repository.base, session.repository.name),
        &session.credentials.fingerprint(&source.salt),
    );
    if refresh {
        source.metadata.tags.invalidate(&key).await;
    }
    if let Some(cached) = source.metadata.tags.get(&key).await {
        return Ok(cached);
    }
    let tags = Arc::new(list_tags(session).await?);
    source.metadata.tags.insert(key, tags.clone()).await;
    Ok(tags)
}

/// Every semantic-version tag, following `Link: <…>; rel="next"` pages.
async fn list_tags(session: &mut RegistrySession<'_>) -> Result<TagList, Error> {
    let repository = session.repository;
    let mut url = repository.endpoint("tags/list")?;
    let mut versions = Vec::new();
    for _ in 0..MAX_TAG_PAGES {
        let (headers, body) = match session.get(&url, None, MAX_TAG_PAGE_BYTES).await {
            Err(Error::Status { status: 404, .. }) => {
                return Err(Error::ChartNotFound {
                    chart: repository.name.clone(),
                    repo: repository.reference(),
                })
            }
            other => other?,
        };
        let page: TagPage =
            serde_json::from_slice(&body).map_err(|e| Error::InvalidRegistryResponse {
                url: redact(&url),
                reason: format!("tag list: {e}"),
            })?;
        versions.extend(
            page.tags
                .unwrap_or_default()
                .iter()
                .filter_map(|tag| version_of_tag(tag)),
        );
        match next_page(&headers, &url) {
            Some(next) => url = next,
            None => return Ok(TagList { tags: versions }),
        }
    }
    Err(Error::InvalidRegistryResponse {
        url: redact(&url),
        reason: format!("tag list has more than {MAX_TAG_PAGES} pages"),
    })
}

/// The `rel="next"` target of a `Link` header, resolved against the
/// current page and kept on the registry's origin.
fn next_page(headers: &HeaderMap, current: &Url) -> Option<Url> {
    let link = headers.get(LINK)?.to_str().ok()?;
    let (target, params) = link.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    let next = current.join(target).ok()?;
    crate::location::same_origin(&next, current).then_some(next)
}

// === manifest ===

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: Option<u64>,
}

fn chart_layer(body: &[u8], url: &Url, shown: &str) -> Result<Descriptor, Error> {
    let manifest: Manifest =
        serde_json::from_slice(body).map_err(|e| Error::InvalidRegistryResponse {
            url: redact(url),
            reason: format!("manifest: {e}"),
        })?;
    let mut layers = manifest.layers;
    let position = layers
        .iter()
        .position(|layer| layer.media_type == CHART_LAYER_MEDIA_TYPE)
        .or_else(|| {
            layers
                .iter()
                .position(|layer| layer.media_type == LEGACY_CHART_LAYER_MEDIA_TYPE)
        })
        .ok_or_else(|| Error::NoChartLayer {
            reference: shown.to_owned(),
            media_type: CHART_LAYER_MEDIA_TYPE,
        })?;
    Ok(layers.swap_remove(position))
}

// === session ===

/// Requests to one registry repository, remembering the authorization
/// that worked so the token flow runs once per fetch.
struct RegistrySession<'a> {
    client: Client,
    repository: &'a OciRepository,
    credentials: &'a RepoCredentials,
    authorization: Option<Authorization>,
}

impl RegistrySession<'_> {
    /// GETs `url`, answering one authentication challenge.
    async fn get(
        &mut self,
        url: &Url,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<(HeaderMap, Bytes), Error> {
        let mut response = self.send(url, accept).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            self.answer_challenge(&response, url).await?;
            response = self.send(url, accept).await?;
        }
        check_status(&response, url)?;
        let headers = response.headers().clone();
        let body = read_limited(response, url, limit).await?;
        Ok((headers, body))
    }

    async fn send(&self, url: &Url, accept: Option<&str>) -> Result<Response, Error> {
        let mut get = self.client.get(url.clone());
        if let Some(accept) = accept {
            get = get.header(ACCEPT, accept);
        }
        if let Some(authorization) = &self.authorization {
            get = authorization.apply(get);
        }
        send(get, url).await
    }

    async fn answer_challenge(&mut self, response: &Response, url: &Url) -> Result<(), Error> {
        let unauthorized = || Error::Unauthorized {
            url: redact(url),
            status: 401,
        };
        let values = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let authorization = match pick_challenge(values) {
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope =
                    scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository.name));
                fetch_token(
                    &self.client,
                    &self.repository.base,
                    &realm,
                    service.as_deref(),
                    &scope,
                    self.credentials,
                )
                .await?
            }
            Some(Challenge::Basic) => self
                .credentials
                .authorization()
                .filter(|a| matches!(a, Authorization::Basic { .. }))
                .ok_or_else(unauthorized)?,
            None => return Err(unauthorized()),
        };
        if self.authorization.as_ref() == Some(&authorization) {
            // The same answer was already refused.
            return Err(unauthorized());
        }
        self.authorization = Some(authorization);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_layer_is_found_by_media_type() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST_MEDIA_TYPE}",
               "config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:aa","size":2}},
               "layers":[{{"mediaType":"application/vnd.cncf.helm.chart.provenance.v1.prov","digest":"sha256:bb","size":3}},
                         {{"mediaType":"{CHART_LAYER_MEDIA_TYPE}","digest":"sha256:cc","size":4}}]}}"#
        );
        let url = Url::parse("https://r/v2/x/manifests/1.0.0").unwrap();
        let layer = chart_layer(manifest.as_bytes(), &url, "oci://r/x:1.0.0").unwrap();
        assert_eq!(layer.digest, "sha256:cc");
        assert_eq!(layer.size, Some(4));

        let image = r#"{"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:dd"}]}"#;
        let error = chart_layer(image.as_bytes(), &url, "oci://r/x:1.0.0").unwrap_err();
        assert_eq!(
            error.to_string(),
            "oci://r/x:1.0.0 is not a Helm chart: its manifest has no layer of media type \
             application/vnd.cncf.helm.chart.content.v1.tar+gzip"
        );
    }

    #[test]
    fn link_headers_lead_to_the_next_page_on_the_same_origin() {
        let current = Url::parse("http://127.0.0.1:5000/v2/charts/demo/tags/list").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            "</v2/charts/demo/tags/list?last=1.0.0&n=1>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_page(&headers, &current).unwrap().as_str(),
            "http://127.0.0.1:5000/v2/charts/demo/tags/list?last=1.0.0&n=1"
        );
        headers.insert(
            LINK,
            "<https://evil.example/x>; rel=\"next\"".parse().unwrap(),
        );
        assert_eq!(next_page(&headers, &current), None);
        assert_eq!(next_page(&HeaderMap::new(), &current), None);
    }
}
