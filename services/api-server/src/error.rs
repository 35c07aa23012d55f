//! The api-server's error type and its one mapping onto gRPC status codes.
//! Domain code returns [`Error`]; only `impl From<Error> for Status` decides
//! what a caller sees.

use tonic::{Code, Status};

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (bad names, unknown refresh type, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// The Application does not exist.
    #[error("application {name:?} not found")]
    NotFound { namespace: String, name: String },
    /// A rollback names a history id the Application does not have.
    #[error("application {name} does not have deployment with id {id}")]
    DeploymentNotFound { name: String, id: i64 },
    /// The request is valid but the Application's state forbids it
    /// (e.g. another operation is already in progress).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A bounded wait ran out (e.g. the controller did not refresh in time).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A dependency (Redis, a watch) cannot answer now; retrying may help.
    #[error("{0}")]
    Unavailable(String),
    /// A Kubernetes API call failed; `context` says what was being done.
    #[error("{context}: {}", kube_message(.source))]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    /// Setting up the server failed (kube config, Redis URL, listener).
    #[error("{0}")]
    Startup(String),
    /// A bug: data that should be well-formed is not.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// Short label for logs and metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "invalid_argument",
            Error::NotFound { .. } | Error::DeploymentNotFound { .. } => "not_found",
            Error::FailedPrecondition(_) => "failed_precondition",
            Error::DeadlineExceeded(_) => "deadline_exceeded",
            Error::Unavailable(_) => "unavailable",
            Error::Kube { .. } => "kube",
            Error::Startup(_) => "startup",
            Error::Internal(_) => "internal",
        }
    }

    /// The gRPC code this error maps to.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound { .. } | Error::DeploymentNotFound { .. } => Code::NotFound,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Kube { source, .. } => kube_code(source),
            Error::Startup(_) | Error::Internal(_) => Code::Internal,
        }
    }

    pub(crate) fn kube(context: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            context: context.into(),
            source,
        }
    }

    /// Whether Kubernetes refused a write because the object changed since
    /// it was read (409 Conflict on a `resourceVersion` precondition).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube { source: kube::Error::Api(status), .. } if status.code == 409)
    }

    /// A kube error on one named Application, with 404 turned into
    /// [`Error::NotFound`].
    pub(crate) fn on_app(namespace: &str, name: &str, action: &str, source: kube::Error) -> Self {
        match &source {
            kube::Error::Api(status) if status.code == 404 => Error::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
            _ => Error::kube(format!("{action} application {name:?}"), source),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        Status::new(e.code(), e.to_string())
    }
}

/// Kubernetes answers mapped to what they mean for our caller.
fn kube_code(e: &kube::Error) -> Code {
    match e {
        kube::Error::Api(status) => match status.code {
            400 | 422 => Code::InvalidArgument,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            // A conflicting concurrent write (resourceVersion precondition).
            409 => Code::Aborted,
            410 => Code::Aborted,
            429 => Code::Unavailable,
            500..=599 => Code::Unavailable,
            _ => Code::Internal,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => Code::Unavailable,
        _ => Code::Internal,
    }
}

/// The API server's own message rather than kube's debug rendering.
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("kubernetes answered {}", status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            format!("kubernetes api unreachable: {e}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: message.to_owned(),
            ..Default::default()
        }))
    }

    #[test]
    fn a_missing_application_is_not_found_with_a_plain_message() {
        let status = Status::from(Error::on_app(
            "argocd",
            "x",
            "getting",
            api_error(404, "nope"),
        ));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "application \"x\" not found");
    }

    #[test]
    fn kubernetes_answers_map_onto_grpc_codes() {
        let cases = [
            (400, Code::InvalidArgument),
            (422, Code::InvalidArgument),
            (403, Code::PermissionDenied),
            (409, Code::Aborted),
            (429, Code::Unavailable),
            (503, Code::Unavailable),
            (418, Code::Internal),
        ];
        for (http, code) in cases {
            let status = Status::from(Error::kube("patching", api_error(http, "boom")));
            assert_eq!(status.code(), code, "http {http}");
            assert_eq!(status.message(), "patching: boom");
        }
    }

    #[test]
    fn an_unknown_history_id_is_not_found_with_argo_cds_message() {
        let status = Status::from(Error::DeploymentNotFound {
            name: "guestbook".to_owned(),
            id: 7,
        });
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.message(),
            "application guestbook does not have deployment with id 7"
        );
    }

    #[test]
    fn only_a_409_is_a_conflict() {
        assert!(Error::kube("patching", api_error(409, "changed")).is_conflict());
        assert!(!Error::kube("patching", api_error(422, "invalid")).is_conflict());
        assert!(!Error::FailedPrecondition("x".to_owned()).is_conflict());
    }

    #[test]
    fn domain_errors_keep_their_message() {
        let status = Status::from(Error::FailedPrecondition(
            "another operation is already in progress".to_owned(),
        ));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "another operation is already in progress");
    }
}
