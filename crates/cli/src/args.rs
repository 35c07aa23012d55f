//! Command-line flags of `caravel`, mirroring `argocd app …`.

use std::time::Duration;

use caravel_proto::application::v1::SyncResourceSelector;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Caravel command line: manage Applications through the Caravel api-server.
#[derive(Debug, Parser)]
#[command(name = "caravel", version)]
pub struct Opt {
    /// Address of the Caravel api-server (host:port or http://host:port).
    #[arg(
        long,
        env = "CARAVEL_SERVER",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub server: String,

    /// Namespace of the Applications (default: the api-server's namespace).
    /// `NAMESPACE/NAME` in an application argument overrides it.
    #[arg(long, env = "CARAVEL_APP_NAMESPACE", global = true)]
    pub app_namespace: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage Applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Render a chart locally, as `helm template` does (no server needed).
    Template(crate::template::TemplateArgs),
    /// Print the version of this command line.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List Applications.
    List(ListArgs),
    /// Show an Application: source, sync and health status, resources.
    Get(GetArgs),
    /// Sync an Application to its target state and follow the operation.
    Sync(SyncArgs),
    /// Show the difference between the live and the desired state.
    /// Exit code 1 when there is a difference, 0 when none, 2 on errors.
    Diff(NameArg),
    /// Show the deployment history of an Application.
    History(NameArg),
    /// Ask the controller to refresh an Application (re-read Git and compare).
    Refresh(RefreshArgs),
    /// Wait until an Application is synced, healthy and has no operation
    /// running (or only the conditions given). Exit code 1 on timeout.
    Wait(WaitArgs),
    /// Stop the running operation of an Application.
    #[command(name = "terminate-op")]
    TerminateOp(NameArg),
    /// Roll an Application back to a deployment of its history (by ID; the
    /// previous deployment when omitted) and follow the sync. Refused while
    /// auto-sync is enabled.
    Rollback(RollbackArgs),
    /// Delete an Application, and by default its resources (cascade).
    Delete(DeleteArgs),
    /// List the resources of an Application with their sync wave, hook,
    /// status and health, and the last operation's message.
    Resources(ResourcesArgs),
}

/// Output formats of `app list`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ListOutput {
    #[default]
    Wide,
    Json,
    Yaml,
    Name,
}

/// Output formats of `app get`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum GetOutput {
    #[default]
    Wide,
    Json,
    Yaml,
}

/// Output formats of `app resources`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ResourcesOutput {
    #[default]
    Wide,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ListOutput,
    /// Only Applications matching this label selector (e.g. `team=a,env!=prod`).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Only Applications of these projects (repeatable).
    #[arg(short, long = "project")]
    pub projects: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: GetOutput,
    /// Refresh the Application (re-read Git) before showing it.
    #[arg(long, conflicts_with = "hard_refresh")]
    pub refresh: bool,
    /// Refresh and bypass the manifest cache before showing it.
    #[arg(long)]
    pub hard_refresh: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
    /// Wait until the Application is Healthy.
    #[arg(long)]
    pub health: bool,
    /// Wait until the Application is Synced.
    #[arg(long)]
    pub sync: bool,
    /// Wait until no operation is running.
    #[arg(long)]
    pub operation: bool,
    /// Give up after this many seconds (0 waits forever).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
    /// Bypass the manifest cache (hard refresh).
    #[arg(long)]
    pub hard: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
    /// Delete resources that are no longer in Git.
    #[arg(long)]
    pub prune: bool,
    /// Preview the sync without applying anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Sync to this revision instead of the source's target revision.
    #[arg(long)]
    pub revision: Option<String>,
    /// Sync only this resource, as GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME
    /// (empty GROUP for the core group, e.g. `:ConfigMap:settings`). Repeatable.
    #[arg(long = "resource", value_parser = parse_resource)]
    pub resources: Vec<SyncResourceSelector>,
    /// Use a force apply (delete and re-create resources that cannot be patched).
    #[arg(long)]
    pub force: bool,
    /// Sync option such as `Prune=false` or `ServerSideApply=true` (repeatable).
    #[arg(long = "sync-option")]
    pub sync_options: Vec<String>,
    /// Retry a failed sync this many times (-1: without limit). 0 sends no
    /// retry strategy, so the Application's own `syncPolicy.retry` applies.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub retry_limit: i64,
    /// Delay before the first retry, as a duration (e.g. 5s, 2m, 1h).
    #[arg(long, default_value = "5s")]
    pub retry_backoff_duration: String,
    /// Longest delay between two retries, as a duration (e.g. 3m, 1h).
    #[arg(long, default_value = "3m")]
    pub retry_backoff_max_duration: String,
    /// Factor the delay is multiplied by after each failed retry.
    #[arg(long, default_value_t = 2)]
    pub retry_backoff_factor: i64,
    /// Return once the sync is requested instead of following it.
    #[arg(long = "async")]
    pub r#async: bool,
    /// Give up following the sync after this many seconds (0: wait forever).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

impl SyncArgs {
    pub fn timeout(&self) -> Option<Duration> {
        seconds(self.timeout)
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
    /// History ID to roll back to (see `app history`); the previous
    /// deployment when omitted.
    pub id: Option<i64>,
    /// Delete resources that the deployment rolled back to does not have.
    #[arg(long)]
    pub prune: bool,
    /// Preview the rollback without applying anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Return once the rollback is requested instead of following it.
    #[arg(long = "async")]
    pub r#async: bool,
    /// Give up following the rollback after this many seconds (0: wait forever).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

impl RollbackArgs {
    pub fn timeout(&self) -> Option<Duration> {
        seconds(self.timeout)
    }
}

/// `--cascade` values: a boolean as in argocd, or a propagation policy
/// (which implies cascade).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CascadeArg {
    True,
    False,
    Foreground,
    Background,
}

/// How the resources of a deleted Application are deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PropagationPolicy {
    /// Dependents first, then the resource.
    Foreground,
    /// The resource at once; the garbage collector removes dependents.
    Background,
}

impl PropagationPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PropagationPolicy::Foreground => "foreground",
            PropagationPolicy::Background => "background",
        }
    }
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
    /// Delete the Application's resources too (true, the default), keep them
    /// (false), or delete them with this propagation policy (foreground,
    /// background). Give the value with '=': --cascade=false.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub cascade: Option<CascadeArg>,
    /// Propagation policy for deleting the resources (with cascade).
    #[arg(short = 'p', long, value_enum)]
    pub propagation_policy: Option<PropagationPolicy>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Wait until the Application is gone (after its resources, with cascade).
    #[arg(long)]
    pub wait: bool,
    /// With --wait, give up after this many seconds (0: wait forever).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

impl DeleteArgs {
    pub fn timeout(&self) -> Option<Duration> {
        seconds(self.timeout)
    }
}

#[derive(Debug, Args)]
pub struct ResourcesArgs {
    /// Application name, or NAMESPACE/NAME.
    pub name: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ResourcesOutput,
}

fn seconds(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n))
}

/// Parses `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME` as `argocd app
/// sync --resource` does. The name may itself contain ':' (RBAC names).
pub fn parse_resource(s: &str) -> Result<SyncResourceSelector, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(group), Some(kind), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "{s:?} is not GROUP:KIND:NAME (use an empty GROUP for the core group, e.g. :ConfigMap:settings)"
        ));
    };
    let (namespace, name) = match rest.split_once('/') {
        Some((namespace, name)) => (namespace, name),
        None => ("", rest),
    };
    if kind.is_empty() || name.is_empty() {
        return Err(format!("{s:?}: KIND and NAME must not be empty"));
    }
    Ok(SyncResourceSelector {
        group: group.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: namespace.to_owned(),
    })
}

/// Splits `NAMESPACE/NAME` (as `app list` prints names) from a plain name.
pub fn split_app_name(arg: &str) -> (Option<&str>, &str) {
    match arg.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(group: &str, kind: &str, namespace: &str, name: &str) -> SyncResourceSelector {
        SyncResourceSelector {
            group: group.into(),
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    #[test]
    fn resources_parse_as_group_kind_name() -> Result<(), String> {
        assert_eq!(
            parse_resource("apps:Deployment:web")?,
            selector("apps", "Deployment", "", "web")
        );
        assert_eq!(
            parse_resource(":ConfigMap:settings")?,
            selector("", "ConfigMap", "", "settings")
        );
        assert_eq!(
            parse_resource("apps:Deployment:prod/web")?,
            selector("apps", "Deployment", "prod", "web")
        );
        assert_eq!(
            parse_resource("rbac.authorization.k8s.io:ClusterRole:system:controller")?,
            selector(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "",
                "system:controller"
            )
        );
        Ok(())
    }

    #[test]
    fn malformed_resources_are_usage_errors() {
        for bad in [
            "Deployment",
            "apps:Deployment",
            "apps::web",
            "apps:Deployment:",
            "apps:Deployment:prod/",
        ] {
            assert!(parse_resource(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sync_flags_parse_like_argocd() -> anyhow::Result<()> {
        let opt = Opt::try_parse_from([
            "caravel",
            "--server",
            "localhost:9000",
            "app",
            "sync",
            "guestbook",
            "--prune",
            "--dry-run",
            "--revision",
            "v2",
            "--resource",
            "apps:Deployment:web",
            "--resource",
            ":Service:web",
            "--force",
            "--async",
            "--timeout",
            "30",
        ])?;
        assert_eq!(opt.server, "localhost:9000");
        let Command::App(AppCommand::Sync(sync)) = opt.command else {
            anyhow::bail!("expected app sync, got {:?}", opt.command);
        };
        assert_eq!(sync.name, "guestbook");
        assert!(sync.prune && sync.dry_run && sync.force && sync.r#async);
        assert_eq!(sync.revision.as_deref(), Some("v2"));
        assert_eq!(sync.resources.len(), 2);
        assert_eq!(sync.resources[1], selector("", "Service", "", "web"));
        assert_eq!(sync.timeout(), Some(Duration::from_secs(30)));
        Ok(())
    }

    #[test]
    fn retry_flags_parse_like_argocd() -> anyhow::Result<()> {
        let opt = Opt::try_parse_from([
            "caravel",
            "app",
            "sync",
            "guestbook",
            "--retry-limit",
            "-1",
            "--retry-backoff-duration",
            "10s",
            "--retry-backoff-max-duration",
            "5m",
            "--retry-backoff-factor",
            "3",
        ])?;
        let Command::App(AppCommand::Sync(sync)) = opt.command else {
            anyhow::bail!("expected app sync");
        };
        assert_eq!(sync.retry_limit, -1);
        assert_eq!(sync.retry_backoff_duration, "10s");
        assert_eq!(sync.retry_backoff_max_duration, "5m");
        assert_eq!(sync.retry_backoff_factor, 3);

        let opt = Opt::try_parse_from(["caravel", "app", "sync", "guestbook"])?;
        let Command::App(AppCommand::Sync(sync)) = opt.command else {
            anyhow::bail!("expected app sync");
        };
        assert_eq!(
            (
                sync.retry_limit,
                sync.retry_backoff_duration.as_str(),
                sync.retry_backoff_max_duration.as_str(),
                sync.retry_backoff_factor
            ),
            (0, "5s", "3m", 2)
        );
        Ok(())
    }

    #[test]
    fn rollback_takes_an_optional_history_id() -> anyhow::Result<()> {
        let opt = Opt::try_parse_from([
            "caravel",
            "app",
            "rollback",
            "guestbook",
            "3",
            "--prune",
            "--dry-run",
            "--async",
        ])?;
        let Command::App(AppCommand::Rollback(rollback)) = opt.command else {
            anyhow::bail!("expected app rollback");
        };
        assert_eq!(rollback.id, Some(3));
        assert!(rollback.prune && rollback.dry_run && rollback.r#async);
        let opt = Opt::try_parse_from(["caravel", "app", "rollback", "guestbook"])?;
        let Command::App(AppCommand::Rollback(rollback)) = opt.command else {
            anyhow::bail!("expected app rollback");
        };
        assert_eq!(rollback.id, None);
        assert!(Opt::try_parse_from(["caravel", "app", "rollback", "guestbook", "x"]).is_err());
        Ok(())
    }

    #[test]
    fn cascade_takes_a_boolean_or_a_policy_after_an_equals_sign() -> anyhow::Result<()> {
        let delete = |args: &[&str]| -> anyhow::Result<DeleteArgs> {
            let mut argv = vec!["caravel", "app", "delete"];
            argv.extend_from_slice(args);
            match Opt::try_parse_from(argv)?.command {
                Command::App(AppCommand::Delete(d)) => Ok(d),
                other => anyhow::bail!("expected app delete, got {other:?}"),
            }
        };
        assert_eq!(delete(&["a"])?.cascade, None);
        assert_eq!(delete(&["--cascade", "a"])?.cascade, Some(CascadeArg::True));
        assert_eq!(delete(&["a", "--cascade"])?.cascade, Some(CascadeArg::True));
        assert_eq!(
            delete(&["a", "--cascade=false"])?.cascade,
            Some(CascadeArg::False)
        );
        assert_eq!(
            delete(&["a", "--cascade=background"])?.cascade,
            Some(CascadeArg::Background)
        );
        let d = delete(&["a", "-p", "background", "-y", "--wait"])?;
        assert_eq!(d.propagation_policy, Some(PropagationPolicy::Background));
        assert!(d.yes && d.wait);
        assert!(delete(&["a", "--cascade=sometimes"]).is_err());
        Ok(())
    }

    #[test]
    fn a_bad_resource_flag_is_rejected_by_the_parser() {
        let err = Opt::try_parse_from(["caravel", "app", "sync", "a", "--resource", "web"]);
        assert!(err.is_err());
    }

    #[test]
    fn global_flags_work_after_the_subcommand() -> anyhow::Result<()> {
        let opt = Opt::try_parse_from([
            "caravel",
            "app",
            "list",
            "-o",
            "json",
            "-l",
            "team=a",
            "-p",
            "default",
            "--app-namespace",
            "apps",
        ])?;
        assert_eq!(opt.app_namespace.as_deref(), Some("apps"));
        let Command::App(AppCommand::List(list)) = opt.command else {
            anyhow::bail!("expected app list");
        };
        assert_eq!(list.output, ListOutput::Json);
        assert_eq!(list.selector.as_deref(), Some("team=a"));
        assert_eq!(list.projects, vec!["default".to_owned()]);
        Ok(())
    }

    #[test]
    fn refresh_and_hard_refresh_exclude_each_other() {
        assert!(
            Opt::try_parse_from(["caravel", "app", "get", "a", "--refresh", "--hard-refresh"])
                .is_err()
        );
    }

    #[test]
    fn qualified_names_carry_their_namespace() {
        assert_eq!(
            split_app_name("argocd/guestbook"),
            (Some("argocd"), "guestbook")
        );
        assert_eq!(split_app_name("guestbook"), (None, "guestbook"));
    }
}
