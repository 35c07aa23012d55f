//! Following a requested sync (or rollback) until its operation finishes:
//! through the Watch stream, or by polling Get when watching is not
//! possible. Prints each resource result as the controller reports it
//! (phase, wave by wave, hooks with their phase) and the operation's
//! message whenever it changes.

use std::collections::HashMap;
use std::time::Duration;

use caravel_crd::application::{Application, Operation};
use caravel_crd::phase;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::client::{ApiClient, App, AppRef};
use crate::error::CliError;
use crate::render::{self, SyncResultRow};

/// Pause between two Gets when polling.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Clock difference between this machine and the controller tolerated when
/// telling our operation from an earlier one by its start time.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(5);

/// Where the requested operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpStatus {
    /// Requested, not picked up by the controller yet.
    Pending,
    Running,
    /// Finished: `status.operationState` is this operation's outcome.
    Finished,
    /// `.operation` was removed without the operation having run.
    Vanished,
}

/// The operation we requested is the one `.operation` held right after the
/// Sync call (`requested`); the controller copies it into
/// `status.operationState.operation` and clears `.operation` when done.
pub fn operation_status(
    app: &Application,
    requested: Option<&Operation>,
    requested_at: DateTime<Utc>,
) -> OpStatus {
    let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    let ours = |s: &caravel_crd::application::OperationState| {
        requested.is_some_and(|r| &s.operation == r)
            || render::parse_time(&s.started_at).is_some_and(|t| t >= requested_at - CLOCK_SKEW)
    };
    match (&app.operation, state) {
        (Some(op), Some(s)) if s.phase == phase::RUNNING && &s.operation == op => OpStatus::Running,
        (Some(_), _) => OpStatus::Pending,
        (None, Some(s)) if s.phase == phase::RUNNING => OpStatus::Running,
        (None, Some(s)) if s.finished_at.is_some() && ours(s) => OpStatus::Finished,
        (None, _) => OpStatus::Vanished,
    }
}

/// What has been printed so far, so only changes are printed again.
#[derive(Debug, Default)]
pub struct Progress {
    /// Per result identity, the (status, hook phase) last printed.
    results: HashMap<String, (String, String)>,
    operation: Option<(String, String)>,
    retry_count: i64,
    header_printed: bool,
    widths: Vec<usize>,
}

impl Progress {
    /// Text to print for this state of the app (empty when nothing changed):
    /// every resource result of our operation that is new or changed its
    /// status or hook phase, then the operation's phase and message when
    /// they changed. A retry starts the results afresh.
    pub fn update(
        &mut self,
        app: &Application,
        requested: Option<&Operation>,
        timestamp: &str,
    ) -> String {
        let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
        let Some(state) = state.filter(|s| requested.is_some_and(|r| &s.operation == r)) else {
            return String::new();
        };
        let mut out = String::new();
        let retry_count = state.retry_count.unwrap_or(0);
        if retry_count != self.retry_count {
            self.results.clear();
            self.retry_count = retry_count;
        }
        let changed: Vec<SyncResultRow> = render::sync_results(app)
            .into_iter()
            .filter(|r| self.results.get(&r.identity()) != Some(&r.state()))
            .collect();
        if !changed.is_empty() {
            out +=
                &render::progress_rows(timestamp, &changed, !self.header_printed, &mut self.widths);
            self.header_printed = true;
            for r in changed {
                self.results.insert(r.identity(), r.state());
            }
        }
        let current = (
            state.phase.clone(),
            state.message.clone().unwrap_or_default(),
        );
        if self.operation.as_ref() != Some(&current) {
            let message = if current.1.is_empty() {
                String::new()
            } else {
                format!(": {}", current.1)
            };
            out += &format!("{timestamp}  Operation {}{message}\n", current.0);
            self.operation = Some(current);
        }
        out
    }
}

/// Follows the operation of `app` until it finishes; returns the final app.
pub async fn follow(
    client: &ApiClient,
    app_ref: &AppRef,
    requested: Option<Operation>,
    requested_at: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<App, CliError> {
    let mut progress = Progress::default();
    let requested = requested.as_ref();
    let mut observe = |app: &App| -> Result<bool, CliError> {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        crate::output::print(&progress.update(&app.app, requested, &now));
        match operation_status(&app.app, requested, requested_at) {
            OpStatus::Finished => Ok(true),
            OpStatus::Vanished => Err(CliError::Gone(format!(
                "the sync operation of application {:?} was removed before it ran",
                app_ref.name
            ))),
            OpStatus::Pending | OpStatus::Running => Ok(false),
        }
    };
    let timed_out = || {
        CliError::Timeout(format!(
            "timed out waiting for the sync of application {:?} to finish",
            app_ref.name
        ))
    };

    match within(deadline, client.watch(app_ref)).await {
        None => return Err(timed_out()),
        Some(Ok(mut stream)) => loop {
            match within(deadline, stream.message()).await {
                None => return Err(timed_out()),
                Some(Ok(Some(event))) => {
                    if event.r#type == "DELETED" {
                        return Err(CliError::Gone(format!(
                            "application {:?} was deleted",
                            app_ref.name
                        )));
                    }
                    let Some(message) = event.application else {
                        continue;
                    };
                    let app = App::decode(&message.json)?;
                    if observe(&app)? {
                        return Ok(app);
                    }
                }
                // The stream ended or broke (server restart): poll instead.
                Some(Ok(None)) | Some(Err(_)) => break,
            }
        },
        Some(Err(status)) if status.code() == tonic::Code::NotFound => {
            return Err(CliError::api(status, client.server()));
        }
        // No Watch (older server, proxy without streaming): poll.
        Some(Err(_)) => {}
    }

    loop {
        let app = match within(deadline, client.get(app_ref, "")).await {
            None => return Err(timed_out()),
            Some(app) => app?,
        };
        if observe(&app)? {
            return Ok(app);
        }
        if within(deadline, tokio::time::sleep(POLL_INTERVAL))
            .await
            .is_none()
        {
            return Err(timed_out());
        }
    }
}

/// `fut`, bounded by `deadline`; `None` when the deadline passed.
async fn within<T>(
    deadline: Option<Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

#[cfg(test)]
mod tests;
