//! The repo-server's error type. Variants say which side is at fault (the
//! request, the revision, the remote, the repository content), which is all
//! the gRPC layer needs to pick a status code. Messages are built from
//! already-redacted text: no variant ever holds a credential.

/// Everything that can go wrong while serving a request.
///
/// Cloneable (messages only) so one failed render can be handed to every
/// coalesced caller waiting on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request itself is malformed: missing fields, bad paths, bad JSON.
    #[error("{0}")]
    InvalidArgument(String),
    /// The revision does not exist in the repository.
    #[error("{0}")]
    RevisionNotFound(String),
    /// Talking to the Git remote or reading the local mirror failed.
    #[error("{0}")]
    Git(String),
    /// An ssh server's host key is unknown, changed or revoked: fixed by
    /// adding its key to the known hosts (or marking the repository
    /// insecure), not by retrying.
    #[error("{0}")]
    HostKey(String),
    /// The repository content at the revision cannot be rendered.
    #[error("{0}")]
    Render(String),
    /// The source asks for something this repo-server does not do yet.
    #[error("{0}")]
    Unsupported(String),
    /// Setting up the server failed (cache directory, Redis URL, listener).
    #[error("{0}")]
    Startup(String),
    /// A bug or a crashed worker task.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// Short label for logs and metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "invalid_argument",
            Error::RevisionNotFound(_) => "revision_not_found",
            Error::Git(_) => "git",
            Error::HostKey(_) => "host_key",
            Error::Render(_) => "render",
            Error::Unsupported(_) => "unsupported",
            Error::Startup(_) => "startup",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        if e.is_panic() {
            Error::Internal("a repository worker task panicked".to_owned())
        } else {
            Error::Internal("a repository worker task was cancelled".to_owned())
        }
    }
}

impl From<caravel_chart_source::Error> for Error {
    /// Chart repository failures: unreachable or failing servers are the
    /// remote's fault (retried, like Git), a missing chart or version is a
    /// revision not found, anything else is a bad request. Messages are
    /// already redacted by the chart source.
    fn from(e: caravel_chart_source::Error) -> Self {
        use caravel_chart_source::Error as E;
        let message = e.to_string();
        match e {
            _ if e.is_transient() => Error::Git(message),
            E::ChartNotFound { .. } | E::VersionNotFound { .. } => Error::RevisionNotFound(message),
            E::InvalidRepoUrl { .. } | E::InvalidChartName { .. } | E::InvalidRevision { .. } => {
                Error::InvalidArgument(message)
            }
            _ => Error::Git(message),
        }
    }
}
