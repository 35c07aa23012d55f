//! The repo-server's two-tier cache, seen from a client.

use std::time::Duration;

use anyhow::Result;
use caravel_proto::reposerver::v1::repo_server_service_client::RepoServerServiceClient;
use caravel_proto::reposerver::v1::{GenerateManifestRequest, Repository};

use crate::common::*;

fn request(repo_url: &str, app: &str) -> GenerateManifestRequest {
    GenerateManifestRequest {
        repo: Some(Repository {
            repo: repo_url.to_owned(),
            ..Default::default()
        }),
        application_source_json:
            serde_json::json!({"repoURL": repo_url, "path": "guestbook", "targetRevision": "HEAD"})
                .to_string(),
        app_name: app.to_owned(),
        namespace: "default".to_owned(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_generate_is_a_cache_hit_stored_in_redis_and_survives_redis_loss() -> Result<()> {
    let caravel = Caravel::start("cache").await?;
    let (repo, sha) = guestbook_repo(caravel.env).await?;
    let url = repo.http_url()?;
    let mut client =
        RepoServerServiceClient::connect(format!("http://{}", caravel.repo_server_addr)).await?;

    let first = client
        .generate_manifest(request(&url, "cached"))
        .await?
        .into_inner();
    assert_eq!(first.revision, sha);
    assert_eq!(first.manifests.len(), 3);
    assert_eq!(first.source_type, "Directory");
    assert_eq!(first.cache_source, "");
    let second = client
        .generate_manifest(request(&url, "cached"))
        .await?
        .into_inner();
    assert_eq!(second.cache_source, "memory");
    assert_eq!(second.manifests, first.manifests);

    let keys = caravel
        .redis
        .command(&["KEYS", &format!("{}*", caravel.redis_prefix)])
        .await?;
    assert!(!keys.trim().is_empty(), "no manifest entry in redis");

    caravel.redis.stop()?;
    let third = tokio::time::timeout(
        Duration::from_secs(10),
        client.generate_manifest(request(&url, "other-app")),
    )
    .await??;
    let third = third.into_inner();
    assert_eq!(third.revision, sha, "answers from git with redis down");
    assert_eq!(third.manifests.len(), 3);
    let again = client
        .generate_manifest(request(&url, "cached"))
        .await?
        .into_inner();
    assert_eq!(again.cache_source, "memory");
    Ok(())
}
