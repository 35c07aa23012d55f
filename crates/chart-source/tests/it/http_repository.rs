//! Classic chart repositories served by a real local HTTP server.

use std::time::Duration;

use anyhow::Result;
use caravel_chart_source::{ChartRequest, ChartSource, ChartSourceConfig, Error, RepoCredentials};

use caravel_integration_tests::chart_repo::{
    chart_archive, chart_yaml_of, index_yaml, sha256_hex, ChartRepoServer, Route, TlsRepoServer,
};

const CHART: &str = "app-v2";
const VERSIONS: [&str; 4] = ["1.0.0", "1.2.0", "1.2.3", "1.3.0"];

/// A repository at `<server>/charts` holding [`VERSIONS`] with digests.
async fn repository(basic_auth: Option<(&str, &str)>) -> Result<(ChartRepoServer, Vec<Vec<u8>>)> {
    let server = ChartRepoServer::start(basic_auth).await?;
    let mut archives = Vec::new();
    let mut entries = Vec::new();
    for version in VERSIONS {
        let archive = chart_archive(CHART, version)?;
        server.file(&format!("/charts/{CHART}-{version}.tgz"), archive.clone());
        entries.push((version, sha256_hex(&archive)));
        archives.push(archive);
    }
    let urls: Vec<String> = VERSIONS
        .iter()
        .map(|v| format!("{CHART}-{v}.tgz"))
        .collect();
    let listed: Vec<(&str, &str, Option<&str>)> = entries
        .iter()
        .zip(&urls)
        .map(|((version, digest), url)| (*version, url.as_str(), Some(digest.as_str())))
        .collect();
    server.file("/charts/index.yaml", index_yaml(CHART, &listed));
    Ok((server, archives))
}

fn request(server: &ChartRepoServer, revision: &str) -> ChartRequest {
    ChartRequest {
        repo_url: format!("{}/charts", server.url),
        chart: CHART.to_owned(),
        target_revision: revision.to_owned(),
        ..ChartRequest::default()
    }
}

#[tokio::test]
async fn wildcard_revision_fetches_the_highest_patch_with_its_digest() -> Result<()> {
    let (server, archives) = repository(None).await?;
    let source = ChartSource::new(ChartSourceConfig::default());
    let chart = source.fetch(&request(&server, "1.2.*")).await?;
    assert_eq!(chart.version, "1.2.3");
    assert_eq!(chart.chart, CHART);
    assert_eq!(chart.archive.as_ref(), archives[2].as_slice());
    assert_eq!(chart.digest, format!("sha256:{}", sha256_hex(&archives[2])));
    assert_eq!(
        chart.source,
        format!("{}/charts/{CHART}-1.2.3.tgz", server.url)
    );
    assert!(chart_yaml_of(&chart.archive)?.contains("version: 1.2.3"));
    assert_eq!(chart.manifest_digest, None);
    Ok(())
}

#[tokio::test]
async fn ranges_exact_versions_and_latest_resolve_like_helm() -> Result<()> {
    let (server, _) = repository(None).await?;
    let source = ChartSource::new(ChartSourceConfig::default());
    for (revision, expected) in [
        (">=1.0 <1.3", "1.2.3"),
        ("~1.2.0", "1.2.3"),
        ("1.2.0", "1.2.0"),
        ("*", "1.3.0"),
        ("", "1.3.0"),
        ("^1.0.0", "1.3.0"),
    ] {
        let chart = source.fetch(&request(&server, revision)).await?;
        assert_eq!(chart.version, expected, "revision {revision:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_missing_version_names_the_available_ones() -> Result<()> {
    let (server, _) = repository(None).await?;
    let source = ChartSource::new(ChartSourceConfig::default());
    let error = source
        .fetch(&request(&server, "2.x"))
        .await
        .expect_err("no 2.x exists");
    assert_eq!(
        error.to_string(),
        format!(
            "chart \"app-v2\" version \"2.x\" not found in {}/charts: available 1.0.0, 1.2.0, 1.2.3, 1.3.0",
            server.url
        )
    );
    let missing_chart = source
        .fetch(&ChartRequest {
            chart: "nope".into(),
            ..request(&server, "1.0.0")
        })
        .await
        .expect_err("no such chart");
    assert!(
        matches!(missing_chart, Error::ChartNotFound { .. }),
        "{missing_chart}"
    );
    Ok(())
}

#[tokio::test]
async fn basic_auth_is_sent_and_credentials_never_reach_errors() -> Result<()> {
    let (server, archives) = repository(Some(("alice", "correct-horse"))).await?;
    let source = ChartSource::new(ChartSourceConfig::default());

    let anonymous = source
        .fetch(&request(&server, "1.2.*"))
        .await
        .expect_err("needs auth");
    assert_eq!(
        anonymous,
        Error::Unauthorized {
            url: format!("{}/charts/index.yaml", server.url),
            status: 401
        }
    );

    let wrong = ChartRequest {
        credentials: RepoCredentials {
            username: "alice".into(),
            password: "wrong-battery".into(),
            ..RepoCredentials::default()
        },
        ..request(&server, "1.2.*")
    };
    let error = source.fetch(&wrong).await.expect_err("wrong password");
    assert!(matches!(error, Error::Unauthorized { .. }), "{error}");
    assert!(!format!("{error} {error:?}").contains("wrong-battery"));

    let right = ChartRequest {
        credentials: RepoCredentials {
            username: "alice".into(),
            password: "correct-horse".into(),
            ..RepoCredentials::default()
        },
        ..request(&server, "1.2.*")
    };
    let chart = source.fetch(&right).await?;
    assert_eq!(chart.archive.as_ref(), archives[2].as_slice());

    // Userinfo in the URL works as credentials and is redacted from
    // results and errors.
    let host = server.url.trim_start_matches("http://");
    let embedded = ChartRequest {
        repo_url: format!("http://alice:correct-horse@{host}/charts"),
        ..request(&server, "1.0.0")
    };
    let chart = source.fetch(&embedded).await?;
    assert_eq!(chart.version, "1.0.0");
    assert!(!chart.source.contains("correct-horse"), "{}", chart.source);
    let embedded_missing = ChartRequest {
        repo_url: format!("http://alice:correct-horse@{host}/charts"),
        ..request(&server, "9.9.9")
    };
    let error = source.fetch(&embedded_missing).await.expect_err("no 9.9.9");
    assert!(
        !format!("{error} {error:?}").contains("correct-horse"),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn archives_on_another_origin_get_credentials_only_when_passed() -> Result<()> {
    let repo = ChartRepoServer::start(Some(("alice", "pw"))).await?;
    let cdn = ChartRepoServer::start(None).await?;
    let archive = chart_archive(CHART, "1.0.0")?;
    cdn.file("/dl/app-v2-1.0.0.tgz", archive.clone());
    let absolute = format!("{}/dl/app-v2-1.0.0.tgz", cdn.url);
    repo.file(
        "/charts/index.yaml",
        index_yaml(CHART, &[("1.0.0", &absolute, None)]),
    );
    let credentials = RepoCredentials {
        username: "alice".into(),
        password: "pw".into(),
        ..RepoCredentials::default()
    };
    let source = ChartSource::new(ChartSourceConfig::default());
    let chart = source
        .fetch(&ChartRequest {
            credentials: credentials.clone(),
            ..request(&repo, "1.0.0")
        })
        .await?;
    assert_eq!(chart.archive.as_ref(), archive.as_slice());
    assert_eq!(cdn.requests(), [("/dl/app-v2-1.0.0.tgz".to_owned(), None)]);

    // Without a digest nothing is cached, so the archive is fetched again.
    source
        .fetch(&ChartRequest {
            credentials: RepoCredentials {
                pass_credentials: true,
                ..credentials
            },
            ..request(&repo, "1.0.0")
        })
        .await?;
    let requests = cdn.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1]
        .1
        .as_deref()
        .is_some_and(|h| h.starts_with("Basic ")));
    Ok(())
}

#[tokio::test]
async fn a_digest_mismatch_is_an_error() -> Result<()> {
    let server = ChartRepoServer::start(None).await?;
    let good = chart_archive(CHART, "1.0.0")?;
    let other = chart_archive(CHART, "1.0.1")?;
    server.file("/charts/app-v2-1.0.0.tgz", other.clone());
    server.file(
        "/charts/index.yaml",
        index_yaml(
            CHART,
            &[("1.0.0", "app-v2-1.0.0.tgz", Some(&sha256_hex(&good)))],
        ),
    );
    let source = ChartSource::new(ChartSourceConfig::default());
    let error = source
        .fetch(&request(&server, "1.0.0"))
        .await
        .expect_err("mismatch");
    assert_eq!(
        error,
        Error::DigestMismatch {
            url: format!("{}/charts/app-v2-1.0.0.tgz", server.url),
            expected: format!("sha256:{}", sha256_hex(&good)),
            actual: format!("sha256:{}", sha256_hex(&other)),
        }
    );
    Ok(())
}

#[tokio::test]
async fn oversized_archives_and_indexes_are_refused() -> Result<()> {
    let (server, archives) = repository(None).await?;
    let small_archives = ChartSource::new(ChartSourceConfig {
        max_archive_bytes: archives[2].len() as u64 - 1,
        ..ChartSourceConfig::default()
    });
    let error = small_archives
        .fetch(&request(&server, "1.2.3"))
        .await
        .expect_err("too large");
    assert_eq!(
        error,
        Error::TooLarge {
            url: format!("{}/charts/app-v2-1.2.3.tgz", server.url),
            limit: archives[2].len() as u64 - 1,
        }
    );
    let small_index = ChartSource::new(ChartSourceConfig {
        max_index_bytes: 100,
        ..ChartSourceConfig::default()
    });
    let error = small_index
        .fetch(&request(&server, "1.2.3"))
        .await
        .expect_err("too large");
    assert!(
        matches!(error, Error::TooLarge { limit: 100, .. }),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn index_is_cached_for_its_ttl_and_archives_by_digest_on_disk() -> Result<()> {
    let (server, archives) = repository(None).await?;
    let cache = tempfile::tempdir()?;
    let config = ChartSourceConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        index_cache_ttl: Duration::from_secs(1),
        ..ChartSourceConfig::default()
    };
    let source = ChartSource::new(config.clone());
    source.fetch(&request(&server, "1.2.*")).await?;
    source.fetch(&request(&server, "1.2.*")).await?;
    assert_eq!(server.hits("/charts/index.yaml"), 1);
    assert_eq!(server.hits("/charts/app-v2-1.2.3.tgz"), 1);

    // A hard refresh re-reads the index, never the immutable archive.
    source
        .fetch(&ChartRequest {
            refresh: true,
            ..request(&server, "1.2.*")
        })
        .await?;
    assert_eq!(server.hits("/charts/index.yaml"), 2);
    assert_eq!(server.hits("/charts/app-v2-1.2.3.tgz"), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    source.fetch(&request(&server, "1.2.*")).await?;
    assert_eq!(server.hits("/charts/index.yaml"), 3);

    // A new process with the same cache directory finds the archive.
    let restarted = ChartSource::new(config);
    let chart = restarted.fetch(&request(&server, "1.2.3")).await?;
    assert_eq!(chart.archive.as_ref(), archives[2].as_slice());
    assert_eq!(server.hits("/charts/app-v2-1.2.3.tgz"), 1);
    let file = cache
        .path()
        .join("charts/sha256")
        .join(format!("{}.tgz", sha256_hex(&archives[2])));
    assert!(file.exists(), "{} missing", file.display());
    Ok(())
}

#[tokio::test]
async fn different_credentials_do_not_share_a_cached_index() -> Result<()> {
    let (server, _) = repository(None).await?;
    let source = ChartSource::new(ChartSourceConfig::default());
    source.fetch(&request(&server, "1.0.0")).await?;
    source
        .fetch(&ChartRequest {
            credentials: RepoCredentials {
                username: "bob".into(),
                password: "pw".into(),
                ..RepoCredentials::default()
            },
            ..request(&server, "1.0.0")
        })
        .await?;
    assert_eq!(server.hits("/charts/index.yaml"), 2);
    Ok(())
}

#[tokio::test]
async fn slow_servers_time_out_and_redirect_loops_stop() -> Result<()> {
    let server = ChartRepoServer::start(None).await?;
    server.route(
        "/slow/index.yaml",
        Route::Slow(Duration::from_secs(5), b"apiVersion: v1\n".to_vec()),
    );
    server.route(
        "/loop/index.yaml",
        Route::Redirect("/loop/index.yaml".into()),
    );
    let source = ChartSource::new(ChartSourceConfig {
        request_timeout: Duration::from_millis(300),
        max_redirects: 3,
        ..ChartSourceConfig::default()
    });
    let slow = source
        .fetch(&ChartRequest {
            repo_url: format!("{}/slow", server.url),
            chart: CHART.into(),
            ..ChartRequest::default()
        })
        .await
        .expect_err("times out");
    assert_eq!(
        slow,
        Error::Request {
            url: format!("{}/slow/index.yaml", server.url),
            reason: "timed out".into()
        }
    );
    let looping = source
        .fetch(&ChartRequest {
            repo_url: format!("{}/loop", server.url),
            chart: CHART.into(),
            ..ChartRequest::default()
        })
        .await
        .expect_err("redirect loop");
    assert!(
        looping.to_string().contains("stopped after 3 redirects"),
        "{looping}"
    );
    assert_eq!(server.hits("/loop/index.yaml"), 4);
    Ok(())
}

#[tokio::test]
async fn https_repositories_need_their_ca_or_insecure() -> Result<()> {
    let archive = chart_archive(CHART, "1.2.3")?;
    let index = index_yaml(
        CHART,
        &[("1.2.3", "app-v2-1.2.3.tgz", Some(&sha256_hex(&archive)))],
    );
    let server = TlsRepoServer::start(&[
        ("charts/index.yaml", index.into_bytes()),
        ("charts/app-v2-1.2.3.tgz", archive.clone()),
    ])?;
    let source = ChartSource::new(ChartSourceConfig::default());
    let request = |credentials: RepoCredentials| ChartRequest {
        repo_url: format!("{}/charts", server.url),
        chart: CHART.into(),
        target_revision: "1.2.*".into(),
        credentials,
        ..ChartRequest::default()
    };

    let untrusted = source
        .fetch(&request(RepoCredentials::default()))
        .await
        .expect_err("unknown issuer");
    let Error::Request { reason, .. } = &untrusted else {
        panic!("expected a request error, got {untrusted}")
    };
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");

    let with_ca = source
        .fetch(&request(RepoCredentials {
            ca_data: server.certificate_pem.clone(),
            ..RepoCredentials::default()
        }))
        .await?;
    assert_eq!(with_ca.archive.as_ref(), archive.as_slice());

    let insecure = source
        .fetch(&request(RepoCredentials {
            insecure: true,
            ..RepoCredentials::default()
        }))
        .await?;
    assert_eq!(insecure.version, "1.2.3");

    let bad_ca = source
        .fetch(&request(RepoCredentials {
            ca_data: "not a certificate".into(),
            ..RepoCredentials::default()
        }))
        .await
        .expect_err("bad bundle");
    assert!(matches!(bad_ca, Error::InvalidTls { .. }), "{bad_ca}");
    Ok(())
}
