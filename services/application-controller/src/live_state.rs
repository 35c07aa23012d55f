//! The live-state cache: one cluster-wide watch per kind that any app
//! deploys (or deployed), kept in reflector stores. A change to an object
//! carrying an app's tracking id asks for that app to be re-compared, which
//! is how drift is noticed within seconds instead of at the next poll.

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

use crate::cluster::{Cluster, KindInfo};
use crate::Error;

/// How long to wait for a new kind's initial list before giving up for now.
const INITIAL_LIST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct LiveStateCache {
    cluster: Cluster,
    stores: Arc<Mutex<HashMap<GroupVersionKind, Store<DynamicObject>>>>,
    changed: mpsc::UnboundedSender<String>,
}

impl LiveStateCache {
    /// `changed` receives the name of every app whose objects change.
    pub fn new(cluster: Cluster, changed: mpsc::UnboundedSender<String>) -> Self {
        Self {
            cluster,
            stores: Arc::default(),
            changed,
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The store of `gvk`, starting its watch the first time it is asked for.
    pub async fn store(
        &self,
        gvk: &GroupVersionKind,
    ) -> Result<(KindInfo, Store<DynamicObject>), Error> {
        let info = self.cluster.kind(gvk).await?;
        let store = {
            let mut stores = self.stores.lock().await;
            match stores.get(gvk) {
                Some(s) => s.clone(),
                None => {
                    let s = self.watch(gvk, &info);
                    stores.insert(gvk.clone(), s.clone());
                    s
                }
            }
        };
        match tokio::time::timeout(INITIAL_LIST_TIMEOUT, store.wait_until_ready()).await {
            Ok(Ok(())) => Ok((info, store)),
            _ => Err(Error::LiveState(format!(
                "listing {} did not finish within {INITIAL_LIST_TIMEOUT:?}",
                crate::cluster::gvk_label(gvk)
            ))),
        }
    }

    fn watch(&self, gvk: &GroupVersionKind, info: &KindInfo) -> Store<DynamicObject> {
        let api = self.cluster.api(info, None);
        let writer = reflector::store::Writer::new(info.resource.clone());
        let store = writer.as_reader();
        let changed = self.changed.clone();
        let label = crate::cluster::gvk_label(gvk);
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
        tokio::spawn(async move {
            tracing::debug!(kind = %label, "watching");
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::Delete(o)) => {
                        if let Some(app) = tracking_app(&o) {
                            let _ = changed.send(app);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(kind = %label, error = %e, "watch error, retrying"),
                }
            }
        });
        store
    }

    /// The live object with this identity, if it exists.
    pub async fn get(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(KindInfo, Option<Arc<DynamicObject>>), Error> {
        let (info, store) = self.store(gvk).await?;
        let mut key = ObjectRef::new_with(name, info.resource.clone());
        if info.namespaced {
            if let Some(ns) = namespace {
                key = key.within(ns);
            }
        }
        Ok((info, store.get(&key)))
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
    /// written for that very object (a copied annotation does not count).
    pub async fn tracked_by(
        &self,
        gvk: &GroupVersionKind,
        app: &str,
    ) -> Result<Vec<Arc<DynamicObject>>, Error> {
        let (_, store) = self.store(gvk).await?;
        Ok(store.state_filter(|o| {
            tracking_app(o).as_deref() == Some(app) && is_own_tracking_id(o, gvk)
        }))
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
