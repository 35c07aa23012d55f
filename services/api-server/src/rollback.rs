//! Rollback the way Argo CD's api-server does it: a sync to the revision
//! and source recorded in a `status.history` entry, requested by writing
//! `.operation`. Refused while auto-sync is on, since the next automated
//! sync would undo it.

use caravel_proto::application::v1::ApplicationRollbackRequest;
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::sync;

/// Argo CD's answer when a rollback is requested on an auto-synced app.
pub const AUTO_SYNC_ENABLED: &str = "rollback cannot be initiated when auto-sync is enabled";

/// Refuses a rollback while automated sync is enabled.
pub fn ensure_manual_sync(app: &Value) -> Result<(), Error> {
    if sync::automated(app) {
        return Err(Error::FailedPrecondition(AUTO_SYNC_ENABLED.to_owned()));
    }
    Ok(())
}

/// The history entry with `id`.
pub fn deployment<'a>(app: &'a Value, name: &str, id: i64) -> Result<&'a Value, Error> {
    app.pointer("/status/history")
        .and_then(Value::as_array)
        .and_then(|entries| {
            entries
                .iter()
                .find(|h| h.get("id").and_then(Value::as_i64) == Some(id))
        })
        .ok_or_else(|| Error::DeploymentNotFound {
            name: name.to_owned(),
            id,
        })
}

/// The merge patch writing the rollback's `.operation`: a sync to the
/// entry's revision(s) and source(s) with the app's sync options, carrying
/// the app's `resourceVersion` as Sync does. No retry: Argo CD's rollback
/// sets none.
pub fn operation_patch(
    app: &Value,
    entry: &Value,
    req: &ApplicationRollbackRequest,
    username: &str,
) -> Result<Value, Error> {
    let present = |key: &str| entry.get(key).filter(|v| !is_empty(v));
    let source = present("source");
    let sources = present("sources");
    if source.is_none() && sources.is_none() {
        return Err(Error::FailedPrecondition(format!(
            "cannot roll back to deployment {}: its history entry records no source; sync to its revision instead",
            req.id
        )));
    }
    let mut sync = Map::new();
    for key in ["revision", "revisions"] {
        if let Some(value) = present(key) {
            sync.insert(key.into(), value.clone());
        }
    }
    if let Some(source) = source {
        sync.insert("source".into(), source.clone());
    }
    if let Some(sources) = sources {
        sync.insert("sources".into(), sources.clone());
    }
    sync.insert("prune".into(), json!(req.prune));
    sync.insert("dryRun".into(), json!(req.dry_run));
    if let Some(options) = app
        .pointer("/spec/syncPolicy/syncOptions")
        .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()))
    {
        sync.insert("syncOptions".into(), options.clone());
    }
    let operation = json!({
        "sync": Value::Object(sync),
        "initiatedBy": {"username": username},
    });
    Ok(sync::with_resource_version(
        app,
        json!({ "operation": operation }),
    ))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Value {
        json!({
            "metadata": {"name": "guestbook", "namespace": "argocd", "resourceVersion": "42"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://example.com/r.git", "path": "gb", "targetRevision": "main"},
                     "destination": {"server": "https://kubernetes.default.svc"},
                     "syncPolicy": {"syncOptions": ["CreateNamespace=true"], "retry": {"limit": 3}}},
            "status": {"history": [
                {"id": 1, "revision": "aaa", "deployedAt": "2024-05-01T10:00:00Z",
                 "source": {"repoURL": "https://example.com/r.git", "path": "gb", "targetRevision": "v1"}},
                {"id": 2, "revision": "bbb", "deployedAt": "2024-05-02T10:00:00Z",
                 "source": {"repoURL": "https://example.com/r.git", "path": "gb", "targetRevision": "main"}}
            ]}
        })
    }

    fn request(id: i64) -> ApplicationRollbackRequest {
        ApplicationRollbackRequest {
            name: "guestbook".into(),
            id,
            prune: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_rollback_syncs_to_the_entrys_revision_and_source() -> Result<(), Error> {
        let app = app();
        let entry = deployment(&app, "guestbook", 1)?;
        assert_eq!(
            operation_patch(&app, entry, &request(1), "admin")?,
            json!({
                "metadata": {"resourceVersion": "42"},
                "operation": {
                    "sync": {
                        "revision": "aaa",
                        "source": {"repoURL": "https://example.com/r.git", "path": "gb", "targetRevision": "v1"},
                        "prune": true,
                        "dryRun": false,
                        "syncOptions": ["CreateNamespace=true"]
                    },
                    "initiatedBy": {"username": "admin"}
                }
            })
        );
        Ok(())
    }

    #[test]
    fn a_multi_source_entry_rolls_back_every_source() -> Result<(), Error> {
        let entry = json!({"id": 3, "revisions": ["aaa", "bbb"],
                           "sources": [{"repoURL": "a"}, {"repoURL": "b", "ref": "values"}]});
        let patch = operation_patch(&app(), &entry, &request(3), "admin")?;
        let sync = &patch["operation"]["sync"];
        assert_eq!(sync["revisions"], json!(["aaa", "bbb"]));
        assert_eq!(
            sync["sources"],
            json!([{"repoURL": "a"}, {"repoURL": "b", "ref": "values"}])
        );
        assert!(sync.get("revision").is_none() && sync.get("source").is_none());
        Ok(())
    }

    #[test]
    fn an_unknown_history_id_is_not_found() {
        assert!(matches!(
            deployment(&app(), "guestbook", 9),
            Err(Error::DeploymentNotFound { id: 9, .. })
        ));
        assert!(deployment(&json!({"spec": {}}), "guestbook", 0).is_err());
    }

    #[test]
    fn an_entry_without_a_source_cannot_be_rolled_back_to() {
        let entry = json!({"id": 0, "revision": "aaa"});
        assert!(matches!(
            operation_patch(&app(), &entry, &request(0), "admin"),
            Err(Error::FailedPrecondition(m)) if m.starts_with("cannot roll back to deployment 0")
        ));
    }

    #[test]
    fn auto_synced_apps_refuse_rollbacks_unless_automation_is_disabled() {
        let mut app = app();
        assert!(ensure_manual_sync(&app).is_ok());
        app["spec"]["syncPolicy"]["automated"] = json!({"prune": true});
        assert!(matches!(
            ensure_manual_sync(&app),
            Err(Error::FailedPrecondition(m)) if m == AUTO_SYNC_ENABLED
        ));
        app["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
        assert!(ensure_manual_sync(&app).is_ok());
    }
}
