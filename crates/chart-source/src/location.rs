//! Where a chart lives: an HTTP chart repository or an OCI repository,
//! parsed from Argo CD's `repoURL` + `chart`, plus URL redaction.

use reqwest::Url;

use crate::credentials::RepoCredentials;
use crate::error::Error;

/// A parsed chart location. URLs here never hold userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChartLocation {
    /// A classic chart repository serving `index.yaml`.
    Http { repo: Url, chart: String },
    /// An OCI registry repository holding one chart's versions as tags.
    Oci(OciRepository),
}

/// `oci://host[:port]/path/chart`, split for the distribution API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OciRepository {
    /// `http://host:port` or `https://host:port`, no path.
    pub base: Url,
    /// `host[:port]` as written.
    pub host: String,
    /// The repository name in the registry: `path/chart`.
    pub name: String,
}

impl OciRepository {
    /// `oci://host/name`, for messages (holds no secret).
    pub fn reference(&self) -> String {
        format!("oci://{}/{}", self.host, self.name)
    }

    /// `<base>/v2/<name>/<suffix>`.
    pub fn endpoint(&self, suffix: &str) -> Result<Url, Error> {
        self.base
            .join(&format!("/v2/{}/{suffix}", self.name))
            .map_err(|e| Error::InvalidRepoUrl {
                url: self.reference(),
                reason: e.to_string(),
            })
    }
}

/// Userinfo found in the repository URL: used as credentials when the
/// repository has none of its own, then dropped from the URL.
#[derive(Clone, Default)]
pub(crate) struct EmbeddedCredentials {
    pub username: String,
    pub password: String,
}

impl ChartLocation {
    /// Parses `repo_url` and `chart` as Argo CD reads them: `oci://` (or a
    /// scheme-less URL with `enableOCI`) is a registry whose repository is
    /// `<path>/<chart>`; `http(s)://` is a chart repository.
    pub fn parse(
        repo_url: &str,
        chart: &str,
        credentials: &RepoCredentials,
    ) -> Result<(Self, EmbeddedCredentials), Error> {
        let trimmed = repo_url.trim();
        let invalid = |reason: &str| Error::InvalidRepoUrl {
            url: redact_str(trimmed),
            reason: reason.to_owned(),
        };
        if trimmed.is_empty() {
            return Err(invalid("the URL is empty"));
        }
        let chart = chart.trim();
        let is_oci =
            trimmed.starts_with("oci://") || (credentials.enable_oci && !trimmed.contains("://"));
        if is_oci {
            let rest = trimmed.strip_prefix("oci://").unwrap_or(trimmed);
            let scheme = if credentials.plain_http {
                "http"
            } else {
                "https"
            };
            let mut url =
                Url::parse(&format!("{scheme}://{rest}")).map_err(|e| invalid(&e.to_string()))?;
            let embedded = take_userinfo(&mut url);
            if url.query().is_some() || url.fragment().is_some() {
                return Err(invalid("an OCI reference has no query or fragment"));
            }
            let host = match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_owned(),
                (None, _) => return Err(invalid("the URL has no host")),
            };
            let mut name = url.path().trim_matches('/').to_owned();
            if !chart.is_empty() {
                check_chart_name(chart)?;
                if !name.is_empty() {
                    name.push('/');
                }
                name.push_str(chart);
            }
            check_oci_name(&name).map_err(|reason| invalid(&reason))?;
            let mut base = url.clone();
            base.set_path("/");
            return Ok((
                ChartLocation::Oci(OciRepository { base, host, name }),
                embedded,
            ));
        }
        let mut url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(invalid(
                "the scheme must be http, https or oci (or enable OCI for a scheme-less registry URL)",
            ));
        }
        if url.host_str().is_none() {
            return Err(invalid("the URL has no host"));
        }
        let embedded = take_userinfo(&mut url);
        url.set_fragment(None);
        check_chart_name(chart)?;
        Ok((
            ChartLocation::Http {
                repo: url,
                chart: chart.to_owned(),
            },
            embedded,
        ))
    }
}

fn take_userinfo(url: &mut Url) -> EmbeddedCredentials {
    let embedded = EmbeddedCredentials {
        username: percent_decode(url.username()),
        password: url.password().map(percent_decode).unwrap_or_default(),
    };
    // Both calls only fail for URLs that cannot have userinfo, which then
    // have none to remove.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    embedded
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn check_chart_name(chart: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Error::InvalidChartName {
        name: chart.to_owned(),
        reason: reason.to_owned(),
    };
    if chart.is_empty() {
        return Err(invalid("the chart name is empty"));
    }
    if chart.contains('/') || chart == "." || chart == ".." {
        return Err(invalid("a chart name is a single path segment"));
    }
    if chart.chars().any(char::is_control) {
        return Err(invalid("the chart name contains control characters"));
    }
    Ok(())
}

/// The distribution spec's repository name grammar: lowercase path
/// components of alphanumerics joined by `.`, `_`, `__` or dashes. A tag or
/// digest in the reference is rejected: the version belongs in
/// `targetRevision`.
fn check_oci_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the reference names no repository".to_owned());
    }
    if name.contains(':') || name.contains('@') {
        return Err("put the chart version in targetRevision, not in the reference".to_owned());
    }
    for component in name.split('/') {
        let valid = !component.is_empty()
            && component
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && component
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && component
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(format!(
                "repository path component {component:?} must be lowercase letters and digits joined by '.', '_' or '-'"
            ));
        }
    }
    Ok(())
}

/// A URL for messages: no userinfo, and the query (which may carry a
/// signed token) replaced by a marker.
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    let had_query = shown.query().is_some();
    shown.set_query(None);
    let mut text = shown.to_string();
    if had_query {
        text.push_str("?<redacted>");
    }
    text
}

/// [`redact`] for text that may not parse as a URL.
pub(crate) fn redact_str(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => redact(&parsed),
        Err(_) => match url.rsplit_once('@') {
            // `oci://user:pass@host/...` without a parseable shape: keep
            // only what follows the userinfo.
            Some((_, host_and_path)) => format!("<redacted>@{host_and_path}"),
            None => url.to_owned(),
        },
    }
}

/// `<repo>/index.yaml`, keeping the repository's query (Helm joins the
/// path and keeps the query).
pub(crate) fn index_url(repo: &Url) -> Url {
    let mut url = repo.clone();
    let path = format!("{}/index.yaml", repo.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// An archive URL from the index resolved against the repository as
/// Helm's `ResolveReferenceURL` does: absolute URLs stay; relative ones
/// resolve against the repository URL with a trailing slash and get the
/// repository's query.
pub(crate) fn archive_url(repo: &Url, reference: &str) -> Result<Url, String> {
    if let Ok(absolute) = Url::parse(reference) {
        return Ok(absolute);
    }
    let mut base = repo.clone();
    let path = format!("{}/", repo.path().trim_end_matches('/'));
    base.set_path(&path);
    let mut resolved = base.join(reference).map_err(|e| e.to_string())?;
    resolved.set_query(repo.query());
    Ok(resolved)
}

/// Whether two URLs share scheme, host and port (where Helm sends a
/// repository's credentials without `--pass-credentials`).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(url: &str, chart: &str) -> Result<ChartLocation, Error> {
        ChartLocation::parse(url, chart, &RepoCredentials::default()).map(|(l, _)| l)
    }

    #[test]
    fn http_repository_keeps_path_and_query_but_drops_userinfo() {
        let (location, embedded) = ChartLocation::parse(
            "https://bob:p%40ss@charts.example.com/stable/?token=x",
            "nginx",
            &RepoCredentials::default(),
        )
        .unwrap();
        let ChartLocation::Http { repo, chart } = location else {
            panic!("not http")
        };
        assert_eq!(repo.as_str(), "https://charts.example.com/stable/?token=x");
        assert_eq!(chart, "nginx");
        assert_eq!(embedded.username, "bob");
        assert_eq!(embedded.password, "p@ss");
        assert_eq!(
            index_url(&repo).as_str(),
            "https://charts.example.com/stable/index.yaml?token=x"
        );
    }

    #[test]
    fn oci_reference_appends_the_chart_to_the_repository_path() {
        let ChartLocation::Oci(oci) = parse("oci://localhost:5000/charts", "demo").unwrap() else {
            panic!("not oci")
        };
        assert_eq!(oci.name, "charts/demo");
        assert_eq!(oci.host, "localhost:5000");
        assert_eq!(oci.base.as_str(), "https://localhost:5000/");
        assert_eq!(
            oci.endpoint("tags/list").unwrap().as_str(),
            "https://localhost:5000/v2/charts/demo/tags/list"
        );
        assert_eq!(oci.reference(), "oci://localhost:5000/charts/demo");

        let ChartLocation::Oci(full) = parse("oci://ghcr.io/org/charts/demo", "").unwrap() else {
            panic!("not oci")
        };
        assert_eq!(full.name, "org/charts/demo");
    }

    #[test]
    fn scheme_less_url_is_oci_when_enabled_and_plain_http_switches_scheme() {
        let credentials = RepoCredentials {
            enable_oci: true,
            plain_http: true,
            ..RepoCredentials::default()
        };
        let (location, _) =
            ChartLocation::parse("127.0.0.1:5000/charts", "demo", &credentials).unwrap();
        let ChartLocation::Oci(oci) = location else {
            panic!("not oci")
        };
        assert_eq!(oci.base.as_str(), "http://127.0.0.1:5000/");
        assert!(parse("127.0.0.1:5000/charts", "demo").is_err());
    }

    #[test]
    fn bad_references_are_rejected_with_reasons() {
        let message = parse("oci://host/charts/demo:1.2.3", "")
            .unwrap_err()
            .to_string();
        assert!(message.contains("targetRevision"), "{message}");
        let message = parse("oci://host/Charts", "demo").unwrap_err().to_string();
        assert!(message.contains("lowercase"), "{message}");
        assert!(matches!(
            parse("https://host/charts", "a/b"),
            Err(Error::InvalidChartName { .. })
        ));
        assert!(matches!(
            parse("https://host/charts", ""),
            Err(Error::InvalidChartName { .. })
        ));
        assert!(matches!(
            parse("ftp://host/charts", "x"),
            Err(Error::InvalidRepoUrl { .. })
        ));
    }

    #[test]
    fn invalid_url_errors_do_not_echo_the_password() {
        let message = parse("https://user:hunter2@exa mple.com", "x")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn redaction_removes_userinfo_and_query() {
        let url = Url::parse("https://u:p@host/a/b.tgz?sig=abc").unwrap();
        assert_eq!(redact(&url), "https://host/a/b.tgz?<redacted>");
    }

    #[test]
    fn archive_urls_resolve_like_helm() {
        let repo = Url::parse("https://host/charts?k=v").unwrap();
        assert_eq!(
            archive_url(&repo, "demo-1.0.0.tgz").unwrap().as_str(),
            "https://host/charts/demo-1.0.0.tgz?k=v"
        );
        assert_eq!(
            archive_url(&repo, "sub/demo-1.0.0.tgz").unwrap().as_str(),
            "https://host/charts/sub/demo-1.0.0.tgz?k=v"
        );
        assert_eq!(
            archive_url(&repo, "https://cdn.example.com/x.tgz")
                .unwrap()
                .as_str(),
            "https://cdn.example.com/x.tgz"
        );
        assert_eq!(
            archive_url(&repo, "/abs/x.tgz").unwrap().as_str(),
            "https://host/abs/x.tgz?k=v"
        );
    }

    #[test]
    fn same_origin_compares_scheme_host_and_effective_port() {
        let a = Url::parse("https://host/a").unwrap();
        assert!(same_origin(&a, &Url::parse("https://host:443/b").unwrap()));
        assert!(!same_origin(&a, &Url::parse("http://host/b").unwrap()));
        assert!(!same_origin(&a, &Url::parse("https://other/b").unwrap()));
    }
}
