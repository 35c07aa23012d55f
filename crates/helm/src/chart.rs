//! A chart as Helm loads it (`chart.Chart`): metadata from Chart.yaml, the
//! templates, the other files (what `.Files` sees, `crds/` included), the
//! default values and schema, and the subcharts of `charts/`, loaded from a
//! directory or a `.tgz` archive with `.helmignore` applied.

use std::sync::Arc;

use serde_json::{Map, Value};

/// A loaded chart.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub metadata: Metadata,
    /// Chart.yaml as written, as JSON (numbers as written), for `.Chart`.
    pub metadata_json: Map<String, Value>,
    /// `templates/…` files, by path relative to the chart root, sorted.
    pub templates: Vec<ChartFile>,
    /// Every other file but Chart.yaml, values.yaml, values.schema.json,
    /// requirements.yaml/lock, Chart.lock, `templates/` and `charts/`:
    /// what `.Files` sees. `crds/` files are among them.
    pub files: Vec<ChartFile>,
    /// values.yaml, numbers as floats (as Helm decodes YAML).
    pub values: Map<String, Value>,
    /// values.yaml as written (empty when absent).
    pub raw_values: String,
    /// values.schema.json, when present.
    pub schema: Option<Value>,
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
    pub api_version: String,
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub description: String,
    pub kube_version: String,
    /// `application` (also when empty) or `library`.
    pub chart_type: String,
    pub dependencies: Vec<crate::values::Dependency>,
}

impl Chart {
    /// Whether this is a library chart (renders no templates of its own).
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }

    /// The `crds/` files (Helm's `CRDObjects`), in file order.
    pub fn crd_files(&self) -> impl Iterator<Item = &ChartFile> {
        self.files.iter().filter(|f| f.name.starts_with("crds/"))
    }
}
