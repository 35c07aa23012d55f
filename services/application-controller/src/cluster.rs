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
    capabilities: Arc<RwLock<Option<(std::time::Instant, Capabilities)>>>,
}

/// What Helm's `.Capabilities` reports for this cluster (Argo CD sends the
/// destination's version and API versions with every render).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `v1.20.2`.
    pub kube_version: String,
    /// Every `group/version` and `group/version/Kind` served, sorted.
    pub api_versions: Vec<String>,
}

/// How long discovered capabilities are reused.
const CAPABILITIES_TTL: std::time::Duration = std::time::Duration::from_secs(300);

impl Cluster {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            kinds: Arc::default(),
            capabilities: Arc::default(),
        }
    }

    /// The cluster's version and API versions, discovered at most every
    /// five minutes; empty (Helm's defaults then apply) when discovery
    /// fails.
    pub async fn capabilities(&self) -> Capabilities {
        if let Some((at, caps)) = self.capabilities.read().await.as_ref() {
            if at.elapsed() < CAPABILITIES_TTL {
                return caps.clone();
            }
        }
        match self.discover_capabilities().await {
            Ok(caps) => {
                *self.capabilities.write().await = Some((std::time::Instant::now(), caps.clone()));
                caps
            }
            Err(e) => {
                tracing::warn!(error = %e, "discovering the cluster's API versions failed; Helm's defaults apply");
                Capabilities::default()
            }
        }
    }

    async fn discover_capabilities(&self) -> Result<Capabilities, kube::Error> {
        let version = self.client.apiserver_version().await?;
        let discovery = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await?;
        let mut api_versions = std::collections::BTreeSet::new();
        for group in discovery.groups() {
            for version in group.versions() {
                let gv = if group.name().is_empty() {
                    version.to_owned()
                } else {
                    format!("{}/{version}", group.name())
                };
                for (resource, _) in group.versioned_resources(version) {
                    api_versions.insert(format!("{gv}/{}", resource.kind));
                }
                api_versions.insert(gv);
            }
        }
        Ok(Capabilities {
            kube_version: version.git_version,
            api_versions: api_versions.into_iter().collect(),
        })
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
