//! Deleting an Application with Argo CD's resources finalizer: its objects
//! are deleted highest wave first, each wave gone before the next starts,
//! then the finalizer is removed. `Delete=false` objects stay;
//! `Delete=confirm` waits for `argocd.argoproj.io/deletion-approved`.
//! Runs a little at a time from the reconcile loop, so a restart resumes it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use caravel_crd::application::Application;
use caravel_crd::finalizers::{RESOURCES, RESOURCES_BACKGROUND, RESOURCES_FOREGROUND};
use kube::api::{DeleteParams, DynamicObject, GroupVersionKind, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::compare::wave_of_live as wave_of;
use crate::live_state::LiveStateCache;
use crate::sync::options::ResourceOptions;
use crate::{status, sync, Error};

/// How often a deletion in progress is looked at again.
const POLL: Duration = Duration::from_secs(1);

/// One step of deleting `app`; returns when to look again.
pub async fn finalize(
    api: &Api<Application>,
    app: &Application,
    live: &LiveStateCache,
) -> Result<Action, Error> {
    let name = app.name_any();
    let finalizers = app.finalizers();
    let policy = if finalizers
        .iter()
        .any(|f| f == RESOURCES || f == RESOURCES_FOREGROUND)
    {
        PropagationPolicy::Foreground
    } else if finalizers.iter().any(|f| f == RESOURCES_BACKGROUND) {
        PropagationPolicy::Background
    } else {
        return Ok(Action::await_change());
    };

    let mut objects = Vec::new();
    for gvk in managed_kinds(app) {
        match live.tracked_by(&gvk, &name).await {
            Ok(found) => objects.extend(found.into_iter().map(|o| (gvk.clone(), o))),
            Err(Error::UnknownKind(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // Delete=false objects stay; Delete=confirm ones wait for approval.
    let since = app
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let approved = sync::approved_since(app, &since);
    let mut waiting_confirmation = Vec::new();
    objects.retain(|(gvk, o)| {
        let options = ResourceOptions::of_live(o);
        match options
            .get("Delete")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("false") => false,
            Some("confirm") if !approved => {
                waiting_confirmation.push(label(gvk, o));
                false
            }
            _ => true,
        }
    });

    let Some(highest) = objects.iter().map(|(_, o)| wave_of(o)).max() else {
        if !waiting_confirmation.is_empty() {
            tracing::info!(app = %name, waiting = %waiting_confirmation.join(", "), "deletion waits for confirmation (argocd.argoproj.io/deletion-approved)");
            return Ok(Action::requeue(POLL * 3));
        }
        remove_finalizers(api, app).await?;
        tracing::info!(app = %name, "resources deleted, finalizer removed");
        return Ok(Action::await_change());
    };
    let wave: Vec<&(GroupVersionKind, Arc<DynamicObject>)> = objects
        .iter()
        .filter(|(_, o)| wave_of(o) == highest)
        .collect();
    let mut deleting = Vec::new();
    for (gvk, o) in &wave {
        deleting.push(label(gvk, o));
        if o.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let info = live.cluster().kind(gvk).await?;
        let api = live.cluster().api(&info, o.metadata.namespace.as_deref());
        let params = DeleteParams {
            propagation_policy: Some(policy.clone()),
            ..Default::default()
        };
        match api.delete(&o.name_any(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(app = %name, wave = highest, deleting = %deleting.join(", "), "deleting application resources");
    Ok(Action::requeue(POLL))
}

/// Kinds the app manages: from its resource list and its last sync's.
fn managed_kinds(app: &Application) -> HashSet<GroupVersionKind> {
    let mut kinds = HashSet::new();
    let Some(status) = &app.status else {
        return kinds;
    };
    for r in status.resources.iter().flatten() {
        if let Some(version) = r.version.as_deref().filter(|v| !v.is_empty()) {
            kinds.insert(GroupVersionKind::gvk(
                r.group.as_deref().unwrap_or(""),
                version,
                &r.kind,
            ));
        }
    }
    let synced = status
        .operation_state
        .as_ref()
        .and_then(|o| o.sync_result.as_ref())
        .and_then(|r| r.resources.as_ref());
    for r in synced.into_iter().flatten() {
        if !r.version.is_empty() {
            kinds.insert(GroupVersionKind::gvk(&r.group, &r.version, &r.kind));
        }
    }
    kinds
}

fn label(gvk: &GroupVersionKind, o: &DynamicObject) -> String {
    match &o.metadata.namespace {
        Some(ns) => format!("{}/{ns}/{}", gvk.kind, o.name_any()),
        None => format!("{}/{}", gvk.kind, o.name_any()),
    }
}

/// Removes Argo CD's resource finalizers, guarded by the resourceVersion
/// so a concurrent change is not overwritten.
async fn remove_finalizers(api: &Api<Application>, app: &Application) -> Result<(), Error> {
    let kept: Vec<&String> = app
        .finalizers()
        .iter()
        .filter(|f| ![RESOURCES, RESOURCES_BACKGROUND, RESOURCES_FOREGROUND].contains(&f.as_str()))
        .collect();
    status::patch_app(
        api,
        &app.name_any(),
        json!({ "metadata": { "finalizers": kept, "resourceVersion": app.resource_version() } }),
    )
    .await
}
