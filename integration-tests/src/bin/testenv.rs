//! `caravel-testenv up --state-dir DIR`: runs a local Kubernetes control
//! plane, the node simulator and Redis in the foreground (for
//! `scripts/local-up.sh`), until SIGTERM or SIGINT.
//!
//! Writes `DIR/kubeconfig`, then `DIR/env` (shell `export` lines) once
//! everything is ready; removes `DIR/env` again on shutdown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use caravel_integration_tests::control_plane::{client_config, default_envtest_dir, ControlPlane};
use caravel_integration_tests::{NodeSimulator, Redis};
use clap::{Args, Parser, Subcommand};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Parser)]
#[command(
    name = "caravel-testenv",
    about = "Local Kubernetes control plane, node simulator and Redis for running Caravel"
)]
struct Opt {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    telemetry: caravel_telemetry::TelemetryArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the control plane, the node simulator and Redis; run until SIGTERM/SIGINT.
    Up(UpArgs),
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Directory for the kubeconfig, the env file, data and process logs.
    #[arg(long, env = "CARAVEL_TESTENV_STATE_DIR")]
    state_dir: PathBuf,

    /// Directory holding the prebuilt kube-apiserver and
    /// kube-controller-manager (default: $CARAVEL_CACHE/envtest/v1.20.2).
    #[arg(long, env = "CARAVEL_ENVTEST_DIR")]
    envtest_dir: Option<PathBuf>,

    /// Port for redis-server on 127.0.0.1; 0 picks a free port.
    #[arg(long, env = "CARAVEL_TESTENV_REDIS_PORT", default_value_t = 0)]
    redis_port: u16,

    /// Do not start redis-server.
    #[arg(long, env = "CARAVEL_TESTENV_NO_REDIS")]
    no_redis: bool,
}

fn main() -> ExitCode {
    let opt = Opt::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("caravel-testenv: building the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opt)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("caravel-testenv: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(opt: Opt) -> Result<()> {
    let mut telemetry = opt.telemetry.clone();
    if !telemetry.log_level.contains("kube_client") {
        // kube logs every failed readiness probe while the API server starts;
        // the simulator reports its own errors.
        telemetry.log_level.push_str(",kube_client=off");
    }
    let _telemetry = caravel_telemetry::init("caravel-testenv", &telemetry)?;
    caravel_integration_tests::install_crypto_provider();
    match opt.command {
        Command::Up(args) => up(args).await,
    }
}

async fn up(args: UpArgs) -> Result<()> {
    let state_dir = std::path::absolute(&args.state_dir).context("resolving --state-dir")?;
    let run_dir = state_dir.join("testenv");
    let env_path = state_dir.join("env");
    let _ = std::fs::remove_file(&env_path);
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("clearing {}", run_dir.display()))?;
    }
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;

    let envtest_dir = args.envtest_dir.unwrap_or_else(default_envtest_dir);
    let started = std::time::Instant::now();
    let control_plane = ControlPlane::start(&run_dir.join("control-plane"), &envtest_dir).await?;
    let kubeconfig = state_dir.join("kubeconfig");
    std::fs::copy(control_plane.kubeconfig_path(), &kubeconfig)
        .with_context(|| format!("writing {}", kubeconfig.display()))?;

    let client = kube::Client::try_from(client_config(&kubeconfig).await?)?;
    let simulator = NodeSimulator::start(client);

    let redis = if args.no_redis {
        None
    } else {
        let port = (args.redis_port != 0).then_some(args.redis_port);
        Some(Redis::start_with(None, &run_dir.join("redis.log"), port).await?)
    };

    let mut env = format!("export KUBECONFIG={}\n", shell_quote(&kubeconfig));
    if let Some(redis) = &redis {
        env.push_str(&format!(
            "export CARAVEL_REDIS_URL={}\n",
            shell_quote(Path::new(&redis.url()))
        ));
    }
    let partial = state_dir.join("env.partial");
    std::fs::write(&partial, &env).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &env_path)
        .with_context(|| format!("writing {}", env_path.display()))?;

    println!(
        "caravel-testenv: ready in {:.1}s\n  kube-apiserver  {}\n  kubeconfig      {}\n  redis           {}\n  env file        {}\n  logs            {}",
        started.elapsed().as_secs_f64(),
        control_plane.server_url(),
        kubeconfig.display(),
        redis.as_ref().map(Redis::url).unwrap_or_else(|| "not started".into()),
        env_path.display(),
        control_plane.dir().display(),
    );

    let outcome = wait_for_shutdown(&control_plane, redis.as_ref()).await;
    println!("caravel-testenv: stopping");
    let _ = std::fs::remove_file(&env_path);
    drop(simulator);
    if let Some(redis) = &redis {
        redis.stop()?;
    }
    control_plane.stop().await?;
    outcome
}

/// Returns on SIGTERM/SIGINT (`Ok`) or when a process died (`Err`).
async fn wait_for_shutdown(control_plane: &ControlPlane, redis: Option<&Redis>) -> Result<()> {
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = check.tick() => {
                for process in control_plane.processes() {
                    if !process.is_running() {
                        anyhow::bail!(
                            "{} exited unexpectedly (log {}):\n{}",
                            process.name(),
                            process.log_path().display(),
                            process.log_tail(20)
                        );
                    }
                }
                if let Some(redis) = redis {
                    if !redis.is_running() {
                        anyhow::bail!("redis-server exited unexpectedly (log {})", redis.log_path().display());
                    }
                }
            }
        }
    }
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
