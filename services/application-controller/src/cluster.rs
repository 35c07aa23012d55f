//! The destination cluster: API discovery (GroupVersionKind → resource and
//! scope) cached per kind, and the dynamic API for any kind.

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use kube::{Api, Client};
use tokio::sync::RwLock;

use crate::Error;

/// A resolved kind: how to address it through the API.
#[derive(Clone, Debug)]
pub struct KindInfo {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Discovery results, cached per GVK (kinds do not move between scopes).
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    kinds: Arc<RwLock<HashMap<GroupVersionKind, KindInfo>>>,
}

impl Cluster {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            kinds: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Resolves `gvk`; an unknown kind (e.g. a CRD not installed yet) is an
    /// error and is not cached, so it resolves once the CRD exists.
    pub async fn kind(&self, gvk: &GroupVersionKind) -> Result<KindInfo, Error> {
        if let Some(k) = self.kinds.read().await.get(gvk) {
            return Ok(k.clone());
        }
        let (resource, caps): (ApiResource, ApiCapabilities) =
            kube::discovery::pinned_kind(&self.client, gvk)
                .await
                .map_err(|e| match e {
                    kube::Error::Api(s) if s.code == 404 => Error::UnknownKind(gvk_label(gvk)),
                    kube::Error::Discovery(_) => Error::UnknownKind(gvk_label(gvk)),
                    other => Error::Kube(other),
                })?;
        let info = KindInfo {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.kinds.write().await.insert(gvk.clone(), info.clone());
        Ok(info)
    }

    /// The dynamic API for one object of kind `info` in `namespace`.
    pub fn api(&self, info: &KindInfo, namespace: Option<&str>) -> Api<DynamicObject> {
        match (info.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &info.resource),
            _ => Api::all_with(self.client.clone(), &info.resource),
        }
    }
}

pub fn gvk_label(gvk: &GroupVersionKind) -> String {
    if gvk.group.is_empty() {
        format!("{}/{}", gvk.version, gvk.kind)
    } else {
        format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind)
    }
}

/// Parses `apiVersion` + `kind` of a manifest.
pub fn gvk_of(obj: &serde_json::Value) -> Option<GroupVersionKind> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    Some(GroupVersionKind::gvk(group, version, kind))
}
