//! The values a chart renders with, built as Helm builds them.
//!
//! User values come first (Helm's `values.Options.MergeValues`): value
//! files in order, each merged over the previous; then every `--set`, then
//! every `--set-string`. Argo CD passes `helm.valueFiles` as `-f`, then
//! `helm.values`/`helm.valuesObject` as one more file, then each parameter
//! as `--set` (or `--set-string` with `forceString`), so that is the order
//! of [`ValuesInput`]. The result is then coalesced with the chart's own
//! defaults and, recursively, each subchart's (`chartutil.CoalesceValues`):
//! user values win, a user `null` deletes the default, subcharts see the
//! values under their name plus the parent's `global`.

use serde_json::{Map, Value};

use crate::strvals::{parse_set, SetKind};
use crate::HelmError;

/// A chart as values handling sees it: its name (an alias once
/// dependencies are processed), version, default values, the dependencies
/// its Chart.yaml declares, and the subcharts it carries in `charts/`.
#[derive(Clone, Debug, Default)]
pub struct ChartValues {
    pub name: String,
    pub version: String,
    pub values: Map<String, Value>,
    /// Chart.yaml `dependencies` (v2) or requirements.yaml (v1); `None`
    /// when the chart declares none.
    pub requirements: Option<Vec<Dependency>>,
    pub subcharts: Vec<ChartValues>,
    /// The loaded chart these values belong to (shared by the copies an
    /// alias makes), for the renderer; `None` for values-only trees.
    pub source: Option<std::sync::Arc<crate::chart::Chart>>,
}

/// One entry of Chart.yaml `dependencies`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub alias: Option<String>,
    /// Comma-separated value paths; the first that holds a bool decides.
    pub condition: Option<String>,
    pub tags: Vec<String>,
    pub import_values: Vec<ImportValue>,
}

/// An `import-values` entry: `name` (imports `exports.name` to the top) or
/// `{child, parent}`.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportValue {
    Exports(String),
    Path { child: String, parent: String },
}

/// The user-supplied values of one render, in Argo CD's terms.
#[derive(Clone, Debug, Default)]
pub struct ValuesInput {
    /// Parsed value files, in order (`helm.valueFiles`, then the file Argo
    /// CD writes for `helm.values` / `helm.valuesObject`).
    pub files: Vec<Map<String, Value>>,
    /// `--set` expressions (`helm.parameters` without `forceString`).
    pub set: Vec<String>,
    /// `--set-string` expressions (`helm.parameters` with `forceString`).
    pub set_string: Vec<String>,
}

impl ValuesInput {
    /// The merged user values (not yet coalesced with chart defaults).
    pub fn merged(&self) -> Result<Map<String, Value>, HelmError> {
        let mut out = Map::new();
        for f in &self.files {
            out = merge_maps(out, f.clone());
        }
        for expr in &self.set {
            parse_set(expr, &mut out, SetKind::Typed)?;
        }
        for expr in &self.set_string {
            parse_set(expr, &mut out, SetKind::String)?;
        }
        Ok(out)
    }
}

/// Parses a values file as Helm does: YAML decoded through JSON, so every
/// number is a float; an empty file is an empty map.
pub fn parse_values_yaml(file: &str, text: &str) -> Result<Map<String, Value>, HelmError> {
    let error = |message: String| HelmError::ValuesFile {
        file: file.to_owned(),
        message,
    };
    // Read as Helm reads it (sigs.k8s.io/yaml: YAML 1.1 scalars, numbers as
    // float64, keys as strings).
    match crate::codec::parse_yaml_go(text).map_err(error)?.to_json() {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err(error(
            "error converting YAML to JSON: the top level is not a map".into(),
        )),
    }
}

/// Merges `b` over `a` (Helm's `mergeMaps` for value files): maps merge
/// recursively, anything else in `b` replaces what `a` has; nulls stay.
pub fn merge_maps(a: Map<String, Value>, b: Map<String, Value>) -> Map<String, Value> {
    let mut out = a;
    for (k, v) in b {
        match (out.get_mut(&k), v) {
            (Some(Value::Object(existing)), Value::Object(v)) => {
                let merged = merge_maps(std::mem::take(existing), v);
                *existing = merged;
            }
            (_, v) => {
                out.insert(k, v);
            }
        }
    }
    out
}

const GLOBAL: &str = "global";

/// The values `.Values` holds when rendering `chart` with `user` values,
/// as Helm computes them: dependencies enabled or disabled by their
/// conditions and tags, aliases applied, import-values imported, then user
/// values coalesced with every chart's defaults. Returns the values and the
/// chart tree as rendered (disabled subcharts removed, aliases as names).
pub fn render_values(
    chart: ChartValues,
    user: Map<String, Value>,
) -> Result<(Map<String, Value>, ChartValues), HelmError> {
    let chart = crate::deps::process(chart, &user)?;
    let values = coalesce(&chart, user)?;
    Ok((values, chart))
}

/// Helm's `CoalesceValues`: user values over the chart's defaults and,
/// under their keys, each subchart's, with the parent's globals.
pub fn coalesce(
    chart: &ChartValues,
    user: Map<String, Value>,
) -> Result<Map<String, Value>, HelmError> {
    let mut dest = user;
    coalesce_chart(chart, &mut dest, "", false)?;
    Ok(dest)
}

/// Helm's `MergeValues`: like [`coalesce`], keeping nulls.
pub fn merge_values(
    chart: &ChartValues,
    user: Map<String, Value>,
) -> Result<Map<String, Value>, HelmError> {
    let mut dest = user;
    coalesce_chart(chart, &mut dest, "", true)?;
    Ok(dest)
}

fn prefixed(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Helm's `coalesce`: the chart's values, then each subchart's under its
/// key. With `merge` (Helm's `MergeValues`) nulls are kept.
fn coalesce_chart(
    chart: &ChartValues,
    dest: &mut Map<String, Value>,
    prefix: &str,
    merge: bool,
) -> Result<(), HelmError> {
    coalesce_values(chart, dest, merge);
    for sub in &chart.subcharts {
        let name = sub.name.clone();
        let entry = dest
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            return Err(HelmError::NotATable(prefixed(prefix, &name)));
        }
        let parent_globals = dest.get(GLOBAL).cloned();
        let Some(Value::Object(sub_values)) = dest.get_mut(&name) else {
            continue;
        };
        coalesce_globals(sub_values, parent_globals);
        coalesce_chart(sub, sub_values, &prefixed(prefix, &chart.name), merge)?;
    }
    Ok(())
}

/// The chart's defaults under the user values: keys the user did not set
/// are copied; maps merge with the user's winning; a user null deletes
/// (unless merging).
fn coalesce_values(chart: &ChartValues, dest: &mut Map<String, Value>, merge: bool) {
    for (key, default) in &chart.values {
        match dest.get_mut(key) {
            None => {
                dest.insert(key.clone(), default.clone());
            }
            Some(Value::Null) => {
                if !merge {
                    dest.remove(key);
                }
            }
            Some(Value::Object(user)) => {
                if let Value::Object(default) = default {
                    // Values of a subchart are merged, keeping their nulls
                    // for the subchart's own coalescing.
                    let merge = merge || chart.subcharts.iter().any(|d| d.name == *key);
                    coalesce_tables(user, default.clone(), merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// Merges `src` under `dst` (dst wins). Without `merge`, a null in `dst`
/// deletes the key.
pub(crate) fn coalesce_tables(dst: &mut Map<String, Value>, src: Map<String, Value>, merge: bool) {
    for (key, val) in src {
        match dst.get_mut(&key) {
            Some(Value::Null) if !merge => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(Value::Object(d)) => {
                if let Value::Object(s) = val {
                    coalesce_tables(d, s, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// Copies the parent's `global` into a subchart's values; the parent's
/// globals win over the subchart's own (Helm's `coalesceGlobals`).
fn coalesce_globals(dest: &mut Map<String, Value>, parent: Option<Value>) {
    let Some(Value::Object(parent)) = parent else {
        if !dest.contains_key(GLOBAL) {
            dest.insert(GLOBAL.into(), Value::Object(Map::new()));
        }
        return;
    };
    let mut globals = match dest.remove(GLOBAL) {
        Some(Value::Object(g)) => g,
        Some(other) => {
            // Not a table: left as it was, as Helm skips it.
            dest.insert(GLOBAL.into(), other);
            return;
        }
        None => Map::new(),
    };
    for (key, val) in parent {
        match (val, globals.get_mut(&key)) {
            (Value::Object(mut top), Some(Value::Object(own))) => {
                coalesce_tables(&mut top, own.clone(), true);
                globals.insert(key, Value::Object(top));
            }
            (Value::Object(_), Some(_)) => {}
            (Value::Object(top), None) => {
                globals.insert(key, Value::Object(top));
            }
            (_, Some(Value::Object(_))) => {}
            (v, _) => {
                globals.insert(key, v);
            }
        }
    }
    dest.insert(GLOBAL.into(), Value::Object(globals));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, values: Value, subcharts: Vec<ChartValues>) -> ChartValues {
        ChartValues {
            name: name.into(),
            version: "0.1.0".into(),
            values: map(values),
            requirements: None,
            subcharts,
            source: None,
        }
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn yaml_numbers_are_floats_and_empty_files_empty_maps() {
        let v = parse_values_yaml("values.yaml", "replicas: 3\nratio: 0.5\nname: x\n").unwrap();
        assert!(v["replicas"].is_f64(), "{v:?}");
        assert_eq!(v["replicas"], json!(3.0));
        assert_eq!(
            parse_values_yaml("v.yaml", "# nothing\n").unwrap(),
            Map::new()
        );
        let e = parse_values_yaml("bad.yaml", "a: [")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("failed to parse bad.yaml:"), "{e}");
        assert!(parse_values_yaml("list.yaml", "- a\n").is_err());
    }

    #[test]
    fn value_files_then_set_then_set_string() {
        let input = ValuesInput {
            files: vec![
                map(json!({"image": {"repository": "nginx", "tag": "1.0"}, "replicas": 1.0})),
                map(json!({"image": {"tag": "2.0"}, "extra": null})),
            ],
            set: vec!["replicas=3".into(), "image.tag=3.0".into()],
            set_string: vec!["image.tag=4".into()],
        };
        assert_eq!(
            Value::Object(input.merged().unwrap()),
            json!({"image": {"repository": "nginx", "tag": "4"}, "replicas": 3, "extra": null})
        );
    }

    #[test]
    fn user_values_win_and_null_deletes_a_default() {
        let chart = node(
            "app",
            json!({
                "replicas": 1.0,
                "image": {"repository": "nginx", "tag": "stable", "pullPolicy": "IfNotPresent"},
                "probe": {"path": "/healthz"},
                "keep": "default"
            }),
            vec![],
        );
        let user = map(
            json!({"replicas": 2, "image": {"tag": "1.25", "pullPolicy": null}, "probe": null, "new": "x"}),
        );
        let out = coalesce(&chart, user).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({
                "replicas": 2,
                "image": {"repository": "nginx", "tag": "1.25"},
                "keep": "default",
                "new": "x"
            })
        );
    }

    #[test]
    fn subcharts_get_their_key_and_the_parents_globals() {
        let chart = node(
            "umbrella",
            json!({
                "global": {"env": "prod", "registry": {"host": "r.example"}},
                "db": {"replicas": 2.0}
            }),
            vec![node(
                "db",
                json!({
                    "replicas": 1.0,
                    "storage": "1Gi",
                    "global": {"env": "dev", "registry": {"host": "default", "port": 443.0}, "own": true}
                }),
                vec![],
            )],
        );
        let out = coalesce(&chart, map(json!({"db": {"storage": "5Gi"}}))).unwrap();
        assert_eq!(
            out["db"],
            json!({
                "replicas": 2.0,
                "storage": "5Gi",
                "global": {"env": "prod", "registry": {"host": "r.example", "port": 443.0}, "own": true}
            })
        );
        // A subchart the parent says nothing about still gets its defaults.
        let chart = node(
            "umbrella",
            json!({}),
            vec![node("cache", json!({"size": 1.0}), vec![])],
        );
        let out = coalesce(&chart, Map::new()).unwrap();
        assert_eq!(out["cache"], json!({"size": 1.0, "global": {}}));
    }

    #[test]
    fn a_scalar_where_a_subchart_table_belongs_is_an_error() {
        let chart = node("umbrella", json!({}), vec![node("db", json!({}), vec![])]);
        let e = coalesce(&chart, map(json!({"db": "oops"}))).unwrap_err();
        assert_eq!(e, HelmError::NotATable("db".into()));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod hostile_yaml_tests {
    /// Security checklist item 10: exponential aliases are refused at a
    /// bound, in bounded memory and time.
    #[test]
    fn a_billion_laughs_values_file_is_an_error() {
        let mut doc = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let mut prev = "a";
        for n in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            doc.push_str(&format!(
                "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = n;
        }
        let err = super::parse_values_yaml("laughs.yaml", &doc).unwrap_err();
        assert!(err.to_string().contains("excessive aliasing"), "{err}");
    }
}
