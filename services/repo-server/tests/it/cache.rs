//! The two-tier manifest cache: memory, Redis shared by replicas, signed
//! entries, Redis outages and request coalescing.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::support::{config_map, generate_request, GitRepo, RedisServer, TestServer};

const SIGNING_KEY: &str = "test-signing-key";

fn repo_with_app() -> Result<GitRepo> {
    let git = GitRepo::new()?;
    git.write("app/cm.yaml", &config_map("cached"))?;
    git.commit("app")?;
    Ok(git)
}

async fn server_with_redis(redis_url: &str, prefix: &str, key: &str) -> Result<TestServer> {
    let (url, prefix, key) = (redis_url.to_owned(), prefix.to_owned(), key.to_owned());
    TestServer::start_with(move |c| {
        c.redis_url = Some(url);
        c.redis_key_prefix = prefix;
        c.cache_signing_key = Some(key);
    })
    .await
}

#[tokio::test]
async fn repeated_requests_are_answered_from_memory() -> Result<()> {
    let git = repo_with_app()?;
    let s = TestServer::start().await?;
    let req = generate_request(&git.url(), json!({"path": "app"}), "app");
    let first = s.generate(req.clone()).await?;
    assert_eq!(first.cache_source, "");
    let second = s.generate(req.clone()).await?;
    assert_eq!(second.cache_source, "memory");
    assert_eq!(second.manifests, first.manifests);
    assert_eq!(second.revision, first.revision);
    assert_eq!(s.server.render_count(), 1);

    // Anything that changes the output is a different entry.
    let mut other = req.clone();
    other.namespace = "other".to_owned();
    assert_eq!(s.generate(other).await?.cache_source, "");
    assert_eq!(s.server.render_count(), 2);
    Ok(())
}

#[tokio::test]
async fn no_cache_bypasses_both_tiers_and_stores_the_fresh_result() -> Result<()> {
    let git = repo_with_app()?;
    let redis = RedisServer::start()?;
    let s = server_with_redis(&redis.url(), "nocache", SIGNING_KEY).await?;
    let req = generate_request(&git.url(), json!({"path": "app"}), "app");
    assert_eq!(s.generate(req.clone()).await?.cache_source, "");
    let mut hard = req.clone();
    hard.no_cache = true;
    assert_eq!(s.generate(hard).await?.cache_source, "");
    assert_eq!(s.server.render_count(), 2);
    assert_eq!(s.generate(req).await?.cache_source, "memory");
    assert_eq!(redis.keys("nocache*").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn rendered_manifests_are_stored_signed_in_redis_and_shared_by_replicas() -> Result<()> {
    let git = repo_with_app()?;
    let redis = RedisServer::start()?;
    let a = server_with_redis(&redis.url(), "shared-test", SIGNING_KEY).await?;
    let req = generate_request(&git.url(), json!({"path": "app"}), "app");
    let rendered = a.generate(req.clone()).await?;
    assert_eq!(rendered.cache_source, "");

    let keys = redis.keys("shared-test*").await?;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("shared-test:manifests:"), "{keys:?}");
    assert!(redis.keys("caravel*").await?.is_empty());

    // A second replica with the same signing key answers from Redis
    // without rendering.
    let b = server_with_redis(&redis.url(), "shared-test", SIGNING_KEY).await?;
    let from_redis = b.generate(req.clone()).await?;
    assert_eq!(from_redis.cache_source, "redis");
    assert_eq!(from_redis.manifests, rendered.manifests);
    assert_eq!(from_redis.revision, rendered.revision);
    assert_eq!(b.server.render_count(), 0);
    // ... and then from its own memory.
    assert_eq!(b.generate(req.clone()).await?.cache_source, "memory");

    // A replica with another key cannot use the entries.
    let c = server_with_redis(&redis.url(), "shared-test", "another-key").await?;
    assert_eq!(c.generate(req).await?.cache_source, "");
    assert_eq!(c.server.render_count(), 1);
    Ok(())
}

#[tokio::test]
async fn tampered_redis_entries_are_rejected_and_regenerated() -> Result<()> {
    let git = repo_with_app()?;
    let redis = RedisServer::start()?;
    let a = server_with_redis(&redis.url(), "tamper", SIGNING_KEY).await?;
    let req = generate_request(&git.url(), json!({"path": "app"}), "app");
    let original = a.generate(req.clone()).await?;
    let keys = redis.keys("tamper*").await?;
    assert_eq!(keys.len(), 1);

    // Replace the payload with valid-looking content but keep the old tag.
    let mut conn = redis.connection().await?;
    let entry: Vec<u8> = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await?;
    let mut forged = entry[..32].to_vec();
    let evil = serde_json::to_vec(&json!({
        "manifests": [r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"evil"}}"#],
        "revision": original.revision,
        "source_type": "Directory",
    }))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &evil)?;
    forged.extend(gz.finish()?);
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg(forged)
        .query_async(&mut conn)
        .await?;

    let b = server_with_redis(&redis.url(), "tamper", SIGNING_KEY).await?;
    let answer = b.generate(req.clone()).await?;
    assert_eq!(answer.cache_source, "", "the forged entry must not be used");
    assert_eq!(answer.manifests, original.manifests);
    assert_eq!(b.server.render_count(), 1);

    // The regenerated entry replaced the forged one.
    let c = server_with_redis(&redis.url(), "tamper", SIGNING_KEY).await?;
    let again = c.generate(req.clone()).await?;
    assert_eq!(again.cache_source, "redis");
    assert_eq!(again.manifests, original.manifests);

    // Garbage without a signature is rejected too.
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg("not signed")
        .query_async(&mut conn)
        .await?;
    let d = server_with_redis(&redis.url(), "tamper", SIGNING_KEY).await?;
    assert_eq!(d.generate(req).await?.cache_source, "");
    Ok(())
}

#[tokio::test]
async fn the_service_keeps_answering_when_redis_is_down() -> Result<()> {
    let git = repo_with_app()?;
    let redis = RedisServer::start()?;
    let s = server_with_redis(&redis.url(), "down", SIGNING_KEY).await?;
    let req = generate_request(&git.url(), json!({"path": "app"}), "app");
    assert_eq!(s.generate(req.clone()).await?.cache_source, "");
    drop(redis);

    // Cached answers come from memory.
    assert_eq!(s.generate(req.clone()).await?.cache_source, "memory");
    // New renders still work, within the Redis timeout.
    let mut other = req.clone();
    other.app_name = "other".to_owned();
    let started = std::time::Instant::now();
    let resp = s.generate(other.clone()).await?;
    assert_eq!(resp.cache_source, "");
    assert_eq!(resp.manifests.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.generate(other).await?.cache_source, "memory");

    // A server whose Redis was never up starts and answers as well.
    let dead = format!("redis://127.0.0.1:{}", crate::support::free_port()?);
    let t = server_with_redis(&dead, "never", SIGNING_KEY).await?;
    assert_eq!(t.generate(req.clone()).await?.cache_source, "");
    assert_eq!(t.generate(req).await?.cache_source, "memory");
    Ok(())
}

#[tokio::test]
async fn concurrent_identical_requests_render_once() -> Result<()> {
    let git = GitRepo::new()?;
    // Enough files that a render takes a moment.
    for i in 0..200 {
        git.write(
            &format!("app/cm-{i:03}.yaml"),
            &config_map(&format!("cm-{i}")),
        )?;
    }
    git.commit("many")?;
    let redis = RedisServer::start()?;
    let s = server_with_redis(&redis.url(), "coalesce", SIGNING_KEY).await?;
    let req = generate_request(&git.url(), json!({"path": "app"}), "app");
    let calls = (0..10).map(|_| s.generate(req.clone()));
    let results = futures::future::join_all(calls).await;
    let mut sources = Vec::new();
    let mut first: Option<Vec<String>> = None;
    for r in results {
        let r = r?;
        assert_eq!(r.manifests.len(), 200);
        match &first {
            None => first = Some(r.manifests.clone()),
            Some(f) => assert_eq!(f, &r.manifests),
        }
        sources.push(r.cache_source);
    }
    assert_eq!(s.server.render_count(), 1, "sources: {sources:?}");
    assert_eq!(
        sources.iter().filter(|s| s.is_empty()).count(),
        1,
        "{sources:?}"
    );
    assert_eq!(
        sources.iter().filter(|s| *s == "memory").count(),
        9,
        "{sources:?}"
    );
    assert_eq!(s.server.fetch_count(), 1);
    Ok(())
}
