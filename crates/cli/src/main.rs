//! The `caravel` binary: parse flags (usage errors exit 2), run.

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    caravel_cli::run(caravel_cli::Opt::parse()).await
}
