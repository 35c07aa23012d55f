//! Helm charts in Git through the gRPC API: rendering with Argo CD's
//! options and value order, and every way a value file may try to leave
//! its repository (security checklist items 1–6), plus a chart that
//! recurses forever (item 11) and hostile YAML in a value file (item 10).

use anyhow::Result;
use serde_json::json;
use tonic::Code;

use crate::support::*;

const CHART_YAML: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\n";

/// A chart printing its values into a ConfigMap named after the release.
fn chart(git: &GitRepo, dir: &str) -> Result<()> {
    git.write(&format!("{dir}/Chart.yaml"), CHART_YAML)?;
    git.write(
        &format!("{dir}/values.yaml"),
        "greeting: default\nreplicas: 1\nlist: [a]\n",
    )?;
    git.write(
        &format!("{dir}/templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n  namespace: {{ .Release.Namespace }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  replicas: {{ .Values.replicas | quote }}\n  list: {{ toJson .Values.list | quote }}\n  csv: {{ .Values.csv | default \"\" | quote }}\n",
    )?;
    git.write(
        &format!("{dir}/templates/NOTES.txt"),
        "not a manifest: {{ .Release.Name }}\n",
    )?;
    Ok(())
}

fn data(
    resp: &caravel_proto::reposerver::v1::GenerateManifestResponse,
) -> Result<serde_json::Value> {
    assert_eq!(resp.manifests.len(), 1, "{:?}", resp.manifests);
    let cm: serde_json::Value = serde_json::from_str(&resp.manifests[0])?;
    Ok(cm)
}

#[tokio::test]
async fn a_chart_renders_with_argo_cd_value_order_and_options() -> Result<()> {
    let git = GitRepo::new()?;
    chart(&git, "charts/web")?;
    git.write(
        "charts/web/values-prod.yaml",
        "greeting: prod\nreplicas: 3\n",
    )?;
    git.write("envs/shared.yaml", "greeting: shared\n")?;
    git.commit("chart")?;
    let s = TestServer::start().await?;
    let url = git.url();

    // Defaults: release = app name, namespace = the request's; NOTES.txt dropped.
    let resp = s
        .generate(generate_request(
            &url,
            json!({"path": "charts/web"}),
            "shop",
        ))
        .await?;
    assert_eq!(resp.source_type, "Helm");
    let cm = data(&resp)?;
    assert_eq!(cm["metadata"]["name"], "shop-cm");
    assert_eq!(cm["metadata"]["namespace"], "default");
    assert_eq!(cm["data"]["greeting"], "default");

    // Value files in order (the later wins), then values, then parameters
    // (forceString, escaped commas), releaseName and namespace overrides.
    let source = json!({
        "path": "charts/web",
        "helm": {
            "releaseName": "rel",
            "namespace": "team-a",
            "valueFiles": ["/envs/shared.yaml", "values-prod.yaml"],
            "valuesObject": {"replicas": 5},
            "parameters": [
                {"name": "csv", "value": "a,b,c"},
                {"name": "list", "value": "{x,y}"},
                {"name": "greeting", "value": "007", "forceString": true}
            ]
        }
    });
    let cm = data(&s.generate(generate_request(&url, source, "shop")).await?)?;
    assert_eq!(cm["metadata"]["name"], "rel-cm");
    assert_eq!(cm["metadata"]["namespace"], "team-a");
    assert_eq!(cm["data"]["greeting"], "007");
    assert_eq!(cm["data"]["replicas"], "5");
    assert_eq!(cm["data"]["csv"], "a,b,c");
    assert_eq!(cm["data"]["list"], "[\"x\",\"y\"]");

    // A missing value file fails the app, unless told to ignore it.
    let missing = json!({"path": "charts/web", "helm": {"valueFiles": ["nope.yaml"]}});
    let err = s
        .generate(generate_request(&url, missing, "shop"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("nope.yaml"), "{}", err.message());
    let ignored = json!({"path": "charts/web", "helm": {"valueFiles": ["nope.yaml"], "ignoreMissingValueFiles": true}});
    let cm = data(&s.generate(generate_request(&url, ignored, "shop")).await?)?;
    assert_eq!(cm["data"]["greeting"], "default");
    Ok(())
}

/// Asserts the source fails with `code` and a message containing `want`
/// that never shows file content or a resolved path.
async fn assert_refused(
    s: &TestServer,
    url: &str,
    value_file: &str,
    code: Code,
    want: &str,
) -> Result<()> {
    let source = json!({"path": "charts/web", "helm": {"valueFiles": [value_file]}});
    let err = s
        .generate(generate_request(url, source, "app"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), code, "{value_file}: {err:?}");
    let message = err.message();
    assert!(message.contains(want), "{value_file}: {message}");
    assert!(
        !message.contains("root:"),
        "{value_file}: content leaked: {message}"
    );
    assert!(
        !message.contains("/tmp") && !message.contains(".cache"),
        "{value_file}: a resolved path leaked: {message}"
    );
    Ok(())
}

#[tokio::test]
async fn value_files_never_leave_the_repository() -> Result<()> {
    let git = GitRepo::new()?;
    chart(&git, "charts/web")?;
    // Hostile files live outside the chart directory (the chart itself is
    // read whole, so a loop inside it fails every render of it).
    git.symlink("env/passwd.yaml", "/etc/passwd")?;
    git.symlink("env/up.yaml", "../../outside.yaml")?;
    git.symlink("env/loop-a.yaml", "loop-b.yaml")?;
    git.symlink("env/loop-b.yaml", "/env/loop-a.yaml")?;
    git.write("env/laughs.yaml", &billion_laughs())?;
    git.commit("hostile value files")?;
    let s = TestServer::start().await?;
    let url = git.url();
    // Item 1: `..` out of the repository.
    assert_refused(
        &s,
        &url,
        "../../../../etc/passwd",
        Code::InvalidArgument,
        "outside the repository",
    )
    .await?;
    // Item 2: a sibling directory sharing the repository's name prefix.
    assert_refused(
        &s,
        &url,
        "../../../foo2/x.yaml",
        Code::InvalidArgument,
        "outside the repository",
    )
    .await?;
    // Item 3: a symlink to a file outside, refused after resolving it.
    assert_refused(
        &s,
        &url,
        "/env/passwd.yaml",
        Code::InvalidArgument,
        "resolves outside the repository",
    )
    .await?;
    assert_refused(
        &s,
        &url,
        "/env/up.yaml",
        Code::InvalidArgument,
        "resolves outside the repository",
    )
    .await?;
    // Item 4: a symlink loop.
    assert_refused(
        &s,
        &url,
        "/env/loop-a.yaml",
        Code::InvalidArgument,
        "symlink loop",
    )
    .await?;
    // Item 5: a NUL byte.
    assert_refused(&s, &url, "a\u{0}b.yaml", Code::InvalidArgument, "nul byte").await?;
    // Item 6: URL schemes.
    for url_file in [
        "file:///etc/passwd",
        "http://169.254.169.254/latest",
        "s3://bucket/v.yaml",
    ] {
        assert_refused(
            &s,
            &url,
            url_file,
            Code::InvalidArgument,
            "URL schemes are not allowed",
        )
        .await?;
    }
    // Item 10: a value file of exponential aliases is an error, not memory.
    assert_refused(
        &s,
        &url,
        "/env/laughs.yaml",
        Code::FailedPrecondition,
        "laughs.yaml",
    )
    .await?;
    Ok(())
}

fn billion_laughs() -> String {
    let mut doc = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut prev = "a";
    for n in names {
        doc.push_str(&format!(
            "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = n;
    }
    doc
}

// Item 11: a template that includes itself forever.
#[tokio::test]
async fn a_chart_that_recurses_forever_is_an_error() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("loop/Chart.yaml", CHART_YAML)?;
    git.write(
        "loop/templates/_loop.tpl",
        "{{- define \"loop\" -}}{{ include \"loop\" . }}{{- end -}}",
    )?;
    git.write("loop/templates/cm.yaml", "{{ include \"loop\" . }}")?;
    git.commit("recursion")?;
    let s = TestServer::start().await?;
    let err = s
        .generate(generate_request(&git.url(), json!({"path": "loop"}), "app"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("exceeded maximum template depth"),
        "{}",
        err.message()
    );
    Ok(())
}
