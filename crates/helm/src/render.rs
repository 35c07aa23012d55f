//! Rendering a chart as `helm template` does: values computed and
//! validated, every template of the chart and its enabled subcharts parsed
//! into one template set (Helm's order, so a parent's definitions win),
//! each non-partial template executed with its chart's scope (`.Values`,
//! `.Chart`, `.Files`, `.Release`, `.Capabilities`, `.Subcharts`,
//! `.Template`), and the output split, sorted and filtered into
//! manifests. Errors are worded as Helm words them and name the template
//! and line.

mod functions;
pub mod manifests;
pub mod objects;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use caravel_gotemplate::{MissingKey, Options, SharedMap, Template, Value};
use serde_json::Map;

use crate::chart::Chart;
use crate::values::ChartValues;
use crate::HelmError;
use objects::{ApiVersions, Capabilities, ChartObject, Files, KubeVersion};

/// How to render: `helm template`'s flags.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    pub release_name: String,
    pub namespace: String,
    /// `--kube-version`; Helm's default (v1.36.0) when `None`.
    pub kube_version: Option<String>,
    /// `--api-versions`, added to Helm's defaults.
    pub api_versions: Vec<String>,
    /// `--include-crds`: the `crds/` files of the chart and its enabled
    /// subcharts first.
    pub include_crds: bool,
    /// `--skip-tests`: drop `test` hooks.
    pub skip_tests: bool,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
    pub limits: RenderLimits,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            kube_version: None,
            api_versions: Vec::new(),
            include_crds: false,
            skip_tests: false,
            skip_schema_validation: false,
            limits: RenderLimits::default(),
        }
    }
}

/// Bounds on one render, so a runaway chart is an error, not a hang.
#[derive(Clone, Debug)]
pub struct RenderLimits {
    /// Nesting of `template`/`include`/`tpl`.
    pub max_depth: usize,
    /// Bytes of output over the whole render.
    pub max_output: usize,
    /// Wall-clock time for the whole render.
    pub timeout: Duration,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            max_depth: 1000,
            max_output: 64 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Where a document comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// A `crds/` file, printed first with `--include-crds`.
    Crd,
    Manifest,
    /// A Helm hook (`helm.sh/hook`); `test` for test hooks.
    Hook {
        test: bool,
    },
}

/// One YAML document of the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The template (or CRD file) it came from, e.g. `chart/templates/x.yaml`.
    pub template: String,
    pub kind: ManifestKind,
    /// The document as `helm template` prints it after `# Source:`.
    pub content: String,
}

/// A render's result.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// In `helm template` order.
    pub manifests: Vec<Manifest>,
    /// The root chart's NOTES.txt, rendered (not part of the manifests).
    pub notes: Option<String>,
    /// Every rendered template by path (partials excluded), as Helm's
    /// engine returns them, for `--output-dir`.
    pub files: BTreeMap<String, String>,
}

impl Rendered {
    /// `helm template`'s stdout: the release manifest (CRDs and plain
    /// manifests) trimmed and ended with a newline, then every hook.
    pub fn output(&self) -> String {
        let source = |out: &mut String, m: &Manifest| {
            out.push_str("---\n# Source: ");
            out.push_str(&m.template);
            out.push('\n');
            out.push_str(&m.content);
            out.push('\n');
        };
        let mut release = String::new();
        let mut hooks = String::new();
        for m in &self.manifests {
            match m.kind {
                ManifestKind::Hook { .. } => source(&mut hooks, m),
                _ => source(&mut release, m),
            }
        }
        let mut out = release.trim_matches(manifests::is_go_space).to_owned();
        out.push('\n');
        out.push_str(&hooks);
        out
    }
}

/// A render failure, worded as Helm's.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Values(#[from] HelmError),
    #[error("{0}")]
    Schema(String),
    #[error("{0}")]
    Template(String),
    #[error("YAML parse error on {template}: {message}")]
    Yaml { template: String, message: String },
    #[error("{0}")]
    Limit(String),
}

/// Renders `chart` with user values `user` (value files and `--set`
/// already merged, see [`crate::ValuesInput`]).
pub fn render(
    chart: &Arc<Chart>,
    user: Map<String, serde_json::Value>,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let tree = chart.values_tree();
    let (values, tree) = crate::values::render_values(tree, user)?;
    if !options.skip_schema_validation {
        crate::chart::validate_values(&tree, &values)
            .map_err(|e| RenderError::Schema(e.to_string()))?;
    }
    let kube_version = match &options.kube_version {
        Some(v) => KubeVersion::parse(v).map_err(RenderError::Template)?,
        None => KubeVersion::parse(objects::DEFAULT_KUBE_VERSION).map_err(RenderError::Template)?,
    };
    // Helm's renderResources: the chart's `kubeVersion` range must admit
    // the cluster's version (an unparsable range admits nothing).
    let required = &chart.metadata.kube_version;
    if !required.is_empty() {
        let compatible = match (
            caravel_semver::Constraints::parse(required),
            caravel_semver::Version::parse(&kube_version.version),
        ) {
            (Ok(range), Ok(version)) => range.matches(&version),
            _ => false,
        };
        if !compatible {
            return Err(RenderError::Template(format!(
                "chart requires kubeVersion: {required} which is incompatible with Kubernetes {}",
                kube_version.version
            )));
        }
    }
    let mut api_versions: Vec<String> = objects::DEFAULT_API_VERSIONS
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
    api_versions.extend(options.api_versions.iter().cloned());
    let top = Value::map([
        (
            "Release",
            Value::map([
                ("Name", Value::from(options.release_name.as_str())),
                ("Namespace", Value::from(options.namespace.as_str())),
                ("IsUpgrade", Value::Bool(false)),
                ("IsInstall", Value::Bool(true)),
                ("Revision", Value::Int(1)),
                ("Service", Value::from("Helm")),
            ]),
        ),
        (
            "Capabilities",
            Value::object(Capabilities {
                kube_version: Arc::new(kube_version),
                api_versions: Arc::new(ApiVersions(api_versions)),
            }),
        ),
        (
            "Values",
            // Go maps: `set .Values …` in one template is seen by the next.
            Value::from_json(&serde_json::Value::Object(values)).into_shared(),
        ),
    ]);

    let mut templates = Vec::new();
    collect(&tree, None, &top, &mut templates);
    let files = execute(&templates, options)?;

    let mut manifests = Vec::new();
    if options.include_crds {
        crds(&tree, &mut manifests);
    }
    manifests.extend(manifests::sort(&files, options.skip_tests)?);
    let notes_path = format!("{}/templates/NOTES.txt", tree.name);
    let notes = files.get(&notes_path).cloned();
    Ok(Rendered {
        manifests,
        notes,
        files,
    })
}

/// A template to parse and maybe execute, with its chart's scope.
struct Renderable {
    path: String,
    text: String,
    /// The chart's scope, shared by its templates (Helm's `next` map; each
    /// execution sets its `Template`).
    scope: SharedMap,
    base_path: String,
}

/// Helm's `recAllTpls`: every chart's scope and templates, children first.
/// Returns the chart's scope (what `.Subcharts.<name>` holds).
fn collect(
    node: &ChartValues,
    parent: Option<(&str, &SharedMap)>,
    top: &Value,
    out: &mut Vec<Renderable>,
) -> Value {
    let Some(chart) = node.source.as_ref() else {
        return Value::Nil;
    };
    let full_path = match parent {
        None => node.name.clone(),
        Some((parent_path, _)) => format!("{parent_path}/charts/{}", node.name),
    };
    let top_map = top.as_map().unwrap_or_default();
    let values = match parent {
        None => top_map.get("Values").cloned().unwrap_or(Value::Nil),
        Some((_, parent_scope)) => match parent_scope
            .get("Values")
            .and_then(|v| v.as_map().map(|m| (v.clone(), m)))
        {
            Some((_, parent_values)) => match parent_values.get(&node.name) {
                Some(v @ (Value::Map(_) | Value::SharedMap(_))) => v.clone(),
                _ => Value::shared_map::<String>([]),
            },
            None => Value::shared_map::<String>([]),
        },
    };
    let scope = SharedMap::new(BTreeMap::new());
    scope.insert(
        "Chart",
        Value::object(ChartObject::new(
            chart,
            &node.name,
            node.requirements.as_deref(),
            parent.is_none(),
        )),
    );
    scope.insert("Files", Value::object(Files::new(&chart.files)));
    for key in ["Release", "Capabilities"] {
        scope.insert(key, top_map.get(key).cloned().unwrap_or(Value::Nil));
    }
    scope.insert("Values", values);
    let subcharts = SharedMap::new(BTreeMap::new());
    scope.insert("Subcharts", Value::SharedMap(subcharts.clone()));
    for child in &node.subcharts {
        let child_scope = collect(child, Some((&full_path, &scope)), top, out);
        subcharts.insert(child.name.clone(), child_scope);
    }
    for t in &chart.templates {
        let base = t.name.rsplit('/').next().unwrap_or(&t.name);
        if chart.is_library() && !base.starts_with('_') {
            continue;
        }
        out.push(Renderable {
            path: format!("{full_path}/{}", t.name),
            text: String::from_utf8_lossy(&t.data).into_owned(),
            scope: scope.clone(),
            base_path: format!("{full_path}/templates"),
        });
    }
    Value::SharedMap(scope)
}

/// Helm's `sortTemplates`: deeper paths first, then reverse lexical.
fn parse_order(paths: &mut [&Renderable]) {
    paths.sort_by(|a, b| {
        let (ca, cb) = (a.path.matches('/').count(), b.path.matches('/').count());
        cb.cmp(&ca).then_with(|| b.path.cmp(&a.path))
    });
}

/// Parses every template into one set and executes the non-partials.
fn execute(
    templates: &[Renderable],
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, RenderError> {
    let deadline = std::time::Instant::now() + options.limits.timeout;
    let mut set = Template::with_shared_funcs(functions::shared()).with_options(Options {
        max_depth: options.limits.max_depth,
        max_output: options.limits.max_output,
        missing_key: MissingKey::Zero,
        deadline: Some(deadline),
        ..Options::default()
    });
    let mut order: Vec<&Renderable> = templates.iter().collect();
    parse_order(&mut order);
    for r in &order {
        set.parse(&r.path, &r.text)
            .map_err(|e| RenderError::Template(cleanup_parse_error(&r.path, &e.to_string())))?;
    }
    let mut rendered = BTreeMap::new();
    let mut total = 0usize;
    for r in &order {
        let base = r.path.rsplit('/').next().unwrap_or(&r.path);
        if base.starts_with('_') {
            continue;
        }
        r.scope.insert(
            "Template",
            Value::shared_map([
                ("Name", Value::from(r.path.as_str())),
                ("BasePath", Value::from(r.base_path.as_str())),
            ]),
        );
        let out = set
            .execute(&r.path, &Value::SharedMap(r.scope.clone()))
            .map_err(|e| {
                if e.is_limit() {
                    RenderError::Limit(e.to_string())
                } else {
                    RenderError::Template(cleanup_exec_error(&e))
                }
            })?;
        total += out.len();
        if total > options.limits.max_output {
            return Err(RenderError::Limit(format!(
                "rendered output exceeds {} bytes",
                options.limits.max_output
            )));
        }
        rendered.insert(r.path.clone(), out.replace("<no value>", ""));
    }
    Ok(rendered)
}

/// The `crds/` files of the chart and its enabled subcharts, as
/// `--include-crds` prints them.
fn crds(node: &ChartValues, out: &mut Vec<Manifest>) {
    fn walk(node: &ChartValues, path: &str, out: &mut Vec<Manifest>) {
        if let Some(chart) = &node.source {
            for f in chart.crd_files() {
                out.push(Manifest {
                    template: format!("{path}/{}", f.name),
                    kind: ManifestKind::Crd,
                    content: String::from_utf8_lossy(&f.data).into_owned(),
                });
            }
        }
        for child in &node.subcharts {
            walk(child, &format!("{path}/charts/{}", child.name), out);
        }
    }
    walk(node, &node.name, out);
}

const WARN_START: &str = "HELM_ERR_START";
const WARN_END: &str = "HELM_ERR_END";

/// `required`/`fail` messages are wrapped so the error reformatting finds
/// them.
pub(crate) fn warn_wrap(message: &str) -> String {
    format!("{WARN_START}{message}{WARN_END}")
}

/// Helm's `cleanupParseError`.
fn cleanup_parse_error(path: &str, message: &str) -> String {
    let tokens: Vec<&str> = message.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({path}): {message}");
    }
    format!(
        "parse error at ({}): {}",
        tokens[1],
        tokens[tokens.len() - 1]
    )
}

/// Helm's `cleanupExecError`: a `required`/`fail` message becomes
/// `execution error at (FILE:LINE:COL): MESSAGE`; anything else stays Go's.
fn cleanup_exec_error(err: &caravel_gotemplate::Error) -> String {
    let message = err.to_string();
    if !matches!(err, caravel_gotemplate::Error::Exec(_)) {
        return message;
    }
    let tokens: Vec<&str> = message.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({}): {message}", err_template(err));
    }
    if let Some(start) = tokens[2].find(WARN_START) {
        let rest = &tokens[2][start + WARN_START.len()..];
        if let Some(end) = rest.rfind(WARN_END) {
            return format!("execution error at ({}): {}", tokens[1], &rest[..end]);
        }
    }
    message
}

fn err_template(err: &caravel_gotemplate::Error) -> String {
    match err {
        caravel_gotemplate::Error::Exec(e) => e.template.clone(),
        caravel_gotemplate::Error::Parse { name, .. } => name.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_cleaned_up_as_helm_does() {
        assert_eq!(
            cleanup_parse_error(
                "c/templates/x.yaml",
                "template: c/templates/x.yaml:7: unclosed action started at c/templates/x.yaml:6"
            ),
            "parse error at (c/templates/x.yaml:7): unclosed action started at c/templates/x.yaml:6"
        );
    }

    fn chart(templates: &[(&str, &str)]) -> Arc<Chart> {
        let mut files = vec![crate::chart::ChartFile {
            name: "Chart.yaml".into(),
            data: Arc::from(&b"apiVersion: v2\nname: c\nversion: 0.1.0\n"[..]),
        }];
        for (name, text) in templates {
            files.push(crate::chart::ChartFile {
                name: (*name).into(),
                data: Arc::from(text.as_bytes()),
            });
        }
        Arc::new(crate::chart::load_memory(files, &crate::chart::LoadLimits::default()).unwrap())
    }

    /// Security checklist item 11: a template that loops for ever, or
    /// recurses for ever, stops at a limit with a clear error.
    #[test]
    fn runaway_templates_stop_at_the_time_and_depth_limits() {
        let looping = chart(&[(
            "templates/loop.yaml",
            "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}",
        )]);
        let options = RenderOptions {
            limits: RenderLimits {
                timeout: Duration::from_millis(300),
                ..RenderLimits::default()
            },
            ..RenderOptions::default()
        };
        let started = std::time::Instant::now();
        let err = render(&looping, Map::new(), &options).unwrap_err();
        assert!(matches!(err, RenderError::Limit(_)), "{err}");
        assert!(err.to_string().contains("time limit"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));

        let recursing = chart(&[
            (
                "templates/_loop.tpl",
                "{{ define \"loop\" }}{{ include \"loop\" . }}{{ end }}",
            ),
            ("templates/cm.yaml", "{{ include \"loop\" . }}"),
        ]);
        let err = render(&recursing, Map::new(), &RenderOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("exceeded maximum template depth"),
            "{err}"
        );

        let huge = chart(&[(
            "templates/big.yaml",
            "{{ range until 200 }}{{ repeat 1000000 \"x\" }}{{ end }}",
        )]);
        let options = RenderOptions {
            limits: RenderLimits {
                max_output: 1 << 20,
                ..RenderLimits::default()
            },
            ..RenderOptions::default()
        };
        let err = render(&huge, Map::new(), &options).unwrap_err();
        assert!(matches!(err, RenderError::Limit(_)), "{err}");
    }

    #[test]
    fn templates_parse_deepest_first() {
        let r = |p: &str| Renderable {
            path: p.into(),
            text: String::new(),
            scope: SharedMap::new(BTreeMap::new()),
            base_path: String::new(),
        };
        let all = [
            r("a/templates/x"),
            r("a/charts/b/templates/y"),
            r("a/templates/z"),
        ];
        let mut order: Vec<&Renderable> = all.iter().collect();
        parse_order(&mut order);
        let paths: Vec<&str> = order.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["a/charts/b/templates/y", "a/templates/z", "a/templates/x"]
        );
    }
}
