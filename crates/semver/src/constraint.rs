//! Version ranges in Masterminds' syntax: comparisons joined by spaces or
//! commas (all must hold) and by `||` (one group must hold).

use std::cmp::Ordering;
use std::fmt;

use crate::version::{compare_prerelease, lex_version, Version};
use crate::SemverError;

/// A parsed range, such as `>= 1.2, < 2 || ^3.1`.
#[derive(Debug, Clone)]
pub struct Constraints {
    /// The `||` alternatives, each a list of comparisons that must all hold.
    groups: Vec<Group>,
}

#[derive(Debug, Clone)]
struct Group {
    comparisons: Vec<Comparison>,
    /// A comparison of the group names a prerelease, which lets every
    /// comparison of the group match prerelease versions.
    admits_prereleases: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    /// No operator or `=`: equality, or a tilde range with a wildcard.
    TildeOrEqual,
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterOrEqual,
    GreaterOrEqualReversed,
    LessOrEqual,
    LessOrEqualReversed,
    Tilde,
    TildeArrow,
    Caret,
}

/// One comparison such as `~1.2.x`.
#[derive(Debug, Clone)]
struct Comparison {
    operator: Operator,
    /// The version as written (`1.2.x`), for messages and `Display`.
    written: String,
    /// The version with wildcards and missing numbers as 0.
    version: Version,
    /// Some number was a wildcard or missing.
    dirty: bool,
    /// The minor (and so the patch) was a wildcard or missing.
    minor_dirty: bool,
    /// Only the patch was a wildcard or missing.
    patch_dirty: bool,
}

// === impl Constraints ===

impl Constraints {
    /// Parses a range like Masterminds' `NewConstraint`. Hyphen ranges
    /// (`1.2 - 1.4.5`) become `>= 1.2, <= 1.4.5`.
    pub fn parse(text: &str) -> Result<Constraints, SemverError> {
        let rewritten = rewrite_hyphen_ranges(text);
        let mut groups = Vec::new();
        for alternative in rewritten.split("||") {
            let tokens = lex_group(alternative)
                .ok_or_else(|| SemverError::ImproperConstraint(alternative.to_string()))?;
            let comparisons = tokens
                .into_iter()
                .map(|(operator, written)| Comparison::new(operator, written))
                .collect::<Result<Vec<_>, _>>()?;
            let admits_prereleases = comparisons
                .iter()
                .any(|c| !c.version.prerelease().is_empty());
            groups.push(Group {
                comparisons,
                admits_prereleases,
            });
        }
        Ok(Constraints { groups })
    }

    /// Whether `version` satisfies the range (Masterminds' `Check`).
    pub fn matches(&self, version: &Version) -> bool {
        self.groups.iter().any(|group| {
            group
                .comparisons
                .iter()
                .all(|c| c.check(version, group.admits_prereleases).is_ok())
        })
    }

    /// Like [`Constraints::matches`], with the reasons when it does not
    /// match (Masterminds' `Validate`): every failed comparison of every
    /// group, the prerelease reason only once.
    pub fn validate(&self, version: &Version) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        let mut told_prerelease = false;
        for group in &self.groups {
            let mut holds = true;
            for comparison in &group.comparisons {
                if !group.admits_prereleases && !version.prerelease().is_empty() {
                    if !told_prerelease {
                        reasons.push(prerelease_reason(version));
                        told_prerelease = true;
                    }
                    holds = false;
                } else if let Err(reason) = comparison.check(version, group.admits_prereleases) {
                    reasons.push(reason);
                    holds = false;
                }
            }
            if holds {
                return Ok(());
            }
        }
        Err(reasons)
    }
}

impl fmt::Display for Constraints {
    /// Masterminds' `String()`: comparisons as written, spaces between
    /// them, ` || ` between groups (hyphen ranges show rewritten).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            for (j, c) in group.comparisons.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{}{}", c.operator.as_str(), c.written)?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Constraints {
    type Err = SemverError;

    fn from_str(text: &str) -> Result<Constraints, SemverError> {
        Constraints::parse(text)
    }
}

// === impl Operator ===

impl Operator {
    /// Operators longest first, so a prefix never hides a longer one.
    const ALL: [(&'static str, Operator); 11] = [
        ("!=", Operator::NotEqual),
        (">=", Operator::GreaterOrEqual),
        ("=>", Operator::GreaterOrEqualReversed),
        ("<=", Operator::LessOrEqual),
        ("=<", Operator::LessOrEqualReversed),
        ("~>", Operator::TildeArrow),
        ("=", Operator::Equal),
        (">", Operator::Greater),
        ("<", Operator::Less),
        ("~", Operator::Tilde),
        ("^", Operator::Caret),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Operator::TildeOrEqual => "",
            _ => Operator::ALL
                .iter()
                .find(|(_, op)| *op == self)
                .map_or("", |(text, _)| text),
        }
    }
}

// === impl Comparison ===

impl Comparison {
    fn new(operator: Operator, written: &str) -> Result<Comparison, SemverError> {
        let (parts, _) = lex_version(written, true).ok_or(SemverError::ConstraintParser)?;
        let prerelease = parts
            .prerelease
            .map(|p| format!("-{p}"))
            .unwrap_or_default();
        let is_wild = |n: Option<&str>| n.is_none_or(|n| matches!(n, "x" | "X" | "*"));
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let normalised = if is_wild(Some(parts.major)) {
            dirty = true;
            format!("0.0.0{prerelease}")
        } else if is_wild(parts.minor) {
            dirty = true;
            minor_dirty = true;
            format!("{}.0.0{prerelease}", parts.major)
        } else if is_wild(parts.patch) {
            dirty = true;
            patch_dirty = true;
            format!(
                "{}.{}.0{prerelease}",
                parts.major,
                parts.minor.unwrap_or_default()
            )
        } else {
            written.to_string()
        };
        let version = Version::parse(&normalised).map_err(|_| SemverError::ConstraintParser)?;
        Ok(Comparison {
            operator,
            written: written.to_string(),
            version,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    /// Masterminds' per-operator check; the error is its reason.
    fn check(&self, v: &Version, admits_prereleases: bool) -> Result<(), String> {
        if !v.prerelease().is_empty() && !admits_prereleases {
            return Err(prerelease_reason(v));
        }
        let c = &self.version;
        let written = &self.written;
        let fail = |why: &str| Err(format!("{v} {why} {written}"));
        match self.operator {
            Operator::TildeOrEqual | Operator::Equal => {
                if self.dirty {
                    return self.check_tilde(v);
                }
                if v == c {
                    Ok(())
                } else {
                    fail("is not equal to")
                }
            }
            Operator::NotEqual => self.check_not_equal(v),
            Operator::Greater => {
                let greater = if !self.dirty {
                    v > c
                } else if v.major() != c.major() {
                    v.major() > c.major()
                } else if self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor() > c.minor()
                } else {
                    v > c
                };
                if greater {
                    Ok(())
                } else {
                    fail("is less than or equal to")
                }
            }
            Operator::Less => {
                if v < c {
                    Ok(())
                } else {
                    fail("is greater than or equal to")
                }
            }
            Operator::GreaterOrEqual | Operator::GreaterOrEqualReversed => {
                if v >= c {
                    Ok(())
                } else {
                    fail("is less than")
                }
            }
            Operator::LessOrEqual | Operator::LessOrEqualReversed => {
                let within = if !self.dirty {
                    v <= c
                } else {
                    v.major() < c.major()
                        || (v.major() == c.major() && (self.minor_dirty || v.minor() <= c.minor()))
                };
                if within {
                    Ok(())
                } else {
                    fail("is greater than")
                }
            }
            Operator::Tilde | Operator::TildeArrow => self.check_tilde(v),
            Operator::Caret => self.check_caret(v),
        }
    }

    fn check_not_equal(&self, v: &Version) -> Result<(), String> {
        let c = &self.version;
        let equal = Err(format!("{v} is equal to {}", self.written));
        if self.dirty {
            if c.major() != v.major() {
                return Ok(());
            }
            if self.minor_dirty {
                return equal;
            }
            if c.minor() != v.minor() {
                return Ok(());
            }
            if self.patch_dirty {
                let differs = (!v.prerelease().is_empty() || !c.prerelease().is_empty())
                    && compare_prerelease_or_empty(v.prerelease(), c.prerelease())
                        != Ordering::Equal;
                return if differs { Ok(()) } else { equal };
            }
            // A dirty major with no wildcard below it: compare whole versions.
        }
        if v == c {
            equal
        } else {
            Ok(())
        }
    }

    // ~*, ~2 and ~2.x: >=2.0.0 <3; ~1.2, ~1.2.x and ~1.2.3: >=1.2.x <1.3.
    fn check_tilde(&self, v: &Version) -> Result<(), String> {
        let c = &self.version;
        let written = &self.written;
        if v < c {
            return Err(format!("{v} is less than {written}"));
        }
        if c.major() == 0
            && c.minor() == 0
            && c.patch() == 0
            && !self.minor_dirty
            && !self.patch_dirty
        {
            return Ok(());
        }
        if v.major() != c.major() {
            return Err(format!("{v} does not have same major version as {written}"));
        }
        if v.minor() != c.minor() && !self.minor_dirty {
            return Err(format!(
                "{v} does not have same major and minor version as {written}"
            ));
        }
        Ok(())
    }

    // ^1.2.3: >=1.2.3 <2; ^0.2.3: >=0.2.3 <0.3; ^0.0.3: =0.0.3; ^0: <1;
    // ^0.0: <0.1.
    fn check_caret(&self, v: &Version) -> Result<(), String> {
        let c = &self.version;
        let written = &self.written;
        if v < c {
            return Err(format!("{v} is less than {written}"));
        }
        if c.major() > 0 || self.minor_dirty {
            if v.major() == c.major() {
                return Ok(());
            }
            return Err(format!("{v} does not have same major version as {written}"));
        }
        if v.major() > 0 {
            return Err(format!("{v} does not have same major version as {written}"));
        }
        if c.minor() > 0 || self.patch_dirty {
            if v.minor() == c.minor() {
                return Ok(());
            }
            return Err(format!(
                "{v} does not have same minor version as {written}. Expected minor versions to match when constraint major version is 0"
            ));
        }
        if v.minor() > 0 {
            return Err(format!("{v} does not have same minor version as {written}"));
        }
        if v.patch() == c.patch() {
            return Ok(());
        }
        Err(format!(
            "{v} does not equal {written}. Expect version and constraint to equal when major and minor versions are 0"
        ))
    }
}

fn prerelease_reason(v: &Version) -> String {
    format!("{v} is a prerelease version and the constraint is only looking for release versions")
}

/// Masterminds' `comparePrerelease`, where an empty side counts as one
/// empty identifier (below any other).
fn compare_prerelease_or_empty(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare_prerelease(a, b),
    }
}

// === Lexing ===

/// Go's `\s`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

fn skip_spaces(text: &str, at: usize) -> usize {
    at + text.as_bytes()[at..]
        .iter()
        .take_while(|b| is_space(**b))
        .count()
}

/// Splits one `||` alternative into (operator, version as written) pairs:
/// `op? version` items separated by spaces or a comma, or `None` when the
/// alternative is not of that form.
fn lex_group(text: &str) -> Option<Vec<(Operator, &str)>> {
    let mut items = Vec::new();
    let mut at = skip_spaces(text, 0);
    loop {
        let operator = Operator::ALL
            .iter()
            .find(|(op, _)| text[at..].starts_with(op))
            .map_or(Operator::TildeOrEqual, |(_, op)| *op);
        at = skip_spaces(text, at + operator.as_str().len());
        let (_, len) = lex_version(&text[at..], true)?;
        items.push((operator, &text[at..at + len]));
        let after_version = at + len;
        at = skip_spaces(text, after_version);
        if at == text.len() {
            return Some(items);
        }
        if text.as_bytes()[at] == b',' {
            at = skip_spaces(text, at + 1);
        } else if at == after_version {
            return None;
        }
    }
}

/// Rewrites each `A - B` into `>= A, <= B ` the way Masterminds does (a
/// textual replacement of the first occurrence of each match).
fn rewrite_hyphen_ranges(text: &str) -> String {
    let mut matches = Vec::new();
    let mut start = 0;
    while start < text.len() {
        match hyphen_range_at(text, start) {
            Some((end, low, high)) => {
                matches.push((&text[start..end], low, high));
                start = end;
            }
            None => start += 1,
        }
    }
    let mut out = text.to_string();
    for (whole, low, high) in matches {
        out = out.replacen(whole, &format!(">= {low}, <= {high} "), 1);
    }
    out
}

/// Matches `\s*A\s+-\s+B\s*` at byte `start`; returns its end and A, B.
fn hyphen_range_at(text: &str, start: usize) -> Option<(usize, &str, &str)> {
    let bytes = text.as_bytes();
    if !text.is_char_boundary(start) {
        return None;
    }
    let low_at = skip_spaces(text, start);
    let (_, low_len) = lex_version(&text[low_at..], true)?;
    let mut at = low_at + low_len;
    let dash_at = skip_spaces(text, at);
    if dash_at == at || bytes.get(dash_at) != Some(&b'-') {
        return None;
    }
    at = dash_at + 1;
    let high_at = skip_spaces(text, at);
    if high_at == at {
        return None;
    }
    let (_, high_len) = lex_version(&text[high_at..], true)?;
    let end = skip_spaces(text, high_at + high_len);
    Some((
        end,
        &text[low_at..low_at + low_len],
        &text[high_at..high_at + high_len],
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(constraint: &str, version: &str) -> bool {
        Constraints::parse(constraint)
            .unwrap()
            .matches(&Version::parse(version).unwrap())
    }

    /// Each row was checked against Helm 4's `semverCompare` (Masterminds
    /// semver v3).
    const CASES: &[(&str, &str, bool)] = &[
        ("1.2.3", "1.2.3", true),
        ("1.2.3", "1.2.4", false),
        ("=1.2.3+m", "1.2.3", true),
        ("v1.2", "1.2.9", true),
        ("1.2", "1.3.0", false),
        ("!=1.2.3", "1.2.4", true),
        ("!=1.2.3", "1.2.3", false),
        ("!=1.2.3", "1.5.0-beta", false),
        ("!=1.x", "1.5.0", false),
        ("!=1.x", "2.0.0", true),
        ("!=1.2.x", "1.2.7", false),
        ("!=1.2.x", "1.3.0", true),
        (">1.2.3", "1.2.4", true),
        (">1.2.3", "1.2.3", false),
        (">1", "1.9.0", false),
        (">1", "2.0.0", true),
        (">1.2", "1.2.9", false),
        (">1.2", "1.3.0", true),
        (">*", "0.0.1", true),
        ("<1.2.3", "1.2.2", true),
        ("<1.2.3", "1.2.3-beta", false),
        ("<1.2.3-0", "1.2.3-beta", false),
        ("<1.2.3-z", "1.2.3-beta", true),
        ("<1.x", "0.9.0", true),
        ("<1.x", "1.0.0", false),
        (">=1.2.3", "1.2.3", true),
        ("=>1.2.3", "1.2.2", false),
        ("<=1.2.3", "1.2.3", true),
        ("=<1.2.3", "1.2.4", false),
        ("<=1.2", "1.2.9", true),
        ("<=1.2", "1.3.0", false),
        ("<=1", "1.9.9", true),
        ("<=1", "2.0.0", false),
        ("~1.2.3", "1.2.9", true),
        ("~1.2.3", "1.3.0", false),
        ("~1.2.3", "1.2.2", false),
        ("~>1.2", "1.2.0", true),
        ("~1", "1.9.0", true),
        ("~1", "2.0.0", false),
        ("~1.x", "1.5.0", true),
        ("~*", "2.0.0", true),
        ("~0.0.0", "3.0.0", true),
        ("^1.2.3", "1.9.0", true),
        ("^1.2.3", "2.0.0", false),
        ("^1.2.3", "1.2.2", false),
        ("^0.2.3", "0.2.9", true),
        ("^0.2.3", "0.3.0", false),
        ("^0.0.3", "0.0.3", true),
        ("^0.0.3", "0.0.4", false),
        ("^0.0", "0.0.5", true),
        ("^0.0", "0.1.0", false),
        ("^0", "0.5.5", true),
        ("^0", "1.0.0", false),
        ("^*", "1.0.0", false),
        ("^*", "0.5.0", false),
        ("^*", "0.0.0", true),
        ("1.2.*", "1.2.7", true),
        ("1.2.x", "1.3.0", false),
        ("1.X", "1.3.0", true),
        ("*", "2.0.0", true),
        ("*", "2.0.0-a", false),
        ("x", "2.0.0", true),
        ("1.2 - 1.4.5", "1.4.5", true),
        ("1.2 - 1.4.5", "1.4.6", false),
        ("1.2 - 1.4.5", "1.1.9", false),
        ("1.2.3 - 2", "2.5.0", true),
        ("1.2.3 - 2", "3.0.0", false),
        (">1,<3", "2.0.0", true),
        (">= 1.2.3 , < 2", "1.5.0", true),
        (">= 1.2.3 , < 2", "2.0.0", false),
        (">=1.0.0-0 <2.0.0", "1.5.0-beta", true),
        (">=1.0.0 <2.0.0", "1.5.0-beta", false),
        ("<1 || >=2", "1.5.0", false),
        ("<1 || >=2", "2.5.0", true),
        (">=1.0.0-0 || >=3", "3.5.0-beta", true),
    ];

    #[test]
    fn matches_like_masterminds_check() {
        for (constraint, version, expected) in CASES {
            assert_eq!(
                check(constraint, version),
                *expected,
                "{constraint} on {version}"
            );
        }
    }

    #[test]
    fn parse_errors_name_the_alternative() {
        let error = |text: &str| Constraints::parse(text).unwrap_err().to_string();
        assert_eq!(error(""), "improper constraint: \"\"");
        assert_eq!(error("foo"), "improper constraint: \"foo\"");
        assert_eq!(error("1 || foo "), "improper constraint: \" foo \"");
        assert_eq!(error("foo||bar"), "improper constraint: \"foo\"");
        assert_eq!(error("1.2.3.4"), "improper constraint: \"1.2.3.4\"");
        assert_eq!(error(">1<2"), "improper constraint: \">1<2\"");
        assert_eq!(error("1,"), "improper constraint: \"1,\"");
        assert_eq!(error("1.2.3-01"), "constraint parser error");
        assert_eq!(error("1|2"), "constraint parser error");
    }

    #[test]
    fn display_shows_comparisons_as_written() {
        let shown = |text: &str| Constraints::parse(text).unwrap().to_string();
        assert_eq!(shown(">= 1.2 ,<2||~v3.x"), ">=1.2 <2 || ~v3.x");
        assert_eq!(shown("1.2 - 1.4.5"), ">=1.2 <=1.4.5");
    }

    #[test]
    fn validate_gives_masterminds_reasons() {
        let reasons = |c: &str, v: &str| {
            Constraints::parse(c)
                .unwrap()
                .validate(&Version::parse(v).unwrap())
                .unwrap_err()
        };
        assert_eq!(
            reasons("^1.2", "2.0.0"),
            ["2.0.0 does not have same major version as 1.2"]
        );
        assert_eq!(
            reasons(">1 <2 || ~3", "3.1.0-rc.1"),
            ["3.1.0-rc.1 is a prerelease version and the constraint is only looking for release versions"]
        );
        assert!(Constraints::parse("~1.2")
            .unwrap()
            .validate(&Version::parse("1.2.9").unwrap())
            .is_ok());
    }
}
