//! The walking skeleton's sync scenarios: automated sync of a directory
//! app, refresh to a new commit, prune, self-heal, server defaults.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use caravel_integration_tests::Changes;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::Api;
use serde_json::json;

use crate::common::*;

const TRACKING: &str = "argocd.argoproj.io/tracking-id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automated_app_syncs_directory_then_follows_a_new_commit() -> Result<()> {
    let caravel = Caravel::start("autosync").await?;
    let (repo, sha1) = guestbook_repo(caravel.env).await?;
    let dest = caravel.dest_namespace("guestbook").await?;

    let created = Instant::now();
    caravel
        .create_app(
            "guestbook",
            &repo.http_url()?,
            "guestbook",
            &dest,
            json!({"automated": {"prune": true, "selfHeal": true}}),
        )
        .await?;
    let app = caravel
        .wait_app(
            "guestbook",
            Duration::from_secs(10),
            "Synced at the first commit with one history entry",
            |a| sync_status(a) == "Synced" && revision(a) == sha1 && history_len(a) == 1,
        )
        .await?;
    let took = created.elapsed();
    assert!(took < Duration::from_secs(10), "synced in {took:?}");
    assert_eq!(operation_phase(&app), "Succeeded");

    // The objects exist, each with its tracking id.
    let client = caravel.client.clone();
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &dest)
        .get("guestbook-config")
        .await?;
    let dep = Api::<Deployment>::namespaced(client.clone(), &dest)
        .get("guestbook-ui")
        .await?;
    let svc = Api::<Service>::namespaced(client.clone(), &dest)
        .get("guestbook-ui")
        .await?;
    let ann =
        |a: &Option<BTreeMap<String, String>>| a.as_ref().and_then(|a| a.get(TRACKING)).cloned();
    assert_eq!(
        ann(&cm.metadata.annotations).as_deref(),
        Some(format!("guestbook:/ConfigMap:{dest}/guestbook-config").as_str())
    );
    assert_eq!(
        ann(&dep.metadata.annotations).as_deref(),
        Some(format!("guestbook:apps/Deployment:{dest}/guestbook-ui").as_str())
    );
    assert_eq!(
        ann(&svc.metadata.annotations).as_deref(),
        Some(format!("guestbook:/Service:{dest}/guestbook-ui").as_str())
    );
    let status = app.status.clone().unwrap_or_default();
    assert_eq!(status.resources.as_ref().map(Vec::len), Some(3));
    assert_eq!(
        status
            .history
            .as_ref()
            .and_then(|h| h[0].revision.clone())
            .as_deref(),
        Some(sha1.as_str())
    );
    assert_eq!(
        status.summary.and_then(|s| s.images),
        Some(vec!["gcr.io/heptio-images/ks-guestbook-demo:0.2".to_owned()])
    );

    // Healthy once the simulator readies the pods.
    caravel
        .wait_app("guestbook", Duration::from_secs(60), "Healthy", |a| {
            health_status(a) == "Healthy" && sync_status(a) == "Synced"
        })
        .await?;

    // Record every status the app goes through from here on.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let recorder = {
        let seen = seen.clone();
        let stream = watcher(
            caravel.apps(),
            watcher::Config::default().fields("metadata.name=guestbook"),
        );
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(Ok(ev)) = stream.next().await {
                if let watcher::Event::Apply(a) = ev {
                    seen.lock()
                        .unwrap()
                        .push((sync_status(&a).to_owned(), revision(&a).to_owned()));
                }
            }
        })
    };

    // A commit that changes the ConfigMap, then a refresh.
    let sha2 = repo
        .commit_files(vec![("guestbook/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook-config\ndata:\n  GREETING: \"bonjour\"\n")])
        .await?;
    caravel.refresh("guestbook", "normal").await?;
    caravel
        .wait_app(
            "guestbook",
            Duration::from_secs(20),
            "Synced at the second commit with two history entries",
            |a| sync_status(a) == "Synced" && revision(a) == sha2 && history_len(a) == 2,
        )
        .await?;
    recorder.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(s, r)| s == "OutOfSync" && *r == sha2),
        "the app never reported OutOfSync at the new commit: {seen:?}"
    );
    let cm = Api::<ConfigMap>::namespaced(client, &dest)
        .get("guestbook-config")
        .await?;
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("GREETING")
            .map(String::as_str),
        Some("bonjour")
    );
    let app = caravel.apps().get("guestbook").await?;
    assert!(
        !app.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("argocd.argoproj.io/refresh"),
        "the refresh annotation is removed after the refresh"
    );
    Ok(())
}

async fn synced_app(
    caravel: &Caravel,
    name: &str,
    policy: serde_json::Value,
) -> Result<(caravel_integration_tests::GitRepo, String)> {
    let (repo, _) = guestbook_repo(caravel.env).await?;
    let dest = caravel.dest_namespace(name).await?;
    caravel
        .create_app(name, &repo.file_url(), "guestbook", &dest, policy)
        .await?;
    caravel
        .wait_app(name, Duration::from_secs(30), "Synced", |a| {
            sync_status(a) == "Synced" && history_len(a) == 1
        })
        .await?;
    Ok((repo, dest))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_true_deletes_a_service_removed_from_git() -> Result<()> {
    let caravel = Caravel::start("prune").await?;
    let (repo, dest) =
        synced_app(&caravel, "pruned", json!({"automated": {"prune": true}})).await?;
    let sha = repo
        .commit(
            "main",
            "remove service",
            Changes::new().delete("guestbook/service.yaml"),
        )
        .await?;
    caravel.refresh("pruned", "normal").await?;
    caravel
        .wait_app(
            "pruned",
            Duration::from_secs(30),
            "Synced without the Service",
            |a| {
                sync_status(a) == "Synced"
                    && revision(a) == sha
                    && a.status
                        .as_ref()
                        .and_then(|s| s.resources.as_ref())
                        .is_some_and(|r| r.len() == 2)
            },
        )
        .await?;
    let services = Api::<Service>::namespaced(caravel.client.clone(), &dest);
    eventually_gone(
        &services,
        "guestbook-ui",
        Duration::from_secs(20),
        "the Service to be deleted",
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_false_keeps_the_service_and_reports_requires_pruning() -> Result<()> {
    let caravel = Caravel::start("noprune").await?;
    let (repo, dest) = synced_app(&caravel, "kept", json!({"automated": {"prune": false}})).await?;
    let sha = repo
        .commit(
            "main",
            "remove service",
            Changes::new().delete("guestbook/service.yaml"),
        )
        .await?;
    caravel.refresh("kept", "normal").await?;
    let app = caravel
        .wait_app(
            "kept",
            Duration::from_secs(30),
            "OutOfSync with the Service requiring pruning",
            |a| {
                sync_status(a) == "OutOfSync"
                    && revision(a) == sha
                    && a.status
                        .as_ref()
                        .and_then(|s| s.resources.as_ref())
                        .is_some_and(|rs| {
                            rs.iter().any(|r| {
                                r.kind == "Service"
                                    && r.requires_pruning == Some(true)
                                    && r.status.as_deref() == Some("OutOfSync")
                            })
                        })
            },
        )
        .await?;
    assert_eq!(history_len(&app), 1);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let services = Api::<Service>::namespaced(caravel.client.clone(), &dest);
    assert!(
        services.get_opt("guestbook-ui").await?.is_some(),
        "the Service must stay"
    );
    let app = caravel.apps().get("kept").await?;
    assert_eq!(sync_status(&app), "OutOfSync");
    // As in Argo CD, auto-sync does not run when only pruning is needed and
    // automated prune is off.
    assert_eq!(history_len(&app), 1, "no sync ran");
    Ok(())
}

async fn scale_by_hand(caravel: &Caravel, dest: &str, replicas: i32) -> Result<()> {
    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), dest);
    let params = PatchParams::default();
    deployments
        .patch(
            "guestbook-ui",
            &params,
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await?;
    Ok(())
}

async fn replicas(caravel: &Caravel, dest: &str) -> Result<Option<i32>> {
    let deployments = Api::<Deployment>::namespaced(caravel.client.clone(), dest);
    Ok(deployments
        .get("guestbook-ui")
        .await?
        .spec
        .and_then(|s| s.replicas))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_heal_reverts_a_manual_replica_change() -> Result<()> {
    let caravel = Caravel::start("selfheal").await?;
    let (_repo, dest) = synced_app(
        &caravel,
        "healed",
        json!({"automated": {"prune": true, "selfHeal": true}}),
    )
    .await?;
    scale_by_hand(&caravel, &dest, 5).await?;
    eventually(
        Duration::from_secs(30),
        "replicas reverted to 2",
        || async { Ok((replicas(&caravel, &dest).await? == Some(2)).then_some(())) },
    )
    .await?;
    caravel
        .wait_app("healed", Duration::from_secs(20), "Synced again", |a| {
            sync_status(a) == "Synced"
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_self_heal_drift_is_reported_and_not_reverted() -> Result<()> {
    let caravel = Caravel::start("noheal").await?;
    let (_repo, dest) = synced_app(
        &caravel,
        "drifted",
        json!({"automated": {"prune": true, "selfHeal": false}}),
    )
    .await?;
    scale_by_hand(&caravel, &dest, 5).await?;
    caravel
        .wait_app(
            "drifted",
            Duration::from_secs(20),
            "OutOfSync on the Deployment",
            |a| {
                sync_status(a) == "OutOfSync"
                    && a.status
                        .as_ref()
                        .and_then(|s| s.resources.as_ref())
                        .is_some_and(|rs| {
                            rs.iter().any(|r| {
                                r.kind == "Deployment" && r.status.as_deref() == Some("OutOfSync")
                            })
                        })
            },
        )
        .await?;
    // Two more resync periods: still drifted, still not reverted.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(replicas(&caravel, &dest).await?, Some(5));
    let app = caravel.apps().get("drifted").await?;
    assert_eq!(sync_status(&app), "OutOfSync");
    assert_eq!(history_len(&app), 1, "no sync ran");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_defaulted_fields_never_make_an_app_out_of_sync() -> Result<()> {
    let caravel = Caravel::start("defaults").await?;
    let (_repo, dest) =
        synced_app(&caravel, "defaults", json!({"automated": {"prune": true}})).await?;
    // The live objects do carry server defaults the manifests leave out.
    let dep = Api::<Deployment>::namespaced(caravel.client.clone(), &dest)
        .get("guestbook-ui")
        .await?;
    let spec = dep.spec.unwrap_or_default();
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("RollingUpdate")
    );
    let container = &spec.template.spec.unwrap_or_default().containers[0];
    assert_eq!(container.image_pull_policy.as_deref(), Some("IfNotPresent"));
    let svc = Api::<Service>::namespaced(caravel.client.clone(), &dest)
        .get("guestbook-ui")
        .await?;
    assert!(svc
        .spec
        .and_then(|s| s.cluster_ip)
        .is_some_and(|ip| !ip.is_empty()));

    // Hard refreshes and periodic refreshes keep the app Synced.
    for _ in 0..3 {
        caravel.refresh("defaults", "hard").await?;
        let app = caravel
            .wait_app("defaults", Duration::from_secs(20), "refresh done", |a| {
                !a.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|m| m.contains_key("argocd.argoproj.io/refresh"))
            })
            .await?;
        assert_eq!(
            sync_status(&app),
            "Synced",
            "{:?}",
            app.status.as_ref().map(|s| &s.resources)
        );
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let app = caravel.apps().get("defaults").await?;
    assert_eq!(sync_status(&app), "Synced");
    assert_eq!(history_len(&app), 1, "no further sync was needed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_and_a_crd_from_git_are_usable_in_the_same_sync() -> Result<()> {
    let caravel = Caravel::start("samesync").await?;
    let ns = format!("{}-made", caravel.app_ns);
    let group = format!("{}.caravel.test", caravel.app_ns);
    let files = vec![
        ("app/ns.yaml", format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")),
        ("app/cm.yaml", format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: {ns}\ndata:\n  k: v\n")),
        ("app/crd.yaml", format!("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n")),
        ("app/gadget.yaml", format!("apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g1\n  namespace: {ns}\nspec:\n  size: 1\n")),
    ];
    caravel.manual_app("samesync", "app", files).await?;
    caravel
        .request_sync("samesync", json!({"sync": {}}))
        .await?;
    caravel
        .wait_app(
            "samesync",
            Duration::from_secs(60),
            "the sync to succeed",
            |a| operation_phase(a) == "Succeeded" && a.operation.is_none(),
        )
        .await?;
    let cms = Api::<ConfigMap>::namespaced(caravel.client.clone(), &ns);
    assert!(cms.get_opt("inside").await?.is_some());
    let gadgets: Api<kube::api::DynamicObject> = Api::namespaced_with(
        caravel.client.clone(),
        &ns,
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            &group, "v1", "Gadget",
        )),
    );
    assert!(gadgets.get_opt("g1").await?.is_some());
    caravel
        .wait_app("samesync", Duration::from_secs(30), "Synced", |a| {
            sync_status(a) == "Synced"
        })
        .await?;
    Ok(())
}
