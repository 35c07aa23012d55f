//! Health assessment of live Kubernetes objects, as Argo CD does it
//! (gitops-engine `pkg/health` plus the Lua checks Argo CD ships for
//! `batch/CronJob` and `argoproj.io/Application`).
//!
//! - [`assess`] answers one object's health, or `None` for a kind without a
//!   rule (Argo CD leaves such a resource's health empty);
//!   [`assess_or_healthy`] counts those as Healthy once they exist.
//! - Rules live in a [`HealthRegistry`] keyed by (API group, kind), so a new
//!   kind is one more table row (see `rules.rs`), not a change to the engine.
//! - [`aggregate`] folds resource healths into an application's health: the
//!   worst one wins, and the message names the resources responsible.

mod aggregate;
mod code;
mod fields;
mod registry;
mod rules;

pub use aggregate::aggregate;
pub use code::{worse, Health, HealthCode, HealthError};
pub use registry::{builtin, group_kind, HealthRegistry, HealthRule, HOOK_FINALIZER};

use serde_json::Value;

/// The health of a live object under Argo CD's built-in rules, or `None` when
/// no rule covers its kind.
pub fn assess(obj: &Value) -> Option<Health> {
    builtin().assess(obj)
}

/// Like [`assess`], but a kind without a rule (ConfigMap, Secret, RBAC, …)
/// is Healthy: it exists, which is all there is to know about it.
pub fn assess_or_healthy(obj: &Value) -> Health {
    builtin().assess_or_healthy(obj)
}
