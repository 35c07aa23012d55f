//! Helm's `toYamlPretty`: go.yaml.in/yaml/v3's encoder with a 2-space
//! indent, fed the template value directly (no JSON round trip, so
//! integers stay integers and floats print as `%g`).

use caravel_gotemplate::Value;

use super::yaml_emit::{emit_document_as, sort_keys, Flavor, Node};

/// Deeper than this a value can only be a map that contains itself.
const MAX_DEPTH: usize = 1000;

fn node(v: &Value) -> Result<Node, String> {
    node_at(v, 0)
}

fn node_at(v: &Value, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err("value nested too deeply".to_owned());
    }
    let node = |v: &Value| node_at(v, depth + 1);
    Ok(match v {
        Value::Nil => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(i) => Node::Int(*i),
        Value::Float(f) => Node::Float(*f),
        Value::String(s) => Node::Str(s.to_string()),
        Value::List(items) => Node::Seq(items.iter().map(node).collect::<Result<_, _>>()?),
        Value::Map(map) => {
            let mut entries = map
                .iter()
                .map(|(k, v)| Ok((k.clone(), node(v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            sort_keys(&mut entries, Flavor::V3);
            Node::Map(entries)
        }
        Value::SharedMap(map) => node(&Value::Map(map.snapshot()))?,
        Value::Object(o) => match o.to_value() {
            Some(v) => node(&v)?,
            None => return Err(format!("cannot marshal type: {}", o.type_name())),
        },
    })
}

/// The document yaml.v3's `Encoder.Encode` writes (ending in a newline).
pub(crate) fn to_yaml_pretty(v: &Value) -> Result<String, String> {
    Ok(emit_document_as(&node(v)?, Flavor::V3))
}
