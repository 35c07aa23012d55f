//! `caravel-application-controller`: parses flags, starts telemetry, runs.

use clap::Parser;

use caravel_application_controller::{run, Opt};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let opt = Opt::parse();
    let _telemetry = match caravel_telemetry::init("caravel-application-controller", &opt.telemetry)
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("caravel-application-controller: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(opt, caravel_grpc::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "controller stopped");
            eprintln!("caravel-application-controller: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
