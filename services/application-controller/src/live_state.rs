//! The live-state cache: one watch per kind that any app deploys (or
//! deployed), kept in reflector stores; cluster-wide, or in namespaced mode
//! one watch per listed namespace (credentials with namespace-scoped rights
//! cannot list cluster-wide). A change to an object carrying an app's
//! tracking id asks for that app to be re-compared, which is how drift is
//! noticed within seconds instead of at the next poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use caravel_crd::annotations::TRACKING_ID;
use caravel_crd::tracking::TrackingId;
use futures::StreamExt;
use kube::api::{DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::{mpsc, Mutex};

use crate::cluster::{gvk_label, Cluster, KindInfo, ManagedNamespaces};
use crate::Error;

/// How long to wait for a new kind's initial list before giving up for now.
const INITIAL_LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// What one watch covers: a kind, cluster-wide (`None`) or in one namespace.
type WatchKey = (GroupVersionKind, Option<String>);

/// One watch: its store, and its last error (why its list does not finish,
/// e.g. missing rights), for the timeout message.
#[derive(Clone)]
struct Watch {
    store: Store<DynamicObject>,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}

#[derive(Clone)]
pub struct LiveStateCache {
    cluster: Cluster,
    watches: Arc<Mutex<HashMap<WatchKey, Watch>>>,
    changed: mpsc::UnboundedSender<String>,
}

impl LiveStateCache {
    /// `changed` receives the name of every app whose objects change.
    pub fn new(cluster: Cluster, changed: mpsc::UnboundedSender<String>) -> Self {
        if let ManagedNamespaces::Only(_) = cluster.namespaces() {
            tracing::info!(
                namespaces = %cluster.namespaces().describe(),
                "namespaced mode: watching and managing objects in these namespaces only; cluster-scoped objects are refused"
            );
        }
        Self {
            cluster,
            watches: Arc::default(),
            changed,
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The stores of `gvk` in `scopes` (see [`ManagedNamespaces::watch_scopes`]),
    /// starting their watches the first time they are asked for, once their
    /// initial lists are in.
    async fn stores(
        &self,
        gvk: &GroupVersionKind,
        info: &KindInfo,
        scopes: Vec<Option<String>>,
    ) -> Result<Vec<Store<DynamicObject>>, Error> {
        // All watches start before any is waited for: they list in parallel.
        let watches: Vec<(Option<String>, Watch)> = {
            let mut watches = self.watches.lock().await;
            scopes
                .into_iter()
                .map(|scope| {
                    let key = (gvk.clone(), scope.clone());
                    let watch = watches
                        .entry(key)
                        .or_insert_with(|| self.watch(gvk, info, scope.as_deref()))
                        .clone();
                    (scope, watch)
                })
                .collect()
        };
        let mut stores = Vec::with_capacity(watches.len());
        for (scope, watch) in watches {
            match tokio::time::timeout(INITIAL_LIST_TIMEOUT, watch.store.wait_until_ready()).await {
                Ok(Ok(())) => stores.push(watch.store),
                _ => {
                    let last_error = watch
                        .last_error
                        .lock()
                        .map(|e| e.clone())
                        .unwrap_or_default()
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default();
                    let scope = scope
                        .map(|ns| format!(" in namespace {ns}"))
                        .unwrap_or_default();
                    return Err(Error::LiveState(format!(
                        "listing {}{scope} did not finish within {INITIAL_LIST_TIMEOUT:?}{last_error}",
                        gvk_label(gvk)
                    )));
                }
            }
        }
        Ok(stores)
    }

    fn watch(&self, gvk: &GroupVersionKind, info: &KindInfo, namespace: Option<&str>) -> Watch {
        let api = self.cluster.api(info, namespace);
        // One writer per watch stream: a stream's initial list replaces
        // everything its writer holds.
        let writer = reflector::store::Writer::new(info.resource.clone());
        let store = writer.as_reader();
        let last_error = Arc::new(std::sync::Mutex::new(None));
        let changed = self.changed.clone();
        let label = gvk_label(gvk);
        let scope = namespace.unwrap_or("").to_owned();
        let types = kube::api::TypeMeta {
            api_version: info.resource.api_version.clone(),
            kind: info.resource.kind.clone(),
        };
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(move |o: &mut DynamicObject| {
                // Managed fields are large and not needed for comparison (the
                // server-side-apply dry run sees them on the server).
                o.metadata.managed_fields = None;
                // Items of a list carry no apiVersion/kind; health rules
                // are chosen by kind, so every cached object has them.
                if o.types.is_none() {
                    o.types = Some(types.clone());
                }
            });
        let stream = reflector::reflector(writer, stream);
        let errors = last_error.clone();
        tokio::spawn(async move {
            tracing::debug!(kind = %label, namespace = %scope, "watching");
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::Delete(o)) => {
                        if let Some(app) = tracking_app(&o) {
                            let _ = changed.send(app);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(kind = %label, namespace = %scope, error = %e, "watch error, retrying");
                        if let Ok(mut last) = errors.lock() {
                            *last = Some(e.to_string());
                        }
                    }
                }
            }
        });
        Watch { store, last_error }
    }

    /// The live object with this identity, if it exists. In namespaced
    /// mode an object the controller may not manage is an error.
    pub async fn get(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(KindInfo, Option<Arc<DynamicObject>>), Error> {
        let info = self.cluster.kind(gvk).await?;
        let namespace = namespace.filter(|_| info.namespaced);
        let scope = match self.cluster.namespaces() {
            ManagedNamespaces::All => None,
            managed => {
                managed
                    .permits(&gvk.kind, name, namespace, info.namespaced)
                    .map_err(Error::LiveState)?;
                namespace.map(str::to_owned)
            }
        };
        let store = self
            .stores(gvk, &info, vec![scope])
            .await?
            .into_iter()
            .next();
        let mut key = ObjectRef::new_with(name, info.resource.clone());
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        let found = store.and_then(|s| s.get(&key));
        Ok((info, found))
    }

    /// Waits (bounded by `timeout`) until the cache has seen this object at
    /// `resource_version` or later, or its deletion when `None`; so a
    /// comparison right after a sync sees what the sync wrote.
    pub async fn wait_for(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
        timeout: Duration,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let caught_up = match self.get(gvk, namespace, name).await {
                Ok((_, current)) => match (resource_version, current) {
                    (None, None) => true,
                    (None, Some(_)) => false,
                    (Some(_), None) => false,
                    (Some(want), Some(obj)) => {
                        is_at_least(obj.metadata.resource_version.as_deref(), want)
                    }
                },
                Err(_) => true,
            };
            if caught_up || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every object of kind `gvk` whose tracking id names `app` and was
    /// written for that very object (a copied annotation does not count),
    /// in every namespace the controller manages.
    pub async fn tracked_by(
        &self,
        gvk: &GroupVersionKind,
        app: &str,
    ) -> Result<Vec<Arc<DynamicObject>>, Error> {
        let info = self.cluster.kind(gvk).await?;
        let scopes = self.cluster.namespaces().watch_scopes(info.namespaced);
        let stores = self.stores(gvk, &info, scopes).await?;
        Ok(stores
            .iter()
            .flat_map(|store| {
                store.state_filter(|o| {
                    tracking_app(o).as_deref() == Some(app) && is_own_tracking_id(o, gvk)
                })
            })
            .collect())
    }
}

/// Resource versions are opaque, but etcd's are increasing integers; fall
/// back to equality for anything else.
fn is_at_least(have: Option<&str>, want: &str) -> bool {
    match (
        have.and_then(|h| h.parse::<u64>().ok()),
        want.parse::<u64>().ok(),
    ) {
        (Some(h), Some(w)) => h >= w,
        _ => have == Some(want),
    }
}

/// The app named by the object's tracking id, if it has one.
pub fn tracking_app(o: &DynamicObject) -> Option<String> {
    let value = o.metadata.annotations.as_ref()?.get(TRACKING_ID)?;
    TrackingId::parse(value).map(|t| t.app)
}

/// Whether the object's tracking id describes the object itself.
pub fn is_own_tracking_id(o: &DynamicObject, gvk: &GroupVersionKind) -> bool {
    let Some(value) = o
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TRACKING_ID))
    else {
        return false;
    };
    let Some(id) = TrackingId::parse(value) else {
        return false;
    };
    id.matches(
        &gvk.group,
        &gvk.kind,
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::is_at_least;

    #[test]
    fn resource_versions_compare_as_numbers_when_they_are_numbers() {
        assert!(is_at_least(Some("120"), "99"));
        assert!(is_at_least(Some("99"), "99"));
        assert!(!is_at_least(Some("98"), "99"));
        assert!(is_at_least(Some("abc"), "abc"));
        assert!(!is_at_least(None, "1"));
    }
}
