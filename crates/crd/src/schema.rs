//! Structural OpenAPI schemas for the CRDs, generated from the Rust types
//! with the same settings kube-derive uses, plus one pass of our own: maps
//! that keep unknown fields (`extra`) become
//! `x-kubernetes-preserve-unknown-fields`, which the apiserver requires
//! instead of `additionalProperties` next to `properties`.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

const PRESERVE: &str = "x-kubernetes-preserve-unknown-fields";

/// Schema for a free-form object (e.g. `helm.valuesObject`).
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// Schema for a list of free-form objects.
pub fn preserve_unknown_array(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true }
    })
}

/// The structural `openAPIV3Schema` for `T`.
pub fn structural_schema<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(schemars::transform::AddNullable::default())
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .with_transform(kube::core::schema::OptionalEnum)
        .with_transform(kube::core::schema::OptionalIntOrString)
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    make_structural(&mut value);
    if let Value::Object(root) = &mut value {
        root.remove("title");
        root.remove("$schema");
    }
    value
}

fn make_structural(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // A schema node (its "type" is a string, unlike a `properties`
            // map that happens to have a property called "type"): defaults
            // would be applied by the apiserver; serde's are not meant so.
            if map.get("type").is_some_and(Value::is_string) {
                map.remove("default");
            }
            let open = matches!(map.get("additionalProperties"), Some(Value::Bool(true)))
                || matches!(map.get("additionalProperties"), Some(Value::Object(o)) if o.is_empty());
            if open && map.contains_key("properties") {
                map.remove("additionalProperties");
                map.insert(PRESERVE.into(), Value::Bool(true));
            }
            for v in map.values_mut() {
                make_structural(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(make_structural),
        _ => {}
    }
}
