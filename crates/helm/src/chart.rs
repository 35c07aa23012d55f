//! A chart as Helm loads it (`chart.Chart`): metadata from Chart.yaml, the
//! templates, the other files (what `.Files` sees, `crds/` included), the
//! default values and schema, and the subcharts of `charts/`, loaded from a
//! directory or a `.tgz` archive with `.helmignore` applied (directories
//! only, as Helm does).
//!
//! Charts come from untrusted Git content and downloaded archives, so
//! loading is bounded by [`LoadLimits`]: file count and sizes (decompressed),
//! subchart nesting, and symlinks that must stay inside the repository.

mod archive;
mod directory;
mod helmignore;
mod load;
mod metadata;
mod schema;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::values::ChartValues;

pub use helmignore::IgnoreRules;
pub use load::{load_archive, load_dir, load_memory};
pub use schema::{validate_values, SchemaNode};

/// A loaded chart.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub metadata: Metadata,
    /// Chart.yaml as Helm holds it (`chart.Metadata` marshalled to JSON):
    /// JSON field names (`apiVersion`, `appVersion`, …), empty fields
    /// omitted, unknown keys dropped, scalars in string fields converted
    /// to strings as Helm converts them (`appVersion: 1.10` is `"1.1"`),
    /// strings sanitized, requirements.yaml dependencies folded in.
    pub metadata_json: Map<String, Value>,
    /// `templates/…` files, by path relative to the chart root, in Helm's
    /// load order (a directory walk in lexical order per directory, or
    /// archive order).
    pub templates: Vec<ChartFile>,
    /// Every other file but Chart.yaml, values.yaml, values.schema.json,
    /// Chart.lock, requirements.yaml/lock (kept for apiVersion v1 charts,
    /// as Helm does), `templates/` and `charts/` (but `charts/*.prov`):
    /// what `.Files` sees. `crds/` files and `.helmignore` are among them.
    pub files: Vec<ChartFile>,
    /// values.yaml, numbers as floats (as Helm decodes YAML); the documents
    /// of a multi-document values.yaml merged in order.
    pub values: Map<String, Value>,
    /// values.yaml as written (empty when absent).
    pub raw_values: String,
    /// values.schema.json, when present and valid JSON.
    pub schema: Option<Value>,
    /// values.schema.json as written, when present (Helm reports a schema
    /// that is not JSON only when validating values against it).
    pub raw_schema: Option<String>,
    /// The charts of `charts/` (directories and `.tgz` archives), ordered
    /// by their entry name in `charts/`.
    pub subcharts: Vec<Arc<Chart>>,
}

/// One file of a chart, by its path relative to the chart root (`/`
/// separated).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartFile {
    pub name: String,
    pub data: Arc<[u8]>,
}

/// Chart.yaml (`chart.Metadata`), with `requirements.yaml` dependencies
/// folded into `dependencies` for apiVersion v1 charts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// `v1` when Chart.yaml leaves it out (Helm 2 charts).
    pub api_version: String,
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub description: String,
    pub kube_version: String,
    /// `application` (also when empty) or `library`.
    pub chart_type: String,
    pub dependencies: Vec<crate::values::Dependency>,
    pub home: String,
    pub icon: String,
    pub sources: Vec<String>,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Maintainer>,
    pub annotations: BTreeMap<String, String>,
    pub deprecated: bool,
    pub condition: String,
    pub tags: String,
}

/// A Chart.yaml `maintainers` entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

/// Bounds on what loading a chart may read. The defaults are Helm's size
/// limits (100 MiB decompressed chart, 5 MiB per file) plus bounds Helm
/// does not have: file count, subchart nesting and directory depth.
#[derive(Clone, Debug)]
pub struct LoadLimits {
    /// Files read in all, subcharts and nested archives included.
    pub max_files: usize,
    /// Size of one file (decompressed for archives).
    pub max_file_bytes: u64,
    /// Size of all files together (decompressed), subcharts included.
    pub max_total_bytes: u64,
    /// Subchart nesting (`charts/a/charts/b` is 2).
    pub max_depth: usize,
    /// Directory nesting inside a chart directory.
    pub max_dir_depth: usize,
    /// The directory symlinks must not leave (the repository root); `None`
    /// bounds them to the chart directory itself.
    pub root: Option<PathBuf>,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self {
            max_files: 10_000,
            max_file_bytes: 5 * 1024 * 1024,
            max_total_bytes: 100 * 1024 * 1024,
            max_depth: 16,
            max_dir_depth: 64,
            root: None,
        }
    }
}

/// Errors of chart loading and schema validation, worded like Helm's.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("error reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Chart.yaml file is missing")]
    MissingChartYaml,
    #[error("cannot load {file}: {message}")]
    File { file: String, message: String },
    #[error("validation: {0}")]
    Validation(String),
    #[error("error unpacking subchart {subchart} in {parent}: {source}")]
    Subchart {
        subchart: String,
        parent: String,
        source: Box<ChartError>,
    },
    #[error("error unpacking subchart tar in {parent}: expected {expected}, got {got}")]
    SubchartTar {
        parent: String,
        expected: String,
        got: String,
    },
    #[error("subcharts nested deeper than {max} levels (at {subchart})")]
    TooDeep { max: usize, subchart: String },
    #[error("chart directory nested deeper than {max} levels (at {path})")]
    DirectoryTooDeep { max: usize, path: String },
    #[error("chart has more than {max} files")]
    TooManyFiles { max: usize },
    #[error("decompressed chart is larger than the maximum size {max}")]
    ChartTooLarge { max: u64 },
    #[error("chart file {name:?} is larger than the maximum file size {max}")]
    FileTooLarge { name: String, max: u64 },
    #[error("{0}")]
    Archive(String),
    #[error("chart file name is not UTF-8: {0:?}")]
    NonUtf8Name(String),
    #[error("cannot load irregular file {0} as it has file mode type bits set")]
    IrregularFile(String),
    #[error("error evaluating symlink {path}: {source}")]
    BrokenSymlink {
        path: String,
        source: std::io::Error,
    },
    #[error("symlink {path} points outside the repository ({target})")]
    SymlinkEscapes { path: String, target: String },
    #[error("symlink {path} loops back to {target}")]
    SymlinkLoop { path: String, target: String },
    #[error("{0}")]
    Helmignore(String),
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
}

impl Chart {
    /// Whether this is a library chart (renders no templates of its own).
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }

    /// The `crds/` files (Helm's `CRDObjects`: `.yaml`, `.yml` or `.json`,
    /// any case), in file order.
    pub fn crd_files(&self) -> impl Iterator<Item = &ChartFile> {
        self.files
            .iter()
            .filter(|f| f.name.starts_with("crds/") && has_manifest_extension(&f.name))
    }

    /// The chart as values handling sees it, subcharts included, each node
    /// pointing back to its loaded chart.
    pub fn values_tree(self: &Arc<Chart>) -> ChartValues {
        let deps = &self.metadata.dependencies;
        ChartValues {
            name: self.metadata.name.clone(),
            version: self.metadata.version.clone(),
            values: self.values.clone(),
            requirements: (!deps.is_empty()).then(|| deps.clone()),
            subcharts: self.subcharts.iter().map(Chart::values_tree).collect(),
            source: Some(Arc::clone(self)),
        }
    }
}

fn has_manifest_extension(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    let Some(dot) = base.rfind('.') else {
        return false;
    };
    let ext = &base[dot..];
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
