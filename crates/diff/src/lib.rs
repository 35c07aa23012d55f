//! Comparing desired with live Kubernetes objects, and showing the
//! difference, the way Argo CD does:
//!
//! - [`normalize`] drops what is never desired state (server-set metadata,
//!   `status`, kubectl's last-applied annotation) and folds a Secret's
//!   `stringData` into `data`; [`is_equal`] compares two normalized objects.
//! - [`ignore_json_pointers`] removes the fields an Application's
//!   `ignoreDifferences[].jsonPointers` name.
//! - [`mask_secrets`] hides Secret values from both sides of a diff while a
//!   changed value still shows as changed.
//! - [`unified_diff`] renders live and target as YAML and diffs them.

mod normalize;
mod pointer;
mod render;
mod secret;

pub use normalize::{is_equal, normalize, LAST_APPLIED_ANNOTATION};
pub use pointer::{ignore_json_pointers, parse_json_pointer, remove_json_pointer};
pub use render::{to_sorted_yaml, unified_diff};
pub use secret::{mask_secret, mask_secrets, MASK};

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// A JSON pointer (RFC 6901) that cannot be parsed.
    #[error("invalid json pointer {pointer:?}: {reason}")]
    InvalidJsonPointer {
        pointer: String,
        reason: &'static str,
    },
}
