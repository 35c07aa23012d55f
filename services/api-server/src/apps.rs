//! Applications in Kubernetes: list, get, merge-patch, wait for a refresh,
//! watch. Objects are handled as their JSON (through `DynamicObject`), so a
//! client receives every field the API server stored, whether or not this
//! version of Caravel models it.

use std::time::Duration;

use caravel_crd::annotations::REFRESH;
use caravel_crd::Application;
use futures::Stream;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};

use crate::error::Error;

/// The field manager recorded for the api-server's writes.
pub const FIELD_MANAGER: &str = "caravel-api-server";

/// How often a read-check-write is tried when the app keeps changing
/// between the read and the write.
const CONFLICT_ATTEMPTS: u32 = 5;

/// Access to Application objects through the Kubernetes API.
#[derive(Clone)]
pub struct Applications {
    client: kube::Client,
    resource: ApiResource,
}

impl std::fmt::Debug for Applications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applications")
            .field("resource", &self.resource.plural)
            .finish()
    }
}

impl Applications {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            resource: ApiResource::erase::<Application>(&()),
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &self.resource)
    }

    /// Every Application in `namespace` matching the label `selector`.
    pub async fn list(&self, namespace: &str, selector: &str) -> Result<Vec<Value>, Error> {
        let mut params = ListParams::default();
        if !selector.is_empty() {
            params = params.labels(selector);
        }
        let list = self.api(namespace).list(&params).await.map_err(|e| {
            Error::kube(
                format!("listing applications in namespace {namespace:?}"),
                e,
            )
        })?;
        list.items.into_iter().map(to_json).collect()
    }

    /// Checks that a watch with this selector can start (bad selectors and
    /// missing permissions surface here, as an RPC error).
    pub async fn probe(&self, namespace: &str, selector: &str) -> Result<(), Error> {
        let mut params = ListParams::default().limit(1);
        if !selector.is_empty() {
            params = params.labels(selector);
        }
        self.api(namespace)
            .list_metadata(&params)
            .await
            .map(drop)
            .map_err(|e| {
                Error::kube(
                    format!("watching applications in namespace {namespace:?}"),
                    e,
                )
            })
    }

    pub async fn get(&self, namespace: &str, name: &str) -> Result<Value, Error> {
        let obj = self
            .api(namespace)
            .get(name)
            .await
            .map_err(|e| Error::on_app(namespace, name, "getting", e))?;
        to_json(obj)
    }

    /// Applies a JSON merge patch (RFC 7386) to the Application.
    pub async fn merge_patch(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, Error> {
        self.merge_patch_to(namespace, name, patch, false).await
    }

    /// Reads the app, lets `build` check it and make a merge patch (carrying
    /// the app's `resourceVersion`), and applies the patch. When the app
    /// changed in between (409, e.g. a status write of the controller), it
    /// is read and checked again, as Argo CD's `SetAppOperation` does.
    /// `build` returning `None` leaves the app as read.
    pub async fn update_with(
        &self,
        namespace: &str,
        name: &str,
        mut build: impl FnMut(&Value) -> Result<Option<Value>, Error>,
    ) -> Result<Value, Error> {
        let mut attempt = 1;
        loop {
            let app = self.get(namespace, name).await?;
            let Some(patch) = build(&app)? else {
                return Ok(app);
            };
            match self.merge_patch(namespace, name, &patch).await {
                Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                    tracing::debug!(app = %name, attempt, "application changed while writing; reading it again");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Applies a JSON merge patch to the Application's status subresource.
    pub async fn merge_patch_status(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, Error> {
        self.merge_patch_to(namespace, name, patch, true).await
    }

    async fn merge_patch_to(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value, Error> {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let api = self.api(namespace);
        let patch = Patch::Merge(patch);
        let (result, doing) = if status {
            (
                api.patch_status(name, &params, &patch).await,
                "patching the status of",
            )
        } else {
            (api.patch(name, &params, &patch).await, "patching")
        };
        to_json(result.map_err(|e| Error::on_app(namespace, name, doing, e))?)
    }

    /// Deletes the Application. With finalizers it stays, marked for
    /// deletion, until the controller removes them.
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<(), Error> {
        self.api(namespace)
            .delete(name, &DeleteParams::default())
            .await
            .map(drop)
            .map_err(|e| Error::on_app(namespace, name, "deleting", e))
    }

    /// Sets the refresh annotation; the controller removes it once refreshed.
    pub async fn request_refresh(
        &self,
        namespace: &str,
        name: &str,
        refresh: &str,
    ) -> Result<Value, Error> {
        self.merge_patch(namespace, name, &refresh_patch(refresh))
            .await
    }

    /// Waits until the controller has removed the refresh annotation.
    pub async fn wait_refreshed(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let refreshed = |obj: Option<&DynamicObject>| {
            obj.is_none_or(|o| !o.annotations().contains_key(REFRESH))
        };
        let wait = kube::runtime::wait::await_condition(self.api(namespace), name, refreshed);
        match tokio::time::timeout(timeout, wait).await {
            Err(_) => Err(Error::DeadlineExceeded(format!(
                "application {name:?} refresh deadline exceeded: the controller did not refresh it within {}",
                humantime::format_duration(timeout)
            ))),
            Ok(Err(e)) => Err(Error::Unavailable(format!(
                "watching application {name:?} for the refresh: {e}"
            ))),
            Ok(Ok(None)) => Err(Error::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
            Ok(Ok(Some(obj))) => to_json(obj),
        }
    }

    /// A kube-runtime watcher over the namespace (or one Application when
    /// `name` is set), retrying with backoff.
    pub fn watch(
        &self,
        namespace: &str,
        selector: &str,
        name: Option<&str>,
    ) -> impl Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>> + Send + 'static
    {
        use kube::runtime::WatchStreamExt;
        let mut config = watcher::Config::default();
        if !selector.is_empty() {
            config = config.labels(selector);
        }
        if let Some(name) = name {
            config = config.fields(&format!("metadata.name={name}"));
        }
        watcher(self.api(namespace), config).default_backoff()
    }
}

/// The merge patch that asks the controller for a refresh.
pub fn refresh_patch(refresh: &str) -> Value {
    json!({ "metadata": { "annotations": { REFRESH: refresh } } })
}

/// An Application object as JSON, with `apiVersion` and `kind` always set.
pub fn to_json(obj: DynamicObject) -> Result<Value, Error> {
    let mut value = serde_json::to_value(&obj)
        .map_err(|e| Error::Internal(format!("encoding application as json: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::from(caravel_crd::API_VERSION));
        map.entry("kind")
            .or_insert_with(|| Value::from("Application"));
    }
    Ok(value)
}

/// `spec.project` of an Application's JSON.
pub fn project(app: &Value) -> &str {
    app.pointer("/spec/project")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `metadata.name` of an Application's JSON.
pub fn name(app: &Value) -> &str {
    app.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether an app passes a project filter (an empty filter passes all).
pub fn in_projects(app: &Value, projects: &[String]) -> bool {
    projects.is_empty() || projects.iter().any(|p| p == project(app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_objects_keep_fields_caravel_does_not_model() -> anyhow::Result<()> {
        let manifest = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "a", "namespace": "argocd", "resourceVersion": "7"},
            "spec": {"project": "default", "source": {"repoURL": "r", "futureField": 1},
                     "destination": {"server": "s"}},
            "status": {"resources": [{"kind": "ConfigMap", "name": "c", "newStatusField": true}]}
        });
        let obj: DynamicObject = serde_json::from_value(manifest.clone())?;
        assert_eq!(to_json(obj)?, manifest);
        Ok(())
    }

    #[test]
    fn list_items_without_type_meta_get_api_version_and_kind() -> anyhow::Result<()> {
        let obj: DynamicObject =
            serde_json::from_value(json!({"metadata": {"name": "a"}, "spec": {}}))?;
        let value = to_json(obj)?;
        assert_eq!(value["apiVersion"], "argoproj.io/v1alpha1");
        assert_eq!(value["kind"], "Application");
        Ok(())
    }

    #[test]
    fn the_project_filter_matches_spec_project() {
        let app = json!({"spec": {"project": "team-a"}});
        assert!(in_projects(&app, &[]));
        assert!(in_projects(&app, &["team-b".into(), "team-a".into()]));
        assert!(!in_projects(&app, &["team-b".into()]));
    }

    #[test]
    fn a_refresh_is_requested_through_the_argo_cd_annotation() {
        assert_eq!(
            refresh_patch("hard"),
            json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})
        );
    }
}
