//! The Helm chart in `helm/caravel` and `deploy/install.yaml`, checked by
//! real Helm (helm-python-sdk, installed by `scripts/deps.sh`), by Caravel's
//! own repo-server, by the real kube-apiserver, and by running the real
//! binaries exactly as the rendered pods would run them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use caravel_integration_tests::chart_repo::helm_python;
use caravel_integration_tests::net::free_port;
use caravel_integration_tests::{binary_path, ManagedProcess, ProcessSpec};
use caravel_proto::reposerver::v1::repo_server_service_client::RepoServerServiceClient;
use caravel_proto::reposerver::v1::{GenerateManifestRequest, Repository};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use serde_json::{json, Value};

use crate::common::*;

const CHART: &str = "helm/caravel";
const HA_VALUES: &str = "helm/caravel/ci/ha-values.yaml";
/// The trio's Deployments, by the component name the chart gives them.
const SERVICES: [&str; 3] = ["repo-server", "application-controller", "api-server"];

// === rendering with real Helm ===

/// What `helm template` printed: every object in order, and the whole text.
struct HelmRender {
    objects: Vec<Value>,
    output: String,
}

impl HelmRender {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    fn named(&self, kind: &str, name: &str) -> Result<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .with_context(|| format!("no {kind} {name} in the render"))
    }
}

/// Runs `scripts/helm-oracle.py` with `args`, returning its JSON.
fn oracle(args: &[&str]) -> Result<Value> {
    let out = std::process::Command::new(helm_python()?)
        .arg(workspace().join("scripts/helm-oracle.py"))
        .args(args)
        .current_dir(workspace())
        .output()
        .context("running the helm oracle")?;
    ensure!(
        out.status.success(),
        "helm oracle {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("parsing the helm oracle's output")
}

/// `helm template <release> helm/caravel -n <namespace> --include-crds [-f values]`.
fn helm_template(release: &str, namespace: &str, extra: &[&str]) -> Result<HelmRender> {
    let mut args = vec![
        CHART,
        "--name",
        release,
        "--namespace",
        namespace,
        "--include-crds",
    ];
    args.extend_from_slice(extra);
    let result = oracle(&args)?;
    if let Some(error) = result["error"].as_str() {
        bail!("helm failed to render the chart: {error}");
    }
    let mut objects = Vec::new();
    for manifest in result["manifests"].as_array().context("manifests")? {
        let content = manifest["content"].as_str().context("content")?;
        for doc in caravel_yaml::from_str_multi(content)? {
            if !doc.is_null() {
                objects.push(doc);
            }
        }
    }
    Ok(HelmRender {
        objects,
        output: result["output"].as_str().unwrap_or_default().to_owned(),
    })
}

/// `helm lint` findings of severity warning (2) and error (3).
fn helm_lint(extra: &[&str]) -> Result<(Vec<String>, Vec<String>)> {
    let mut args = vec!["--lint", CHART, "--namespace", "argocd"];
    args.extend_from_slice(extra);
    let report = oracle(&args)?;
    let mut warnings = Vec::new();
    let mut errors: Vec<String> = report["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e.to_string())
        .collect();
    for m in report["messages"].as_array().into_iter().flatten() {
        let text = format!("{}: {}", m["path"], m["error"]);
        match m["severity"].as_i64() {
            Some(3) => errors.push(text),
            Some(2) => warnings.push(text),
            _ => {}
        }
    }
    ensure!(
        report["total_charts_linted"] == 1,
        "lint did not lint the chart: {report}"
    );
    Ok((warnings, errors))
}

fn workloads(render: &HelmRender) -> Vec<&Value> {
    render
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "Job")
        .collect()
}

fn component(object: &Value) -> &str {
    object["metadata"]["labels"]["app.kubernetes.io/component"]
        .as_str()
        .unwrap_or_default()
}

fn deployment_of<'a>(render: &'a HelmRender, component_name: &str) -> Result<&'a Value> {
    render
        .of_kind("Deployment")
        .into_iter()
        .find(|d| component(d) == component_name)
        .with_context(|| format!("no Deployment for {component_name}"))
}

/// Every pod of the chart runs hardened, and the trio's probes ask /healthz.
fn assert_hardened(render: &HelmRender) {
    for workload in workloads(render) {
        let name = workload["metadata"]["name"].as_str().unwrap_or_default();
        let pod = &workload["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        for container in pod["containers"].as_array().into_iter().flatten() {
            let sc = &container["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
            assert!(
                sc["capabilities"]["drop"]
                    .as_array()
                    .is_some_and(|d| d.contains(&json!("ALL"))),
                "{name} drops all capabilities"
            );
        }
    }
    for service in SERVICES {
        let Ok(deployment) = deployment_of(render, service) else {
            panic!("no Deployment for {service}");
        };
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        for probe in ["readinessProbe", "livenessProbe"] {
            assert_eq!(
                container[probe]["httpGet"]["path"], "/healthz",
                "{service} {probe}"
            );
        }
    }
}

#[test]
fn helm_lints_and_renders_the_chart_with_default_and_ha_values() -> Result<()> {
    for (label, extra) in [("defaults", vec![]), ("HA", vec!["-f", HA_VALUES])] {
        let (warnings, errors) = helm_lint(&extra)?;
        assert!(errors.is_empty(), "helm lint ({label}) errors: {errors:#?}");
        if !warnings.is_empty() {
            eprintln!("helm lint ({label}) warnings: {warnings:#?}");
        }
    }

    let defaults = helm_template("caravel", "argocd", &[])?;
    let again = helm_template("caravel", "argocd", &[])?;
    assert_eq!(
        defaults.output, again.output,
        "the chart renders deterministically (no random values)"
    );
    let mut components: Vec<&str> = defaults
        .of_kind("Deployment")
        .into_iter()
        .map(component)
        .collect();
    components.sort_unstable();
    assert_eq!(
        components,
        [
            "api-server",
            "application-controller",
            "redis",
            "repo-server"
        ]
    );
    assert_eq!(defaults.of_kind("Service").len(), 4);
    assert_eq!(defaults.of_kind("CustomResourceDefinition").len(), 2);
    assert!(defaults.of_kind("NetworkPolicy").is_empty());
    for object in &defaults.objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        if !matches!(
            kind,
            "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
        ) {
            assert_eq!(
                object["metadata"]["namespace"], "argocd",
                "{kind} {} is namespaced",
                object["metadata"]["name"]
            );
        }
    }
    // The repo-server never talks to the Kubernetes API.
    let repo_server = deployment_of(&defaults, "repo-server")?;
    assert_eq!(
        repo_server["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
    assert_hardened(&defaults);

    let ha = helm_template("caravel", "argocd", &["-f", HA_VALUES])?;
    for service in SERVICES {
        assert_eq!(
            deployment_of(&ha, service)?["spec"]["replicas"],
            3,
            "{service} replicas"
        );
    }
    assert!(
        deployment_of(&ha, "redis").is_err(),
        "external Redis: no bundled Redis"
    );
    assert!(ha.of_kind("PodDisruptionBudget").len() >= 3);
    let policies = ha.of_kind("NetworkPolicy");
    assert!(policies.len() >= 2, "{policies:#?}");
    // The repo-server admits only the controller and the api-server.
    let repo_policy = policies
        .iter()
        .find(|p| component(p) == "repo-server")
        .context("a NetworkPolicy for the repo-server")?;
    let mut admitted: Vec<String> = repo_policy["spec"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["from"].as_array().cloned().unwrap_or_default())
        .filter_map(|peer| {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    admitted.sort();
    admitted.dedup();
    assert_eq!(
        admitted,
        ["caravel-api-server", "caravel-application-controller"]
    );
    assert_hardened(&ha);

    // The schema rejects a value of the wrong type.
    let bad = oracle(&[CHART, "--set", "repoServer.replicas=many"])?;
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("replicas")),
        "a wrong type fails schema validation: {bad}"
    );
    Ok(())
}

#[test]
fn install_yaml_is_the_chart_rendered_by_helm() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let fresh = dir.path().join("install.yaml");
    let status = std::process::Command::new("bash")
        .arg(workspace().join("scripts/render-install.sh"))
        .arg(&fresh)
        .status()?;
    ensure!(status.success(), "scripts/render-install.sh failed");
    let checked_in = std::fs::read_to_string(workspace().join("deploy/install.yaml"))?;
    assert!(
        checked_in == std::fs::read_to_string(&fresh)?,
        "deploy/install.yaml drifted from helm/caravel: run scripts/render-install.sh"
    );
    Ok(())
}

// === Caravel's repo-server renders it like Helm ===

/// Objects keyed by kind/namespace/name, for comparing as data.
fn by_identity(objects: impl IntoIterator<Item = Value>) -> BTreeMap<String, Value> {
    objects
        .into_iter()
        .map(|o| {
            let key = format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["namespace"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            );
            (key, o)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caravels_repo_server_renders_the_chart_like_helm() -> Result<()> {
    let caravel = Caravel::start("chart-render").await?;
    let repo = caravel.env.git().create_repo("chart").await?;
    let files: Vec<(String, String)> = files_under(&workspace().join(CHART))?
        .into_iter()
        .map(|(path, text)| (format!("{CHART}/{path}"), text))
        .collect();
    repo.commit_files(files).await?;
    let url = repo.file_url();
    let mut client =
        RepoServerServiceClient::connect(format!("http://{}", caravel.repo_server_addr)).await?;

    for (label, value_files) in [("defaults", vec![]), ("HA", vec!["ci/ha-values.yaml"])] {
        let source = json!({
            "repoURL": url,
            "path": CHART,
            "targetRevision": "HEAD",
            "helm": { "releaseName": "caravel", "valueFiles": value_files },
        });
        let response = client
            .generate_manifest(GenerateManifestRequest {
                repo: Some(Repository {
                    repo: url.clone(),
                    ..Default::default()
                }),
                application_source_json: source.to_string(),
                app_name: "caravel".into(),
                namespace: "argocd".into(),
                tracking_method: "annotation".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        assert_eq!(response.source_type, "Helm");
        let ours = by_identity(
            response
                .manifests
                .iter()
                .map(|m| serde_json::from_str::<Value>(m))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let extra: Vec<&str> = if label == "HA" {
            vec!["-f", HA_VALUES]
        } else {
            vec![]
        };
        let helm = by_identity(helm_template("caravel", "argocd", &extra)?.objects);
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            helm.keys().collect::<Vec<_>>(),
            "{label}: the same objects"
        );
        for (key, object) in &helm {
            assert_eq!(ours.get(key), Some(object), "{label}: {key}");
        }
    }
    Ok(())
}

// === the API server accepts every object ===

/// Writes `objects` as a JSON `List`, which kubectl reads exactly (its YAML
/// reader would take an unquoted `no` for a boolean).
fn write_objects(path: &Path, objects: &[&Value]) -> Result<()> {
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": objects });
    std::fs::write(path, serde_json::to_vec_pretty(&list)?)?;
    Ok(())
}

/// The API versions the test cluster serves, as `helm --api-versions` takes them.
async fn cluster_api_versions(env: &caravel_integration_tests::TestEnv) -> Result<Vec<String>> {
    let out = env.kubectl(&["api-versions"]).await?;
    Ok(out.lines().map(str::to_owned).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rendered_object_passes_a_server_side_dry_run() -> Result<()> {
    let env = env().await?;
    let namespace = env.create_namespace("chart-dry-run").await?;
    let dir = env.test_dir("chart-dry-run")?;
    let version = env.kubectl(&["version", "-o", "json"]).await?;
    let version: Value = serde_json::from_str(&version)?;
    let kube_version = version["serverVersion"]["gitVersion"]
        .as_str()
        .context("server version")?
        .to_owned();
    let api_versions = cluster_api_versions(env).await?.join(",");
    for (label, values) in [("defaults", None), ("ha", Some(HA_VALUES))] {
        let mut extra = vec![
            "--kube-version",
            kube_version.as_str(),
            "--api-versions",
            api_versions.as_str(),
        ];
        if let Some(v) = values {
            extra.extend(["-f", v]);
        }
        let render = helm_template("caravel-dry-run", &namespace, &extra)?;
        let (crds, rest): (Vec<&Value>, Vec<&Value>) = render
            .objects
            .iter()
            .partition(|o| o["kind"] == "CustomResourceDefinition");
        ensure!(
            crds.len() == 2 && rest.len() > 10,
            "{label}: unexpected render"
        );
        // CRDs first (they are installed for the suite already, so a dry run
        // of the very same objects must pass), then everything else.
        for (part, objects) in [("crds", &crds), ("objects", &rest)] {
            let file = dir.join(format!("{label}-{part}.json"));
            write_objects(&file, objects)?;
            let out = env
                .kubectl(&[
                    "apply",
                    "--dry-run=server",
                    "-n",
                    &namespace,
                    "-f",
                    file.to_str().context("path")?,
                ])
                .await
                .with_context(|| format!("{label}: dry run of the {part}"))?;
            let accepted = out
                .lines()
                .filter(|l| l.contains("(server dry run)"))
                .count();
            assert_eq!(accepted, objects.len(), "{label} {part}: {out}");
        }
    }
    env.delete_namespace(&namespace).await?;
    Ok(())
}

// === deploy/install.yaml on the cluster ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_yaml_applies_and_every_deployment_becomes_available() -> Result<()> {
    let env = env().await?;
    // install.yaml is for namespace argocd, as Argo CD's is; no other test
    // uses that namespace.
    let _ = env.kubectl(&["create", "namespace", "argocd"]).await;
    let install = workspace().join("deploy/install.yaml");
    env.kubectl(&[
        "apply",
        "-n",
        "argocd",
        "--server-side",
        "--force-conflicts",
        "-f",
        install.to_str().context("path")?,
    ])
    .await?;
    let out = env
        .kubectl(&[
            "wait",
            "-n",
            "argocd",
            "--for=condition=Available",
            "--timeout=120s",
            "deployment",
            "--all",
        ])
        .await?;
    let mut available: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("condition met"))
        .collect();
    available.sort_unstable();
    assert_eq!(
        available,
        [
            "deployment.apps/caravel-api-server condition met",
            "deployment.apps/caravel-application-controller condition met",
            "deployment.apps/caravel-redis condition met",
            "deployment.apps/caravel-repo-server condition met",
        ]
    );
    Ok(())
}

// === the rendered containers run the real binaries ===

/// A rendered container made runnable on this machine.
struct LocalContainer {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Container port -> local port.
    ports: HashMap<i64, u16>,
    /// Named container ports.
    port_names: HashMap<String, i64>,
}

/// Kubernetes' `$(VAR)` expansion in args and env values; `$$` escapes.
fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(close) = tail.strip_prefix("$(").and_then(|t| t.find(')')) {
            let name = &tail[2..2 + close];
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&tail[..close + 3]),
            }
            rest = &tail[close + 3..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Replaces in-cluster addresses (Service DNS names, 0.0.0.0 listeners,
/// mounted paths) with their local stand-ins, in one pass (a replacement is
/// never rewritten again); at each position the first matching rule wins,
/// so rules come longest first.
fn localise(text: &str, rewrites: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    'scan: while let Some(c) = rest.chars().next() {
        for (from, to) in rewrites {
            if let Some(after) = rest.strip_prefix(from.as_str()) {
                out.push_str(to);
                rest = after;
                continue 'scan;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The local binary for a rendered command: Caravel's from the cargo target
/// dir, anything else (redis-server) from PATH.
fn local_program(command: &str) -> Result<PathBuf> {
    if command.starts_with("caravel-") {
        binary_path(command)
    } else {
        ["/usr/bin", "/usr/local/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(command))
            .find(|p| p.is_file())
            .with_context(|| format!("{command} is not installed here"))
    }
}

/// A kubeconfig for the test cluster that authenticates as `service_account`
/// with its token: what the pod would get in-cluster.
async fn service_account_kubeconfig(
    env: &caravel_integration_tests::TestEnv,
    namespace: &str,
    service_account: &str,
    path: &Path,
) -> Result<()> {
    let client = env.kube_client()?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let token = eventually(
        Duration::from_secs(60),
        "the service account token",
        || async {
            let Some(sa) = accounts.get_opt(service_account).await? else {
                return Ok(None);
            };
            for reference in sa.secrets.unwrap_or_default() {
                let Some(name) = reference.name else { continue };
                if let Some(secret) = secrets.get_opt(&name).await? {
                    if let Some(token) = secret.data.and_then(|d| d.get("token").cloned()) {
                        return Ok(Some(String::from_utf8(token.0)?));
                    }
                }
            }
            Ok(None)
        },
    )
    .await?;
    let mut kubeconfig: Value =
        caravel_yaml::from_str(&std::fs::read_to_string(env.kubeconfig_path())?)?;
    for user in kubeconfig["users"].as_array_mut().context("users")? {
        user["user"] = json!({ "token": token });
    }
    std::fs::write(path, caravel_yaml::to_string(&kubeconfig)?)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_pods_run_the_real_binaries_which_reach_each_other() -> Result<()> {
    let env = env().await?;
    let namespace = env.create_namespace("chart-run").await?;
    let dir = env.test_dir("chart-run")?;
    let render = helm_template("crun", &namespace, &[])?;
    let client = env.kube_client()?;

    // Everything but the CRDs (installed) and the workloads (run below)
    // goes to the cluster: ServiceAccounts, RBAC, ConfigMaps, Services.
    let supporting: Vec<&Value> = render
        .objects
        .iter()
        .filter(|o| {
            !matches!(
                o["kind"].as_str(),
                Some("CustomResourceDefinition" | "Deployment" | "Job")
            )
        })
        .collect();
    let file = dir.join("supporting.json");
    write_objects(&file, &supporting)?;
    env.kubectl(&[
        "apply",
        "-n",
        &namespace,
        "-f",
        file.to_str().context("path")?,
    ])
    .await?;

    // Local ports for every container port, and the rewrites from
    // in-cluster addresses to them.
    let mut ports: HashMap<(String, i64), u16> = HashMap::new();
    for workload in workloads(&render) {
        let name = workload["metadata"]["name"].as_str().unwrap_or_default();
        for container in workload["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for port in container["ports"].as_array().into_iter().flatten() {
                let number = port["containerPort"].as_i64().context("containerPort")?;
                ports.insert((name.to_owned(), number), free_port()?);
            }
        }
    }
    let mut rewrites: Vec<(String, String)> = Vec::new();
    for service in render.of_kind("Service") {
        let service_name = service["metadata"]["name"].as_str().unwrap_or_default();
        let selector = &service["spec"]["selector"];
        let backend = workloads(&render)
            .into_iter()
            .find(|w| {
                let labels = &w["spec"]["template"]["metadata"]["labels"];
                selector
                    .as_object()
                    .is_some_and(|s| s.iter().all(|(k, v)| &labels[k] == v))
            })
            .with_context(|| format!("no pods behind Service {service_name}"))?;
        let backend_name = backend["metadata"]["name"].as_str().unwrap_or_default();
        for port in service["spec"]["ports"].as_array().into_iter().flatten() {
            let service_port = port["port"].as_i64().context("port")?;
            let target = match &port["targetPort"] {
                Value::Number(n) => n.as_i64().context("targetPort")?,
                Value::String(named) => backend["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                    .find(|p| p["name"] == named.as_str())
                    .and_then(|p| p["containerPort"].as_i64())
                    .context("named targetPort")?,
                _ => service_port,
            };
            let local = ports
                .get(&(backend_name.to_owned(), target))
                .with_context(|| format!("{service_name}:{service_port} has no container port"))?;
            for host in [
                format!("{service_name}.{namespace}.svc.cluster.local"),
                format!("{service_name}.{namespace}.svc"),
                format!("{service_name}.{namespace}"),
                service_name.to_owned(),
            ] {
                rewrites.push((
                    format!("{host}:{service_port}"),
                    format!("127.0.0.1:{local}"),
                ));
            }
        }
    }

    // Builds one workload's first container for local running.
    let prepare = |workload: &Value,
                   kubeconfig: Option<&Path>,
                   secret_values: &HashMap<(String, String), String>|
     -> Result<LocalContainer> {
        let name = workload["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let pod = &workload["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let mut container_rewrites = rewrites.clone();
        let mut container_ports = HashMap::new();
        let mut port_names = HashMap::new();
        for port in container["ports"].as_array().into_iter().flatten() {
            let number = port["containerPort"].as_i64().context("containerPort")?;
            let local = ports[&(name.clone(), number)];
            container_ports.insert(number, local);
            if let Some(port_name) = port["name"].as_str() {
                port_names.insert(port_name.to_owned(), number);
            }
            container_rewrites.push((format!("0.0.0.0:{number}"), format!("127.0.0.1:{local}")));
        }
        // Volumes become directories; ConfigMap volumes get their files.
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let mount_path = mount["mountPath"].as_str().context("mountPath")?;
            let local = dir
                .join(&name)
                .join(mount["name"].as_str().context("volume name")?);
            std::fs::create_dir_all(&local)?;
            let volume = pod["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["name"] == mount["name"])
                .context("volume of a mount")?;
            if let Some(config_map) = volume["configMap"]["name"].as_str() {
                let object = render.named("ConfigMap", config_map)?;
                for (key, value) in object["data"].as_object().into_iter().flatten() {
                    std::fs::write(local.join(key), value.as_str().unwrap_or_default())?;
                }
            }
            container_rewrites.push((
                mount_path.to_owned(),
                local.to_str().context("path")?.to_owned(),
            ));
        }
        // Longest first, so a full `host.namespace.svc:port` wins.
        container_rewrites.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        let command: Vec<String> = container["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        let (program, mut args) = match command.split_first() {
            Some((program, rest)) => (program.clone(), rest.to_vec()),
            None => bail!("{name}: the chart must set the container command"),
        };
        args.extend(
            container["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned)),
        );
        let mut vars: Vec<(String, String)> = Vec::new();
        for entry in container["env"].as_array().into_iter().flatten() {
            let key = entry["name"].as_str().context("env name")?.to_owned();
            let value = if let Some(v) = entry["value"].as_str() {
                expand(v, &vars)
            } else if entry["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace" {
                namespace.clone()
            } else if let Some(secret_ref) = entry["valueFrom"]["secretKeyRef"].as_object() {
                let secret_key = (
                    secret_ref["name"].as_str().unwrap_or_default().to_owned(),
                    secret_ref["key"].as_str().unwrap_or_default().to_owned(),
                );
                secret_values
                    .get(&secret_key)
                    .with_context(|| format!("{name}: env {key}: no secret {secret_key:?}"))?
                    .clone()
            } else {
                bail!("{name}: env {key} has a source this test cannot resolve: {entry}");
            };
            vars.push((key, localise(&value, &container_rewrites)));
        }
        let args = args
            .iter()
            .map(|a| localise(&expand(a, &vars), &container_rewrites))
            .collect();
        let automount = pod["automountServiceAccountToken"] != false;
        if let (true, Some(kubeconfig)) = (automount, kubeconfig) {
            vars.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
        }
        vars.push(("PATH".into(), "/usr/bin:/bin".into()));
        vars.push(("HOME".into(), dir.join(&name).display().to_string()));
        Ok(LocalContainer {
            name,
            program: local_program(&program)?,
            args,
            env: vars,
            ports: container_ports,
            port_names,
        })
    };

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let spawn = |container: &LocalContainer| -> Result<ManagedProcess> {
        let mut spec = ProcessSpec::new(
            container.name.clone(),
            container.program.clone(),
            dir.join(format!("{}.log", container.name)),
        )
        .env_clear()
        .args(container.args.clone())
        .current_dir(&dir);
        for (k, v) in &container.env {
            spec = spec.env(k, v);
        }
        spec.spawn()
    };
    let kubeconfig_for = |workload: &Value| {
        let sa = workload["spec"]["template"]["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let path = dir.join(format!("{sa}.kubeconfig"));
        let sa_namespace = namespace_of(workload);
        async move {
            service_account_kubeconfig(env, &sa_namespace, &sa, &path).await?;
            anyhow::Ok(path)
        }
    };
    fn namespace_of(object: &Value) -> String {
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    // 1. The secret-init Job, as its own service account: creates the Secrets.
    let job = render
        .of_kind("Job")
        .into_iter()
        .next()
        .context("the secret-init Job")?;
    let job_kubeconfig = kubeconfig_for(job).await?;
    let init = prepare(job, Some(&job_kubeconfig), &HashMap::new())?;
    let init_process = spawn(&init)?;
    let status = eventually(Duration::from_secs(60), "secret-init to finish", || async {
        Ok(init_process.exit_status())
    })
    .await?;
    assert!(
        status.success(),
        "secret-init failed:\n{}",
        init_process.log()
    );
    let redis_secret = secrets.get("crun-caravel-redis").await?;
    assert!(redis_secret
        .data
        .is_some_and(|d| d.get("auth").is_some_and(|v| v.0.len() >= 32)));

    // 2. Redis and the trio, each as its own service account, with the
    // Secrets' values as the kubelet would put them into the environment.
    let mut secret_values = HashMap::new();
    for secret in secrets.list(&Default::default()).await? {
        let name = secret.metadata.name.clone().unwrap_or_default();
        for (key, value) in secret.data.unwrap_or_default() {
            secret_values.insert((name.clone(), key), String::from_utf8(value.0)?);
        }
    }
    let mut running: Vec<(LocalContainer, ManagedProcess, Value)> = Vec::new();
    let mut order: Vec<&Value> = render.of_kind("Deployment");
    order.sort_by_key(|d| component(d) != "redis");
    for deployment in order {
        let kubeconfig = kubeconfig_for(deployment).await?;
        let mut container = prepare(deployment, Some(&kubeconfig), &secret_values)?;
        if component(deployment) == "redis" {
            // redis-server listens on 6379 unless told otherwise.
            let local = container.ports.get(&6379).copied().context("redis port")?;
            container.args.extend(["--port".into(), local.to_string()]);
            container
                .args
                .extend(["--dir".into(), dir.display().to_string()]);
        }
        let process = spawn(&container)?;
        running.push((container, process, deployment.clone()));
    }
    let repo_server = running
        .iter()
        .find(|(_, _, d)| component(d) == "repo-server")
        .context("repo-server")?;
    assert!(
        !repo_server.0.env.iter().any(|(k, _)| k == "KUBECONFIG"),
        "the repo-server gets no service account credentials"
    );

    // 3. Each passes its readiness probe, as the kubelet would ask it.
    let http = reqwest::Client::new();
    for (container, process, deployment) in &running {
        let probe = &deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
        let port_of = |port: &Value| -> Result<u16> {
            let number = match port {
                Value::String(name) => {
                    *container.port_names.get(name).context("probe port name")?
                }
                other => other.as_i64().context("probe port")?,
            };
            container
                .ports
                .get(&number)
                .copied()
                .context("probe port is not a container port")
        };
        eventually(
            Duration::from_secs(60),
            &format!("{} to be ready", container.name),
            || async {
                ensure!(
                    process.is_running(),
                    "{} exited:\n{}",
                    container.name,
                    process.log()
                );
                if let Some(get) = probe["httpGet"].as_object() {
                    let port = port_of(&get["port"])?;
                    let path = get["path"].as_str().unwrap_or("/");
                    let ok = http
                        .get(format!("http://127.0.0.1:{port}{path}"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    Ok(ok.then_some(()))
                } else if let Some(tcp) = probe["tcpSocket"].as_object() {
                    let port = port_of(&tcp["port"])?;
                    Ok(tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .ok()
                        .map(drop))
                } else if let Some(exec) = probe["exec"]["command"].as_array() {
                    // Exec probes run inside the pod, where the container's
                    // own port is the one it declares; here it is the
                    // local stand-in (Redis: `redis-cli -h 127.0.0.1`).
                    let own_port = container.ports.values().next().copied().context("a port")?;
                    let words: Vec<String> = exec
                        .iter()
                        .filter_map(|w| w.as_str())
                        .map(|w| w.replace("-h 127.0.0.1", &format!("-h 127.0.0.1 -p {own_port}")))
                        .collect();
                    let (program, rest) = words.split_first().context("exec probe")?;
                    let out = tokio::process::Command::new(local_program(program)?)
                        .args(rest)
                        .env_clear()
                        .envs(container.env.iter().cloned())
                        .output()
                        .await?;
                    Ok(out.status.success().then_some(()))
                } else {
                    bail!("{}: no readiness probe", container.name)
                }
            },
        )
        .await?;
    }

    // 4. They reach each other: an app is rendered by the repo-server,
    // synced by the controller (which publishes to Redis), and listed with
    // its resources by the api-server.
    let repo = env.git().create_repo("chart-run").await?;
    repo.commit_files([(
        "app/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: hi\n",
    )])
    .await?;
    let destination = env.create_namespace("chart-run-dest").await?;
    let app: caravel_crd::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": { "name": "hello", "namespace": namespace },
        "spec": {
            "project": "default",
            "source": { "repoURL": repo.file_url(), "path": "app", "targetRevision": "HEAD" },
            "destination": { "server": IN_CLUSTER, "namespace": destination },
            "syncPolicy": { "automated": { "prune": true } },
        }
    }))?;
    let apps: Api<caravel_crd::Application> = Api::namespaced(client.clone(), &namespace);
    apps.create(&Default::default(), &app).await?;
    let logs = || {
        running
            .iter()
            .map(|(c, p, _)| format!("--- {} ---\n{}", c.name, p.log_tail(30)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    eventually(
        Duration::from_secs(120),
        "the app Synced and Healthy",
        || async {
            let app = apps.get("hello").await?;
            Ok((sync_status(&app) == "Synced" && health_status(&app) == "Healthy").then_some(()))
        },
    )
    .await
    .map_err(|e| anyhow!("{e}\n{}", logs()))?;

    let api_server = running
        .iter()
        .find(|(_, _, d)| component(d) == "api-server")
        .context("api-server")?;
    let grpc_port = api_server
        .0
        .ports
        .get(&8080)
        .copied()
        .context("api-server port 8080")?;
    let out = eventually(
        Duration::from_secs(60),
        "the api-server to list the resources",
        || async {
            let out = tokio::process::Command::new(binary_path("caravel")?)
                .args(["app", "resources", "hello"])
                .env("CARAVEL_SERVER", format!("127.0.0.1:{grpc_port}"))
                .env("CARAVEL_APP_NAMESPACE", &namespace)
                .output()
                .await?;
            let text = output_text(&out);
            Ok((out.status.success() && text.contains("hello")).then_some(text))
        },
    )
    .await
    .map_err(|e| anyhow!("{e}\n{}", logs()))?;
    assert!(out.contains("ConfigMap"), "{out}");

    // The repo-server cached the render in the same Redis, with the password.
    let redis = running
        .iter()
        .find(|(_, _, d)| component(d) == "redis")
        .context("redis")?;
    let redis_port = redis.0.ports[&6379];
    let password = String::from_utf8(
        secrets
            .get("crun-caravel-redis")
            .await?
            .data
            .and_then(|d| d.get("auth").cloned())
            .context("redis password")?
            .0,
    )?;
    let keys = tokio::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis_port.to_string(),
            "--no-auth-warning",
            "-a",
            &password,
            "--scan",
        ])
        .output()
        .await?;
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert!(
        keys.contains(":manifests:"),
        "repo-server cache keys: {keys}"
    );
    assert!(
        keys.contains("|app|managed-resources|"),
        "controller keys: {keys}"
    );

    for (_, process, _) in &running {
        process.terminate(Duration::from_secs(10)).await?;
    }
    Ok(())
}
