//! An application's health from its resources' healths.

use crate::code::{Health, HealthCode};

/// How many culprits the message names before it says "and N more".
const MAX_NAMED: usize = 5;

/// The application's health: the worst resource health (Healthy when there
/// are none). Unless that is Healthy, the message names every resource with
/// that worst status, with its own message: `"Deployment/ns/web: Waiting for
/// rollout to finish: …; Pod/ns/db-0"`.
///
/// Every item counts; the caller decides what to leave out (hooks, resources
/// annotated `argocd.argoproj.io/ignore-healthcheck`, an app managing itself).
pub fn aggregate<'a>(items: impl IntoIterator<Item = (&'a str, &'a Health)>) -> Health {
    let mut worst = HealthCode::Healthy;
    let mut culprits: Vec<(&str, &Health)> = Vec::new();
    for (label, health) in items {
        if health.status > worst {
            worst = health.status;
            culprits.clear();
        }
        if health.status == worst && worst != HealthCode::Healthy {
            culprits.push((label, health));
        }
    }
    if worst == HealthCode::Healthy {
        return Health::healthy();
    }
    let mut parts: Vec<String> = culprits
        .iter()
        .take(MAX_NAMED)
        .map(|(label, health)| match &health.message {
            Some(message) => format!("{label}: {message}"),
            None => (*label).to_owned(),
        })
        .collect();
    if culprits.len() > MAX_NAMED {
        parts.push(format!("and {} more", culprits.len() - MAX_NAMED));
    }
    Health::new(worst, parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_without_resources_is_healthy() {
        assert_eq!(aggregate([]), Health::healthy());
    }

    #[test]
    fn an_app_of_healthy_resources_is_healthy_without_a_message() {
        let h = Health::new(HealthCode::Healthy, "fine");
        assert_eq!(
            aggregate([("ConfigMap/ns/a", &h), ("Service/ns/b", &h)]),
            Health::healthy()
        );
    }

    #[test]
    fn the_worst_resource_decides_and_is_named_in_the_message() {
        let ok = Health::healthy();
        let rolling = Health::new(
            HealthCode::Progressing,
            "Waiting for rollout to finish: 1 of 2 updated replicas are available...",
        );
        let suspended = Health::of(HealthCode::Suspended);
        let app = aggregate([
            ("Service/ns/web", &ok),
            ("Deployment/ns/web", &rolling),
            ("CronJob/ns/c", &suspended),
        ]);
        assert_eq!(app.status, HealthCode::Progressing);
        assert_eq!(
            app.message.as_deref(),
            Some("Deployment/ns/web: Waiting for rollout to finish: 1 of 2 updated replicas are available...")
        );
    }

    #[test]
    fn every_resource_sharing_the_worst_status_is_named() {
        let crash = Health::new(HealthCode::Degraded, "back-off restarting failed container");
        let lost = Health::of(HealthCode::Degraded);
        let rolling = Health::of(HealthCode::Progressing);
        let app = aggregate([
            ("Pod/ns/a", &crash),
            ("Deployment/ns/d", &rolling),
            ("PersistentVolumeClaim/ns/p", &lost),
        ]);
        assert_eq!(app.status, HealthCode::Degraded);
        assert_eq!(
            app.message.as_deref(),
            Some("Pod/ns/a: back-off restarting failed container; PersistentVolumeClaim/ns/p")
        );
    }

    #[test]
    fn missing_is_worse_than_progressing_but_better_than_degraded() {
        let missing = Health::of(HealthCode::Missing);
        let rolling = Health::of(HealthCode::Progressing);
        let failed = Health::of(HealthCode::Degraded);
        assert_eq!(
            aggregate([("a", &rolling), ("b", &missing)]).status,
            HealthCode::Missing
        );
        assert_eq!(
            aggregate([("a", &failed), ("b", &missing)]).status,
            HealthCode::Degraded
        );
    }

    #[test]
    fn unknown_outranks_everything() {
        let unknown = Health::new(
            HealthCode::Unknown,
            "failed to convert conditions annotation",
        );
        let failed = Health::of(HealthCode::Degraded);
        assert_eq!(
            aggregate([("a", &failed), ("b", &unknown)]).status,
            HealthCode::Unknown
        );
    }

    #[test]
    fn a_long_list_of_culprits_is_cut_short() {
        let failed = Health::of(HealthCode::Degraded);
        let labels: Vec<String> = (0..8).map(|i| format!("Pod/ns/p{i}")).collect();
        let app = aggregate(labels.iter().map(|l| (l.as_str(), &failed)));
        assert_eq!(
            app.message.as_deref(),
            Some("Pod/ns/p0; Pod/ns/p1; Pod/ns/p2; Pod/ns/p3; Pod/ns/p4; and 3 more")
        );
    }
}
