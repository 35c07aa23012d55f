//! Sprig conformance: every case of `tests/cases/*.yaml` is a template text
//! rendered by real Helm (the PyPI `helm-python-sdk` oracle that
//! `scripts/deps.sh` installs, raw engine output per template) and by
//! caravel-gotemplate with [`caravel_sprig::funcs`], and the outputs must be
//! equal. A case file:
//!
//! ```yaml
//! values: {n: 3, s: abc}          # .Values for every case of the file
//! cases:
//!   - name: trunc                 # unique within the file
//!     template: '{{ trunc 2 .Values.s }}'
//!   - name: fail-has-a-message
//!     template: '{{ fail "boom" }}'
//!     error: boom                 # both must fail; both messages contain it
//! ```
//!
//! Values are read as Helm reads values files (numbers are float64).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use caravel_integration_tests::chart_repo::helm_python as oracle_python;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use caravel_gotemplate::{JsonNumbers, MissingKey, Options, Template, Value};
use serde_json::json;

#[derive(Debug)]
struct Case {
    name: String,
    template: String,
    error: Option<String>,
}

const RENDER: &str = r#"
import json, sys
import helm_python as helm
chart_dir, values = sys.argv[1], json.loads(sys.argv[2])
try:
    out = helm.Chart.load(chart_dir).render(values, name="release-name", namespace="default")
    print(json.dumps({"output": out}))
except Exception as e:
    print(json.dumps({"error": str(e)}))
"#;

/// Renders `templates` (name → text) as one chart with real Helm: the raw
/// output per template name, or Helm's error.
fn helm_render(
    templates: &[(&str, &str)],
    values: &serde_json::Value,
) -> Result<BTreeMap<String, String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("probe");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: probe\nversion: 0.1.0\n",
    )
    .unwrap();
    for (name, text) in templates {
        std::fs::write(chart.join("templates").join(name), text).unwrap();
    }
    let out = Command::new(oracle_python().unwrap())
        .args(["-c", RENDER])
        .arg(&chart)
        .arg(values.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    if let Some(e) = doc["error"].as_str() {
        return Err(e.to_owned());
    }
    Ok(doc["output"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let name = k.trim_start_matches("probe/templates/").to_owned();
            (name, v.as_str().unwrap().to_owned())
        })
        .collect())
}

/// Renders one template as Helm's engine would with only Sprig on top of
/// Go's builtins (missingkey=zero, `<no value>` erased).
fn native_render(name: &str, text: &str, values: &serde_json::Value) -> Result<String, String> {
    let mut set = Template::with_funcs(caravel_sprig::funcs()).with_options(Options {
        missing_key: MissingKey::Zero,
        ..Options::default()
    });
    let full = format!("probe/templates/{name}");
    set.parse(&full, text).map_err(|e| e.to_string())?;
    let data = Value::map([("Values", Value::from_json_with(values, JsonNumbers::Float))]);
    set.execute(&full, &data)
        .map(|out| out.replace("<no value>", ""))
        .map_err(|e| e.to_string())
}

fn load_cases(path: &Path) -> (serde_json::Value, Vec<Case>) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_json::Value =
        caravel_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let values = doc.get("values").cloned().unwrap_or_else(|| json!({}));
    let cases = doc["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no cases", path.display()))
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_owned(),
            template: c["template"].as_str().unwrap().to_owned(),
            error: c.get("error").and_then(|e| e.as_str()).map(str::to_owned),
        })
        .collect();
    (values, cases)
}

#[test]
fn sprig_functions_render_as_in_helm() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &files {
        let (values, cases) = load_cases(file);
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        let ok_cases: Vec<&Case> = cases.iter().filter(|c| c.error.is_none()).collect();
        let templates: Vec<(&str, &str)> = ok_cases
            .iter()
            .map(|c| (c.name.as_str(), c.template.as_str()))
            .collect();
        let expected = match helm_render(&templates, &values) {
            Ok(out) => out,
            Err(e) => panic!("{file_name}: Helm failed on a case not marked error: {e}"),
        };
        for case in ok_cases {
            checked += 1;
            let want = expected.get(&case.name).cloned().unwrap_or_default();
            match native_render(&case.name, &case.template, &values) {
                Ok(got) if got == want => {}
                Ok(got) => failures.push(format!(
                    "{file_name} {}: Helm {want:?}, native {got:?}",
                    case.name
                )),
                Err(e) => failures.push(format!(
                    "{file_name} {}: Helm {want:?}, native error {e}",
                    case.name
                )),
            }
        }
        for case in cases.iter().filter(|c| c.error.is_some()) {
            checked += 1;
            let needle = case.error.as_deref().unwrap_or_default();
            let helm = helm_render(&[(case.name.as_str(), case.template.as_str())], &values);
            let native = native_render(&case.name, &case.template, &values);
            match (&helm, &native) {
                (Err(h), Err(n)) if h.contains(needle) && n.contains(needle) => {}
                _ => failures.push(format!(
                    "{file_name} {}: expected both to fail with {needle:?}: Helm {helm:?}, native {native:?}",
                    case.name
                )),
            }
        }
    }
    assert!(checked > 0, "no cases under {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
