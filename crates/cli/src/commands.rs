//! The commands: call the api-server, render, choose the exit code.

use std::process::ExitCode;

use std::time::Duration;

use caravel_crd::phase;
use caravel_proto::application::v1::{
    ApplicationDeleteRequest, ApplicationRollbackRequest, ApplicationSyncRequest, Backoff,
    RetryStrategy, RevisionHistory,
};
use chrono::Utc;
use serde_json::Value;

use crate::args::{
    AppCommand, CascadeArg, DeleteArgs, GetArgs, GetOutput, ListArgs, ListOutput, RefreshArgs,
    ResourcesArgs, ResourcesOutput, RollbackArgs, SyncArgs, WaitArgs,
};
use crate::client::{ApiClient, App, AppRef};
use crate::error::{CliError, EXIT_FAILED};
use crate::output::{self, print};
use crate::{follow, render};

/// Runs one `caravel app …` command.
pub async fn app(
    client: &ApiClient,
    app_namespace: Option<&str>,
    command: AppCommand,
) -> Result<ExitCode, CliError> {
    let app_ref = |name: &str| AppRef::parse(name, app_namespace);
    match command {
        AppCommand::List(args) => list(client, app_namespace.unwrap_or_default(), args).await,
        AppCommand::Get(args) => get(client, &app_ref(&args.name), &args).await,
        AppCommand::Sync(args) => sync(client, &app_ref(&args.name), &args).await,
        AppCommand::Diff(args) => diff(client, &app_ref(&args.name)).await,
        AppCommand::History(args) => history(client, &app_ref(&args.name)).await,
        AppCommand::Refresh(args) => refresh(client, &app_ref(&args.name), &args).await,
        AppCommand::Wait(args) => wait(client, &app_ref(&args.name), &args).await,
        AppCommand::TerminateOp(args) => {
            client.terminate_operation(&app_ref(&args.name)).await?;
            print(&format!(
                "Application '{}' operation terminating",
                args.name
            ));
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Rollback(args) => rollback(client, &app_ref(&args.name), &args).await,
        AppCommand::Delete(args) => delete(client, &app_ref(&args.name), &args).await,
        AppCommand::Resources(args) => resources(client, &app_ref(&args.name), &args).await,
    }
}

/// What `app wait` waits for; with no flag, all three (as `argocd app wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitFor {
    pub health: bool,
    pub sync: bool,
    pub operation: bool,
}

impl WaitFor {
    pub fn from_args(args: &WaitArgs) -> Self {
        if !args.health && !args.sync && !args.operation {
            return Self {
                health: true,
                sync: true,
                operation: true,
            };
        }
        Self {
            health: args.health,
            sync: args.sync,
            operation: args.operation,
        }
    }

    /// The one-line state of `app`, and whether it is what we wait for.
    pub fn check(&self, app: &caravel_crd::Application) -> (String, bool) {
        let status = app.status.as_ref();
        let sync = status
            .and_then(|s| s.sync.as_ref())
            .map(|s| s.status.as_str())
            .unwrap_or("Unknown");
        let health = status
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status.as_deref())
            .unwrap_or("Unknown");
        let running = app.operation.is_some()
            || status
                .and_then(|s| s.operation_state.as_ref())
                .is_some_and(|o| o.phase == phase::RUNNING || o.phase == phase::TERMINATING);
        let ready = (!self.sync || sync == "Synced")
            && (!self.health || health == "Healthy")
            && (!self.operation || !running);
        let op = if running { "Running" } else { "none" };
        (format!("sync={sync} health={health} operation={op}"), ready)
    }
}

async fn wait(client: &ApiClient, app_ref: &AppRef, args: &WaitArgs) -> Result<ExitCode, CliError> {
    let wanted = WaitFor::from_args(args);
    let deadline = (args.timeout > 0)
        .then(|| std::time::Instant::now() + std::time::Duration::from_secs(args.timeout));
    let mut last = String::new();
    loop {
        let app = client.get(app_ref, "").await?;
        let (state, ready) = wanted.check(&app.app);
        if state != last {
            print(&format!(
                "{}  {}  {state}",
                Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                app_ref.name
            ));
            last = state;
        }
        if ready {
            return Ok(ExitCode::SUCCESS);
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(CliError::Timeout(format!(
                "timed out after {}s waiting for application {:?} ({last})",
                args.timeout, app_ref.name
            )));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn list(client: &ApiClient, namespace: &str, args: ListArgs) -> Result<ExitCode, CliError> {
    let apps = client
        .list(
            namespace,
            args.selector.as_deref().unwrap_or_default(),
            &args.projects,
        )
        .await?;
    let text = match args.output {
        ListOutput::Wide => {
            let typed: Vec<_> = apps.into_iter().map(|a| a.app).collect();
            render::app_list(&typed)
        }
        ListOutput::Name => {
            let typed: Vec<_> = apps.into_iter().map(|a| a.app).collect();
            render::app_names(&typed)
        }
        ListOutput::Json => {
            output::json(&Value::Array(apps.into_iter().map(|a| a.json).collect()))?
        }
        ListOutput::Yaml => {
            output::yaml(&Value::Array(apps.into_iter().map(|a| a.json).collect()))?
        }
    };
    print(&text);
    Ok(ExitCode::SUCCESS)
}

async fn get(client: &ApiClient, app_ref: &AppRef, args: &GetArgs) -> Result<ExitCode, CliError> {
    let refresh = if args.hard_refresh {
        "hard"
    } else if args.refresh {
        "normal"
    } else {
        ""
    };
    let app = client.get(app_ref, refresh).await?;
    let text = match args.output {
        GetOutput::Wide => render::app_details(&app.app, Utc::now()),
        GetOutput::Json => output::json(&app.json)?,
        GetOutput::Yaml => output::yaml(&app.json)?,
    };
    print(&text);
    Ok(ExitCode::SUCCESS)
}

async fn refresh(
    client: &ApiClient,
    app_ref: &AppRef,
    args: &RefreshArgs,
) -> Result<ExitCode, CliError> {
    client.refresh(app_ref, args.hard).await?;
    let kind = if args.hard { "hard refresh" } else { "refresh" };
    print(&format!(
        "{kind} of application {:?} requested\n",
        app_ref.name
    ));
    Ok(ExitCode::SUCCESS)
}

/// The Sync request for `args`.
pub fn sync_request(app_ref: &AppRef, args: &SyncArgs) -> ApplicationSyncRequest {
    ApplicationSyncRequest {
        name: app_ref.name.clone(),
        app_namespace: app_ref.namespace.clone(),
        revision: args.revision.clone().unwrap_or_default(),
        prune: args.prune,
        dry_run: args.dry_run,
        resources: args.resources.clone(),
        force: args.force,
        sync_options: args.sync_options.clone(),
        retry_strategy: retry_strategy(args),
    }
}

/// The retry strategy of argocd's `--retry-*` flags: none when
/// `--retry-limit` is 0, so that the app's own retry policy applies.
pub fn retry_strategy(args: &SyncArgs) -> Option<RetryStrategy> {
    (args.retry_limit != 0).then(|| RetryStrategy {
        limit: args.retry_limit,
        backoff: Some(Backoff {
            duration: args.retry_backoff_duration.clone(),
            factor: Some(args.retry_backoff_factor),
            max_duration: args.retry_backoff_max_duration.clone(),
        }),
    })
}

async fn sync(client: &ApiClient, app_ref: &AppRef, args: &SyncArgs) -> Result<ExitCode, CliError> {
    let deadline = args.timeout().map(|t| tokio::time::Instant::now() + t);
    let requested_at = Utc::now();
    let app = client.sync(sync_request(app_ref, args)).await?;
    if args.r#async {
        print(&format!(
            "sync of application {:?} requested\n",
            app_ref.name
        ));
        return Ok(ExitCode::SUCCESS);
    }
    follow_operation(client, app_ref, &app, requested_at, deadline).await
}

/// Follows the operation `app` was given until it finishes, prints the
/// summary, and exits 0 only when it succeeded.
async fn follow_operation(
    client: &ApiClient,
    app_ref: &AppRef,
    app: &App,
    requested_at: chrono::DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) -> Result<ExitCode, CliError> {
    let done = follow::follow(
        client,
        app_ref,
        app.app.operation.clone(),
        requested_at,
        deadline,
    )
    .await?;
    print(&sync_summary(&done.app, Utc::now()));
    let succeeded = done
        .app
        .status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .is_some_and(|s| s.phase == phase::SUCCEEDED);
    Ok(if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// The final report of `app sync`: app summary, operation, resources.
pub fn sync_summary(app: &caravel_crd::Application, now: chrono::DateTime<Utc>) -> String {
    let mut out = String::from("\n");
    out += &render::app_summary(app);
    if let Some(state) = app.status.as_ref().and_then(|s| s.operation_state.as_ref()) {
        out.push('\n');
        out += &render::operation_state(state, now);
    }
    let resources = render::resource_states(app, true);
    if !resources.is_empty() {
        out.push('\n');
        out += &render::resources_table(&resources);
    }
    out
}

// === rollback ===

async fn rollback(
    client: &ApiClient,
    app_ref: &AppRef,
    args: &RollbackArgs,
) -> Result<ExitCode, CliError> {
    let deadline = args.timeout().map(|t| tokio::time::Instant::now() + t);
    let id = match args.id {
        Some(id) => id,
        None => previous_deployment(&client.history(app_ref).await?, &app_ref.name)?,
    };
    let requested_at = Utc::now();
    let app = client
        .rollback(ApplicationRollbackRequest {
            name: app_ref.name.clone(),
            app_namespace: app_ref.namespace.clone(),
            id,
            prune: args.prune,
            dry_run: args.dry_run,
        })
        .await?;
    if args.r#async {
        print(&format!(
            "rollback of application {:?} to deployment {id} requested\n",
            app_ref.name
        ));
        return Ok(ExitCode::SUCCESS);
    }
    follow_operation(client, app_ref, &app, requested_at, deadline).await
}

/// `argocd app rollback` without an ID: the deployment before the last.
pub fn previous_deployment(history: &[RevisionHistory], name: &str) -> Result<i64, CliError> {
    history
        .len()
        .checked_sub(2)
        .and_then(|i| history.get(i))
        .map(|h| h.id)
        .ok_or_else(|| {
            CliError::Invalid(format!(
                "application {name:?} should have at least two successful deployments to roll back without an ID"
            ))
        })
}

// === delete ===

/// The Delete request for `args`: `--cascade` as a boolean or a policy,
/// `--propagation-policy` only with cascade and not contradicting it.
/// Unset flags stay unset, so the server's defaults apply (as argocd).
pub fn delete_request(
    app_ref: &AppRef,
    args: &DeleteArgs,
) -> Result<ApplicationDeleteRequest, CliError> {
    let flag_policy = args.propagation_policy.map(|p| p.as_str());
    let (cascade, implied) = match args.cascade {
        None => (None, None),
        Some(CascadeArg::True) => (Some(true), None),
        Some(CascadeArg::False) => (Some(false), None),
        Some(CascadeArg::Foreground) => (Some(true), Some("foreground")),
        Some(CascadeArg::Background) => (Some(true), Some("background")),
    };
    let policy = match (implied, flag_policy) {
        (Some(a), Some(b)) if a != b => {
            return Err(CliError::Invalid(format!(
                "--cascade={a} contradicts --propagation-policy {b}"
            )))
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => "",
    };
    if cascade == Some(false) && !policy.is_empty() {
        return Err(CliError::Invalid(
            "cannot set propagation policy when cascading is disabled".to_owned(),
        ));
    }
    Ok(ApplicationDeleteRequest {
        name: app_ref.name.clone(),
        app_namespace: app_ref.namespace.clone(),
        cascade,
        propagation_policy: policy.to_owned(),
    })
}

async fn delete(
    client: &ApiClient,
    app_ref: &AppRef,
    args: &DeleteArgs,
) -> Result<ExitCode, CliError> {
    let request = delete_request(app_ref, args)?;
    if !args.yes && interactive() {
        let question = format!("Are you sure you want to delete '{}'? [y/n] ", args.name);
        if !confirm(question).await? {
            print(&format!(
                "The command to delete '{}' was cancelled.\n",
                args.name
            ));
            return Ok(ExitCode::SUCCESS);
        }
    }
    client.delete(request.clone()).await?;
    if !args.wait {
        print(&render::deletion_requested(&args.name, &request));
        return Ok(ExitCode::SUCCESS);
    }
    wait_deleted(client, app_ref, args.timeout()).await?;
    print(&format!("application '{}' deleted\n", args.name));
    Ok(ExitCode::SUCCESS)
}

/// Whether a person can answer a question: stdin and stdout are terminals
/// (argocd asks only when stdout is one; without a terminal on stdin nobody
/// could answer).
fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Asks until the answer is yes or no; the end of input means no.
async fn confirm(question: String) -> Result<bool, CliError> {
    let asked = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        loop {
            print(&question);
            line.clear();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => return false,
                Ok(_) => {
                    if let Some(answer) = parse_answer(&line) {
                        return answer;
                    }
                }
            }
        }
    });
    asked
        .await
        .map_err(|e| CliError::Output(format!("reading the answer: {e}")))
}

/// `y`/`yes` or `n`/`no` in any case; `None` for anything else.
pub fn parse_answer(line: &str) -> Option<bool> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
}

/// Polls the app until it is gone, printing each new deletion state.
async fn wait_deleted(
    client: &ApiClient,
    app_ref: &AppRef,
    timeout: Option<Duration>,
) -> Result<(), CliError> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let mut last = String::new();
    loop {
        match client.get(app_ref, "").await {
            Err(CliError::Api { status, .. }) if status.code() == tonic::Code::NotFound => {
                return Ok(())
            }
            Err(e) => return Err(e),
            Ok(app) => {
                let state = render::deletion_progress(&app.app);
                if state != last {
                    print(&format!(
                        "{}  {}  {state}\n",
                        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        app_ref.name
                    ));
                    last = state;
                }
            }
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(CliError::Timeout(format!(
                "timed out waiting for application {:?} to be deleted ({last})",
                app_ref.name
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// === resources ===

async fn resources(
    client: &ApiClient,
    app_ref: &AppRef,
    args: &ResourcesArgs,
) -> Result<ExitCode, CliError> {
    let app = client.get(app_ref, "").await?;
    let rows = render::resource_rows(&app.app);
    let text = match args.output {
        ResourcesOutput::Wide => render::resource_rows_table(&rows),
        ResourcesOutput::Json => output::json(&Value::Array(
            rows.iter().map(render::ResourceRow::to_json).collect(),
        ))?,
    };
    print(&text);
    Ok(ExitCode::SUCCESS)
}

async fn diff(client: &ApiClient, app_ref: &AppRef) -> Result<ExitCode, CliError> {
    let resources = client.managed_resources(app_ref).await?;
    let text = render::diffs(&resources.items);
    print(&text);
    Ok(if text.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

async fn history(client: &ApiClient, app_ref: &AppRef) -> Result<ExitCode, CliError> {
    let items = client.history(app_ref).await?;
    print(&render::history(&items));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, Opt};
    use clap::Parser;

    #[test]
    fn sync_flags_become_the_sync_request() -> anyhow::Result<()> {
        let opt = Opt::try_parse_from([
            "caravel",
            "app",
            "sync",
            "team/web",
            "--revision",
            "v3",
            "--prune",
            "--sync-option",
            "ServerSideApply=true",
            "--resource",
            "apps:Deployment:web",
        ])?;
        let Command::App(AppCommand::Sync(args)) = opt.command else {
            anyhow::bail!("expected app sync");
        };
        let req = sync_request(&AppRef::parse(&args.name, None), &args);
        assert_eq!(req.name, "web");
        assert_eq!(req.app_namespace, "team");
        assert_eq!(req.revision, "v3");
        assert!(req.prune && !req.dry_run && !req.force);
        assert_eq!(req.sync_options, vec!["ServerSideApply=true".to_owned()]);
        assert_eq!(req.resources.len(), 1);
        assert_eq!(req.resources[0].kind, "Deployment");
        assert_eq!(req.retry_strategy, None);
        Ok(())
    }

    fn parse(argv: &[&str]) -> anyhow::Result<AppCommand> {
        let mut full = vec!["caravel", "app"];
        full.extend_from_slice(argv);
        let Command::App(command) = Opt::try_parse_from(full)?.command else {
            anyhow::bail!("expected an app command");
        };
        Ok(command)
    }

    #[test]
    fn a_retry_limit_sends_argocds_retry_strategy() -> anyhow::Result<()> {
        let AppCommand::Sync(args) = parse(&[
            "sync",
            "web",
            "--retry-limit",
            "3",
            "--retry-backoff-max-duration",
            "10m",
        ])?
        else {
            anyhow::bail!("expected app sync");
        };
        assert_eq!(
            sync_request(&AppRef::parse(&args.name, None), &args).retry_strategy,
            Some(RetryStrategy {
                limit: 3,
                backoff: Some(Backoff {
                    duration: "5s".into(),
                    factor: Some(2),
                    max_duration: "10m".into(),
                }),
            })
        );
        Ok(())
    }

    fn delete_args(argv: &[&str]) -> anyhow::Result<ApplicationDeleteRequest> {
        let mut full = vec!["delete", "web"];
        full.extend_from_slice(argv);
        let AppCommand::Delete(args) = parse(&full)? else {
            anyhow::bail!("expected app delete");
        };
        Ok(delete_request(&AppRef::parse(&args.name, None), &args)?)
    }

    #[test]
    fn delete_flags_become_cascade_and_propagation_policy() -> anyhow::Result<()> {
        let cases: [(&[&str], Option<bool>, &str); 7] = [
            (&[], None, ""),
            (&["--cascade"], Some(true), ""),
            (&["--cascade=false"], Some(false), ""),
            (&["--cascade=foreground"], Some(true), "foreground"),
            (&["--cascade=background"], Some(true), "background"),
            (&["-p", "background"], None, "background"),
            (
                &["--cascade=background", "--propagation-policy", "background"],
                Some(true),
                "background",
            ),
        ];
        for (argv, cascade, policy) in cases {
            let req = delete_args(argv)?;
            assert_eq!(
                (req.cascade, req.propagation_policy.as_str()),
                (cascade, policy),
                "{argv:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn contradicting_delete_flags_are_refused() {
        for argv in [
            &["--cascade=false", "-p", "foreground"][..],
            &["--cascade=foreground", "-p", "background"][..],
        ] {
            assert!(
                matches!(delete_args(argv), Err(e) if e.to_string().contains("propagation")),
                "{argv:?}"
            );
        }
    }

    #[test]
    fn answers_are_yes_or_no_in_any_case() {
        assert_eq!(parse_answer("y\n"), Some(true));
        assert_eq!(parse_answer(" YES "), Some(true));
        assert_eq!(parse_answer("n"), Some(false));
        assert_eq!(parse_answer("No\r\n"), Some(false));
        assert_eq!(parse_answer("maybe"), None);
        assert_eq!(parse_answer(""), None);
    }

    #[test]
    fn rollback_without_an_id_picks_the_deployment_before_the_last() -> anyhow::Result<()> {
        let entry = |id| RevisionHistory {
            id,
            ..Default::default()
        };
        assert_eq!(
            previous_deployment(&[entry(3), entry(4), entry(5)], "web")?,
            4
        );
        assert!(matches!(
            previous_deployment(&[entry(5)], "web"),
            Err(CliError::Invalid(m)) if m.contains("at least two successful deployments")
        ));
        Ok(())
    }
}

#[cfg(test)]
mod wait_tests {
    use super::*;
    use caravel_crd::application::{ApplicationStatus, HealthStatus, OperationState, SyncStatus};

    fn app(sync: &str, health: &str, running: bool) -> caravel_crd::Application {
        caravel_crd::Application {
            status: Some(ApplicationStatus {
                sync: Some(SyncStatus {
                    status: sync.into(),
                    ..Default::default()
                }),
                health: Some(HealthStatus {
                    status: Some(health.into()),
                    ..Default::default()
                }),
                operation_state: running.then(|| OperationState {
                    phase: "Running".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn args(health: bool, sync: bool, operation: bool) -> WaitArgs {
        WaitArgs {
            name: "a".into(),
            health,
            sync,
            operation,
            timeout: 0,
        }
    }

    #[test]
    fn without_flags_wait_needs_synced_healthy_and_idle() {
        let w = WaitFor::from_args(&args(false, false, false));
        assert!(w.check(&app("Synced", "Healthy", false)).1);
        assert!(!w.check(&app("OutOfSync", "Healthy", false)).1);
        assert!(!w.check(&app("Synced", "Progressing", false)).1);
        assert!(!w.check(&app("Synced", "Healthy", true)).1);
    }

    #[test]
    fn health_alone_ignores_sync_status() {
        let w = WaitFor::from_args(&args(true, false, false));
        assert!(w.check(&app("OutOfSync", "Healthy", true)).1);
        assert_eq!(
            w.check(&app("OutOfSync", "Degraded", false)).0,
            "sync=OutOfSync health=Degraded operation=none"
        );
    }
}
