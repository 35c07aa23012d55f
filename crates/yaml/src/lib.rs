//! The one module that touches `serde_yaml`: multi-document parsing with
//! line numbers in errors, and rendering. Everything else goes through here,
//! so the YAML library can be swapped in one place.

pub mod events;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A YAML error with the 1-based line and column where it was found.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl From<serde_yaml::Error> for YamlError {
    fn from(e: serde_yaml::Error) -> Self {
        let loc = e.location();
        let message = match &loc {
            Some(l) => format!(
                "line {} column {}: {}",
                l.line(),
                l.column(),
                strip_location(&e.to_string())
            ),
            None => e.to_string(),
        };
        Self {
            message,
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
        }
    }
}

/// serde_yaml appends " at line X column Y"; we put the location first.
fn strip_location(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// Parses every document of a (multi-document) YAML stream as JSON values.
/// Empty documents (`---` alone, comments only) are skipped. serde_yaml
/// bounds alias expansion, so a "billion laughs" document is an error.
pub fn from_str_multi(input: &str) -> Result<Vec<Value>, YamlError> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(input) {
        let value = Value::deserialize(doc)?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Parses one YAML document.
pub fn from_str<T: DeserializeOwned>(input: &str) -> Result<T, YamlError> {
    Ok(serde_yaml::from_str(input)?)
}

/// Renders a value as YAML.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, YamlError> {
    Ok(serde_yaml::to_string(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_streams_skip_empty_documents() -> Result<(), YamlError> {
        let docs = from_str_multi("---\na: 1\n---\n# nothing\n---\nb: [1, 2]\n")?;
        assert_eq!(
            docs,
            vec![
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": [1, 2]})
            ]
        );
        Ok(())
    }

    #[test]
    fn errors_name_the_line() {
        let err = from_str_multi("a: 1\nb: [unclosed\nc: 3\n");
        let Err(err) = err else {
            panic!("invalid yaml parsed")
        };
        assert!(err.line.is_some(), "{err}");
        assert!(err.message.starts_with("line "), "{err}");
    }

    #[test]
    fn billion_laughs_is_rejected() {
        let mut doc = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let mut prev = 'a';
        for c in 'b'..='j' {
            doc.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
            prev = c;
        }
        assert!(from_str_multi(&doc).is_err());
    }
}
