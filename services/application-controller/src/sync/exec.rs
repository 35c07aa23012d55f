//! What a sync does to the cluster, one object at a time: apply (server-side
//! apply, or replace), create a hook, delete.

use std::time::Duration;

use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy,
    ValidationDirective,
};
use kube::Api;

use crate::cluster::{Cluster, KindInfo};
use crate::compare::{self, ResourceState};
use crate::hooks::DeletePolicy;
use crate::settings::FIELD_MANAGER;
use crate::Error;

use super::options::SyncOptions;
use super::plan::Task;

/// The kind of a task, resolved again if the comparison could not (a CRD
/// created earlier in the same sync). In namespaced mode an object outside
/// the managed namespaces is refused here, so no sync ever writes it.
pub async fn kind_of(cluster: &Cluster, r: &ResourceState) -> Result<KindInfo, Error> {
    let info = match &r.kind {
        Some(k) => k.clone(),
        None => cluster.kind(&r.gvk).await?,
    };
    cluster
        .namespaces()
        .permits(
            &r.gvk.kind,
            &r.name,
            r.namespace.as_deref(),
            info.namespaced,
        )
        .map_err(Error::InvalidSpec)?;
    Ok(info)
}

fn api(cluster: &Cluster, info: &KindInfo, r: &ResourceState) -> Api<DynamicObject> {
    cluster.api(info, r.namespace.as_deref())
}

/// The object a task applies: with the tracking id (stamped here when the
/// kind was unknown at comparison time).
fn target_of(app: &str, info: &KindInfo, r: &ResourceState) -> Result<serde_json::Value, Error> {
    let mut target = r
        .target
        .clone()
        .ok_or_else(|| Error::InvalidSpec(format!("{} has no desired state", r.label())))?;
    if r.kind.is_none() {
        let ns = if info.namespaced {
            r.namespace.as_deref()
        } else {
            None
        };
        compare::stamp(&mut target, app, &r.gvk, ns, &r.name);
    }
    Ok(target)
}

/// Applies one object (dry run or for real); returns the stored
/// resourceVersion. Server-side apply unless `Replace=true`; `Force=true`
/// deletes and re-creates an object the server refuses to change.
pub async fn apply(
    cluster: &Cluster,
    app: &str,
    task: &Task,
    opts: &SyncOptions,
    dry_run: bool,
) -> Result<Option<String>, Error> {
    let r = &task.res;
    let info = kind_of(cluster, r).await?;
    let api = api(cluster, &info, r);
    let mut target = target_of(app, &info, r)?;
    // RespectIgnoreDifferences: ignored fields keep their live values.
    if let (Some(rules), Some(live)) = (opts.respected.as_deref(), &r.live) {
        let ns = r.namespace.as_deref().unwrap_or("");
        if rules.matches(&r.gvk.group, &r.gvk.kind, ns, &r.name) {
            rules.respect(&mut target, &serde_json::to_value(&**live)?)?;
        }
    }
    let force = opts.force || opts.is(&task.options, "Force", "true");
    let replace = opts.is(&task.options, "Replace", "true");
    let skip_validation = opts.is(&task.options, "Validate", "false");

    if replace {
        return replace_object(&api, r, target, dry_run, force).await;
    }
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    if skip_validation {
        params.field_validation = Some(ValidationDirective::Ignore);
    }
    match api.patch(&r.name, &params, &Patch::Apply(&target)).await {
        Ok(obj) => Ok(obj.metadata.resource_version),
        // Force=true: replace an object whose immutable fields changed.
        // The real apply will delete and re-create it.
        Err(kube::Error::Api(s)) if force && s.code == 422 && dry_run => Ok(None),
        Err(kube::Error::Api(s)) if force && s.code == 422 => {
            delete_and_wait(&api, &r.name, PropagationPolicy::Foreground).await?;
            let obj = api.patch(&r.name, &params, &Patch::Apply(&target)).await?;
            Ok(obj.metadata.resource_version)
        }
        Err(e) => Err(e.into()),
    }
}

/// `Replace=true`: create, or replace the whole object (what `kubectl
/// replace` does); with Force, delete and create when replacing fails.
async fn replace_object(
    api: &Api<DynamicObject>,
    r: &ResourceState,
    target: serde_json::Value,
    dry_run: bool,
    force: bool,
) -> Result<Option<String>, Error> {
    let mut obj: DynamicObject = serde_json::from_value(target)?;
    let params = post_params(dry_run);
    match api.get_opt(&r.name).await? {
        None => Ok(api.create(&params, &obj).await?.metadata.resource_version),
        Some(current) => {
            obj.metadata.resource_version = current.metadata.resource_version;
            match api.replace(&r.name, &params, &obj).await {
                Ok(o) => Ok(o.metadata.resource_version),
                Err(kube::Error::Api(s)) if force && s.code == 422 && dry_run => Ok(None),
                Err(kube::Error::Api(s)) if force && s.code == 422 => {
                    delete_and_wait(api, &r.name, PropagationPolicy::Foreground).await?;
                    obj.metadata.resource_version = None;
                    Ok(api.create(&params, &obj).await?.metadata.resource_version)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Creates a hook. With BeforeHookCreation an existing object of the same
/// name is deleted first; without it an existing object is the hook.
pub async fn create_hook(cluster: &Cluster, task: &Task) -> Result<Option<String>, Error> {
    let (api, obj) = hook_object(cluster, task).await?;
    let r = &task.res;
    let before_creation = task
        .hook
        .as_ref()
        .is_some_and(|h| h.deletes_on(DeletePolicy::BeforeHookCreation));
    if before_creation {
        delete_and_wait(&api, &r.name, PropagationPolicy::Foreground).await?;
    }
    match api.create(&post_params(false), &obj).await {
        Ok(o) => Ok(o.metadata.resource_version),
        Err(kube::Error::Api(s)) if s.code == 409 && !before_creation => Ok(api
            .get_opt(&r.name)
            .await?
            .and_then(|o| o.metadata.resource_version)),
        Err(e) => Err(e.into()),
    }
}

/// Checks that a hook could be created: its kind exists and the server
/// accepts it (a dry-run create; an existing object is not an error).
pub async fn dry_run_hook(cluster: &Cluster, task: &Task) -> Result<(), Error> {
    let (api, obj) = hook_object(cluster, task).await?;
    match api.create(&post_params(true), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A hook's API and the object to create.
async fn hook_object(
    cluster: &Cluster,
    task: &Task,
) -> Result<(Api<DynamicObject>, DynamicObject), Error> {
    let r = &task.res;
    let info = kind_of(cluster, r).await?;
    let target = r
        .target
        .clone()
        .ok_or_else(|| Error::InvalidSpec(format!("{} has no desired state", r.label())))?;
    Ok((api(cluster, &info, r), serde_json::from_value(target)?))
}

fn post_params(dry_run: bool) -> PostParams {
    PostParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    }
}

/// Deletes one object; a missing object is not an error.
pub async fn delete(
    cluster: &Cluster,
    r: &ResourceState,
    propagation: PropagationPolicy,
) -> Result<(), Error> {
    let info = kind_of(cluster, r).await?;
    let api = api(cluster, &info, r);
    let params = DeleteParams {
        propagation_policy: Some(propagation),
        ..Default::default()
    };
    match api.delete(&r.name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// How long deleting an object before re-creating it may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(120);

async fn delete_and_wait(
    api: &Api<DynamicObject>,
    name: &str,
    propagation: PropagationPolicy,
) -> Result<(), Error> {
    let params = DeleteParams {
        propagation_policy: Some(propagation),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let deadline = tokio::time::Instant::now() + DELETE_TIMEOUT;
    while api.get_opt(name).await?.is_some() {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::LiveState(format!(
                "{name} was not deleted within {DELETE_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
