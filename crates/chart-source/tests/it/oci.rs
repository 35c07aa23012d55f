//! OCI registries: a real distribution registry with charts pushed by real
//! Helm, and a small token-auth registry for the Bearer flow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use caravel_chart_source::{ChartRequest, ChartSource, ChartSourceConfig, Error, RepoCredentials};

use caravel_integration_tests::chart_repo::{chart_archive, chart_yaml_of, sha256_hex};
use caravel_integration_tests::oci_registry::Registry;

const VERSIONS: [&str; 5] = ["1.0.0", "1.2.0", "1.2.3", "1.3.0", "1.4.0+build.7"];

fn request(host: &str, revision: &str, credentials: RepoCredentials) -> ChartRequest {
    ChartRequest {
        repo_url: format!("oci://{host}/charts"),
        chart: "app-v2".into(),
        target_revision: revision.into(),
        credentials: RepoCredentials {
            plain_http: true,
            ..credentials
        },
        ..ChartRequest::default()
    }
}

#[tokio::test]
async fn oci_ranges_resolve_against_tags_pushed_by_helm() -> Result<()> {
    let registry = Registry::start(None).await?;
    let archives = registry.push("app-v2", &VERSIONS)?;
    let source = ChartSource::new(ChartSourceConfig::default());
    let anonymous = RepoCredentials::default();

    let chart = source
        .fetch(&request(&registry.host, "1.2.*", anonymous.clone()))
        .await?;
    assert_eq!(chart.version, "1.2.3");
    assert_eq!(chart.chart, "app-v2");
    assert_eq!(chart.archive.as_ref(), archives[2].as_slice());
    assert_eq!(chart.digest, format!("sha256:{}", sha256_hex(&archives[2])));
    assert_eq!(
        chart.source,
        format!("oci://{}/charts/app-v2:1.2.3", registry.host)
    );
    assert!(chart
        .manifest_digest
        .as_deref()
        .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71));
    assert!(chart_yaml_of(&chart.archive)?.contains("version: 1.2.3"));

    // `+` is stored as `_` in the tag and reported back with `+`.
    for revision in ["~1.4", "", "*", "1.4.0+build.7"] {
        let latest = source
            .fetch(&request(&registry.host, revision, anonymous.clone()))
            .await?;
        assert_eq!(latest.version, "1.4.0+build.7", "revision {revision:?}");
        assert_eq!(latest.archive.as_ref(), archives[4].as_slice());
        assert!(
            latest.source.ends_with(":1.4.0_build.7"),
            "{}",
            latest.source
        );
    }
    let exact = source
        .fetch(&request(&registry.host, "1.0.0", anonymous.clone()))
        .await?;
    assert_eq!(exact.archive.as_ref(), archives[0].as_slice());

    let missing = source
        .fetch(&request(&registry.host, "2.x", anonymous.clone()))
        .await
        .expect_err("no 2.x");
    assert_eq!(
        missing.to_string(),
        format!(
            "chart \"app-v2\" version \"2.x\" not found in oci://{}/charts/app-v2: \
             available 1.0.0, 1.2.0, 1.2.3, 1.3.0, 1.4.0+build.7",
            registry.host
        )
    );
    let unknown = source
        .fetch(&ChartRequest {
            chart: "nothing-here".into(),
            ..request(&registry.host, "1.0.0", anonymous)
        })
        .await
        .expect_err("no such repository");
    assert!(matches!(unknown, Error::ChartNotFound { .. }), "{unknown}");

    // The manifest's layer size is checked before the blob is fetched.
    let limit = archives[0].len() as u64 - 1;
    let small = ChartSource::new(ChartSourceConfig {
        max_archive_bytes: limit,
        ..ChartSourceConfig::default()
    });
    let error = small
        .fetch(&request(
            &registry.host,
            "1.0.0",
            RepoCredentials::default(),
        ))
        .await
        .expect_err("too large");
    assert_eq!(
        error,
        Error::TooLarge {
            url: format!("oci://{}/charts/app-v2:1.0.0", registry.host),
            limit
        }
    );
    Ok(())
}

#[tokio::test]
async fn htpasswd_registry_needs_basic_credentials() -> Result<()> {
    let registry = Registry::start(Some(("alice", "registry-pass"))).await?;
    let archives = registry.push("app-v2", &["1.2.0", "1.2.3"])?;
    let source = ChartSource::new(ChartSourceConfig::default());

    let anonymous = source
        .fetch(&request(
            &registry.host,
            "1.2.*",
            RepoCredentials::default(),
        ))
        .await
        .expect_err("needs credentials");
    assert!(
        matches!(anonymous, Error::Unauthorized { status: 401, .. }),
        "{anonymous}"
    );

    let wrong = source
        .fetch(&request(
            &registry.host,
            "1.2.*",
            RepoCredentials {
                username: "alice".into(),
                password: "not-the-pass".into(),
                ..RepoCredentials::default()
            },
        ))
        .await
        .expect_err("wrong password");
    assert!(matches!(wrong, Error::Unauthorized { .. }), "{wrong}");
    assert!(!format!("{wrong} {wrong:?}").contains("not-the-pass"));

    let chart = source
        .fetch(&request(
            &registry.host,
            "1.2.*",
            RepoCredentials {
                username: "alice".into(),
                password: "registry-pass".into(),
                ..RepoCredentials::default()
            },
        ))
        .await?;
    assert_eq!(chart.version, "1.2.3");
    assert_eq!(chart.archive.as_ref(), archives[1].as_slice());
    Ok(())
}

// === token flow ===

/// A registry answering 401 with a Bearer challenge whose realm hands out
/// a token for basic credentials; tags come in two pages.
struct TokenRegistry {
    archive: Vec<u8>,
    manifest: Vec<u8>,
    token_requests: Mutex<Vec<String>>,
    blob_requests: Mutex<usize>,
    host: Mutex<String>,
}

const TOKEN: &str = "tok-0123";

async fn token_registry(
    State(state): State<Arc<TokenRegistry>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let host = state.host.lock().map(|h| h.clone()).unwrap_or_default();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let reply = |status: StatusCode, content_type: &str, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap_or_default()
    };
    let path = uri.path();
    if path == "/token" {
        let query = uri.query().unwrap_or("").to_owned();
        if let Ok(mut requests) = state.token_requests.lock() {
            requests.push(query.clone());
        }
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:token-pass")
        );
        let params: HashMap<&str, &str> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .collect();
        if authorization != expected
            || params.get("service") != Some(&"fake-registry")
            || params.get("scope") != Some(&"repository%3Acharts%2Fapp-v2%3Apull")
        {
            return reply(StatusCode::UNAUTHORIZED, "text/plain", b"no".to_vec());
        }
        return reply(
            StatusCode::OK,
            "application/json",
            format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#).into_bytes(),
        );
    }
    if authorization != format!("Bearer {TOKEN}") {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(
                "www-authenticate",
                format!(
                    r#"Bearer realm="http://{host}/token",service="fake-registry",scope="repository:charts/app-v2:pull""#
                ),
            )
            .body(Body::empty())
            .unwrap_or_default();
    }
    let blob_path = format!(
        "/v2/charts/app-v2/blobs/sha256:{}",
        sha256_hex(&state.archive)
    );
    match path {
        "/v2/charts/app-v2/tags/list" if uri.query().is_none() => Response::builder()
            .header("content-type", "application/json")
            .header(
                "link",
                "</v2/charts/app-v2/tags/list?last=1.0.0&n=1>; rel=\"next\"",
            )
            .body(Body::from(r#"{"name":"charts/app-v2","tags":["1.0.0"]}"#))
            .unwrap_or_default(),
        "/v2/charts/app-v2/tags/list" => reply(
            StatusCode::OK,
            "application/json",
            br#"{"name":"charts/app-v2","tags":["1.2.3","latest","v1.9.0"]}"#.to_vec(),
        ),
        "/v2/charts/app-v2/manifests/1.2.3" => reply(
            StatusCode::OK,
            "application/vnd.oci.image.manifest.v1+json",
            state.manifest.clone(),
        ),
        p if p == blob_path => {
            if let Ok(mut count) = state.blob_requests.lock() {
                *count += 1;
            }
            reply(
                StatusCode::OK,
                "application/octet-stream",
                state.archive.clone(),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", Vec::new()),
    }
}

#[tokio::test]
async fn bearer_challenges_are_answered_with_a_token_from_the_realm() -> Result<()> {
    let archive = chart_archive("app-v2", "1.2.3")?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:{}","size":{}}}]}}"#,
        sha256_hex(b"{}"),
        sha256_hex(&archive),
        archive.len()
    );
    let state = Arc::new(TokenRegistry {
        archive: archive.clone(),
        manifest: manifest.into_bytes(),
        token_requests: Mutex::new(Vec::new()),
        blob_requests: Mutex::new(0),
        host: Mutex::new(String::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = listener.local_addr()?.to_string();
    if let Ok(mut slot) = state.host.lock() {
        *slot = host.clone();
    }
    let app = axum::Router::new()
        .fallback(token_registry)
        .with_state(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let source = ChartSource::new(ChartSourceConfig::default());
    let credentials = RepoCredentials {
        username: "alice".into(),
        password: "token-pass".into(),
        ..RepoCredentials::default()
    };
    // Tags on two pages: 1.0.0, then 1.2.3 (`latest` and `v1.9.0` are not
    // strict versions, so Helm ignores them).
    let chart = source
        .fetch(&request(&host, ">=1.0.0", credentials.clone()))
        .await?;
    assert_eq!(chart.version, "1.2.3");
    assert_eq!(chart.archive.as_ref(), archive.as_slice());
    let token_requests = state.token_requests.lock().map(|r| r.len()).unwrap_or(0);
    assert_eq!(token_requests, 1, "one token serves the whole fetch");

    // Cached tags and archive: the second fetch only reads the manifest.
    source.fetch(&request(&host, "1.2.3", credentials)).await?;
    assert_eq!(state.blob_requests.lock().map(|c| *c).unwrap_or(0), 1);

    let refused = source
        .fetch(&request(
            &host,
            "1.2.3",
            RepoCredentials {
                username: "alice".into(),
                password: "bad-token-pass".into(),
                ..RepoCredentials::default()
            },
        ))
        .await
        .expect_err("the realm refuses");
    assert!(matches!(refused, Error::Unauthorized { .. }), "{refused}");
    assert!(refused.to_string().contains("/token"), "{refused}");
    assert!(!format!("{refused:?}").contains("bad-token-pass"));
    server.abort();
    Ok(())
}
