//! Sync operations: dry-run everything, then apply in Argo CD's order
//! (wave, kind, name) with server-side apply, then prune. Each step is
//! recorded in `status.operationState` as Argo CD records it.

use caravel_crd::annotations::SYNC_OPTIONS;
use caravel_crd::application::{Application, Operation, ResourceResult, SyncOperation};
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde_json::{json, Value};

use std::time::Duration;

use caravel_health::HealthCode;
use kube::Api;

use crate::cluster::Cluster;
use crate::compare::{Comparison, ResourceState};
use crate::live_state::LiveStateCache;
use crate::settings::{kind_rank, FIELD_MANAGER};
use crate::Error;

/// What a finished sync reports.
#[derive(Clone, Debug)]
pub struct SyncOutcome {
    pub succeeded: bool,
    /// Stopped by request (terminated or withdrawn): never retried.
    pub terminated: bool,
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
    live: &LiveStateCache,
    progress: &Progress,
    app: &Application,
    op: &Operation,
    cmp: &Comparison,
) -> SyncOutcome {
    let cluster = live.cluster();
    let default_op = SyncOperation::default();
    let sync = op.sync.as_ref().unwrap_or(&default_op);
    let opts = SyncOptions::new(app, sync);

    if let Some(c) = cmp
        .conditions
        .iter()
        .find(|c| c.type_ == caravel_crd::condition::COMPARISON_ERROR)
    {
        return SyncOutcome {
            terminated: false,
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
                terminated: false,
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
            terminated: false,
            succeeded: false,
            message: "one or more objects failed to apply (dry run)".into(),
            results,
            written,
        };
    }

    let waves = by_wave(&tasks);
    for (i, (wave, members)) in waves.iter().enumerate() {
        if i > 0 && !opts.dry_run {
            tokio::time::sleep(progress.wave_delay).await;
        }
        for r in members {
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
                    tracing::info!(target: "caravel::sync", resource = %r.label(), wave, "applied");
                    results.push(result(r, "Synced", format!("{} {verb}", describe(r))));
                }
                Err(e) => {
                    failed = true;
                    results.push(result(r, "SyncFailed", e.to_string()));
                    break;
                }
            }
        }
        if failed {
            break;
        }
        if i + 1 < waves.len() && !opts.dry_run {
            if let Err(message) = wait_healthy(live, progress, *wave, members, &written).await {
                return SyncOutcome {
                    succeeded: false,
                    terminated: true,
                    message,
                    results,
                    written,
                };
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
        terminated: false,
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

/// The message of an operation ended by TerminateOperation (Argo CD's).
pub const TERMINATED: &str = "Operation terminated";

/// Where a running sync reports progress, and how it paces waves.
pub struct Progress {
    pub apps: Api<Application>,
    pub app: String,
    /// Pause between waves (Argo CD's ARGOCD_SYNC_WAVE_DELAY, 2 s).
    pub wave_delay: Duration,
}

impl Progress {
    /// Writes `message` to `status.operationState.message`.
    async fn report(&self, message: &str) {
        let patch = serde_json::json!({ "status": { "operationState": { "message": message } } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        if let Err(e) = self
            .apps
            .patch_status(&self.app, &params, &Patch::Merge(patch))
            .await
        {
            tracing::warn!(app = %self.app, error = %e, "reporting sync progress failed");
        }
    }

    /// Why the running operation must stop, if it must: terminated
    /// (phase set to Terminating) or withdrawn (`.operation` removed).
    async fn stop_reason(&self) -> Option<String> {
        let app = self.apps.get_opt(&self.app).await.ok()??;
        let phase = app
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .map(|o| o.phase.as_str());
        if phase == Some(caravel_crd::phase::TERMINATING) {
            Some(TERMINATED.to_owned())
        } else if app.operation.is_none() {
            Some("operation withdrawn".to_owned())
        } else {
            None
        }
    }
}

/// Consecutive runs of tasks with the same wave, in order.
fn by_wave<'a>(tasks: &[&'a ResourceState]) -> Vec<(i64, Vec<&'a ResourceState>)> {
    let mut waves: Vec<(i64, Vec<&ResourceState>)> = Vec::new();
    for r in tasks {
        match waves.last_mut() {
            Some((w, members)) if *w == r.wave => members.push(r),
            _ => waves.push((r.wave, vec![r])),
        }
    }
    waves
}

/// A wave is done once each of its objects is Healthy (or Suspended), as
/// the live cache sees it after the objects the sync wrote arrived there.
async fn wait_healthy(
    live: &LiveStateCache,
    progress: &Progress,
    wave: i64,
    members: &[&ResourceState],
    written: &[Written],
) -> Result<(), String> {
    for w in written {
        live.wait_for(
            &w.gvk,
            w.namespace.as_deref(),
            &w.name,
            w.resource_version.as_deref(),
            Duration::from_secs(5),
        )
        .await;
    }
    let mut reported = String::new();
    let mut polls: u32 = 0;
    loop {
        let mut waiting = Vec::new();
        for r in members {
            let healthy = match live.get(&r.gvk, r.namespace.as_deref(), &r.name).await {
                Ok((_, Some(obj))) => {
                    let json = serde_json::to_value(&*obj).unwrap_or_default();
                    matches!(
                        caravel_health::assess_or_healthy(&json).status,
                        HealthCode::Healthy | HealthCode::Suspended
                    )
                }
                _ => false,
            };
            if !healthy {
                waiting.push(r.label());
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        let message = format!(
            "waiting for healthy state of wave {wave}: {}",
            waiting.join(", ")
        );
        if message != reported {
            tracing::info!(target: "caravel::sync", app = %progress.app, wave, waiting = %waiting.join(", "), "waiting for wave");
            progress.report(&message).await;
            reported = message;
        }
        polls += 1;
        if polls.is_multiple_of(2) {
            if let Some(reason) = progress.stop_reason().await {
                return Err(reason);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
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

    fn task(wave: i64, name: &str) -> ResourceState {
        ResourceState {
            gvk: kube::api::GroupVersionKind::gvk("", "v1", "ConfigMap"),
            kind: None,
            namespace: None,
            name: name.into(),
            wave,
            target: None,
            live: None,
            predicted: None,
            synced: false,
            requires_pruning: false,
            health: None,
            message: None,
        }
    }

    #[test]
    fn tasks_group_into_consecutive_waves() {
        let (a, b, c, d) = (task(-10, "a"), task(-10, "b"), task(0, "c"), task(17, "d"));
        let tasks = vec![&a, &b, &c, &d];
        let waves: Vec<(i64, Vec<&str>)> = by_wave(&tasks)
            .into_iter()
            .map(|(w, m)| (w, m.iter().map(|r| r.name.as_str()).collect()))
            .collect();
        assert_eq!(
            waves,
            vec![(-10, vec!["a", "b"]), (0, vec!["c"]), (17, vec!["d"])]
        );
    }
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
