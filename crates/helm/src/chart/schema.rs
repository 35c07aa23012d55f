//! values.schema.json validation as Helm's `ValidateAgainstSchema` does
//! it: the chart's schema against its values, then each subchart's against
//! the values under the subchart's name, every failure collected in one
//! message worded like Helm's (santhosh-tekuri/jsonschema's `- at
//! '/path': …` lines). Schemas never fetch anything: a `$ref` to another
//! document fails, except `urn:` references, which Helm lets pass.

use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Retrieve, Uri, ValidationError};
use serde_json::{Map, Value};

use super::metadata::go_format_float;
use super::{Chart, ChartError};
use crate::values::ChartValues;

/// Validates coalesced `values` against the chart's values.schema.json and,
/// recursively, each subchart's against the values under its name. Given
/// a [`Chart`], the loaded subcharts are walked (by chart name); given a
/// [`ChartValues`] tree as rendered (dependencies processed: disabled
/// subcharts gone, aliases as names), that tree is, as Helm validates
/// after processing dependencies.
pub fn validate_values<N: SchemaNode>(
    chart: &N,
    values: &Map<String, Value>,
) -> Result<(), ChartError> {
    finish(collect(chart, values))
}

fn finish(report: String) -> Result<(), ChartError> {
    if report.is_empty() {
        Ok(())
    } else {
        Err(ChartError::Schema(report))
    }
}

/// A node of a chart tree whose schemas can be checked: a loaded [`Chart`]
/// or a rendered [`ChartValues`] tree.
pub trait SchemaNode {
    /// The name values are found under in the parent's values.
    fn name(&self) -> &str;
    /// The loaded chart holding the schema.
    fn chart(&self) -> Option<&Chart>;
    /// The subcharts.
    fn children(&self) -> Vec<&Self>;
}

impl SchemaNode for Chart {
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn chart(&self) -> Option<&Chart> {
        Some(self)
    }
    fn children(&self) -> Vec<&Self> {
        self.subcharts.iter().map(Arc::as_ref).collect()
    }
}

impl SchemaNode for ChartValues {
    fn name(&self) -> &str {
        &self.name
    }
    fn chart(&self) -> Option<&Chart> {
        self.source.as_deref()
    }
    fn children(&self) -> Vec<&Self> {
        self.subcharts.iter().collect()
    }
}

fn collect<N: SchemaNode>(node: &N, values: &Map<String, Value>) -> String {
    let mut out = String::new();
    if let Some(chart) = node.chart() {
        if let Some(raw) = &chart.raw_schema {
            if let Err(report) = validate_one(chart.schema.as_ref(), raw, values) {
                out.push_str(&format!("{}:\n{report}", node.name()));
            }
        }
    }
    for sub in node.children() {
        match values.get(sub.name()) {
            None | Some(Value::Null) => {}
            Some(Value::Object(sub_values)) => out.push_str(&collect(sub, sub_values)),
            Some(other) => out.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.name(),
                go_type(other)
            )),
        }
    }
    out
}

/// Go's `%T` of a decoded value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Refuses every external document but `urn:` ones (a permissive `true`,
/// as Helm's URN loader gives for unresolved URNs).
struct NoRemoteRefs;

impl Retrieve for NoRemoteRefs {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri.scheme().as_str() == "urn" {
            return Ok(Value::Bool(true));
        }
        Err(format!(
            "external schema references are not allowed: {}",
            uri.as_str()
        )
        .into())
    }
}

/// One schema against its values: `Err` holds the report lines.
fn validate_one(
    schema: Option<&Value>,
    raw: &str,
    values: &Map<String, Value>,
) -> Result<(), String> {
    let parsed;
    let schema = match schema {
        Some(s) => s,
        None => {
            parsed = serde_json::from_str::<Value>(raw).map_err(|e| format!("{e}\n"))?;
            &parsed
        }
    };
    let validator = jsonschema::options()
        .with_retriever(NoRemoteRefs)
        .with_base_uri("file:///values.schema.json")
        .build(schema)
        .map_err(|e| format!("jsonschema file:///values.schema.json compilation failed: {e}\n"))?;
    let instance = Value::Object(values.clone());
    let mut lines = Vec::new();
    for error in validator.iter_errors(&instance) {
        describe(&error, 0, &mut lines);
    }
    if lines.is_empty() {
        Ok(())
    } else {
        Err(lines.join("\n") + "\n")
    }
}

/// santhosh-tekuri/jsonschema's wording of one error (and, for `anyOf`
/// and `oneOf`, of the failures of each branch, indented).
fn describe(error: &ValidationError<'_>, indent: usize, out: &mut Vec<String>) {
    let at = error.instance_path().as_str();
    let instance = error.instance();
    let pad = "  ".repeat(indent);
    let line = |message: String| format!("{pad}- at '{at}': {message}");
    let mut nested: Option<&Vec<Vec<ValidationError<'static>>>> = None;
    let message = match error.kind() {
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            format!(
                "got {}, want {}",
                type_name(instance),
                ordered_types(want).join(" or ")
            )
        }
        ValidationErrorKind::Required { property } => {
            format!("missing property {}", quote(property))
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => format!(
            "additional properties {} not allowed",
            unexpected
                .iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValidationErrorKind::Enum { options } => match options.as_ref() {
            Value::Array(items) => format!(
                "value must be one of {}",
                items.iter().map(quote).collect::<Vec<_>>().join(", ")
            ),
            other => format!("value must be one of {}", quote(other)),
        },
        ValidationErrorKind::Constant { expected_value } => {
            format!("value must be {}", quote(expected_value))
        }
        ValidationErrorKind::Maximum { limit } => limit_message("maximum", instance, limit),
        ValidationErrorKind::Minimum { limit } => limit_message("minimum", instance, limit),
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            limit_message("exclusiveMaximum", instance, limit)
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            limit_message("exclusiveMinimum", instance, limit)
        }
        ValidationErrorKind::MultipleOf { multiple_of } => format!(
            "multipleOf: got {}, want {}",
            number(instance),
            go_format_float(*multiple_of)
        ),
        ValidationErrorKind::MaxLength { limit } => {
            count_message("maxLength", string_length(instance), *limit)
        }
        ValidationErrorKind::MinLength { limit } => {
            count_message("minLength", string_length(instance), *limit)
        }
        ValidationErrorKind::MaxItems { limit } => {
            count_message("maxItems", array_length(instance), *limit)
        }
        ValidationErrorKind::MinItems { limit } => {
            count_message("minItems", array_length(instance), *limit)
        }
        ValidationErrorKind::MaxProperties { limit } => {
            count_message("maxProperties", object_length(instance), *limit)
        }
        ValidationErrorKind::MinProperties { limit } => {
            count_message("minProperties", object_length(instance), *limit)
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!("{} does not match pattern '{pattern}'", quote(instance))
        }
        ValidationErrorKind::Format { format } => {
            format!("{} is not valid {format}", quote(instance))
        }
        ValidationErrorKind::UniqueItems => match duplicate_items(instance) {
            Some((i, j)) => format!("items at {i} and {j} are equal"),
            None => "items are not unique".into(),
        },
        ValidationErrorKind::AnyOf { context } => {
            nested = Some(context);
            "'anyOf' failed".into()
        }
        ValidationErrorKind::OneOfNotValid { context } => {
            nested = Some(context);
            "'oneOf' failed, none matched".into()
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "'oneOf' failed, more than one matched".into()
        }
        ValidationErrorKind::Not { .. } => "'not' failed".into(),
        ValidationErrorKind::FalseSchema => "false schema".into(),
        ValidationErrorKind::Contains => "no items match contains schema".into(),
        ValidationErrorKind::PropertyNames { error } => {
            format!("invalid propertyName {}", quote(error.instance()))
        }
        _ => error.to_string(),
    };
    out.push(line(message));
    for branch in nested.into_iter().flatten() {
        for e in branch {
            describe(e, indent + 1, out);
        }
    }
}

/// santhosh-tekuri's order of type names.
fn ordered_types(mut types: Vec<String>) -> Vec<String> {
    const ORDER: [&str; 7] = [
        "null", "boolean", "number", "integer", "string", "array", "object",
    ];
    types.sort_by_key(|t| ORDER.iter().position(|o| o == t).unwrap_or(ORDER.len()));
    types
}

/// santhosh-tekuri's type of a value: every number is a "number".
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as santhosh-tekuri quotes it: strings in single quotes, other
/// values as JSON.
fn quote(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Number(_) => number(v),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => n.as_f64().map(go_format_float).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn limit_message(keyword: &str, instance: &Value, limit: &Value) -> String {
    format!(
        "{keyword}: got {}, want {}",
        number(instance),
        number(limit)
    )
}

fn count_message(keyword: &str, got: usize, want: u64) -> String {
    format!("{keyword}: got {got}, want {want}")
}

fn string_length(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn array_length(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

fn object_length(v: &Value) -> usize {
    v.as_object().map_or(0, Map::len)
}

/// The first pair of equal items (numbers compared by value).
fn duplicate_items(v: &Value) -> Option<(usize, usize)> {
    let items = v.as_array()?;
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            if equal(&items[i], &items[j]) {
                return Some((i, j));
            }
        }
    }
    None
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}
