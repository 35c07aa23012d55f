//! The destination cluster: API discovery (GroupVersionKind → resource and
//! scope) cached per kind, the dynamic API for any kind, and which
//! namespaces the controller may manage (all, or a list: namespaced mode).

use std::collections::{BTreeSet, HashMap};
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
    namespaces: Arc<ManagedNamespaces>,
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
            namespaces: Arc::default(),
        }
    }

    /// Restricts the controller to `namespaces` (cluster-wide by default).
    pub fn managing(mut self, namespaces: ManagedNamespaces) -> Self {
        self.namespaces = Arc::new(namespaces);
        self
    }

    /// The namespaces whose objects the controller watches and changes.
    pub fn namespaces(&self) -> &ManagedNamespaces {
        &self.namespaces
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

// === managed namespaces ===

/// The namespaces whose objects the controller watches and changes: every
/// namespace (Argo CD's default), or only listed ones (Argo CD's namespaced
/// mode: a cluster with `namespaces` set and no `clusterResources`), for
/// credentials that carry namespace-scoped rights only. In namespaced mode
/// cluster-scoped objects are refused, as Argo CD refuses them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ManagedNamespaces {
    #[default]
    All,
    Only(BTreeSet<String>),
}

impl ManagedNamespaces {
    /// All namespaces when `list` has no names (empty entries are
    /// ignored), else namespaced mode.
    pub fn new(list: &[String]) -> Self {
        let names: BTreeSet<String> = list.iter().filter(|n| !n.is_empty()).cloned().collect();
        if names.is_empty() {
            Self::All
        } else {
            Self::Only(names)
        }
    }

    /// Whether objects in namespace `ns` may be managed.
    pub fn manages(&self, ns: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(list) => list.contains(ns),
        }
    }

    /// Where objects of a kind are watched: `None` is one cluster-wide
    /// watch, `Some(ns)` one watch in `ns`. Cluster-scoped kinds are not
    /// watched at all in namespaced mode.
    pub fn watch_scopes(&self, namespaced_kind: bool) -> Vec<Option<String>> {
        match self {
            Self::All => vec![None],
            Self::Only(list) if namespaced_kind => list.iter().cloned().map(Some).collect(),
            Self::Only(_) => Vec::new(),
        }
    }

    /// Whether object `kind`/`name` (in `namespace`, for namespaced kinds)
    /// may be managed; the refusal says why, in Argo CD's words.
    pub fn permits(
        &self,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
        namespaced_kind: bool,
    ) -> Result<(), String> {
        let Self::Only(list) = self else {
            return Ok(());
        };
        match namespace.filter(|_| namespaced_kind) {
            None => Err(format!(
                "cluster level {kind} {name:?} can not be managed when in namespaced mode (this controller manages only namespaces {})",
                self.describe()
            )),
            Some(ns) if !list.contains(ns) => Err(format!(
                "namespace {ns:?} for {kind} {name:?} is not managed (this controller manages only namespaces {})",
                self.describe()
            )),
            Some(_) => Ok(()),
        }
    }

    /// `a, b` in namespaced mode, `all` otherwise.
    pub fn describe(&self) -> String {
        match self {
            Self::All => "all".to_owned(),
            Self::Only(list) => list
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Parses one entry of `--resource-namespaces`: a namespace name, which
/// Kubernetes requires to be an RFC 1123 label. An empty entry stays empty
/// (and is ignored), so an empty variable means cluster-wide.
pub fn parse_namespace_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    if name.is_empty() {
        return Ok(String::new());
    }
    let valid = name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{name:?} is not a namespace name: it must be 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit (RFC 1123 label)"
        ))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn only(list: &[&str]) -> ManagedNamespaces {
        ManagedNamespaces::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn namespace_names_must_be_rfc_1123_labels() {
        assert_eq!(parse_namespace_name("team-a").unwrap(), "team-a");
        assert_eq!(parse_namespace_name(" prod1 ").unwrap(), "prod1");
        assert_eq!(parse_namespace_name("0").unwrap(), "0");
        assert_eq!(parse_namespace_name(&"a".repeat(63)).unwrap().len(), 63);
        assert_eq!(
            parse_namespace_name(" ").unwrap(),
            "",
            "empty entries are ignored"
        );
        for bad in ["Team-a", "team_a", "-a", "a-", "a.b", "ä", &"a".repeat(64)] {
            let e = parse_namespace_name(bad).unwrap_err();
            assert!(e.contains("RFC 1123"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn an_empty_list_means_every_namespace() {
        let all = ManagedNamespaces::new(&[]);
        assert_eq!(all, ManagedNamespaces::All);
        assert_eq!(
            ManagedNamespaces::new(&[String::new()]),
            ManagedNamespaces::All
        );
        assert!(all.manages("anything"));
        assert_eq!(all.watch_scopes(true), vec![None]);
        assert_eq!(all.watch_scopes(false), vec![None]);
        assert!(all.permits("ClusterRole", "admin", None, false).is_ok());
        assert!(all.permits("ConfigMap", "cm", Some("x"), true).is_ok());
    }

    #[test]
    fn namespaced_mode_watches_each_listed_namespace_and_no_cluster_scoped_kind() {
        let ns = only(&["b", "a", "", "b"]);
        assert!(ns.manages("a") && ns.manages("b") && !ns.manages("c"));
        assert_eq!(
            ns.watch_scopes(true),
            vec![Some("a".to_owned()), Some("b".to_owned())]
        );
        assert!(ns.watch_scopes(false).is_empty());
        assert_eq!(ns.describe(), "a, b");
    }

    #[test]
    fn namespaced_mode_refuses_cluster_scoped_objects_and_other_namespaces() {
        let ns = only(&["team-a"]);
        assert!(ns.permits("ConfigMap", "cm", Some("team-a"), true).is_ok());
        let e = ns.permits("ClusterRole", "admin", None, false).unwrap_err();
        assert!(
            e.starts_with(
                "cluster level ClusterRole \"admin\" can not be managed when in namespaced mode"
            ),
            "{e}"
        );
        assert!(e.contains("team-a"), "{e}");
        // A cluster-scoped kind is refused whatever namespace the manifest names.
        assert!(ns
            .permits("Namespace", "team-a", Some("team-a"), false)
            .is_err());
        let e = ns
            .permits("ConfigMap", "cm", Some("team-b"), true)
            .unwrap_err();
        assert!(
            e.starts_with("namespace \"team-b\" for ConfigMap \"cm\" is not managed"),
            "{e}"
        );
    }
}
