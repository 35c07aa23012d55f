//! `.helmignore` rules as Helm's `ignore` package reads and applies them:
//! one Go `filepath.Match` glob per line (no `**`), `#` comments, `!`
//! negation, a trailing `/` for directories only, a leading `/` anchoring
//! at the chart root, a pattern without `/` matching the base name only;
//! rules are tried in order and the first that decides wins. Helm's quirk
//! is kept: a negated rule ignores every path it does *not* match.

use super::ChartError;

/// Parsed `.helmignore` rules.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    glob: Vec<Token>,
    negate: bool,
    must_dir: bool,
    scope: Scope,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    /// No `/` in the pattern: the base name is matched.
    BaseName,
    /// The whole relative path is matched.
    Path,
}

impl IgnoreRules {
    /// Parses a `.helmignore` file.
    pub fn parse(text: &str) -> Result<Self, ChartError> {
        let mut rules = Self::default();
        for line in text.lines() {
            rules.add(line)?;
        }
        Ok(rules)
    }

    /// Adds Helm's default: dotfiles directly in `templates/` are ignored.
    pub fn add_defaults(&mut self) {
        // A constant, valid pattern.
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, line: &str) -> Result<(), ChartError> {
        let rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(ChartError::Helmignore(
                "double-star (**) syntax is not supported".into(),
            ));
        }
        // Helm checks the whole rule, `!` and trailing `/` included.
        parse_glob(rule).map_err(|_| bad_pattern())?;
        let mut rule = rule;
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let must_dir = rule.ends_with('/');
        if must_dir {
            rule = &rule[..rule.len() - 1];
        }
        let scope = if rule.contains('/') {
            Scope::Path
        } else {
            Scope::BaseName
        };
        let rule = rule.strip_prefix('/').unwrap_or(rule);
        let glob = parse_glob(rule).map_err(|_| bad_pattern())?;
        self.patterns.push(Pattern {
            glob,
            negate,
            must_dir,
            scope,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart root, `/` separated) is
    /// ignored.
    pub fn ignores(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let subject = match p.scope {
                Scope::BaseName => base_name(path),
                Scope::Path => path,
            };
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !glob_match(&p.glob, subject) {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if glob_match(&p.glob, subject) {
                return true;
            }
        }
        false
    }
}

fn bad_pattern() -> ChartError {
    ChartError::Helmignore("syntax error in pattern".into())
}

/// Go's `filepath.Base` for a path without trailing slash.
fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

// === Go's filepath.Match ===

#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Literal(char),
}

#[derive(Debug)]
struct BadPattern;

/// Parses a Go glob; malformed patterns (unclosed `[`, trailing `\`, a
/// class starting a range with `-` or `]`) are errors, as in Go.
fn parse_glob(pattern: &str) -> Result<Vec<Token>, BadPattern> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                out.push(Token::Star);
                i += 1;
            }
            '?' => {
                out.push(Token::One);
                i += 1;
            }
            '\\' => {
                let c = *chars.get(i + 1).ok_or(BadPattern)?;
                out.push(Token::Literal(c));
                i += 2;
            }
            '[' => {
                i += 1;
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    if chars.get(i) == Some(&']') && !ranges.is_empty() {
                        i += 1;
                        break;
                    }
                    let lo = class_char(&chars, &mut i)?;
                    let mut hi = lo;
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        hi = class_char(&chars, &mut i)?;
                    }
                    ranges.push((lo, hi));
                }
                out.push(Token::Class { negated, ranges });
            }
            c => {
                out.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// One character of a class (Go's `getEsc`).
fn class_char(chars: &[char], i: &mut usize) -> Result<char, BadPattern> {
    let c = *chars.get(*i).ok_or(BadPattern)?;
    if c == '-' || c == ']' {
        return Err(BadPattern);
    }
    if c == '\\' {
        let e = *chars.get(*i + 1).ok_or(BadPattern)?;
        *i += 2;
        return Ok(e);
    }
    *i += 1;
    Ok(c)
}

/// Go's matching: the pattern is cut into chunks, each a run of stars
/// followed by fixed-width tokens; a chunk after a star is matched at the
/// leftmost position that works (never across `/`), the last chunk must
/// reach the end of the name.
fn glob_match(glob: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let mut rest: &[char] = &name;
    let mut pattern = glob;
    while !pattern.is_empty() {
        let star = matches!(pattern[0], Token::Star);
        let start = pattern.iter().take_while(|t| **t == Token::Star).count();
        let len = pattern[start..]
            .iter()
            .take_while(|t| **t != Token::Star)
            .count();
        let chunk = &pattern[start..start + len];
        pattern = &pattern[start + len..];
        if star && chunk.is_empty() {
            return !rest.contains(&'/');
        }
        if let Some(after) = match_chunk(chunk, rest) {
            if after.is_empty() || !pattern.is_empty() {
                rest = after;
                continue;
            }
        }
        let mut matched = false;
        if star {
            let mut i = 0;
            while i < rest.len() && rest[i] != '/' {
                if let Some(after) = match_chunk(chunk, &rest[i + 1..]) {
                    if pattern.is_empty() && !after.is_empty() {
                        i += 1;
                        continue;
                    }
                    rest = after;
                    matched = true;
                    break;
                }
                i += 1;
            }
        }
        if !matched {
            return false;
        }
    }
    rest.is_empty()
}

fn match_chunk<'a>(chunk: &[Token], name: &'a [char]) -> Option<&'a [char]> {
    let mut rest = name;
    for token in chunk {
        let (&c, after) = rest.split_first()?;
        let ok = match token {
            Token::One => c != '/',
            Token::Literal(l) => c == *l,
            Token::Class { negated, ranges } => {
                let inside = ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
                inside != *negated
            }
            Token::Star => false,
        };
        if !ok {
            return None;
        }
        rest = after;
    }
    Some(rest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        glob_match(&parse_glob(pattern).unwrap(), name)
    }

    #[test]
    fn go_globs_match_as_filepath_match_does() {
        assert!(m("*.txt", "a.txt"));
        assert!(!m("*.txt", "dir/a.txt"));
        assert!(m("*/a.txt", "dir/a.txt"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "a/c"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("*a*b", "xaab"));
        assert!(m("a*", "a"));
        assert!(!m("a*", "a/b"));
        assert!(m("*", ""));
        assert!(m("ü?", "üß"));
        assert!(!m("abc", "abcd"));
        assert!(m("*c", "abcbc"));
    }

    #[test]
    fn malformed_globs_are_errors() {
        for bad in ["[", "[]", "[a", "a\\", "[-a]", "[a-]", "[]a]"] {
            assert!(parse_glob(bad).is_err(), "{bad}");
        }
        let err = IgnoreRules::parse("ok\n[bad\n").unwrap_err();
        assert_eq!(err.to_string(), "syntax error in pattern");
        let err = IgnoreRules::parse("a/**/b\n").unwrap_err();
        assert_eq!(err.to_string(), "double-star (**) syntax is not supported");
    }

    #[test]
    fn rules_follow_helms_scopes() {
        let rules = IgnoreRules::parse(
            "# comment\n\n*.bak\nscratch/\n/top.txt\nfiles/*.tmp\n  spaced.txt  \n",
        )
        .unwrap();
        assert!(rules.ignores("x.bak", false));
        assert!(rules.ignores("deep/dir/x.bak", false));
        assert!(rules.ignores("scratch", true));
        assert!(rules.ignores("deep/scratch", true));
        assert!(!rules.ignores("scratch", false));
        assert!(rules.ignores("top.txt", false));
        assert!(!rules.ignores("sub/top.txt", false));
        assert!(rules.ignores("files/a.tmp", false));
        assert!(!rules.ignores("other/files/a.tmp", false));
        assert!(rules.ignores("spaced.txt", false));
        assert!(!rules.ignores("", false));
        assert!(!rules.ignores(".", true));
    }

    #[test]
    fn a_negated_rule_ignores_what_it_does_not_match() {
        let rules = IgnoreRules::parse("!keep.txt\n").unwrap();
        assert!(!rules.ignores("keep.txt", false));
        assert!(rules.ignores("other.txt", false));
        let dirs = IgnoreRules::parse("!keep/\n").unwrap();
        assert!(dirs.ignores("keep", false));
        assert!(!dirs.ignores("keep", true));
    }

    #[test]
    fn defaults_ignore_dotfiles_in_templates_only() {
        let mut rules = IgnoreRules::default();
        rules.add_defaults();
        assert!(rules.ignores("templates/.hidden", false));
        assert!(!rules.ignores("templates/sub/.hidden", false));
        assert!(!rules.ignores("templates/visible.yaml", false));
        assert!(!rules.ignores(".hidden", false));
        assert!(!rules.ignores("templates/.", false));
    }
}
