//! Input validation for every request, before anything reaches Kubernetes.
//! Names follow Kubernetes' rules (DNS-1123), so a bad name is answered as
//! InvalidArgument rather than as whatever the API server makes of it.

use std::time::Duration;

use caravel_proto::application::v1::{RetryStrategy, SyncResourceSelector};

use crate::error::Error;

const MAX_SUBDOMAIN: usize = 253;
const MAX_LABEL: usize = 63;
const MAX_REVISION: usize = 1024;
const MAX_SELECTOR: usize = 4096;
const MAX_SYNC_OPTION: usize = 256;

/// How hard a refresh is: Argo CD's `argocd.argoproj.io/refresh` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshType {
    Normal,
    Hard,
}

impl RefreshType {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshType::Normal => "normal",
            RefreshType::Hard => "hard",
        }
    }
}

/// An Application name: required, a DNS-1123 subdomain.
pub fn app_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidArgument(
            "application name is required".to_owned(),
        ));
    }
    if !is_dns1123_subdomain(name) {
        return Err(Error::InvalidArgument(format!(
            "invalid application name {}: {SUBDOMAIN_RULE}",
            quoted(name)
        )));
    }
    Ok(())
}

/// The namespace a request names, or `default` when it names none.
pub fn app_namespace<'a>(requested: &'a str, default: &'a str) -> Result<&'a str, Error> {
    if requested.is_empty() {
        return Ok(default);
    }
    if !is_dns1123_label(requested) {
        return Err(Error::InvalidArgument(format!(
            "invalid application namespace {}: must be a lowercase RFC 1123 label (at most 63 characters)",
            quoted(requested)
        )));
    }
    Ok(requested)
}

/// Project names of a filter: each a DNS-1123 subdomain.
pub fn projects(projects: &[String]) -> Result<(), Error> {
    for project in projects {
        if !is_dns1123_subdomain(project) {
            return Err(Error::InvalidArgument(format!(
                "invalid project name {}: {SUBDOMAIN_RULE}",
                quoted(project)
            )));
        }
    }
    Ok(())
}

/// A label selector; its syntax is checked by Kubernetes (400 → InvalidArgument).
pub fn label_selector(selector: &str) -> Result<(), Error> {
    if selector.len() > MAX_SELECTOR || selector.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(
            "invalid label selector: too long or contains control characters".to_owned(),
        ));
    }
    Ok(())
}

/// `""` (no refresh), `normal` or `hard`.
pub fn refresh(value: &str) -> Result<Option<RefreshType>, Error> {
    match value {
        "" => Ok(None),
        "normal" => Ok(Some(RefreshType::Normal)),
        "hard" => Ok(Some(RefreshType::Hard)),
        other => Err(Error::InvalidArgument(format!(
            "invalid refresh type {}: use \"normal\" or \"hard\"",
            quoted(other)
        ))),
    }
}

/// A Git revision (branch, tag, commit, or a Helm chart version).
pub fn revision(revision: &str) -> Result<(), Error> {
    if revision.len() > MAX_REVISION
        || revision
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::InvalidArgument(format!(
            "invalid revision {}: must be at most {MAX_REVISION} characters without whitespace",
            quoted(revision)
        )));
    }
    Ok(())
}

/// A sync option such as `Prune=false` or `ServerSideApply=true`.
pub fn sync_option(option: &str) -> Result<(), Error> {
    let valid = option.len() <= MAX_SYNC_OPTION
        && !option.chars().any(char::is_control)
        && option.split_once('=').is_some_and(|(key, value)| {
            !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric())
                && !value.trim().is_empty()
        });
    if !valid {
        return Err(Error::InvalidArgument(format!(
            "invalid sync option {}: expected Name=value, e.g. Prune=false",
            quoted(option)
        )));
    }
    Ok(())
}

/// A resource selected for a partial sync: kind and name required.
pub fn sync_resource(r: &SyncResourceSelector) -> Result<(), Error> {
    let describe = || {
        format!(
            "{}:{}:{}",
            quoted(&r.group),
            quoted(&r.kind),
            quoted(&r.name)
        )
    };
    if r.kind.is_empty() || r.name.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "invalid sync resource {}: kind and name are required",
            describe()
        )));
    }
    let group_ok = r.group.is_empty() || is_dns1123_subdomain(&r.group);
    let kind_ok = r.kind.len() <= MAX_LABEL && r.kind.chars().all(|c| c.is_ascii_alphanumeric());
    // Object names are subdomains for most kinds, but some (RBAC) allow ':'.
    let name_ok = r.name.len() <= MAX_SUBDOMAIN
        && r.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'));
    let namespace_ok = r.namespace.is_empty() || is_dns1123_label(&r.namespace);
    if !(group_ok && kind_ok && name_ok && namespace_ok) {
        return Err(Error::InvalidArgument(format!(
            "invalid sync resource {} in namespace {}",
            describe(),
            quoted(&r.namespace)
        )));
    }
    Ok(())
}

/// A retry strategy: limit -1 (forever) or more, Go durations, factor ≥ 1.
pub fn retry_strategy(retry: &RetryStrategy) -> Result<(), Error> {
    if retry.limit < -1 {
        return Err(Error::InvalidArgument(format!(
            "invalid retry limit {}: use -1 to retry forever, 0 for no retries, or a positive count",
            retry.limit
        )));
    }
    let Some(backoff) = &retry.backoff else {
        return Ok(());
    };
    for (field, value) in [
        ("backoff duration", &backoff.duration),
        ("backoff max duration", &backoff.max_duration),
    ] {
        if !value.is_empty() && duration(value).is_none() {
            return Err(Error::InvalidArgument(format!(
                "invalid retry {field} {}: expected a duration such as 5s, 2m or 1h30m (or plain seconds)",
                quoted(value)
            )));
        }
    }
    if let Some(factor) = backoff.factor.filter(|f| *f < 1) {
        return Err(Error::InvalidArgument(format!(
            "invalid retry backoff factor {factor}: must be at least 1"
        )));
    }
    Ok(())
}

/// Parses a duration as Argo CD reads `backoff.duration`: plain seconds
/// ("30") or a Go duration ("5s", "1m30s", "1.5h", "500ms"); negative
/// durations are refused.
pub fn duration(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds_per_unit = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            // Go requires a unit on every number except a lone "0".
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * seconds_per_unit;
        rest = next;
    }
    Duration::try_from_secs_f64(total).ok()
}

const SUBDOMAIN_RULE: &str = "must be a lowercase RFC 1123 subdomain (letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)";

/// Kubernetes' `IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBDOMAIN && s.split('.').all(is_label_chars)
}

/// Kubernetes' `IsDNS1123Label`.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= MAX_LABEL && is_label_chars(s)
}

fn is_label_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            is_lower_alnum(*first)
                && is_lower_alnum(*last)
                && bytes.iter().all(|b| is_lower_alnum(*b) || *b == b'-')
        }
        _ => false,
    }
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Echoes user input in an error, bounded and escaped.
fn quoted(s: &str) -> String {
    const MAX_ECHO: usize = 64;
    if s.chars().count() > MAX_ECHO {
        let head: String = s.chars().take(MAX_ECHO).collect();
        format!("{head:?}…")
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_subdomains_are_lowercase_dotted_labels() {
        for ok in ["a", "guestbook", "my-app.v2", "0app", "a.b.c"] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        let too_long = "a".repeat(254);
        for bad in [
            "",
            "App",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a_b",
            "a/b",
            "a b",
            too_long.as_str(),
        ] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn an_empty_or_invalid_application_name_is_rejected() {
        assert!(
            matches!(app_name(""), Err(Error::InvalidArgument(m)) if m == "application name is required")
        );
        assert!(
            matches!(app_name("../etc"), Err(Error::InvalidArgument(m)) if m.starts_with("invalid application name \"../etc\""))
        );
        assert!(app_name("guestbook").is_ok());
    }

    #[test]
    fn the_default_namespace_applies_when_a_request_names_none() -> anyhow::Result<()> {
        assert_eq!(app_namespace("", "argocd")?, "argocd");
        assert_eq!(app_namespace("team-a", "argocd")?, "team-a");
        assert!(app_namespace("Team.A", "argocd").is_err());
        assert!(app_namespace(&"a".repeat(64), "argocd").is_err());
        Ok(())
    }

    #[test]
    fn refresh_accepts_normal_and_hard_only() -> anyhow::Result<()> {
        assert_eq!(refresh("")?, None);
        assert_eq!(refresh("normal")?, Some(RefreshType::Normal));
        assert_eq!(refresh("hard")?, Some(RefreshType::Hard));
        assert!(refresh("HARD").is_err());
        Ok(())
    }

    #[test]
    fn sync_options_must_be_name_equals_value() {
        for ok in [
            "Prune=false",
            "ServerSideApply=true",
            "PrunePropagationPolicy=orphan",
        ] {
            assert!(sync_option(ok).is_ok(), "{ok}");
        }
        for bad in ["Prune", "=true", "Prune=", "Pru ne=true", "A=\n"] {
            assert!(sync_option(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revisions_may_not_contain_whitespace() {
        assert!(revision("main").is_ok());
        assert!(revision("v1.2.3").is_ok());
        assert!(revision("").is_ok());
        assert!(revision("a b").is_err());
        assert!(revision(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn sync_resources_need_a_kind_and_a_name() {
        let r = |group: &str, kind: &str, name: &str, namespace: &str| SyncResourceSelector {
            group: group.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        };
        assert!(sync_resource(&r("apps", "Deployment", "web", "prod")).is_ok());
        assert!(sync_resource(&r("", "ConfigMap", "cfg", "")).is_ok());
        assert!(sync_resource(&r(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "system:x",
            ""
        ))
        .is_ok());
        assert!(sync_resource(&r("apps", "", "web", "")).is_err());
        assert!(sync_resource(&r("apps", "Deployment", "", "")).is_err());
        assert!(sync_resource(&r("Apps", "Deployment", "web", "")).is_err());
        assert!(sync_resource(&r("apps", "Deploy ment", "web", "")).is_err());
        assert!(sync_resource(&r("apps", "Deployment", "web/x", "")).is_err());
    }

    #[test]
    fn durations_are_go_durations_or_plain_seconds() {
        let cases = [
            ("5s", 5_000),
            ("3m", 180_000),
            ("3m0s", 180_000),
            ("1h30m", 5_400_000),
            ("1.5s", 1_500),
            ("500ms", 500),
            ("30", 30_000),
            ("0", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(
                duration(text).map(|d| d.as_millis()),
                Some(millis),
                "{text}"
            );
        }
        for bad in [
            "", "5x", "s", "-5s", "5 s", "1d", "1h-30m", ".s", "++5s", "1.2.3s",
        ] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_strategies_need_go_durations_and_a_factor_of_at_least_one() {
        use caravel_proto::application::v1::Backoff;
        let retry = |limit: i64, duration: &str, factor: Option<i64>, max: &str| RetryStrategy {
            limit,
            backoff: Some(Backoff {
                duration: duration.into(),
                factor,
                max_duration: max.into(),
            }),
        };
        assert!(retry_strategy(&retry(3, "5s", Some(2), "3m")).is_ok());
        assert!(retry_strategy(&retry(-1, "", None, "")).is_ok());
        assert!(retry_strategy(&RetryStrategy {
            limit: 2,
            backoff: None
        })
        .is_ok());
        assert!(matches!(
            retry_strategy(&retry(3, "5 seconds", None, "")),
            Err(Error::InvalidArgument(m)) if m.starts_with("invalid retry backoff duration \"5 seconds\": expected a duration")
        ));
        assert!(matches!(
            retry_strategy(&retry(3, "5s", None, "soon")),
            Err(Error::InvalidArgument(m)) if m.starts_with("invalid retry backoff max duration \"soon\"")
        ));
        assert!(matches!(
            retry_strategy(&retry(3, "5s", Some(0), "3m")),
            Err(Error::InvalidArgument(m)) if m == "invalid retry backoff factor 0: must be at least 1"
        ));
        assert!(retry_strategy(&retry(-2, "5s", Some(2), "3m")).is_err());
    }

    #[test]
    fn long_input_is_not_echoed_in_full() {
        let name = "X".repeat(1000);
        let Err(Error::InvalidArgument(message)) = app_name(&name) else {
            panic!("expected an invalid argument");
        };
        assert!(message.len() < 400, "{message}");
    }
}
