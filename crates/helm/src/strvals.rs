//! Helm's `--set` / `--set-string` syntax (Helm's `strvals` package),
//! parsed into a values map: `a.b=c` nests, `a[1]=x` indexes a list
//! (filling the gap with nulls), `a={x,y}` is a list, `\` escapes the next
//! character (`a\.b=c` is the key `a.b`, `\,` a literal comma), commas
//! separate assignments. With `--set`, `true`/`false`/`null` and decimal
//! integers without a leading zero are typed; with `--set-string` every
//! value is a string.

use serde_json::{Map, Value};

use crate::HelmError;

/// Helm's bounds: list indexes and key nesting.
const MAX_INDEX: usize = 65536;
const MAX_NESTED_NAME_LEVEL: usize = 30;

/// `--set` (typed values) or `--set-string` (strings only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    Typed,
    String,
}

/// Parses one `--set` argument into `into`, as `strvals.ParseInto` does.
pub fn parse_set(
    expr: &str,
    into: &mut Map<String, Value>,
    kind: SetKind,
) -> Result<(), HelmError> {
    let mut p = Parser {
        chars: expr.chars().collect(),
        pos: 0,
        kind,
    };
    loop {
        match p.key(into, 0) {
            Ok(()) => continue,
            Err(Stop::Eof) => return Ok(()),
            Err(Stop::Error(e)) => return Err(HelmError::Set(e)),
        }
    }
}

/// Why parsing stopped: the input ended (normal), or an error.
enum Stop {
    Eof,
    Error(String),
}

fn err<T>(message: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Error(message.into()))
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    kind: SetKind,
}

impl Parser {
    fn read(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    /// Characters up to (not including) one of `stop`, with `\` escapes;
    /// returns them and the stop character, or `None` at the end.
    fn until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let mut out = String::new();
        loop {
            match self.read() {
                None => return (out, None),
                Some(c) if stop.contains(&c) => return (out, Some(c)),
                Some('\\') => match self.read() {
                    None => return (out, None),
                    Some(next) => out.push(next),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn typed(&self, raw: &str) -> Value {
        if self.kind == SetKind::String {
            return Value::String(raw.to_owned());
        }
        if raw.eq_ignore_ascii_case("true") {
            return Value::Bool(true);
        }
        if raw.eq_ignore_ascii_case("false") {
            return Value::Bool(false);
        }
        if raw.eq_ignore_ascii_case("null") {
            return Value::Null;
        }
        if raw == "0" {
            return Value::from(0i64);
        }
        // Integers without a leading zero (so "0123" stays a string).
        if !raw.starts_with('0') {
            if let Ok(i) = raw.parse::<i64>() {
                // Go's ParseInt takes an optional sign and digits only.
                if raw
                    .trim_start_matches(['+', '-'])
                    .chars()
                    .all(|c| c.is_ascii_digit())
                {
                    return Value::from(i);
                }
            }
        }
        Value::String(raw.to_owned())
    }

    fn key(&mut self, data: &mut Map<String, Value>, level: usize) -> Result<(), Stop> {
        let (k, last) = self.until(&['=', '[', ',', '.']);
        match last {
            None => {
                if k.is_empty() {
                    Err(Stop::Eof)
                } else {
                    err(format!("key \"{k}\" has no value"))
                }
            }
            Some('[') => {
                let i = self.index()?;
                let mut list = match data.get(&k) {
                    None => Vec::new(),
                    Some(Value::Array(l)) => l.clone(),
                    Some(_) => return err(format!("unable to parse key: {k} is not a list")),
                };
                let result = self.list_item(&mut list, i, level);
                set(data, &k, Value::Array(list));
                result
            }
            Some('=') => match self.value_list()? {
                Some(list) => {
                    set(data, &k, Value::Array(list));
                    Ok(())
                }
                None => {
                    let (raw, end) = self.until(&[',']);
                    if raw.is_empty() && end.is_none() {
                        set(data, &k, Value::String(String::new()));
                        return Err(Stop::Eof);
                    }
                    set(data, &k, self.typed(&raw));
                    if end.is_none() {
                        Err(Stop::Eof)
                    } else {
                        Ok(())
                    }
                }
            },
            Some(',') => {
                set(data, &k, Value::String(String::new()));
                err(format!("key \"{k}\" has no value (cannot end with ,)"))
            }
            Some(_) => {
                // '.': a nested map.
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                    ));
                }
                let mut inner = match data.get(&k) {
                    None => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(_) => return err(format!("unable to parse key: {k} is not a map")),
                };
                let result = self.key(&mut inner, level);
                if matches!(result, Ok(())) && inner.is_empty() {
                    return err(format!("key map \"{k}\" has no value"));
                }
                if !inner.is_empty() {
                    set(data, &k, Value::Object(inner));
                }
                result
            }
        }
    }

    fn index(&mut self) -> Result<usize, Stop> {
        let (v, last) = self.until(&[']']);
        if last.is_none() {
            return Err(Stop::Eof);
        }
        match v.parse::<i64>() {
            Ok(i) if i < 0 => err(format!("negative {i} index not allowed")),
            Ok(i) => usize::try_from(i).or_else(|_| err("index out of range")),
            Err(_) => err(format!(
                "error parsing index: strconv.Atoi: parsing \"{v}\": invalid syntax"
            )),
        }
    }

    fn list_item(&mut self, list: &mut Vec<Value>, i: usize, level: usize) -> Result<(), Stop> {
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return err(format!("unexpected data at end of array index: \"{k}\""));
        }
        match last {
            None => Err(Stop::Eof),
            Some('=') => match self.value_list()? {
                Some(values) => set_index(list, i, Value::Array(values)),
                None => {
                    let (raw, end) = self.until(&[',']);
                    if raw.is_empty() && end.is_none() {
                        set_index(list, i, Value::String(String::new()))?;
                        return Err(Stop::Eof);
                    }
                    set_index(list, i, self.typed(&raw))?;
                    if end.is_none() {
                        Err(Stop::Eof)
                    } else {
                        Ok(())
                    }
                }
            },
            Some('[') => {
                let next = self.index()?;
                let mut inner = match list.get(i) {
                    Some(Value::Array(l)) => l.clone(),
                    Some(Value::Null) | None => Vec::new(),
                    Some(_) => return err("unable to parse key: not a list"),
                };
                let result = self.list_item(&mut inner, next, level);
                if let Err(Stop::Error(e)) = result {
                    return Err(Stop::Error(e));
                }
                set_index(list, i, Value::Array(inner))?;
                result
            }
            Some(_) => {
                // '.': a map inside the list.
                let mut inner = match list.get(i) {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                let result = self.key(&mut inner, level);
                if let Err(Stop::Error(e)) = result {
                    return Err(Stop::Error(e));
                }
                set_index(list, i, Value::Object(inner))?;
                result
            }
        }
    }

    /// `{a,b,c}` after `=`, or `None` when the value is not a list.
    fn value_list(&mut self) -> Result<Option<Vec<Value>>, Stop> {
        match self.read() {
            None => return Ok(None),
            Some('{') => {}
            Some(_) => {
                self.unread();
                return Ok(None);
            }
        }
        let mut list = Vec::new();
        loop {
            let (raw, last) = self.until(&[',', '}']);
            match last {
                None => return err("list must terminate with '}'"),
                Some('}') => {
                    if let Some(c) = self.read() {
                        if c != ',' {
                            self.unread();
                        }
                    }
                    list.push(self.typed(&raw));
                    return Ok(Some(list));
                }
                Some(_) => list.push(self.typed(&raw)),
            }
        }
    }
}

fn set(data: &mut Map<String, Value>, key: &str, value: Value) {
    if !key.is_empty() {
        data.insert(key.to_owned(), value);
    }
}

fn set_index(list: &mut Vec<Value>, index: usize, value: Value) -> Result<(), Stop> {
    if index > MAX_INDEX {
        return err(format!(
            "index of {index} is greater than maximum supported index of {MAX_INDEX}"
        ));
    }
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    list[index] = value;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(expr: &str) -> Result<Value, HelmError> {
        let mut m = Map::new();
        parse_set(expr, &mut m, SetKind::Typed)?;
        Ok(Value::Object(m))
    }

    fn set_string(expr: &str) -> Value {
        let mut m = Map::new();
        parse_set(expr, &mut m, SetKind::String).unwrap();
        Value::Object(m)
    }

    #[test]
    fn assignments_nest_and_type_their_values() {
        let cases = [
            ("name=value", json!({"name": "value"})),
            (
                "long_int_string=1234567890",
                json!({"long_int_string": 1234567890}),
            ),
            ("boolean=true", json!({"boolean": true})),
            ("is_null=null", json!({"is_null": null})),
            ("zero=0", json!({"zero": 0})),
            ("leading_zero=0123", json!({"leading_zero": "0123"})),
            ("float=1.5", json!({"float": "1.5"})),
            ("negative=-12", json!({"negative": -12})),
            (
                "name1=value1,name2=value2",
                json!({"name1": "value1", "name2": "value2"}),
            ),
            ("outer.inner=value", json!({"outer": {"inner": "value"}})),
            (
                "outer.middle.inner=value",
                json!({"outer": {"middle": {"inner": "value"}}}),
            ),
            (
                "name1.name2=one,name1.name3=two",
                json!({"name1": {"name2": "one", "name3": "two"}}),
            ),
            ("empty=", json!({"empty": ""})),
        ];
        for (expr, want) in cases {
            assert_eq!(set(expr).unwrap(), want, "{expr}");
        }
    }

    #[test]
    fn escapes_keep_dots_commas_and_equals_signs() {
        assert_eq!(
            set(r"nodeSelector.kubernetes\.io/role=master").unwrap(),
            json!({"nodeSelector": {"kubernetes.io/role": "master"}})
        );
        assert_eq!(set(r"name=one\,two").unwrap(), json!({"name": "one,two"}));
        assert_eq!(set(r"name=one\=two").unwrap(), json!({"name": "one=two"}));
        assert_eq!(set(r"a=b\\c").unwrap(), json!({"a": r"b\c"}));
    }

    #[test]
    fn lists_by_braces_and_by_index() {
        assert_eq!(
            set("list={a,b,c}").unwrap(),
            json!({"list": ["a", "b", "c"]})
        );
        assert_eq!(set("list={1,true}").unwrap(), json!({"list": [1, true]}));
        assert_eq!(
            set("list={a,b},x=y").unwrap(),
            json!({"list": ["a", "b"], "x": "y"})
        );
        assert_eq!(set("list[0]=foo").unwrap(), json!({"list": ["foo"]}));
        assert_eq!(
            set("list[2]=foo").unwrap(),
            json!({"list": [null, null, "foo"]})
        );
        assert_eq!(
            set("list[0].name=a,list[0].port=80,list[1].name=b").unwrap(),
            json!({"list": [{"name": "a", "port": 80}, {"name": "b"}]})
        );
        assert_eq!(
            set("nested[0][1]=x").unwrap(),
            json!({"nested": [[null, "x"]]})
        );
        assert_eq!(set("a.b[0]=1").unwrap(), json!({"a": {"b": [1]}}));
    }

    #[test]
    fn set_string_keeps_every_value_a_string() {
        assert_eq!(
            set_string("a=true,b=12,c=null,d={1,2}"),
            json!({"a": "true", "b": "12", "c": "null", "d": ["1", "2"]})
        );
    }

    #[test]
    fn repeated_sets_merge_into_the_same_map() {
        let mut m = Map::new();
        parse_set("image.repository=nginx", &mut m, SetKind::Typed).unwrap();
        parse_set("image.tag=1.25", &mut m, SetKind::String).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"image": {"repository": "nginx", "tag": "1.25"}})
        );
    }

    #[test]
    fn malformed_input_is_an_error_as_in_helm() {
        let errors = [
            ("name", "key \"name\" has no value"),
            ("name1=value1,name2", "key \"name2\" has no value"),
            ("name,", "key \"name\" has no value (cannot end with ,)"),
            ("list[-1]=x", "negative -1 index not allowed"),
            ("list[a]=x", "error parsing index"),
            ("list[0]x=y", "unexpected data at end of array index"),
            ("list={a,b", "list must terminate with '}'"),
            ("list[70000]=x", "greater than maximum supported index"),
        ];
        for (expr, want) in errors {
            let e = set(expr).unwrap_err().to_string();
            assert!(e.contains(want), "{expr}: {e}");
        }
        assert_eq!(
            set("name.=x").unwrap(),
            json!({}),
            "as in Helm, an empty nested key at the end sets nothing"
        );
        assert!(set("name.=x,b=c")
            .unwrap_err()
            .to_string()
            .contains("key map \"name\" has no value"));
        let deep = format!("{}=x", vec!["a"; 40].join("."));
        assert!(set(&deep).unwrap_err().to_string().contains("nested level"));
    }
}
