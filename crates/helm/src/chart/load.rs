//! Files to a chart, as Helm's `LoadFiles` sorts them: Chart.yaml first,
//! then values, schema, lock files, requirements, `templates/`, `charts/`
//! (each subchart directory or archive loaded recursively) and everything
//! else into `files`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::metadata::ChartYaml;
use super::{archive, directory, Chart, ChartError, ChartFile, LoadLimits};
use crate::values::merge_maps;

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Loads a chart directory (with its `charts/`), applying `.helmignore`.
pub fn load_dir(path: &Path, limits: &LoadLimits) -> Result<Chart, ChartError> {
    let mut budget = Budget::new(limits);
    let files = directory::read_dir(path, &mut budget)?;
    load_files(files, &mut budget, 0)
}

/// Loads a chart from files already read (by path relative to the chart
/// root, e.g. from Git objects), applying its `.helmignore` and Helm's
/// default rule as a directory load does. A file is ignored when it or one
/// of its parent directories is.
pub fn load_memory(files: Vec<ChartFile>, limits: &LoadLimits) -> Result<Chart, ChartError> {
    let mut budget = Budget::new(limits);
    let mut rules = match files.iter().find(|f| f.name == ".helmignore") {
        Some(f) => super::helmignore::IgnoreRules::parse(&String::from_utf8_lossy(&f.data))?,
        None => super::helmignore::IgnoreRules::default(),
    };
    rules.add_defaults();
    let mut kept = Vec::with_capacity(files.len());
    for f in files {
        let parts: Vec<&str> = f.name.split('/').collect();
        let ignored = (1..parts.len()).any(|n| rules.ignores(&parts[..n].join("/"), true))
            || rules.ignores(&f.name, false);
        if ignored {
            continue;
        }
        let size = f.data.len() as u64;
        if size > limits.max_file_bytes {
            return Err(ChartError::FileTooLarge {
                name: f.name,
                max: limits.max_file_bytes,
            });
        }
        budget.check_file(size)?;
        budget.spend(size)?;
        kept.push(BufferedFile::new(f.name, f.data.to_vec()));
    }
    load_files(kept, &mut budget, 0)
}

/// Loads a chart archive (`.tgz`, as `helm package` makes it).
pub fn load_archive(bytes: &[u8], limits: &LoadLimits) -> Result<Chart, ChartError> {
    let mut budget = Budget::new(limits);
    let files = archive::read_archive(bytes, &mut budget)?;
    load_files(files, &mut budget, 0)
}

/// One file read from a directory or an archive.
pub(super) struct BufferedFile {
    name: String,
    data: Vec<u8>,
}

impl BufferedFile {
    pub(super) fn new(name: String, mut data: Vec<u8>) -> Self {
        if data.starts_with(UTF8_BOM) {
            data.drain(..UTF8_BOM.len());
        }
        Self { name, data }
    }
}

/// What one load may still read: files and bytes, shared by the chart,
/// its subcharts and the archives among them.
pub(super) struct Budget {
    limits: LoadLimits,
    files: usize,
    bytes_left: u64,
}

impl Budget {
    fn new(limits: &LoadLimits) -> Self {
        Self {
            limits: limits.clone(),
            files: 0,
            bytes_left: limits.max_total_bytes,
        }
    }

    pub(super) fn limits(&self) -> &LoadLimits {
        &self.limits
    }

    pub(super) fn remaining_bytes(&self) -> u64 {
        self.bytes_left
    }

    pub(super) fn too_large(&self) -> ChartError {
        ChartError::ChartTooLarge {
            max: self.limits.max_total_bytes,
        }
    }

    /// The decompressed bytes an archive may yield in all: the file budget
    /// plus room for a tar header and padding per file.
    pub(super) fn stream_cap(&self) -> u64 {
        let overhead = (self.limits.max_files as u64 + 2).saturating_mul(1024);
        self.bytes_left
            .saturating_add(overhead)
            .saturating_add(1 << 20)
    }

    /// Counts one more file of `size` bytes (not read yet).
    pub(super) fn check_file(&mut self, size: u64) -> Result<(), ChartError> {
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(ChartError::TooManyFiles {
                max: self.limits.max_files,
            });
        }
        if size > self.bytes_left {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// Helm's checks of an archive entry's declared size, in Helm's order.
    pub(super) fn check_archive_file(
        &mut self,
        raw_name: &str,
        size: u64,
    ) -> Result<(), ChartError> {
        if size > self.bytes_left {
            return Err(self.too_large());
        }
        if size > self.limits.max_file_bytes {
            return Err(ChartError::Archive(format!(
                "decompressed chart file {raw_name:?} is larger than the maximum file size {}",
                self.limits.max_file_bytes
            )));
        }
        self.check_file(size)
    }

    pub(super) fn spend(&mut self, bytes: u64) -> Result<(), ChartError> {
        if bytes > self.bytes_left {
            return Err(self.too_large());
        }
        self.bytes_left -= bytes;
        Ok(())
    }
}

fn utf8<'a>(file: &str, data: &'a [u8]) -> Result<&'a str, ChartError> {
    std::str::from_utf8(data).map_err(|e| ChartError::File {
        file: file.to_owned(),
        message: format!("not UTF-8: {e}"),
    })
}

fn file(f: BufferedFile) -> ChartFile {
    ChartFile {
        name: f.name,
        data: Arc::from(f.data),
    }
}

/// Helm's `LoadFiles`; `depth` is the subchart nesting of these files.
fn load_files(
    files: Vec<BufferedFile>,
    budget: &mut Budget,
    depth: usize,
) -> Result<Chart, ChartError> {
    let mut meta: Option<ChartYaml> = None;
    for f in files.iter().filter(|f| f.name == "Chart.yaml") {
        let text = utf8("Chart.yaml", &f.data)?;
        let m = meta.get_or_insert_with(ChartYaml::default);
        m.decode(text).map_err(|message| ChartError::File {
            file: "Chart.yaml".into(),
            message,
        })?;
        // Helm 2 charts may leave the apiVersion out.
        if m.api_version.is_empty() {
            m.api_version = "v1".into();
        }
    }
    let mut chart = Chart::default();
    let mut subcharts: BTreeMap<String, Vec<BufferedFile>> = BTreeMap::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => {}
            "Chart.lock" | "requirements.lock" => {
                check_lock(&f)?;
                if f.name == "requirements.lock" {
                    let m = meta.get_or_insert_with(ChartYaml::default);
                    if m.api_version == "v1" {
                        chart.files.push(file(f));
                    }
                }
            }
            "values.yaml" => {
                let text = utf8("values.yaml", &f.data)?;
                chart.values = parse_values(text).map_err(|message| ChartError::File {
                    file: "values.yaml".into(),
                    message,
                })?;
                chart.raw_values = text.to_owned();
            }
            "values.schema.json" => {
                chart.schema = serde_json::from_slice(&f.data).ok();
                chart.raw_schema = Some(String::from_utf8_lossy(&f.data).into_owned());
            }
            "requirements.yaml" => {
                let text = utf8("requirements.yaml", &f.data)?;
                let m = meta.get_or_insert_with(ChartYaml::default);
                m.decode(text).map_err(|message| ChartError::File {
                    file: "requirements.yaml".into(),
                    message,
                })?;
                if m.api_version == "v1" {
                    chart.files.push(file(f));
                }
            }
            name if name.starts_with("templates/") => chart.templates.push(file(f)),
            name if name.starts_with("charts/") => {
                if name.ends_with(".prov") {
                    chart.files.push(file(f));
                    continue;
                }
                let rest = name["charts/".len()..].to_owned();
                let entry = rest.split('/').next().unwrap_or_default().to_owned();
                subcharts.entry(entry).or_default().push(BufferedFile {
                    name: rest,
                    data: f.data,
                });
            }
            _ => chart.files.push(file(f)),
        }
    }
    let meta = meta.ok_or(ChartError::MissingChartYaml)?;
    let (metadata, metadata_json) = meta.validate()?;
    chart.metadata = metadata;
    chart.metadata_json = metadata_json;

    for (entry, files) in subcharts {
        if entry.starts_with('_') || entry.starts_with('.') {
            continue;
        }
        let wrap = |source: ChartError| ChartError::Subchart {
            subchart: entry.clone(),
            parent: chart.metadata.name.clone(),
            source: Box::new(source),
        };
        if depth + 1 > budget.limits().max_depth {
            return Err(ChartError::TooDeep {
                max: budget.limits().max_depth,
                subchart: entry.clone(),
            });
        }
        let sub = if extension(&entry) == ".tgz" {
            let mut files = files;
            let first = files.swap_remove(0);
            if first.name != entry {
                return Err(ChartError::SubchartTar {
                    parent: chart.metadata.name.clone(),
                    expected: entry.clone(),
                    got: first.name,
                });
            }
            archive::read_archive(&first.data, budget)
                .and_then(|files| load_files(files, budget, depth + 1))
        } else {
            let files = files
                .into_iter()
                .filter_map(|f| {
                    let (_, inner) = f.name.split_once('/')?;
                    Some(BufferedFile {
                        name: inner.to_owned(),
                        data: f.data,
                    })
                })
                .collect();
            load_files(files, budget, depth + 1)
        };
        chart.subcharts.push(Arc::new(sub.map_err(wrap)?));
    }
    Ok(chart)
}

/// Go's `filepath.Ext`.
fn extension(name: &str) -> &str {
    match name.rfind(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'.' => &name[i..],
        _ => "",
    }
}

/// Chart.lock / requirements.lock must be a YAML map (Helm decodes them).
fn check_lock(f: &BufferedFile) -> Result<(), ChartError> {
    let err = |message: String| ChartError::File {
        file: f.name.clone(),
        message,
    };
    let text = utf8(&f.name, &f.data)?;
    let doc: Value = caravel_yaml::from_str(text)
        .map_err(|e| err(format!("error converting YAML to JSON: yaml: {e}")))?;
    match doc {
        Value::Null | Value::Object(_) => Ok(()),
        other => Err(err(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type v2.Lock",
            if other.is_array() { "array" } else { "string" }
        ))),
    }
}

/// Helm's `LoadValues`: every YAML document of the file, merged in order,
/// each read as Helm reads YAML (YAML 1.1 scalars, numbers as floats).
fn parse_values(text: &str) -> Result<Map<String, Value>, String> {
    let mut values = Map::new();
    for doc in crate::render::manifests::split_documents(text) {
        let parsed = crate::codec::parse_yaml_go(doc)
            .map_err(|e| format!("cannot unmarshal yaml document: {e}"))?
            .to_json();
        match parsed {
            Value::Object(map) => values = merge_maps(values, map),
            Value::Null => {}
            other => {
                let kind = match other {
                    Value::Array(_) => "array",
                    Value::String(_) => "string",
                    Value::Number(_) => "number",
                    _ => "bool",
                };
                return Err(format!(
                    "cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
                ));
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn extension_is_go_filepath_ext() {
        assert_eq!(extension("redis-1.0.tgz"), ".tgz");
        assert_eq!(extension("redis"), "");
        assert_eq!(extension("a.b/c"), "");
    }

    #[test]
    fn values_documents_merge_in_order() {
        let v = parse_values("a: 1\nb: {x: 1}\n---\nb: {y: 2}\nc: 3\n").unwrap();
        // YAML 1.1, as Helm reads it: the key `y` is the bool true.
        assert_eq!(
            Value::Object(v),
            serde_json::json!({"a": 1.0, "b": {"x": 1.0, "true": 2.0}, "c": 3.0})
        );
        let err = parse_values("a: 1\n---\n- x\n").unwrap_err();
        assert!(
            err.ends_with("cannot unmarshal array into Go value of type map[string]interface {}"),
            "{err}"
        );
    }
}
