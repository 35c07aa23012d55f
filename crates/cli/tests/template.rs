//! `caravel template` against real Helm: the built binary renders charts of
//! `testdata/helm/charts` and its stdout, `--output-dir` files and error
//! messages are compared with what Helm v4 gives for the same flags (the
//! oracle `scripts/helm-oracle.py`, installed by `scripts/deps.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use caravel_integration_tests::chart_repo::{
    helm_python as oracle_python, workspace_root as repo_root,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn charts() -> PathBuf {
    repo_root().join("testdata/helm/charts")
}

/// `caravel template CHART ARGS…`.
fn caravel(chart: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caravel"))
        .arg("template")
        .arg(chart)
        .args(args)
        .output()
        .unwrap()
}

/// What Helm renders for the same flags (`--output-dir` is not an oracle
/// flag: the oracle's manifests tell what the files must hold).
fn helm(chart: &Path, args: &[&str]) -> Value {
    let out = Command::new(oracle_python().unwrap())
        .arg(repo_root().join("scripts/helm-oracle.py"))
        .arg(chart)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs both and checks that caravel printed exactly Helm's stdout.
fn assert_same_output(chart: &Path, args: &[&str]) {
    let want = helm(chart, args);
    assert!(
        want["error"].is_null(),
        "{} {args:?}: helm failed: {}",
        chart.display(),
        want["error"]
    );
    let got = caravel(chart, args);
    assert!(
        got.status.success(),
        "{} {args:?}: {}",
        chart.display(),
        text(&got.stderr)
    );
    assert_eq!(
        text(&got.stdout),
        want["output"].as_str().unwrap(),
        "{} {args:?}",
        chart.display()
    );
    assert_eq!(text(&got.stderr), "");
}

/// Checks a failing render: exit code 1, nothing on stdout, and
/// `Error: <message>` on stderr.
fn assert_fails_with(chart: &Path, args: &[&str], message: &str) {
    let got = caravel(chart, args);
    assert_eq!(got.status.code(), Some(1), "{}", text(&got.stderr));
    assert_eq!(text(&got.stdout), "");
    assert_eq!(
        listed_items_sorted(&text(&got.stderr)),
        listed_items_sorted(&format!("Error: {message}\n"))
    );
}

/// Sorts each run of `- ` list lines. Helm lists a chart's schema
/// violations in Go map order, which changes from run to run; Caravel
/// lists them in the schema's property order. Everything else, the lines
/// of each list included, must still match exactly.
fn listed_items_sorted(message: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for line in message.split_inclusive('\n') {
        if line.starts_with("- ") {
            run.push(line);
            continue;
        }
        run.sort_unstable();
        out.append(&mut run);
        out.push(line);
    }
    run.sort_unstable();
    out.append(&mut run);
    out.concat()
}

fn values(chart: &str, file: &str) -> String {
    charts().join(chart).join(file).display().to_string()
}

// === stdout ===

#[test]
fn defaults_print_what_helm_template_prints() {
    for chart in ["app-v2", "yaml-stream", "control-flow", "hooks", "deps"] {
        assert_same_output(&charts().join(chart), &[]);
    }
}

/// No `--set list[i].x=…` over a list from a values file here: the oracle
/// replaces such a list instead of updating it (see scripts/helm-oracle.py).
#[test]
fn values_files_set_and_set_string_apply_in_helms_order() {
    let ingress = values("app-v2", "values-ingress.yaml");
    let long_name = values("app-v2", "values-long-name.yaml");
    assert_same_output(
        &charts().join("app-v2"),
        &[
            "-f",
            &ingress,
            "--values",
            &long_name,
            "--set",
            "image.tag=2.0.0,replicaCount=5",
            "--set",
            "ingress.className=set-class,config.DOTTED\\.KEY=x,config.LIST={a\\,b}",
            "--set-string",
            "config.WORKERS=8,service.port=8080",
            "--name",
            "web",
            "--namespace",
            "frontend",
        ],
    );
    assert_same_output(
        &charts().join("umbrella"),
        &[
            "-f",
            &values("umbrella", "values-prod.yaml"),
            "--set",
            "global.environment=qa",
            "--name",
            "shop",
            "--namespace",
            "production",
        ],
    );
}

#[test]
fn capabilities_flags_reach_the_templates() {
    assert_same_output(
        &charts().join("capabilities"),
        &[
            "--name",
            "caps",
            "--kube-version",
            "v1.27.3",
            "--api-versions",
            "monitoring.coreos.com/v1,monitoring.coreos.com/v1/ServiceMonitor",
            "--api-versions",
            "example.com/v1alpha1",
        ],
    );
    assert_same_output(
        &charts().join("app-v2"),
        &[
            "-f",
            &values("app-v2", "values-ingress.yaml"),
            "--kube-version",
            "v1.18.4",
        ],
    );
}

#[test]
fn crds_and_tests_follow_their_flags() {
    assert_same_output(&charts().join("crds"), &["--include-crds"]);
    assert_same_output(&charts().join("crds"), &[]);
    assert_same_output(&charts().join("hooks"), &["--skip-tests", "--name", "hk"]);
    assert_same_output(&charts().join("app-v2"), &["--skip-tests"]);
}

#[test]
fn packaged_charts_render_like_directories() {
    let scratch = tempfile::tempdir().unwrap();
    // A chart archive as `helm package` lays it out: <name>/… entries.
    let archive = scratch.path().join("app-v2-0.1.0.tgz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(charts())
        .arg("app-v2")
        .status()
        .unwrap();
    assert!(status.success());
    assert_same_output(&archive, &["--name", "packed"]);

    // A directory chart whose subchart is an archive in charts/.
    let parent = scratch.path().join("tgz-parent");
    let status = Command::new("cp")
        .arg("-r")
        .arg(charts().join("tgz-parent"))
        .arg(&parent)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::create_dir_all(parent.join("charts")).unwrap();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(parent.join("charts/redis-lite-6.2.0.tgz"))
        .arg("-C")
        .arg(repo_root().join("testdata/helm/tgz-src"))
        .arg("redis-lite")
        .status()
        .unwrap();
    assert!(status.success());
    assert_same_output(&parent, &["--name", "cache"]);
}

// === --output-dir ===

/// The files `helm template --output-dir DIR` writes, from the oracle's
/// documents: each template's documents in output order.
fn expected_files(want: &Value) -> (BTreeMap<String, String>, Vec<String>) {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut order = Vec::new();
    for m in want["manifests"].as_array().unwrap() {
        let template = m["template"].as_str().unwrap();
        let content = m["content"].as_str().unwrap();
        files
            .entry(template.to_owned())
            .or_default()
            .push_str(&format!("---\n# Source: {template}\n{content}\n"));
        order.push(template.to_owned());
    }
    (files, order)
}

/// Every file under `dir`, by path relative to it.
fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_output_dir_matches_helm(chart: &Path, args: &[&str]) {
    let want = helm(chart, args);
    assert!(want["error"].is_null(), "{}", want["error"]);
    let (files, order) = expected_files(&want);
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("out");
    let dir_arg = dir.display().to_string();
    let mut with_dir: Vec<&str> = args.to_vec();
    with_dir.extend(["--output-dir", &dir_arg]);

    // Twice into the same directory: the second run writes the same files.
    for _ in 0..2 {
        let got = caravel(chart, &with_dir);
        assert!(got.status.success(), "{}", text(&got.stderr));
        let wrote: String = order
            .iter()
            .map(|t| format!("wrote {dir_arg}/{t}\n"))
            .collect();
        assert_eq!(text(&got.stdout), wrote + "\n");
        assert_eq!(read_tree(&dir), files, "{} {args:?}", chart.display());
    }
}

#[test]
fn output_dir_writes_one_file_per_template() {
    // Several documents per template, hooks after manifests, test hooks.
    assert_output_dir_matches_helm(&charts().join("hooks"), &["--name", "hk"]);
    assert_output_dir_matches_helm(
        &charts().join("app-v2"),
        &["-f", &values("app-v2", "values-ingress.yaml")],
    );
    // CRDs of the chart and its subchart, subchart templates under charts/.
    assert_output_dir_matches_helm(&charts().join("crds"), &["--include-crds"]);
    assert_output_dir_matches_helm(&charts().join("umbrella"), &["--name", "shop"]);
}

// === errors ===

#[test]
fn a_missing_chart_is_an_error() {
    let chart = charts().join("no-such-chart");
    assert_fails_with(
        &chart,
        &[],
        &format!("path {:?} not found", chart.display().to_string()),
    );
}

#[test]
fn a_missing_values_file_is_an_error() {
    let got = caravel(
        &charts().join("app-v2"),
        &["-f", "/nonexistent/values.yaml"],
    );
    assert_eq!(got.status.code(), Some(1));
    assert!(
        text(&got.stderr).starts_with("Error: open /nonexistent/values.yaml: "),
        "{}",
        text(&got.stderr)
    );
}

#[test]
fn a_malformed_set_is_an_error_worded_as_helms() {
    let chart = charts().join("app-v2");
    let want = helm(&chart, &["--set", "list[x]=1"]);
    let helm_message = want["error"].as_str().unwrap();
    assert_fails_with(
        &chart,
        &["--set", "list[x]=1"],
        &format!("failed parsing --set data: {helm_message}"),
    );
}

#[test]
fn failing_charts_report_helms_error() {
    let cases: [(&str, Vec<String>); 4] = [
        ("required-fail", vec![]),
        (
            "required-fail",
            vec!["-f".into(), values("required-fail", "values-fail.yaml")],
        ),
        (
            "schema",
            vec!["-f".into(), values("schema", "values-invalid.yaml")],
        ),
        (
            "errors",
            vec!["-f".into(), values("errors", "values-exec.yaml")],
        ),
    ];
    for (chart, args) in cases {
        let chart = charts().join(chart);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let want = helm(&chart, &args);
        let message = want["error"].as_str().expect("helm fails too");
        assert_fails_with(&chart, &args, message);
    }
}

#[test]
fn an_invalid_release_name_is_refused_as_helm_refuses_it() {
    let chart = charts().join("app-v2");
    let want = helm(&chart, &["--name", "Bad_Name"]);
    assert_fails_with(
        &chart,
        &["--name", "Bad_Name"],
        want["error"].as_str().unwrap(),
    );
}

#[test]
fn library_charts_and_missing_dependencies_are_refused() {
    assert_fails_with(
        &charts().join("library-consumer/charts/common-lib"),
        &[],
        "library charts are not installable",
    );
    assert_fails_with(
        &charts().join("tgz-parent"),
        &[],
        "an error occurred while checking for chart dependencies. You may need to run \
         `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but \
         missing in charts/ directory: redis-lite",
    );
}

#[test]
fn values_can_come_from_standard_input() {
    use std::io::Write;
    let chart = charts().join("app-v2");
    let file = values("app-v2", "values-ingress.yaml");
    let want = helm(&chart, &["-f", &file]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_caravel"))
        .arg("template")
        .arg(&chart)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(&file).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let got = child.wait_with_output().unwrap();
    assert!(got.status.success());
    assert_eq!(
        String::from_utf8(got.stdout).unwrap(),
        want["output"].as_str().unwrap()
    );
}
