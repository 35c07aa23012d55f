//! Desired vs live. Desired objects come from the repo-server; each is
//! stamped with its tracking id and its namespace, then compared with its
//! live counterpart through a server-side-apply dry run: the object the
//! apiserver *would* store is compared with the one it has. Server-defaulted
//! fields and fields other managers own are therefore never drift.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use caravel_crd::annotations::{COMPARE_OPTIONS, SYNC_WAVE, TRACKING_ID};
use caravel_crd::application::{Application, ApplicationCondition, ApplicationSource};
use caravel_crd::tracking::TrackingId;
use caravel_crd::{condition, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
use caravel_diff::IgnoreRules;
use caravel_health::{Health, HealthCode};
use caravel_proto::reposerver::v1::{
    repo_server_service_client::RepoServerServiceClient, GenerateManifestRequest, RefSource,
    Repository,
};
use kube::api::{DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::cluster::{gvk_label, gvk_of, KindInfo};
use crate::hooks::{hook_info, hook_wave, is_hook_annotations, HookInfo};
use crate::live_state::{is_own_tracking_id, tracking_app, LiveStateCache};
use crate::settings::FIELD_MANAGER;
use crate::Error;

/// How hard to refresh the desired state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshLevel {
    /// Re-resolve the branch/tag (user refresh, spec change, sync).
    pub resolve_revision: bool,
    /// Bypass the manifest cache too (hard refresh).
    pub hard: bool,
}

/// What the repo-server rendered for one revision.
#[derive(Clone, Debug, Default)]
pub struct DesiredState {
    pub revision: String,
    /// Multi-source apps: the revision of every source, in order.
    pub revisions: Vec<String>,
    pub source_type: String,
    pub manifests: Vec<Value>,
}

/// One object the app manages or should manage.
#[derive(Clone, Debug)]
pub struct ResourceState {
    pub gvk: GroupVersionKind,
    pub kind: Option<KindInfo>,
    pub namespace: Option<String>,
    pub name: String,
    pub wave: i64,
    pub target: Option<Value>,
    pub live: Option<Arc<DynamicObject>>,
    /// The live object after a sync, from a dry run (when live exists),
    /// normalised and without ignored differences.
    pub predicted: Option<Value>,
    /// The live object as compared: normalised, without ignored differences.
    pub compared_live: Option<Value>,
    pub synced: bool,
    pub requires_pruning: bool,
    pub health: Option<Health>,
    pub message: Option<String>,
}

impl ResourceState {
    /// A desired object that cannot be compared: listed as Missing, with
    /// `message` saying why.
    fn uncompared(
        gvk: GroupVersionKind,
        kind: Option<KindInfo>,
        namespace: Option<String>,
        name: String,
        wave: i64,
        target: Value,
        message: String,
    ) -> Self {
        Self {
            gvk,
            kind,
            namespace,
            name,
            wave,
            target: Some(target),
            live: None,
            predicted: None,
            compared_live: None,
            synced: false,
            requires_pruning: false,
            health: Some(Health {
                status: HealthCode::Missing,
                message: None,
            }),
            message: Some(message),
        }
    }

    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.gvk.kind, ns, self.name),
            None => format!("{}/{}", self.gvk.kind, self.name),
        }
    }
}

/// The outcome of one comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub revision: String,
    /// Multi-source apps: the revision of every source, in order.
    pub revisions: Vec<String>,
    pub source_type: String,
    pub resources: Vec<ResourceState>,
    pub conditions: Vec<ApplicationCondition>,
    pub synced: bool,
    pub health: Health,
    pub images: Vec<String>,
    /// Comparison errors that make a sync impossible. An unknown kind is
    /// not one: its CRD may come with the same sync (it fails the dry run
    /// otherwise).
    pub sync_blockers: Vec<String>,
    /// Hooks the revision declares; they run during a sync only and are
    /// never compared or pruned.
    pub hooks: Vec<HookResource>,
}

/// A hook object of the desired state. `state.name` is empty for a
/// `generateName` hook until the sync names it.
#[derive(Clone, Debug)]
pub struct HookResource {
    pub state: ResourceState,
    pub generate_name: Option<String>,
    pub info: HookInfo,
}

/// Dry-run results keyed by everything that determines them, so an
/// unchanged object is not dry-run again on every status change.
#[derive(Default)]
pub struct DryRunCache {
    entries: Mutex<HashMap<String, Value>>,
}

const DRY_RUN_CACHE_MAX: usize = 20_000;

impl DryRunCache {
    fn key(target: &Value, live: &DynamicObject) -> String {
        use sha2::{Digest, Sha256};
        let meta = &live.metadata;
        // Spec changes bump generation; kinds without it fall back to the
        // resourceVersion. Labels and annotations never bump generation.
        let version = match meta.generation {
            Some(g) => format!("g{g}"),
            None => format!("rv{}", meta.resource_version.as_deref().unwrap_or("")),
        };
        let mut h = Sha256::new();
        h.update(meta.uid.as_deref().unwrap_or("").as_bytes());
        h.update(version.as_bytes());
        h.update(serde_json::to_vec(&meta.labels).unwrap_or_default());
        h.update(serde_json::to_vec(&meta.annotations).unwrap_or_default());
        h.update(serde_json::to_vec(target).unwrap_or_default());
        hex::encode(h.finalize())
    }
}

/// Whether `destination` names the cluster this controller runs in.
pub fn check_destination(app: &Application) -> Result<(), String> {
    let d = &app.spec.destination;
    match (d.server.as_deref(), d.name.as_deref()) {
        (Some(IN_CLUSTER_SERVER), None | Some(IN_CLUSTER_NAME)) => Ok(()),
        (None, Some(IN_CLUSTER_NAME)) => Ok(()),
        (None, None) => Err("application destination must set server or name".into()),
        (server, name) => Err(format!(
            "destination cluster {} is not known to this controller (only {IN_CLUSTER_SERVER} / {IN_CLUSTER_NAME})",
            server.or(name).unwrap_or_default()
        )),
    }
}

/// Asks the repo-server for the desired manifests: of the single source,
/// or of every source of a multi-source app that names a path or chart
/// (sources with only a `ref` provide value files to the others, as in
/// Argo CD), concatenated in source order.
pub async fn fetch_desired(
    repo: &mut RepoServerServiceClient<caravel_grpc::TracedChannel>,
    repositories: &crate::repositories::Repositories,
    capabilities: &crate::cluster::Capabilities,
    app: &Application,
    revision: Option<&str>,
    level: RefreshLevel,
) -> Result<DesiredState, Error> {
    let Some(sources) = app
        .spec
        .sources
        .as_ref()
        .filter(|s| app.spec.source.is_none() && !s.is_empty())
    else {
        let source = app
            .primary_source()
            .ok_or_else(|| Error::InvalidSpec("application has no source".into()))?;
        let repository = repositories.get(&source.repo_url).await;
        let response = generate(
            repo,
            repository,
            capabilities,
            app,
            source,
            revision,
            level,
            &Default::default(),
        )
        .await?;
        return Ok(DesiredState {
            revision: response.revision,
            revisions: Vec::new(),
            source_type: response.source_type,
            manifests: parse_manifests(&response.manifests)?,
        });
    };
    let mut refs: std::collections::HashMap<String, RefSource> = Default::default();
    for s in sources {
        if let Some(name) = s.ref_.as_deref().filter(|r| !r.is_empty()) {
            refs.insert(
                format!("${name}"),
                RefSource {
                    repo: Some(repositories.get(&s.repo_url).await),
                    target_revision: s.target_revision.clone().unwrap_or_default(),
                },
            );
        }
    }
    let mut desired = DesiredState::default();
    let mut ref_revisions = std::collections::HashMap::new();
    let mut rendered = Vec::with_capacity(sources.len());
    for source in sources {
        let ref_only = source.ref_.as_deref().is_some_and(|r| !r.is_empty())
            && source.path.is_none()
            && source.chart.is_none();
        if ref_only {
            rendered.push(None);
            continue;
        }
        let repository = repositories.get(&source.repo_url).await;
        let response = generate(
            repo,
            repository,
            capabilities,
            app,
            source,
            None,
            level,
            &refs,
        )
        .await?;
        desired
            .manifests
            .extend(parse_manifests(&response.manifests)?);
        if desired.source_type.is_empty() {
            desired.source_type = response.source_type.clone();
        }
        ref_revisions.extend(response.ref_revisions.clone());
        rendered.push(Some(response.revision));
    }
    desired.revisions = sources
        .iter()
        .zip(rendered)
        .map(|(source, revision)| {
            revision.unwrap_or_else(|| {
                let name = source.ref_.as_deref().unwrap_or_default();
                ref_revisions.get(name).cloned().unwrap_or_default()
            })
        })
        .collect();
    desired.revision = desired.revisions.first().cloned().unwrap_or_default();
    Ok(desired)
}

#[allow(clippy::too_many_arguments)]
async fn generate(
    repo: &mut RepoServerServiceClient<caravel_grpc::TracedChannel>,
    repository: Repository,
    capabilities: &crate::cluster::Capabilities,
    app: &Application,
    source: &ApplicationSource,
    revision: Option<&str>,
    level: RefreshLevel,
    refs: &std::collections::HashMap<String, RefSource>,
) -> Result<caravel_proto::reposerver::v1::GenerateManifestResponse, Error> {
    let request = GenerateManifestRequest {
        repo: Some(repository),
        application_source_json: serde_json::to_string(source)?,
        revision: revision.unwrap_or_default().to_owned(),
        app_name: app.metadata.name.clone().unwrap_or_default(),
        namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
        no_cache: level.hard,
        no_revision_cache: level.resolve_revision,
        tracking_method: "annotation".into(),
        kube_version: capabilities.kube_version.clone(),
        api_versions: capabilities.api_versions.clone(),
        ref_sources: refs.clone(),
    };
    Ok(repo
        .generate_manifest(request)
        .await
        .map_err(|s| Error::RepoServer(repo_error_message(&s)))?
        .into_inner())
}

fn parse_manifests(manifests: &[String]) -> Result<Vec<Value>, Error> {
    Ok(manifests
        .iter()
        .map(|m| serde_json::from_str(m))
        .collect::<Result<Vec<Value>, _>>()?)
}

impl Comparison {
    /// Whether the app has several sources (its status carries
    /// `revisions`, one per source).
    pub fn is_multi_source(&self) -> bool {
        !self.revisions.is_empty()
    }

    /// `revisions` for status fields: set for multi-source apps only.
    pub fn multi_source_revisions(&self) -> Option<Vec<String>> {
        self.is_multi_source().then(|| self.revisions.clone())
    }
}

/// Whether a repo-server error means "unreachable" (so the grace period applies).
pub fn is_unavailable(e: &Error) -> bool {
    matches!(e, Error::RepoServer(m) if m.starts_with("repo-server unavailable"))
}

fn repo_error_message(s: &tonic::Status) -> String {
    match s.code() {
        tonic::Code::Unavailable
            if s.message().contains("transport") || s.message().contains("connect") =>
        {
            format!("repo-server unavailable: {}", s.message())
        }
        _ => format!("rpc error: code = {:?} desc = {}", s.code(), s.message()),
    }
}

/// Compares the desired manifests with the cluster.
pub async fn compare(
    live: &LiveStateCache,
    dry_runs: &DryRunCache,
    app: &Application,
    desired: DesiredState,
) -> Comparison {
    let app_name = app.metadata.name.clone().unwrap_or_default();
    let dest_ns = app
        .spec
        .destination
        .namespace
        .clone()
        .filter(|s| !s.is_empty());
    let mut conditions = Vec::new();
    let mut resources = Vec::new();
    let mut seen = HashSet::new();
    let mut hooks = Vec::new();
    let mut sync_blockers = Vec::new();

    for manifest in desired.manifests {
        if let Some(info) = hook_info(&manifest) {
            // Hooks run during sync only; the sync engine owns them.
            if !info.skip {
                match desired_hook(live, dest_ns.as_deref(), manifest, info).await {
                    Ok(h) => hooks.push(h),
                    Err(message) => {
                        sync_blockers.push(message.clone());
                        conditions.push(condition(condition::COMPARISON_ERROR, message))
                    }
                }
            }
            continue;
        }
        match desired_resource(live, &app_name, dest_ns.as_deref(), manifest).await {
            Ok(r) => {
                seen.insert((
                    r.gvk.group.clone(),
                    r.gvk.kind.clone(),
                    r.namespace.clone(),
                    r.name.clone(),
                ));
                resources.push(r);
            }
            Err(DesiredError {
                resource,
                message,
                blocks_sync,
            }) => {
                if blocks_sync {
                    sync_blockers.push(message.clone());
                }
                if let Some(r) = resource {
                    resources.push(*r);
                }
                conditions.push(condition(condition::COMPARISON_ERROR, message));
            }
        }
    }

    let rules = match IgnoreRules::compile(app.spec.ignore_differences.as_deref().unwrap_or(&[])) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("invalid ignoreDifferences: {e}");
            sync_blockers.push(message.clone());
            conditions.push(condition(condition::COMPARISON_ERROR, message));
            IgnoreRules::default()
        }
    };
    for r in resources.iter_mut() {
        if let Err(e) = diff_resource(live.cluster(), dry_runs, &rules, r).await {
            r.synced = false;
            r.message = Some(e.to_string());
            // Not a blocker: the sync's own dry run reports it, and
            // Force/Replace may be what resolves it.
            conditions.push(condition(
                condition::COMPARISON_ERROR,
                format!("{}: {e}", r.label()),
            ));
        }
        if let Some(l) = &r.live {
            if let Some(owner) = tracking_app(l).filter(|owner| *owner != app_name) {
                conditions.push(condition(
                    condition::SHARED_RESOURCE_WARNING,
                    format!(
                        "{} is part of applications {owner} and {app_name}",
                        r.label()
                    ),
                ));
            }
        }
    }

    // Objects this app deployed earlier that Git no longer has.
    let mut kinds: BTreeSet<(String, String, String)> = resources
        .iter()
        .map(|r| {
            (
                r.gvk.group.clone(),
                r.gvk.version.clone(),
                r.gvk.kind.clone(),
            )
        })
        .collect();
    for r in app.status.iter().flat_map(|s| s.resources.iter().flatten()) {
        kinds.insert((
            r.group.clone().unwrap_or_default(),
            r.version.clone().unwrap_or_default(),
            r.kind.clone(),
        ));
    }
    for (group, version, kind) in kinds {
        if version.is_empty() {
            continue;
        }
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let tracked = match live.tracked_by(&gvk, &app_name).await {
            Ok(t) => t,
            Err(Error::UnknownKind(_)) => continue,
            Err(e) => {
                sync_blockers.push(e.to_string());
                conditions.push(condition(condition::COMPARISON_ERROR, e.to_string()));
                continue;
            }
        };
        for obj in tracked {
            let key = (
                group.clone(),
                kind.clone(),
                obj.metadata.namespace.clone(),
                obj.metadata.name.clone().unwrap_or_default(),
            );
            if seen.contains(&key)
                || obj.metadata.deletion_timestamp.is_some()
                || is_hook_annotations(obj.metadata.annotations.as_ref())
            {
                continue;
            }
            seen.insert(key);
            let health = Some(caravel_health::assess_or_healthy(
                &serde_json::to_value(&*obj).unwrap_or_default(),
            ));
            resources.push(ResourceState {
                gvk: gvk.clone(),
                kind: live.cluster().kind(&gvk).await.ok(),
                namespace: obj.metadata.namespace.clone(),
                name: obj.metadata.name.clone().unwrap_or_default(),
                wave: wave_of_live(&obj),
                target: None,
                live: Some(obj),
                predicted: None,
                compared_live: None,
                synced: false,
                requires_pruning: true,
                health,
                message: None,
            });
        }
    }

    // Extraneous objects marked IgnoreExtraneous do not make the app
    // OutOfSync (they are still listed, and pruned by a pruning sync).
    let synced = resources
        .iter()
        .all(|r| r.synced || (r.requires_pruning && ignores_extraneous(r)));
    let health = app_health(&resources);
    let images = images(&resources);
    Comparison {
        revision: desired.revision,
        revisions: desired.revisions,
        source_type: desired.source_type,
        resources,
        conditions,
        synced,
        health,
        images,
        sync_blockers,
        hooks,
    }
}

fn ignores_extraneous(r: &ResourceState) -> bool {
    r.live
        .as_ref()
        .and_then(|l| l.metadata.annotations.as_ref())
        .and_then(|a| a.get(COMPARE_OPTIONS))
        .is_some_and(|v| {
            v.split(',')
                .any(|o| o.trim().eq_ignore_ascii_case("IgnoreExtraneous"))
        })
}

/// The namespace a desired object lands in: its own, else the destination's
/// (namespaced kinds only).
fn target_namespace(
    manifest: &Value,
    info: Option<&KindInfo>,
    dest_ns: Option<&str>,
) -> Option<String> {
    if info.is_some_and(|i| !i.namespaced) {
        return None;
    }
    manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| dest_ns.map(str::to_owned))
}

async fn desired_hook(
    live: &LiveStateCache,
    dest_ns: Option<&str>,
    mut manifest: Value,
    info: HookInfo,
) -> Result<HookResource, String> {
    let gvk = gvk_of(&manifest).ok_or_else(|| "hook without apiVersion or kind".to_owned())?;
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let generate_name = manifest
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if name.is_none() && generate_name.is_none() {
        return Err(format!(
            "{} hook without metadata.name or metadata.generateName",
            gvk.kind
        ));
    }
    // An unknown kind is reported when the hook is about to run (its CRD
    // may be created by an earlier phase of the same sync).
    let kind = live.cluster().kind(&gvk).await.ok();
    let namespace = target_namespace(&manifest, kind.as_ref(), dest_ns);
    let label = name
        .as_deref()
        .or(generate_name.as_deref())
        .unwrap_or_default();
    if kind.as_ref().is_some_and(|k| k.namespaced) && namespace.is_none() {
        return Err(format!(
            "{}/{label}: namespaced hook without a namespace and no destination namespace",
            gvk.kind,
        ));
    }
    if let Some(k) = &kind {
        live.cluster().namespaces().permits(
            &gvk.kind,
            label,
            namespace.as_deref(),
            k.namespaced,
        )?;
    }
    default_port_protocols(&mut manifest, &gvk);
    let wave = hook_wave(&manifest);
    Ok(HookResource {
        state: ResourceState {
            gvk,
            kind,
            namespace,
            name: name.unwrap_or_default(),
            wave,
            target: Some(manifest),
            live: None,
            predicted: None,
            compared_live: None,
            synced: true,
            requires_pruning: false,
            health: None,
            message: None,
        },
        generate_name,
        info,
    })
}

/// Argo CD 3.x app health: the worst health of the resources that exist
/// (objects waiting to be pruned do not count); Missing only when none of
/// the desired objects exists yet.
fn app_health(resources: &[ResourceState]) -> Health {
    let labelled: Vec<(String, &Health)> = resources
        .iter()
        .filter(|r| !r.requires_pruning && r.live.is_some())
        .filter_map(|r| r.health.as_ref().map(|h| (r.label(), h)))
        .collect();
    if labelled.is_empty() && resources.iter().any(|r| !r.requires_pruning) {
        return Health {
            status: HealthCode::Missing,
            message: None,
        };
    }
    caravel_health::aggregate(labelled.iter().map(|(l, h)| (l.as_str(), *h)))
}

/// Why a desired object cannot be compared: the resource to list anyway
/// (with the message), and whether a sync is impossible because of it.
struct DesiredError {
    resource: Option<Box<ResourceState>>,
    message: String,
    blocks_sync: bool,
}

impl DesiredError {
    /// An object listed (see [`ResourceState::uncompared`]) but not compared.
    fn listed(resource: ResourceState, blocks_sync: bool) -> Self {
        Self {
            message: resource.message.clone().unwrap_or_default(),
            resource: Some(Box::new(resource)),
            blocks_sync,
        }
    }

    /// An object without a usable identity: listed nowhere, blocks syncs.
    fn unlisted(message: String) -> Self {
        Self {
            resource: None,
            message,
            blocks_sync: true,
        }
    }
}

async fn desired_resource(
    live: &LiveStateCache,
    app_name: &str,
    dest_ns: Option<&str>,
    mut manifest: Value,
) -> Result<ResourceState, DesiredError> {
    let gvk = gvk_of(&manifest)
        .ok_or_else(|| DesiredError::unlisted("manifest without apiVersion or kind".to_owned()))?;
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| DesiredError::unlisted(format!("{} without metadata.name", gvk.kind)))?;
    let wave = wave_of(&manifest);
    let info = match live.cluster().kind(&gvk).await {
        Ok(i) => i,
        Err(e) => {
            let message = format!("{}/{name}: {e}", gvk_label(&gvk));
            let namespace = target_namespace(&manifest, None, dest_ns);
            let r = ResourceState::uncompared(gvk, None, namespace, name, wave, manifest, message);
            // Not a blocker: the kind's CRD may come with the same sync.
            return Err(DesiredError::listed(r, false));
        }
    };
    let namespace = target_namespace(&manifest, Some(&info), dest_ns);
    if info.namespaced && namespace.is_none() {
        return Err(DesiredError::unlisted(format!(
            "{}/{name}: namespaced object without a namespace and no destination namespace",
            gvk.kind
        )));
    }
    stamp(&mut manifest, app_name, &gvk, namespace.as_deref(), &name);
    default_port_protocols(&mut manifest, &gvk);

    // Namespaced mode: an object outside the managed namespaces is listed
    // (Missing, with the reason) and no sync may run, as in Argo CD.
    if let Err(message) =
        live.cluster()
            .namespaces()
            .permits(&gvk.kind, &name, namespace.as_deref(), info.namespaced)
    {
        let r =
            ResourceState::uncompared(gvk, Some(info), namespace, name, wave, manifest, message);
        return Err(DesiredError::listed(r, true));
    }

    let current = live
        .get(&gvk, namespace.as_deref(), &name)
        .await
        .map_err(|e| DesiredError::unlisted(format!("{}/{name}: {e}", gvk.kind)))?
        .1;
    Ok(ResourceState {
        gvk,
        kind: Some(info),
        namespace,
        name,
        wave,
        target: Some(manifest),
        live: current,
        predicted: None,
        compared_live: None,
        synced: false,
        requires_pruning: false,
        health: None,
        message: None,
    })
}

/// Sets the namespace and the tracking id on a desired object.
pub(crate) fn stamp(
    manifest: &mut Value,
    app: &str,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    name: &str,
) {
    let id = TrackingId {
        app: app.to_owned(),
        group: gvk.group.clone(),
        kind: gvk.kind.clone(),
        namespace: namespace.unwrap_or_default().to_owned(),
        name: name.to_owned(),
    };
    if let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
        match namespace {
            Some(ns) => {
                meta.insert("namespace".into(), Value::String(ns.to_owned()));
            }
            None => {
                meta.remove("namespace");
            }
        }
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !annotations.is_object() {
            *annotations = Value::Object(Default::default());
        }
        if let Some(a) = annotations.as_object_mut() {
            a.insert(TRACKING_ID.into(), Value::String(id.to_string()));
        }
    }
}

/// Server-side apply on apiservers before 1.21 rejects a port list entry
/// without `protocol`, a key of that list-map it cannot default itself
/// ("associative list with keys has an element that omits key field").
/// Filling in the server's own default (TCP) changes nothing on any
/// version, so the compared and applied object is the same everywhere.
fn default_port_protocols(manifest: &mut Value, gvk: &GroupVersionKind) {
    let pod_spec = match (gvk.group.as_str(), gvk.kind.as_str()) {
        ("", "Service") => {
            fill_protocol(manifest.pointer_mut("/spec/ports"));
            return;
        }
        ("", "Pod") => "/spec",
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("", "ReplicationController")
        | ("batch", "Job") => "/spec/template/spec",
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template/spec",
        _ => return,
    };
    for list in ["containers", "initContainers"] {
        let path = format!("{pod_spec}/{list}");
        if let Some(containers) = manifest.pointer_mut(&path).and_then(Value::as_array_mut) {
            for c in containers {
                fill_protocol(c.get_mut("ports"));
            }
        }
    }
}

fn fill_protocol(ports: Option<&mut Value>) {
    for port in ports.and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(p) = port.as_object_mut() {
            p.entry("protocol")
                .or_insert_with(|| Value::String("TCP".into()));
        }
    }
}

/// Fills `predicted`, `synced` and `health` of a desired resource.
async fn diff_resource(
    cluster: &crate::cluster::Cluster,
    dry_runs: &DryRunCache,
    rules: &IgnoreRules,
    r: &mut ResourceState,
) -> Result<(), Error> {
    let (Some(target), Some(info)) = (&r.target, &r.kind) else {
        return Ok(());
    };
    let Some(current) = &r.live else {
        r.synced = false;
        r.health = Some(Health {
            status: HealthCode::Missing,
            message: None,
        });
        return Ok(());
    };
    let api = cluster.api(info, r.namespace.as_deref());
    let key = DryRunCache::key(target, current);
    let cached = dry_runs.entries.lock().await.get(&key).cloned();
    let predicted = match cached {
        Some(p) => p,
        None => {
            let mut params = PatchParams::apply(FIELD_MANAGER).force();
            params.dry_run = true;
            let obj = api.patch(&r.name, &params, &Patch::Apply(target)).await?;
            let p = caravel_diff::normalize(&serde_json::to_value(&obj)?);
            if obj.metadata.resource_version == current.metadata.resource_version {
                let mut entries = dry_runs.entries.lock().await;
                if entries.len() >= DRY_RUN_CACHE_MAX {
                    entries.clear();
                }
                entries.insert(key, p.clone());
            } else if let Some(mut fresh) = api.get_opt(&r.name).await? {
                // The dry run started from the server's current object and
                // the cache's copy is older (its watch event is in flight):
                // compare the same version on both sides.
                fresh.metadata.managed_fields = None;
                r.live = Some(Arc::new(fresh));
            }
            p
        }
    };
    let Some(current) = &r.live else {
        return Ok(());
    };
    let live_json = serde_json::to_value(&**current)?;
    r.health = Some(caravel_health::assess_or_healthy(&live_json));
    let mut compared_live = caravel_diff::normalize(&live_json);
    let mut predicted = predicted;
    let ns = r.namespace.as_deref().unwrap_or("");
    if rules.matches(&r.gvk.group, &r.gvk.kind, ns, &r.name) {
        // managedFieldsManagers needs the live object's managed fields,
        // which the cache leaves out.
        let managed = if rules.uses_managed_fields(&r.gvk.group, &r.gvk.kind, ns, &r.name) {
            api.get_opt(&r.name)
                .await?
                .and_then(|o| o.metadata.managed_fields)
                .map(serde_json::to_value)
                .transpose()?
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        rules.normalize(&mut compared_live, &managed)?;
        rules.normalize(&mut predicted, &managed)?;
    }
    r.synced = compared_live == predicted;
    r.predicted = Some(predicted);
    r.compared_live = Some(compared_live);
    if !is_own_tracking_id(current, &r.gvk)
        && current
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(TRACKING_ID))
    {
        r.synced = false;
    }
    Ok(())
}

pub fn condition(type_: &str, message: String) -> ApplicationCondition {
    ApplicationCondition {
        type_: type_.to_owned(),
        message,
        last_transition_time: Some(crate::status::now()),
    }
}

fn wave_of(manifest: &Value) -> i64 {
    manifest
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(SYNC_WAVE))
        .and_then(Value::as_str)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn wave_of_live(obj: &DynamicObject) -> i64 {
    obj.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SYNC_WAVE))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Container images of every pod template the app deploys (summary.images).
fn images(resources: &[ResourceState]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for r in resources {
        let Some(obj) = r.target.as_ref() else {
            continue;
        };
        for path in [
            "/spec/containers",
            "/spec/initContainers",
            "/spec/template/spec/containers",
            "/spec/template/spec/initContainers",
            "/spec/jobTemplate/spec/template/spec/containers",
            "/spec/jobTemplate/spec/template/spec/initContainers",
        ] {
            for c in obj
                .pointer(path)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(image) = c.get("image").and_then(Value::as_str) {
                    out.insert(image.to_owned());
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_sets_namespace_and_tracking_id() {
        let mut m = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}});
        let gvk = GroupVersionKind::gvk("", "v1", "ConfigMap");
        stamp(&mut m, "guestbook", &gvk, Some("prod"), "cm");
        assert_eq!(m["metadata"]["namespace"], "prod");
        assert_eq!(
            m["metadata"]["annotations"][TRACKING_ID],
            "guestbook:/ConfigMap:prod/cm"
        );
    }

    #[test]
    fn stamp_removes_namespace_from_cluster_scoped_objects() {
        let mut m = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "oops", "annotations": null}});
        let gvk = GroupVersionKind::gvk("", "v1", "Namespace");
        stamp(&mut m, "app", &gvk, None, "x");
        assert!(m["metadata"].get("namespace").is_none());
        assert_eq!(
            m["metadata"]["annotations"][TRACKING_ID],
            "app:/Namespace:/x"
        );
    }

    #[test]
    fn port_protocols_default_to_tcp_on_services_and_pod_templates() {
        let mut svc = json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}});
        default_port_protocols(&mut svc, &GroupVersionKind::gvk("", "v1", "Service"));
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(svc["spec"]["ports"][1]["protocol"], "UDP");
        let mut dep = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}}});
        default_port_protocols(&mut dep, &GroupVersionKind::gvk("apps", "v1", "Deployment"));
        assert_eq!(
            dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
        let mut custom = json!({"spec": {"ports": [{"port": 80}]}});
        default_port_protocols(
            &mut custom,
            &GroupVersionKind::gvk("example.com", "v1", "Service"),
        );
        assert!(
            custom["spec"]["ports"][0].get("protocol").is_none(),
            "other groups are left alone"
        );
    }

    #[test]
    fn sync_wave_defaults_to_zero_and_parses_negatives() {
        assert_eq!(wave_of(&json!({"metadata": {}})), 0);
        let m = json!({"metadata": {"annotations": {SYNC_WAVE: "-10"}}});
        assert_eq!(wave_of(&m), -10);
        let bad = json!({"metadata": {"annotations": {SYNC_WAVE: "soon"}}});
        assert_eq!(wave_of(&bad), 0);
    }

    #[test]
    fn only_the_in_cluster_destination_is_accepted() {
        let mut app = Application::default();
        app.spec.destination.server = Some(IN_CLUSTER_SERVER.into());
        assert!(check_destination(&app).is_ok());
        app.spec.destination.server = None;
        app.spec.destination.name = Some("in-cluster".into());
        assert!(check_destination(&app).is_ok());
        app.spec.destination.name = Some("prod-eu".into());
        assert!(check_destination(&app).is_err());
    }

    #[test]
    fn images_are_collected_from_pod_templates() {
        let r = ResourceState {
            gvk: GroupVersionKind::gvk("apps", "v1", "Deployment"),
            kind: None,
            namespace: None,
            name: "web".into(),
            wave: 0,
            target: Some(
                json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.25"}], "initContainers": [{"image": "busybox"}]}}}}),
            ),
            live: None,
            predicted: None,
            compared_live: None,
            synced: true,
            requires_pruning: false,
            health: None,
            message: None,
        };
        assert_eq!(
            images(&[r]),
            vec!["busybox".to_owned(), "nginx:1.25".to_owned()]
        );
    }
}
