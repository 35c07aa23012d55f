//! Helm chart apps, rendered natively (no `helm` binary) as Argo CD's
//! `helm template` call renders them: release name `helm.releaseName` or
//! the app name, namespace `helm.namespace` or the destination namespace,
//! `crds/` included unless `skipCrds`, test hooks dropped with
//! `skipTests`, hooks kept (the sync engine maps Helm hook annotations).
//!
//! Values are merged in Argo CD's order: `helm.valueFiles` (from this
//! source, or `$ref/…` from another source of a multi-source app), then
//! `helm.valuesObject` (or `helm.values`), then `helm.parameters` as
//! `--set`/`--set-string` with Argo CD's comma escaping. Value files are
//! read from Git objects and must stay inside their repository: `..` that
//! climbs out, symlinks that lead out, loops and URL schemes are refused,
//! and the refusal never echoes a resolved path or file content.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravel_crd::application::ApplicationSourceHelm;
use caravel_helm::chart::{ChartFile, LoadLimits};
use caravel_helm::{RenderOptions, ValuesInput};
use git2::Oid;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::git::{CommitTree, EntryKind};
use crate::repo_path::Node;

/// `source_type` of a Helm app.
pub const SOURCE_TYPE_HELM: &str = "Helm";

/// What the request says about the render besides the source.
#[derive(Clone, Debug, Default)]
pub struct HelmContext<'a> {
    pub app_name: &'a str,
    /// The destination namespace.
    pub namespace: &'a str,
    /// The destination cluster's version and API versions (empty: Helm's
    /// defaults), overridden by `helm.kubeVersion`/`helm.apiVersions`.
    pub kube_version: &'a str,
    pub api_versions: &'a [String],
}

/// The repositories of a multi-source app's `ref` sources, by ref name,
/// for `$ref/path` value files.
pub type RefTrees<'a> = BTreeMap<String, &'a CommitTree>;

/// Limits of one chart render.
#[derive(Clone, Debug)]
pub struct HelmLimits {
    pub load: LoadLimits,
    pub render: caravel_helm::RenderLimits,
    /// Bytes of one value file.
    pub max_value_file_size: u64,
}

impl Default for HelmLimits {
    fn default() -> Self {
        HelmLimits {
            load: LoadLimits::default(),
            render: caravel_helm::RenderLimits::default(),
            max_value_file_size: 16 << 20,
        }
    }
}

/// Reads the chart at `dir` (the app path, `real_dir` from the root) out of
/// Git: every file below it, symlinked files followed inside the
/// repository, with the loader's file count and size limits.
pub fn chart_files(
    tree: &CommitTree,
    real_dir: &[String],
    dir: Oid,
    limits: &LoadLimits,
) -> Result<Vec<ChartFile>, Error> {
    let mut out = Vec::new();
    let mut total: u64 = 0;
    walk(tree, dir, real_dir, "", limits, &mut total, &mut out)?;
    Ok(out)
}

fn walk(
    tree: &CommitTree,
    id: Oid,
    real_dir: &[String],
    rel_dir: &str,
    limits: &LoadLimits,
    total: &mut u64,
    out: &mut Vec<ChartFile>,
) -> Result<(), Error> {
    for entry in tree.list(id)? {
        let name = std::str::from_utf8(&entry.name)
            .map_err(|_| Error::Render("a file name in the chart is not valid utf-8".to_owned()))?;
        let rel = if rel_dir.is_empty() {
            name.to_owned()
        } else {
            format!("{rel_dir}/{name}")
        };
        let mut real = real_dir.to_vec();
        real.push(name.to_owned());
        let file = match entry.kind {
            EntryKind::Dir => {
                walk(tree, entry.id, &real, &rel, limits, total, out)?;
                continue;
            }
            EntryKind::File => entry.id,
            EntryKind::Symlink => match tree.resolve(&real)?.map(|r| r.node) {
                Some(Node::File(id)) => id,
                // Linked directories are not descended into; dangling
                // links are skipped, as a chart loader reading files would.
                _ => continue,
            },
            EntryKind::Other => continue,
        };
        if out.len() >= limits.max_files {
            return Err(Error::Render(format!(
                "the chart has more than {} files",
                limits.max_files
            )));
        }
        let size = tree.blob_size(file)?;
        if size > limits.max_file_bytes {
            return Err(Error::Render(format!(
                "chart file {rel} is {size} bytes, more than the limit of {}",
                limits.max_file_bytes
            )));
        }
        *total += size;
        if *total > limits.max_total_bytes {
            return Err(Error::Render(format!(
                "the chart's files are more than {} bytes in total",
                limits.max_total_bytes
            )));
        }
        out.push(ChartFile {
            name: rel,
            data: Arc::from(tree.read_blob(file)?),
        });
    }
    Ok(())
}

/// Where a value file named in `helm.valueFiles` lives.
#[derive(Debug, PartialEq, Eq)]
pub enum ValueFilePath {
    /// Components from this repository's root.
    Local(Vec<String>),
    /// `$ref/path`: components from the root of the `ref` source's repository.
    Ref { name: String, path: Vec<String> },
}

/// Checks a `helm.valueFiles` entry and turns it into components from a
/// repository root. Relative paths are relative to the app path; a leading
/// `/` means the repository root (as in Argo CD); `..` may not climb out.
pub fn value_file_path(app_path: &[String], file: &str) -> Result<ValueFilePath, Error> {
    if file.contains('\0') {
        return Err(Error::InvalidArgument(
            "a value file name contains a nul byte".to_owned(),
        ));
    }
    if let Some((scheme, _)) = file.split_once("://") {
        if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(Error::InvalidArgument(format!(
                "value file {file:?}: URL schemes are not allowed ({scheme}://); name a file in the repository"
            )));
        }
    }
    let outside =
        || Error::InvalidArgument(format!("value file {file:?} is outside the repository"));
    if let Some(rest) = file.strip_prefix('$') {
        let (name, path) = rest.split_once('/').ok_or_else(|| {
            Error::InvalidArgument(format!(
                "value file {file:?}: a $ref value file must be $<ref>/<path>"
            ))
        })?;
        let path = normalize(&[], path).ok_or_else(outside)?;
        return Ok(ValueFilePath::Ref {
            name: name.to_owned(),
            path,
        });
    }
    let base: &[String] = if file.starts_with('/') { &[] } else { app_path };
    normalize(base, file)
        .map(ValueFilePath::Local)
        .ok_or_else(outside)
}

/// `base` joined with `path`, `.`/`..` folded; `None` if it climbs above
/// the root.
fn normalize(base: &[String], path: &str) -> Option<Vec<String>> {
    let mut out = base.to_vec();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            other => out.push(other.to_owned()),
        }
    }
    Some(out)
}

/// Reads a value file from `tree`, following symlinks inside the
/// repository only. `Ok(None)` if it does not exist.
fn read_value_file(
    tree: &CommitTree,
    path: &[String],
    shown: &str,
    max_size: u64,
) -> Result<Option<Vec<u8>>, Error> {
    let resolved = tree.resolve(path).map_err(|e| match e {
        // Never echo where a link pointed.
        Error::Render(_) => Error::InvalidArgument(format!(
            "value file {shown:?} resolves outside the repository or through a symlink loop"
        )),
        other => other,
    })?;
    match resolved.map(|r| r.node) {
        None => Ok(None),
        Some(Node::File(id)) => {
            let size = tree.blob_size(id)?;
            if size > max_size {
                return Err(Error::Render(format!(
                    "value file {shown:?} is {size} bytes, more than the limit of {max_size}"
                )));
            }
            Ok(Some(tree.read_blob(id)?))
        }
        Some(_) => Err(Error::InvalidArgument(format!(
            "value file {shown:?} is not a file"
        ))),
    }
}

/// Argo CD's `cleanSetParameters`: commas in a `--set` value are escaped
/// unless the value is a `{a,b}` list or the comma is escaped already.
fn escape_set_value(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut prev = None;
    for c in value.chars() {
        if c == ',' && prev != Some('\\') {
            out.push('\\');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Reads a value file of the source itself: components from its root
/// (the repository, or a chart archive) and the name as written, for
/// messages. `Ok(None)` when it does not exist.
pub type LocalFiles<'a> = dyn Fn(&[String], &str) -> Result<Option<Vec<u8>>, Error> + 'a;

/// The user values of a Helm source, merged in Argo CD's order.
pub fn user_values(
    helm: Option<&ApplicationSourceHelm>,
    app_path: &[String],
    local: &LocalFiles<'_>,
    refs: &RefTrees<'_>,
    max_value_file_size: u64,
) -> Result<Map<String, Value>, Error> {
    let mut input = ValuesInput::default();
    let Some(helm) = helm else {
        return Ok(Map::new());
    };
    let ignore_missing = helm.ignore_missing_value_files.unwrap_or(false);
    for file in helm.value_files.iter().flatten() {
        let content = match value_file_path(app_path, file)? {
            ValueFilePath::Local(path) => local(&path, file)?,
            ValueFilePath::Ref { name, path } => {
                let found = refs.get(&name).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "value file {file:?}: no source of this application has ref {name:?}"
                    ))
                })?;
                read_value_file(found, &path, file, max_value_file_size)?
            }
        };
        match content {
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    Error::Render(format!("value file {file:?} is not valid utf-8"))
                })?;
                let parsed = caravel_helm::parse_values_yaml(file, &text)
                    .map_err(|e| Error::Render(e.to_string()))?;
                input.files.push(parsed);
            }
            None if ignore_missing => {}
            None => {
                return Err(Error::Render(format!(
                    "value file {file:?} does not exist (set helm.ignoreMissingValueFiles to skip missing files)"
                )))
            }
        }
    }
    if let Some(object) = &helm.values_object {
        match object {
            Value::Object(map) => input.files.push(numbers_as_floats(map)),
            Value::Null => {}
            _ => {
                return Err(Error::InvalidArgument(
                    "helm.valuesObject must be an object".to_owned(),
                ))
            }
        }
    } else if let Some(text) = helm.values.as_deref().filter(|v| !v.trim().is_empty()) {
        let parsed = caravel_helm::parse_values_yaml("helm.values", text)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        input.files.push(parsed);
    }
    for p in helm.parameters.iter().flatten() {
        let name = p.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(Error::InvalidArgument(
                "a helm parameter has no name".to_owned(),
            ));
        }
        let expr = format!(
            "{name}={}",
            escape_set_value(p.value.as_deref().unwrap_or_default())
        );
        if p.force_string.unwrap_or(false) {
            input.set_string.push(expr);
        } else {
            input.set.push(expr);
        }
    }
    input
        .merged()
        .map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// Values written in the Application itself go through YAML in Argo CD
/// (a values file), so their numbers are floats as Helm reads them.
fn numbers_as_floats(map: &Map<String, Value>) -> Map<String, Value> {
    fn convert(v: &Value) -> Value {
        match v {
            Value::Number(n) => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
            Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
            Value::Object(m) => Value::Object(numbers_as_floats(m)),
            other => other.clone(),
        }
    }
    map.iter().map(|(k, v)| (k.clone(), convert(v))).collect()
}

/// Renders the chart at the app path into objects (JSON documents).
#[allow(clippy::too_many_arguments)]
pub fn render(
    tree: &CommitTree,
    app_path: &[String],
    real_dir: &[String],
    dir: Oid,
    helm: Option<&ApplicationSourceHelm>,
    context: &HelmContext<'_>,
    refs: &RefTrees<'_>,
    limits: &HelmLimits,
) -> Result<Vec<String>, Error> {
    let files = chart_files(tree, real_dir, dir, &limits.load)?;
    let chart = caravel_helm::chart::load_memory(files, &limits.load)
        .map_err(|e| Error::Render(e.to_string()))?;
    let max = limits.max_value_file_size;
    let local = |path: &[String], shown: &str| read_value_file(tree, path, shown, max);
    let user = user_values(helm, app_path, &local, refs, max)?;
    render_chart(&Arc::new(chart), user, helm, context, limits)
}

/// Renders a chart archive from a Helm repository or OCI registry; its own
/// value files are read from the archive.
pub fn render_archive(
    archive: &[u8],
    helm: Option<&ApplicationSourceHelm>,
    context: &HelmContext<'_>,
    refs: &RefTrees<'_>,
    limits: &HelmLimits,
) -> Result<Vec<String>, Error> {
    let chart = caravel_helm::chart::load_archive(archive, &limits.load)
        .map_err(|e| Error::Render(e.to_string()))?;
    let local = |path: &[String], _shown: &str| {
        let name = path.join("/");
        Ok(chart
            .files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.data.to_vec()))
    };
    let user = user_values(helm, &[], &local, refs, limits.max_value_file_size)?;
    render_chart(&Arc::new(chart), user, helm, context, limits)
}

/// Renders a loaded chart with Argo CD's options into objects.
pub fn render_chart(
    chart: &Arc<caravel_helm::chart::Chart>,
    user: Map<String, Value>,
    helm: Option<&ApplicationSourceHelm>,
    context: &HelmContext<'_>,
    limits: &HelmLimits,
) -> Result<Vec<String>, Error> {
    let non_empty = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
    let kube_version = non_empty(helm.and_then(|h| h.kube_version.as_ref()))
        .or_else(|| Some(context.kube_version.to_owned()).filter(|s| !s.is_empty()));
    let api_versions = match helm.and_then(|h| h.api_versions.as_ref()) {
        Some(v) if !v.is_empty() => v.clone(),
        _ => context.api_versions.to_vec(),
    };
    let options = RenderOptions {
        release_name: non_empty(helm.and_then(|h| h.release_name.as_ref()))
            .unwrap_or_else(|| context.app_name.to_owned()),
        namespace: non_empty(helm.and_then(|h| h.namespace.as_ref()))
            .unwrap_or_else(|| context.namespace.to_owned()),
        kube_version,
        api_versions,
        include_crds: !helm.and_then(|h| h.skip_crds).unwrap_or(false),
        skip_tests: helm.and_then(|h| h.skip_tests).unwrap_or(false),
        skip_schema_validation: helm.and_then(|h| h.skip_schema_validation).unwrap_or(false),
        limits: limits.render.clone(),
    };
    let rendered =
        caravel_helm::render(chart, user, &options).map_err(|e| Error::Render(e.to_string()))?;
    let mut out = Vec::new();
    for m in &rendered.manifests {
        let docs = caravel_yaml::from_str_multi(&m.content)
            .map_err(|e| Error::Render(format!("parsing the output of {}: {e}", m.template)))?;
        for doc in docs {
            if doc.is_null() {
                continue;
            }
            let mut objects = Vec::new();
            super::directory::flatten_into(doc, 0, &mut objects)
                .map_err(|why| Error::Render(format!("{}: {why}", m.template)))?;
            for object in objects {
                out.push(
                    serde_json::to_string(&object)
                        .map_err(|e| Error::Internal(format!("serializing {}: {e}", m.template)))?,
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn app() -> Vec<String> {
        vec!["apps".to_owned(), "web".to_owned()]
    }

    #[test]
    fn value_files_stay_inside_the_repository() {
        assert_eq!(
            value_file_path(&app(), "values-prod.yaml").unwrap(),
            ValueFilePath::Local(vec!["apps".into(), "web".into(), "values-prod.yaml".into()])
        );
        assert_eq!(
            value_file_path(&app(), "../shared/v.yaml").unwrap(),
            ValueFilePath::Local(vec!["apps".into(), "shared".into(), "v.yaml".into()])
        );
        assert_eq!(
            value_file_path(&app(), "/env/v.yaml").unwrap(),
            ValueFilePath::Local(vec!["env".into(), "v.yaml".into()])
        );
        // Checklist 1 and 2: climbing out is refused without echoing a
        // resolved path.
        let err = value_file_path(&app(), "../../../etc/passwd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the repository"), "{err}");
        assert!(!err.contains("/apps/"), "{err}");
        assert!(value_file_path(&[], "../foo2/x.yaml").is_err());
        // Checklist 5 and 6.
        assert!(value_file_path(&app(), "a\0b").is_err());
        for url in [
            "file:///etc/passwd",
            "https://example.com/v.yaml",
            "s3://b/v.yaml",
        ] {
            let err = value_file_path(&app(), url).unwrap_err().to_string();
            assert!(err.contains("URL schemes are not allowed"), "{err}");
        }
    }

    #[test]
    fn ref_value_files_name_a_source() {
        assert_eq!(
            value_file_path(&app(), "$values/env/prod.yaml").unwrap(),
            ValueFilePath::Ref {
                name: "values".into(),
                path: vec!["env".into(), "prod.yaml".into()]
            }
        );
        assert!(value_file_path(&app(), "$values/../../x").is_err());
        assert!(value_file_path(&app(), "$values").is_err());
    }

    #[test]
    fn set_values_escape_commas_as_argo_cd_does() {
        assert_eq!(escape_set_value("a,b"), "a\\,b");
        assert_eq!(escape_set_value("a\\,b"), "a\\,b");
        assert_eq!(escape_set_value("{a,b}"), "{a,b}");
        assert_eq!(escape_set_value("plain"), "plain");
    }
}
