//! Namespaced mode (`--resource-namespaces`, Argo CD's cluster `namespaces`
//! list): the controller watches and changes objects in the listed
//! namespaces only, refuses cluster-scoped objects and other namespaces,
//! and works with credentials that hold namespace-scoped rights only.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use caravel_crd::Application;
use caravel_integration_tests::TestEnv;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::PostParams;
use kube::Api;
use serde_json::{json, Value};

use crate::common::*;

/// A ClusterRole manifest (cluster-scoped: refused in namespaced mode).
fn cluster_role(name: &str) -> String {
    format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n")
}

/// The app's ComparisonError messages, joined.
fn comparison_errors(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.type_ == "ComparisonError")
        .map(|c| c.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Names of the resources listed in the app's status.
fn resource_names(app: &Application) -> Vec<String> {
    app.status
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .into_iter()
        .flatten()
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect()
}

/// Creates a Role with `rules` in `ns` and binds it to service account
/// `sa_ns/sa`.
async fn grant(
    client: &kube::Client,
    ns: &str,
    name: &str,
    rules: Value,
    sa_ns: &str,
    sa: &str,
) -> Result<()> {
    let role: Role = serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": ns },
        "rules": rules,
    }))?;
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .with_context(|| format!("creating Role {ns}/{name}"))?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": ns },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
        "subjects": [{ "kind": "ServiceAccount", "name": sa, "namespace": sa_ns }],
    }))?;
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .with_context(|| format!("creating RoleBinding {ns}/{name}"))?;
    Ok(())
}

/// A kubeconfig (in `dir`) for a new service account `sa_ns/sa` that has no
/// rights yet: its token comes from a service-account token Secret, which
/// the token controller fills in.
async fn service_account_kubeconfig(
    env: &TestEnv,
    client: &kube::Client,
    sa_ns: &str,
    sa: &str,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf> {
    let account: ServiceAccount = serde_json::from_value(json!({
        "metadata": { "name": sa, "namespace": sa_ns }
    }))?;
    Api::<ServiceAccount>::namespaced(client.clone(), sa_ns)
        .create(&PostParams::default(), &account)
        .await?;
    let secret_name = format!("{sa}-token");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": secret_name,
            "namespace": sa_ns,
            "annotations": { "kubernetes.io/service-account.name": sa },
        },
        "type": "kubernetes.io/service-account-token",
    }))?;
    let secrets = Api::<Secret>::namespaced(client.clone(), sa_ns);
    secrets.create(&PostParams::default(), &secret).await?;
    let token = eventually(
        Duration::from_secs(30),
        "the service account token",
        || async {
            let secret = secrets.get(&secret_name).await?;
            Ok(secret
                .data
                .and_then(|d| d.get("token").cloned())
                .map(|t| String::from_utf8_lossy(&t.0).into_owned()))
        },
    )
    .await?;
    let server = env.kube_config().cluster_url.to_string();
    let server = server.trim_end_matches('/');
    let kubeconfig = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {server}
    insecure-skip-tls-verify: true
users:
- name: {sa}
  user:
    token: {token}
contexts:
- name: test
  context:
    cluster: test
    user: {sa}
current-context: test
"
    );
    let path = dir.join(format!("{sa}.kubeconfig"));
    std::fs::write(&path, kubeconfig)?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_scoped_credentials_sync_the_listed_namespace_and_refuse_the_rest() -> Result<()>
{
    let env = env().await?;
    let admin = env.kube_client()?;
    let allowed = env.create_namespace("nsd-allowed").await?;
    let other = env.create_namespace("nsd-other").await?;
    let dir = env.test_dir("nsd-rbac")?;

    // The controller's identity: rights in `allowed` only (and, below, in
    // its own namespace), like the chart's Roles in namespaced mode.
    let sa = "caravel-controller";
    let kubeconfig = service_account_kubeconfig(env, &admin, &allowed, sa, &dir).await?;
    let everything = json!([{ "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] }]);
    grant(&admin, &allowed, "manage", everything, &allowed, sa).await?;
    let restricted = kube::Client::try_from(
        caravel_integration_tests::control_plane::client_config(&kubeconfig).await?,
    )?;
    let denied = Api::<ConfigMap>::all(restricted.clone())
        .list(&Default::default())
        .await;
    assert!(
        matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403),
        "the credentials cannot list cluster-wide: {denied:?}"
    );

    let caravel = Caravel::start_with(
        "nsd-rbac",
        Options {
            controller_kubeconfig: Some(kubeconfig),
            controller_args: vec!["--resource-namespaces".into(), allowed.clone()],
            ..Default::default()
        },
    )
    .await?;
    // Rights in the Applications' namespace, given once it exists; the
    // controller retries its watch until then.
    let own = json!([
        { "apiGroups": ["argoproj.io"], "resources": ["*"], "verbs": ["*"] },
        { "apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"] },
        { "apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] },
    ]);
    grant(&admin, &caravel.app_ns, "caravel", own, &allowed, sa).await?;

    // An app inside the managed namespace syncs and turns Healthy;
    // CreateNamespace=true updates the existing namespace (its Role allows
    // that) with the managed metadata.
    let (repo, _) = guestbook_repo(caravel.env).await?;
    caravel
        .create_app(
            "inside",
            &repo.file_url(),
            "guestbook",
            &allowed,
            json!({
                "syncOptions": ["CreateNamespace=true"],
                "managedNamespaceMetadata": { "labels": { "team": "nsd" } },
            }),
        )
        .await?;
    caravel
        .wait_app("inside", Duration::from_secs(60), "OutOfSync", |a| {
            sync_status(a) == "OutOfSync"
        })
        .await?;
    caravel
        .request_sync("inside", json!({ "sync": { "prune": true } }))
        .await?;
    let app = caravel
        .wait_app(
            "inside",
            Duration::from_secs(90),
            "Synced and Healthy",
            |a| sync_status(a) == "Synced" && health_status(a) == "Healthy",
        )
        .await?;
    assert_eq!(operation_phase(&app), "Succeeded", "{}", caravel.logs());
    assert_eq!(resource_names(&app).len(), 3, "{:?}", resource_names(&app));
    Api::<Deployment>::namespaced(admin.clone(), &allowed)
        .get("guestbook-ui")
        .await?;
    let ns = Api::<Namespace>::all(admin.clone()).get(&allowed).await?;
    assert_eq!(
        ns.metadata
            .labels
            .unwrap_or_default()
            .get("team")
            .map(String::as_str),
        Some("nsd"),
        "managedNamespaceMetadata was applied"
    );

    // Pruning finds the app's objects through the namespace's watch.
    repo.delete_files(&["guestbook/service.yaml"]).await?;
    caravel.refresh("inside", "normal").await?;
    caravel
        .wait_app("inside", Duration::from_secs(30), "OutOfSync", |a| {
            sync_status(a) == "OutOfSync"
        })
        .await?;
    caravel
        .request_sync("inside", json!({ "sync": { "prune": true } }))
        .await?;
    caravel
        .wait_app("inside", Duration::from_secs(60), "Synced again", |a| {
            sync_status(a) == "Synced" && resource_names(a).len() == 2
        })
        .await?;
    let services = Api::<Service>::namespaced(admin.clone(), &allowed);
    eventually_gone(
        &services,
        "guestbook-ui",
        Duration::from_secs(30),
        "the Service to be pruned",
    )
    .await?;

    // An app deploying to another namespace is refused and syncs nothing.
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with(
            "outside",
            vec![("cm/cm.yaml", config_map("cm", 0, "", "x"))],
        )
        .await?;
    caravel
        .create_app("outside", &repo.file_url(), "cm", &other, Value::Null)
        .await?;
    let app = caravel
        .wait_app(
            "outside",
            Duration::from_secs(30),
            "a ComparisonError",
            |a| !comparison_errors(a).is_empty(),
        )
        .await?;
    let message = comparison_errors(&app);
    assert!(
        message.contains(&format!(
            "namespace \"{other}\" for ConfigMap \"cm\" is not managed"
        )),
        "{message}"
    );
    sync_fails_with(&caravel, "outside", "is not managed").await?;
    assert!(
        Api::<ConfigMap>::namespaced(admin.clone(), &other)
            .get_opt("cm")
            .await?
            .is_none(),
        "nothing was created in the other namespace"
    );

    // A cluster-scoped object is refused, and nothing of the app is applied.
    let role_name = format!("{}-reader", caravel.app_ns);
    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with(
            "clusterwide",
            vec![
                ("app/cm.yaml", config_map("cw", 0, "", "x")),
                ("app/role.yaml", cluster_role(&role_name)),
            ],
        )
        .await?;
    caravel
        .create_app(
            "clusterwide",
            &repo.file_url(),
            "app",
            &allowed,
            Value::Null,
        )
        .await?;
    let app = caravel
        .wait_app(
            "clusterwide",
            Duration::from_secs(30),
            "a ComparisonError",
            |a| !comparison_errors(a).is_empty(),
        )
        .await?;
    let message = comparison_errors(&app);
    assert!(
        message.contains(&format!(
            "cluster level ClusterRole \"{role_name}\" can not be managed when in namespaced mode"
        )),
        "{message}"
    );
    assert!(
        resource_names(&app).contains(&format!("ClusterRole/{role_name}")),
        "the refused object is listed: {:?}",
        resource_names(&app)
    );
    sync_fails_with(
        &caravel,
        "clusterwide",
        "can not be managed when in namespaced mode",
    )
    .await?;
    assert!(
        Api::<ClusterRole>::all(admin.clone())
            .get_opt(&role_name)
            .await?
            .is_none(),
        "the ClusterRole was not created"
    );
    assert!(
        Api::<ConfigMap>::namespaced(admin.clone(), &allowed)
            .get_opt("cw")
            .await?
            .is_none(),
        "nothing of the refused app was applied"
    );
    let log = std::fs::read_to_string(caravel.controller.log_path())?;
    assert!(
        !log.contains("at the cluster scope"),
        "no cluster-wide list or watch was attempted:\n{}",
        caravel.controller.log_tail(60)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_outside_the_listed_namespaces_are_not_watched() -> Result<()> {
    let env = env().await?;
    let admin = env.kube_client()?;
    let allowed = env.create_namespace("nsw-allowed").await?;
    let other = env.create_namespace("nsw-other").await?;
    // Cluster-wide credentials: only the flag restricts what is watched.
    let caravel = Caravel::start_with(
        "nsw",
        Options {
            controller_args: vec!["--resource-namespaces".into(), allowed.clone()],
            ..Default::default()
        },
    )
    .await?;

    // An object elsewhere carrying the app's own tracking id: a cluster-wide
    // controller would list it as extraneous (OutOfSync, to be pruned).
    let stray: ConfigMap = serde_json::from_value(json!({
        "metadata": {
            "name": "stray",
            "namespace": other,
            "annotations": {
                "argocd.argoproj.io/tracking-id": format!("watched:/ConfigMap:{other}/stray"),
            },
        },
    }))?;
    Api::<ConfigMap>::namespaced(admin.clone(), &other)
        .create(&PostParams::default(), &stray)
        .await?;

    let (repo, _) = caravel
        .env
        .git()
        .create_repo_with(
            "watched",
            vec![("cm/cm.yaml", config_map("cm", 0, "", "x"))],
        )
        .await?;
    caravel
        .create_app(
            "watched",
            &repo.file_url(),
            "cm",
            &allowed,
            json!({ "automated": { "prune": true } }),
        )
        .await?;
    caravel
        .wait_app("watched", Duration::from_secs(30), "Synced", |a| {
            sync_status(a) == "Synced" && operation_phase(a) == "Succeeded"
        })
        .await?;
    // Another comparison after the sync still does not see it.
    caravel.refresh("watched", "hard").await?;
    let app = caravel
        .wait_app("watched", Duration::from_secs(30), "the refresh", |a| {
            !a.metadata
                .annotations
                .as_ref()
                .is_some_and(|an| an.contains_key("argocd.argoproj.io/refresh"))
        })
        .await?;
    assert_eq!(sync_status(&app), "Synced", "{}", caravel.logs());
    assert_eq!(resource_names(&app), vec!["ConfigMap/cm".to_owned()]);
    assert!(
        Api::<ConfigMap>::namespaced(admin.clone(), &other)
            .get_opt("stray")
            .await?
            .is_some(),
        "the object outside the managed namespaces was not pruned"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_namespace_names_stop_the_controller_at_startup() -> Result<()> {
    let bin = caravel_integration_tests::binary_path("caravel-application-controller")?;
    let out = tokio::process::Command::new(bin)
        .args(["--resource-namespaces", "team-a,Team_B"])
        .env_remove("KUBECONFIG")
        .output()
        .await?;
    let text = output_text(&out);
    if out.status.code() != Some(2) {
        bail!("expected exit code 2, got {:?}: {text}", out.status.code());
    }
    assert!(
        text.contains("\"Team_B\" is not a namespace name"),
        "{text}"
    );
    assert!(text.contains("RFC 1123"), "{text}");
    Ok(())
}

/// Requests a sync of `app` and waits for it to fail with a message
/// containing `text`.
async fn sync_fails_with(caravel: &Caravel, app: &str, text: &str) -> Result<()> {
    caravel.request_sync(app, json!({ "sync": {} })).await?;
    let app = caravel
        .wait_app(app, Duration::from_secs(30), "the sync to fail", |a| {
            operation_phase(a) == "Failed" || operation_phase(a) == "Error"
        })
        .await?;
    assert!(
        operation_message(&app).contains(text),
        "{}",
        operation_message(&app)
    );
    Ok(())
}
