//! Comparing desired with live Kubernetes objects, and showing the
//! difference, the way Argo CD does:
//!
//! - [`normalize`] drops what is never desired state (server-set metadata,
//!   `status`, kubectl's last-applied annotation) and folds a Secret's
//!   `stringData` into `data`; [`is_equal`] compares two normalized objects.
//! - [`IgnoreRules`] applies an Application's `ignoreDifferences` (JSON
//!   pointers, jq path expressions, managed-fields managers) to an object
//!   before comparing it, and to a desired object before a sync with
//!   `RespectIgnoreDifferences=true`; [`ignore_json_pointers`] is the
//!   pointer part on its own.
//! - [`mask_secrets`] hides Secret values from both sides of a diff while a
//!   changed value still shows as changed.
//! - [`unified_diff`] renders live and target as YAML and diffs them.

mod ignore;
mod normalize;
mod pointer;
mod render;
mod secret;

pub use ignore::{
    managed_fields, parse_fields_v1, FieldKey, FieldPath, FieldSet, IgnoreRules, PathSegment,
    DEFAULT_JQ_TIMEOUT,
};
pub use normalize::{is_equal, normalize, LAST_APPLIED_ANNOTATION};
pub use pointer::{ignore_json_pointers, parse_json_pointer, remove_json_pointer};
pub use render::{to_sorted_yaml, unified_diff};
pub use secret::{mask_secret, mask_secrets, MASK};

use std::time::Duration;

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// A JSON pointer (RFC 6901) that cannot be parsed.
    #[error("invalid json pointer {pointer:?}: {reason}")]
    InvalidJsonPointer {
        pointer: String,
        reason: &'static str,
    },
    /// A `jqPathExpressions` entry that does not compile.
    #[error("invalid jq path expression {expression:?}: {reason}")]
    InvalidJqExpression { expression: String, reason: String },
    /// A `group` or `kind` that is not a valid glob pattern.
    #[error("invalid group/kind pattern {pattern:?}: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    /// A jq path expression that ran past its time limit on an object.
    #[error("jq path expression {expression:?} did not finish within {limit:?}")]
    JqTimeout { expression: String, limit: Duration },
    /// A jq path expression stopped for using too much of something other
    /// than time.
    #[error("jq path expression {expression:?} stopped: {limit}")]
    JqLimitExceeded { expression: String, limit: String },
    /// The thread that evaluates jq expressions could not do its job.
    #[error("jq evaluation failed: {reason}")]
    JqWorker { reason: String },
    /// A `metadata.managedFields` entry whose `fieldsV1` cannot be read.
    #[error("invalid managedFields: {reason}")]
    InvalidManagedFields { reason: String },
}
