//! Directory apps: file selection, ordering, parsing and error reporting.

use anyhow::Result;
use serde_json::json;
use tonic::Code;

use crate::support::{config_map, generate_request, kinds_and_names, GitRepo, TestServer};

#[tokio::test]
async fn directory_apps_render_yaml_yml_and_json_in_file_order() -> Result<()> {
    let git = GitRepo::new()?;
    git.write(
        "app/b.yaml",
        &format!("{}---\n{}", config_map("b1"), config_map("b2")),
    )?;
    git.write(
        "app/a.json",
        r#"[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a1"}},{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a2"}}]"#,
    )?;
    git.write("app/c.yml", &config_map("c"))?;
    git.write("app/README.md", "# not a manifest\n")?;
    git.write("app/notes.txt", "kind: nope\n")?;
    git.write("app/sub/d.yaml", &config_map("d"))?;
    let sha = git.commit("app")?;

    let s = TestServer::start().await?;
    let resp = s
        .generate(generate_request(&git.url(), json!({"path": "app"}), "app"))
        .await?;
    assert_eq!(
        kinds_and_names(&resp)?,
        vec![
            "Secret/a1",
            "Secret/a2",
            "ConfigMap/b1",
            "ConfigMap/b2",
            "ConfigMap/c"
        ]
    );
    assert_eq!(resp.source_type, "Directory");
    assert_eq!(resp.revision, sha);
    assert_eq!(resp.cache_source, "");
    // Each manifest is one JSON object.
    let first: serde_json::Value = serde_json::from_str(&resp.manifests[0])?;
    assert_eq!(first["apiVersion"], "v1");
    Ok(())
}

#[tokio::test]
async fn recurse_include_and_exclude_select_files() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("cm.yaml", &config_map("root"))?;
    git.write("env/prod/cm.yaml", &config_map("prod"))?;
    git.write("env/dev/cm.yaml", &config_map("dev"))?;
    git.write("env/dev/secret.yml", &config_map("dev-secret"))?;
    git.write(
        "other/x.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
    )?;
    git.commit("tree")?;
    let s = TestServer::start().await?;
    let url = git.url();
    let names = |dir: serde_json::Value| {
        let req = generate_request(&url, json!({"path": ".", "directory": dir}), "app");
        let s = &s;
        async move { kinds_and_names(&s.generate(req).await?) }
    };
    // Root path, no recursion: only the top-level file.
    assert_eq!(names(json!({})).await?, vec!["ConfigMap/root"]);
    assert_eq!(
        names(json!({"recurse": true})).await?,
        vec![
            "ConfigMap/root",
            "ConfigMap/dev",
            "ConfigMap/dev-secret",
            "ConfigMap/prod",
            "ConfigMap/x"
        ]
    );
    assert_eq!(
        names(json!({"recurse": true, "include": "{cm.yaml,env/prod/*}"})).await?,
        vec!["ConfigMap/root", "ConfigMap/prod"]
    );
    assert_eq!(
        names(json!({"recurse": true, "exclude": "{*.yml,other/*}"})).await?,
        vec!["ConfigMap/root", "ConfigMap/dev", "ConfigMap/prod"]
    );
    assert_eq!(
        names(json!({"recurse": true, "include": "env/*", "exclude": "*secret*"})).await?,
        vec!["ConfigMap/dev", "ConfigMap/prod"]
    );
    let bad = s
        .generate(generate_request(
            &url,
            json!({"directory": {"include": "{a,b"}}),
            "app",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    Ok(())
}

#[tokio::test]
async fn list_objects_are_flattened_into_their_items() -> Result<()> {
    let git = GitRepo::new()?;
    git.write(
        "app/list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: two}\n",
    )?;
    git.commit("list")?;
    let s = TestServer::start().await?;
    let resp = s
        .generate(generate_request(&git.url(), json!({"path": "app"}), "app"))
        .await?;
    assert_eq!(
        kinds_and_names(&resp)?,
        vec!["ConfigMap/one", "Service/two"]
    );
    Ok(())
}

#[tokio::test]
async fn invalid_yaml_is_reported_with_file_and_line() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("app/good.yaml", &config_map("good"))?;
    git.write(
        "app/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: name: x\ndata: {}\n",
    )?;
    git.commit("bad")?;
    let s = TestServer::start().await?;
    let err = s
        .generate(generate_request(&git.url(), json!({"path": "app"}), "app"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("bad.yaml"), "{}", err.message());
    assert!(err.message().contains("line 3"), "{}", err.message());
    Ok(())
}

#[tokio::test]
async fn objects_without_api_version_or_kind_fail_naming_the_file() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("app/nokind.yaml", "apiVersion: v1\nmetadata: {name: x}\n")?;
    git.commit("nokind")?;
    let s = TestServer::start().await?;
    let err = s
        .generate(generate_request(&git.url(), json!({"path": "app"}), "app"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("nokind.yaml"), "{}", err.message());
    Ok(())
}

#[tokio::test]
async fn kustomize_sources_are_not_supported_yet_and_charts_are_detected() -> Result<()> {
    let git = GitRepo::new()?;
    git.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )?;
    git.write(
        "chart/templates/cm.yaml",
        &config_map("{{ .Release.Name }}-cm"),
    )?;
    git.write(
        "kust/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\n",
    )?;
    git.write("kust/cm.yaml", &config_map("k"))?;
    git.commit("helm and kustomize")?;
    let s = TestServer::start().await?;
    let url = git.url();
    for (source, want) in [
        (
            json!({"path": "kust"}),
            "kustomize sources are not supported yet",
        ),
        (
            json!({"path": "kust", "kustomize": {}}),
            "kustomize sources are not supported yet",
        ),
    ] {
        let err = s
            .generate(generate_request(&url, source.clone(), "app"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented, "{source}: {err:?}");
        assert_eq!(err.message(), want, "{source}");
    }
    // A Chart.yaml makes the path a Helm app, released under the app name.
    let resp = s
        .generate(generate_request(&url, json!({"path": "chart"}), "app"))
        .await?;
    assert_eq!(resp.source_type, "Helm");
    assert_eq!(kinds_and_names(&resp)?, vec!["ConfigMap/app-cm"]);
    // An explicit `directory` makes it a directory app, as in Argo CD: the
    // kustomization file is then just another manifest.
    let resp = s
        .generate(generate_request(
            &url,
            json!({"path": "kust", "directory": {}}),
            "app",
        ))
        .await?;
    assert_eq!(
        kinds_and_names(&resp)?,
        vec!["ConfigMap/k", "Kustomization/?"]
    );
    Ok(())
}

#[tokio::test]
async fn symlinks_inside_the_repository_are_followed() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("shared/cm.yaml", &config_map("shared"))?;
    git.symlink("app/linked.yaml", "../shared/cm.yaml")?;
    git.symlink("app/dir-link", "../shared")?;
    git.symlink("alias", "app")?;
    git.commit("links")?;
    let s = TestServer::start().await?;
    let url = git.url();
    let resp = s
        .generate(generate_request(&url, json!({"path": "app"}), "app"))
        .await?;
    // The file link is read from the repository; the directory link is not
    // descended into (like filepath.Walk).
    assert_eq!(kinds_and_names(&resp)?, vec!["ConfigMap/shared"]);
    // The app path itself may be a symlink inside the repository.
    let resp = s
        .generate(generate_request(&url, json!({"path": "alias"}), "alias"))
        .await?;
    assert_eq!(kinds_and_names(&resp)?, vec!["ConfigMap/shared"]);
    Ok(())
}

#[tokio::test]
async fn a_missing_app_path_fails_with_a_clear_error() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("app/cm.yaml", &config_map("x"))?;
    git.commit("app")?;
    let s = TestServer::start().await?;
    let err = s
        .generate(generate_request(&git.url(), json!({"path": "nope"}), "app"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(err.message(), "app path nope does not exist");
    Ok(())
}
