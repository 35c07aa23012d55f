//! Requests answered by validation and error mapping alone.

use caravel_proto::application::v1::{
    ApplicationDeleteRequest, ApplicationQuery, ApplicationRefreshRequest,
    ApplicationRollbackRequest, ApplicationSyncRequest, Backoff, RetryStrategy,
    SyncResourceSelector,
};
use tonic::Code;

use crate::support::Server;

fn query(name: &str) -> ApplicationQuery {
    ApplicationQuery {
        name: name.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn invalid_requests_are_refused_before_kubernetes_is_asked() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let mut client = server.client().await?;

    let cases = vec![
        ("get without a name", client.get(query("")).await.err()),
        (
            "get with an invalid name",
            client.get(query("Bad_Name")).await.err(),
        ),
        (
            "get with an unknown refresh type",
            client
                .get(ApplicationQuery {
                    refresh: "soft".into(),
                    ..query("guestbook")
                })
                .await
                .err(),
        ),
        (
            "list in an invalid namespace",
            client
                .list(ApplicationQuery {
                    app_namespace: "Team.A".into(),
                    ..Default::default()
                })
                .await
                .err(),
        ),
        (
            "list with an invalid project",
            client
                .list(ApplicationQuery {
                    projects: vec!["no/such".into()],
                    ..Default::default()
                })
                .await
                .err(),
        ),
        (
            "sync with a malformed option",
            client
                .sync(ApplicationSyncRequest {
                    name: "guestbook".into(),
                    sync_options: vec!["Prune".into()],
                    ..Default::default()
                })
                .await
                .err(),
        ),
        (
            "sync of a resource without a name",
            client
                .sync(ApplicationSyncRequest {
                    name: "guestbook".into(),
                    resources: vec![SyncResourceSelector {
                        kind: "Deployment".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .await
                .err(),
        ),
        (
            "sync with a malformed retry duration",
            client
                .sync(ApplicationSyncRequest {
                    name: "guestbook".into(),
                    retry_strategy: Some(RetryStrategy {
                        limit: 2,
                        backoff: Some(Backoff {
                            duration: "5 seconds".into(),
                            ..Default::default()
                        }),
                    }),
                    ..Default::default()
                })
                .await
                .err(),
        ),
        (
            "rollback of an unnamed app",
            client
                .rollback(ApplicationRollbackRequest::default())
                .await
                .err(),
        ),
        (
            "delete with an unknown propagation policy",
            client
                .delete(ApplicationDeleteRequest {
                    name: "guestbook".into(),
                    propagation_policy: "sideways".into(),
                    ..Default::default()
                })
                .await
                .err(),
        ),
        (
            "delete without cascade but with a propagation policy",
            client
                .delete(ApplicationDeleteRequest {
                    name: "guestbook".into(),
                    cascade: Some(false),
                    propagation_policy: "background".into(),
                    ..Default::default()
                })
                .await
                .err(),
        ),
        (
            "refresh of an unnamed app",
            client
                .refresh(ApplicationRefreshRequest::default())
                .await
                .err(),
        ),
        (
            "managed resources with an invalid name",
            client.managed_resources(query("-x")).await.err(),
        ),
        (
            "history without a name",
            client.history(query("")).await.err(),
        ),
        (
            "watch with an invalid name",
            client.watch(query("A")).await.err(),
        ),
    ];
    for (case, status) in cases {
        let Some(status) = status else {
            anyhow::bail!("{case}: expected an error");
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
    }
    assert_eq!(
        client
            .get(query(""))
            .await
            .err()
            .map(|s| s.message().to_owned()),
        Some("application name is required".to_owned())
    );
    server.stop().await
}

#[tokio::test]
async fn an_unreachable_kubernetes_api_is_unavailable_not_internal() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let mut client = server.client().await?;

    let list = client.list(ApplicationQuery::default()).await;
    let Err(status) = list else {
        anyhow::bail!("list succeeded without a kubernetes api");
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().starts_with(
            "listing applications in namespace \"argocd\": kubernetes api unreachable"
        ),
        "{}",
        status.message()
    );

    let get = client.get(query("guestbook")).await;
    assert_eq!(get.err().map(|s| s.code()), Some(Code::Unavailable));
    server.stop().await
}

#[tokio::test]
async fn the_health_service_reports_the_application_service_serving() -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let server = Server::start().await?;
    let mut health = HealthClient::new(server.channel().await?);
    let reply = health
        .check(HealthCheckRequest {
            service: caravel_api_server::SERVICE_NAME.to_owned(),
        })
        .await?
        .into_inner();
    assert_eq!(reply.status(), ServingStatus::Serving);
    server.stop().await
}
