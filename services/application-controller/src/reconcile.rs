//! The reconcile loop. `reconcile(app, ctx)` decides whether the app needs a
//! comparison (user refresh, spec change, live change, periodic), runs a
//! requested operation, writes status, and starts an automated sync when
//! Argo CD's rules allow. Running it twice changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caravel_appstate::{AppStateCache, ManagedResource};
use caravel_crd::annotations::REFRESH;
use caravel_crd::application::{
    Application, Operation, OperationInitiator, OperationState, RevisionHistory, SyncOperation,
    SyncOperationResult,
};
use caravel_crd::{condition, phase, sync_status};
use caravel_proto::reposerver::v1::repo_server_service_client::RepoServerServiceClient;
use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use rand::Rng;
use serde_json::json;
use tokio::sync::Mutex;

use crate::cluster::Cluster;
use crate::compare::{self, Comparison, DryRunCache, RefreshLevel};
use crate::live_state::LiveStateCache;
use crate::{deletion, retry, status, sync, Error, Opt};

/// How long a comparison after a sync waits for the watch to deliver what
/// the sync wrote.
const LIVE_CATCH_UP: Duration = Duration::from_secs(5);

/// What the controller remembers about an app between reconciles.
#[derive(Clone, Debug, Default)]
struct AppMemo {
    compared_generation: Option<i64>,
    last_good_compare: Option<Instant>,
    self_heal_attempts: u32,
    last_self_heal: Option<Instant>,
    /// When a failed operation may run again (precise; `finishedAt` in
    /// status only has seconds, and is the fallback after a restart).
    retry_at: Option<Instant>,
}

pub struct Context {
    opt: Opt,
    cluster: Cluster,
    live: LiveStateCache,
    dry_runs: DryRunCache,
    repo: RepoServerServiceClient<caravel_grpc::TracedChannel>,
    repositories: crate::repositories::Repositories,
    app_state: Option<AppStateCache>,
    memos: Mutex<HashMap<String, AppMemo>>,
    live_changed: Mutex<HashSet<String>>,
}

/// Runs the controller until `shutdown`.
pub async fn run(
    client: kube::Client,
    opt: Opt,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let cluster = Cluster::new(client.clone()).managing(crate::cluster::ManagedNamespaces::new(
        &opt.resource_namespaces,
    ));
    let live = LiveStateCache::new(cluster.clone(), changed_tx);
    let repo = RepoServerServiceClient::new(caravel_grpc::channel(&opt.repo_server)?)
        .max_decoding_message_size(256 * 1024 * 1024);
    let app_state = match &opt.redis_url {
        Some(url) => {
            let url =
                caravel_appstate::redis_url_with_password(url, opt.redis_password.as_deref())?;
            Some(AppStateCache::connect(&url, &opt.redis_key_prefix).await?)
        }
        None => None,
    };
    let apps: Api<Application> = Api::namespaced(client.clone(), &opt.namespace);
    let namespace = opt.namespace.clone();
    let ctx = Arc::new(Context {
        opt,
        cluster,
        live,
        dry_runs: DryRunCache::default(),
        repo,
        repositories: crate::repositories::Repositories::new(client.clone(), &namespace),
        app_state,
        memos: Mutex::default(),
        live_changed: Mutex::default(),
    });

    // Live-object changes re-queue the app that owns them.
    let (trigger_tx, trigger_rx) = tokio::sync::mpsc::unbounded_channel::<ObjectRef<Application>>();
    let config = kube::runtime::controller::Config::default()
        .concurrency(ctx.opt.status_processors)
        .debounce(Duration::from_millis(200));
    let controller = Controller::new(apps, watcher::Config::default()).with_config(config);
    let known_apps = controller.store();
    let trigger_ctx = ctx.clone();
    tokio::spawn(async move {
        while let Some(app) = changed_rx.recv().await {
            let app_ref = ObjectRef::new(&app).within(&namespace);
            // Tracking ids name apps of every controller in the cluster;
            // only this controller's apps are of interest.
            if known_apps.get(&app_ref).is_none() {
                continue;
            }
            trigger_ctx.live_changed.lock().await.insert(app);
            if trigger_tx.send(app_ref).is_err() {
                break;
            }
        }
    });

    controller
        .reconcile_on(tokio_stream::wrappers::UnboundedReceiverStream::new(
            trigger_rx,
        ))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "reconcile loop event");
            }
        })
        .await;
    tracing::info!("controller stopped");
    Ok(())
}

fn error_policy(app: Arc<Application>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(app = %app.name_any(), error = %error, reason = error.metric_label(), "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

fn resync_delay(opt: &Opt) -> Duration {
    let jitter_ms = opt.app_resync_jitter.as_millis() as u64;
    let jitter = if jitter_ms == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..=jitter_ms)
    };
    opt.app_resync_period + Duration::from_millis(jitter)
}

/// Time until the next periodic refresh is due, or zero when it is due.
fn until_due(app: &Application, opt: &Opt) -> Duration {
    let Some(at) = app
        .status
        .as_ref()
        .and_then(|s| s.reconciled_at.as_deref())
        .and_then(status::parse_time)
    else {
        return Duration::ZERO;
    };
    let elapsed = (chrono::Utc::now() - at).to_std().unwrap_or(Duration::ZERO);
    opt.app_resync_period.saturating_sub(elapsed)
}

#[tracing::instrument(target = "caravel::reconcile", name = "reconcile", skip_all, fields(app = %app.name_any()))]
async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = app.name_any();
    let api: Api<Application> = Api::namespaced(ctx.cluster.client().clone(), &ctx.opt.namespace);
    if app.metadata.deletion_timestamp.is_some() {
        ctx.memos.lock().await.remove(&name);
        return deletion::finalize(&api, &app, &ctx.live).await;
    }

    let refresh = app.annotations().get(REFRESH).cloned();
    let live_changed = ctx.live_changed.lock().await.remove(&name);
    let memo = ctx
        .memos
        .lock()
        .await
        .get(&name)
        .cloned()
        .unwrap_or_default();
    let spec_changed = memo.compared_generation != app.metadata.generation;
    let due = until_due(&app, &ctx.opt);
    let operation = app.operation.clone();

    if refresh.is_none() && operation.is_none() && !live_changed && !spec_changed && !due.is_zero()
    {
        return Ok(Action::requeue(due));
    }
    let level = RefreshLevel {
        resolve_revision: refresh.is_some() || spec_changed || operation.is_some(),
        hard: refresh.as_deref() == Some("hard"),
    };

    if let Some(op) = operation {
        // The cached object may predate the end of this very operation (a
        // reconcile queued while it ran): act only on the current object,
        // as Argo CD re-reads the app before processing an operation.
        let Some(app) = api
            .get_opt(&name)
            .await?
            .filter(|a| a.operation.as_ref() == Some(&op))
        else {
            return Ok(Action::requeue(Duration::from_secs(1)));
        };
        if is_terminating(&app) {
            // Terminated while waiting to retry (or before it started).
            ctx.memos
                .lock()
                .await
                .entry(name.clone())
                .or_default()
                .retry_at = None;
            end_terminated(&api, &app).await?;
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        let in_memory = memo
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now()));
        if let Some(wait) = in_memory
            .or_else(|| retry_wait(&app, &op))
            .filter(|w| !w.is_zero())
        {
            return Ok(Action::requeue(wait));
        }
        let retry = run_operation(&api, &app, &op, &ctx, level).await?;
        ctx.memos
            .lock()
            .await
            .entry(name.clone())
            .or_default()
            .retry_at = retry.map(|delay| Instant::now() + delay);
        if let Some(delay) = retry {
            return Ok(Action::requeue(delay));
        }
    } else if let Err(e) = check_spec(&app) {
        status::patch(
            &api,
            &name,
            status::from_comparison_error(&app, condition::INVALID_SPEC_ERROR, e),
        )
        .await?;
    } else {
        match compare_app(&app, &ctx, None, level).await {
            Ok(cmp) => {
                write_comparison(&api, &app, &cmp, &ctx).await?;
                auto_sync(&api, &app, &cmp, &ctx).await?;
            }
            Err(e) => comparison_failed(&api, &app, &ctx, e).await?,
        }
    }

    if refresh.is_some() {
        status::patch_app(
            &api,
            &name,
            json!({ "metadata": { "annotations": { REFRESH: null } } }),
        )
        .await?;
    }
    let mut memos = ctx.memos.lock().await;
    let memo = memos.entry(name).or_default();
    memo.compared_generation = app.metadata.generation;
    Ok(Action::requeue(resync_delay(&ctx.opt)))
}

fn check_spec(app: &Application) -> Result<(), String> {
    compare::check_destination(app)?;
    if app.primary_source().is_none() {
        return Err("application has no source".into());
    }
    Ok(())
}

async fn compare_app(
    app: &Application,
    ctx: &Context,
    revision: Option<&str>,
    level: RefreshLevel,
) -> Result<Comparison, Error> {
    let mut repo = ctx.repo.clone();
    let capabilities = ctx.cluster.capabilities().await;
    let desired = compare::fetch_desired(
        &mut repo,
        &ctx.repositories,
        &capabilities,
        app,
        revision,
        level,
    )
    .await?;
    Ok(compare::compare(&ctx.live, &ctx.dry_runs, app, desired).await)
}

async fn write_comparison(
    api: &Api<Application>,
    app: &Application,
    cmp: &Comparison,
    ctx: &Context,
) -> Result<(), Error> {
    let name = app.name_any();
    status::patch(api, &name, status::from_comparison(app, cmp)?).await?;
    {
        let mut memos = ctx.memos.lock().await;
        let memo = memos.entry(name.clone()).or_default();
        memo.last_good_compare = Some(Instant::now());
        if cmp.synced {
            memo.self_heal_attempts = 0;
        }
    }
    tracing::info!(
        target: "caravel::reconcile",
        app = %name,
        revision = %cmp.revision,
        sync = if cmp.synced { sync_status::SYNCED } else { sync_status::OUT_OF_SYNC },
        health = cmp.health.status.as_str(),
        "compared"
    );
    if let Some(cache) = &ctx.app_state {
        let managed = managed_resources(cmp);
        if let Err(e) = cache
            .set_managed_resources(&ctx.opt.namespace, &name, &managed)
            .await
        {
            tracing::warn!(app = %name, error = %e, "publishing app state to redis failed");
        }
    }
    Ok(())
}

/// A failed comparison. While the repo-server is briefly unreachable the
/// status stays as it was (grace period); nothing is ever applied or pruned.
async fn comparison_failed(
    api: &Api<Application>,
    app: &Application,
    ctx: &Context,
    e: Error,
) -> Result<(), Error> {
    let name = app.name_any();
    if compare::is_unavailable(&e) {
        let memo = ctx
            .memos
            .lock()
            .await
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let within_grace = memo
            .last_good_compare
            .is_some_and(|t| t.elapsed() < ctx.opt.repo_error_grace_period);
        if within_grace {
            tracing::warn!(app = %name, error = %e, "repo-server unreachable, keeping status within grace period");
            return Ok(());
        }
    }
    tracing::warn!(app = %name, error = %e, "comparison failed");
    let type_ = match e {
        Error::InvalidSpec(_) => condition::INVALID_SPEC_ERROR,
        _ => condition::COMPARISON_ERROR,
    };
    status::patch(
        api,
        &name,
        status::from_comparison_error(app, type_, e.to_string()),
    )
    .await
}

fn managed_resources(cmp: &Comparison) -> Vec<ManagedResource> {
    cmp.resources
        .iter()
        .map(|r| {
            let live = r.compared_live.clone().or_else(|| {
                r.live
                    .as_ref()
                    .and_then(|l| serde_json::to_value(&**l).ok())
                    .map(|l| caravel_diff::normalize(&l))
            });
            let target = r.target.as_ref().map(caravel_diff::normalize);
            // Live and predicted are what a diff compares: mask them together
            // so an unchanged secret value masks identically on both sides.
            let (predicted, live_masked) =
                caravel_diff::mask_secrets(r.predicted.as_ref(), live.as_ref());
            let (target, _) = caravel_diff::mask_secrets(target.as_ref(), live.as_ref());
            ManagedResource {
                group: r.gvk.group.clone(),
                version: r.gvk.version.clone(),
                kind: r.gvk.kind.clone(),
                namespace: r.namespace.clone().unwrap_or_default(),
                name: r.name.clone(),
                target_state: target,
                live_state: live_masked,
                predicted_live_state: predicted,
                modified: !r.synced,
                hook: false,
            }
        })
        .collect()
}

// === operations ===

async fn run_operation(
    api: &Api<Application>,
    app: &Application,
    op: &Operation,
    ctx: &Context,
    level: RefreshLevel,
) -> Result<Option<Duration>, Error> {
    let name = app.name_any();
    // The same operation still Running: resumed after a restart, or retried.
    // A Running attempt that never finished was cut short by a restart:
    // resume it with what it recorded (its hooks are not run again).
    let (started_at, retries, prior) =
        match app.status.as_ref().and_then(|s| s.operation_state.as_ref()) {
            Some(s) if s.phase == phase::RUNNING && &s.operation == op => {
                let prior = s.sync_result.clone().filter(|_| s.finished_at.is_none());
                (s.started_at.clone(), s.retry_count.unwrap_or(0), prior)
            }
            _ => (status::now(), 0, None),
        };
    if prior.is_some() {
        tracing::info!(target: "caravel::sync", app = %name, "resuming the operation that was running");
    }
    let mut state = OperationState {
        operation: op.clone(),
        phase: phase::RUNNING.to_owned(),
        message: Some(if retries > 0 {
            format!("retrying (attempt #{})", retries + 1)
        } else {
            "syncing".to_owned()
        }),
        sync_result: prior.clone(),
        started_at: started_at.clone(),
        finished_at: None,
        retry_count: Some(retries),
    };
    status::patch(
        api,
        &name,
        json!({ "operationState": operation_state_patch(&state)? }),
    )
    .await?;

    let default_sync = SyncOperation::default();
    let sync_op = op.sync.as_ref().unwrap_or(&default_sync);
    let source = sync_op
        .source
        .clone()
        .or_else(|| app.primary_source().cloned());
    let mut target_app = app.clone();
    if let (Some(src), true) = (&sync_op.source, app.spec.source.is_some()) {
        target_app.spec.source = Some(src.clone());
    }
    // A resumed operation stays on the revision it started with.
    let resumed_revision = prior
        .as_ref()
        .map(|r| r.revision.clone())
        .filter(|r| !r.is_empty());
    let revision = resumed_revision
        .as_deref()
        .or(sync_op.revision.as_deref())
        .filter(|r| !r.is_empty());

    let outcome = match check_spec(app) {
        Err(e) => Err(e),
        Ok(()) => compare_app(&target_app, ctx, revision, level)
            .await
            .map_err(|e| e.to_string()),
    };
    let (cmp, outcome) = match outcome {
        Ok(cmp) => {
            let progress = sync::Progress {
                apps: api.clone(),
                app: name.clone(),
                wave_delay: ctx.opt.sync_wave_delay,
                started_at: started_at.clone(),
                prior: prior
                    .as_ref()
                    .and_then(|r| r.resources.clone())
                    .unwrap_or_default(),
                source: source.clone(),
            };
            let o = sync::run(&ctx.live, &progress, app, op, &cmp).await;
            (Some(cmp), o)
        }
        Err(message) => (
            None,
            sync::SyncOutcome {
                succeeded: false,
                terminated: false,
                message,
                results: vec![],
                written: vec![],
            },
        ),
    };

    let finished_at = status::now();
    if !outcome.succeeded && !outcome.terminated && retry::should_retry(op.retry.as_ref(), retries)
    {
        let attempt = retries + 1;
        let delay = retry::backoff(op.retry.as_ref(), attempt);
        state.retry_count = Some(attempt);
        state.finished_at = Some(finished_at);
        state.message = Some(format!(
            "Retrying attempt #{attempt} in {}: {}",
            humantime::format_duration(delay),
            outcome.message
        ));
        state.sync_result = cmp.as_ref().map(|c| SyncOperationResult {
            resources: Some(outcome.results.clone()),
            revision: c.revision.clone(),
            revisions: c.multi_source_revisions(),
            source: source.clone(),
            sources: app.spec.sources.clone().filter(|_| c.is_multi_source()),
        });
        status::patch(
            api,
            &name,
            json!({ "operationState": operation_state_patch(&state)? }),
        )
        .await?;
        tracing::info!(target: "caravel::sync", app = %name, attempt, delay = ?delay, message = %outcome.message, "sync failed, retrying");
        return Ok(Some(delay));
    }
    state.phase = if outcome.succeeded {
        phase::SUCCEEDED
    } else {
        phase::FAILED
    }
    .to_owned();
    state.message = Some(outcome.message.clone());
    state.finished_at = Some(finished_at.clone());
    state.sync_result = cmp.as_ref().map(|c| SyncOperationResult {
        resources: Some(outcome.results.clone()),
        revision: c.revision.clone(),
        revisions: c.multi_source_revisions(),
        source: source.clone(),
        sources: app.spec.sources.clone().filter(|_| c.is_multi_source()),
    });

    let mut patch = json!({ "operationState": state });
    let dry_run = sync_op.dry_run.unwrap_or(false);
    if let (true, false, Some(c)) = (outcome.succeeded, dry_run, &cmp) {
        let mut history = app
            .status
            .as_ref()
            .and_then(|s| s.history.clone())
            .unwrap_or_default();
        let id = history.iter().map(|h| h.id).max().map_or(0, |m| m + 1);
        history.push(RevisionHistory {
            id,
            revision: Some(c.revision.clone()),
            revisions: c.multi_source_revisions(),
            source: source.clone(),
            sources: app.spec.sources.clone().filter(|_| c.is_multi_source()),
            deployed_at: finished_at,
            deploy_started_at: Some(started_at),
            initiated_by: op.initiated_by.clone(),
        });
        let limit = app.revision_history_limit();
        if history.len() > limit {
            history.drain(..history.len() - limit);
        }
        patch["history"] = json!(history);
    }
    // The state the sync produced (compared with the app's own target) is
    // reported with the end of the operation, so whoever waits for the
    // operation to end reads the new status; `.operation` is cleared right
    // after, since an operation still set next to a finished state would
    // run again after a restart.
    for w in &outcome.written {
        ctx.live
            .wait_for(
                &w.gvk,
                w.namespace.as_deref(),
                &w.name,
                w.resource_version.as_deref(),
                LIVE_CATCH_UP,
            )
            .await;
    }
    let mut after = app.clone();
    after.operation = None;
    if let Some(s) = after.status.as_mut() {
        s.operation_state = Some(state.clone());
    }
    let compared = compare_app(&after, ctx, None, RefreshLevel::default()).await;
    status::patch(api, &name, patch).await?;
    let reported = match compared {
        Ok(c) => write_comparison(api, &after, &c, ctx).await,
        Err(e) => comparison_failed(api, &after, ctx, e).await,
    };
    status::patch_app(api, &name, json!({ "operation": null })).await?;
    tracing::info!(
        target: "caravel::sync",
        app = %name,
        phase = %state.phase,
        message = %outcome.message,
        "operation finished"
    );
    reported.map(|()| None)
}

fn is_terminating(app: &Application) -> bool {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .is_some_and(|o| o.phase == phase::TERMINATING)
}

/// Ends a terminated operation that is not running right now.
async fn end_terminated(api: &Api<Application>, app: &Application) -> Result<(), Error> {
    let name = app.name_any();
    let patch = json!({ "operationState": {
        "phase": phase::FAILED,
        "message": sync::TERMINATED,
        "finishedAt": status::now(),
    } });
    status::patch(api, &name, patch).await?;
    status::patch_app(api, &name, json!({ "operation": null })).await?;
    tracing::info!(target: "caravel::sync", app = %name, "operation terminated");
    Ok(())
}

/// `operationState` as a merge patch: fields that are unset now are sent as
/// null, so nothing of an earlier operation lingers.
fn operation_state_patch(state: &OperationState) -> Result<serde_json::Value, Error> {
    let mut value = serde_json::to_value(state)?;
    if let Some(map) = value.as_object_mut() {
        for key in ["message", "syncResult", "finishedAt", "retryCount"] {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    Ok(value)
}

/// Time left before a retried operation may run again: Argo CD waits the
/// backoff after the failed attempt's `finishedAt`.
fn retry_wait(app: &Application, op: &Operation) -> Option<Duration> {
    let state = app.status.as_ref()?.operation_state.as_ref()?;
    let retries = state.retry_count.filter(|n| *n > 0)?;
    if state.phase != phase::RUNNING || &state.operation != op {
        return None;
    }
    let failed_at = state.finished_at.as_deref().and_then(status::parse_time)?;
    let due =
        failed_at + chrono::Duration::from_std(retry::backoff(op.retry.as_ref(), retries)).ok()?;
    let left = (due - chrono::Utc::now()).to_std().ok()?;
    (!left.is_zero()).then_some(left)
}

// === automated sync ===

/// Argo CD's auto-sync rules: only when OutOfSync; never twice for the same
/// revision unless self-heal is on (and then with backoff); never prune
/// everything unless allowEmpty.
async fn auto_sync(
    api: &Api<Application>,
    app: &Application,
    cmp: &Comparison,
    ctx: &Context,
) -> Result<(), Error> {
    let Some(auto) = app.automated() else {
        return Ok(());
    };
    if cmp.synced || app.operation.is_some() || !cmp.sync_blockers.is_empty() {
        return Ok(());
    }
    let name = app.name_any();
    let last = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    // As Argo CD: the same revision of the same source (a changed path or
    // parameter is a new attempt even at the same commit).
    let already_attempted = last.is_some_and(|s| {
        s.sync_result.as_ref().is_some_and(|r| {
            r.revision == cmp.revision
                && r.revisions == cmp.multi_source_revisions()
                && same_source(r.source.as_ref(), app.primary_source())
        }) && s.phase != phase::RUNNING
    });
    let self_heal = auto.self_heal.unwrap_or(false);
    if already_attempted {
        let succeeded = last.is_some_and(|s| s.phase == phase::SUCCEEDED);
        if !succeeded || !self_heal {
            tracing::debug!(app = %name, revision = %cmp.revision, "skipping auto-sync: already attempted");
            return Ok(());
        }
        // Self-heal with backoff: 2 s, 4 s, 8 s … capped at 5 min.
        let mut memos = ctx.memos.lock().await;
        let memo = memos.entry(name.clone()).or_default();
        let backoff = Duration::from_secs(2u64.saturating_mul(1 << memo.self_heal_attempts.min(8)))
            .min(Duration::from_secs(300));
        if memo.last_self_heal.is_some_and(|t| t.elapsed() < backoff) {
            return Ok(());
        }
        memo.self_heal_attempts += 1;
        memo.last_self_heal = Some(Instant::now());
    }
    let prune = auto.prune.unwrap_or(false);
    if !prune && cmp.resources.iter().all(|r| r.synced || r.requires_pruning) {
        // As Argo CD: nothing to apply, and pruning is not automated.
        tracing::debug!(app = %name, "skipping auto-sync: only pruning is needed and automated prune is off");
        return Ok(());
    }
    let desired_count = cmp.resources.iter().filter(|r| !r.requires_pruning).count();
    let pruning = cmp.resources.iter().any(|r| r.requires_pruning);
    if prune && pruning && desired_count == 0 && !auto.allow_empty.unwrap_or(false) {
        let message =
            "auto-sync will wipe out all resources: refusing (set allowEmpty to allow)".to_owned();
        let mut conditions = cmp.conditions.clone();
        conditions.push(compare::condition(condition::SYNC_ERROR, message));
        status::patch(
            api,
            &name,
            json!({ "conditions": status::merge_conditions(app, conditions) }),
        )
        .await?;
        return Ok(());
    }
    let op = Operation {
        sync: Some(SyncOperation {
            revision: Some(cmp.revision.clone()),
            prune: Some(prune),
            ..Default::default()
        }),
        initiated_by: Some(OperationInitiator {
            username: None,
            automated: Some(true),
        }),
        retry: app.spec.sync_policy.as_ref().and_then(|p| p.retry.clone()),
        ..Default::default()
    };
    // Only if no one requested an operation meanwhile: checked on the
    // current object, and written with its resourceVersion.
    let Some(current) = api.get_opt(&name).await? else {
        return Ok(());
    };
    if current.operation.is_some() {
        return Ok(());
    }
    tracing::info!(app = %name, revision = %cmp.revision, self_heal = already_attempted, "initiating automated sync");
    let patch = json!({
        "metadata": { "resourceVersion": current.resource_version() },
        "operation": op,
    });
    match status::patch_app(api, &name, patch).await {
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
            tracing::debug!(app = %name, "application changed while starting an automated sync; reconsidering");
            Ok(())
        }
        other => other,
    }
}

/// Whether two sources are the same apart from `targetRevision`.
fn same_source(
    synced: Option<&caravel_crd::application::ApplicationSource>,
    wanted: Option<&caravel_crd::application::ApplicationSource>,
) -> bool {
    let strip = |s: Option<&caravel_crd::application::ApplicationSource>| {
        s.cloned().map(|mut s| {
            s.target_revision = None;
            s
        })
    };
    strip(synced) == strip(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_crd::application::ApplicationSource;

    #[test]
    fn the_same_source_ignores_only_the_target_revision() {
        let a = ApplicationSource {
            repo_url: "https://example.com/r.git".into(),
            path: Some("app".into()),
            target_revision: Some("main".into()),
            ..Default::default()
        };
        let mut b = a.clone();
        b.target_revision = Some("abc123".into());
        assert!(same_source(Some(&a), Some(&b)));
        b.path = Some("other".into());
        assert!(
            !same_source(Some(&a), Some(&b)),
            "a new path is a new attempt"
        );
        assert!(!same_source(None, Some(&a)));
    }
}
