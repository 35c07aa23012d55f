//! Sync operations, as Argo CD's sync engine runs them: plan every task
//! (hooks, applies, prunes), dry-run them all, then run the plan step by
//! step (phase, then wave), each step starting once the previous one is
//! healthy and its hooks completed; SyncFail hooks when it fails. Every
//! result is written to `status.operationState.syncResult` as it happens,
//! so a restarted controller resumes without running a hook twice.

pub mod exec;
pub mod options;
pub mod plan;

use std::time::Duration;

use caravel_crd::annotations::DELETION_APPROVED;
use caravel_crd::application::{
    Application, ApplicationSource, Operation, ResourceResult, SyncOperation,
};
use caravel_health::HealthCode;
use kube::api::{Patch, PatchParams, PropagationPolicy};
use kube::Api;
use serde_json::json;

use crate::cluster::{Cluster, ManagedNamespaces};
use crate::compare::{Comparison, ResourceState};
use crate::hooks::{DeletePolicy, Phase};
use crate::live_state::{tracking_app, LiveStateCache};
use crate::settings::FIELD_MANAGER;
use crate::Error;

pub use options::SyncOptions;
use plan::{Action, Plan, Step, Task};

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

impl SyncOutcome {
    fn failed(message: String, results: Vec<ResourceResult>, written: Vec<Written>) -> Self {
        Self {
            succeeded: false,
            terminated: false,
            message,
            results,
            written,
        }
    }
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

/// How long an apply waits for the kind of a CRD created by the same sync.
const KIND_WAIT: Duration = Duration::from_secs(5);

/// The message of an operation ended by TerminateOperation (Argo CD's).
pub const TERMINATED: &str = "Operation terminated";

/// Where a running sync reports progress, and how it paces waves.
pub struct Progress {
    pub apps: Api<Application>,
    pub app: String,
    /// Pause between waves (Argo CD's ARGOCD_SYNC_WAVE_DELAY, 2 s).
    pub wave_delay: Duration,
    /// `operationState.startedAt` of this operation.
    pub started_at: String,
    /// Results this same operation recorded before the controller restarted.
    pub prior: Vec<ResourceResult>,
    /// The source being synced (recorded with the results).
    pub source: Option<ApplicationSource>,
}

impl Progress {
    /// Writes `message` to `status.operationState.message`.
    async fn report(&self, message: &str) {
        self.patch_state(json!({ "message": message })).await;
    }

    /// Writes the results so far to `status.operationState.syncResult`.
    async fn record(&self, revision: &str, results: &Results, message: &str) {
        if let Err(e) = self.try_record(revision, results, message).await {
            tracing::warn!(app = %self.app, error = %e, "reporting sync progress failed");
        }
    }

    /// Like `record`, for results that must be stored before going on.
    async fn try_record(
        &self,
        revision: &str,
        results: &Results,
        message: &str,
    ) -> Result<(), kube::Error> {
        self.try_patch_state(json!({
            "message": message,
            "syncResult": {
                "revision": revision,
                "source": self.source,
                "resources": results.0,
            }
        }))
        .await
    }

    async fn patch_state(&self, state: serde_json::Value) {
        if let Err(e) = self.try_patch_state(state).await {
            tracing::warn!(app = %self.app, error = %e, "reporting sync progress failed");
        }
    }

    async fn try_patch_state(&self, state: serde_json::Value) -> Result<(), kube::Error> {
        let patch = json!({ "status": { "operationState": state } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        self.apps
            .patch_status(&self.app, &params, &Patch::Merge(patch))
            .await
            .map(|_| ())
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

    /// Whether the Application carries `deletion-approved` set at or after
    /// `since` (an RFC 3339 time), as the UI/CLI write it to confirm.
    async fn deletion_approved(&self, since: &str) -> bool {
        let Ok(Some(app)) = self.apps.get_opt(&self.app).await else {
            return false;
        };
        approved_since(&app, since)
    }
}

/// Whether `app` approves deletions requested at or after `since`.
pub fn approved_since(app: &Application, since: &str) -> bool {
    let Some(value) = app
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_APPROVED))
    else {
        return false;
    };
    match (
        crate::status::parse_time(value),
        crate::status::parse_time(since),
    ) {
        (Some(at), Some(since)) => at >= since,
        _ => false,
    }
}

/// Resource results of one operation, one per (object, sync phase).
#[derive(Clone, Debug, Default)]
struct Results(Vec<ResourceResult>);

fn same_entry(a: &ResourceResult, b: &ResourceResult) -> bool {
    a.group == b.group
        && a.kind == b.kind
        && a.namespace == b.namespace
        && a.name == b.name
        && a.sync_phase == b.sync_phase
}

impl Results {
    fn set(&mut self, r: ResourceResult) {
        match self.0.iter_mut().find(|e| same_entry(e, &r)) {
            Some(e) => *e = r,
            None => self.0.push(r),
        }
    }

    fn get(&self, task: &Task) -> Option<&ResourceResult> {
        let probe = result(task, "", String::new(), None);
        self.0.iter().find(|e| same_entry(e, &probe))
    }
}

fn result(task: &Task, status: &str, message: String, hook_phase: Option<&str>) -> ResourceResult {
    let r = &task.res;
    ResourceResult {
        group: r.gvk.group.clone(),
        version: r.gvk.version.clone(),
        kind: r.gvk.kind.clone(),
        namespace: r.namespace.clone().unwrap_or_default(),
        name: r.name.clone(),
        status: (!status.is_empty()).then(|| status.to_owned()),
        message: Some(message),
        hook_type: task.is_hook().then(|| task.phase.as_str().to_owned()),
        hook_phase: Some(
            hook_phase
                .unwrap_or(if status == "SyncFailed" {
                    "Failed"
                } else {
                    "Succeeded"
                })
                .to_owned(),
        ),
        sync_phase: Some(task.phase.as_str().to_owned()),
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

/// Whether the plan creates the CRD of `task`'s kind (so its kind cannot be
/// known before the sync runs, and its dry run is skipped).
fn crd_in_plan(plan: &Plan, task: &Task) -> bool {
    plan.tasks().any(|t| {
        t.res.gvk.kind == "CustomResourceDefinition"
            && t.res
                .target
                .as_ref()
                .and_then(|c| c.pointer("/spec/group"))
                .and_then(|g| g.as_str())
                == Some(task.res.gvk.group.as_str())
            && t.res
                .target
                .as_ref()
                .and_then(|c| c.pointer("/spec/names/kind"))
                .and_then(|k| k.as_str())
                == Some(task.res.gvk.kind.as_str())
    })
}

/// Whether the plan creates Namespace `ns` (so objects in it cannot be
/// dry-run before the sync runs).
fn namespace_in_plan(plan: &Plan, ns: Option<&str>) -> bool {
    let Some(ns) = ns else { return false };
    plan.tasks().any(|t| {
        t.action == Action::Apply
            && t.res.gvk.group.is_empty()
            && t.res.gvk.kind == "Namespace"
            && t.res.name == ns
    })
}

fn destination(app: &Application) -> Option<&str> {
    app.spec
        .destination
        .namespace
        .as_deref()
        .filter(|s| !s.is_empty())
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
    let app_name = app.metadata.name.clone().unwrap_or_default();
    let default_op = SyncOperation::default();
    let sync = op.sync.as_ref().unwrap_or(&default_op);
    let mut opts = SyncOptions::new(app, sync);
    if opts.respect_ignore_differences {
        match caravel_diff::IgnoreRules::compile(
            app.spec.ignore_differences.as_deref().unwrap_or(&[]),
        ) {
            Ok(rules) => opts.respected = Some(std::sync::Arc::new(rules)),
            Err(e) => {
                return SyncOutcome::failed(
                    format!("invalid ignoreDifferences: {e}"),
                    vec![],
                    vec![],
                )
            }
        }
    }

    if let Some(message) = cmp.sync_blockers.first() {
        return SyncOutcome::failed(format!("ComparisonError: {message}"), vec![], vec![]);
    }
    let plan = plan::build(&app_name, sync, &opts, cmp, &progress.started_at);
    let mut results = Results::default();
    if !progress.prior.is_empty() {
        // Resumed: the dry run already passed before the restart.
        return execute(live, progress, &app_name, cmp, &opts, &plan).await;
    }

    // FailOnSharedResource: refuse before anything changes.
    if opts.fail_on_shared_resource {
        for t in plan.tasks().filter(|t| t.action == Action::Apply) {
            if let Some(owner) = t
                .res
                .live
                .as_deref()
                .and_then(tracking_app)
                .filter(|o| *o != app_name)
            {
                let message = format!(
                    "Shared resource found: {} is already part of another application {owner}",
                    t.res.label()
                );
                results.set(result(t, "SyncFailed", message.clone(), None));
                return SyncOutcome::failed(message, results.0, vec![]);
            }
        }
    }

    if opts.create_namespace && !opts.dry_run && !namespace_in_plan(&plan, destination(app)) {
        if let Err(message) = ensure_namespace(cluster, app).await {
            return SyncOutcome::failed(format!("creating namespace: {message}"), vec![], vec![]);
        }
    }

    // Dry-run every task first: a failure changes nothing.
    let mut failed: Vec<String> = Vec::new();
    for t in plan.tasks().chain(plan.sync_fail.iter()) {
        // Argo CD dry-runs client-side; a server-side dry run cannot see
        // what the same sync creates first (the CRD of a kind, the
        // Namespace an object goes to), so those are not dry-run.
        let skip_dry_run = (t.res.kind.is_none()
            && (opts.is(&t.options, "SkipDryRunOnMissingResource", "true")
                || crd_in_plan(&plan, t)))
            || (t.res.live.is_none() && namespace_in_plan(&plan, t.res.namespace.as_deref()));
        if skip_dry_run || t.action == Action::Prune {
            continue;
        }
        let outcome = match t.action {
            Action::Hook => exec::dry_run_hook(cluster, t).await,
            _ => exec::apply(cluster, &app_name, t, &opts, true)
                .await
                .map(|_| ()),
        };
        if let Err(e) = outcome {
            // A namespace that this very sync creates cannot be dry-run into.
            if opts.dry_run && opts.create_namespace && is_missing_namespace(&e) {
                continue;
            }
            failed.push(format!("{}: {e}", t.res.label()));
            results.set(result(
                t,
                "SyncFailed",
                format!("dry run failed: {e}"),
                None,
            ));
        }
    }
    if !failed.is_empty() {
        return SyncOutcome::failed(
            format!(
                "one or more objects failed to apply (dry run): {}",
                failed.join("; ")
            ),
            results.0,
            vec![],
        );
    }
    if opts.dry_run {
        for t in plan.tasks() {
            let r = match t.action {
                Action::Prune => prune_decision(&opts, t).unwrap_or_else(|| {
                    result(
                        t,
                        "Pruned",
                        format!("{} pruned (dry run)", describe(&t.res)),
                        None,
                    )
                }),
                _ => result(
                    t,
                    "Synced",
                    format!("{} serverside-applied (dry run)", describe(&t.res)),
                    None,
                ),
            };
            results.set(r);
        }
        return SyncOutcome {
            succeeded: true,
            terminated: false,
            message: "successfully synced (dry run)".into(),
            results: results.0,
            written: vec![],
        };
    }

    execute(live, progress, &app_name, cmp, &opts, &plan).await
}

/// Runs the plan step by step; SyncFail hooks when it fails.
async fn execute(
    live: &LiveStateCache,
    progress: &Progress,
    app_name: &str,
    cmp: &Comparison,
    opts: &SyncOptions,
    plan: &Plan,
) -> SyncOutcome {
    let mut execution = PlanExecution {
        live,
        cluster: live.cluster(),
        progress,
        app_name,
        revision: &cmp.revision,
        opts,
        results: Results(progress.prior.clone()),
        prior: Results(progress.prior.clone()),
        written: Vec::new(),
    };
    let mut outcome: Result<(), Stop> = Ok(());
    for (i, step) in plan.steps.iter().enumerate() {
        if i > 0 {
            if let Some(reason) = progress.stop_reason().await {
                outcome = Err(Stop::Terminated(reason));
                break;
            }
            tokio::time::sleep(progress.wave_delay).await;
        }
        let last = i + 1 == plan.steps.len();
        outcome = execution.run_step(step, last).await;
        if outcome.is_err() {
            break;
        }
    }

    if let Err(Stop::Failed(message)) = outcome.as_ref().map_err(Stop::clone) {
        if !plan.sync_fail.is_empty() {
            tracing::info!(target: "caravel::sync", app = %app_name, "running SyncFail hooks");
            let step = Step {
                phase: Phase::SyncFail,
                wave: 0,
                tasks: plan.sync_fail.clone(),
            };
            match execution.run_step(&step, false).await {
                Ok(()) => {}
                Err(Stop::Failed(m)) => {
                    tracing::warn!(target: "caravel::sync", app = %app_name, error = %m, "SyncFail hooks failed")
                }
                Err(terminated @ Stop::Terminated(_)) => outcome = Err(terminated),
            }
            execution
                .progress
                .record(execution.revision, &execution.results, &message)
                .await;
        }
    }
    if let Err(Stop::Terminated(_)) = &outcome {
        execution.delete_running_hooks(plan).await;
    }
    execution.delete_finished_hooks(plan).await;

    let PlanExecution {
        results, written, ..
    } = execution;
    match outcome {
        Ok(()) => SyncOutcome {
            succeeded: true,
            terminated: false,
            message: "successfully synced (all tasks run)".into(),
            results: results.0,
            written,
        },
        Err(Stop::Failed(message)) => SyncOutcome::failed(message, results.0, written),
        Err(Stop::Terminated(message)) => SyncOutcome {
            succeeded: false,
            terminated: true,
            message,
            results: results.0,
            written,
        },
    }
}

/// Why a sync stopped early.
#[derive(Clone)]
enum Stop {
    Failed(String),
    Terminated(String),
}

/// The result of a prune task that is not carried out, if it is not.
fn prune_decision(opts: &SyncOptions, t: &Task) -> Option<ResourceResult> {
    if !opts.prune {
        Some(result(
            t,
            "PruneSkipped",
            "ignored (requires pruning)".into(),
            None,
        ))
    } else if opts.is(&t.options, "Prune", "false") {
        Some(result(t, "PruneSkipped", "ignored (no prune)".into(), None))
    } else {
        None
    }
}

/// One operation running its plan: what it did so far, and how it reports.
struct PlanExecution<'a> {
    live: &'a LiveStateCache,
    cluster: &'a Cluster,
    progress: &'a Progress,
    app_name: &'a str,
    revision: &'a str,
    opts: &'a SyncOptions,
    results: Results,
    /// What this operation recorded before a restart.
    prior: Results,
    written: Vec<Written>,
}

impl PlanExecution<'_> {
    async fn record(&self, message: &str) {
        self.progress
            .record(self.revision, &self.results, message)
            .await;
    }

    /// Runs one step: prunes, then hooks, then applies; then waits until
    /// its objects are healthy and its hooks completed (the last step of a
    /// sync without hooks does not wait, as in Argo CD).
    #[tracing::instrument(target = "caravel::sync", name = "sync_step", skip_all, fields(step = %step.label()))]
    async fn run_step(&mut self, step: &Step, last: bool) -> Result<(), Stop> {
        let label = step.label();
        tracing::info!(target: "caravel::sync", app = %self.app_name, step = %label, tasks = step.tasks.len(), "running step");
        self.record(&format!("running {label}")).await;

        let mut pruned: Vec<&Task> = Vec::new();
        for t in step.tasks.iter().filter(|t| t.action == Action::Prune) {
            if let Some(r) = prune_decision(self.opts, t) {
                self.results.set(r);
                continue;
            }
            if self.opts.is(&t.options, "Prune", "confirm") {
                self.await_confirmation(t).await?;
            }
            let policy = self
                .opts
                .propagation
                .clone()
                .unwrap_or(PropagationPolicy::Foreground);
            match exec::delete(self.cluster, &t.res, policy).await {
                Ok(()) => {
                    self.written.push(Written::of(&t.res, None));
                    self.results.set(result(t, "Pruned", "pruned".into(), None));
                    pruned.push(t);
                }
                Err(e) => {
                    self.results
                        .set(result(t, "SyncFailed", e.to_string(), None));
                    self.record("prune failed").await;
                    return Err(Stop::Failed(format!("pruning {}: {e}", t.res.label())));
                }
            }
        }

        // Hooks and objects of one step together, in kind order, as Argo
        // CD runs them.
        for t in step.tasks.iter().filter(|t| t.action != Action::Prune) {
            if t.res.kind.is_none() {
                self.await_kind(t).await;
            }
            if t.is_hook() {
                self.start_hook(t).await?;
                continue;
            }
            match exec::apply(self.cluster, self.app_name, t, self.opts, false).await {
                Ok(rv) => {
                    self.written.push(Written::of(&t.res, rv));
                    tracing::info!(target: "caravel::sync", resource = %t.res.label(), wave = step.wave, "applied");
                    let verb = if self.opts.is(&t.options, "Replace", "true") {
                        "replaced"
                    } else {
                        "serverside-applied"
                    };
                    self.results.set(result(
                        t,
                        "Synced",
                        format!("{} {verb}", describe(&t.res)),
                        None,
                    ));
                }
                Err(e) => {
                    self.results
                        .set(result(t, "SyncFailed", e.to_string(), None));
                    self.record("apply failed").await;
                    return Err(Stop::Failed(format!(
                        "one or more objects failed to apply: {}: {e}",
                        t.res.label()
                    )));
                }
            }
        }
        self.record(&format!("{label} applied")).await;

        let has_hooks = step.tasks.iter().any(Task::is_hook);
        if last && !has_hooks {
            return Ok(());
        }
        self.wait_step(step, &pruned).await
    }

    /// A kind unknown at comparison time (its CRD applied by this sync)
    /// is served once the CRD is established: wait a little for it, as Argo
    /// CD does, before the apply reports it unknown.
    async fn await_kind(&self, t: &Task) {
        let deadline = tokio::time::Instant::now() + KIND_WAIT;
        while self.cluster.kind(&t.res.gvk).await.is_err() && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Prune=confirm: waits until the Application approves deletions.
    async fn await_confirmation(&self, t: &Task) -> Result<(), Stop> {
        let message = format!("Waiting for pruning confirmation of {}", t.res.label());
        let mut reported = false;
        loop {
            if self
                .progress
                .deletion_approved(&self.progress.started_at)
                .await
            {
                return Ok(());
            }
            if !reported {
                tracing::info!(target: "caravel::sync", app = %self.app_name, resource = %t.res.label(), "waiting for pruning confirmation");
                self.progress.report(&message).await;
                reported = true;
            }
            if let Some(reason) = self.progress.stop_reason().await {
                return Err(Stop::Terminated(reason));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Creates a hook, unless this operation already did (before a
    /// restart): a hook that completed is not run again.
    async fn start_hook(&mut self, t: &Task) -> Result<(), Stop> {
        if let Some(prior) = self.prior.get(t).cloned() {
            match prior.hook_phase.as_deref() {
                Some("Succeeded") => {
                    self.results.set(prior);
                    return Ok(());
                }
                Some("Failed") => {
                    let message = prior.message.clone().unwrap_or_default();
                    self.results.set(prior);
                    return Err(Stop::Failed(format!(
                        "{} hook {} failed: {message}",
                        t.phase.as_str(),
                        t.res.label()
                    )));
                }
                _ => {
                    // Created before the restart: follow it if it exists
                    // and this operation created it (not an earlier sync's
                    // hook of the same name, still waiting to be replaced).
                    if let Ok((_, Some(obj))) = self
                        .live
                        .get(&t.res.gvk, t.res.namespace.as_deref(), &t.res.name)
                        .await
                    {
                        if created_since(&obj, &self.progress.started_at) {
                            self.results.set(prior);
                            return Ok(());
                        }
                    }
                }
            }
        }
        // Recorded before it is created, so a restart in between finds it.
        self.results.set(result(
            t,
            "Synced",
            format!("{} created", describe(&t.res)),
            Some("Running"),
        ));
        let message = format!("running {} hook {}", t.phase.as_str(), t.res.label());
        if let Err(e) = self
            .progress
            .try_record(self.revision, &self.results, &message)
            .await
        {
            return Err(Stop::Failed(format!(
                "recording {} hook {} before creating it: {e}",
                t.phase.as_str(),
                t.res.label()
            )));
        }
        match exec::create_hook(self.cluster, t).await {
            Ok(rv) => {
                tracing::info!(target: "caravel::sync", app = %self.app_name, hook = %t.res.label(), phase = t.phase.as_str(), "hook created");
                self.written.push(Written::of(&t.res, rv));
                Ok(())
            }
            Err(e) => {
                self.results
                    .set(result(t, "SyncFailed", e.to_string(), Some("Failed")));
                self.record("hook failed").await;
                Err(Stop::Failed(format!(
                    "{} hook {} failed: {e}",
                    t.phase.as_str(),
                    t.res.label()
                )))
            }
        }
    }

    /// Waits until every applied object of the step is healthy, every hook
    /// completed and every pruned object is gone.
    async fn wait_step(&mut self, step: &Step, pruned: &[&Task]) -> Result<(), Stop> {
        for w in &self.written {
            self.live
                .wait_for(
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
            let mut hook_failure = None;
            let mut degraded = None;
            for t in &step.tasks {
                let current = self
                    .live
                    .get(&t.res.gvk, t.res.namespace.as_deref(), &t.res.name)
                    .await
                    .ok()
                    .and_then(|(_, o)| o);
                match t.action {
                    Action::Prune => {
                        if pruned.iter().any(|p| std::ptr::eq(*p, t)) && current.is_some() {
                            waiting.push(format!("{} (deleting)", t.res.label()));
                        }
                    }
                    Action::Apply => {
                        let health = current.map(|obj| {
                            let json = serde_json::to_value(&*obj).unwrap_or_default();
                            caravel_health::assess_or_healthy(&json)
                        });
                        match health {
                            Some(h)
                                if matches!(
                                    h.status,
                                    HealthCode::Healthy | HealthCode::Suspended
                                ) => {}
                            // As Argo CD: a degraded object fails the sync
                            // (it would otherwise wait forever).
                            Some(h) if h.status == HealthCode::Degraded => {
                                let message = h.message.clone().unwrap_or_default();
                                self.results.set(result(
                                    t,
                                    "SyncFailed",
                                    format!("degraded: {message}"),
                                    Some("Failed"),
                                ));
                                degraded =
                                    Some(format!("{} is Degraded: {message}", t.res.label()));
                            }
                            _ => waiting.push(t.res.label()),
                        }
                    }
                    Action::Hook => {
                        if self
                            .results
                            .get(t)
                            .is_some_and(|r| r.hook_phase.as_deref() != Some("Running"))
                        {
                            continue;
                        }
                        let (phase, message) = match current {
                            None => (
                                "Failed",
                                "the hook object was deleted before it completed".to_owned(),
                            ),
                            Some(obj) => {
                                let json = serde_json::to_value(&*obj).unwrap_or_default();
                                let h = caravel_health::assess_or_healthy(&json);
                                let message = h.message.clone().unwrap_or_default();
                                match h.status {
                                    HealthCode::Healthy => ("Succeeded", message),
                                    HealthCode::Degraded | HealthCode::Unknown => {
                                        ("Failed", message)
                                    }
                                    _ => ("Running", message),
                                }
                            }
                        };
                        match phase {
                            "Running" => waiting.push(format!("hook {}", t.res.label())),
                            "Succeeded" => {
                                tracing::info!(target: "caravel::sync", app = %self.app_name, hook = %t.res.label(), "hook succeeded");
                                let message = if message.is_empty() {
                                    format!("{} completed", describe(&t.res))
                                } else {
                                    message
                                };
                                self.results
                                    .set(result(t, "Synced", message, Some("Succeeded")));
                            }
                            _ => {
                                tracing::info!(target: "caravel::sync", app = %self.app_name, hook = %t.res.label(), %message, "hook failed");
                                self.results.set(result(
                                    t,
                                    "SyncFailed",
                                    message.clone(),
                                    Some("Failed"),
                                ));
                                hook_failure = Some(format!(
                                    "{} hook {} failed: {message}",
                                    t.phase.as_str(),
                                    t.res.label()
                                ));
                            }
                        }
                    }
                }
            }
            if let Some(message) = hook_failure.or(degraded) {
                self.record(&message).await;
                return Err(Stop::Failed(message));
            }
            if waiting.is_empty() {
                self.record(&format!("{} completed", step.label())).await;
                return Ok(());
            }
            let message = if step.phase == Phase::Sync {
                format!(
                    "waiting for healthy state of wave {}: {}",
                    step.wave,
                    waiting.join(", ")
                )
            } else {
                format!(
                    "waiting for completion of {}: {}",
                    step.label(),
                    waiting.join(", ")
                )
            };
            if message != reported {
                tracing::info!(target: "caravel::sync", app = %self.app_name, step = %step.label(), waiting = %waiting.join(", "), "waiting for step");
                self.record(&message).await;
                reported = message;
            }
            polls += 1;
            if polls.is_multiple_of(2) {
                if let Some(reason) = self.progress.stop_reason().await {
                    return Err(Stop::Terminated(reason));
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// On termination, as Argo CD: hooks still running are deleted and
    /// recorded as Terminated.
    async fn delete_running_hooks(&mut self, plan: &Plan) {
        for t in plan
            .tasks()
            .chain(plan.sync_fail.iter())
            .filter(|t| t.is_hook())
        {
            if self.results.get(t).and_then(|r| r.hook_phase.as_deref()) != Some("Running") {
                continue;
            }
            match exec::delete(self.cluster, &t.res, PropagationPolicy::Background).await {
                Ok(()) => {
                    tracing::info!(target: "caravel::sync", app = %self.app_name, hook = %t.res.label(), "running hook deleted (operation terminated)");
                    self.written.push(Written::of(&t.res, None));
                    self.results.set(result(
                        t,
                        "SyncFailed",
                        TERMINATED.to_owned(),
                        Some("Terminated"),
                    ));
                }
                Err(e) => {
                    tracing::warn!(target: "caravel::sync", app = %self.app_name, hook = %t.res.label(), error = %e, "deleting a running hook failed")
                }
            }
        }
        self.record(TERMINATED).await;
    }

    /// Deletes hooks whose delete policy asks for it: HookSucceeded ones
    /// that succeeded, HookFailed ones that failed.
    async fn delete_finished_hooks(&mut self, plan: &Plan) {
        for t in plan
            .tasks()
            .chain(plan.sync_fail.iter())
            .filter(|t| t.is_hook())
        {
            let Some(info) = &t.hook else { continue };
            let phase = self.results.get(t).and_then(|r| r.hook_phase.clone());
            let delete = match phase.as_deref() {
                Some("Succeeded") => info.deletes_on(DeletePolicy::HookSucceeded),
                Some("Failed") => info.deletes_on(DeletePolicy::HookFailed),
                _ => false,
            };
            if !delete {
                continue;
            }
            match exec::delete(self.cluster, &t.res, PropagationPolicy::Background).await {
                Ok(()) => {
                    tracing::info!(target: "caravel::sync", app = %self.app_name, hook = %t.res.label(), "hook deleted by its delete policy");
                    self.written.push(Written::of(&t.res, None));
                }
                Err(e) => {
                    tracing::warn!(target: "caravel::sync", app = %self.app_name, hook = %t.res.label(), error = %e, "deleting hook failed")
                }
            }
        }
    }
}

/// Whether `obj` was created at or after `since` (RFC 3339).
fn created_since(obj: &kube::api::DynamicObject, since: &str) -> bool {
    let Some(since) = crate::status::parse_time(since) else {
        return false;
    };
    obj.metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| crate::status::parse_time(&t.0.to_string()))
        .is_some_and(|created| created >= since)
}

fn is_missing_namespace(e: &Error) -> bool {
    matches!(e, Error::Kube(kube::Error::Api(s)) if s.code == 404)
}

/// CreateNamespace=true: the destination namespace, with
/// `managedNamespaceMetadata` applied to it. In namespaced mode only a
/// managed namespace qualifies; its Role lets the controller update it
/// when it exists, while creating it takes cluster-wide rights.
async fn ensure_namespace(cluster: &Cluster, app: &Application) -> Result<(), String> {
    let Some(ns) = app
        .spec
        .destination
        .namespace
        .as_deref()
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let managed = cluster.namespaces();
    if !managed.manages(ns) {
        return Err(format!(
            "namespace {ns:?} is not managed (this controller manages only namespaces {})",
            managed.describe()
        ));
    }
    apply_namespace(cluster, app, ns).await.map_err(|e| match (managed, &e) {
        (ManagedNamespaces::Only(_), Error::Kube(kube::Error::Api(s))) if s.code == 403 => format!(
            "{e} (in namespaced mode the controller has rights in namespace {ns:?} only: it can update that namespace, not create it, so it must exist)"
        ),
        _ => e.to_string(),
    })
}

async fn apply_namespace(cluster: &Cluster, app: &Application, ns: &str) -> Result<(), Error> {
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

    #[test]
    fn deletion_approval_must_postdate_the_request() {
        let mut app = Application::default();
        assert!(!approved_since(&app, "2026-11-23T10:00:00Z"));
        app.metadata.annotations = Some(
            [(
                DELETION_APPROVED.to_owned(),
                "2026-11-23T10:00:05Z".to_owned(),
            )]
            .into_iter()
            .collect(),
        );
        assert!(approved_since(&app, "2026-11-23T10:00:00Z"));
        assert!(!approved_since(&app, "2026-11-23T10:01:00Z"));
        app.metadata.annotations = Some(
            [(DELETION_APPROVED.to_owned(), "yes".to_owned())]
                .into_iter()
                .collect(),
        );
        assert!(!approved_since(&app, "2026-11-23T10:00:00Z"));
    }
}
