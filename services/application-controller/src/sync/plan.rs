//! The plan of one sync: every apply, prune and hook task, in Argo CD's
//! order (phase, wave, kind, name), grouped into steps that run one after
//! another. Pure logic: nothing here talks to the cluster.

use caravel_crd::application::SyncOperation;
use serde_json::Value;

use crate::compare::{self, Comparison, ResourceState};
use crate::hooks::{self, HookInfo, Phase};
use crate::settings::kind_rank;

use super::options::{ResourceOptions, SyncOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Apply,
    Prune,
    Hook,
}

/// One thing a sync does to one object.
#[derive(Clone, Debug)]
pub struct Task {
    pub phase: Phase,
    pub wave: i64,
    pub action: Action,
    pub res: ResourceState,
    pub hook: Option<HookInfo>,
    pub options: ResourceOptions,
}

impl Task {
    pub fn is_hook(&self) -> bool {
        self.action == Action::Hook
    }

    fn order_key(&self) -> (Phase, i64, usize, &str) {
        (
            self.phase,
            self.wave,
            kind_rank(&self.res.gvk.kind),
            &self.res.name,
        )
    }
}

/// Tasks of one (phase, wave): they run together, and the next step starts
/// once they are done.
#[derive(Clone, Debug)]
pub struct Step {
    pub phase: Phase,
    pub wave: i64,
    pub tasks: Vec<Task>,
}

impl Step {
    pub fn label(&self) -> String {
        format!("{} wave {}", self.phase.as_str(), self.wave)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// SyncFail hooks: run only when the sync fails.
    pub sync_fail: Vec<Task>,
}

impl Plan {
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.steps.iter().flat_map(|s| s.tasks.iter())
    }
}

/// Whether the operation names the object (no selection names everything).
pub fn selected(op: &SyncOperation, r: &ResourceState) -> bool {
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

/// Builds the plan. `started_at` (the operation's start) names
/// `generateName` hooks, so a resumed operation finds the same hooks.
pub fn build(
    app_name: &str,
    op: &SyncOperation,
    opts: &SyncOptions,
    cmp: &Comparison,
    started_at: &str,
) -> Plan {
    let mut tasks: Vec<Task> = Vec::new();
    for r in cmp.resources.iter().filter(|r| selected(op, r)) {
        if r.requires_pruning {
            tasks.push(Task {
                phase: Phase::Sync,
                wave: r.wave,
                action: Action::Prune,
                res: r.clone(),
                hook: None,
                options: ResourceOptions::of(r),
            });
        } else if r.target.is_some() && (!opts.apply_out_of_sync_only || !r.synced) {
            tasks.push(Task {
                phase: Phase::Sync,
                wave: r.wave,
                action: Action::Apply,
                res: r.clone(),
                hook: None,
                options: ResourceOptions::of(r),
            });
        }
    }
    // As Argo CD: a partial sync or a dry run runs no hooks.
    let partial = op.resources.as_ref().is_some_and(|s| !s.is_empty());
    let mut sync_fail = Vec::new();
    if !partial && !opts.dry_run {
        for h in &cmp.hooks {
            for (index, phase) in h.info.phases.iter().enumerate() {
                let task = hook_task(app_name, h, *phase, index, started_at);
                if *phase == Phase::SyncFail {
                    sync_fail.push(task);
                } else {
                    tasks.push(task);
                }
            }
        }
    }

    // After the hooks: the last wave of the Sync phase counts Sync hooks.
    reorder_prunes(&mut tasks, opts);
    tasks.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    sync_fail.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    let mut steps: Vec<Step> = Vec::new();
    for t in tasks {
        match steps.last_mut() {
            Some(s) if s.phase == t.phase && s.wave == t.wave => s.tasks.push(t),
            _ => steps.push(Step {
                phase: t.phase,
                wave: t.wave,
                tasks: vec![t],
            }),
        }
    }
    Plan { steps, sync_fail }
}

/// Argo CD prunes in reverse wave order (the waves of prune tasks are
/// mirrored), and PruneLast prunes after the last wave of the Sync phase.
fn reorder_prunes(tasks: &mut [Task], opts: &SyncOptions) {
    let mut waves: Vec<i64> = tasks
        .iter()
        .filter(|t| t.action == Action::Prune)
        .map(|t| t.wave)
        .collect();
    waves.sort_unstable();
    waves.dedup();
    let n = waves.len();
    for t in tasks.iter_mut().filter(|t| t.action == Action::Prune) {
        if let Some(i) = waves.iter().position(|w| *w == t.wave) {
            t.wave = waves[n - 1 - i];
        }
    }
    let last = tasks
        .iter()
        .filter(|t| t.phase == Phase::Sync)
        .map(|t| t.wave)
        .fold(0, i64::max)
        + 1;
    for t in tasks.iter_mut().filter(|t| t.action == Action::Prune) {
        if opts.prune_last || opts.is(&t.options, "PruneLast", "true") {
            t.wave = last;
        }
    }
}

fn hook_task(
    app_name: &str,
    h: &compare::HookResource,
    phase: Phase,
    index: usize,
    started_at: &str,
) -> Task {
    let mut res = h.state.clone();
    if let Some(prefix) = &h.generate_name {
        if res.name.is_empty() {
            res.name = hooks::generated_name(prefix, started_at, phase, index);
        }
    }
    if let Some(target) = res.target.as_mut() {
        if let Some(meta) = target.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), Value::String(res.name.clone()));
            meta.remove("generateName");
        }
        compare::stamp(
            target,
            app_name,
            &res.gvk,
            res.namespace.as_deref(),
            &res.name,
        );
    }
    Task {
        phase,
        wave: res.wave,
        action: Action::Hook,
        options: ResourceOptions::of(&res),
        res,
        hook: Some(h.info.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::compare::HookResource;
    use crate::hooks::DeletePolicy;
    use caravel_crd::application::Application;
    use caravel_health::{Health, HealthCode};
    use kube::api::GroupVersionKind;
    use serde_json::json;

    fn state(kind: &str, name: &str, wave: i64, prune: bool) -> ResourceState {
        let group = if kind == "Deployment" { "apps" } else { "" };
        ResourceState {
            gvk: GroupVersionKind::gvk(group, "v1", kind),
            kind: None,
            namespace: Some("ns".into()),
            name: name.into(),
            wave,
            target: (!prune).then(|| json!({"metadata": {"name": name}})),
            live: None,
            predicted: None,
            compared_live: None,
            synced: false,
            requires_pruning: prune,
            health: None,
            message: None,
        }
    }

    fn hook(name: &str, generate: bool, phases: Vec<Phase>, wave: i64) -> HookResource {
        let mut s = state("Job", if generate { "" } else { name }, wave, false);
        s.gvk = GroupVersionKind::gvk("batch", "v1", "Job");
        HookResource {
            state: s,
            generate_name: generate.then(|| name.to_owned()),
            info: HookInfo {
                phases,
                delete_policies: vec![DeletePolicy::BeforeHookCreation],
                skip: false,
            },
        }
    }

    fn cmp(resources: Vec<ResourceState>, hooks: Vec<HookResource>) -> Comparison {
        Comparison {
            revision: "abc".into(),
            revisions: Vec::new(),
            source_type: "Directory".into(),
            resources,
            conditions: vec![],
            synced: false,
            health: Health {
                status: HealthCode::Healthy,
                message: None,
            },
            images: vec![],
            sync_blockers: vec![],
            hooks,
        }
    }

    fn steps(plan: &Plan) -> Vec<(String, Vec<String>)> {
        plan.steps
            .iter()
            .map(|s| {
                (
                    s.label(),
                    s.tasks
                        .iter()
                        .map(|t| format!("{:?}:{}", t.action, t.res.name))
                        .collect(),
                )
            })
            .collect()
    }

    fn opts(options: &[&str], prune: bool) -> SyncOptions {
        let mut app = Application::default();
        app.spec.sync_policy = Some(caravel_crd::application::SyncPolicy {
            sync_options: Some(options.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        });
        SyncOptions::new(
            &app,
            &SyncOperation {
                prune: Some(prune),
                ..Default::default()
            },
        )
    }

    #[test]
    fn phases_then_waves_then_kinds_then_names() {
        let c = cmp(
            vec![
                state("Deployment", "web", 0, false),
                state("PersistentVolumeClaim", "data", -5, false),
                state("ConfigMap", "b", 0, false),
                state("ConfigMap", "a", 0, false),
            ],
            vec![
                hook("migrate", false, vec![Phase::PreSync], 0),
                hook("smoke-", true, vec![Phase::PostSync], 0),
                hook("cleanup", false, vec![Phase::SyncFail], 0),
            ],
        );
        let plan = build(
            "app",
            &SyncOperation::default(),
            &opts(&[], false),
            &c,
            "t0",
        );
        let got = steps(&plan);
        assert_eq!(
            got[0],
            ("PreSync wave 0".into(), vec!["Hook:migrate".into()])
        );
        assert_eq!(got[1], ("Sync wave -5".into(), vec!["Apply:data".into()]));
        assert_eq!(
            got[2],
            (
                "Sync wave 0".into(),
                vec!["Apply:a".into(), "Apply:b".into(), "Apply:web".into()]
            )
        );
        assert_eq!(got[3].0, "PostSync wave 0");
        assert!(got[3].1[0].starts_with("Hook:smoke-"));
        assert_eq!(plan.sync_fail.len(), 1);
        assert_eq!(plan.sync_fail[0].res.name, "cleanup");
    }

    #[test]
    fn generate_name_hooks_get_a_stable_name_and_tracking_id() {
        let c = cmp(vec![], vec![hook("smoke-", true, vec![Phase::PostSync], 0)]);
        let a = build(
            "app",
            &SyncOperation::default(),
            &opts(&[], false),
            &c,
            "t0",
        );
        let b = build(
            "app",
            &SyncOperation::default(),
            &opts(&[], false),
            &c,
            "t0",
        );
        let task = &a.steps[0].tasks[0];
        assert_eq!(task.res.name, b.steps[0].tasks[0].res.name);
        let target = task.res.target.as_ref().unwrap();
        assert_eq!(target["metadata"]["name"], task.res.name.as_str());
        assert!(target["metadata"].get("generateName").is_none());
        assert_eq!(
            target["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
            format!("app:batch/Job:ns/{}", task.res.name)
        );
    }

    #[test]
    fn prunes_run_in_mirrored_waves_and_prune_last_goes_after_everything() {
        let c = cmp(
            vec![
                state("ConfigMap", "keep", 1, false),
                state("ConfigMap", "old-early", -1, true),
                state("ConfigMap", "old-late", 3, true),
            ],
            vec![],
        );
        let plan = build("app", &SyncOperation::default(), &opts(&[], true), &c, "t0");
        assert_eq!(
            steps(&plan),
            vec![
                ("Sync wave -1".into(), vec!["Prune:old-late".into()]),
                ("Sync wave 1".into(), vec!["Apply:keep".into()]),
                ("Sync wave 3".into(), vec!["Prune:old-early".into()]),
            ]
        );
        let plan = build(
            "app",
            &SyncOperation::default(),
            &opts(&["PruneLast=true"], true),
            &c,
            "t0",
        );
        assert_eq!(
            steps(&plan),
            vec![
                ("Sync wave 1".into(), vec!["Apply:keep".into()]),
                (
                    "Sync wave 4".into(),
                    vec!["Prune:old-early".into(), "Prune:old-late".into()]
                ),
            ]
        );
    }

    #[test]
    fn partial_syncs_and_dry_runs_run_no_hooks() {
        let c = cmp(
            vec![
                state("ConfigMap", "a", 0, false),
                state("ConfigMap", "b", 0, false),
            ],
            vec![hook("migrate", false, vec![Phase::PreSync], 0)],
        );
        let op = SyncOperation {
            resources: Some(vec![caravel_crd::application::SyncOperationResource {
                group: None,
                kind: "ConfigMap".into(),
                name: "b".into(),
                namespace: None,
                extra: Default::default(),
            }]),
            ..Default::default()
        };
        let plan = build("app", &op, &opts(&[], false), &c, "t0");
        assert_eq!(
            steps(&plan),
            vec![("Sync wave 0".into(), vec!["Apply:b".into()])]
        );
        let mut dry = opts(&[], false);
        dry.dry_run = true;
        let plan = build("app", &SyncOperation::default(), &dry, &c, "t0");
        assert!(plan.tasks().all(|t| !t.is_hook()));
    }

    #[test]
    fn apply_out_of_sync_only_leaves_synced_objects_out() {
        let mut synced = state("ConfigMap", "same", 0, false);
        synced.synced = true;
        let c = cmp(
            vec![synced, state("ConfigMap", "changed", 0, false)],
            vec![],
        );
        let plan = build(
            "app",
            &SyncOperation::default(),
            &opts(&["ApplyOutOfSyncOnly=true"], false),
            &c,
            "t0",
        );
        assert_eq!(
            steps(&plan),
            vec![("Sync wave 0".into(), vec!["Apply:changed".into()])]
        );
    }
}
