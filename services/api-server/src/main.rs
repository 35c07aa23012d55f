//! The `caravel-api-server` binary: flags to [`Config`], telemetry, serve
//! until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use caravel_api_server::init_secrets::{GeneratedSecret, CACHE_SIGNING_KEY, REDIS_PASSWORD_KEY};
use caravel_api_server::Config;
use clap::{Parser, Subcommand};

/// Caravel api-server: the Application API over gRPC.
#[derive(Debug, Parser)]
#[command(name = "caravel-api-server", version)]
struct Opt {
    /// Address to serve gRPC on. Localhost by default: there is no
    /// authentication yet.
    #[arg(long, env = "CARAVEL_API_SERVER_LISTEN", default_value = caravel_api_server::DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Address of the HTTP health endpoint (`/healthz`) for probes.
    #[arg(
        long,
        env = "CARAVEL_API_SERVER_HEALTH_LISTEN",
        default_value = "0.0.0.0:8083"
    )]
    health_listen: SocketAddr,

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

    /// Redis password, replacing any in --redis-url (the chart reads it from
    /// a Secret).
    #[arg(long, env = "CARAVEL_REDIS_PASSWORD", hide_env_values = true)]
    redis_password: Option<String>,

    /// Prefix of the Redis keys (the same as the controller's).
    #[arg(long, env = "CARAVEL_REDIS_KEY_PREFIX", default_value = "caravel")]
    redis_key_prefix: String,

    /// How long a Get with refresh waits for the controller to refresh the app.
    #[arg(long, env = "CARAVEL_API_SERVER_REFRESH_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    refresh_timeout: Duration,

    #[command(flatten)]
    telemetry: caravel_telemetry::TelemetryArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the install's generated Secrets in --namespace if they are
    /// missing (the cache signing key, and the bundled Redis's password),
    /// then exit. Existing values are kept. The Helm chart runs this as a
    /// pre-install/pre-upgrade Job.
    InitSecrets {
        /// Secret holding the repo-server's cache signing key (key
        /// `cache-signing-key`).
        #[arg(long, env = "CARAVEL_SECRET", default_value = "caravel-secret")]
        secret: String,
        /// Secret holding the bundled Redis's password (key `auth`); not
        /// touched when unset (external Redis).
        #[arg(long, env = "CARAVEL_REDIS_SECRET")]
        redis_secret: Option<String>,
    },
}

impl Opt {
    fn config(self) -> Result<Config, caravel_appstate::AppStateError> {
        let redis_url = self
            .redis_url
            .map(|url| {
                caravel_appstate::redis_url_with_password(&url, self.redis_password.as_deref())
            })
            .transpose()?;
        Ok(Config {
            namespace: self.namespace,
            kubeconfig: self.kubeconfig,
            redis_url,
            redis_key_prefix: self.redis_key_prefix,
            refresh_timeout: self.refresh_timeout,
        })
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
    if let Some(Command::InitSecrets {
        secret,
        redis_secret,
    }) = &opt.command
    {
        let mut secrets = vec![GeneratedSecret {
            name: secret.clone(),
            key: CACHE_SIGNING_KEY,
        }];
        if let Some(name) = redis_secret {
            secrets.push(GeneratedSecret {
                name: name.clone(),
                key: REDIS_PASSWORD_KEY,
            });
        }
        return match caravel_api_server::init_secrets(
            opt.kubeconfig.as_deref(),
            &opt.namespace,
            &secrets,
        )
        .await
        {
            Ok(outcomes) => {
                for (name, outcome) in outcomes {
                    println!("secret {name}: {outcome:?}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("caravel-api-server init-secrets: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = caravel_grpc::spawn_http_health(opt.health_listen).await {
        eprintln!("caravel-api-server: binding {}: {e}", opt.health_listen);
        return ExitCode::from(2);
    }
    let listen = opt.listen;
    let config = match opt.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("caravel-api-server: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("caravel-api-server: binding {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    match caravel_api_server::run(config, listener, caravel_grpc::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "api-server stopped");
            eprintln!("caravel-api-server: {e}");
            ExitCode::FAILURE
        }
    }
}
