//! Writing to stdout without panicking when the reader has gone away
//! (`caravel app list | head`), and the JSON/YAML renderings.

use std::io::Write;

use serde_json::Value;

use crate::error::CliError;

/// Writes `text` to stdout as is.
pub fn print(text: &str) {
    if text.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    // A closed pipe means nobody reads any more; there is nothing to report.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Pretty JSON with a final newline. The server sends objects with sorted
/// keys, so this is the object exactly as received.
pub fn json(value: &Value) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| CliError::Output(e.to_string()))
}

pub fn yaml(value: &Value) -> Result<String, CliError> {
    caravel_yaml::to_string(value).map_err(|e| CliError::Output(e.to_string()))
}
