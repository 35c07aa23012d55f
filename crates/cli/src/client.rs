//! The api-server client: one gRPC channel, requests addressed by
//! [`AppRef`], Applications decoded from their JSON.

use caravel_crd::application::Application;
use caravel_proto::application::v1::application_service_client::ApplicationServiceClient;
use caravel_proto::application::v1::{
    ApplicationDeleteRequest, ApplicationQuery, ApplicationRefreshRequest,
    ApplicationRollbackRequest, ApplicationSyncRequest, ApplicationWatchEvent,
    ManagedResourcesResponse, RevisionHistory,
};
use serde_json::Value;

use crate::error::CliError;

/// Largest answer accepted (long application lists).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// An Application as received: its JSON and the typed view of it.
#[derive(Clone, Debug)]
pub struct App {
    pub json: Value,
    pub app: Application,
}

impl App {
    pub fn decode(json: &str) -> Result<Self, CliError> {
        let json: Value =
            serde_json::from_str(json).map_err(|e| CliError::Decode(e.to_string()))?;
        let app = serde_json::from_value(json.clone())
            .map_err(|e| CliError::Decode(format!("application: {e}")))?;
        Ok(Self { json, app })
    }
}

/// Which Application a command is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRef {
    /// Empty: the server's namespace.
    pub namespace: String,
    pub name: String,
}

impl AppRef {
    /// `NAME` or `NAMESPACE/NAME`; the latter wins over `--app-namespace`.
    pub fn parse(arg: &str, app_namespace: Option<&str>) -> Self {
        let (namespace, name) = crate::args::split_app_name(arg);
        Self {
            namespace: namespace.or(app_namespace).unwrap_or_default().to_owned(),
            name: name.to_owned(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ApiClient {
    inner: ApplicationServiceClient<caravel_grpc::TracedChannel>,
    server: String,
}

impl ApiClient {
    /// Connects lazily: nothing is dialled until the first request.
    pub fn new(server: &str) -> Result<Self, CliError> {
        let channel = caravel_grpc::channel(server).map_err(|e| CliError::Server {
            server: server.to_owned(),
            reason: e.to_string(),
        })?;
        let inner =
            ApplicationServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Self {
            inner,
            server: server.to_owned(),
        })
    }

    fn error(&self, status: tonic::Status) -> CliError {
        CliError::api(status, &self.server)
    }

    /// The Application an RPC answered with, or its error.
    fn app(
        &self,
        reply: Result<tonic::Response<caravel_proto::application::v1::Application>, tonic::Status>,
    ) -> Result<App, CliError> {
        let reply = reply.map_err(|s| self.error(s))?;
        App::decode(&reply.into_inner().json)
    }

    pub async fn list(
        &self,
        namespace: &str,
        selector: &str,
        projects: &[String],
    ) -> Result<Vec<App>, CliError> {
        let query = ApplicationQuery {
            app_namespace: namespace.to_owned(),
            selector: selector.to_owned(),
            projects: projects.to_vec(),
            ..Default::default()
        };
        let list = self
            .inner
            .clone()
            .list(query)
            .await
            .map_err(|s| self.error(s))?
            .into_inner();
        list.items.iter().map(|a| App::decode(&a.json)).collect()
    }

    /// `refresh`: "", "normal" or "hard".
    pub async fn get(&self, app: &AppRef, refresh: &str) -> Result<App, CliError> {
        let query = ApplicationQuery {
            name: app.name.clone(),
            app_namespace: app.namespace.clone(),
            refresh: refresh.to_owned(),
            ..Default::default()
        };
        self.app(self.inner.clone().get(query).await)
    }

    pub async fn terminate_operation(&self, app: &AppRef) -> Result<App, CliError> {
        let query = ApplicationQuery {
            name: app.name.clone(),
            app_namespace: app.namespace.clone(),
            ..Default::default()
        };
        self.app(self.inner.clone().terminate_operation(query).await)
    }

    pub async fn sync(&self, request: ApplicationSyncRequest) -> Result<App, CliError> {
        self.app(self.inner.clone().sync(request).await)
    }

    pub async fn rollback(&self, request: ApplicationRollbackRequest) -> Result<App, CliError> {
        self.app(self.inner.clone().rollback(request).await)
    }

    pub async fn delete(&self, request: ApplicationDeleteRequest) -> Result<(), CliError> {
        self.inner
            .clone()
            .delete(request)
            .await
            .map(drop)
            .map_err(|s| self.error(s))
    }

    pub async fn refresh(&self, app: &AppRef, hard: bool) -> Result<App, CliError> {
        let request = ApplicationRefreshRequest {
            name: app.name.clone(),
            app_namespace: app.namespace.clone(),
            refresh: if hard { "hard" } else { "normal" }.to_owned(),
        };
        self.app(self.inner.clone().refresh(request).await)
    }

    pub async fn managed_resources(
        &self,
        app: &AppRef,
    ) -> Result<ManagedResourcesResponse, CliError> {
        let query = ApplicationQuery {
            name: app.name.clone(),
            app_namespace: app.namespace.clone(),
            ..Default::default()
        };
        Ok(self
            .inner
            .clone()
            .managed_resources(query)
            .await
            .map_err(|s| self.error(s))?
            .into_inner())
    }

    pub async fn history(&self, app: &AppRef) -> Result<Vec<RevisionHistory>, CliError> {
        let query = ApplicationQuery {
            name: app.name.clone(),
            app_namespace: app.namespace.clone(),
            ..Default::default()
        };
        Ok(self
            .inner
            .clone()
            .history(query)
            .await
            .map_err(|s| self.error(s))?
            .into_inner()
            .items)
    }

    /// A stream of one Application's changes, starting with its current state.
    pub async fn watch(
        &self,
        app: &AppRef,
    ) -> Result<tonic::Streaming<ApplicationWatchEvent>, tonic::Status> {
        let query = ApplicationQuery {
            name: app.name.clone(),
            app_namespace: app.namespace.clone(),
            ..Default::default()
        };
        Ok(self.inner.clone().watch(query).await?.into_inner())
    }

    pub fn server(&self) -> &str {
        &self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qualified_name_overrides_the_app_namespace_flag() {
        assert_eq!(
            AppRef::parse("team/web", Some("argocd")),
            AppRef {
                namespace: "team".into(),
                name: "web".into()
            }
        );
        assert_eq!(
            AppRef::parse("web", Some("argocd")),
            AppRef {
                namespace: "argocd".into(),
                name: "web".into()
            }
        );
        assert_eq!(
            AppRef::parse("web", None),
            AppRef {
                namespace: String::new(),
                name: "web".into()
            }
        );
    }

    #[test]
    fn applications_decode_with_unknown_fields_kept() -> anyhow::Result<()> {
        let app = App::decode(
            r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Application",
                "metadata":{"name":"a","namespace":"argocd"},
                "spec":{"project":"default","destination":{"server":"s"},"newField":1}}"#,
        )?;
        assert_eq!(app.app.spec.project, "default");
        assert_eq!(app.json["spec"]["newField"], 1);
        Ok(())
    }

    #[test]
    fn malformed_answers_are_decode_errors() {
        assert!(matches!(App::decode("{"), Err(CliError::Decode(_))));
        assert!(matches!(
            App::decode("{\"spec\":{}}"),
            Err(CliError::Decode(_))
        ));
    }
}
