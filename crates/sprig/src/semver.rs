//! `semver` and `semverCompare`, on Masterminds/semver v3's rules
//! (caravel-semver).

use caravel_gotemplate::{FuncError, Funcs, Object, Value};
use caravel_semver::{Constraints, Version};

use crate::convert::{string_arg, want};

pub fn register(funcs: &mut Funcs) {
    funcs.insert("semver", |_, args| {
        want("semver", args, 1)?;
        let version =
            Version::parse(string_arg(&args[0])?).map_err(|e| FuncError::new(e.to_string()))?;
        Ok(Value::object(SemverVersion(version)))
    });
    funcs.insert("semverCompare", |_, args| {
        want("semverCompare", args, 2)?;
        let constraints =
            Constraints::parse(string_arg(&args[0])?).map_err(|e| FuncError::new(e.to_string()))?;
        let version =
            Version::parse(string_arg(&args[1])?).map_err(|e| FuncError::new(e.to_string()))?;
        Ok(Value::Bool(constraints.matches(&version)))
    });
}

/// What `semver` returns: Go's `*semver.Version`, whose methods templates
/// call (`(semver "1.2.3").Major`).
#[derive(Debug)]
pub struct SemverVersion(pub Version);

const METHODS: [&str; 10] = [
    "Major",
    "Minor",
    "Patch",
    "Prerelease",
    "Metadata",
    "Original",
    "String",
    "Compare",
    "LessThan",
    "GreaterThan",
];

fn unsigned(n: u64) -> Value {
    i64::try_from(n).map_or(Value::Float(n as f64), Value::Int)
}

impl SemverVersion {
    /// The version argument of `Compare`/`LessThan`/`GreaterThan`/`Equal`.
    fn other(&self, name: &str, args: &[Value]) -> Result<Version, String> {
        if args.len() != 1 {
            return Err(format!(
                "wrong number of args for {name}: want 1 got {}",
                args.len()
            ));
        }
        match &args[0] {
            Value::Object(o) if o.type_name() == "*semver.Version" => {
                let text = o.call("Original", &[])?;
                Version::parse(text.as_str().unwrap_or_default()).map_err(|e| e.to_string())
            }
            other => Err(format!(
                "wrong type for value; expected *semver.Version; got {}",
                other.type_name()
            )),
        }
    }
}

impl Object for SemverVersion {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }

    fn has_method(&self, name: &str) -> bool {
        METHODS.contains(&name) || name == "Equal"
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let v = &self.0;
        let no_args = |value: Value| {
            if args.is_empty() {
                Ok(value)
            } else {
                Err(format!(
                    "wrong number of args for {name}: want 0 got {}",
                    args.len()
                ))
            }
        };
        match name {
            "Major" => no_args(unsigned(v.major())),
            "Minor" => no_args(unsigned(v.minor())),
            "Patch" => no_args(unsigned(v.patch())),
            "Prerelease" => no_args(Value::from(v.prerelease())),
            "Metadata" => no_args(Value::from(v.metadata())),
            "Original" => no_args(Value::from(v.original())),
            "String" => no_args(Value::from(v.to_string())),
            "Compare" => Ok(Value::Int(v.cmp(&self.other(name, args)?) as i64)),
            "LessThan" => Ok(Value::Bool(*v < self.other(name, args)?)),
            "GreaterThan" => Ok(Value::Bool(*v > self.other(name, args)?)),
            "Equal" => Ok(Value::Bool(*v == self.other(name, args)?)),
            _ => Err(format!("{name} is not a method")),
        }
    }

    fn display(&self) -> String {
        self.0.to_string()
    }

    fn to_value(&self) -> Option<Value> {
        // Go's json.Marshal of a Version is its String().
        Some(Value::from(self.0.to_string()))
    }
}
