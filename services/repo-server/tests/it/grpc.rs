//! What grpcurl and Kubernetes gRPC probes rely on: server reflection and
//! the standard health service.

use anyhow::{bail, Context, Result};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use crate::support::TestServer;

const SERVICE: &str = "caravel.reposerver.v1.RepoServerService";

async fn reflect(channel: Channel, request: MessageRequest) -> Result<MessageResponse> {
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await?
        .into_inner();
    let reply: ServerReflectionResponse =
        replies.message().await?.context("no reflection reply")?;
    reply.message_response.context("empty reflection reply")
}

#[tokio::test]
async fn reflection_lists_and_describes_the_repo_server_service() -> Result<()> {
    let server = TestServer::start().await?;
    let channel = Channel::from_shared(format!("http://{}", server.addr))?
        .connect()
        .await?;

    let MessageResponse::ListServicesResponse(list) =
        reflect(channel.clone(), MessageRequest::ListServices(String::new())).await?
    else {
        bail!("unexpected reply to ListServices");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&SERVICE), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    let MessageResponse::FileDescriptorResponse(files) = reflect(
        channel,
        MessageRequest::FileContainingSymbol(SERVICE.to_owned()),
    )
    .await?
    else {
        bail!("unexpected reply to FileContainingSymbol");
    };
    assert!(
        !files.file_descriptor_proto.is_empty(),
        "the service's file descriptor is served"
    );
    Ok(())
}

#[tokio::test]
async fn health_reports_the_server_and_its_service_serving() -> Result<()> {
    let server = TestServer::start().await?;
    let channel = Channel::from_shared(format!("http://{}", server.addr))?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    for service in ["", SERVICE] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?
            .into_inner();
        assert_eq!(
            reply.status,
            ServingStatus::Serving as i32,
            "service {service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".to_owned(),
        })
        .await;
    assert_eq!(unknown.err().map(|s| s.code()), Some(tonic::Code::NotFound));
    Ok(())
}
