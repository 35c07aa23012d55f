//! `Watch`: a kube-runtime watcher turned into Kubernetes-style
//! ADDED/MODIFIED/DELETED events for the client. The first events are the
//! current matching Applications (ADDED); after that, every change. Events
//! travel through a bounded channel; the task stops when the client goes
//! away, the server shuts down, or the watch keeps failing.

use std::collections::HashSet;

use caravel_proto::application::v1::{Application as AppMessage, ApplicationWatchEvent};
use futures::{Stream, StreamExt};
use kube::api::DynamicObject;
use kube::runtime::watcher;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::apps;
use crate::error::Error;

pub const ADDED: &str = "ADDED";
pub const MODIFIED: &str = "MODIFIED";
pub const DELETED: &str = "DELETED";

/// Events buffered per client before the watch waits for it.
pub const CHANNEL_CAPACITY: usize = 64;
/// Consecutive watch failures (each already retried with backoff) after
/// which the stream ends with Unavailable.
const MAX_CONSECUTIVE_ERRORS: u32 = 5;

/// What the watcher saw, with objects as JSON.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// A (re)list starts.
    Init,
    /// An object of a (re)list.
    Listed(Value),
    /// The (re)list is complete.
    ListDone,
    Applied(Value),
    Deleted(Value),
}

/// Turns watcher changes into client events, remembering which apps the
/// client knows about so it can tell ADDED from MODIFIED and report apps
/// that vanished while the watch was re-listing.
#[derive(Debug, Default)]
pub struct EventMapper {
    projects: Vec<String>,
    known: HashSet<String>,
    listed: Option<HashSet<String>>,
}

impl EventMapper {
    pub fn new(projects: Vec<String>) -> Self {
        Self {
            projects,
            ..Default::default()
        }
    }

    pub fn on_change(&mut self, change: Change) -> Vec<(&'static str, Value)> {
        match change {
            Change::Init => {
                self.listed = Some(HashSet::new());
                vec![]
            }
            Change::Listed(app) => {
                if let Some(listed) = self.listed.as_mut() {
                    listed.insert(apps::name(&app).to_owned());
                }
                self.apply(app).into_iter().collect()
            }
            Change::ListDone => {
                let Some(listed) = self.listed.take() else {
                    return vec![];
                };
                let mut gone: Vec<String> = self.known.difference(&listed).cloned().collect();
                gone.sort();
                gone.into_iter()
                    .map(|name| {
                        self.known.remove(&name);
                        (DELETED, stub(&name))
                    })
                    .collect()
            }
            Change::Applied(app) => self.apply(app).into_iter().collect(),
            Change::Deleted(app) => {
                if self.known.remove(apps::name(&app)) {
                    vec![(DELETED, app)]
                } else {
                    vec![]
                }
            }
        }
    }

    fn apply(&mut self, app: Value) -> Option<(&'static str, Value)> {
        let name = apps::name(&app).to_owned();
        if apps::in_projects(&app, &self.projects) {
            let kind = if self.known.insert(name) {
                ADDED
            } else {
                MODIFIED
            };
            Some((kind, app))
        } else if self.known.remove(&name) {
            // Moved out of the filtered projects: gone from this view.
            Some((DELETED, app))
        } else {
            None
        }
    }
}

/// The smallest object naming a deleted app (its last state is not kept).
fn stub(name: &str) -> Value {
    json!({
        "apiVersion": caravel_crd::API_VERSION,
        "kind": "Application",
        "metadata": {"name": name},
    })
}

fn change(event: watcher::Event<DynamicObject>) -> Result<Change, Error> {
    Ok(match event {
        watcher::Event::Init => Change::Init,
        watcher::Event::InitApply(obj) => Change::Listed(apps::to_json(obj)?),
        watcher::Event::InitDone => Change::ListDone,
        watcher::Event::Apply(obj) => Change::Applied(apps::to_json(obj)?),
        watcher::Event::Delete(obj) => Change::Deleted(apps::to_json(obj)?),
    })
}

/// Spawns the task forwarding `events` to a channel and returns its
/// receiving end. `stop` turning true (server shutdown) ends the stream.
pub fn spawn<S>(
    events: S,
    projects: Vec<String>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    span: tracing::Span,
) -> mpsc::Receiver<Result<ApplicationWatchEvent, Error>>
where
    S: Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>> + Send + 'static,
{
    use tracing::Instrument;
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let task = async move {
        let mut events = std::pin::pin!(events);
        let mut mapper = EventMapper::new(projects);
        let mut errors = 0u32;
        loop {
            let next = tokio::select! {
                _ = tx.closed() => {
                    tracing::debug!("watch client went away");
                    return;
                }
                _ = stop.wait_for(|stopped| *stopped) => {
                    tracing::debug!("server shutting down, ending watch");
                    return;
                }
                next = events.next() => next,
            };
            let event = match next {
                None => return,
                Some(Ok(event)) => {
                    errors = 0;
                    event
                }
                Some(Err(e)) => {
                    errors += 1;
                    tracing::warn!(error = %e, attempt = errors, "application watch failed");
                    if errors >= MAX_CONSECUTIVE_ERRORS {
                        let _ = tx
                            .send(Err(Error::Unavailable(format!(
                                "watching applications failed: {e}"
                            ))))
                            .await;
                        return;
                    }
                    continue;
                }
            };
            let outgoing = match change(event) {
                Ok(change) => mapper.on_change(change),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            for (kind, app) in outgoing {
                let event = ApplicationWatchEvent {
                    r#type: kind.to_owned(),
                    application: Some(AppMessage {
                        json: app.to_string(),
                    }),
                };
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::spawn(task.instrument(span));
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, project: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"project": project}})
    }

    fn kinds(events: &[(&'static str, Value)]) -> Vec<(String, String)> {
        events
            .iter()
            .map(|(k, v)| ((*k).to_owned(), apps::name(v).to_owned()))
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, n)| ((*k).to_owned(), (*n).to_owned()))
            .collect()
    }

    #[test]
    fn the_initial_list_arrives_as_added_then_changes_as_modified() {
        let mut m = EventMapper::new(vec![]);
        let mut out = m.on_change(Change::Init);
        out.extend(m.on_change(Change::Listed(app("a", "default"))));
        out.extend(m.on_change(Change::Listed(app("b", "default"))));
        out.extend(m.on_change(Change::ListDone));
        out.extend(m.on_change(Change::Applied(app("a", "default"))));
        out.extend(m.on_change(Change::Applied(app("c", "default"))));
        out.extend(m.on_change(Change::Deleted(app("b", "default"))));
        assert_eq!(
            kinds(&out),
            pairs(&[
                (ADDED, "a"),
                (ADDED, "b"),
                (MODIFIED, "a"),
                (ADDED, "c"),
                (DELETED, "b")
            ])
        );
    }

    #[test]
    fn apps_missing_from_a_relist_are_reported_deleted() {
        let mut m = EventMapper::new(vec![]);
        for c in [
            Change::Init,
            Change::Listed(app("a", "p")),
            Change::Listed(app("b", "p")),
            Change::ListDone,
        ] {
            m.on_change(c);
        }
        let mut out = m.on_change(Change::Init);
        out.extend(m.on_change(Change::Listed(app("a", "p"))));
        out.extend(m.on_change(Change::ListDone));
        assert_eq!(kinds(&out), pairs(&[(MODIFIED, "a"), (DELETED, "b")]));
    }

    #[test]
    fn the_project_filter_hides_other_projects_and_apps_that_move_away() {
        let mut m = EventMapper::new(vec!["team-a".into()]);
        let mut out = m.on_change(Change::Applied(app("x", "team-b")));
        out.extend(m.on_change(Change::Applied(app("y", "team-a"))));
        out.extend(m.on_change(Change::Applied(app("y", "team-b"))));
        out.extend(m.on_change(Change::Deleted(app("x", "team-b"))));
        assert_eq!(kinds(&out), pairs(&[(ADDED, "y"), (DELETED, "y")]));
    }
}
