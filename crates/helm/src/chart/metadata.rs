//! Chart.yaml (and requirements.yaml, which Helm decodes into the same
//! struct) decoded as Helm decodes it: YAML to JSON into `chart.Metadata`,
//! so scalars in string fields become strings the way sigs.k8s.io/yaml
//! writes them, unknown keys are dropped and keys match case-insensitively;
//! then Helm's `Metadata.Validate` (sanitizing strings, checking name,
//! version, type and dependency aliases).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ChartError, Maintainer, Metadata};
use crate::values::{Dependency, ImportValue};

/// `chart.Metadata` while decoding: every field Helm knows.
#[derive(Clone, Debug, Default)]
pub(super) struct ChartYaml {
    name: String,
    home: String,
    sources: Vec<String>,
    version: String,
    description: String,
    keywords: Vec<String>,
    maintainers: Vec<Option<Maintainer>>,
    icon: String,
    pub(super) api_version: String,
    condition: String,
    tags: String,
    app_version: String,
    deprecated: bool,
    annotations: BTreeMap<String, String>,
    kube_version: String,
    dependencies: Vec<Option<RawDependency>>,
    chart_type: String,
}

#[derive(Clone, Debug, Default)]
struct RawDependency {
    name: String,
    version: String,
    repository: String,
    condition: String,
    tags: Vec<String>,
    enabled: bool,
    import_values: Vec<Value>,
    alias: String,
}

/// Go's JSON decoding error, as Helm prints it after "error unmarshaling
/// JSON: while decoding JSON: ".
fn type_error(value: &Value, field: &str, go_type: &str) -> String {
    format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field {field} of type {go_type}",
        json_kind(value)
    )
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The value of `key` in `obj`, matched as Go's JSON decoding does: the
/// exact key, else one equal ignoring case.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A scalar as sigs.k8s.io/yaml writes it into a string field; `None` for
/// null (the field keeps its value).
fn string_of(value: &Value, field_name: &str) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            go_format_float(n.as_f64().unwrap_or_default())
        })),
        other => Err(type_error(other, field_name, "string")),
    }
}

fn set_string(
    obj: &Map<String, Value>,
    key: &str,
    go_field: &str,
    out: &mut String,
) -> Result<(), String> {
    if let Some(v) = field(obj, key) {
        if let Some(s) = string_of(v, go_field)? {
            *out = s;
        }
    }
    Ok(())
}

fn string_list(value: &Value, go_field: &str) -> Result<Option<Vec<String>>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|v| string_of(v, go_field).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(type_error(other, go_field, "[]string")),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that
/// round-trip, in exponent form (`1e+06`) when the exponent is below -4
/// or at least 6.
pub(super) fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

impl ChartYaml {
    /// Decodes a YAML document over `self`, as Go's `yaml.Unmarshal` into
    /// an existing struct does (present keys overwrite, lists are
    /// replaced, maps are merged).
    pub(super) fn decode(&mut self, text: &str) -> Result<(), String> {
        let doc: Value = caravel_yaml::from_str(text)
            .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
        let obj = match doc {
            Value::Null => return Ok(()),
            Value::Object(obj) => obj,
            other => {
                return Err(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type v2.Metadata",
                    json_kind(&other)
                ))
            }
        };
        set_string(&obj, "name", "Metadata.name", &mut self.name)?;
        set_string(&obj, "home", "Metadata.home", &mut self.home)?;
        set_string(&obj, "version", "Metadata.version", &mut self.version)?;
        set_string(
            &obj,
            "description",
            "Metadata.description",
            &mut self.description,
        )?;
        set_string(&obj, "icon", "Metadata.icon", &mut self.icon)?;
        set_string(
            &obj,
            "apiVersion",
            "Metadata.apiVersion",
            &mut self.api_version,
        )?;
        set_string(&obj, "condition", "Metadata.condition", &mut self.condition)?;
        set_string(&obj, "tags", "Metadata.tags", &mut self.tags)?;
        set_string(
            &obj,
            "appVersion",
            "Metadata.appVersion",
            &mut self.app_version,
        )?;
        set_string(
            &obj,
            "kubeVersion",
            "Metadata.kubeVersion",
            &mut self.kube_version,
        )?;
        set_string(&obj, "type", "Metadata.type", &mut self.chart_type)?;
        if let Some(v) = field(&obj, "sources") {
            if let Some(list) = string_list(v, "Metadata.sources")? {
                self.sources = list;
            }
        }
        if let Some(v) = field(&obj, "keywords") {
            if let Some(list) = string_list(v, "Metadata.keywords")? {
                self.keywords = list;
            }
        }
        if let Some(v) = field(&obj, "deprecated") {
            match v {
                Value::Null => {}
                Value::Bool(b) => self.deprecated = *b,
                other => return Err(type_error(other, "Metadata.deprecated", "bool")),
            }
        }
        if let Some(v) = field(&obj, "annotations") {
            match v {
                Value::Null => {}
                Value::Object(map) => {
                    for (k, v) in map {
                        let s = string_of(v, "Metadata.annotations")?.unwrap_or_default();
                        self.annotations.insert(k.clone(), s);
                    }
                }
                other => {
                    return Err(type_error(
                        other,
                        "Metadata.annotations",
                        "map[string]string",
                    ))
                }
            }
        }
        if let Some(v) = field(&obj, "maintainers") {
            match v {
                Value::Null => {}
                Value::Array(items) => {
                    self.maintainers = items
                        .iter()
                        .map(decode_maintainer)
                        .collect::<Result<_, _>>()?;
                }
                other => {
                    return Err(type_error(
                        other,
                        "Metadata.maintainers",
                        "[]*v2.Maintainer",
                    ))
                }
            }
        }
        if let Some(v) = field(&obj, "dependencies") {
            match v {
                Value::Null => {}
                Value::Array(items) => {
                    self.dependencies = items
                        .iter()
                        .map(decode_dependency)
                        .collect::<Result<_, _>>()?;
                }
                other => {
                    return Err(type_error(
                        other,
                        "Metadata.dependencies",
                        "[]*v2.Dependency",
                    ))
                }
            }
        }
        Ok(())
    }

    /// Helm's `Metadata.Validate`: sanitizes the strings, then checks.
    pub(super) fn validate(mut self) -> Result<(Metadata, Map<String, Value>), ChartError> {
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *s = sanitize(s);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        let invalid = |m: String| Err(ChartError::Validation(m));
        if self.api_version.is_empty() {
            return invalid("chart.metadata.apiVersion is required".into());
        }
        if self.name.is_empty() {
            return invalid("chart.metadata.name is required".into());
        }
        if self.name != go_base(&self.name) {
            return invalid(format!("chart.metadata.name {:?} is invalid", self.name));
        }
        if self.version.is_empty() {
            return invalid("chart.metadata.version is required".into());
        }
        if !is_valid_semver(&self.version) {
            return invalid(format!(
                "chart.metadata.version {:?} is invalid",
                self.version
            ));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return invalid("chart.metadata.type must be application or library".into());
        }
        let mut maintainers = Vec::new();
        for m in &self.maintainers {
            let Some(m) = m else {
                return invalid("maintainers must not contain empty or null nodes".into());
            };
            maintainers.push(Maintainer {
                name: sanitize(&m.name),
                email: sanitize(&m.email),
                url: sanitize(&m.url),
            });
        }
        let mut deps = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for d in &self.dependencies {
            let Some(d) = d else {
                return invalid("dependencies must not contain empty or null nodes".into());
            };
            let mut d = d.clone();
            d.name = sanitize(&d.name);
            d.version = sanitize(&d.version);
            d.repository = sanitize(&d.repository);
            d.condition = sanitize(&d.condition);
            for t in &mut d.tags {
                *t = sanitize(t);
            }
            if !d.alias.is_empty() && !is_valid_alias(&d.alias) {
                return invalid(format!(
                    "dependency {:?} has disallowed characters in the alias",
                    d.name
                ));
            }
            let key = if d.alias.is_empty() {
                &d.name
            } else {
                &d.alias
            };
            if !seen.insert(key.clone()) {
                return invalid(format!(
                    "more than one dependency with name or alias {key:?}"
                ));
            }
            deps.push(d);
        }
        let json = self.to_json(&maintainers, &deps);
        let metadata = Metadata {
            api_version: self.api_version,
            name: self.name,
            version: self.version,
            app_version: self.app_version,
            description: self.description,
            kube_version: self.kube_version,
            chart_type: self.chart_type,
            dependencies: deps.iter().map(RawDependency::to_dependency).collect(),
            home: self.home,
            icon: self.icon,
            sources: self.sources,
            keywords: self.keywords,
            maintainers,
            annotations: self.annotations,
            deprecated: self.deprecated,
            condition: self.condition,
            tags: self.tags,
        };
        Ok((metadata, json))
    }

    /// `chart.Metadata` marshalled to JSON (`omitempty` everywhere but a
    /// dependency's name and repository).
    fn to_json(&self, maintainers: &[Maintainer], deps: &[RawDependency]) -> Map<String, Value> {
        let mut out = Map::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                out.insert(k.into(), Value::String(v.into()));
            }
        };
        put("name", &self.name);
        put("home", &self.home);
        put("version", &self.version);
        put("description", &self.description);
        put("icon", &self.icon);
        put("apiVersion", &self.api_version);
        put("condition", &self.condition);
        put("tags", &self.tags);
        put("appVersion", &self.app_version);
        put("kubeVersion", &self.kube_version);
        put("type", &self.chart_type);
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        if !self.sources.is_empty() {
            out.insert("sources".into(), strings(&self.sources));
        }
        if !self.keywords.is_empty() {
            out.insert("keywords".into(), strings(&self.keywords));
        }
        if !maintainers.is_empty() {
            let list = maintainers
                .iter()
                .map(|m| {
                    let mut o = Map::new();
                    for (k, v) in [("name", &m.name), ("email", &m.email), ("url", &m.url)] {
                        if !v.is_empty() {
                            o.insert(k.into(), Value::String(v.clone()));
                        }
                    }
                    Value::Object(o)
                })
                .collect();
            out.insert("maintainers".into(), Value::Array(list));
        }
        if self.deprecated {
            out.insert("deprecated".into(), Value::Bool(true));
        }
        if !self.annotations.is_empty() {
            let map = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            out.insert("annotations".into(), Value::Object(map));
        }
        if !deps.is_empty() {
            let list = deps.iter().map(RawDependency::to_json).collect();
            out.insert("dependencies".into(), Value::Array(list));
        }
        out
    }
}

fn decode_maintainer(value: &Value) -> Result<Option<Maintainer>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Object(obj) => {
            let mut m = Maintainer::default();
            set_string(obj, "name", "Metadata.maintainers.name", &mut m.name)?;
            set_string(obj, "email", "Metadata.maintainers.email", &mut m.email)?;
            set_string(obj, "url", "Metadata.maintainers.url", &mut m.url)?;
            Ok(Some(m))
        }
        other => Err(type_error(other, "Metadata.maintainers", "v2.Maintainer")),
    }
}

fn decode_dependency(value: &Value) -> Result<Option<RawDependency>, String> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        other => return Err(type_error(other, "Metadata.dependencies", "v2.Dependency")),
    };
    let mut d = RawDependency::default();
    set_string(obj, "name", "Metadata.dependencies.name", &mut d.name)?;
    set_string(
        obj,
        "version",
        "Metadata.dependencies.version",
        &mut d.version,
    )?;
    set_string(
        obj,
        "repository",
        "Metadata.dependencies.repository",
        &mut d.repository,
    )?;
    set_string(
        obj,
        "condition",
        "Metadata.dependencies.condition",
        &mut d.condition,
    )?;
    set_string(obj, "alias", "Metadata.dependencies.alias", &mut d.alias)?;
    if let Some(v) = field(obj, "tags") {
        if let Some(list) = string_list(v, "Metadata.dependencies.tags")? {
            d.tags = list;
        }
    }
    if let Some(v) = field(obj, "enabled") {
        match v {
            Value::Null => {}
            Value::Bool(b) => d.enabled = *b,
            other => return Err(type_error(other, "Metadata.dependencies.enabled", "bool")),
        }
    }
    if let Some(v) = field(obj, "import-values") {
        match v {
            Value::Null => {}
            Value::Array(items) => d.import_values = items.clone(),
            other => {
                return Err(type_error(
                    other,
                    "Metadata.dependencies.import-values",
                    "[]interface {}",
                ))
            }
        }
    }
    Ok(Some(d))
}

impl RawDependency {
    fn to_dependency(&self) -> Dependency {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Dependency {
            name: self.name.clone(),
            version: self.version.clone(),
            alias: non_empty(&self.alias),
            condition: non_empty(&self.condition),
            tags: self.tags.clone(),
            import_values: self.import_values.iter().filter_map(import_value).collect(),
        }
    }

    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), Value::String(self.name.clone()));
        if !self.version.is_empty() {
            o.insert("version".into(), Value::String(self.version.clone()));
        }
        o.insert("repository".into(), Value::String(self.repository.clone()));
        if !self.condition.is_empty() {
            o.insert("condition".into(), Value::String(self.condition.clone()));
        }
        if !self.tags.is_empty() {
            let tags = self.tags.iter().cloned().map(Value::String).collect();
            o.insert("tags".into(), Value::Array(tags));
        }
        if self.enabled {
            o.insert("enabled".into(), Value::Bool(true));
        }
        if !self.import_values.is_empty() {
            o.insert(
                "import-values".into(),
                Value::Array(self.import_values.clone()),
            );
        }
        if !self.alias.is_empty() {
            o.insert("alias".into(), Value::String(self.alias.clone()));
        }
        Value::Object(o)
    }
}

/// An `import-values` entry as Helm's `processImportValues` reads it: a
/// string, or a map whose `child` and `parent` are printed with `%v`;
/// anything else is skipped.
fn import_value(value: &Value) -> Option<ImportValue> {
    match value {
        Value::String(s) => Some(ImportValue::Exports(s.clone())),
        Value::Object(map) => Some(ImportValue::Path {
            child: go_print(map.get("child")),
            parent: go_print(map.get("parent")),
        }),
        _ => None,
    }
}

/// Go's `%v` of a decoded JSON value (scalars; containers approximately).
fn go_print(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "<nil>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(go_format_float)
            .unwrap_or_else(|| n.to_string()),
        Some(other) => other.to_string(),
    }
}

/// Helm's `sanitizeString`: whitespace becomes a space, non-printable
/// characters are dropped.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || is_unprintable(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// Characters Go's `unicode.IsPrint` rejects beyond controls: format
/// characters and unassigned/private ranges commonly met.
fn is_unprintable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E000}'..='\u{F8FF}')
}

/// Go's `filepath.Base`.
fn go_base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// `^[a-zA-Z0-9_-]+$`.
fn is_valid_alias(alias: &str) -> bool {
    !alias.is_empty()
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Masterminds semver's `NewVersion`: `v` optional, one to three numeric
/// parts (leading zeros allowed, each fitting 64 bits), a pre-release of
/// dot-separated alphanumeric identifiers (numeric ones without leading
/// zeros) and build metadata.
pub(super) fn is_valid_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return false;
    }
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !parts.iter().all(|p| numeric(p) && p.parse::<u64>().is_ok()) {
        return false;
    }
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if let Some(pre) = pre {
        for id in pre.split('.') {
            if !ident(id) {
                return false;
            }
            if numeric(id) && id.len() > 1 && id.starts_with('0') {
                return false;
            }
        }
    }
    if let Some(build) = build {
        if !build.split('.').all(ident) {
            return false;
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_formats_them() {
        assert_eq!(go_format_float(1.0), "1");
        assert_eq!(go_format_float(1.1), "1.1");
        assert_eq!(go_format_float(1500.0), "1500");
        assert_eq!(go_format_float(2.5), "2.5");
        assert_eq!(go_format_float(1e6), "1e+06");
        assert_eq!(go_format_float(123456.0), "123456");
        assert_eq!(go_format_float(0.0001), "0.0001");
        assert_eq!(go_format_float(0.00001), "1e-05");
        assert_eq!(go_format_float(-1.25e21), "-1.25e+21");
    }

    #[test]
    fn versions_are_checked_as_masterminds_semver_does() {
        for ok in [
            "1.2.3",
            "01.2.3",
            "1.02.3",
            "v1",
            "1.2",
            "1.2.3+01",
            "1.2.3-0a",
            "1.2.3-rc.1+build.5",
            "1.2.3-a-b",
        ] {
            assert!(is_valid_semver(ok), "{ok}");
        }
        for bad in [
            "1.2.3-01",
            "1.2.3-a.01",
            "1.2.3.4",
            "1.2.3-",
            "1.2.3-a..b",
            "V1.2.3",
            "1.2.3_x",
            "99999999999999999999.0.0",
            "1.2.3-00",
            "",
        ] {
            assert!(!is_valid_semver(bad), "{bad}");
        }
    }

    #[test]
    fn strings_are_sanitized() {
        assert_eq!(sanitize("a\tb\nc\u{7}d"), "a b cd");
    }
}
