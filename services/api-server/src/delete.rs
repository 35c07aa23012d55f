//! Deleting an Application the way Argo CD's api-server does: a cascaded
//! delete first gives the app the resources finalizer of the requested
//! propagation policy (the controller then deletes the app's resources
//! before letting the app go); a non-cascaded delete first removes those
//! finalizers, so the resources stay. Then the app is deleted.

use caravel_crd::finalizers;
// Argo CD's explicit-foreground variant: Caravel writes the plain
// `finalizers::RESOURCES` for foreground (the same meaning), and removes
// this one like the others when it replaces or drops them.
use caravel_crd::finalizers::RESOURCES_FOREGROUND;
use caravel_proto::application::v1::ApplicationDeleteRequest;
use serde_json::{json, Value};

use crate::error::Error;
use crate::sync;

/// Every finalizer that asks for a cascaded delete.
const CASCADE_FINALIZERS: [&str; 3] = [
    finalizers::RESOURCES,
    RESOURCES_FOREGROUND,
    finalizers::RESOURCES_BACKGROUND,
];

/// What happens to the app's resources when the app is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cascade {
    /// Resources are deleted, dependents before owners (the default).
    Foreground,
    /// Resources are deleted; the cluster's garbage collector removes
    /// dependents afterwards.
    Background,
    /// Resources stay in the cluster.
    Orphan,
}

impl Cascade {
    /// The finalizer this mode needs on the app, if any.
    pub fn finalizer(self) -> Option<&'static str> {
        match self {
            Cascade::Foreground => Some(finalizers::RESOURCES),
            Cascade::Background => Some(finalizers::RESOURCES_BACKGROUND),
            Cascade::Orphan => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cascade::Foreground => "foreground",
            Cascade::Background => "background",
            Cascade::Orphan => "orphan",
        }
    }
}

/// The deletion mode a request asks for, with Argo CD's checks: no
/// propagation policy without cascade; the policy is `foreground` or
/// `background` (any case), foreground when empty.
pub fn cascade(req: &ApplicationDeleteRequest) -> Result<Cascade, Error> {
    let policy = req.propagation_policy.to_ascii_lowercase();
    if req.cascade == Some(false) {
        if !policy.is_empty() {
            return Err(Error::InvalidArgument(
                "cannot set propagation policy when cascading is disabled".to_owned(),
            ));
        }
        return Ok(Cascade::Orphan);
    }
    match policy.as_str() {
        "" | "foreground" => Ok(Cascade::Foreground),
        "background" => Ok(Cascade::Background),
        _ => Err(Error::InvalidArgument(format!(
            "invalid propagation policy {:?}: use \"foreground\" or \"background\"",
            req.propagation_policy.chars().take(64).collect::<String>()
        ))),
    }
}

/// The app's finalizers once `cascade` is applied: the other cascade
/// finalizers removed, this mode's finalizer present; other finalizers
/// keep their place.
pub fn finalizers_for(current: &[String], cascade: Cascade) -> Vec<String> {
    let wanted = cascade.finalizer();
    let mut out: Vec<String> = current
        .iter()
        .filter(|f| !CASCADE_FINALIZERS.contains(&f.as_str()) || Some(f.as_str()) == wanted)
        .cloned()
        .collect();
    if let Some(wanted) = wanted {
        if !out.iter().any(|f| f == wanted) {
            out.push(wanted.to_owned());
        }
    }
    out
}

/// The merge patch setting the app's finalizers for `cascade` (with the
/// app's `resourceVersion`), or `None` when they are right already. An app
/// that is being deleted can lose finalizers but gain none (Kubernetes
/// forbids it), so switching it to a cascaded delete is refused.
pub fn finalizers_patch(app: &Value, cascade: Cascade) -> Result<Option<Value>, Error> {
    let current: Vec<String> = app
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let wanted = finalizers_for(&current, cascade);
    if wanted == current {
        return Ok(None);
    }
    let deleting = app
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    if deleting && wanted.iter().any(|f| !current.contains(f)) {
        return Err(Error::FailedPrecondition(format!(
            "application is already being deleted; a {} cascaded delete can no longer be requested",
            cascade.as_str()
        )));
    }
    Ok(Some(sync::with_resource_version(
        app,
        json!({ "metadata": { "finalizers": wanted } }),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cascade: Option<bool>, policy: &str) -> ApplicationDeleteRequest {
        ApplicationDeleteRequest {
            name: "guestbook".into(),
            cascade,
            propagation_policy: policy.into(),
            ..Default::default()
        }
    }

    fn app(finalizers: &[&str]) -> Value {
        json!({"metadata": {"name": "guestbook", "resourceVersion": "7", "finalizers": finalizers}})
    }

    #[test]
    fn cascade_defaults_to_foreground_and_policies_ignore_case() -> Result<(), Error> {
        assert_eq!(cascade(&request(None, ""))?, Cascade::Foreground);
        assert_eq!(
            cascade(&request(Some(true), "Foreground"))?,
            Cascade::Foreground
        );
        assert_eq!(cascade(&request(None, "background"))?, Cascade::Background);
        assert_eq!(cascade(&request(Some(false), ""))?, Cascade::Orphan);
        Ok(())
    }

    #[test]
    fn a_policy_without_cascade_or_an_unknown_policy_is_invalid() {
        assert!(matches!(
            cascade(&request(Some(false), "background")),
            Err(Error::InvalidArgument(m)) if m == "cannot set propagation policy when cascading is disabled"
        ));
        assert!(matches!(
            cascade(&request(None, "orphan")),
            Err(Error::InvalidArgument(m)) if m.starts_with("invalid propagation policy \"orphan\"")
        ));
    }

    #[test]
    fn a_cascaded_delete_sets_its_finalizer_and_replaces_the_other_variant() -> Result<(), Error> {
        let patch = finalizers_patch(&app(&[]), Cascade::Foreground)?;
        assert_eq!(
            patch,
            Some(
                json!({"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io"],
                                     "resourceVersion": "7"}})
            )
        );
        let patch = finalizers_patch(
            &app(&["example.com/keep", "resources-finalizer.argocd.argoproj.io"]),
            Cascade::Background,
        )?;
        assert_eq!(
            patch.map(|p| p["metadata"]["finalizers"].clone()),
            Some(json!([
                "example.com/keep",
                "resources-finalizer.argocd.argoproj.io/background"
            ]))
        );
        assert_eq!(
            finalizers_for(
                &["resources-finalizer.argocd.argoproj.io/foreground".to_owned()],
                Cascade::Foreground
            ),
            vec!["resources-finalizer.argocd.argoproj.io".to_owned()]
        );
        Ok(())
    }

    #[test]
    fn nothing_is_patched_when_the_finalizers_are_right_already() -> Result<(), Error> {
        let ready = app(&["resources-finalizer.argocd.argoproj.io/background"]);
        assert_eq!(finalizers_patch(&ready, Cascade::Background)?, None);
        assert_eq!(finalizers_patch(&app(&["x/y"]), Cascade::Orphan)?, None);
        Ok(())
    }

    #[test]
    fn a_non_cascaded_delete_removes_every_resources_finalizer() -> Result<(), Error> {
        let patch = finalizers_patch(
            &app(&[
                "resources-finalizer.argocd.argoproj.io",
                "x/y",
                "resources-finalizer.argocd.argoproj.io/background",
            ]),
            Cascade::Orphan,
        )?;
        assert_eq!(
            patch.map(|p| p["metadata"]["finalizers"].clone()),
            Some(json!(["x/y"]))
        );
        Ok(())
    }

    #[test]
    fn an_app_being_deleted_can_drop_but_not_gain_the_finalizer() -> Result<(), Error> {
        let mut deleting = app(&["resources-finalizer.argocd.argoproj.io"]);
        deleting["metadata"]["deletionTimestamp"] = json!("2024-05-01T10:00:00Z");
        assert!(finalizers_patch(&deleting, Cascade::Orphan)?.is_some());
        assert_eq!(finalizers_patch(&deleting, Cascade::Foreground)?, None);
        assert!(matches!(
            finalizers_patch(&deleting, Cascade::Background),
            Err(Error::FailedPrecondition(_))
        ));
        Ok(())
    }
}
