//! The `caravel.application.v1.ApplicationService` implementation. Each
//! method validates its input, runs in a span named after the method with
//! the app name as a field, calls domain code and maps the error once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use caravel_appstate::{AppStateCache, AppStateError};
use caravel_proto::application::v1::application_service_server::ApplicationService;
use caravel_proto::application::v1::{
    Application as AppMessage, ApplicationDeleteRequest, ApplicationList, ApplicationQuery,
    ApplicationRefreshRequest, ApplicationResponse, ApplicationRollbackRequest,
    ApplicationSyncRequest, ApplicationWatchEvent, HistoryResponse, ManagedResourcesResponse,
};
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use crate::apps::{self, Applications};
use crate::error::Error;
use crate::validate::{self, RefreshType};
use crate::{delete, history, resources, rollback, sync, watch};

/// What every request handler shares.
pub(crate) struct State {
    pub apps: Applications,
    /// Namespace of Applications when a request names none.
    pub namespace: String,
    pub app_state: Option<AppStateCache>,
    pub refresh_timeout: Duration,
    /// Turns true when the server shuts down; open Watch streams end then.
    pub stop_streams: tokio::sync::watch::Sender<bool>,
}

/// The gRPC service: a plain struct implementing the generated trait.
#[derive(Clone)]
pub struct ApplicationApi {
    state: Arc<State>,
}

impl std::fmt::Debug for ApplicationApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationApi")
            .field("namespace", &self.state.namespace)
            .finish()
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<ApplicationWatchEvent, Status>> + Send>>;

impl ApplicationApi {
    pub(crate) fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    fn namespace<'a>(&'a self, requested: &'a str) -> Result<&'a str, Error> {
        validate::app_namespace(requested, &self.state.namespace)
    }

    // === domain handlers ===

    async fn list_apps(&self, q: ApplicationQuery) -> Result<ApplicationList, Error> {
        let namespace = self.namespace(&q.app_namespace)?;
        validate::label_selector(&q.selector)?;
        validate::projects(&q.projects)?;
        let items = self
            .state
            .apps
            .list(namespace, &q.selector)
            .await?
            .into_iter()
            .filter(|app| apps::in_projects(app, &q.projects))
            .map(message)
            .collect();
        Ok(ApplicationList { items })
    }

    async fn get_app(&self, q: ApplicationQuery) -> Result<AppMessage, Error> {
        validate::app_name(&q.name)?;
        let namespace = self.namespace(&q.app_namespace)?;
        let app = match validate::refresh(&q.refresh)? {
            None => self.state.apps.get(namespace, &q.name).await?,
            Some(refresh) => {
                self.state
                    .apps
                    .request_refresh(namespace, &q.name, refresh.as_str())
                    .await?;
                self.state
                    .apps
                    .wait_refreshed(namespace, &q.name, self.state.refresh_timeout)
                    .await?
            }
        };
        Ok(message(app))
    }

    async fn watch_apps(
        &self,
        q: ApplicationQuery,
        span: tracing::Span,
    ) -> Result<WatchStream, Error> {
        if !q.name.is_empty() {
            validate::app_name(&q.name)?;
        }
        let namespace = self.namespace(&q.app_namespace)?.to_owned();
        validate::label_selector(&q.selector)?;
        validate::projects(&q.projects)?;
        self.state.apps.probe(&namespace, &q.selector).await?;
        let name = Some(q.name.as_str()).filter(|n| !n.is_empty());
        let events = self.state.apps.watch(&namespace, &q.selector, name);
        let rx = watch::spawn(
            events,
            q.projects,
            self.state.stop_streams.subscribe(),
            span,
        );
        Ok(Box::pin(
            ReceiverStream::new(rx).map(|r| r.map_err(Status::from)),
        ))
    }

    async fn sync_app(&self, req: ApplicationSyncRequest) -> Result<AppMessage, Error> {
        validate::app_name(&req.name)?;
        let namespace = self.namespace(&req.app_namespace)?;
        sync::validate_request(&req)?;
        let app = self
            .state
            .apps
            .update_with(namespace, &req.name, |app| {
                sync::ensure_not_deleting(app)?;
                sync::ensure_no_operation_in_progress(app)?;
                sync::ensure_revision_allowed(app, &req)?;
                Ok(Some(sync::operation_patch(
                    app,
                    &req,
                    sync::DEFAULT_USERNAME,
                )))
            })
            .await?;
        tracing::info!(
            app = %req.name,
            revision = %req.revision,
            prune = req.prune,
            dry_run = req.dry_run,
            retry = req.retry_strategy.is_some(),
            "sync requested"
        );
        Ok(message(app))
    }

    async fn rollback_app(&self, req: ApplicationRollbackRequest) -> Result<AppMessage, Error> {
        validate::app_name(&req.name)?;
        let namespace = self.namespace(&req.app_namespace)?;
        let app = self
            .state
            .apps
            .update_with(namespace, &req.name, |app| {
                sync::ensure_not_deleting(app)?;
                rollback::ensure_manual_sync(app)?;
                let entry = rollback::deployment(app, &req.name, req.id)?;
                sync::ensure_no_operation_in_progress(app)?;
                rollback::operation_patch(app, entry, &req, sync::DEFAULT_USERNAME).map(Some)
            })
            .await?;
        tracing::info!(
            app = %req.name,
            id = req.id,
            prune = req.prune,
            dry_run = req.dry_run,
            "rollback requested"
        );
        Ok(message(app))
    }

    async fn delete_app(
        &self,
        req: ApplicationDeleteRequest,
    ) -> Result<ApplicationResponse, Error> {
        validate::app_name(&req.name)?;
        let namespace = self.namespace(&req.app_namespace)?;
        let cascade = delete::cascade(&req)?;
        self.state
            .apps
            .update_with(namespace, &req.name, |app| {
                delete::finalizers_patch(app, cascade)
            })
            .await?;
        self.state.apps.delete(namespace, &req.name).await?;
        tracing::info!(app = %req.name, cascade = cascade.as_str(), "application deleted");
        Ok(ApplicationResponse {})
    }

    async fn refresh_app(&self, req: ApplicationRefreshRequest) -> Result<AppMessage, Error> {
        validate::app_name(&req.name)?;
        let namespace = self.namespace(&req.app_namespace)?;
        let refresh = validate::refresh(&req.refresh)?.unwrap_or(RefreshType::Normal);
        let app = self
            .state
            .apps
            .request_refresh(namespace, &req.name, refresh.as_str())
            .await?;
        Ok(message(app))
    }

    async fn managed_resources_of(
        &self,
        q: ApplicationQuery,
    ) -> Result<ManagedResourcesResponse, Error> {
        validate::app_name(&q.name)?;
        let namespace = self.namespace(&q.app_namespace)?;
        // NotFound for a missing app, whatever the cache holds.
        self.state.apps.get(namespace, &q.name).await?;
        let Some(cache) = &self.state.app_state else {
            return Err(Error::Unavailable(
                "managed resources are not available: the api-server runs without an app state cache (--redis-url)".to_owned(),
            ));
        };
        let managed = cache
            .managed_resources(namespace, &q.name)
            .await
            .map_err(|e| match e {
                AppStateError::Corrupt(reason) => Error::Internal(format!(
                    "the app state of application {:?} is corrupt: {reason}",
                    q.name
                )),
                other => Error::Unavailable(format!("app state cache (redis) is unreachable: {other}")),
            })?
            .ok_or_else(|| {
                Error::Unavailable(format!(
                    "managed resources of application {:?} are not known yet: the controller has not published a comparison",
                    q.name
                ))
            })?;
        let items = managed.into_iter().map(resources::resource_diff).collect();
        Ok(ManagedResourcesResponse { items })
    }

    async fn terminate_operation_of(&self, q: ApplicationQuery) -> Result<AppMessage, Error> {
        validate::app_name(&q.name)?;
        let namespace = self.namespace(&q.app_namespace)?;
        let app = self.state.apps.get(namespace, &q.name).await?;
        let patch = sync::terminate_patch(&app)?;
        let app = self
            .state
            .apps
            .merge_patch_status(namespace, &q.name, &patch)
            .await?;
        tracing::info!(app = %q.name, "operation termination requested");
        Ok(message(app))
    }

    async fn history_of(&self, q: ApplicationQuery) -> Result<HistoryResponse, Error> {
        validate::app_name(&q.name)?;
        let namespace = self.namespace(&q.app_namespace)?;
        let app = self.state.apps.get(namespace, &q.name).await?;
        Ok(HistoryResponse {
            items: history::history(&app),
        })
    }
}

fn message(app: Value) -> AppMessage {
    AppMessage {
        json: app.to_string(),
    }
}

/// Runs a handler in its span, logs a failure there, and maps the error to
/// a status (the one place where that happens is `From<Error> for Status`).
async fn traced<T>(
    span: tracing::Span,
    handler: impl Future<Output = Result<T, Error>>,
) -> Result<Response<T>, Status> {
    async move {
        let result = handler.await;
        if let Err(e) = &result {
            match e.code() {
                Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition => {
                    tracing::debug!(error = %e, kind = e.metric_label(), "request refused");
                }
                _ => tracing::warn!(error = %e, kind = e.metric_label(), "request failed"),
            }
        }
        result.map(Response::new).map_err(Status::from)
    }
    .instrument(span)
    .await
}

// === impl ApplicationService ===

#[tonic::async_trait]
impl ApplicationService for ApplicationApi {
    async fn list(
        &self,
        request: Request<ApplicationQuery>,
    ) -> Result<Response<ApplicationList>, Status> {
        let q = request.into_inner();
        let span = tracing::info_span!("List", app = %q.name, namespace = %q.app_namespace, selector = %q.selector);
        traced(span, self.list_apps(q)).await
    }

    async fn get(
        &self,
        request: Request<ApplicationQuery>,
    ) -> Result<Response<AppMessage>, Status> {
        let q = request.into_inner();
        let span = tracing::info_span!("Get", app = %q.name, namespace = %q.app_namespace, refresh = %q.refresh);
        traced(span, self.get_app(q)).await
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<ApplicationQuery>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let q = request.into_inner();
        let span = tracing::info_span!("Watch", app = %q.name, namespace = %q.app_namespace, selector = %q.selector);
        traced(span.clone(), self.watch_apps(q, span)).await
    }

    async fn sync(
        &self,
        request: Request<ApplicationSyncRequest>,
    ) -> Result<Response<AppMessage>, Status> {
        let req = request.into_inner();
        let span = tracing::info_span!("Sync", app = %req.name, namespace = %req.app_namespace);
        traced(span, self.sync_app(req)).await
    }

    async fn refresh(
        &self,
        request: Request<ApplicationRefreshRequest>,
    ) -> Result<Response<AppMessage>, Status> {
        let req = request.into_inner();
        let span = tracing::info_span!("Refresh", app = %req.name, namespace = %req.app_namespace, refresh = %req.refresh);
        traced(span, self.refresh_app(req)).await
    }

    async fn managed_resources(
        &self,
        request: Request<ApplicationQuery>,
    ) -> Result<Response<ManagedResourcesResponse>, Status> {
        let q = request.into_inner();
        let span =
            tracing::info_span!("ManagedResources", app = %q.name, namespace = %q.app_namespace);
        traced(span, self.managed_resources_of(q)).await
    }

    async fn history(
        &self,
        request: Request<ApplicationQuery>,
    ) -> Result<Response<HistoryResponse>, Status> {
        let q = request.into_inner();
        let span = tracing::info_span!("History", app = %q.name, namespace = %q.app_namespace);
        traced(span, self.history_of(q)).await
    }

    async fn terminate_operation(
        &self,
        request: Request<ApplicationQuery>,
    ) -> Result<Response<AppMessage>, Status> {
        let q = request.into_inner();
        let span = tracing::info_span!(
            "TerminateOperation",
            app = %q.name,
            namespace = %q.app_namespace
        );
        traced(span, self.terminate_operation_of(q)).await
    }

    async fn rollback(
        &self,
        request: Request<ApplicationRollbackRequest>,
    ) -> Result<Response<AppMessage>, Status> {
        let req = request.into_inner();
        let span = tracing::info_span!("Rollback", app = %req.name, namespace = %req.app_namespace, id = req.id);
        traced(span, self.rollback_app(req)).await
    }

    async fn delete(
        &self,
        request: Request<ApplicationDeleteRequest>,
    ) -> Result<Response<ApplicationResponse>, Status> {
        let req = request.into_inner();
        let span = tracing::info_span!("Delete", app = %req.name, namespace = %req.app_namespace);
        traced(span, self.delete_app(req)).await
    }
}
