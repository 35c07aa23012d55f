//! Errors, worded as Go's `text/template` words them.

use std::fmt;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `template: NAME:LINE: MESSAGE`.
    #[error("template: {name}:{line}: {message}")]
    Parse {
        name: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Exec(Box<ExecError>),
}

impl Error {
    /// Whether a recursion or output limit was exceeded.
    pub fn is_limit(&self) -> bool {
        matches!(self, Error::Exec(e) if e.limit)
    }
}

/// Where in a text an execution error happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The name of the text the failing node was parsed from.
    pub parse_name: String,
    pub line: usize,
    /// 0-based byte offset in the line, as Go reports it.
    pub col: usize,
}

/// An execution error: `template: FILE:LINE:COL: executing "NAME" at <NODE>: MESSAGE`.
#[derive(Debug, Clone)]
pub struct ExecError {
    /// The template being executed.
    pub template: String,
    pub location: Option<Location>,
    /// The source text of the node being evaluated.
    pub context: String,
    pub message: String,
    /// Set when a recursion depth or output size limit was exceeded.
    pub limit: bool,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(
                f,
                "template: {}:{}:{}: executing {} at <{}>: {}",
                loc.parse_name,
                loc.line,
                loc.col,
                crate::format::quote(&self.template, false),
                self.context,
                self.message
            ),
            None => write!(f, "template: {}", self.message),
        }
    }
}

/// An error returned by a template function or method; execution reports
/// it as `error calling NAME: MESSAGE`.
#[derive(Debug, Clone)]
pub struct FuncError {
    pub message: String,
    /// A template error from a nested execution (`include`, `tpl`); a limit
    /// error inside is passed through unwrapped.
    pub source: Option<Box<Error>>,
}

impl FuncError {
    pub fn new(message: impl Into<String>) -> Self {
        FuncError {
            message: message.into(),
            source: None,
        }
    }
}

impl fmt::Display for FuncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for FuncError {
    fn from(e: Error) -> Self {
        FuncError {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl From<String> for FuncError {
    fn from(message: String) -> Self {
        FuncError::new(message)
    }
}

impl From<&str> for FuncError {
    fn from(message: &str) -> Self {
        FuncError::new(message)
    }
}
