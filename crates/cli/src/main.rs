//! The `caravel` binary: parse flags (usage errors exit 2), run.

use clap::Parser;

/// Rendering allocates many small values; mimalloc is markedly faster at
/// that than glibc's allocator (measured by scripts/helm-bench.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    caravel_cli::run(caravel_cli::Opt::parse()).await
}
