//! An in-process OTLP/gRPC trace receiver that keeps every span it is sent,
//! so tests can check which services took part in a trace.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use tokio::task::JoinHandle;

/// One received span, ids as lowercase hex.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The `service.name` resource attribute (empty if missing).
    pub service_name: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// `None` for root spans.
    pub parent_span_id: Option<String>,
    /// OTLP span kind (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// Span attributes; scalar values as strings, others as debug text.
    pub attributes: BTreeMap<String, String>,
    /// OTLP status code (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    pub status_message: String,
}

type SpanStore = Arc<Mutex<Vec<ReceivedSpan>>>;

/// The receiver; serves until dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    endpoint: String,
    spans: SpanStore,
    task: JoinHandle<()>,
}

impl OtlpReceiver {
    /// Listens on a free loopback port, on the current tokio runtime.
    pub async fn start() -> Result<OtlpReceiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the otlp receiver")?;
        let addr = listener.local_addr()?;
        let spans = SpanStore::default();
        let service = TraceServiceServer::new(Collector {
            spans: spans.clone(),
        });
        let incoming = tokio_stream_listener(listener);
        let task = tokio::spawn(async move {
            if let Err(error) = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::warn!(%error, "otlp receiver stopped");
            }
        });
        Ok(OtlpReceiver {
            endpoint: format!("http://{addr}"),
            spans,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT` / `--otlp-endpoint`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Spans of one trace (`trace_id` in hex).
    pub fn spans_for_trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let trace_id = trace_id.to_ascii_lowercase();
        self.filter(|s| s.trace_id == trace_id)
    }

    /// The `service.name`s that sent spans for a trace.
    pub fn services_in_trace(&self, trace_id: &str) -> BTreeSet<String> {
        self.spans_for_trace(trace_id)
            .into_iter()
            .map(|s| s.service_name)
            .collect()
    }

    /// Spans matching `predicate`.
    pub fn filter(&self, predicate: impl Fn(&ReceivedSpan) -> bool) -> Vec<ReceivedSpan> {
        self.spans
            .lock()
            .map(|s| s.iter().filter(|span| predicate(span)).cloned().collect())
            .unwrap_or_default()
    }

    /// Waits until a span matching `predicate` arrives.
    pub async fn wait_for_span(
        &self,
        timeout: Duration,
        predicate: impl Fn(&ReceivedSpan) -> bool,
    ) -> Result<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(span) = self.filter(&predicate).into_iter().next() {
                return Ok(span);
            }
            if Instant::now() >= deadline {
                bail!("no matching span received within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until spans from all `services` arrived for `trace_id`; returns
    /// every service present in the trace.
    pub async fn wait_for_trace_services(
        &self,
        trace_id: &str,
        services: &[&str],
        timeout: Duration,
    ) -> Result<BTreeSet<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            let present = self.services_in_trace(trace_id);
            if services.iter().all(|s| present.contains(*s)) {
                return Ok(present);
            }
            if Instant::now() >= deadline {
                bail!("trace {trace_id} has spans from {present:?} after {timeout:?}, expected {services:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

struct Collector {
    spans: SpanStore,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let received = flatten(request.into_inner());
        self.spans
            .lock()
            .map_err(|_| tonic::Status::internal("span store poisoned"))?
            .extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource_attributes = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service_name = resource_attributes
            .get("service.name")
            .cloned()
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let status = span.status.unwrap_or_default();
                out.push(ReceivedSpan {
                    service_name: service_name.clone(),
                    name: span.name,
                    trace_id: to_hex(&span.trace_id),
                    span_id: to_hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()
                        && span.parent_span_id.iter().any(|b| *b != 0))
                    .then(|| to_hex(&span.parent_span_id)),
                    kind: span.kind,
                    attributes: attributes(&span.attributes),
                    status_code: status.code,
                    status_message: status.message,
                });
            }
        }
    }
    out
}

fn attributes(values: &[KeyValue]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex() {
        assert_eq!(to_hex(&[0x0a, 0xff, 0x00]), "0aff00");
    }
}
