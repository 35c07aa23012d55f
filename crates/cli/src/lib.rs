//! `caravel`, the command line of Caravel: `caravel app list|get|sync|diff|
//! history|refresh|wait|terminate-op|rollback|delete|resources` against the
//! api-server, printing what `argocd app …` prints. Rendering lives in pure
//! functions ([`render`], [`table`]) so it is tested without a server.

pub mod args;
pub mod client;
pub mod commands;
pub mod error;
pub mod follow;
pub mod output;
pub mod render;
pub mod table;
pub mod template;

use std::process::ExitCode;

pub use args::Opt;
pub use error::CliError;

/// Runs the command line; errors are printed as one line on stderr.
pub async fn run(opt: Opt) -> ExitCode {
    match execute(opt).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("caravel: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn execute(opt: Opt) -> Result<ExitCode, CliError> {
    match opt.command {
        args::Command::Version => {
            output::print(&format!("caravel: v{}\n", env!("CARGO_PKG_VERSION")));
            Ok(ExitCode::SUCCESS)
        }
        args::Command::Template(args) => Ok(template::run(&args)),
        args::Command::App(command) => {
            let client = client::ApiClient::new(&opt.server)?;
            commands::app(&client, opt.app_namespace.as_deref(), command).await
        }
    }
}
