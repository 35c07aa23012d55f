//! `sigs.k8s.io/yaml.Unmarshal` into `interface{}`, as Helm's `fromYaml`
//! calls it: the first document is decoded by yaml.v2's rules (YAML 1.1
//! scalars, merge keys, later duplicate keys winning), map keys become
//! strings as sigs.k8s.io/yaml converts them, and the result goes through
//! JSON, so every number is a float64.

use std::collections::BTreeMap;

use caravel_gotemplate::Value;
use caravel_yaml::events::{Event, EventReader, ScalarStyle};

use super::go_number::format_g;
use super::yaml_resolve::{resolve_plain, Resolved};

/// Bounds alias expansion, as yaml.v2 refuses "excessive aliasing".
const MAX_NODES: usize = 1_000_000;

/// A value as yaml.v2 decodes it into `interface{}`.
#[derive(Clone, Debug)]
enum GoValue {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<GoValue>),
    /// Keys of any kind, in insertion order, duplicates replaced.
    Map(Vec<(GoValue, GoValue)>),
}

impl GoValue {
    fn same_key(&self, other: &GoValue) -> bool {
        match (self, other) {
            (GoValue::Null, GoValue::Null) => true,
            (GoValue::Bool(a), GoValue::Bool(b)) => a == b,
            (GoValue::Int(a), GoValue::Int(b)) => a == b,
            (GoValue::Uint(a), GoValue::Uint(b)) => a == b,
            (GoValue::Float(a), GoValue::Float(b)) => a == b,
            (GoValue::Str(a), GoValue::Str(b)) => a == b,
            _ => false,
        }
    }

    /// Go's `%#v`/`%+#v` of the value, for error messages.
    fn go_syntax(&self) -> String {
        match self {
            GoValue::Null => "<nil>".to_owned(),
            GoValue::Bool(b) => b.to_string(),
            GoValue::Int(i) => i.to_string(),
            GoValue::Uint(u) => format!("0x{u:x}"),
            GoValue::Float(f) => format_g(*f).replace(".inf", "+Inf").replace(".nan", "NaN"),
            GoValue::Str(s) => caravel_gotemplate::fmt::quote(s, false),
            GoValue::Seq(items) => format!(
                "[]interface {{}}{{{}}}",
                items
                    .iter()
                    .map(GoValue::go_syntax)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            GoValue::Map(entries) => format!(
                "map[interface {{}}]interface {{}}{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}:{}", k.go_syntax(), v.go_syntax()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn go_type(&self) -> &'static str {
        match self {
            GoValue::Null => "%!s(<nil>)",
            GoValue::Bool(_) => "bool",
            GoValue::Int(_) => "int",
            GoValue::Uint(_) => "uint64",
            GoValue::Float(_) => "float64",
            GoValue::Str(_) => "string",
            GoValue::Seq(_) => "[]interface {}",
            GoValue::Map(_) => "map[interface {}]interface {}",
        }
    }
}

fn set_entry(entries: &mut Vec<(GoValue, GoValue)>, key: GoValue, value: GoValue) {
    match entries.iter_mut().find(|(k, _)| k.same_key(&key)) {
        Some(slot) => slot.1 = value,
        None => entries.push((key, value)),
    }
}

/// A parsed node before decoding, so aliases can be decoded again.
#[derive(Clone, Debug)]
enum Node {
    Scalar {
        value: String,
        style: ScalarStyle,
        tag: Option<String>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// Shared, so an alias costs nothing until decoded (a "billion
    /// laughs" document stays small until the decoder's node bound).
    Alias(std::rc::Rc<Node>),
}

struct Builder<'a> {
    events: std::iter::Peekable<EventReader<'a>>,
    anchors: BTreeMap<usize, std::rc::Rc<Node>>,
}

/// yaml.v2's wording of a parse error. libyaml names the 0-based line of
/// a parser error (the 1-based one of a scanner error) and leaves the line
/// out when it is 0; yaml-rust2 prefixes parser errors with the construct.
fn yaml_error(e: caravel_yaml::YamlError) -> String {
    const PARSER_PROBLEMS: &[(&str, &str)] = &[
        ("expected ',' or ']'", "did not find expected ',' or ']'"),
        ("expected ',' or '}'", "did not find expected ',' or '}'"),
        (
            "did not find expected ',' or '}'",
            "did not find expected ',' or '}'",
        ),
        ("did not find expected key", "did not find expected key"),
        (
            "did not find expected '-' indicator",
            "did not find expected '-' indicator",
        ),
        (
            "did not find expected node content",
            "did not find expected node content",
        ),
        (
            "did not find expected <document start>",
            "did not find expected <document start>",
        ),
    ];
    let parser_problem = PARSER_PROBLEMS
        .iter()
        .find(|(found, _)| e.message.ends_with(found))
        .map(|(_, go)| *go);
    let (message, line) = match parser_problem {
        Some(go) => (go.to_owned(), e.line.map(|l| l.saturating_sub(1))),
        None => (e.message.clone(), e.line),
    };
    match line {
        Some(line) if line > 0 => format!("yaml: line {line}: {message}"),
        _ => format!("yaml: {message}"),
    }
}

impl Builder<'_> {
    fn next(&mut self) -> Result<Option<Event>, String> {
        self.events.next().transpose().map_err(yaml_error)
    }

    fn node(&mut self, event: Event) -> Result<Node, String> {
        let (node, anchor) = match event {
            Event::Scalar {
                value,
                style,
                anchor,
                tag,
            } => (Node::Scalar { value, style, tag }, anchor),
            Event::Alias { anchor } => {
                let target = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .ok_or_else(|| "yaml: unknown anchor referenced".to_owned())?;
                return Ok(Node::Alias(target));
            }
            Event::SequenceStart { anchor, .. } => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Some(Event::SequenceEnd) => break,
                        Some(e) => items.push(self.node(e)?),
                        None => return Err("yaml: found unexpected end of stream".to_owned()),
                    }
                }
                (Node::Seq(items), anchor)
            }
            Event::MappingStart { anchor, .. } => {
                let mut entries = Vec::new();
                loop {
                    match self.next()? {
                        Some(Event::MappingEnd) => break,
                        Some(e) => {
                            let key = self.node(e)?;
                            let value = match self.next()? {
                                Some(e) => self.node(e)?,
                                None => {
                                    return Err("yaml: found unexpected end of stream".to_owned())
                                }
                            };
                            entries.push((key, value));
                        }
                        None => return Err("yaml: found unexpected end of stream".to_owned()),
                    }
                }
                (Node::Map(entries), anchor)
            }
            other => return Err(format!("yaml: unexpected event {other:?}")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, std::rc::Rc::new(node.clone()));
        }
        Ok(node)
    }
}

/// Parses the first document of `input`; `None` for an empty stream.
fn parse_first_document(input: &str) -> Result<Option<Node>, String> {
    let mut b = Builder {
        events: EventReader::new(input).peekable(),
        anchors: BTreeMap::new(),
    };
    loop {
        match b.next()? {
            None => return Ok(None),
            Some(Event::DocumentStart) => break,
            Some(_) => continue,
        }
    }
    match b.next()? {
        None | Some(Event::DocumentEnd) => Ok(None),
        Some(e) => b.node(e).map(Some),
    }
}

// === decoding, as yaml.v2 decodes into interface{} ===

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

fn decode_scalar(value: &str, style: ScalarStyle, tag: Option<&str>) -> Result<GoValue, String> {
    let short = tag.map(|t| {
        t.strip_prefix(TAG_PREFIX)
            .map_or(t.to_owned(), |s| format!("!!{s}"))
    });
    let resolved = match short.as_deref() {
        None if style == ScalarStyle::Plain => resolve_plain(value),
        None | Some("!!str") => Resolved::Str,
        Some("!!binary") => {
            use base64::Engine;
            let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|e| format!("yaml: !!binary value contains invalid base64 data: {e}"))?;
            return Ok(GoValue::Str(String::from_utf8_lossy(&bytes).into_owned()));
        }
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
            let r = resolve_plain(value);
            let fits = match (t, &r) {
                ("!!int", Resolved::Int(_) | Resolved::Uint(_)) => true,
                ("!!float", Resolved::Float(_)) => true,
                ("!!float", Resolved::Int(i)) => {
                    return Ok(GoValue::Float(*i as f64));
                }
                ("!!bool", Resolved::Bool(_)) => true,
                ("!!null", Resolved::Null) => true,
                ("!!timestamp", Resolved::Timestamp) => true,
                _ => false,
            };
            if !fits {
                return Err(format!("yaml: cannot decode !!str `{value}` as a {t}"));
            }
            r
        }
        // Unknown tags leave the text as it is.
        Some(_) => Resolved::Str,
    };
    Ok(match resolved {
        Resolved::Null => GoValue::Null,
        Resolved::Bool(b) => GoValue::Bool(b),
        Resolved::Int(i) => GoValue::Int(i),
        Resolved::Uint(u) => GoValue::Uint(u),
        Resolved::Float(f) => GoValue::Float(f),
        Resolved::Timestamp | Resolved::Str => GoValue::Str(value.to_owned()),
    })
}

struct Decoder {
    nodes: usize,
}

fn is_merge_key(node: &Node) -> bool {
    matches!(node, Node::Scalar { value, style: ScalarStyle::Plain, tag: None } if value == "<<")
        || matches!(node, Node::Scalar { value, tag: Some(t), .. } if value == "<<" && t.ends_with(":merge"))
}

fn deref(node: &Node) -> &Node {
    match node {
        Node::Alias(target) => deref(target),
        other => other,
    }
}

impl Decoder {
    fn decode(&mut self, node: &Node) -> Result<GoValue, String> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err("yaml: document contains excessive aliasing".to_owned());
        }
        match node {
            Node::Alias(target) => self.decode(target),
            Node::Scalar { value, style, tag } => decode_scalar(value, *style, tag.as_deref()),
            Node::Seq(items) => Ok(GoValue::Seq(
                items
                    .iter()
                    .map(|n| self.decode(n))
                    .collect::<Result<_, _>>()?,
            )),
            Node::Map(pairs) => {
                let mut entries = Vec::new();
                self.decode_pairs(pairs, &mut entries)?;
                Ok(GoValue::Map(entries))
            }
        }
    }

    fn decode_pairs(
        &mut self,
        pairs: &[(Node, Node)],
        entries: &mut Vec<(GoValue, GoValue)>,
    ) -> Result<(), String> {
        for (k, v) in pairs {
            if is_merge_key(k) {
                self.merge(v, entries)?;
                continue;
            }
            let key = self.decode(k)?;
            if matches!(key, GoValue::Seq(_) | GoValue::Map(_)) {
                return Err(format!("yaml: invalid map key: {}", key.go_syntax()));
            }
            let value = self.decode(v)?;
            set_entry(entries, key, value);
        }
        Ok(())
    }

    fn merge(&mut self, node: &Node, entries: &mut Vec<(GoValue, GoValue)>) -> Result<(), String> {
        const WANT_MAP: &str = "yaml: map merge requires map or sequence of maps as the value";
        match deref(node) {
            Node::Map(pairs) => self.decode_pairs(pairs, entries),
            Node::Seq(items) => {
                // Earlier maps take precedence, so apply them last.
                for item in items.iter().rev() {
                    match deref(item) {
                        Node::Map(pairs) => self.decode_pairs(pairs, entries)?,
                        _ => return Err(WANT_MAP.to_owned()),
                    }
                }
                Ok(())
            }
            _ => Err(WANT_MAP.to_owned()),
        }
    }
}

// === sigs.k8s.io/yaml: YAML → JSON → interface{} ===

fn key_string(key: &GoValue, value: &GoValue) -> Result<String, String> {
    Ok(match key {
        GoValue::Str(s) => s.clone(),
        GoValue::Int(i) => i.to_string(),
        GoValue::Bool(b) => b.to_string(),
        GoValue::Float(f) => {
            // strconv.FormatFloat(k, 'g', -1, 32)
            let g = format_g(f64::from(*f as f32));
            match g.as_str() {
                ".inf" | "-.inf" | ".nan" => g,
                _ => format_float32_key(*f),
            }
        }
        GoValue::Null | GoValue::Uint(_) | GoValue::Seq(_) | GoValue::Map(_) => {
            return Err(format!(
                "unsupported map key of type: {}, key: {}, value: {}",
                key.go_type(),
                key.go_syntax(),
                value.go_syntax()
            ))
        }
    })
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits that read
/// back as the same float32.
fn format_float32_key(f: f64) -> String {
    let f32v = f as f32;
    let text = format!("{:e}", f32v);
    let Some((mantissa, exp)) = text.split_once('e') else {
        return text;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // Rebuild a float64 with exactly these digits; %g then prints them.
    let sign = if neg { "-" } else { "" };
    let rebuilt: f64 = format!("{sign}0.{digits}e{}", exp + 1).parse().unwrap_or(f);
    format_g(rebuilt)
}

/// The JSON-able object sigs.k8s.io/yaml builds, marshalled and decoded
/// back as `interface{}`: every number a float64.
fn to_json_value(v: &GoValue) -> Result<Value, String> {
    Ok(match v {
        GoValue::Null => Value::Nil,
        GoValue::Bool(b) => Value::Bool(*b),
        GoValue::Int(i) => Value::Float(*i as f64),
        GoValue::Uint(u) => Value::Float(*u as f64),
        GoValue::Float(f) => {
            // JSON cannot hold NaN or infinities; Go's message.
            caravel_sprig::json::format_float(*f)?;
            Value::Float(*f)
        }
        GoValue::Str(s) => Value::from(s.as_str()),
        GoValue::Seq(items) => Value::from(
            items
                .iter()
                .map(to_json_value)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        GoValue::Map(entries) => {
            let mut map = BTreeMap::new();
            for (k, v) in entries {
                map.insert(key_string(k, v)?, to_json_value(v)?);
            }
            Value::from(map)
        }
    })
}

/// `sigs.k8s.io/yaml.Unmarshal(input, &interface{})`: the first document,
/// `Nil` when there is none; errors worded as Go's.
pub(crate) fn unmarshal(input: &str) -> Result<Value, String> {
    let convert = |e: String| format!("error converting YAML to JSON: {e}");
    let Some(node) = parse_first_document(input).map_err(convert)? else {
        return Ok(Value::Nil);
    };
    let go = Decoder { nodes: 0 }.decode(&node).map_err(convert)?;
    to_json_value(&go).map_err(convert)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn show(input: &str) -> String {
        match unmarshal(input) {
            Ok(v) => format!("{v}"),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn yaml_1_1_scalars_are_read_as_yaml_v2_reads_them() {
        assert_eq!(
            show("a: yes\nb: on\nc: 0755\nd: 0x1F\ne: 1_000\nf: 2001-12-14\ni: 12:30\n"),
            "map[a:true b:true c:493 d:31 e:1000 f:2001-12-14 i:12:30]"
        );
    }

    #[test]
    fn keys_become_strings_and_merges_apply() {
        assert_eq!(
            show("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3"),
            "map[base:map[true:2 x:1] d:map[true:3 x:1]]"
        );
        assert_eq!(
            show("18446744073709551615: x"),
            "ERR error converting YAML to JSON: unsupported map key of type: uint64, key: 0xffffffffffffffff, value: \"x\""
        );
        assert_eq!(
            show("a: .nan"),
            "ERR error converting YAML to JSON: json: unsupported value: NaN"
        );
    }

    #[test]
    fn only_the_first_document_is_read() {
        assert_eq!(show("a: 1\n---\nb: 2"), "map[a:1]");
        assert_eq!(show(""), "<nil>");
    }
}
