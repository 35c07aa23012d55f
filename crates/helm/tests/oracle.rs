//! Values conformance: the values a chart renders with, computed here and by
//! real Helm (the PyPI `helm-python-sdk` oracle that `scripts/deps.sh`
//! installs), for the chart `testdata/helm/values-probe`, which prints
//! `.Values` of the chart and of its subchart as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use caravel_integration_tests::chart_repo::{
    helm_python as oracle_python, workspace_root as repo_root,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use caravel_helm::{
    parse_values_yaml, render_values, ChartValues, Dependency, ImportValue, ValuesInput,
};
use serde_json::Value;

/// Just enough of a chart for values: Chart.yaml (name, version,
/// dependencies), values.yaml and the subcharts under charts/.
fn load(dir: &Path) -> ChartValues {
    let meta: Value =
        caravel_yaml::from_str(&std::fs::read_to_string(dir.join("Chart.yaml")).unwrap()).unwrap();
    let values = std::fs::read_to_string(dir.join("values.yaml")).unwrap_or_default();
    let mut subcharts = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("charts")) {
        let mut dirs: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        dirs.sort();
        subcharts = dirs.iter().map(|d| load(d)).collect();
    }
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let requirements = meta["dependencies"].as_array().map(|deps| {
        deps.iter()
            .map(|d| Dependency {
                name: text(&d["name"]).unwrap(),
                version: text(&d["version"]).unwrap_or_default(),
                alias: text(&d["alias"]),
                condition: text(&d["condition"]),
                tags: d["tags"]
                    .as_array()
                    .map(|t| t.iter().filter_map(text).collect())
                    .unwrap_or_default(),
                import_values: d["import-values"]
                    .as_array()
                    .map(|ivs| {
                        ivs.iter()
                            .map(|iv| match iv {
                                Value::String(s) => ImportValue::Exports(s.clone()),
                                other => ImportValue::Path {
                                    child: text(&other["child"]).unwrap(),
                                    parent: text(&other["parent"]).unwrap(),
                                },
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    });
    ChartValues {
        name: text(&meta["name"]).unwrap(),
        version: text(&meta["version"]).unwrap_or_default(),
        values: parse_values_yaml("values.yaml", &values).unwrap(),
        requirements,
        subcharts,
        source: None,
    }
}

/// Numbers compared by value (Helm's JSON prints 3.0 as 3).
fn numbers_as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(v.clone(), Value::Number),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_floats).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

type Probes = BTreeMap<String, Value>;

/// Helm's `.Values` of every chart of the probe chart `chart` (keyed by
/// chart name, as each template names its ConfigMap), or Helm's error.
fn helm(chart: &str, files: &[&str], set: &[&str], set_string: &[&str]) -> Result<Probes, String> {
    let root = repo_root();
    let dir = root.join("testdata/helm").join(chart);
    let mut cmd = Command::new(oracle_python().unwrap());
    cmd.arg(root.join("scripts/helm-oracle.py")).arg(&dir);
    for f in files {
        cmd.arg("-f").arg(dir.join(f));
    }
    for s in set {
        cmd.args(["--set", s]);
    }
    for s in set_string {
        cmd.args(["--set-string", s]);
    }
    cmd.args(["--name", "probe", "--namespace", "ns"]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    if let Some(e) = doc["error"].as_str() {
        return Err(e.to_owned());
    }
    let mut found = Probes::new();
    for m in doc["manifests"].as_array().unwrap() {
        let cm: Value = caravel_yaml::from_str(m["content"].as_str().unwrap()).unwrap();
        let values: Value = serde_json::from_str(cm["data"]["values"].as_str().unwrap()).unwrap();
        let name = cm["metadata"]["name"].as_str().unwrap();
        found.insert(name.trim_end_matches("-probe").to_owned(), values);
    }
    Ok(found)
}

/// The same, computed by this crate: the root's values, and each rendered
/// subchart's under its key (recursively).
fn native(
    chart: &str,
    files: &[&str],
    set: &[&str],
    set_string: &[&str],
) -> Result<Probes, String> {
    let dir = repo_root().join("testdata/helm").join(chart);
    let input = ValuesInput {
        files: files
            .iter()
            .map(|f| parse_values_yaml(f, &std::fs::read_to_string(dir.join(f)).unwrap()).unwrap())
            .collect(),
        set: set.iter().map(|s| s.to_string()).collect(),
        set_string: set_string.iter().map(|s| s.to_string()).collect(),
    };
    let user = input.merged().map_err(|e| e.to_string())?;
    let (values, tree) = render_values(load(&dir), user).map_err(|e| e.to_string())?;
    let mut out = Probes::new();
    collect(&tree, &Value::Object(values), &mut out);
    Ok(out)
}

fn collect(chart: &ChartValues, values: &Value, out: &mut Probes) {
    out.insert(chart.name.clone(), values.clone());
    for sub in &chart.subcharts {
        collect(sub, &values[&sub.name], out);
    }
}

type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

/// Compares every case; returns the cases where both sides refused.
fn compare(cases: &[Case]) -> Vec<String> {
    let mut mismatches = Vec::new();
    let mut errors = Vec::new();
    for (chart, files, set, set_string) in cases {
        let want = helm(chart, files, set, set_string);
        let got = native(chart, files, set, set_string);
        match (&want, &got) {
            (Ok(h), Ok(n)) => {
                let h: Probes = h
                    .iter()
                    .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                    .collect();
                let n: Probes = n
                    .iter()
                    .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                    .collect();
                if h != n {
                    mismatches.push(format!(
                        "{chart} {files:?} {set:?} {set_string:?}:\n  helm   {}\n  native {}",
                        serde_json::to_string(&h).unwrap(),
                        serde_json::to_string(&n).unwrap()
                    ));
                }
            }
            (Err(h), Err(n)) => errors.push(format!("{chart} {set:?}: helm: {h}; native: {n}")),
            _ => mismatches.push(format!(
                "{chart} {files:?} {set:?} {set_string:?}: helm {want:?}, native {got:?}"
            )),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    errors
}

#[test]
fn values_match_helm_for_files_sets_nulls_subcharts_and_globals() {
    let errors = compare(&[
        ("values-probe", &[], &[], &[]),
        ("values-probe", &["values-prod.yaml"], &[], &[]),
        (
            "values-probe",
            &["values-prod.yaml"],
            &["image.repository=quay.io/nginx,sub.size=5"],
            &["replicas=7"],
        ),
        (
            "values-probe",
            &[],
            &[
                r"annotations.kubernetes\.io/role=master,list={x,y,z}",
                "global.env=stg",
            ],
            &[],
        ),
        (
            "values-probe",
            &[],
            &["probe.port=null,global.registry=null,keep=null"],
            &[],
        ),
        (
            "values-probe",
            &[],
            &[
                "ports[0].name=http,ports[0].port=80,ports[1].name=https",
                r"note=a\,b",
            ],
            &["flags={true,1}"],
        ),
        (
            "values-probe",
            &[],
            &["sub.global.own=false,sub.nested=null"],
            &[],
        ),
        (
            "values-probe",
            &["values-prod.yaml"],
            &["replicas=0012,enabled=TRUE"],
            &[],
        ),
        ("values-probe", &[], &["sub=null"], &[]),
        ("values-probe", &[], &["global=null"], &[]),
        (
            "values-probe",
            &[],
            &["sub.global.env=mine,global.registry.port=80"],
            &[],
        ),
        ("values-probe", &[], &["sub=scalar"], &[]),
    ]);
    assert_eq!(errors.len(), 1, "only sub=scalar is refused: {errors:?}");
    assert!(errors[0].contains("sub=scalar"), "{errors:?}");
}

#[test]
fn values_match_helm_for_conditions_tags_aliases_and_import_values() {
    let errors = compare(&[
        ("values-deps", &[], &[], &[]),
        ("values-deps", &["values-off.yaml"], &[], &[]),
        ("values-deps", &[], &["tags.backend=false"], &[]),
        (
            "values-deps",
            &[],
            &["tags.backend=false,db.enabled=true"],
            &[],
        ),
        (
            "values-deps",
            &[],
            &["cache-a.enabled=false,global.caches=true"],
            &[],
        ),
        (
            "values-deps",
            &[],
            &["cache-a.enabled=notabool,global.caches=false"],
            &[],
        ),
        (
            "values-deps",
            &[],
            &["tags.extra-cache=true,tags.backend=false"],
            &[],
        ),
        (
            "values-deps",
            &[],
            &["imported.settings.theirs=user,logLevel=debug"],
            &[],
        ),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
}
