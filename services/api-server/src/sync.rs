//! Requesting a sync the way Argo CD does: check that no operation is in
//! progress, then write `.operation` on the Application with a JSON merge
//! patch. The controller runs the operation and clears it.

use caravel_crd::phase;
use caravel_proto::application::v1::{ApplicationSyncRequest, RetryStrategy};
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::validate;

/// Who a sync is attributed to until authentication exists.
pub const DEFAULT_USERNAME: &str = "admin";

/// Argo CD's answer when a sync is requested during another operation.
pub const OPERATION_IN_PROGRESS: &str = "another operation is already in progress";

/// Validates a sync request's fields (the name is checked by the caller).
pub fn validate_request(req: &ApplicationSyncRequest) -> Result<(), Error> {
    validate::revision(&req.revision)?;
    for option in &req.sync_options {
        validate::sync_option(option)?;
    }
    for resource in &req.resources {
        validate::sync_resource(resource)?;
    }
    if let Some(retry) = &req.retry_strategy {
        validate::retry_strategy(retry)?;
    }
    Ok(())
}

/// Argo CD's answer when an operation is requested on an app being deleted.
pub const APPLICATION_DELETING: &str = "application is deleting";

/// Refuses operations on an Application that is being deleted.
pub fn ensure_not_deleting(app: &Value) -> Result<(), Error> {
    if app
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Err(Error::FailedPrecondition(APPLICATION_DELETING.to_owned()));
    }
    Ok(())
}

/// Refuses when `.operation` is set or the last operation is still Running.
pub fn ensure_no_operation_in_progress(app: &Value) -> Result<(), Error> {
    let requested = app.get("operation").is_some_and(|op| !op.is_null());
    let running = app
        .pointer("/status/operationState/phase")
        .and_then(Value::as_str)
        .is_some_and(|p| p == phase::RUNNING);
    if requested || running {
        return Err(Error::FailedPrecondition(OPERATION_IN_PROGRESS.to_owned()));
    }
    Ok(())
}

/// Argo CD's answer when there is nothing to terminate.
pub const NOTHING_TO_TERMINATE: &str = "Unable to terminate operation. No operation is in progress";

/// The status patch that asks the controller to stop the running
/// operation; refused when no operation is running.
pub fn terminate_patch(app: &Value) -> Result<Value, Error> {
    let running = app
        .pointer("/status/operationState/phase")
        .and_then(Value::as_str)
        .is_some_and(|p| p == phase::RUNNING);
    if !running {
        return Err(Error::FailedPrecondition(NOTHING_TO_TERMINATE.to_owned()));
    }
    Ok(serde_json::json!({ "status": { "operationState": { "phase": phase::TERMINATING } } }))
}

/// Argo CD refuses to sync an auto-synced app to another revision than the
/// one automation follows (it would be undone at the next auto-sync).
pub fn ensure_revision_allowed(app: &Value, req: &ApplicationSyncRequest) -> Result<(), Error> {
    if req.revision.is_empty() || req.dry_run || !automated(app) {
        return Ok(());
    }
    let target = target_revision(app);
    if req.revision != target {
        return Err(Error::FailedPrecondition(format!(
            "cannot sync to {}: auto-sync currently set to {target}",
            req.revision
        )));
    }
    Ok(())
}

/// The merge patch writing `.operation` for `req`. It carries the app's
/// `resourceVersion`, so a concurrent change makes the write fail (409)
/// instead of racing another operation.
pub fn operation_patch(app: &Value, req: &ApplicationSyncRequest, username: &str) -> Value {
    let mut sync = Map::new();
    if !req.revision.is_empty() {
        sync.insert("revision".into(), json!(req.revision));
    }
    sync.insert("prune".into(), json!(req.prune));
    sync.insert("dryRun".into(), json!(req.dry_run));
    if !req.resources.is_empty() {
        let resources: Vec<Value> = req
            .resources
            .iter()
            .map(|r| {
                let mut res = json!({"group": r.group, "kind": r.kind, "name": r.name});
                if !r.namespace.is_empty() {
                    res["namespace"] = json!(r.namespace);
                }
                res
            })
            .collect();
        sync.insert("resources".into(), Value::Array(resources));
    }
    // As Argo CD: the request's options, else the app's own.
    let sync_options = if req.sync_options.is_empty() {
        app.pointer("/spec/syncPolicy/syncOptions")
            .cloned()
            .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()))
    } else {
        Some(json!(req.sync_options))
    };
    if let Some(options) = sync_options {
        sync.insert("syncOptions".into(), options);
    }
    if req.force {
        sync.insert("syncStrategy".into(), json!({"apply": {"force": true}}));
    }

    let mut operation = json!({
        "sync": Value::Object(sync),
        "initiatedBy": {"username": username},
    });
    // As Argo CD: the request's retry strategy, else the app's own.
    let retry = match &req.retry_strategy {
        Some(retry) => Some(retry_json(retry)),
        None => app
            .pointer("/spec/syncPolicy/retry")
            .filter(|r| !r.is_null())
            .cloned(),
    };
    if let Some(retry) = retry {
        operation["retry"] = retry;
    }
    with_resource_version(app, json!({ "operation": operation }))
}

/// Adds the app's `resourceVersion` to a merge patch, so that the write
/// fails (409) if the app changed since it was read.
pub fn with_resource_version(app: &Value, mut patch: Value) -> Value {
    if let Some(rv) = app.pointer("/metadata/resourceVersion") {
        patch["metadata"]["resourceVersion"] = rv.clone();
    }
    patch
}

/// A retry strategy in the shape of Argo CD's `RetryStrategy`
/// (`{limit, backoff: {duration, factor, maxDuration}}`), empty fields left out.
pub fn retry_json(retry: &RetryStrategy) -> Value {
    let mut value = json!({ "limit": retry.limit });
    if let Some(b) = &retry.backoff {
        let mut backoff = Map::new();
        if !b.duration.is_empty() {
            backoff.insert("duration".into(), json!(b.duration));
        }
        if let Some(factor) = b.factor {
            backoff.insert("factor".into(), json!(factor));
        }
        if !b.max_duration.is_empty() {
            backoff.insert("maxDuration".into(), json!(b.max_duration));
        }
        value["backoff"] = Value::Object(backoff);
    }
    value
}

/// Whether automated sync is on: `automated` set and not `enabled: false`.
pub fn automated(app: &Value) -> bool {
    app.pointer("/spec/syncPolicy/automated")
        .is_some_and(|a| a.is_object() && a.get("enabled").and_then(Value::as_bool) != Some(false))
}

/// The revision the app's (first) source follows; HEAD when unset.
fn target_revision(app: &Value) -> &str {
    let source = app
        .pointer("/spec/source")
        .filter(|s| s.is_object())
        .or_else(|| app.pointer("/spec/sources/0"));
    source
        .and_then(|s| s.get("targetRevision"))
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .unwrap_or("HEAD")
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_proto::application::v1::SyncResourceSelector;

    fn app() -> Value {
        json!({
            "metadata": {"name": "guestbook", "namespace": "argocd", "resourceVersion": "42"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://example.com/r.git", "targetRevision": "main"},
                     "destination": {"server": "https://kubernetes.default.svc"}}
        })
    }

    #[test]
    fn a_plain_sync_writes_prune_dry_run_and_the_initiator() {
        let req = ApplicationSyncRequest {
            name: "guestbook".into(),
            ..Default::default()
        };
        assert_eq!(
            operation_patch(&app(), &req, "admin"),
            json!({
                "metadata": {"resourceVersion": "42"},
                "operation": {
                    "sync": {"prune": false, "dryRun": false},
                    "initiatedBy": {"username": "admin"}
                }
            })
        );
    }

    #[test]
    fn every_requested_option_reaches_the_operation() {
        let req = ApplicationSyncRequest {
            name: "guestbook".into(),
            revision: "v2".into(),
            prune: true,
            dry_run: true,
            force: true,
            resources: vec![
                SyncResourceSelector {
                    group: "apps".into(),
                    kind: "Deployment".into(),
                    name: "web".into(),
                    namespace: "prod".into(),
                },
                SyncResourceSelector {
                    group: String::new(),
                    kind: "ConfigMap".into(),
                    name: "cfg".into(),
                    namespace: String::new(),
                },
            ],
            sync_options: vec!["ServerSideApply=true".into()],
            ..Default::default()
        };
        assert_eq!(
            operation_patch(&app(), &req, "alice")["operation"],
            json!({
                "sync": {
                    "revision": "v2",
                    "prune": true,
                    "dryRun": true,
                    "resources": [
                        {"group": "apps", "kind": "Deployment", "name": "web", "namespace": "prod"},
                        {"group": "", "kind": "ConfigMap", "name": "cfg"}
                    ],
                    "syncOptions": ["ServerSideApply=true"],
                    "syncStrategy": {"apply": {"force": true}}
                },
                "initiatedBy": {"username": "alice"}
            })
        );
    }

    #[test]
    fn the_apps_sync_options_and_retry_apply_when_the_request_has_none() {
        let mut app = app();
        app["spec"]["syncPolicy"] = json!({
            "syncOptions": ["CreateNamespace=true"],
            "retry": {"limit": 3}
        });
        let req = ApplicationSyncRequest::default();
        let patch = operation_patch(&app, &req, "admin");
        assert_eq!(
            patch["operation"]["sync"]["syncOptions"],
            json!(["CreateNamespace=true"])
        );
        assert_eq!(patch["operation"]["retry"], json!({"limit": 3}));
    }

    #[test]
    fn a_requested_retry_strategy_replaces_the_apps_in_argo_cd_shape() {
        use caravel_proto::application::v1::Backoff;
        let mut app = app();
        app["spec"]["syncPolicy"] = json!({"retry": {"limit": 3}});
        let req = ApplicationSyncRequest {
            retry_strategy: Some(RetryStrategy {
                limit: -1,
                backoff: Some(Backoff {
                    duration: "5s".into(),
                    factor: Some(2),
                    max_duration: "3m".into(),
                }),
            }),
            ..Default::default()
        };
        assert_eq!(
            operation_patch(&app, &req, "admin")["operation"]["retry"],
            json!({"limit": -1, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}})
        );
        let limit_only = ApplicationSyncRequest {
            retry_strategy: Some(RetryStrategy {
                limit: 2,
                backoff: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            operation_patch(&app, &limit_only, "admin")["operation"]["retry"],
            json!({"limit": 2})
        );
    }

    #[test]
    fn an_invalid_retry_strategy_is_rejected() {
        let req = ApplicationSyncRequest {
            retry_strategy: Some(RetryStrategy {
                limit: 1,
                backoff: Some(caravel_proto::application::v1::Backoff {
                    duration: "five seconds".into(),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        assert!(matches!(
            validate_request(&req),
            Err(Error::InvalidArgument(m)) if m.contains("backoff duration")
        ));
    }

    #[test]
    fn operations_are_refused_on_an_app_being_deleted() {
        let mut deleting = app();
        deleting["metadata"]["deletionTimestamp"] = json!("2024-05-01T10:00:00Z");
        assert!(matches!(
            ensure_not_deleting(&deleting),
            Err(Error::FailedPrecondition(m)) if m == APPLICATION_DELETING
        ));
        assert!(ensure_not_deleting(&app()).is_ok());
    }

    #[test]
    fn a_sync_is_refused_while_an_operation_is_requested_or_running() {
        let mut requested = app();
        requested["operation"] = json!({"sync": {}});
        let mut running = app();
        running["status"] = json!({"operationState": {"phase": "Running"}});
        let mut finished = app();
        finished["status"] = json!({"operationState": {"phase": "Succeeded"}});
        finished["operation"] = Value::Null;

        for app in [requested, running] {
            assert!(matches!(
                ensure_no_operation_in_progress(&app),
                Err(Error::FailedPrecondition(m)) if m == OPERATION_IN_PROGRESS
            ));
        }
        assert!(ensure_no_operation_in_progress(&finished).is_ok());
        assert!(ensure_no_operation_in_progress(&app()).is_ok());
    }

    #[test]
    fn an_auto_synced_app_cannot_be_synced_to_another_revision() {
        let mut app = app();
        app["spec"]["syncPolicy"] = json!({"automated": {"prune": true}});
        let to = |revision: &str, dry_run: bool| ApplicationSyncRequest {
            revision: revision.into(),
            dry_run,
            ..Default::default()
        };
        assert!(matches!(
            ensure_revision_allowed(&app, &to("v1", false)),
            Err(Error::FailedPrecondition(m)) if m == "cannot sync to v1: auto-sync currently set to main"
        ));
        assert!(ensure_revision_allowed(&app, &to("main", false)).is_ok());
        assert!(ensure_revision_allowed(&app, &to("", false)).is_ok());
        assert!(ensure_revision_allowed(&app, &to("v1", true)).is_ok());

        app["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
        assert!(ensure_revision_allowed(&app, &to("v1", false)).is_ok());
    }

    #[test]
    fn invalid_sync_requests_are_rejected() {
        let bad_option = ApplicationSyncRequest {
            sync_options: vec!["Prune".into()],
            ..Default::default()
        };
        assert!(validate_request(&bad_option).is_err());
        let bad_resource = ApplicationSyncRequest {
            resources: vec![SyncResourceSelector {
                kind: "Deployment".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(validate_request(&bad_resource).is_err());
    }
}

#[cfg(test)]
mod terminate_tests {
    use super::*;

    #[test]
    fn only_a_running_operation_can_be_terminated() {
        let running = serde_json::json!({"status": {"operationState": {"phase": "Running"}}});
        assert_eq!(
            terminate_patch(&running).ok(),
            Some(serde_json::json!({"status": {"operationState": {"phase": "Terminating"}}}))
        );
        for idle in [
            serde_json::json!({}),
            serde_json::json!({"status": {"operationState": {"phase": "Succeeded"}}}),
        ] {
            assert!(
                matches!(terminate_patch(&idle), Err(Error::FailedPrecondition(m)) if m == NOTHING_TO_TERMINATE)
            );
        }
    }
}
