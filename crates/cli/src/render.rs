//! What `caravel app …` prints, as functions from data to text, laid out
//! like `argocd app …` prints it.

use std::collections::{BTreeMap, HashMap};

use caravel_crd::application::{Application, ApplicationSource, OperationState, ResourceResult};
use caravel_proto::application::v1::{ApplicationDeleteRequest, ResourceDiff, RevisionHistory};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::table::{self, field};

// === app list ===

/// `NAMESPACE/NAME`, as Argo CD shows apps that may live in several namespaces.
pub fn qualified_name(app: &Application) -> String {
    let name = app.metadata.name.as_deref().unwrap_or_default();
    match app.metadata.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// The table of `app list`.
pub fn app_list(apps: &[Application]) -> String {
    let mut rows = vec![[
        "NAME",
        "CLUSTER",
        "NAMESPACE",
        "PROJECT",
        "STATUS",
        "HEALTH",
        "SYNCPOLICY",
        "CONDITIONS",
        "REPO",
        "PATH",
        "TARGET",
    ]
    .map(str::to_owned)
    .to_vec()];
    for app in apps {
        let source = app.primary_source();
        rows.push(vec![
            qualified_name(app),
            cluster(app),
            app.spec.destination.namespace.clone().unwrap_or_default(),
            app.spec.project.clone(),
            sync_status(app),
            health_status(app),
            sync_policy_short(app),
            conditions_summary(app),
            source.map(|s| s.repo_url.clone()).unwrap_or_default(),
            source.and_then(|s| s.path.clone()).unwrap_or_default(),
            source
                .and_then(|s| s.target_revision.clone())
                .unwrap_or_default(),
        ]);
    }
    table::render(&rows)
}

/// `app list -o name`.
pub fn app_names(apps: &[Application]) -> String {
    apps.iter().map(|a| qualified_name(a) + "\n").collect()
}

fn cluster(app: &Application) -> String {
    let d = &app.spec.destination;
    d.server
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| d.name.clone())
        .unwrap_or_default()
}

fn sync_status(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .map(|s| s.status.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| caravel_crd::sync_status::UNKNOWN.to_owned())
}

fn health_status(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Unknown".to_owned())
}

/// `Manual`, `Auto` or `Auto-Prune` (argocd's SYNCPOLICY column).
pub fn sync_policy_short(app: &Application) -> String {
    match app.automated() {
        None => "Manual".to_owned(),
        Some(a) if a.prune.unwrap_or(false) => "Auto-Prune".to_owned(),
        Some(_) => "Auto".to_owned(),
    }
}

/// Condition types with counts, sorted, or `<none>` (argocd's CONDITIONS).
pub fn conditions_summary(app: &Application) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in app
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
    {
        *counts.entry(c.type_.as_str()).or_default() += 1;
    }
    if counts.is_empty() {
        return "<none>".to_owned();
    }
    counts
        .into_iter()
        .map(|(t, n)| {
            if n > 1 {
                format!("{t}({n})")
            } else {
                t.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

// === app get ===

/// Everything `app get` prints: summary, conditions, last operation,
/// resources. `now` dates a running operation's duration.
pub fn app_details(app: &Application, now: DateTime<Utc>) -> String {
    let mut out = app_summary(app);
    let conditions = conditions_table(app);
    if !conditions.is_empty() {
        out.push('\n');
        out.push_str(&conditions);
    }
    if let Some(state) = app.status.as_ref().and_then(|s| s.operation_state.as_ref()) {
        out.push('\n');
        out.push_str(&operation_state(state, now));
    }
    let resources = resource_states(app, true);
    if !resources.is_empty() {
        out.push('\n');
        out.push_str(&resources_table(&resources));
    }
    out
}

/// The `Name:`, `Project:` … block of `app get` and `app sync`.
pub fn app_summary(app: &Application) -> String {
    let mut out = String::new();
    out += &field("Name:", &qualified_name(app));
    out += &field("Project:", &app.spec.project);
    out += &field("Server:", &cluster(app));
    out += &field(
        "Namespace:",
        app.spec
            .destination
            .namespace
            .as_deref()
            .unwrap_or_default(),
    );
    match (&app.spec.source, app.spec.sources.as_deref()) {
        (Some(source), _) => out += &source_fields(source, ""),
        (None, Some(sources)) => {
            out += "Sources:\n";
            for source in sources {
                out += &source_fields(source, "- ");
            }
        }
        (None, None) => {}
    }
    let sync_policy = match app.automated() {
        None => "Manual".to_owned(),
        Some(a) if a.prune.unwrap_or(false) => "Automated (Prune)".to_owned(),
        Some(_) => "Automated".to_owned(),
    };
    out += &field("Sync Policy:", &sync_policy);
    out += &field("Sync Status:", &sync_status_line(app));
    out += &field("Health Status:", &health_status(app));
    let message = app
        .status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.message.as_deref())
        .unwrap_or_default();
    if !message.is_empty() {
        out += &field("Health Message:", message);
    }
    out
}

fn source_fields(source: &ApplicationSource, bullet: &str) -> String {
    // The bullet goes on the first line; the rest is indented to match.
    let indent = " ".repeat(bullet.len());
    let mut lines = vec![("Repo:", source.repo_url.clone())];
    lines.push((
        "Target:",
        source.target_revision.clone().unwrap_or_default(),
    ));
    if let Some(chart) = source.chart.as_deref().filter(|c| !c.is_empty()) {
        lines.push(("Chart:", chart.to_owned()));
    } else {
        lines.push(("Path:", source.path.clone().unwrap_or_default()));
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let prefix = if i == 0 { bullet } else { indent.as_str() };
            field(&format!("{prefix}{label}"), &value)
        })
        .collect()
}

/// `Synced to main (1a2b3c4)`, `OutOfSync from HEAD (…)`, `Unknown`.
pub fn sync_status_line(app: &Application) -> String {
    let status = sync_status(app);
    let target = app
        .primary_source()
        .and_then(|s| s.target_revision.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "HEAD".to_owned());
    let mut line = match status.as_str() {
        caravel_crd::sync_status::SYNCED => format!("{status} to {target}"),
        caravel_crd::sync_status::OUT_OF_SYNC => format!("{status} from {target}"),
        _ => return status,
    };
    let revision = app
        .status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revision.as_deref())
        .unwrap_or_default();
    if !is_commit_sha(&target) && revision.len() > 7 {
        line += &format!(" ({})", short_sha(revision));
    }
    line
}

fn is_commit_sha(s: &str) -> bool {
    s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn short_sha(s: &str) -> &str {
    s.get(..7).unwrap_or(s)
}

/// `CONDITION  MESSAGE  LAST TRANSITION`, empty without conditions.
pub fn conditions_table(app: &Application) -> String {
    let conditions = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    if conditions.is_empty() {
        return String::new();
    }
    let mut rows = vec![vec![
        "CONDITION".to_owned(),
        "MESSAGE".to_owned(),
        "LAST TRANSITION".to_owned(),
    ]];
    for c in conditions {
        rows.push(vec![
            c.type_.clone(),
            c.message.clone(),
            c.last_transition_time
                .as_deref()
                .map(go_time)
                .unwrap_or_default(),
        ]);
    }
    table::render(&rows)
}

/// The operation block: Operation, Sync Revision, Phase, Start, Finished,
/// Duration, Message (argocd's `printOperationResult`).
pub fn operation_state(state: &OperationState, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if state.operation.sync.is_some() || state.sync_result.is_some() {
        out += &field("Operation:", "Sync");
    }
    if let Some(result) = &state.sync_result {
        let revision = match result.revisions.as_deref() {
            Some(rs) if !rs.is_empty() => rs.join(", "),
            _ => result.revision.clone(),
        };
        out += &field("Sync Revision:", &revision);
    }
    out += &field("Phase:", &state.phase);
    out += &field("Start:", &go_time(&state.started_at));
    if let Some(finished) = &state.finished_at {
        out += &field("Finished:", &go_time(finished));
    }
    let end = state
        .finished_at
        .as_deref()
        .and_then(parse_time)
        .unwrap_or(now);
    if let Some(start) = parse_time(&state.started_at) {
        out += &field("Duration:", &go_duration((end - start).num_seconds()));
    }
    if let Some(message) = state.message.as_deref().filter(|m| !m.is_empty()) {
        out += &field("Message:", message);
    }
    out
}

// === resources ===

/// One row of the resources table: a resource's sync and health status,
/// with hook and message from the last operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceState {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub health: String,
    pub hook: String,
    pub message: String,
}

impl ResourceState {
    /// `group/kind/namespace/name`, identifying the row.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
            self.status.clone(),
            self.health.clone(),
            self.hook.clone(),
            self.message.clone(),
        ]
    }
}

/// Argo CD's `getResourceStates`: the last operation's results first (hooks
/// with their phase, other resources with their current status), then the
/// remaining resources of `status.resources` sorted by key.
/// `with_sync_result` false leaves the last operation out.
pub fn resource_states(app: &Application, with_sync_result: bool) -> Vec<ResourceState> {
    let status = app.status.as_ref();
    let mut by_key: HashMap<String, ResourceState> = HashMap::new();
    for r in status
        .and_then(|s| s.resources.as_deref())
        .unwrap_or_default()
    {
        let state = ResourceState {
            group: r.group.clone().unwrap_or_default(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone().unwrap_or_default(),
            name: r.name.clone(),
            status: r.status.clone().unwrap_or_default(),
            health: r
                .health
                .as_ref()
                .and_then(|h| h.status.clone())
                .unwrap_or_default(),
            hook: String::new(),
            message: String::new(),
        };
        by_key.insert(state.key(), state);
    }

    let mut states = Vec::new();
    let results = status
        .and_then(|s| s.operation_state.as_ref())
        .and_then(|o| o.sync_result.as_ref())
        .and_then(|r| r.resources.as_deref())
        .filter(|_| with_sync_result)
        .unwrap_or_default();
    for r in results {
        let hook = r.hook_type.clone().unwrap_or_default();
        let mut state = ResourceState {
            group: r.group.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            status: r.hook_phase.clone().unwrap_or_default(),
            health: r.status.clone().unwrap_or_default(),
            hook: hook.clone(),
            message: r.message.clone().unwrap_or_default(),
        };
        if let Some(current) = by_key.remove(&state.key()) {
            if hook.is_empty() {
                state.status = current.status;
                state.health = current.health;
            }
        }
        states.push(state);
    }
    let mut rest: Vec<ResourceState> = by_key.into_values().collect();
    rest.sort_by_key(ResourceState::key);
    states.extend(rest);
    states
}

/// `GROUP KIND NAMESPACE NAME STATUS HEALTH HOOK MESSAGE`.
pub fn resources_table(states: &[ResourceState]) -> String {
    let mut rows = vec![[
        "GROUP",
        "KIND",
        "NAMESPACE",
        "NAME",
        "STATUS",
        "HEALTH",
        "HOOK",
        "MESSAGE",
    ]
    .map(str::to_owned)
    .to_vec()];
    rows.extend(states.iter().map(ResourceState::cells));
    table::render(&rows)
}

// === app resources ===

/// One row of `app resources`: a resource of `status.resources` joined with
/// its result in the last operation, or a hook known only from that result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceRow {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `None` for hooks known only from the last operation.
    pub sync_wave: Option<i64>,
    /// `status.resources[].hook`, or a hook type in the last operation.
    pub hook: bool,
    pub hook_type: String,
    pub hook_phase: String,
    pub sync_phase: String,
    /// Sync status (Synced, OutOfSync); for hooks known only from the last
    /// operation, their result (Synced, SyncFailed).
    pub status: String,
    pub health: String,
    pub requires_pruning: bool,
    /// The last operation's message about the resource.
    pub message: String,
}

impl ResourceRow {
    fn cells(&self) -> Vec<String> {
        let hook = match (self.hook_type.as_str(), self.hook) {
            ("", true) => "true".to_owned(),
            (hook_type, _) => hook_type.to_owned(),
        };
        // As in `app get`: a hook's status is its phase.
        let status = if self.hook && !self.hook_phase.is_empty() {
            self.hook_phase.clone()
        } else {
            self.status.clone()
        };
        let message = match (self.requires_pruning, self.message.as_str()) {
            (true, "") => "requires pruning".to_owned(),
            (true, m) => format!("requires pruning; {m}"),
            (false, m) => m.to_owned(),
        };
        vec![
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
            self.sync_wave.map(|w| w.to_string()).unwrap_or_default(),
            hook,
            status,
            self.health.clone(),
            message,
        ]
    }

    /// The row as JSON (`app resources -o json`), every field present.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "group": self.group,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "syncWave": self.sync_wave,
            "hook": self.hook,
            "hookType": self.hook_type,
            "hookPhase": self.hook_phase,
            "syncPhase": self.sync_phase,
            "status": self.status,
            "health": self.health,
            "requiresPruning": self.requires_pruning,
            "message": self.message,
        })
    }
}

fn resource_key(group: &str, kind: &str, namespace: &str, name: &str) -> String {
    format!("{group}/{kind}/{namespace}/{name}")
}

/// The rows of `app resources`: `status.resources` in order (wave 0 when
/// unset), joined by group/kind/namespace/name with the last operation's
/// results; then the hooks found only in those results.
pub fn resource_rows(app: &Application) -> Vec<ResourceRow> {
    let status = app.status.as_ref();
    let results = status
        .and_then(|s| s.operation_state.as_ref())
        .and_then(|o| o.sync_result.as_ref())
        .and_then(|r| r.resources.as_deref())
        .unwrap_or_default();
    let mut by_key: HashMap<String, &ResourceResult> = results
        .iter()
        .map(|r| (resource_key(&r.group, &r.kind, &r.namespace, &r.name), r))
        .collect();
    let text = |s: &Option<String>| s.clone().unwrap_or_default();

    let mut rows = Vec::new();
    for r in status
        .and_then(|s| s.resources.as_deref())
        .unwrap_or_default()
    {
        let group = text(&r.group);
        let namespace = text(&r.namespace);
        let result = by_key.remove(&resource_key(&group, &r.kind, &namespace, &r.name));
        let hook_type = result.map(|x| text(&x.hook_type)).unwrap_or_default();
        rows.push(ResourceRow {
            group,
            kind: r.kind.clone(),
            namespace,
            name: r.name.clone(),
            sync_wave: Some(r.sync_wave.unwrap_or(0)),
            hook: r.hook == Some(true) || !hook_type.is_empty(),
            hook_type,
            hook_phase: result.map(|x| text(&x.hook_phase)).unwrap_or_default(),
            sync_phase: result.map(|x| text(&x.sync_phase)).unwrap_or_default(),
            status: text(&r.status),
            health: r
                .health
                .as_ref()
                .and_then(|h| h.status.clone())
                .unwrap_or_default(),
            requires_pruning: r.requires_pruning == Some(true),
            message: result.map(|x| text(&x.message)).unwrap_or_default(),
        });
    }
    // Hooks are often deleted once they ran, leaving only their result.
    for r in results {
        let key = resource_key(&r.group, &r.kind, &r.namespace, &r.name);
        let hook_type = text(&r.hook_type);
        if hook_type.is_empty() || by_key.remove(&key).is_none() {
            continue;
        }
        rows.push(ResourceRow {
            group: r.group.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            sync_wave: None,
            hook: true,
            hook_type,
            hook_phase: text(&r.hook_phase),
            sync_phase: text(&r.sync_phase),
            status: text(&r.status),
            health: String::new(),
            requires_pruning: false,
            message: text(&r.message),
        });
    }
    rows
}

/// `GROUP KIND NAMESPACE NAME WAVE HOOK STATUS HEALTH MESSAGE`; a hook's
/// STATUS is its phase.
pub fn resource_rows_table(rows: &[ResourceRow]) -> String {
    let mut table = vec![[
        "GROUP",
        "KIND",
        "NAMESPACE",
        "NAME",
        "WAVE",
        "HOOK",
        "STATUS",
        "HEALTH",
        "MESSAGE",
    ]
    .map(str::to_owned)
    .to_vec()];
    table.extend(rows.iter().map(ResourceRow::cells));
    table::render(&table)
}

// === app delete ===

/// What `app delete` reports once the request is accepted (without
/// `--wait`): with cascade the controller deletes the resources first.
pub fn deletion_requested(name: &str, request: &ApplicationDeleteRequest) -> String {
    if request.cascade == Some(false) {
        return format!("application '{name}' deleted; its resources are kept\n");
    }
    let policy = match request.propagation_policy.as_str() {
        "" => "foreground",
        p => p,
    };
    format!(
        "application '{name}' is being deleted: its resources are deleted first ({policy} propagation)\n"
    )
}

/// The state of an Application being deleted, for `app delete --wait`:
/// how many resources it still has and which finalizers hold it.
pub fn deletion_progress(app: &Application) -> String {
    let resources = app
        .status
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .map_or(0, Vec::len);
    let finalizers = app.metadata.finalizers.as_deref().unwrap_or_default();
    let mut line = match resources {
        1 => "deleting: 1 resource".to_owned(),
        n => format!("deleting: {n} resources"),
    };
    if !finalizers.is_empty() {
        line += &format!(", waiting for {}", finalizers.join(", "));
    }
    line
}

// === sync progress ===

/// One resource result of a running sync
/// (`status.operationState.syncResult.resources[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncResultRow {
    /// PreSync, Sync, PostSync or SyncFail.
    pub sync_phase: String,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Synced, SyncFailed, Pruned, PruneSkipped.
    pub status: String,
    pub hook_type: String,
    /// Running, Succeeded, Failed, … for hooks.
    pub hook_phase: String,
    pub message: String,
}

impl SyncResultRow {
    /// Which result this is: one per resource and phase.
    pub fn identity(&self) -> String {
        format!(
            "{}/{}",
            self.sync_phase,
            resource_key(&self.group, &self.kind, &self.namespace, &self.name)
        )
    }

    /// What makes a result worth printing again when it changes.
    pub fn state(&self) -> (String, String) {
        (self.status.clone(), self.hook_phase.clone())
    }

    fn cells(&self, timestamp: &str) -> Vec<String> {
        let status = if self.hook_type.is_empty() || self.hook_phase.is_empty() {
            self.status.clone()
        } else {
            self.hook_phase.clone()
        };
        vec![
            timestamp.to_owned(),
            self.sync_phase.clone(),
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
            status,
            self.hook_type.clone(),
            self.message.clone(),
        ]
    }
}

/// The results the last operation reported so far, in its order.
pub fn sync_results(app: &Application) -> Vec<SyncResultRow> {
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .and_then(|o| o.sync_result.as_ref())
        .and_then(|r| r.resources.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|r| SyncResultRow {
            sync_phase: text(&r.sync_phase),
            group: r.group.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            status: text(&r.status),
            hook_type: text(&r.hook_type),
            hook_phase: text(&r.hook_phase),
            message: text(&r.message),
        })
        .collect()
}

/// The header of the progress table.
pub const PROGRESS_HEADER: [&str; 9] = [
    "TIMESTAMP",
    "PHASE",
    "GROUP",
    "KIND",
    "NAMESPACE",
    "NAME",
    "STATUS",
    "HOOK",
    "MESSAGE",
];

/// Progress rows `TIMESTAMP PHASE GROUP KIND NAMESPACE NAME STATUS HOOK
/// MESSAGE` (a hook's STATUS is its phase), the header first when `header`
/// is set, aligned with what was printed before through `widths`.
pub fn progress_rows(
    timestamp: &str,
    rows: &[SyncResultRow],
    header: bool,
    widths: &mut Vec<usize>,
) -> String {
    let mut table = Vec::new();
    if header {
        table.push(PROGRESS_HEADER.map(str::to_owned).to_vec());
    }
    table.extend(rows.iter().map(|r| r.cells(timestamp)));
    table::render_continued(&table, widths)
}

// === history ===

/// `app history`: per source, `SOURCE <repo>` then `ID DATE REVISION`
/// rows, oldest first.
pub fn history(items: &[RevisionHistory]) -> String {
    let mut groups: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for h in items {
        let source: Option<Value> = serde_json::from_str(&h.source_json).ok();
        // Multi-source entries carry a list; show the first source.
        let source = match source {
            Some(Value::Array(mut list)) if !list.is_empty() => Some(list.swap_remove(0)),
            other => other,
        };
        let text = |key: &str| {
            source
                .as_ref()
                .and_then(|s| s.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let repo = text("repoURL");
        let target = Some(text("targetRevision"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "HEAD".to_owned());
        let revision = if h.revision.is_empty() {
            target
        } else {
            format!("{target} ({})", short_sha(&h.revision))
        };
        let row = vec![h.id.to_string(), go_time(&h.deployed_at), revision];
        match groups.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((repo, vec![row])),
        }
    }
    groups
        .into_iter()
        .map(|(repo, rows)| {
            let mut table_rows = vec![
                vec!["SOURCE".to_owned(), repo],
                vec!["ID".to_owned(), "DATE".to_owned(), "REVISION".to_owned()],
            ];
            table_rows.extend(rows);
            table::render(&table_rows)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// === diff ===

/// `app diff`: for each modified resource (hooks left out), the banner
/// `===== GROUP/KIND NAMESPACE/NAME ======` then the unified diff of the
/// live state against what a sync would make of it. Empty when nothing
/// differs.
pub fn diffs(items: &[ResourceDiff]) -> String {
    let mut out = String::new();
    for item in items.iter().filter(|i| i.modified && !i.hook) {
        let diff = if item.diff.is_empty() {
            local_diff(item)
        } else {
            item.diff.clone()
        };
        if diff.is_empty() {
            continue;
        }
        out += &format!(
            "\n===== {}/{} {}/{} ======\n",
            item.group, item.kind, item.namespace, item.name
        );
        out += &diff;
        if !diff.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// For a server that sent the states but no diff.
fn local_diff(item: &ResourceDiff) -> String {
    let parse = |s: &str| -> Option<Value> {
        if s.is_empty() {
            None
        } else {
            serde_json::from_str(s).ok()
        }
    };
    let live = parse(&item.live_state);
    let after = parse(&item.predicted_live_state).or_else(|| parse(&item.target_state));
    caravel_diff::unified_diff(live.as_ref(), after.as_ref(), "")
}

// === time ===

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An RFC 3339 time as Go prints a `time.Time` in UTC, as argocd shows
/// times (`2024-05-01 10:00:00 +0000 UTC`); unparsable text unchanged.
pub fn go_time(s: &str) -> String {
    match parse_time(s) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => s.to_owned(),
    }
}

/// Whole seconds as Go prints a duration: `0s`, `42s`, `1m5s`, `2h0m3s`.
pub fn go_duration(seconds: i64) -> String {
    let (sign, s) = if seconds < 0 {
        ("-", seconds.unsigned_abs())
    } else {
        ("", seconds.unsigned_abs())
    };
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests;
