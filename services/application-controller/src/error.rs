//! Controller errors. Reconcile errors become requeues with backoff, never
//! crashes; `metric_label` names each for logs and counters.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    #[error("repo-server: {0}")]
    RepoServer(String),
    #[error("invalid manifest: {0}")]
    Manifest(String),
    #[error("unknown resource kind {0}")]
    UnknownKind(String),
    #[error("invalid application spec: {0}")]
    InvalidSpec(String),
    #[error("live state: {0}")]
    LiveState(String),
    #[error("serializing: {0}")]
    Json(#[from] serde_json::Error),
    #[error("ignoreDifferences: {0}")]
    Ignore(#[from] caravel_diff::DiffError),
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::RepoServer(_) => "repo_server",
            Error::Manifest(_) => "manifest",
            Error::UnknownKind(_) => "unknown_kind",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::LiveState(_) => "live_state",
            Error::Json(_) => "json",
            Error::Ignore(_) => "ignore_differences",
        }
    }
}
