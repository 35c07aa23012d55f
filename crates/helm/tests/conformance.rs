//! Helm conformance: every case of `testdata/helm/corpus.yaml` rendered by
//! real Helm (the oracle, `scripts/helm-oracle.py`, PyPI's helm-python-sdk
//! installed by `scripts/deps.sh`) and by the native engine, in `helm
//! template` order. Each output document must be equal to Helm's as parsed
//! YAML and as text; expected errors must fail natively too, with Helm's
//! words; cases marked `compare: false` (random output) must render.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use caravel_integration_tests::chart_repo::{
    helm_python as oracle_python, workspace_root as repo_root,
};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use caravel_helm::chart::LoadLimits;
use caravel_helm::{ManifestKind, RenderOptions, ValuesInput};
use serde_json::Value;

/// Packs a chart directory as `helm package` lays it out (`<name>/…`),
/// as the oracle packs it.
fn pack(src: &Path, dest_dir: &Path) {
    let meta: Value =
        caravel_yaml::from_str(&std::fs::read_to_string(src.join("Chart.yaml")).unwrap()).unwrap();
    let name = meta["name"].as_str().unwrap();
    let version = meta["version"].as_str().unwrap();
    let mut files = Vec::new();
    collect_files(src, src, &mut files);
    files.sort();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for rel in files {
        let data = std::fs::read(src.join(&rel)).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, format!("{name}/{rel}"), data.as_slice())
            .unwrap();
    }
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    std::fs::create_dir_all(dest_dir).unwrap();
    std::fs::File::create(dest_dir.join(format!("{name}-{version}.tgz")))
        .unwrap()
        .write_all(&bytes)
        .unwrap();
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push(rel);
        }
    }
}

fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let target = dest.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn kind_name(kind: ManifestKind) -> &'static str {
    match kind {
        ManifestKind::Crd => "crd",
        ManifestKind::Manifest => "manifest",
        ManifestKind::Hook { .. } => "hook",
    }
}

#[test]
fn the_native_engine_renders_the_corpus_as_helm_does() {
    let root = repo_root();
    let corpus_file = root.join("testdata/helm/corpus.yaml");
    let corpus_dir = corpus_file.parent().unwrap().to_path_buf();
    let out_dir = tempfile::tempdir().unwrap();
    let status = Command::new(oracle_python().unwrap())
        .arg(root.join("scripts/helm-oracle.py"))
        .arg("--corpus")
        .arg(&corpus_file)
        .arg("--output-dir")
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "the oracle failed on the corpus:\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let corpus: Value =
        caravel_yaml::from_str(&std::fs::read_to_string(&corpus_file).unwrap()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut documents = 0;
    let cases = corpus["cases"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(out_dir.path().join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let mut chart_dir = corpus_dir.join(case["chart"].as_str().unwrap());
        let values_dir = chart_dir.clone();
        if let Some(tgz) = case["tgz_subcharts"].as_array() {
            let copy = scratch
                .path()
                .join(name)
                .join(chart_dir.file_name().unwrap());
            copy_dir(&chart_dir, &copy);
            for src in tgz {
                pack(
                    &corpus_dir.join(src.as_str().unwrap()),
                    &copy.join("charts"),
                );
            }
            chart_dir = copy;
        }
        let native = render_case(case, &chart_dir, &values_dir);
        if let Some(needle) = case["expect_error"].as_str() {
            match native {
                Err(e) if e.contains(needle) => {}
                Err(e) => failures.push(format!(
                    "{name}: expected an error containing {needle:?}, got {e:?} (Helm: {})",
                    expected["error"]
                )),
                Ok(_) => failures.push(format!(
                    "{name}: rendered, Helm failed with {}",
                    expected["error"]
                )),
            }
            continue;
        }
        let rendered = match native {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: native error: {e}"));
                continue;
            }
        };
        if case["compare"] == Value::Bool(false) {
            if rendered.manifests.is_empty() {
                failures.push(format!("{name}: rendered nothing"));
            }
            continue;
        }
        let want = expected["manifests"].as_array().unwrap();
        let got = &rendered.manifests;
        if want.len() != got.len() {
            let list = |t: Vec<String>| t.join(", ");
            failures.push(format!(
                "{name}: Helm printed {} documents, native {}\n  helm:   {}\n  native: {}",
                want.len(),
                got.len(),
                list(
                    want.iter()
                        .map(|m| m["template"].as_str().unwrap().to_owned())
                        .collect()
                ),
                list(got.iter().map(|m| m.template.clone()).collect()),
            ));
            continue;
        }
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            documents += 1;
            let where_ = format!("{name} #{i} {}", g.template);
            if w["template"].as_str() != Some(g.template.as_str())
                || w["kind"].as_str() != Some(kind_name(g.kind))
            {
                failures.push(format!(
                    "{where_}: Helm has {} ({}) here",
                    w["template"], w["kind"]
                ));
                continue;
            }
            let w_text = w["content"].as_str().unwrap();
            let w_docs = caravel_yaml::from_str_multi(w_text);
            let g_docs = caravel_yaml::from_str_multi(&g.content);
            match (w_docs, g_docs) {
                (Ok(a), Ok(b)) if a == b => {}
                (Ok(a), Ok(b)) => failures.push(format!(
                    "{where_}: documents differ\n  helm:   {}\n  native: {}",
                    serde_json::to_string(&a).unwrap(),
                    serde_json::to_string(&b).unwrap()
                )),
                (a, b) => failures.push(format!("{where_}: parse: helm {a:?} native {b:?}")),
            }
            if w_text != g.content {
                failures.push(format!(
                    "{where_}: text differs\n--- helm\n{w_text}\n--- native\n{}",
                    g.content
                ));
            }
        }
        if expected["output"].as_str() != Some(rendered.output().as_str()) && failures.is_empty() {
            failures.push(format!("{name}: helm template's output differs"));
        }
    }
    assert!(documents > 100, "only {documents} documents compared");
    assert!(
        failures.is_empty(),
        "{} differences over {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn render_case(
    case: &Value,
    chart_dir: &Path,
    values_dir: &Path,
) -> Result<caravel_helm::Rendered, String> {
    let chart = caravel_helm::chart::load_dir(chart_dir, &LoadLimits::default())
        .map_err(|e| e.to_string())?;
    let mut input = ValuesInput::default();
    for f in strings(&case["values"]) {
        let text = std::fs::read_to_string(values_dir.join(&f)).unwrap();
        input
            .files
            .push(caravel_helm::parse_values_yaml(&f, &text).map_err(|e| e.to_string())?);
    }
    input.set = strings(&case["set"]);
    input.set_string = strings(&case["set_string"]);
    let user = input.merged().map_err(|e| e.to_string())?;
    let options = RenderOptions {
        release_name: case["release"]
            .as_str()
            .unwrap_or("release-name")
            .to_owned(),
        namespace: case["namespace"].as_str().unwrap_or("default").to_owned(),
        kube_version: case["kube_version"].as_str().map(str::to_owned),
        api_versions: strings(&case["api_versions"]),
        include_crds: case["include_crds"] == Value::Bool(true),
        skip_tests: case["skip_tests"] == Value::Bool(true),
        ..RenderOptions::default()
    };
    caravel_helm::render(&Arc::new(chart), user, &options).map_err(|e| e.to_string())
}
