//! The values templates work on: Go's `interface{}` world reduced to what
//! JSON/YAML data and host objects need, with Go's truthiness and Go's
//! `fmt` `%v` printing.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::format;

/// A value seen by templates and functions.
///
/// `Nil` is Go's nil `interface{}`. Lists and maps are shared, so cloning a
/// value is cheap. Maps have string keys and iterate in sorted key order,
/// which is the order `range` and `fmt` use.
///
/// A map is either a [`Value::Map`], which cannot change, or a
/// [`Value::SharedMap`], which has Go's reference semantics: a change made
/// through one handle (Sprig's `set`, `unset`, `merge`) is seen through
/// every other. Both are Go's `map[string]interface{}` to templates; read
/// either through [`Value::as_map`].
#[derive(Clone, Debug)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Arc<str>),
    List(Arc<Vec<Value>>),
    Map(Arc<BTreeMap<String, Value>>),
    /// A map that functions may change in place, as Go's maps are.
    SharedMap(SharedMap),
    Object(Arc<dyn Object>),
}

/// A Go map with reference semantics: clones are handles to one map, and a
/// change through any handle is seen through all of them.
///
/// Readers take a [`SharedMap::snapshot`], which is cheap and unaffected by
/// later changes; a change copies the entries only while a snapshot of them
/// is still alive.
#[derive(Clone, Default)]
pub struct SharedMap(Arc<RwLock<Arc<BTreeMap<String, Value>>>>);

/// A host object with fields and methods, such as Helm's `.Files`,
/// `.Capabilities` or `.Release`.
///
/// As in Go, a method takes precedence over a field of the same name, and a
/// method is called when named without arguments (`.Capabilities.KubeVersion.Version`
/// may be either).
pub trait Object: fmt::Debug + Send + Sync {
    /// The Go type name used in error messages, e.g. `chartutil.Capabilities`.
    fn type_name(&self) -> &str;

    /// The field `name`, or `None` when the object has no such field.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    /// Whether `name` is a method (called with arguments through [`Object::call`]).
    fn has_method(&self, _name: &str) -> bool {
        false
    }

    /// Calls method `name`; the error text becomes `error calling NAME: TEXT`.
    fn call(&self, name: &str, _args: &[Value]) -> Result<Value, String> {
        Err(format!("{name} is not a method"))
    }

    /// What `{{ . }}` and `%v` print; Go prints a Stringer's `String()`.
    fn display(&self) -> String {
        format!("{{{}}}", self.type_name())
    }

    /// The object as plain data, for functions such as `toYaml`.
    fn to_value(&self) -> Option<Value> {
        None
    }
}

/// How JSON numbers become template numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JsonNumbers {
    /// Integers stay `Int`, everything else is `Float`.
    #[default]
    Preserve,
    /// Every number is `Float`, as Go's `encoding/json` decodes into
    /// `interface{}` (and so as Helm sees values: `1000000` prints `1e+06`).
    Float,
}

// === impl Value ===

impl Value {
    /// Converts JSON with integers kept as `Int`.
    pub fn from_json(json: &serde_json::Value) -> Value {
        Value::from_json_with(json, JsonNumbers::Preserve)
    }

    /// Converts JSON choosing how numbers are represented.
    pub fn from_json_with(json: &serde_json::Value, numbers: JsonNumbers) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (numbers, n.as_i64()) {
                (JsonNumbers::Preserve, Some(i)) => Value::Int(i),
                _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Array(items) => Value::List(Arc::new(
                items
                    .iter()
                    .map(|v| Value::from_json_with(v, numbers))
                    .collect(),
            )),
            serde_json::Value::Object(map) => Value::Map(Arc::new(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json_with(v, numbers)))
                    .collect(),
            )),
        }
    }

    /// The value with every map in it, at any depth, made a
    /// [`Value::SharedMap`], so that templates can change it in place as Go
    /// code can (`set .Values "x" 1`, `merge $dst $src`).
    pub fn into_shared(&self) -> Value {
        match self {
            Value::Map(map) => Value::SharedMap(SharedMap::new(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.into_shared()))
                    .collect(),
            )),
            Value::List(items) => Value::list(items.iter().map(Value::into_shared)),
            other => other.clone(),
        }
    }

    /// The entries of a map of either kind (a snapshot of a shared one).
    pub fn as_map(&self) -> Option<Arc<BTreeMap<String, Value>>> {
        match self {
            Value::Map(map) => Some(map.clone()),
            Value::SharedMap(map) => Some(map.snapshot()),
            _ => None,
        }
    }

    /// Converts to JSON. Objects use [`Object::to_value`] or become null;
    /// non-finite floats become null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
            Value::SharedMap(map) => serde_json::Value::Object(
                map.snapshot()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Object(o) => o
                .to_value()
                .map(|v| v.to_json())
                .unwrap_or(serde_json::Value::Null),
        }
    }

    /// Go's truthiness: false, 0, empty string/list/map and nil are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::SharedMap(m) => !m.is_empty(),
            Value::Object(_) => true,
        }
    }

    /// The Go type name used in error and `%!v(T=…)` messages.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) | Value::SharedMap(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Builds a map value.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(Arc::new(
            entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// Builds a map value that functions may change in place.
    pub fn shared_map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::SharedMap(SharedMap::new(
            entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// Builds a list value.
    pub fn list(items: impl IntoIterator<Item = Value>) -> Value {
        Value::List(Arc::new(items.into_iter().collect()))
    }

    /// Builds an object value.
    pub fn object(o: impl Object + 'static) -> Value {
        Value::Object(Arc::new(o))
    }
}

// === impl SharedMap ===

impl SharedMap {
    pub fn new(entries: BTreeMap<String, Value>) -> Self {
        SharedMap(Arc::new(RwLock::new(Arc::new(entries))))
    }

    /// The entries as they are now; later changes do not affect it.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Value>> {
        // A panic while holding the lock leaves the map consistent (every
        // change is a single map operation), so a poisoned lock is usable.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.snapshot().get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    /// Changes the map in place. `change` must not read or change this same
    /// map through another handle (the lock is not reentrant).
    pub fn update<R>(&self, change: impl FnOnce(&mut BTreeMap<String, Value>) -> R) -> R {
        let mut guard = self.0.write().unwrap_or_else(PoisonError::into_inner);
        change(Arc::make_mut(&mut guard))
    }

    pub fn insert(&self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.update(|map| map.insert(key.into(), value))
    }

    pub fn remove(&self, key: &str) -> Option<Value> {
        self.update(|map| map.remove(key))
    }

    /// Whether both are handles to the same map.
    pub fn ptr_eq(&self, other: &SharedMap) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for SharedMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedMap").field(&self.snapshot()).finish()
    }
}

impl fmt::Display for Value {
    /// Go's `fmt.Sprint(v)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format::sprint_value(self))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Arc::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Arc::from(s))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(Arc::new(items))
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Value::Map(Arc::new(map))
    }
}

impl From<&serde_json::Value> for Value {
    fn from(json: &serde_json::Value) -> Self {
        Value::from_json(json)
    }
}
