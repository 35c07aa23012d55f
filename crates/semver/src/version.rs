//! One semantic version, parsed leniently like Masterminds' `NewVersion`.

use std::cmp::Ordering;
use std::fmt;

use crate::SemverError;

/// A parsed version. Equality and order are SemVer precedence: build
/// metadata is ignored, so `1.2.3+a == 1.2.3+b`.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    prerelease: String,
    metadata: String,
    original: String,
}

// === impl Version ===

impl Version {
    /// Parses `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+METADATA]`; a missing
    /// minor or patch is 0 and numbers may have leading zeros, but a
    /// numeric prerelease identifier may not.
    pub fn parse(text: &str) -> Result<Version, SemverError> {
        let parts = split_version(text).ok_or(SemverError::InvalidSemVer)?;
        let number = |digits: Option<&str>| -> Result<u64, SemverError> {
            match digits {
                None => Ok(0),
                Some(d) => d
                    .parse::<u64>()
                    .map_err(|_| SemverError::SegmentOutOfRange(d.to_string())),
            }
        };
        let version = Version {
            major: number(Some(parts.major))?,
            minor: number(parts.minor)?,
            patch: number(parts.patch)?,
            prerelease: parts.prerelease.unwrap_or_default().to_string(),
            metadata: parts.metadata.unwrap_or_default().to_string(),
            original: text.to_string(),
        };
        let leading_zero = version.prerelease.split('.').any(|identifier| {
            identifier.len() > 1
                && identifier.starts_with('0')
                && identifier.bytes().all(|b| b.is_ascii_digit())
        });
        if leading_zero {
            return Err(SemverError::SegmentStartsZero);
        }
        Ok(version)
    }

    pub fn major(&self) -> u64 {
        self.major
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The prerelease without its `-` (`beta.1`), empty when none.
    pub fn prerelease(&self) -> &str {
        &self.prerelease
    }

    /// The build metadata without its `+`, empty when none.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// The text the version was parsed from (`v1.2`).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Masterminds' `Compare`: numbers, then a release above its
    /// prereleases, then prerelease identifiers one by one.
    pub fn compare(&self, other: &Version) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(
                || match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => compare_prerelease(&self.prerelease, &other.prerelease),
                },
            )
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.compare(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.compare(other)
    }
}

impl fmt::Display for Version {
    /// Masterminds' `String()`: normalised, without a leading `v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.prerelease.is_empty() {
            write!(f, "-{}", self.prerelease)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Version {
    type Err = SemverError;

    fn from_str(text: &str) -> Result<Version, SemverError> {
        Version::parse(text)
    }
}

/// Compares two non-empty prereleases identifier by identifier: numbers
/// numerically and below words, words by bytes, fewer identifiers first.
pub(crate) fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = compare_identifier(x, y);
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn compare_identifier(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    // Go's ParseUint: an identifier too big for 64 bits counts as a word.
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.as_bytes().cmp(b.as_bytes()),
    }
}

// === Lexing shared with constraints ===

/// The pieces of `[v]N[.N[.N]][-pre][+meta]` (digits only when
/// `wildcards` is false; digits, `x`, `X`, `*` and `|` in the numbers when
/// true, as Masterminds' constraint pattern allows).
pub(crate) struct VersionParts<'a> {
    pub major: &'a str,
    pub minor: Option<&'a str>,
    pub patch: Option<&'a str>,
    pub prerelease: Option<&'a str>,
    pub metadata: Option<&'a str>,
}

fn split_version(text: &str) -> Option<VersionParts<'_>> {
    let (parts, len) = lex_version(text, false)?;
    (len == text.len()).then_some(parts)
}

/// Lexes the longest version (or constraint version) at the start of
/// `text`; returns its pieces and its length in bytes.
pub(crate) fn lex_version(text: &str, wildcards: bool) -> Option<(VersionParts<'_>, usize)> {
    let bytes = text.as_bytes();
    let is_number =
        |b: u8| b.is_ascii_digit() || (wildcards && matches!(b, b'x' | b'X' | b'*' | b'|'));
    let run = |from: usize, accept: &dyn Fn(u8) -> bool| -> usize {
        bytes[from..].iter().take_while(|b| accept(**b)).count()
    };
    let mut at = 0;
    if bytes.first() == Some(&b'v') && bytes.get(1).is_some_and(|b| is_number(*b)) {
        at = 1;
    }
    let major_len = run(at, &is_number);
    if major_len == 0 {
        return None;
    }
    let major = &text[at..at + major_len];
    at += major_len;
    let mut numbers = [None, None];
    for slot in &mut numbers {
        if bytes.get(at) != Some(&b'.') {
            break;
        }
        let len = run(at + 1, &is_number);
        if len == 0 {
            break;
        }
        *slot = Some(&text[at + 1..at + 1 + len]);
        at += 1 + len;
    }
    let [minor, patch] = numbers;
    let dotted = |marker: u8, at: &mut usize| -> Option<&str> {
        if bytes.get(*at) != Some(&marker) {
            return None;
        }
        let start = *at + 1;
        let mut end = start;
        loop {
            let len = run(end, &is_identifier);
            if len == 0 {
                break;
            }
            end += len;
            if bytes.get(end) == Some(&b'.')
                && bytes.get(end + 1).is_some_and(|b| is_identifier(*b))
            {
                end += 1;
            } else {
                break;
            }
        }
        if end == start {
            return None;
        }
        *at = end;
        Some(&text[start..end])
    };
    let prerelease = dotted(b'-', &mut at);
    let metadata = dotted(b'+', &mut at);
    Some((
        VersionParts {
            major,
            minor,
            patch,
            prerelease,
            metadata,
        },
        at,
    ))
}

fn is_identifier(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn parse_is_lenient_like_new_version() {
        let version = v("v1.2-beta.1+build.5");
        assert_eq!(
            (version.major(), version.minor(), version.patch()),
            (1, 2, 0)
        );
        assert_eq!(version.prerelease(), "beta.1");
        assert_eq!(version.metadata(), "build.5");
        assert_eq!(version.original(), "v1.2-beta.1+build.5");
        assert_eq!(version.to_string(), "1.2.0-beta.1+build.5");
        assert_eq!(v("01.2.3").to_string(), "1.2.3");
        assert_eq!(v("1").to_string(), "1.0.0");
        assert_eq!(v("1-rc-1").prerelease(), "rc-1");
        assert_eq!(v("1.2.3+0x").metadata(), "0x");
    }

    #[test]
    fn parse_rejects_what_masterminds_rejects() {
        for bad in [
            "",
            "foo",
            "v",
            "1.2.3.4",
            " 1.2.3",
            "1.2.3 ",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "1.2.3+a..b",
            "1.2.3-a_b",
            "1.2.",
            "vv1",
            "1.x",
        ] {
            assert_eq!(
                Version::parse(bad).unwrap_err(),
                SemverError::InvalidSemVer,
                "{bad:?}"
            );
        }
        assert_eq!(
            Version::parse("1.2.3-01").unwrap_err().to_string(),
            "version segment starts with 0"
        );
        assert_eq!(
            Version::parse("99999999999999999999").unwrap_err().to_string(),
            "error parsing version segment: strconv.ParseUint: parsing \"99999999999999999999\": value out of range"
        );
    }

    #[test]
    fn order_is_semver_precedence() {
        let sorted = [
            "0.9.9",
            "1.0.0-0",
            "1.0.0-2",
            "1.0.0-10",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for pair in sorted.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.2.3+a"), v("v1.2.3+b"));
    }
}
