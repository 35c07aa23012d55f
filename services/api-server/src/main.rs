//! The `caravel-api-server` binary: flags to [`Config`], telemetry, serve
//! until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use caravel_api_server::Config;
use clap::Parser;

/// Caravel api-server: the Application API over gRPC.
#[derive(Debug, Parser)]
#[command(name = "caravel-api-server", version)]
struct Opt {
    /// Address to serve gRPC on. Localhost by default: there is no
    /// authentication yet.
    #[arg(long, env = "CARAVEL_API_SERVER_LISTEN", default_value = caravel_api_server::DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Namespace of Applications when a request names none.
    #[arg(long, env = "CARAVEL_NAMESPACE", default_value = caravel_crd::DEFAULT_NAMESPACE)]
    namespace: String,

    /// Kubeconfig file to use (default: $KUBECONFIG, ~/.kube/config, then
    /// the in-cluster service account).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,

    /// Redis URL of the app state cache the controller publishes to, e.g.
    /// redis://:password@redis:6379/0. Needed for managed resources and diffs.
    #[arg(long, env = "CARAVEL_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,

    /// Prefix of the Redis keys (the same as the controller's).
    #[arg(long, env = "CARAVEL_REDIS_KEY_PREFIX", default_value = "caravel")]
    redis_key_prefix: String,

    /// How long a Get with refresh waits for the controller to refresh the app.
    #[arg(long, env = "CARAVEL_API_SERVER_REFRESH_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    refresh_timeout: Duration,

    #[command(flatten)]
    telemetry: caravel_telemetry::TelemetryArgs,
}

impl Opt {
    fn config(self) -> Config {
        Config {
            namespace: self.namespace,
            kubeconfig: self.kubeconfig,
            redis_url: self.redis_url,
            redis_key_prefix: self.redis_key_prefix,
            refresh_timeout: self.refresh_timeout,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let opt = Opt::parse();
    let _telemetry = match caravel_telemetry::init("caravel-api-server", &opt.telemetry) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("caravel-api-server: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(opt.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("caravel-api-server: binding {}: {e}", opt.listen);
            return ExitCode::from(2);
        }
    };
    match caravel_api_server::run(opt.config(), listener, caravel_grpc::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "api-server stopped");
            eprintln!("caravel-api-server: {e}");
            ExitCode::FAILURE
        }
    }
}
