//! Helm's own template functions on top of Sprig (`engine.funcMap` and
//! `initFunMap`): `include`, `tpl`, `required`, `fail`, `lookup` (an
//! empty map, as `helm template` has no cluster), `toJson`/`fromJson` and
//! the YAML/TOML family from [`crate::codec`].

use caravel_gotemplate::{Context, FuncError, Funcs, Value};
use caravel_sprig::convert::{string_arg as string, want as arity};

use super::warn_wrap;

/// Sprig's functions with Helm's added and overridden, built once.
pub fn shared() -> std::sync::Arc<Funcs> {
    static FUNCS: std::sync::LazyLock<std::sync::Arc<Funcs>> =
        std::sync::LazyLock::new(|| std::sync::Arc::new(funcs()));
    FUNCS.clone()
}

/// Sprig's functions with Helm's added and overridden.
pub fn funcs() -> Funcs {
    let mut funcs = caravel_sprig::funcs();
    crate::codec::register(&mut funcs);
    funcs.insert("include", include);
    funcs.insert("tpl", tpl);
    funcs.insert("required", required);
    funcs.insert("fail", fail);
    funcs.insert("lookup", lookup);
    funcs.insert("toJson", to_json);
    funcs
}

/// `include NAME DATA`: a named template's output as a string.
fn include(ctx: &mut Context<'_>, args: &[Value]) -> Result<Value, FuncError> {
    arity("include", args, 2)?;
    let name = string(&args[0])?.to_owned();
    let out = ctx.execute_template(&name, args[1].clone())?;
    Ok(Value::from(out))
}

/// The value at `Template.<key>` of `vals`, which must be a string.
fn template_field(vals: &Value, key: &str, text: &str) -> Result<String, FuncError> {
    let found = vals
        .as_map()
        .and_then(|m| m.get("Template").cloned())
        .and_then(|t| t.as_map())
        .and_then(|t| t.get(key).cloned());
    match found.as_ref().and_then(Value::as_str) {
        Some(s) => Ok(s.to_owned()),
        None => Err(FuncError::new(format!(
            "cannot retrieve Template.{} from values inside tpl function: {text}: no value found for key Template.{key}",
            if key == "BasePath" { "Basepath" } else { key },
        ))),
    }
}

/// `tpl TEXT VALUES`: renders `TEXT` as a template named as the current
/// file (`VALUES.Template.Name`), with every template of the render
/// available to it.
fn tpl(ctx: &mut Context<'_>, args: &[Value]) -> Result<Value, FuncError> {
    arity("tpl", args, 2)?;
    let text = string(&args[0])?;
    let vals = &args[1];
    if vals.as_map().is_none() {
        return Err(FuncError::new(format!(
            "wrong type for value; expected chartutil.Values; got {}",
            vals.type_name()
        )));
    }
    template_field(vals, "BasePath", text)?;
    let name = template_field(vals, "Name", text)?;
    match ctx.execute_text(&name, text, vals.clone()) {
        Ok(out) => Ok(Value::from(out.replace("<no value>", ""))),
        Err(e) if e.is_limit() => Err(e.into()),
        Err(e) => {
            let inner = match &e {
                caravel_gotemplate::Error::Parse { .. } => {
                    super::cleanup_parse_error(&name, &e.to_string())
                }
                caravel_gotemplate::Error::Exec(_) => super::cleanup_exec_error(&e),
            };
            Err(FuncError::new(format!(
                "error during tpl function execution for {}: {inner}",
                caravel_gotemplate::fmt::quote(text, false)
            )))
        }
    }
}

/// `required MESSAGE VALUE`: `VALUE`, unless it is nil or "".
fn required(_: &mut Context<'_>, args: &[Value]) -> Result<Value, FuncError> {
    arity("required", args, 2)?;
    let warn = string(&args[0])?;
    match &args[1] {
        Value::Nil => Err(FuncError::new(warn_wrap(warn))),
        Value::String(s) if s.is_empty() => Err(FuncError::new(warn_wrap(warn))),
        v => Ok(v.clone()),
    }
}

/// `fail MESSAGE`.
fn fail(_: &mut Context<'_>, args: &[Value]) -> Result<Value, FuncError> {
    arity("fail", args, 1)?;
    Err(FuncError::new(warn_wrap(string(&args[0])?)))
}

/// `lookup`: `helm template` has no cluster, so always an empty map.
fn lookup(_: &mut Context<'_>, args: &[Value]) -> Result<Value, FuncError> {
    arity("lookup", args, 4)?;
    for a in args {
        string(a)?;
    }
    Ok(Value::Map(Default::default()))
}

/// Helm's `toJson`: `json.Marshal`, "" on error.
fn to_json(_: &mut Context<'_>, args: &[Value]) -> Result<Value, FuncError> {
    arity("toJson", args, 1)?;
    Ok(Value::from(
        caravel_sprig::json::to_json(&args[0], None, true).unwrap_or_default(),
    ))
}
