//! Revision resolution, ref listing and mirror reuse.

use anyhow::Result;
use caravel_proto::reposerver::v1::{
    ListRefsRequest, ResolveRevisionRequest, ResolveRevisionResponse,
};
use serde_json::json;
use tonic::Code;

use crate::support::{config_map, generate_request, repo, GitRepo, TestServer};

async fn resolve(
    s: &TestServer,
    url: &str,
    revision: &str,
    no_cache: bool,
) -> Result<ResolveRevisionResponse, tonic::Status> {
    s.client
        .clone()
        .resolve_revision(ResolveRevisionRequest {
            repo: repo(url),
            revision: revision.to_owned(),
            no_cache,
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn branches_tags_head_and_shas_resolve_to_commits() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("cm.yaml", &config_map("one"))?;
    let c1 = git.commit("one")?;
    git.git(&["tag", "light"])?;
    git.git(&["checkout", "-q", "-b", "feature"])?;
    git.write("cm.yaml", &config_map("two"))?;
    let c2 = git.commit("two")?;
    git.git(&["tag", "-a", "v1", "-m", "release v1"])?;
    let tag_object = git.git(&["rev-parse", "v1"])?;
    assert_ne!(tag_object, c2, "v1 must be an annotated tag");
    git.git(&["checkout", "-q", "main"])?;

    let s = TestServer::start().await?;
    let url = git.url();
    for (revision, want) in [
        ("main", &c1),
        ("feature", &c2),
        ("refs/heads/feature", &c2),
        ("light", &c1),
        ("v1", &c2),
        ("HEAD", &c1),
        ("", &c1),
    ] {
        let r = resolve(&s, &url, revision, false).await?;
        assert_eq!(&r.revision, want, "revision {revision:?}");
        assert!(!r.is_sha, "revision {revision:?}");
    }
    let full = resolve(&s, &url, &c2, false).await?;
    assert_eq!(full.revision, c2);
    assert!(full.is_sha);
    let short = resolve(&s, &url, &c2[..8], false).await?;
    assert_eq!(short.revision, c2);
    assert!(short.is_sha);

    let missing = resolve(&s, &url, "no-such-branch", false)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let missing_sha = resolve(&s, &url, "deadbeef", false).await.unwrap_err();
    assert_eq!(missing_sha.code(), Code::NotFound, "{missing_sha:?}");
    Ok(())
}

#[tokio::test]
async fn list_refs_returns_branches_and_tags() -> Result<()> {
    let git = GitRepo::new()?;
    git.commit("init")?;
    git.git(&["branch", "release-1"])?;
    git.git(&["tag", "v0.1"])?;
    git.git(&["tag", "-a", "v0.2", "-m", "annotated"])?;
    let s = TestServer::start().await?;
    let refs = s
        .client
        .clone()
        .list_refs(ListRefsRequest {
            repo: repo(&git.url()),
        })
        .await?
        .into_inner();
    assert_eq!(refs.branches, vec!["main", "release-1"]);
    assert_eq!(refs.tags, vec!["v0.1", "v0.2"]);
    Ok(())
}

#[tokio::test]
async fn branch_resolution_is_cached_until_no_cache() -> Result<()> {
    let git = GitRepo::new()?;
    let c1 = git.commit("one")?;
    let s = TestServer::start().await?;
    assert_eq!(resolve(&s, &git.url(), "main", false).await?.revision, c1);
    let c2 = git.commit("two")?;
    // Within the revision cache TTL the listing is reused.
    assert_eq!(resolve(&s, &git.url(), "main", false).await?.revision, c1);
    // A hard refresh lists the remote again, and refreshes the cache.
    assert_eq!(resolve(&s, &git.url(), "main", true).await?.revision, c2);
    assert_eq!(resolve(&s, &git.url(), "main", false).await?.revision, c2);
    Ok(())
}

#[tokio::test]
async fn a_commit_already_in_the_mirror_is_read_without_fetching() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("app/cm.yaml", &config_map("cm"))?;
    let sha = git.commit("app")?;
    let s = TestServer::start().await?;
    let url = git.url();

    let first = s
        .generate(generate_request(&url, json!({"path": "app"}), "first"))
        .await?;
    assert_eq!(first.revision, sha);
    assert_eq!(s.server.fetch_count(), 1);
    // One mirror, named after the normalized URL.
    assert_eq!(std::fs::read_dir(&s.cache_dir)?.count(), 1);

    // With the origin gone, a generate at the present SHA still works: it
    // must not touch the network.
    let origin = git.path().to_path_buf();
    std::fs::remove_dir_all(&origin)?;
    let mut req = generate_request(&url, json!({"path": "app"}), "second");
    req.revision = sha.clone();
    req.no_cache = true;
    let second = s.generate(req).await?;
    assert_eq!(second.revision, sha);
    assert_eq!(second.manifests, first.manifests);
    assert_eq!(s.server.fetch_count(), 1);

    // A SHA that is not in the mirror needs the (gone) remote: unavailable.
    let mut req = generate_request(&url, json!({"path": "app"}), "third");
    req.revision = "0123456789012345678901234567890123456789".to_owned();
    let err = s.generate(req).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    Ok(())
}

#[tokio::test]
async fn a_new_commit_on_a_branch_is_fetched_into_the_same_mirror() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("app/cm.yaml", &config_map("one"))?;
    git.commit("one")?;
    let s = TestServer::start().await?;
    let url = git.url();
    s.generate(generate_request(&url, json!({"path": "app"}), "a"))
        .await?;
    git.write("app/cm.yaml", &config_map("two"))?;
    let c2 = git.commit("two")?;
    let mut req = generate_request(&url, json!({"path": "app"}), "a");
    req.no_revision_cache = true;
    let resp = s.generate(req).await?;
    assert_eq!(resp.revision, c2);
    assert!(
        resp.manifests[0].contains("\"two\""),
        "{:?}",
        resp.manifests
    );
    assert_eq!(s.server.fetch_count(), 2);
    assert_eq!(std::fs::read_dir(&s.cache_dir)?.count(), 1);
    Ok(())
}
