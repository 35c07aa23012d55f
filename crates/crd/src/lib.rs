//! Argo CD's resource model (`argoproj.io/v1alpha1`), the names Argo CD uses
//! for annotations, options and defaults, and the CRD manifests generated
//! from these types.

pub mod app_project;
pub mod application;
pub mod crd;
mod schema;
pub mod tracking;

pub use app_project::AppProject;
pub use application::Application;

pub const GROUP: &str = "argoproj.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// The namespace Argo CD (and Caravel) keep Applications in by default.
pub const DEFAULT_NAMESPACE: &str = "argocd";
/// `destination.server` naming the cluster the controller runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// `destination.name` naming the cluster the controller runs in.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
pub const DEFAULT_REVISION_HISTORY_LIMIT: i64 = 10;

/// Annotations Argo CD defines, by their Argo CD names.
pub mod annotations {
    pub const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
    pub const REFRESH: &str = "argocd.argoproj.io/refresh";
    pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
    pub const HOOK: &str = "argocd.argoproj.io/hook";
    pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
    pub const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
    pub const COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";
    pub const DELETION_APPROVED: &str = "argocd.argoproj.io/deletion-approved";
    pub const MANIFEST_GENERATE_PATHS: &str = "argocd.argoproj.io/manifest-generate-paths";
    /// Label used by the `label` tracking method.
    pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
}

/// Finalizers Argo CD defines.
pub mod finalizers {
    pub const RESOURCES: &str = "resources-finalizer.argocd.argoproj.io";
    pub const RESOURCES_BACKGROUND: &str = "resources-finalizer.argocd.argoproj.io/background";
    /// Argo CD writes this variant when foreground deletion is asked for
    /// explicitly; it means the same as [`RESOURCES`].
    pub const RESOURCES_FOREGROUND: &str = "resources-finalizer.argocd.argoproj.io/foreground";
}

/// Sync status values.
pub mod sync_status {
    pub const SYNCED: &str = "Synced";
    pub const OUT_OF_SYNC: &str = "OutOfSync";
    pub const UNKNOWN: &str = "Unknown";
}

/// Operation phases.
pub mod phase {
    pub const RUNNING: &str = "Running";
    pub const TERMINATING: &str = "Terminating";
    pub const FAILED: &str = "Failed";
    pub const ERROR: &str = "Error";
    pub const SUCCEEDED: &str = "Succeeded";
}

/// Application condition types.
pub mod condition {
    pub const COMPARISON_ERROR: &str = "ComparisonError";
    pub const SYNC_ERROR: &str = "SyncError";
    pub const INVALID_SPEC_ERROR: &str = "InvalidSpecError";
    pub const SHARED_RESOURCE_WARNING: &str = "SharedResourceWarning";
    pub const ORPHANED_RESOURCE_WARNING: &str = "OrphanedResourceWarning";
}
