//! Picking a chart version for `targetRevision`, as Helm and Argo CD do:
//! an exact entry wins, else the highest version satisfying the
//! constraint; empty or `*` means the latest stable version (prereleases
//! only match a constraint that names one).

use caravel_semver::Version;

use crate::error::Error;

/// Versions listed in a "not found" message at most.
const SHOWN_VERSIONS: usize = 20;

/// The version to fetch among `available` (index entries or tags), or a
/// clear error naming what exists.
pub(crate) fn pick_version<'a>(
    chart: &str,
    repo: &str,
    revision: &str,
    available: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<&'a str, Error> {
    let revision = revision.trim();
    let picked = caravel_semver::highest_matching(revision, available.clone()).map_err(|e| {
        Error::InvalidRevision {
            revision: revision.to_owned(),
            reason: e.to_string(),
        }
    })?;
    picked.ok_or_else(|| Error::VersionNotFound {
        chart: chart.to_owned(),
        revision: revision.to_owned(),
        repo: repo.to_owned(),
        available: describe_available(available),
    })
}

/// Versions ascending, the newest [`SHOWN_VERSIONS`] of them.
fn describe_available<'a>(available: impl IntoIterator<Item = &'a str>) -> String {
    let mut versions: Vec<(Version, &str)> = available
        .into_iter()
        .filter_map(|text| Version::parse(text).ok().map(|v| (v, text)))
        .collect();
    if versions.is_empty() {
        return "none".to_owned();
    }
    versions.sort_by(|a, b| a.0.cmp(&b.0));
    let skipped = versions.len().saturating_sub(SHOWN_VERSIONS);
    let shown: Vec<&str> = versions[skipped..].iter().map(|(_, text)| *text).collect();
    let list = shown.join(", ");
    if skipped > 0 {
        format!("{list} (and {skipped} older)")
    } else {
        list
    }
}

/// Helm's OCI tag convention: `+` (not allowed in tags) is stored as `_`.
/// A tag counts only when it is a strict semantic version once mapped
/// back (Helm's `StrictNewVersion`: exactly the canonical form).
pub(crate) fn version_of_tag(tag: &str) -> Option<String> {
    let text = tag.replace('_', "+");
    let version = Version::parse(&text).ok()?;
    (version.to_string() == text).then_some(text)
}

/// The tag a version is stored under.
pub(crate) fn tag_of_version(version: &str) -> String {
    version.replace('+', "_")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const VERSIONS: [&str; 6] = ["1.0.0", "1.2.0", "1.2.3", "1.3.0", "2.0.0-rc.1", "v0.9"];

    fn pick(revision: &str) -> Result<&'static str, Error> {
        pick_version("demo", "https://charts.example.com", revision, VERSIONS)
    }

    #[test]
    fn wildcards_and_ranges_pick_the_highest_match() {
        assert_eq!(pick("1.2.*").unwrap(), "1.2.3");
        assert_eq!(pick(">=1.0 <1.3").unwrap(), "1.2.3");
        assert_eq!(pick("~1.2.0").unwrap(), "1.2.3");
        assert_eq!(pick("^1").unwrap(), "1.3.0");
    }

    #[test]
    fn latest_stable_skips_prereleases_unless_asked() {
        assert_eq!(pick("").unwrap(), "1.3.0");
        assert_eq!(pick("*").unwrap(), "1.3.0");
        assert_eq!(pick(">=2.0.0-0").unwrap(), "2.0.0-rc.1");
        assert_eq!(pick("2.0.0-rc.1").unwrap(), "2.0.0-rc.1");
    }

    #[test]
    fn exact_text_wins_even_when_not_canonical() {
        assert_eq!(pick("v0.9").unwrap(), "v0.9");
        assert_eq!(pick("1.2.0").unwrap(), "1.2.0");
    }

    #[test]
    fn a_miss_lists_what_exists() {
        let message = pick("3.x").unwrap_err().to_string();
        assert_eq!(
            message,
            "chart \"demo\" version \"3.x\" not found in https://charts.example.com: \
             available v0.9, 1.0.0, 1.2.0, 1.2.3, 1.3.0, 2.0.0-rc.1"
        );
        let none = pick_version("demo", "r", "1.0.0", [])
            .unwrap_err()
            .to_string();
        assert!(none.ends_with("available none"), "{none}");
    }

    #[test]
    fn long_version_lists_are_cut_to_the_newest() {
        let many: Vec<String> = (0..30).map(|minor| format!("1.{minor}.0")).collect();
        let message = pick_version("demo", "r", "9.9.9", many.iter().map(String::as_str))
            .unwrap_err()
            .to_string();
        assert!(message.contains("available 1.10.0, "), "{message}");
        assert!(message.ends_with("1.29.0 (and 10 older)"), "{message}");
    }

    #[test]
    fn an_unparseable_revision_is_an_error() {
        assert!(matches!(
            pick("not a range!"),
            Err(Error::InvalidRevision { .. })
        ));
    }

    #[test]
    fn tags_map_underscores_back_and_must_be_strict() {
        assert_eq!(
            version_of_tag("1.2.3_build.1").as_deref(),
            Some("1.2.3+build.1")
        );
        assert_eq!(version_of_tag("1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(version_of_tag("v1.2.3"), None);
        assert_eq!(version_of_tag("1.2"), None);
        assert_eq!(version_of_tag("latest"), None);
        assert_eq!(tag_of_version("1.2.3+build.1"), "1.2.3_build.1");
    }
}
