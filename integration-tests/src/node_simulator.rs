//! Stands in for kubelets and storage provisioners on a control plane without
//! nodes, so the real controllers report what a real cluster would.
//!
//! - Pending pods get their status set to Running and Ready (or Succeeded
//!   for `restartPolicy: Never`/`OnFailure` pods, as Job and hook pods
//!   would). The label or annotation `caravel.dev/simulate` picks another
//!   outcome: `crashloop` (Running, container waiting in CrashLoopBackOff),
//!   `fail` (Failed, exit code 1), `succeed`, `ready`, or `pending` (left
//!   alone). The annotation `caravel.dev/simulate-delay` (e.g. `2s`) delays
//!   the transition.
//! - Services of type LoadBalancer and Ingresses without an address get a
//!   made-up load-balancer IP, as a cloud controller would set.
//! - Pending PersistentVolumeClaims get a matching hostPath
//!   PersistentVolume pre-bound to them (the real PV controller binds it);
//!   such volumes are deleted once Released.
//!
//! Pod IPs are made-up field values; no traffic goes anywhere.

use std::collections::HashSet;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::SecondsFormat;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// Label or annotation choosing a pod's (or PVC's) simulated outcome.
pub const SIMULATE_KEY: &str = "caravel.dev/simulate";
/// Annotation delaying the simulated transition (humantime, e.g. `2s`).
pub const SIMULATE_DELAY_KEY: &str = "caravel.dev/simulate-delay";
/// The address given to LoadBalancer Services and Ingresses.
pub const LOAD_BALANCER_IP: &str = "10.245.0.1";
/// Label on PersistentVolumes the simulator created.
pub const SIMULATED_LABEL: &str = "caravel.dev/simulated";

/// What the simulator does with a pending pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodOutcome {
    /// Running, all containers ready.
    Ready,
    /// Running, containers waiting in CrashLoopBackOff, not ready.
    CrashLoop,
    /// Succeeded, containers terminated with exit code 0.
    Succeeded,
    /// Failed, containers terminated with exit code 1.
    Failed,
    /// Left Pending.
    Pending,
}

/// Runs the simulator's watchers on the current tokio runtime; they stop
/// when this is dropped.
#[derive(Debug)]
pub struct NodeSimulator {
    tasks: Vec<JoinHandle<()>>,
}

impl NodeSimulator {
    pub fn start(client: Client) -> NodeSimulator {
        let pods = PodSimulator {
            api: Api::all(client.clone()),
            handled: Arc::new(Mutex::new(HashSet::new())),
            next_ip: Arc::new(AtomicU32::new(0)),
        };
        let tasks = vec![
            tokio::spawn(pods.run()),
            tokio::spawn(run_claims(client.clone())),
            tokio::spawn(run_volume_cleanup(client.clone())),
            tokio::spawn(run_load_balancers::<Service>(
                client.clone(),
                service_needs_address,
            )),
            tokio::spawn(run_load_balancers::<Ingress>(client, ingress_needs_address)),
        ];
        NodeSimulator { tasks }
    }
}

impl Drop for NodeSimulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

// === pods ===

#[derive(Clone)]
struct PodSimulator {
    api: Api<Pod>,
    /// Pods whose transition was started; a pod is handled once.
    handled: Arc<Mutex<HashSet<String>>>,
    next_ip: Arc<AtomicU32>,
}

impl PodSimulator {
    async fn run(self) {
        let events = watcher(self.api.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let mut events = pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(pod) => self.observe(pod),
                Err(error) => tracing::warn!(%error, "node simulator: pod watch failed"),
            }
        }
    }

    fn observe(&self, pod: Pod) {
        if !is_pending(&pod) || pod.metadata.deletion_timestamp.is_some() {
            return;
        }
        let outcome = planned_outcome(&pod);
        if outcome == PodOutcome::Pending {
            return;
        }
        let Some(uid) = pod.uid() else { return };
        match self.handled.lock() {
            Ok(mut handled) => {
                if !handled.insert(uid) {
                    return;
                }
            }
            Err(_) => return,
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(delay) = simulate_delay(&pod) {
                tokio::time::sleep(delay).await;
            }
            this.transition(pod, outcome).await;
        });
    }

    async fn transition(&self, pod: Pod, outcome: PodOutcome) {
        let (Some(namespace), name) = (pod.namespace(), pod.name_any()) else {
            return;
        };
        let api: Api<Pod> = Api::namespaced(self.api.clone().into_client(), &namespace);
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed);
        let ip = format!("10.244.{}.{}", (n / 250) % 250, n % 250 + 1);
        let patch = pod_status_patch(&pod, outcome, &now(), &ip);
        for attempt in 0..5 {
            match api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    tracing::debug!(%namespace, %name, ?outcome, "node simulator: pod transitioned");
                    return;
                }
                Err(kube::Error::Api(e)) if e.code == 404 => return,
                Err(error) => {
                    tracing::warn!(%namespace, %name, attempt, %error, "node simulator: patching pod status failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

fn is_pending(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, None | Some("Pending"))
}

fn simulate_value(meta: &kube::api::ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(SIMULATE_KEY))
        .or_else(|| meta.labels.as_ref().and_then(|l| l.get(SIMULATE_KEY)))
        .map(String::as_str)
}

fn simulate_delay(pod: &Pod) -> Option<Duration> {
    let value = pod.metadata.annotations.as_ref()?.get(SIMULATE_DELAY_KEY)?;
    humantime::parse_duration(value.trim()).ok()
}

/// The outcome for a pending pod: `caravel.dev/simulate` if set, otherwise
/// Succeeded for run-to-completion pods and Ready for the rest.
pub fn planned_outcome(pod: &Pod) -> PodOutcome {
    match simulate_value(&pod.metadata)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("crashloop" | "crashloopbackoff") => return PodOutcome::CrashLoop,
        Some("fail" | "failed") => return PodOutcome::Failed,
        Some("succeed" | "succeeded" | "complete") => return PodOutcome::Succeeded,
        Some("ready" | "running") => return PodOutcome::Ready,
        Some("pending" | "none") => return PodOutcome::Pending,
        _ => {}
    }
    let restart_policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
    match restart_policy {
        Some("Never" | "OnFailure") => PodOutcome::Succeeded,
        _ => PodOutcome::Ready,
    }
}

/// The JSON merge patch for the pod's `/status` subresource.
pub fn pod_status_patch(pod: &Pod, outcome: PodOutcome, now: &str, ip: &str) -> Value {
    let name = pod.name_any();
    let uid = pod.uid().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let containers: Vec<(String, String)> = spec
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    let container_names: Vec<&str> = containers.iter().map(|(n, _)| n.as_str()).collect();
    let base = |name: &str, image: &str| {
        json!({
            "name": name,
            "image": image,
            "imageID": format!("simulated://{image}"),
            "containerID": format!("simulated://{uid}/{name}"),
            "restartCount": 0,
        })
    };
    let condition = |kind: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let mut c = json!({
            "type": kind,
            "status": if ok { "True" } else { "False" },
            "lastProbeTime": null,
            "lastTransitionTime": now,
        });
        if let Some(reason) = reason {
            c["reason"] = json!(reason);
        }
        if let Some(message) = message {
            c["message"] = json!(message);
        }
        c
    };
    let terminated = |exit_code: i32, reason: &str| json!({"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now}});

    let (phase, ready, container_statuses) = match outcome {
        PodOutcome::Ready | PodOutcome::Pending => {
            let statuses = containers
                .iter()
                .map(|(n, i)| {
                    let mut s = base(n, i);
                    s["ready"] = json!(true);
                    s["started"] = json!(true);
                    s["state"] = json!({"running": {"startedAt": now}});
                    s
                })
                .collect::<Vec<_>>();
            ("Running", (true, None), statuses)
        }
        PodOutcome::CrashLoop => {
            let statuses = containers
                .iter()
                .map(|(n, i)| {
                    let mut s = base(n, i);
                    s["ready"] = json!(false);
                    s["started"] = json!(false);
                    s["restartCount"] = json!(3);
                    s["state"] = json!({"waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": format!("back-off 40s restarting failed container={n} pod={name}"),
                    }});
                    s["lastState"] = terminated(1, "Error");
                    s
                })
                .collect::<Vec<_>>();
            let message = format!(
                "containers with unready status: [{}]",
                container_names.join(" ")
            );
            (
                "Running",
                (false, Some(("ContainersNotReady", Some(message)))),
                statuses,
            )
        }
        PodOutcome::Succeeded | PodOutcome::Failed => {
            let (exit_code, reason) = if outcome == PodOutcome::Succeeded {
                (0, "Completed")
            } else {
                (1, "Error")
            };
            let statuses = containers
                .iter()
                .map(|(n, i)| {
                    let mut s = base(n, i);
                    s["ready"] = json!(false);
                    s["started"] = json!(false);
                    s["state"] = terminated(exit_code, reason);
                    s
                })
                .collect::<Vec<_>>();
            let phase = if outcome == PodOutcome::Succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
            (phase, (false, Some(("PodCompleted", None))), statuses)
        }
    };
    let (is_ready, ready_reason) = ready;
    let (reason, message) = match ready_reason {
        Some((reason, message)) => (Some(reason), message),
        None => (None, None),
    };
    let init_statuses: Vec<Value> = spec
        .init_containers
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let mut s = base(&c.name, c.image.as_deref().unwrap_or_default());
            s["ready"] = json!(true);
            s["state"] = terminated(0, "Completed");
            s
        })
        .collect();
    json!({
        "status": {
            "phase": phase,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "conditions": [
                condition("Initialized", true, None, None),
                condition("Ready", is_ready, reason, message.clone()),
                condition("ContainersReady", is_ready, reason, message),
                condition("PodScheduled", true, None, None),
            ],
            "containerStatuses": container_statuses,
            "initContainerStatuses": init_statuses,
        }
    })
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

// === persistent volumes ===

async fn run_claims(client: Client) {
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client);
    let events = watcher(claims, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let mut events = pin!(events);
    while let Some(event) = events.next().await {
        let claim = match event {
            Ok(claim) => claim,
            Err(error) => {
                tracing::warn!(%error, "node simulator: claim watch failed");
                continue;
            }
        };
        let Some(volume) = volume_for_claim(&claim) else {
            continue;
        };
        match volumes.create(&PostParams::default(), &volume).await {
            Ok(_) => tracing::debug!(claim = %claim.name_any(), "node simulator: volume created"),
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(error) => {
                tracing::warn!(claim = %claim.name_any(), %error, "node simulator: creating volume failed")
            }
        }
    }
}

/// A hostPath volume pre-bound to `claim`, if the claim waits for one.
pub fn volume_for_claim(claim: &PersistentVolumeClaim) -> Option<PersistentVolume> {
    let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    if !matches!(phase, None | Some("Pending")) || claim.metadata.deletion_timestamp.is_some() {
        return None;
    }
    if matches!(simulate_value(&claim.metadata), Some("pending" | "none")) {
        return None;
    }
    let spec = claim.spec.as_ref()?;
    if spec.volume_name.as_deref().is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let uid = claim.uid()?;
    let namespace = claim.namespace()?;
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "1Gi".to_owned());
    let access_modes = spec
        .access_modes
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| vec!["ReadWriteOnce".to_owned()]);
    let mut volume = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": format!("caravel-sim-{uid}"),
            "labels": {SIMULATED_LABEL: "true"},
        },
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": access_modes,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": format!("/tmp/caravel-simulated-volumes/{uid}")},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": namespace,
                "name": claim.name_any(),
                "uid": uid,
            },
        },
    });
    if let Some(class) = &spec.storage_class_name {
        volume["spec"]["storageClassName"] = json!(class);
    }
    if let Some(mode) = &spec.volume_mode {
        volume["spec"]["volumeMode"] = json!(mode);
    }
    serde_json::from_value(volume).ok()
}

async fn run_volume_cleanup(client: Client) {
    let volumes: Api<PersistentVolume> = Api::all(client);
    let config = watcher::Config::default().labels(&format!("{SIMULATED_LABEL}=true"));
    let events = watcher(volumes.clone(), config)
        .default_backoff()
        .applied_objects();
    let mut events = pin!(events);
    while let Some(event) = events.next().await {
        let Ok(volume) = event else { continue };
        let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase == Some("Released") && volume.metadata.deletion_timestamp.is_none() {
            if let Err(error) = volumes
                .delete(&volume.name_any(), &DeleteParams::default())
                .await
            {
                tracing::warn!(volume = %volume.name_any(), %error, "node simulator: deleting released volume failed");
            }
        }
    }
}

// === load balancers ===

fn service_needs_address(service: &Service) -> bool {
    let is_load_balancer =
        service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    let ingress = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    is_load_balancer && ingress.is_none_or(Vec::is_empty)
}

fn ingress_needs_address(ingress: &Ingress) -> bool {
    let addresses = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    addresses.is_none_or(Vec::is_empty)
}

async fn run_load_balancers<K>(client: Client, needs_address: fn(&K) -> bool)
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    let all: Api<K> = Api::all(client.clone());
    let events = watcher(all, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let mut events = pin!(events);
    let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_IP}]}}});
    while let Some(event) = events.next().await {
        let Ok(object) = event else { continue };
        if !needs_address(&object) || object.meta().deletion_timestamp.is_some() {
            continue;
        }
        let Some(namespace) = object.namespace() else {
            continue;
        };
        let api: Api<K> = Api::namespaced(client.clone(), &namespace);
        if let Err(error) = api
            .patch_status(
                &object.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            tracing::warn!(name = %object.name_any(), %error, "node simulator: setting the load balancer address failed");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn run_to_completion_pods_succeed_and_others_become_ready() {
        let job_pod = pod(
            json!({"metadata": {"name": "a"}, "spec": {"restartPolicy": "Never", "containers": []}}),
        );
        let web_pod = pod(json!({"metadata": {"name": "b"}, "spec": {"containers": []}}));
        assert_eq!(planned_outcome(&job_pod), PodOutcome::Succeeded);
        assert_eq!(planned_outcome(&web_pod), PodOutcome::Ready);
    }

    #[test]
    fn simulate_annotation_or_label_overrides_the_outcome() {
        let by_label =
            pod(json!({"metadata": {"name": "a", "labels": {SIMULATE_KEY: "crashloop"}}}));
        let by_annotation = pod(
            json!({"metadata": {"name": "a", "annotations": {SIMULATE_KEY: "fail"}}, "spec": {"containers": []}}),
        );
        assert_eq!(planned_outcome(&by_label), PodOutcome::CrashLoop);
        assert_eq!(planned_outcome(&by_annotation), PodOutcome::Failed);
    }

    #[test]
    fn crash_loop_patch_reports_waiting_containers_and_not_ready() {
        let p = pod(json!({"metadata": {"name": "web", "uid": "u1"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}}));
        let patch = pod_status_patch(
            &p,
            PodOutcome::CrashLoop,
            "2024-01-01T00:00:00Z",
            "10.244.0.1",
        );
        let status = &patch["status"];
        assert_eq!(status["phase"], "Running");
        assert_eq!(
            status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff"
        );
        assert_eq!(status["containerStatuses"][0]["ready"], false);
        assert_eq!(status["conditions"][1]["type"], "Ready");
        assert_eq!(status["conditions"][1]["status"], "False");
    }

    #[test]
    fn volume_for_claim_copies_size_modes_and_class_and_binds_the_claim() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "u2"},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "fast",
                      "resources": {"requests": {"storage": "5Gi"}}},
        }))
        .unwrap();
        let volume = volume_for_claim(&claim).unwrap();
        let spec = volume.spec.unwrap();
        assert_eq!(spec.capacity.unwrap()["storage"].0, "5Gi");
        assert_eq!(spec.access_modes.unwrap(), vec!["ReadWriteMany"]);
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        let claim_ref = spec.claim_ref.unwrap();
        assert_eq!(claim_ref.uid.as_deref(), Some("u2"));
        assert_eq!(claim_ref.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn bound_claims_get_no_volume() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "u2"},
            "spec": {"volumeName": "pv1"},
            "status": {"phase": "Bound"},
        }))
        .unwrap();
        assert!(volume_for_claim(&claim).is_none());
    }
}
