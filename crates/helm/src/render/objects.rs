//! The host objects templates see besides `.Values`: `.Chart`, `.Files`,
//! `.Capabilities` (with `.KubeVersion` and `.APIVersions`), shaped and
//! printed as Helm's Go types are.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravel_gotemplate::{Object, Value};
use globset::GlobBuilder;

use crate::chart::{Chart, ChartFile};

/// What Helm reports with no cluster: Kubernetes v1.36.0.
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// Helm's default API versions (`chartutil.DefaultVersionSet` of Helm 4.2).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

// === .Capabilities ===

/// `chartutil.KubeVersion`: `Version` ("v1.36.0"), `Major`, `Minor`;
/// prints as its version; `GitVersion` is the deprecated alias.
#[derive(Debug, Clone)]
pub struct KubeVersion {
    pub version: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// `chartutil.ParseKubeVersion`: any semantic version, `v` optional,
    /// missing minor/patch as 0 (`1.29` is `v1.29.0`).
    pub fn parse(text: &str) -> Result<KubeVersion, String> {
        let v = caravel_semver::Version::parse(text)
            .map_err(|e| format!("invalid kube version {text:?}: {e}"))?;
        Ok(KubeVersion {
            version: format!("v{v}"),
            major: v.major().to_string(),
            minor: v.minor().to_string(),
        })
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "*chartutil.KubeVersion"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Version" => Some(Value::from(self.version.as_str())),
            "Major" => Some(Value::from(self.major.as_str())),
            "Minor" => Some(Value::from(self.minor.as_str())),
            _ => None,
        }
    }

    fn has_method(&self, name: &str) -> bool {
        name == "GitVersion"
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        if !args.is_empty() {
            return Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            ));
        }
        Ok(Value::from(self.version.as_str()))
    }

    /// Helm 4 prints the struct: `{Version GitVersion Major Minor}`.
    fn display(&self) -> String {
        format!(
            "{{{} {} {} {}}}",
            self.version, self.version, self.major, self.minor
        )
    }

    fn to_value(&self) -> Option<Value> {
        Some(Value::map([
            ("Version", Value::from(self.version.as_str())),
            ("Major", Value::from(self.major.as_str())),
            ("Minor", Value::from(self.minor.as_str())),
        ]))
    }
}

/// `chartutil.VersionSet`: a list of `group/version` (or
/// `group/version/Kind`) with `Has`.
#[derive(Debug, Clone)]
pub struct ApiVersions(pub Vec<String>);

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }

    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        match (name, args) {
            ("Has", [Value::String(v)]) => Ok(Value::Bool(self.0.iter().any(|a| a == &**v))),
            ("Has", [other]) => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
            ("Has", _) => Err(format!(
                "wrong number of args for Has: want 1 got {}",
                args.len()
            )),
            _ => Err(format!("{name} is not a method")),
        }
    }

    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }

    fn to_value(&self) -> Option<Value> {
        Some(Value::list(self.0.iter().map(|v| Value::from(v.as_str()))))
    }
}

/// `chartutil.Capabilities`.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub kube_version: Arc<KubeVersion>,
    pub api_versions: Arc<ApiVersions>,
}

impl Capabilities {
    fn helm_version() -> Value {
        Value::map([
            ("Version", Value::from("v4.2")),
            ("GitCommit", Value::from("")),
            ("GitTreeState", Value::from("")),
            ("GoVersion", Value::from("")),
        ])
    }
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "*chartutil.Capabilities"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(Value::Object(self.kube_version.clone())),
            "APIVersions" => Some(Value::Object(self.api_versions.clone())),
            "HelmVersion" => Some(Capabilities::helm_version()),
            _ => None,
        }
    }

    fn to_value(&self) -> Option<Value> {
        Some(Value::map([
            ("KubeVersion", self.kube_version.to_value()?),
            ("APIVersions", self.api_versions.to_value()?),
            (
                "HelmVersion",
                Value::map([("version", Value::from("v4.2"))]),
            ),
        ]))
    }
}

// === .Files ===

/// `engine.files`: the chart's non-template files by path.
#[derive(Debug, Clone, Default)]
pub struct Files {
    files: BTreeMap<String, Arc<[u8]>>,
}

impl Files {
    pub fn new(files: &[ChartFile]) -> Files {
        Files {
            files: files
                .iter()
                .map(|f| (f.name.clone(), f.data.clone()))
                .collect(),
        }
    }

    fn text(data: &[u8]) -> String {
        String::from_utf8_lossy(data).into_owned()
    }

    fn get(&self, name: &str) -> String {
        self.files
            .get(name)
            .map(|d| Files::text(d))
            .unwrap_or_default()
    }

    /// gobwas/glob with `/` as separator: `*` stays within a path segment,
    /// `**` crosses them.
    fn glob(&self, pattern: &str) -> Result<Files, String> {
        let matcher = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| e.to_string())?
            .compile_matcher();
        Ok(Files {
            files: self
                .files
                .iter()
                .filter(|(name, _)| matcher.is_match(name.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    fn lines(&self, name: &str) -> Vec<Value> {
        let Some(data) = self.files.get(name) else {
            return Vec::new();
        };
        let text = Files::text(data);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        text.split('\n').map(Value::from).collect()
    }

    /// `AsConfig`/`AsSecrets`: base name → content, as YAML.
    fn as_yaml(&self, encode: impl Fn(&[u8]) -> String) -> String {
        if self.files.is_empty() {
            return String::new();
        }
        let map: BTreeMap<String, Value> = self
            .files
            .iter()
            .map(|(name, data)| {
                let base = name.rsplit('/').next().unwrap_or(name).to_owned();
                (base, Value::from(encode(data)))
            })
            .collect();
        let yaml = crate::codec::to_yaml(&Value::from(map)).unwrap_or_default();
        match yaml.strip_suffix('\n') {
            Some(trimmed) => trimmed.to_owned(),
            None => yaml,
        }
    }
}

fn one_string<'a>(name: &str, args: &'a [Value]) -> Result<&'a str, String> {
    match args {
        [Value::String(s)] => Ok(s),
        [other] => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
        _ => Err(format!(
            "wrong number of args for {name}: want 1 got {}",
            args.len()
        )),
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }

    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Get" | "GetBytes" | "Glob" | "Lines" | "AsConfig" | "AsSecrets"
        )
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        use base64::Engine as _;
        match name {
            "Get" => Ok(Value::from(self.get(one_string(name, args)?))),
            "GetBytes" => Ok(Value::from(self.get(one_string(name, args)?))),
            "Glob" => Ok(Value::object(self.glob(one_string(name, args)?)?)),
            "Lines" => Ok(Value::list(self.lines(one_string(name, args)?))),
            "AsConfig" => Ok(Value::from(self.as_yaml(Files::text))),
            "AsSecrets" => {
                Ok(Value::from(self.as_yaml(|d| {
                    base64::engine::general_purpose::STANDARD.encode(d)
                })))
            }
            _ => Err(format!("{name} is not a method")),
        }
    }

    fn display(&self) -> String {
        let entries: Vec<String> = self
            .files
            .iter()
            .map(|(k, v)| {
                let bytes: Vec<String> = v.iter().map(u8::to_string).collect();
                format!("{k}:[{}]", bytes.join(" "))
            })
            .collect();
        format!("map[{}]", entries.join(" "))
    }

    fn to_value(&self) -> Option<Value> {
        Some(Value::from(
            self.files
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(Files::text(v))))
                .collect::<BTreeMap<_, _>>(),
        ))
    }
}

// === .Chart ===

/// Chart.yaml keys and the Go field names templates use for them.
const METADATA_FIELDS: &[(&str, &str)] = &[
    ("Name", "name"),
    ("Home", "home"),
    ("Sources", "sources"),
    ("Version", "version"),
    ("Description", "description"),
    ("Keywords", "keywords"),
    ("Maintainers", "maintainers"),
    ("Icon", "icon"),
    ("APIVersion", "apiVersion"),
    ("Condition", "condition"),
    ("Tags", "tags"),
    ("AppVersion", "appVersion"),
    ("Deprecated", "deprecated"),
    ("Annotations", "annotations"),
    ("KubeVersion", "kubeVersion"),
    ("Dependencies", "dependencies"),
    ("Type", "type"),
];

/// `chart.Dependency` fields: Go name, JSON name, zero value.
const DEPENDENCY_FIELDS: &[(&str, &str)] = &[
    ("Name", "name"),
    ("Version", "version"),
    ("Repository", "repository"),
    ("Condition", "condition"),
    ("Tags", "tags"),
    ("Enabled", "enabled"),
    ("ImportValues", "import-values"),
    ("Alias", "alias"),
];

/// `chart.Maintainer` fields.
const MAINTAINER_FIELDS: &[(&str, &str)] = &[("Name", "name"), ("Email", "email"), ("URL", "url")];

/// A Go struct read from its JSON form: every field present, absent ones
/// as Go's zero values.
fn go_struct(json: &serde_json::Value, fields: &[(&str, &str)]) -> Value {
    Value::map(fields.iter().map(|(go, key)| {
        let value = match (json.get(*key), *go) {
            (Some(v), _) => Value::from_json_with(v, caravel_gotemplate::JsonNumbers::Float),
            (None, "Tags" | "ImportValues") => Value::list([]),
            (None, "Enabled") => Value::Bool(false),
            (None, _) => Value::from(""),
        };
        (*go, value)
    }))
}

fn go_dependency(json: &serde_json::Value) -> Value {
    go_struct(json, DEPENDENCY_FIELDS)
}

/// `.Chart`: `chart.Metadata` plus `IsRoot`. Absent fields read as Go's
/// zero values.
#[derive(Debug, Clone)]
pub struct ChartObject {
    fields: BTreeMap<&'static str, Value>,
    json: Value,
}

impl ChartObject {
    /// `.Chart` of `chart` as rendered: its (alias) name, and the
    /// dependencies left after conditions, tags and aliases were applied.
    pub fn new(
        chart: &Chart,
        name: &str,
        requirements: Option<&[crate::values::Dependency]>,
        is_root: bool,
    ) -> ChartObject {
        let mut meta = chart.metadata_json.clone();
        if let Some(reqs) = requirements {
            let declared: Vec<serde_json::Value> = meta
                .get("dependencies")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            let processed: Vec<serde_json::Value> = reqs
                .iter()
                .map(|r| {
                    // The declaration this requirement came from (its
                    // name is the alias once aliases are applied).
                    let mut d = declared
                        .iter()
                        .find(|d| {
                            d.get("alias").and_then(serde_json::Value::as_str) == Some(&r.name)
                                || (d.get("alias").is_none()
                                    && d.get("name").and_then(serde_json::Value::as_str)
                                        == Some(&r.name))
                        })
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({}));
                    if let Some(obj) = d.as_object_mut() {
                        obj.insert("name".into(), serde_json::Value::from(r.name.as_str()));
                        obj.insert("enabled".into(), serde_json::Value::Bool(true));
                    }
                    d
                })
                .collect();
            if !processed.is_empty() || meta.contains_key("dependencies") {
                meta.insert("dependencies".into(), serde_json::Value::Array(processed));
            }
        }
        let meta = &meta;
        let mut fields = BTreeMap::new();
        for (go, key) in METADATA_FIELDS {
            let value = match (*go, meta.get(*key)) {
                ("Name", _) => Value::from(name),
                ("Dependencies", Some(serde_json::Value::Array(deps))) => {
                    Value::list(deps.iter().map(go_dependency))
                }
                ("Maintainers", Some(serde_json::Value::Array(people))) => {
                    Value::list(people.iter().map(|m| go_struct(m, MAINTAINER_FIELDS)))
                }
                (_, Some(v)) => Value::from_json_with(v, caravel_gotemplate::JsonNumbers::Float),
                ("Deprecated", None) => Value::Bool(false),
                ("Sources" | "Keywords" | "Maintainers" | "Dependencies", None) => Value::list([]),
                ("Annotations", None) => Value::Map(Arc::default()),
                (_, None) => Value::from(""),
            };
            // Scalars Go reads into string fields print as strings.
            let value = match (value, *go) {
                (Value::Float(f), "Version" | "AppVersion" | "APIVersion" | "KubeVersion") => {
                    Value::from(caravel_gotemplate::fmt::sprint_value(&Value::Float(f)))
                }
                (v, _) => v,
            };
            fields.insert(*go, value);
        }
        fields.insert("IsRoot", Value::Bool(is_root));
        let mut json = meta.clone();
        json.insert("name".into(), serde_json::Value::from(name));
        json.insert("IsRoot".into(), serde_json::Value::Bool(is_root));
        ChartObject {
            fields,
            json: Value::from_json_with(
                &serde_json::Value::Object(json),
                caravel_gotemplate::JsonNumbers::Float,
            ),
        }
    }
}

impl Object for ChartObject {
    fn type_name(&self) -> &str {
        "struct { *chart.Metadata; IsRoot bool }"
    }

    fn field(&self, name: &str) -> Option<Value> {
        self.fields.get(name).cloned()
    }

    fn display(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .values()
            .map(caravel_gotemplate::fmt::sprint_value)
            .collect();
        format!("{{{}}}", parts.join(" "))
    }

    fn to_value(&self) -> Option<Value> {
        Some(self.json.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn files() -> Files {
        let f = |name: &str, data: &str| ChartFile {
            name: name.into(),
            data: Arc::from(data.as_bytes()),
        };
        Files::new(&[
            f("config/a.conf", "a=1\n"),
            f("config/sub/b.conf", "b=2"),
            f("README.md", "line1\nline2\n"),
        ])
    }

    #[test]
    fn files_get_glob_and_lines() {
        let files = files();
        assert_eq!(files.get("config/a.conf"), "a=1\n");
        assert_eq!(files.get("missing"), "");
        let names: Vec<String> = files.glob("config/*").unwrap().files.into_keys().collect();
        assert_eq!(names, vec!["config/a.conf"]);
        let deep: Vec<String> = files.glob("config/**").unwrap().files.into_keys().collect();
        assert_eq!(deep.len(), 2);
        assert_eq!(files.lines("README.md").len(), 2);
        assert!(files.lines("missing").is_empty());
    }

    #[test]
    fn kube_versions_parse_as_helm_parses_them() {
        let v = KubeVersion::parse("1.29").unwrap();
        assert_eq!(
            (v.version.as_str(), v.major.as_str(), v.minor.as_str()),
            ("v1.29.0", "1", "29")
        );
        assert_eq!(KubeVersion::parse("v1.18.4").unwrap().version, "v1.18.4");
        assert!(KubeVersion::parse("banana").is_err());
    }

    #[test]
    fn api_versions_has() {
        let set = ApiVersions(vec!["apps/v1".into()]);
        assert!(matches!(
            set.call("Has", &[Value::from("apps/v1")]),
            Ok(Value::Bool(true))
        ));
        assert!(matches!(
            set.call("Has", &[Value::from("x/v1")]),
            Ok(Value::Bool(false))
        ));
        assert!(set.call("Has", &[]).is_err());
    }
}
