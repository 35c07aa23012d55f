//! Sync operations: dry-run everything, then apply in Argo CD's order
//! (wave, kind, name) with server-side apply, then prune. Each step is
//! recorded in `status.operationState` as Argo CD records it.

use caravel_crd::annotations::SYNC_OPTIONS;
use caravel_crd::application::{Application, Operation, ResourceResult, SyncOperation};
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::compare::{Comparison, ResourceState};
use crate::settings::{kind_rank, FIELD_MANAGER};
use crate::Error;

/// What a finished sync reports.
#[derive(Clone, Debug)]
pub struct SyncOutcome {
    pub succeeded: bool,
    pub message: String,
    pub results: Vec<ResourceResult>,
    /// What the sync wrote: each object and the resourceVersion the server
    /// returned (`None` for deletions), so the live cache can catch up.
    pub written: Vec<Written>,
}

/// One object a sync created, changed or deleted.
#[derive(Clone, Debug)]
pub struct Written {
    pub gvk: kube::api::GroupVersionKind,
    pub namespace: Option<String>,
    pub name: String,
    pub resource_version: Option<String>,
}

impl Written {
    fn of(r: &ResourceState, resource_version: Option<String>) -> Self {
        Self {
            gvk: r.gvk.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            resource_version,
        }
    }
}

/// Options in effect for one operation: the app's plus the operation's.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    pub prune: bool,
    pub dry_run: bool,
    pub force: bool,
    pub create_namespace: bool,
    pub apply_out_of_sync_only: bool,
    pub prune_last: bool,
    pub propagation: Option<PropagationPolicy>,
}

impl SyncOptions {
    pub fn new(app: &Application, op: &SyncOperation) -> Self {
        let mut all: Vec<String> = app.sync_options().to_vec();
        all.extend(op.sync_options.iter().flatten().cloned());
        let has = |o: &str| all.iter().any(|x| x.trim().eq_ignore_ascii_case(o));
        let propagation = all.iter().find_map(|o| {
            let v = o.trim().strip_prefix("PrunePropagationPolicy=")?;
            match v.to_ascii_lowercase().as_str() {
                "foreground" => Some(PropagationPolicy::Foreground),
                "background" => Some(PropagationPolicy::Background),
                "orphan" => Some(PropagationPolicy::Orphan),
                _ => None,
            }
        });
        Self {
            prune: op.prune.unwrap_or(false),
            dry_run: op.dry_run.unwrap_or(false),
            force: op
                .sync_strategy
                .as_ref()
                .and_then(|s| s.apply.as_ref().or(s.hook.as_ref()))
                .and_then(|f| f.force)
                .unwrap_or(false),
            create_namespace: has("CreateNamespace=true"),
            apply_out_of_sync_only: has("ApplyOutOfSyncOnly=true"),
            prune_last: has("PruneLast=true"),
            propagation,
        }
    }
}

/// Per-resource `sync-options` annotation values (e.g. `Prune=false`).
fn resource_options(r: &ResourceState) -> Vec<String> {
    let from = |v: Option<&Value>| {
        v.and_then(|o| o.pointer("/metadata/annotations"))
            .and_then(|a| a.get(SYNC_OPTIONS))
            .and_then(Value::as_str)
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_owned())
                    .collect::<Vec<_>>()
            })
    };
    from(r.target.as_ref())
        .or_else(|| {
            r.live.as_ref().and_then(|l| {
                l.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(SYNC_OPTIONS))
                    .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect())
            })
        })
        .unwrap_or_default()
}

fn selected(op: &SyncOperation, r: &ResourceState) -> bool {
    let Some(selection) = op.resources.as_ref().filter(|s| !s.is_empty()) else {
        return true;
    };
    selection.iter().any(|s| {
        s.kind == r.gvk.kind
            && s.name == r.name
            && s.group.as_deref().unwrap_or("") == r.gvk.group
            && s.namespace
                .as_deref()
                .is_none_or(|ns| ns.is_empty() || Some(ns) == r.namespace.as_deref())
    })
}

fn result(r: &ResourceState, status: &str, message: String) -> ResourceResult {
    ResourceResult {
        group: r.gvk.group.clone(),
        version: r.gvk.version.clone(),
        kind: r.gvk.kind.clone(),
        namespace: r.namespace.clone().unwrap_or_default(),
        name: r.name.clone(),
        status: Some(status.to_owned()),
        message: Some(message),
        hook_type: None,
        hook_phase: Some(
            if status == "SyncFailed" {
                "Failed"
            } else {
                "Succeeded"
            }
            .to_owned(),
        ),
        sync_phase: Some("Sync".to_owned()),
    }
}

fn describe(r: &ResourceState) -> String {
    let kind = r.gvk.kind.to_ascii_lowercase();
    if r.gvk.group.is_empty() {
        format!("{kind}/{}", r.name)
    } else {
        format!("{kind}.{}/{}", r.gvk.group, r.name)
    }
}

/// Runs one sync of `cmp` (compared at the operation's revision).
#[tracing::instrument(target = "caravel::sync", name = "sync", skip_all, fields(app = %app.metadata.name.as_deref().unwrap_or(""), revision = %cmp.revision))]
pub async fn run(
    cluster: &Cluster,
    app: &Application,
    op: &Operation,
    cmp: &Comparison,
) -> SyncOutcome {
    let default_op = SyncOperation::default();
    let sync = op.sync.as_ref().unwrap_or(&default_op);
    let opts = SyncOptions::new(app, sync);

    if let Some(c) = cmp
        .conditions
        .iter()
        .find(|c| c.type_ == caravel_crd::condition::COMPARISON_ERROR)
    {
        return SyncOutcome {
            succeeded: false,
            message: format!("ComparisonError: {}", c.message),
            results: vec![],
            written: vec![],
        };
    }

    let mut tasks: Vec<&ResourceState> = cmp
        .resources
        .iter()
        .filter(|r| !r.requires_pruning && r.target.is_some() && selected(sync, r))
        .filter(|r| !opts.apply_out_of_sync_only || !r.synced)
        .collect();
    tasks.sort_by(|a, b| {
        (a.wave, kind_rank(&a.gvk.kind), &a.name).cmp(&(b.wave, kind_rank(&b.gvk.kind), &b.name))
    });
    let mut prunes: Vec<&ResourceState> = cmp
        .resources
        .iter()
        .filter(|r| r.requires_pruning && selected(sync, r))
        .collect();
    // Prune in reverse order of creation.
    prunes.sort_by(|a, b| {
        (b.wave, kind_rank(&b.gvk.kind), &b.name).cmp(&(a.wave, kind_rank(&a.gvk.kind), &a.name))
    });

    if opts.create_namespace && !opts.dry_run {
        if let Err(e) = ensure_namespace(cluster, app).await {
            return SyncOutcome {
                succeeded: false,
                message: format!("creating namespace: {e}"),
                results: vec![],
                written: vec![],
            };
        }
    }

    // Dry-run every task first: a failure changes nothing.
    let mut results = Vec::new();
    let mut written = Vec::new();
    let mut failed = false;
    for r in &tasks {
        if let Err(e) = apply(cluster, r, true, opts.force).await {
            // A namespace that this very sync creates cannot be dry-run into.
            if opts.dry_run && opts.create_namespace && is_missing_namespace(&e) {
                continue;
            }
            failed = true;
            results.push(result(r, "SyncFailed", format!("dry run failed: {e}")));
        }
    }
    if failed {
        return SyncOutcome {
            succeeded: false,
            message: "one or more objects failed to apply (dry run)".into(),
            results,
            written,
        };
    }

    for r in &tasks {
        let verb = if opts.dry_run {
            "serverside-applied (dry run)"
        } else {
            "serverside-applied"
        };
        match apply(cluster, r, opts.dry_run, opts.force).await {
            Ok(rv) => {
                if !opts.dry_run {
                    written.push(Written::of(r, rv));
                }
                tracing::info!(target: "caravel::sync", resource = %r.label(), "applied");
                results.push(result(r, "Synced", format!("{} {verb}", describe(r))));
            }
            Err(e) => {
                failed = true;
                results.push(result(r, "SyncFailed", e.to_string()));
                break;
            }
        }
    }

    if !failed {
        for r in prunes {
            let options = resource_options(r);
            if !opts.prune {
                results.push(result(
                    r,
                    "PruneSkipped",
                    "ignored (requires pruning)".into(),
                ));
            } else if options
                .iter()
                .any(|o| o.eq_ignore_ascii_case("Prune=false"))
            {
                results.push(result(r, "PruneSkipped", "ignored (no prune)".into()));
            } else if opts.dry_run {
                results.push(result(
                    r,
                    "Pruned",
                    format!("{} pruned (dry run)", describe(r)),
                ));
            } else {
                match prune(cluster, r, opts.propagation.clone()).await {
                    Ok(()) => {
                        written.push(Written::of(r, None));
                        results.push(result(r, "Pruned", "pruned".into()));
                    }
                    Err(e) => {
                        failed = true;
                        results.push(result(r, "SyncFailed", e.to_string()));
                    }
                }
            }
        }
    }

    SyncOutcome {
        succeeded: !failed,
        message: if failed {
            "one or more objects failed to apply".into()
        } else if opts.dry_run {
            "successfully synced (dry run)".into()
        } else {
            "successfully synced (all tasks run)".into()
        },
        results,
        written,
    }
}

fn is_missing_namespace(e: &Error) -> bool {
    matches!(e, Error::Kube(kube::Error::Api(s)) if s.code == 404)
}

/// Server-side applies one object; returns the resourceVersion stored.
async fn apply(
    cluster: &Cluster,
    r: &ResourceState,
    dry_run: bool,
    force: bool,
) -> Result<Option<String>, Error> {
    let (Some(target), Some(info)) = (&r.target, &r.kind) else {
        return Err(Error::UnknownKind(crate::cluster::gvk_label(&r.gvk)));
    };
    let api = cluster.api(info, r.namespace.as_deref());
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    match api.patch(&r.name, &params, &Patch::Apply(target)).await {
        Ok(obj) => Ok(obj.metadata.resource_version),
        // Force=true: replace an object whose immutable fields changed.
        Err(kube::Error::Api(s)) if force && s.code == 422 && !dry_run => {
            api.delete(&r.name, &DeleteParams::foreground()).await?;
            let obj = api.patch(&r.name, &params, &Patch::Apply(target)).await?;
            Ok(obj.metadata.resource_version)
        }
        Err(e) => Err(e.into()),
    }
}

async fn prune(
    cluster: &Cluster,
    r: &ResourceState,
    propagation: Option<PropagationPolicy>,
) -> Result<(), Error> {
    let Some(info) = &r.kind else {
        return Err(Error::UnknownKind(crate::cluster::gvk_label(&r.gvk)));
    };
    let api = cluster.api(info, r.namespace.as_deref());
    let params = DeleteParams {
        propagation_policy: Some(propagation.unwrap_or(PropagationPolicy::Foreground)),
        ..Default::default()
    };
    match api.delete(&r.name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// CreateNamespace=true: the destination namespace, with
/// `managedNamespaceMetadata` applied to it.
async fn ensure_namespace(cluster: &Cluster, app: &Application) -> Result<(), Error> {
    let Some(ns) = app
        .spec
        .destination
        .namespace
        .as_deref()
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let meta = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.managed_namespace_metadata.as_ref());
    let mut metadata = json!({ "name": ns });
    if let Some(m) = meta {
        if let Some(l) = &m.labels {
            metadata["labels"] = json!(l);
        }
        if let Some(a) = &m.annotations {
            metadata["annotations"] = json!(a);
        }
    }
    let gvk = kube::api::GroupVersionKind::gvk("", "v1", "Namespace");
    let info = cluster.kind(&gvk).await?;
    let api = cluster.api(&info, None);
    let body = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": metadata });
    api.patch(
        ns,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_crd::application::{SyncPolicy, SyncStrategy, SyncStrategyForce};

    #[test]
    fn sync_options_merge_app_and_operation_settings() {
        let mut app = Application::default();
        app.spec.sync_policy = Some(SyncPolicy {
            sync_options: Some(vec![
                "CreateNamespace=true".into(),
                "PrunePropagationPolicy=background".into(),
            ]),
            ..Default::default()
        });
        let op = SyncOperation {
            prune: Some(true),
            sync_options: Some(vec!["ApplyOutOfSyncOnly=true".into()]),
            sync_strategy: Some(SyncStrategy {
                apply: Some(SyncStrategyForce {
                    force: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = SyncOptions::new(&app, &op);
        assert!(o.prune && o.force && o.create_namespace && o.apply_out_of_sync_only);
        assert!(!o.dry_run);
        assert!(matches!(o.propagation, Some(PropagationPolicy::Background)));
    }
}
