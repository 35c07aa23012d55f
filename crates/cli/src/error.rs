//! Errors of the command line and how they read: one line, no debug
//! rendering, and the exit code they end the process with.

use tonic::{Code, Status};

/// Exit code of usage and API errors.
pub const EXIT_ERROR: u8 = 2;
/// Exit code of a failed sync, a found diff, or a sync that timed out.
pub const EXIT_FAILED: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The api-server answered with an error.
    #[error("{}", describe(.status, .server))]
    Api { status: Status, server: String },
    /// The command cannot run as asked (conflicting flags, nothing to roll
    /// back to).
    #[error("{0}")]
    Invalid(String),
    /// `--server` is not a usable address.
    #[error("invalid --server {server:?}: {reason}")]
    Server { server: String, reason: String },
    /// The api-server sent something this command line cannot read.
    #[error("cannot read the api-server's answer: {0}")]
    Decode(String),
    /// Rendering the output failed.
    #[error("rendering output: {0}")]
    Output(String),
    /// Following an operation took longer than `--timeout`.
    #[error("{0}")]
    Timeout(String),
    /// The followed operation or application went away.
    #[error("{0}")]
    Gone(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Timeout(_) => EXIT_FAILED,
            _ => EXIT_ERROR,
        }
    }

    pub fn api(status: Status, server: &str) -> Self {
        CliError::Api {
            status,
            server: server.to_owned(),
        }
    }
}

/// The server's message for errors it sent (`application "x" not found`);
/// for transport failures, which address could not be reached.
fn describe(status: &Status, server: &str) -> String {
    let message = status.message();
    // Statuses synthesised from transport failures carry their cause.
    let transport = std::error::Error::source(status).is_some();
    match status.code() {
        Code::Unavailable | Code::Unknown | Code::Internal if transport => {
            format!(
                "cannot reach the api-server at {server}: {}",
                cause_chain(status)
            )
        }
        code if message.is_empty() => format!("the api-server answered {code:?}"),
        _ => message.to_owned(),
    }
}

/// The status message and each distinct cause below it
/// (`tcp connect error: Connection refused (os error 111)`).
fn cause_chain(status: &Status) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !status.message().is_empty() {
        parts.push(status.message().to_owned());
    }
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    if parts.is_empty() {
        "connection failed".to_owned()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_print_the_servers_message() {
        let e = CliError::api(
            Status::not_found("application \"x\" not found"),
            "127.0.0.1:8080",
        );
        assert_eq!(e.to_string(), "application \"x\" not found");
        assert_eq!(e.exit_code(), EXIT_ERROR);
    }

    #[test]
    fn errors_without_a_message_name_their_code() {
        let e = CliError::api(Status::new(Code::PermissionDenied, ""), "x");
        assert_eq!(e.to_string(), "the api-server answered PermissionDenied");
    }

    #[test]
    fn a_timed_out_sync_exits_like_a_failed_one() {
        assert_eq!(CliError::Timeout("t".into()).exit_code(), EXIT_FAILED);
    }
}
