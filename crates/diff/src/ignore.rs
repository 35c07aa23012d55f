//! Argo CD's `spec.ignoreDifferences`: which fields of which resources the
//! comparison leaves out, and, with the `RespectIgnoreDifferences=true` sync
//! option, which fields a sync leaves as they are live.
//!
//! [`IgnoreRules::compile`] turns an Application's entries into rules once
//! (JSON pointers parsed, jq expressions compiled, group/kind patterns
//! built), failing on the first entry that cannot be used. Then, per object:
//!
//! - [`IgnoreRules::normalize`] removes the ignored fields before comparing.
//!   Apply it to both the desired and the live object, with the live
//!   object's `metadata.managedFields` for both.
//! - [`IgnoreRules::respect`] rewrites a desired object before a sync so
//!   every ignored field carries its live value (or is absent where the live
//!   object has none), and an apply leaves it untouched.
//!
//! An entry applies to an object when its `group` and `kind` match (glob
//! patterns, so `"*"` matches every group or kind; a missing group is the
//! core group `""`) and its `name` and `namespace`, when set, are equal.
//! Within an entry: fields owned by the `managedFieldsManagers` go first (as
//! in Argo CD, where managed-field normalization precedes the ignore
//! normalizer), then `jsonPointers` and `jqPathExpressions` in order, each
//! on the result of the previous one, as Argo CD applies its patches. An
//! object is identified by its own `apiVersion`, `kind`,
//! `metadata.namespace` and `metadata.name`, so give a desired object its
//! destination namespace before normalizing it.
//!
//! Where this differs from Argo CD:
//!
//! - `managedFieldsManagers`: Argo CD removes a trusted manager's field only
//!   where the desired and live values differ (structured-merge-diff's
//!   `Changed` set, typed with the cluster's OpenAPI schema). Normalization
//!   here sees one object at a time and removes every field the manager
//!   owns from both sides, which compares the same for fields both sides
//!   set; [`FieldSet::owned_paths`] says how list elements are treated.
//! - A JSON pointer that does not parse, or a group/kind that is not a valid
//!   glob, is an error when compiling; Argo CD accepts both and then never
//!   applies them.
//! - jq runs on jaq rather than gojq: the language is the same for path
//!   expressions, builtins differ at the edges, and runtime error messages
//!   differ (they are not reported either way).

mod fields;
mod jq;
mod path;

use std::time::Duration;

use caravel_crd::application::ResourceIgnoreDifferences;
use globset::{GlobBuilder, GlobMatcher};
use serde_json::{Map, Value};

pub use fields::{managed_fields, parse_fields_v1, FieldKey, FieldSet};
pub use jq::DEFAULT_JQ_TIMEOUT;
pub use path::{FieldPath, PathSegment};

use crate::pointer::parse_json_pointer;
use crate::DiffError;

/// An Application's compiled `ignoreDifferences`.
#[derive(Clone, Debug)]
pub struct IgnoreRules {
    rules: Vec<IgnoreRule>,
    jq_timeout: Duration,
}

impl Default for IgnoreRules {
    /// No rules: nothing is ignored.
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            jq_timeout: DEFAULT_JQ_TIMEOUT,
        }
    }
}

/// One compiled `ignoreDifferences` entry.
#[derive(Clone, Debug)]
struct IgnoreRule {
    group: Pattern,
    kind: Pattern,
    name: Option<String>,
    namespace: Option<String>,
    json_pointers: Vec<Vec<String>>,
    jq_paths: Vec<jq::JqPath>,
    managers: Vec<String>,
}

/// A `group` or `kind` as Argo CD matches it (`glob.Match`): a glob
/// pattern, compared exactly when it has no glob syntax.
#[derive(Clone, Debug)]
enum Pattern {
    Exact(String),
    Glob(GlobMatcher),
}

impl Pattern {
    fn new(pattern: &str) -> Result<Self, DiffError> {
        if !pattern.contains(['*', '?', '[', '{', '\\']) {
            return Ok(Self::Exact(pattern.to_owned()));
        }
        GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()
            .map(|glob| Self::Glob(glob.compile_matcher()))
            .map_err(|e| DiffError::InvalidPattern {
                pattern: pattern.to_owned(),
                reason: e.kind().to_string(),
            })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == text,
            Self::Glob(glob) => glob.is_match(text),
        }
    }
}

/// Which resource an object is: (group, kind, namespace, name).
fn identity(obj: &Value) -> (&str, &str, &str, &str) {
    let text = |pointer: &str| obj.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let group = text("/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
    (
        group,
        text("/kind"),
        text("/metadata/namespace"),
        text("/metadata/name"),
    )
}

impl IgnoreRule {
    fn compile(entry: &ResourceIgnoreDifferences) -> Result<Self, DiffError> {
        let json_pointers = entry
            .json_pointers
            .iter()
            .flatten()
            .map(|pointer| parse_json_pointer(pointer))
            .collect::<Result<_, _>>()?;
        let jq_paths = entry
            .jq_path_expressions
            .iter()
            .flatten()
            .map(|expression| jq::JqPath::compile(expression))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            group: Pattern::new(entry.group.as_deref().unwrap_or(""))?,
            kind: Pattern::new(&entry.kind)?,
            name: entry.name.clone().filter(|n| !n.is_empty()),
            namespace: entry.namespace.clone().filter(|n| !n.is_empty()),
            json_pointers,
            jq_paths,
            managers: entry.managed_fields_managers.clone().unwrap_or_default(),
        })
    }

    fn matches(&self, group: &str, kind: &str, namespace: &str, name: &str) -> bool {
        self.group.matches(group)
            && self.kind.matches(kind)
            && self.name.as_deref().is_none_or(|n| n == name)
            && self.namespace.as_deref().is_none_or(|n| n == namespace)
    }

    fn has_patches(&self) -> bool {
        !self.json_pointers.is_empty() || !self.jq_paths.is_empty()
    }
}

impl IgnoreRules {
    /// Compiles an Application's `spec.ignoreDifferences`. A JSON pointer
    /// that does not parse, a jq expression that does not compile or a
    /// group/kind pattern that is not a valid glob is an error naming it.
    pub fn compile(entries: &[ResourceIgnoreDifferences]) -> Result<Self, DiffError> {
        Ok(Self {
            rules: entries
                .iter()
                .map(IgnoreRule::compile)
                .collect::<Result<_, _>>()?,
            jq_timeout: DEFAULT_JQ_TIMEOUT,
        })
    }

    /// The same rules with another time limit per jq expression and object
    /// (Argo CD: `controller.ignore.normalizer.jq.timeout`, default 1 s).
    pub fn with_jq_timeout(mut self, timeout: Duration) -> Self {
        self.jq_timeout = timeout;
        self
    }

    /// Whether there are no rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule applies to this resource (`group` is `""` for the
    /// core group; `namespace` is `""` for cluster-scoped resources).
    pub fn matches(&self, group: &str, kind: &str, namespace: &str, name: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.matches(group, kind, namespace, name))
    }

    /// Whether a rule naming `managedFieldsManagers` applies to the object,
    /// so its normalization needs the live object's managed fields.
    pub fn uses_managed_fields(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> bool {
        self.rules
            .iter()
            .any(|rule| !rule.managers.is_empty() && rule.matches(group, kind, namespace, name))
    }

    fn matching(&self, obj: &Value) -> Vec<&IgnoreRule> {
        let (group, kind, namespace, name) = identity(obj);
        self.rules
            .iter()
            .filter(|rule| rule.matches(group, kind, namespace, name))
            .collect()
    }

    /// Removes every ignored field from `obj` before a comparison. Pass the
    /// live object's `metadata.managedFields` entries (see
    /// [`managed_fields`]) for the desired and the live object alike.
    ///
    /// When an entry with `jsonPointers` or `jqPathExpressions` applies,
    /// empty objects and arrays are then removed from the whole object, as
    /// Argo CD's ignore normalizer does, so a field emptied on one side does
    /// not show as a difference. A jq runtime error (iterating over a field
    /// the object does not have) removes nothing, as in Argo CD. On error
    /// the object may be partly normalized.
    pub fn normalize(
        &self,
        obj: &mut Value,
        live_managed_fields: &[Value],
    ) -> Result<(), DiffError> {
        let rules = self.matching(obj);
        if rules.is_empty() {
            return Ok(());
        }
        let managers = managers_of(&rules);
        if !managers.is_empty() {
            fields::remove_owned(obj, live_managed_fields, &managers)?;
        }
        let mut evaluator = jq::Evaluator::new(self.jq_timeout);
        for rule in &rules {
            for tokens in &rule.json_pointers {
                if let Some(found) = path::resolve_pointer(obj, tokens) {
                    path::remove(obj, &found);
                }
            }
            for expression in &rule.jq_paths {
                let paths = evaluator.paths(expression, obj)?;
                path::remove_all(obj, paths);
            }
        }
        if rules.iter().any(|rule| rule.has_patches()) {
            if let Some(map) = obj.as_object_mut() {
                remove_empty_objects(map);
            }
        }
        Ok(())
    }

    /// The paths, in `obj`, of the fields the rules ignore: what
    /// [`IgnoreRules::normalize`] removes, except for the empty objects it
    /// sweeps up afterwards. Every path is evaluated on `obj` as it is.
    pub fn ignored_paths(
        &self,
        obj: &Value,
        live_managed_fields: &[Value],
    ) -> Result<Vec<FieldPath>, DiffError> {
        let Ignored { mut owned, patched } = self.ignored(obj, live_managed_fields)?;
        owned.extend(patched);
        owned.sort();
        owned.dedup();
        Ok(owned)
    }

    fn ignored(&self, obj: &Value, live_managed_fields: &[Value]) -> Result<Ignored, DiffError> {
        let rules = self.matching(obj);
        let mut ignored = Ignored::default();
        if rules.is_empty() {
            return Ok(ignored);
        }
        let managers = managers_of(&rules);
        if !managers.is_empty() {
            ignored.owned = fields::owned_by(obj, live_managed_fields, &managers)?;
        }
        let mut evaluator = jq::Evaluator::new(self.jq_timeout);
        for rule in &rules {
            ignored.patched.extend(
                rule.json_pointers
                    .iter()
                    .filter_map(|tokens| path::resolve_pointer(obj, tokens)),
            );
            for expression in &rule.jq_paths {
                ignored.patched.extend(evaluator.paths(expression, obj)?);
            }
        }
        Ok(ignored)
    }

    /// Prepares a desired object for a sync with
    /// `RespectIgnoreDifferences=true`: every ignored field of `target` is
    /// replaced by its live value, or removed where the live object has
    /// none, so an apply leaves those fields as they are live. Managed
    /// fields come from `live`'s own `metadata.managedFields`, and, as in
    /// Argo CD (whose managed-field normalization only touches fields both
    /// sides have), a field a trusted manager owns is taken from the live
    /// object only where the target sets it too.
    ///
    /// Array elements are matched by their `name` field when they have one
    /// (containers, env, volumes: Kubernetes' usual merge key), else by
    /// index; a live element the target lacks is appended. Argo CD gets the
    /// same effect from a strategic merge patch for built-in kinds; for
    /// custom resources its JSON merge patch replaces a whole list with the
    /// live one instead.
    pub fn respect(&self, target: &mut Value, live: &Value) -> Result<(), DiffError> {
        let managed = managed_fields(live);
        let from_live = self.ignored(live, managed)?;
        let original = target.clone();
        path::remove_all(target, self.ignored_paths(&original, managed)?);
        let owned_in_target = from_live
            .owned
            .into_iter()
            .filter(|owned| path::counterpart(&original, live, owned).is_some());
        let mut copies: Vec<FieldPath> = owned_in_target.chain(from_live.patched).collect();
        // Parents before children, earlier elements before later ones.
        copies.sort();
        copies.dedup();
        for ignored in copies {
            if let Some(value) = path::get(live, &ignored) {
                path::copy_into(target, live, &ignored, value.clone());
            }
        }
        Ok(())
    }
}

/// What the rules ignore in one object, by where the rule came from.
#[derive(Default)]
struct Ignored {
    /// Owned by a `managedFieldsManagers` manager.
    owned: Vec<FieldPath>,
    /// Named by a JSON pointer or jq path expression.
    patched: Vec<FieldPath>,
}

fn managers_of<'a>(rules: &[&'a IgnoreRule]) -> Vec<&'a str> {
    let mut managers: Vec<&str> = rules
        .iter()
        .flat_map(|rule| rule.managers.iter().map(String::as_str))
        .collect();
    managers.sort_unstable();
    managers.dedup();
    managers
}

/// Removes, recursively, object fields whose value is (or became) an empty
/// object or array, and array elements that are (or became) empty objects.
/// Other array elements, empty arrays nested in arrays included, stay.
fn remove_empty_objects(map: &mut Map<String, Value>) {
    map.retain(|_, value| match value {
        Value::Object(inner) => {
            remove_empty_objects(inner);
            !inner.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(|item| match item {
                Value::Object(inner) => {
                    remove_empty_objects(inner);
                    !inner.is_empty()
                }
                _ => true,
            });
            !items.is_empty()
        }
        _ => true,
    });
}

#[cfg(test)]
mod tests;
