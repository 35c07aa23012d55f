//! The CRDs accept what Argo CD users write.

use anyhow::Result;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_shaped_applications_pass_server_side_validation() -> Result<()> {
    let env = env().await?;
    let ns = env.create_namespace("seeds").await?;
    let manifests = std::fs::read_to_string(
        workspace().join("integration-tests/testdata/seed-applications.yaml"),
    )?
    .replace("NAMESPACE", &ns);
    let file = env.test_dir("seeds")?.join("seed-applications.yaml");
    std::fs::write(&file, manifests)?;
    let path = file.to_str().unwrap();
    let out = env
        .kubectl(&["apply", "--dry-run=server", "-f", path])
        .await?;
    for name in [
        "app-of-apps",
        "web-frontend-stg",
        "storage-prod",
        "kustomize-prod",
    ] {
        assert!(
            out.contains(&format!(
                "application.argoproj.io/{name} created (server dry run)"
            )),
            "{out}"
        );
    }
    assert!(
        out.contains("appproject.argoproj.io/prj-devops created (server dry run)"),
        "{out}"
    );

    // Created for real, nothing the manifests carry is pruned by the schema.
    env.kubectl(&["apply", "-f", path]).await?;
    let json = env
        .kubectl(&[
            "get",
            "application",
            "web-frontend-stg",
            "-n",
            &ns,
            "-o",
            "json",
        ])
        .await?;
    let app: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(
        app["spec"]["source"]["helm"]["valuesObject"]["ingress"]["hosts"][0],
        "stg.example.com"
    );
    assert_eq!(
        app["spec"]["ignoreDifferences"][2]["jqPathExpressions"][0],
        ".status"
    );
    assert_eq!(
        app["spec"]["syncPolicy"]["retry"]["backoff"]["maxDuration"],
        "3m"
    );
    assert_eq!(
        app["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]["team"],
        "web"
    );

    // And a manifest the schema must refuse.
    let bad = env.test_dir("seeds-bad")?.join("bad.yaml");
    std::fs::write(
        &bad,
        format!("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: bad\n  namespace: {ns}\nspec:\n  project: default\n  destination: {{server: https://kubernetes.default.svc}}\n  revisionHistoryLimit: \"ten\"\n"),
    )?;
    let refused = env
        .kubectl(&["apply", "--dry-run=server", "-f", bad.to_str().unwrap()])
        .await;
    assert!(
        refused.is_err(),
        "a string revisionHistoryLimit must be refused: {refused:?}"
    );
    Ok(())
}
