//! `caravel template CHART`: a chart rendered locally by Caravel's native
//! Helm engine, without a server, as `helm template` renders it: the same
//! stdout, the same `--output-dir` layout and `wrote …` lines, the same
//! checks before rendering (chart path, values, installable chart type,
//! dependencies present, release name) and Helm's wording for errors,
//! printed as `Error: …` with exit code 1.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use caravel_helm::chart::{Chart, ChartError, LoadLimits};
use caravel_helm::{HelmError, Manifest, RenderError, RenderOptions, Rendered, ValuesInput};
use clap::Args;

use crate::output;

/// Exit code of a failed `template`, as Helm's.
const EXIT_TEMPLATE_FAILED: u8 = 1;

/// Longest release name Helm accepts.
const MAX_RELEASE_NAME: usize = 53;

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Chart directory or packaged chart (.tgz).
    pub chart: PathBuf,
    /// Values file (YAML), merged over the previous ones; `-` reads
    /// standard input. Repeatable.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<String>,
    /// Value as K=V (comma-separated list allowed), typed as Helm types
    /// `--set` values. Repeatable; applied after the values files.
    #[arg(long = "set", value_name = "K=V")]
    pub set: Vec<String>,
    /// Value as K=V kept as a string. Repeatable; applied after `--set`.
    #[arg(long = "set-string", value_name = "K=V")]
    pub set_string: Vec<String>,
    /// Release name (`.Release.Name`).
    #[arg(long, default_value = "release-name")]
    pub name: String,
    /// Release namespace (`.Release.Namespace`).
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Kubernetes version of `.Capabilities.KubeVersion` (default: Helm's).
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// API versions added to `.Capabilities.APIVersions` (repeatable,
    /// comma-separated allowed).
    #[arg(
        short = 'a',
        long = "api-versions",
        value_name = "API",
        value_delimiter = ','
    )]
    pub api_versions: Vec<String>,
    /// Print the `crds/` files of the chart and its subcharts first.
    #[arg(long)]
    pub include_crds: bool,
    /// Leave out test hooks.
    #[arg(long)]
    pub skip_tests: bool,
    /// Do not validate values against values.schema.json.
    #[arg(long)]
    pub skip_schema_validation: bool,
    /// Write each template's documents to DIR/<template path> instead of
    /// printing them.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// Why `template` failed, worded as Helm words it.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("path {0:?} not found")]
    ChartNotFound(String),
    #[error("open {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Values(#[from] HelmError),
    #[error(transparent)]
    Load(#[from] ChartError),
    #[error("{0} charts are not installable")]
    NotInstallable(String),
    #[error(
        "an error occurred while checking for chart dependencies. You may need to run \
         `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but \
         missing in charts/ directory: {}",
        .0.join(", ")
    )]
    MissingDependencies(Vec<String>),
    #[error(
        "release name check failed: release name {0:?}: invalid release name, must match regex \
         ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length \
         must not be longer than 53"
    )]
    ReleaseName(String),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{action} {path}: {source}")]
    Write {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// Runs `caravel template`; errors are printed as Helm prints them.
pub fn run(args: &TemplateArgs) -> ExitCode {
    let result = render(args).and_then(|rendered| match &args.output_dir {
        None => {
            output::print(&rendered.output());
            Ok(())
        }
        Some(dir) => write_output_dir(dir, &rendered.manifests),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(EXIT_TEMPLATE_FAILED)
        }
    }
}

/// Loads, checks and renders the chart, in the order `helm template` does.
pub fn render(args: &TemplateArgs) -> Result<Rendered, TemplateError> {
    if !args.chart.exists() {
        return Err(TemplateError::ChartNotFound(
            args.chart.display().to_string(),
        ));
    }
    let user = user_values(args)?;
    let chart = Arc::new(load_chart(&args.chart)?);
    check_installable(&chart)?;
    check_release_name(&args.name)?;
    let options = RenderOptions {
        release_name: args.name.clone(),
        namespace: args.namespace.clone(),
        kube_version: args.kube_version.clone(),
        api_versions: args
            .api_versions
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect(),
        include_crds: args.include_crds,
        skip_tests: args.skip_tests,
        skip_schema_validation: args.skip_schema_validation,
        ..RenderOptions::default()
    };
    Ok(caravel_helm::render(&chart, user, &options)?)
}

/// Helm's `values.Options.MergeValues`: files in order, then `--set`, then
/// `--set-string`.
fn user_values(
    args: &TemplateArgs,
) -> Result<serde_json::Map<String, serde_json::Value>, TemplateError> {
    let mut files = Vec::with_capacity(args.values.len());
    for file in &args.values {
        let text = read_values_file(file)?;
        files.push(caravel_helm::parse_values_yaml(file, &text)?);
    }
    let input = ValuesInput {
        files,
        set: args.set.clone(),
        set_string: args.set_string.clone(),
    };
    Ok(input.merged()?)
}

fn read_values_file(file: &str) -> Result<String, TemplateError> {
    let read_error = |source| TemplateError::Read {
        path: file.to_owned(),
        source,
    };
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(read_error)?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(read_error)
}

/// A directory is loaded as a chart directory, anything else as an archive
/// (Helm's `loader.Load`).
fn load_chart(path: &Path) -> Result<Chart, TemplateError> {
    let limits = LoadLimits::default();
    if path.is_dir() {
        return Ok(caravel_helm::chart::load_dir(path, &limits)?);
    }
    let bytes = std::fs::read(path).map_err(|source| TemplateError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(caravel_helm::chart::load_archive(&bytes, &limits)?)
}

/// Helm's `checkIfInstallable` and `CheckDependencies`: only application
/// charts render, and every declared dependency must be in `charts/`.
fn check_installable(chart: &Chart) -> Result<(), TemplateError> {
    match chart.metadata.chart_type.as_str() {
        "" | "application" => {}
        other => return Err(TemplateError::NotInstallable(other.to_owned())),
    }
    let present: BTreeSet<&str> = chart
        .subcharts
        .iter()
        .map(|s| s.metadata.name.as_str())
        .collect();
    let missing: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !present.contains(d.name.as_str()))
        .map(|d| d.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::MissingDependencies(missing))
    }
}

/// Helm's `ValidateReleaseName`: DNS-1123 labels joined by dots, at most
/// 53 characters.
fn check_release_name(name: &str) -> Result<(), TemplateError> {
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
            }
            _ => false,
        }
    };
    if name.is_empty() || name.len() > MAX_RELEASE_NAME || !name.split('.').all(label_ok) {
        return Err(TemplateError::ReleaseName(name.to_owned()));
    }
    Ok(())
}

// === --output-dir ===

/// Writes every document to `DIR/<template>` as `helm template
/// --output-dir` does: `---\n# Source: <template>\n<content>\n` per
/// document, the first document of a template in this run creating (or
/// truncating) its file and the others appended, a `wrote DIR/<template>`
/// line per document, and an empty line at the end (the empty manifest
/// Helm prints after writing the files).
///
/// One deliberate difference: Helm appends hooks to a file that exists
/// from an earlier run (helm/helm#12988), so running twice doubles them;
/// here a second run writes the same files as the first.
pub fn write_output_dir(dir: &Path, manifests: &[Manifest]) -> Result<(), TemplateError> {
    let mut written: BTreeSet<&str> = BTreeSet::new();
    for m in manifests {
        let append = !written.insert(m.template.as_str());
        let path = output_path(dir, &m.template);
        write_document(&path, m, append)?;
        output::print(&format!("wrote {}\n", path.display()));
    }
    output::print("\n");
    Ok(())
}

/// `DIR/<template>`, joined as Helm joins them (no cleaning of `DIR`).
fn output_path(dir: &Path, template: &str) -> PathBuf {
    let mut path = OsString::from(dir.as_os_str());
    path.push("/");
    path.push(template);
    PathBuf::from(path)
}

fn write_document(path: &Path, m: &Manifest, append: bool) -> Result<(), TemplateError> {
    let shown = path.display().to_string();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| TemplateError::Write {
            action: "mkdir",
            path: parent.display().to_string(),
            source,
        })?;
    }
    let file = if append {
        std::fs::OpenOptions::new().append(true).open(path)
    } else {
        std::fs::File::create(path)
    };
    let mut file = file.map_err(|source| TemplateError::Write {
        action: "open",
        path: shown.clone(),
        source,
    })?;
    let document = format!("---\n# Source: {}\n{}\n", m.template, m.content);
    file.write_all(document.as_bytes())
        .map_err(|source| TemplateError::Write {
            action: "write",
            path: shown,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_follow_helms_rule() {
        for good in ["release-name", "a", "web.prod", "x1-2", &"a".repeat(53)] {
            assert!(check_release_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Bad_Name",
            "-web",
            "web-",
            "web..prod",
            ".web",
            "UPPER",
            &"a".repeat(54),
        ] {
            assert!(check_release_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_paths_join_the_directory_as_given() {
        assert_eq!(
            output_path(Path::new("out/"), "c/templates/x.yaml"),
            PathBuf::from("out//c/templates/x.yaml")
        );
    }
}
