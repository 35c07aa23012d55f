//! Helm, natively: the values a chart renders with (Helm's `--set` syntax,
//! value files and chart defaults, coalesced in Helm's order and by Helm's
//! rules, subchart scoping and globals included). Values are JSON values
//! shaped as Helm sees them: numbers from YAML are floats (Helm decodes YAML
//! through JSON), numbers from `--set` are integers.

pub mod chart;
pub mod codec;
mod deps;
pub mod render;
pub mod strvals;
pub mod values;

pub use chart::{
    load_archive, load_dir, load_memory, validate_values, Chart, ChartError, ChartFile, LoadLimits,
};
pub use render::{
    render, Manifest, ManifestKind, RenderError, RenderLimits, RenderOptions, Rendered,
};
pub use strvals::{parse_set, SetKind};
pub use values::{
    coalesce, merge_maps, merge_values, parse_values_yaml, render_values, ChartValues, Dependency,
    ImportValue, ValuesInput,
};

/// Errors of values handling, worded like Helm's.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HelmError {
    #[error("failed parsing --set data: {0}")]
    Set(String),
    #[error("failed to parse {file}: {message}")]
    ValuesFile { file: String, message: String },
    #[error("type mismatch on {0}: not a table")]
    NotATable(String),
}
