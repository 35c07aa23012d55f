//! Semantic versions and version constraints as Helm reads them: the rules
//! of Masterminds/semver v3, which Helm uses for chart versions, dependency
//! ranges, `kubeVersion` and Sprig's `semver`/`semverCompare`.
//!
//! [`Version::parse`] is Masterminds' lenient `NewVersion` (`v1.2` is
//! `1.2.0`); [`Constraints::parse`] reads ranges such as `^1.2`, `~1.2.3`,
//! `>= 1.2, < 2 || 3.x` and `1.2 - 1.4.5`; [`Constraints::matches`] is
//! `Check`, including the rule that a range only matches a prerelease
//! version when one of its comparisons names a prerelease.
//! [`highest_matching`] picks a version out of a repository index the way
//! Helm's `IndexFile.Get` does. Error texts are Masterminds' own, since
//! templates show them to users.

mod constraint;
mod version;

pub use constraint::Constraints;
pub use version::Version;

/// Why a version or a constraint does not parse (Masterminds' messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    /// The text is not a version at all.
    #[error("invalid semantic version")]
    InvalidSemVer,
    /// A numeric prerelease identifier has a leading zero (`1.2.3-01`).
    #[error("version segment starts with 0")]
    SegmentStartsZero,
    /// A major, minor or patch number does not fit in 64 bits.
    #[error("error parsing version segment: strconv.ParseUint: parsing {}: value out of range", go_quote(.0))]
    SegmentOutOfRange(String),
    /// One `||` alternative of a constraint is not a list of comparisons.
    #[error("improper constraint: {}", go_quote(.0))]
    ImproperConstraint(String),
    /// A comparison is well formed but its version is not a valid one
    /// (`1.2.3-01`).
    #[error("constraint parser error")]
    ConstraintParser,
}

/// The version Helm picks from a repository index for a requested
/// `version` (a constraint, an exact version or empty for "latest stable"),
/// like `IndexFile.Get`: an entry whose text equals the request wins;
/// otherwise the highest valid version satisfying the constraint. Entries
/// that are not valid versions are skipped. An empty request means `*`,
/// which skips prereleases.
///
/// The request must parse as a constraint even when it is an exact entry:
/// Helm parses it first, so `highest_matching("1.2.3-01", …)` is an error.
/// Among entries of equal precedence (`1.0.0` and `v1.0.0+a`) the first
/// one wins; Helm's order for those depends on its unstable sort.
pub fn highest_matching<'a>(
    request: &str,
    versions: impl IntoIterator<Item = &'a str>,
) -> Result<Option<&'a str>, SemverError> {
    let constraints = Constraints::parse(if request.is_empty() { "*" } else { request })?;
    let mut best: Option<(&'a str, Version)> = None;
    for text in versions {
        if !request.is_empty() && text == request {
            return Ok(Some(text));
        }
        let Ok(version) = Version::parse(text) else {
            continue;
        };
        if !constraints.matches(&version) {
            continue;
        }
        if best.as_ref().is_none_or(|(_, top)| version > *top) {
            best = Some((text, version));
        }
    }
    Ok(best.map(|(text, _)| text))
}

/// Go's `%q` of a string: double quotes, Go's escapes for control
/// characters, printable Unicode kept as is.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const INDEX: [&str; 7] = [
        "2.0.0-rc.1",
        "1.10.0",
        "1.9.3",
        "not-a-version",
        "1.2.3",
        "v1.2.4",
        "0.9.0",
    ];

    #[test]
    fn highest_matching_picks_the_highest_satisfying_version() {
        assert_eq!(highest_matching("^1.2", INDEX).unwrap(), Some("1.10.0"));
        assert_eq!(highest_matching("~1.2", INDEX).unwrap(), Some("v1.2.4"));
        assert_eq!(highest_matching("<1", INDEX).unwrap(), Some("0.9.0"));
    }

    #[test]
    fn highest_matching_with_an_empty_request_skips_prereleases() {
        assert_eq!(highest_matching("", INDEX).unwrap(), Some("1.10.0"));
        assert_eq!(
            highest_matching(">=2.0.0-0", INDEX).unwrap(),
            Some("2.0.0-rc.1")
        );
    }

    #[test]
    fn highest_matching_prefers_an_exact_entry() {
        assert_eq!(highest_matching("v1.2.4", INDEX).unwrap(), Some("v1.2.4"));
        // `1.2.4` is an equality constraint matching `v1.2.4`.
        assert_eq!(highest_matching("1.2.4", INDEX).unwrap(), Some("v1.2.4"));
        assert_eq!(
            highest_matching("2.0.0-rc.1", INDEX).unwrap(),
            Some("2.0.0-rc.1")
        );
    }

    #[test]
    fn highest_matching_finds_nothing_or_fails_on_a_bad_request() {
        assert_eq!(highest_matching("^3", INDEX).unwrap(), None);
        assert_eq!(
            highest_matching("not-a-version", INDEX)
                .unwrap_err()
                .to_string(),
            "improper constraint: \"not-a-version\""
        );
    }

    #[test]
    fn go_quote_escapes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }
}
