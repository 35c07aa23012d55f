//! The commands: call the api-server, render, choose the exit code.

use std::process::ExitCode;

use caravel_crd::phase;
use caravel_proto::application::v1::ApplicationSyncRequest;
use chrono::Utc;
use serde_json::Value;

use crate::args::{
    AppCommand, GetArgs, GetOutput, ListArgs, ListOutput, RefreshArgs, SyncArgs, WaitArgs,
};
use crate::client::{ApiClient, AppRef};
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
    }
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
