//! Writing Application status: the comparison result as Argo CD lays it
//! out, merged into `/status` so fields Caravel does not own survive.

use caravel_crd::application::{
    Application, ApplicationCondition, ComparedTo, HealthStatus, ResourceStatus, SyncStatus,
};
use caravel_crd::sync_status;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use crate::compare::Comparison;
use crate::settings::FIELD_MANAGER;
use crate::Error;

/// RFC 3339 UTC timestamp with seconds, as Kubernetes writes them.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Keeps the transition time of conditions that were already there.
pub fn merge_conditions(
    app: &Application,
    mut fresh: Vec<ApplicationCondition>,
) -> Vec<ApplicationCondition> {
    let old = app.status.as_ref().and_then(|s| s.conditions.as_ref());
    for c in fresh.iter_mut() {
        if let Some(prev) = old
            .into_iter()
            .flatten()
            .find(|p| p.type_ == c.type_ && p.message == c.message)
        {
            c.last_transition_time = prev.last_transition_time.clone();
        }
    }
    fresh.sort_by(|a, b| (&a.type_, &a.message).cmp(&(&b.type_, &b.message)));
    fresh.dedup_by(|a, b| a.type_ == b.type_ && a.message == b.message);
    fresh
}

fn compared_to(app: &Application) -> ComparedTo {
    ComparedTo {
        source: app.spec.source.clone(),
        sources: app.spec.sources.clone(),
        destination: app.spec.destination.clone(),
        ignore_differences: app.spec.ignore_differences.clone(),
    }
}

/// The status fields a successful comparison sets.
pub fn from_comparison(app: &Application, cmp: &Comparison) -> Result<Value, Error> {
    let resources: Vec<ResourceStatus> = cmp
        .resources
        .iter()
        .map(|r| ResourceStatus {
            group: Some(r.gvk.group.clone()).filter(|g| !g.is_empty()),
            version: Some(r.gvk.version.clone()),
            kind: r.gvk.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            status: Some(
                if r.synced {
                    sync_status::SYNCED
                } else {
                    sync_status::OUT_OF_SYNC
                }
                .to_owned(),
            ),
            health: r.health.as_ref().map(|h| HealthStatus {
                status: Some(h.status.as_str().to_owned()),
                message: h.message.clone(),
                last_transition_time: None,
            }),
            hook: None,
            requires_pruning: r.requires_pruning.then_some(true),
            sync_wave: Some(r.wave),
            requires_deletion_confirmation: (r.requires_pruning
                && crate::sync::options::ResourceOptions::of(r)
                    .get("Prune")
                    .is_some_and(|v| v.eq_ignore_ascii_case("confirm")))
            .then_some(true),
        })
        .collect();
    let sync = SyncStatus {
        status: if cmp.synced {
            sync_status::SYNCED
        } else {
            sync_status::OUT_OF_SYNC
        }
        .to_owned(),
        compared_to: Some(compared_to(app)),
        revision: Some(cmp.revision.clone()),
        revisions: cmp.multi_source_revisions(),
    };
    let previous_health = app.status.as_ref().and_then(|s| s.health.as_ref());
    let health_status = cmp.health.status.as_str().to_owned();
    let last_transition_time = match previous_health {
        Some(p) if p.status.as_deref() == Some(health_status.as_str()) => {
            p.last_transition_time.clone()
        }
        _ => Some(now()),
    };
    let health = HealthStatus {
        status: Some(health_status),
        message: cmp.health.message.clone(),
        last_transition_time,
    };
    let now = now();
    // Merge patches keep keys that are left out: an absent message must be
    // an explicit null, or the previous one would linger.
    let mut health = serde_json::to_value(health)?;
    if let Some(h) = health.as_object_mut() {
        h.entry("message").or_insert(Value::Null);
    }
    Ok(json!({
        "sync": sync,
        "health": health,
        "resources": resources,
        "conditions": merge_conditions(app, cmp.conditions.clone()),
        "reconciledAt": now,
        "observedAt": now,
        "sourceType": cmp.source_type,
        "summary": { "images": cmp.images },
        "resourceHealthSource": null,
    }))
}

/// The status fields set when the desired state could not be generated:
/// sync becomes Unknown, everything else stays as it was.
pub fn from_comparison_error(app: &Application, type_: &str, message: String) -> Value {
    let sync = SyncStatus {
        status: sync_status::UNKNOWN.to_owned(),
        compared_to: Some(compared_to(app)),
        revision: app
            .status
            .as_ref()
            .and_then(|s| s.sync.as_ref())
            .and_then(|s| s.revision.clone()),
        revisions: None,
    };
    let conditions = merge_conditions(app, vec![crate::compare::condition(type_, message)]);
    json!({
        "sync": sync,
        "conditions": conditions,
        "reconciledAt": now(),
    })
}

/// Merges `status` into the Application's status subresource.
pub async fn patch(api: &Api<Application>, name: &str, status: Value) -> Result<(), Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..Default::default()
    };
    api.patch_status(name, &params, &Patch::Merge(json!({ "status": status })))
        .await?;
    Ok(())
}

/// Merges `patch` into the Application object itself (operation, annotations).
pub async fn patch_app(api: &Api<Application>, name: &str, patch: Value) -> Result<(), Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Merge(patch)).await?;
    Ok(())
}
