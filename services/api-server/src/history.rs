//! `History`: `status.history` of an Application as `RevisionHistory`
//! entries, oldest first and newest last, as Argo CD stores them.

use caravel_proto::application::v1::RevisionHistory;
use serde_json::Value;

/// Reads the history from the Application's JSON. Entries are read field
/// by field, so one odd entry does not hide the others.
pub fn history(app: &Value) -> Vec<RevisionHistory> {
    app.pointer("/status/history")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().map(entry).collect())
        .unwrap_or_default()
}

fn entry(h: &Value) -> RevisionHistory {
    let text = |key: &str| {
        h.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let revision = match h.get("revision").and_then(Value::as_str) {
        Some(r) if !r.is_empty() => r.to_owned(),
        _ => h
            .get("revisions")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
    };
    let source_json = h
        .get("source")
        .or_else(|| h.get("sources"))
        .filter(|s| !s.is_null())
        .map(Value::to_string)
        .unwrap_or_default();
    let initiated_by = match h.get("initiatedBy") {
        Some(by) => match by.get("username").and_then(Value::as_str) {
            Some(user) if !user.is_empty() => user.to_owned(),
            _ if by.get("automated").and_then(Value::as_bool) == Some(true) => {
                "automated".to_owned()
            }
            _ => String::new(),
        },
        None => String::new(),
    };
    RevisionHistory {
        id: h.get("id").and_then(Value::as_i64).unwrap_or_default(),
        revision,
        deployed_at: text("deployedAt"),
        deploy_started_at: text("deployStartedAt"),
        source_json,
        initiated_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn history_keeps_argo_cd_order_with_the_newest_last() {
        let app = json!({"status": {"history": [
            {"id": 0, "revision": "aaa", "deployedAt": "2024-01-01T00:00:00Z",
             "deployStartedAt": "2024-01-01T00:00:00Z",
             "source": {"repoURL": "https://example.com/r.git", "targetRevision": "main"},
             "initiatedBy": {"username": "admin"}},
            {"id": 1, "revisions": ["bbb", "ccc"], "deployedAt": "2024-01-02T00:00:00Z",
             "initiatedBy": {"automated": true}}
        ]}});
        let h = history(&app);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].id, 0);
        assert_eq!(h[0].revision, "aaa");
        assert_eq!(h[0].deploy_started_at, "2024-01-01T00:00:00Z");
        assert_eq!(
            serde_json::from_str::<Value>(&h[0].source_json).ok(),
            Some(json!({"repoURL": "https://example.com/r.git", "targetRevision": "main"}))
        );
        assert_eq!(h[0].initiated_by, "admin");
        assert_eq!(h[1].id, 1);
        assert_eq!(h[1].revision, "bbb,ccc");
        assert_eq!(h[1].initiated_by, "automated");
        assert_eq!(h[1].source_json, "");
    }

    #[test]
    fn an_app_without_status_has_no_history() {
        assert!(history(&json!({"spec": {}})).is_empty());
    }
}
