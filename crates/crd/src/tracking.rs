//! Argo CD's annotation tracking id:
//! `<app>:<group>/<kind>:<namespace>/<name>`.

use std::fmt;

/// The identity a tracking id records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrackingId {
    pub app: String,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl TrackingId {
    /// Parses a tracking id; `None` when it is not one.
    pub fn parse(value: &str) -> Option<Self> {
        let (app, rest) = value.split_once(':')?;
        let (gk, nn) = rest.split_once(':')?;
        let (group, kind) = gk.split_once('/')?;
        let (namespace, name) = nn.split_once('/')?;
        if app.is_empty() || kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            app: app.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Whether this id was written for the object with this identity; a
    /// tracking annotation copied onto another object does not match.
    pub fn matches(&self, group: &str, kind: &str, namespace: &str, name: &str) -> bool {
        self.group == group && self.kind == kind && self.namespace == namespace && self.name == name
    }
}

impl fmt::Display for TrackingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}:{}/{}",
            self.app, self.group, self.kind, self.namespace, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_id_round_trips_through_its_string_form() {
        let id = TrackingId {
            app: "guestbook".into(),
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "default".into(),
            name: "web".into(),
        };
        let s = id.to_string();
        assert_eq!(s, "guestbook:apps/Deployment:default/web");
        assert_eq!(TrackingId::parse(&s), Some(id));
    }

    #[test]
    fn core_group_and_cluster_scope_leave_parts_empty() {
        let id = TrackingId::parse("app:/Namespace:/prod").unwrap_or_else(|| panic!("parse"));
        assert_eq!(id.group, "");
        assert_eq!(id.namespace, "");
        assert!(id.matches("", "Namespace", "", "prod"));
        assert!(!id.matches("", "Namespace", "", "staging"));
    }

    #[test]
    fn malformed_tracking_ids_are_rejected() {
        for bad in [
            "",
            "app",
            "app:kind",
            ":apps/Deployment:ns/name",
            "app:apps/:ns/x",
        ] {
            assert_eq!(TrackingId::parse(bad), None, "{bad}");
        }
    }
}
