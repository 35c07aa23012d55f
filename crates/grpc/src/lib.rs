//! gRPC plumbing every Caravel service shares: the standard health service,
//! server reflection, one span per request parented on the caller's W3C
//! trace context, graceful shutdown on SIGTERM, and client channels that
//! carry the current trace context.

use std::future::Future;
use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::service::{Interceptor, Routes};
use tonic::transport::{Channel, Endpoint, Server};

#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("invalid endpoint {endpoint:?}: {source}")]
    Endpoint {
        endpoint: String,
        source: tonic::transport::Error,
    },
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("serving grpc: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM received, shutting down"),
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
            tracing::info!("SIGINT received, shutting down");
        }
    }
}

/// A span for one incoming request, continuing the caller's trace.
fn request_span(req: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        target: "caravel::grpc",
        "grpc.request",
        otel.name = %req.uri().path(),
        rpc.system = "grpc",
        rpc.method = %req.uri().path(),
    );
    caravel_telemetry::set_parent_from(&span, req.headers());
    span
}

/// Serves `routes` plus health and reflection on `listener` until `shutdown`
/// resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Routes,
    service_names: &[&str],
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GrpcError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    for name in service_names {
        health_reporter
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(caravel_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(caravel_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let routes = routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    let incoming = tokio_stream_incoming(listener);
    Server::builder()
        .trace_fn(request_span)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            let _ = health_reporter;
        })
        .await?;
    Ok(())
}

fn tokio_stream_incoming(
    listener: tokio::net::TcpListener,
) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

// === http health ===

/// Binds `addr` and serves `GET /healthz` (200 "ok") there in the
/// background: the endpoint Kubernetes readiness and liveness probes call,
/// as Argo CD's components expose `/healthz`. The process answers only once
/// it has started, and stops answering when it exits.
pub async fn spawn_http_health(
    addr: std::net::SocketAddr,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "health endpoint stopped");
        }
    });
    tracing::info!(addr = %bound, "health endpoint listening");
    Ok(bound)
}

// === client ===

/// Adds the current span's W3C trace context to outgoing requests.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextInterceptor;

impl Interceptor for TraceContextInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = http::HeaderMap::new();
        caravel_telemetry::inject_current(&mut headers);
        for (name, value) in headers.iter() {
            if let Ok(key) = tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()) {
                if let Ok(value) = tonic::metadata::MetadataValue::try_from(value.as_bytes()) {
                    req.metadata_mut().insert(key, value);
                }
            }
        }
        Ok(req)
    }
}

pub type TracedChannel = InterceptedService<Channel, TraceContextInterceptor>;

/// A lazily connecting channel to `endpoint` (e.g. `http://repo-server:8081`)
/// that carries trace context. The service starts even while the peer is down.
pub fn channel(endpoint: &str) -> Result<TracedChannel, GrpcError> {
    let uri = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    };
    let channel = Endpoint::from_shared(uri)
        .map_err(|source| GrpcError::Endpoint {
            endpoint: endpoint.to_owned(),
            source,
        })?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy();
    Ok(InterceptedService::new(channel, TraceContextInterceptor))
}
