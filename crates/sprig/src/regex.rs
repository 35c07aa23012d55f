//! Sprig's regular expression functions (`regexMatch`, `regexFindAll`,
//! `regexReplaceAll`, `regexSplit`, … and their `must` variants) with Go's
//! `regexp` semantics: Go's syntax (translated by [`syntax`]), Go's rules
//! for empty matches in the `All` functions, and `$1`/`${name}` expansion
//! as `Regexp.Expand` does it.
//!
//! An invalid pattern is an error in every function but `regexMatch`,
//! which returns false: the `must` variants return Go's compile error, the
//! others panic in Go (`regexp.MustCompile`), which the template engine
//! reports with the panic's `regexp: Compile(…)` text.

pub mod syntax;

use caravel_gotemplate::{FuncError, Funcs, Value};

use crate::convert::{int_arg, string_arg, want};

/// The largest compiled program accepted; Go's limit is of the same order.
const SIZE_LIMIT: usize = 16 << 20;

/// A compiled Go regular expression.
#[derive(Debug, Clone)]
pub struct GoRegex {
    regex: ::regex::Regex,
    names: Vec<Option<String>>,
    empty_pattern: bool,
}

impl GoRegex {
    /// `regexp.Compile`. Compiled expressions are kept (charts apply the
    /// same few patterns over and over, and compiling is the costly part).
    pub fn compile(pattern: &str) -> Result<GoRegex, syntax::SyntaxError> {
        static COMPILED: std::sync::LazyLock<
            std::sync::Mutex<std::collections::HashMap<String, GoRegex>>,
        > = std::sync::LazyLock::new(Default::default);
        const KEEP: usize = 512;
        if let Ok(cache) = COMPILED.lock() {
            if let Some(found) = cache.get(pattern) {
                return Ok(found.clone());
            }
        }
        let compiled = GoRegex::compile_uncached(pattern)?;
        if let Ok(mut cache) = COMPILED.lock() {
            if cache.len() >= KEEP {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), compiled.clone());
        }
        Ok(compiled)
    }

    fn compile_uncached(pattern: &str) -> Result<GoRegex, syntax::SyntaxError> {
        let translation = syntax::translate(pattern)?;
        let regex = ::regex::RegexBuilder::new(&translation.pattern)
            .size_limit(SIZE_LIMIT)
            .nest_limit(4000)
            .build()
            .map_err(|_| syntax::SyntaxError {
                code: syntax::EXPRESSION_TOO_LARGE,
                expr: pattern.to_owned(),
            })?;
        Ok(GoRegex {
            regex,
            names: translation.names,
            empty_pattern: pattern.is_empty(),
        })
    }

    /// `MatchString`.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }

    /// `FindString`: the first match, or "".
    pub fn find<'s>(&self, s: &'s str) -> &'s str {
        self.regex.find(s).map_or("", |m| m.as_str())
    }

    /// The matches of `FindAllStringIndex(s, n)`: successive leftmost
    /// matches, skipping an empty match that touches the previous match.
    pub fn find_all(&self, s: &str, n: i64) -> Vec<(usize, usize)> {
        let limit = if n < 0 { s.len() + 1 } else { n as usize };
        let mut matches = Vec::new();
        let mut pos = 0;
        let mut prev_end: Option<usize> = None;
        while matches.len() < limit && pos <= s.len() {
            let Some(m) = self.regex.find_at(s, pos) else {
                break;
            };
            let mut accept = true;
            if m.end() == pos {
                // An empty match: not right after a previous match, and
                // the search moves on by one rune.
                if prev_end == Some(m.start()) {
                    accept = false;
                }
                pos += s[pos..].chars().next().map_or(1, char::len_utf8);
            } else {
                pos = m.end();
            }
            prev_end = Some(m.end());
            if accept {
                matches.push((m.start(), m.end()));
            }
        }
        matches
    }

    /// `ReplaceAllString` (`literal` false, with `$` expansion) or
    /// `ReplaceAllLiteralString`.
    pub fn replace_all(&self, s: &str, replacement: &str, literal: bool) -> String {
        let mut out = String::with_capacity(s.len());
        let mut last_end = 0;
        let mut search = 0;
        while search <= s.len() {
            let Some(caps) = self.regex.captures_at(s, search) else {
                break;
            };
            let Some(m) = caps.get(0) else {
                break;
            };
            out.push_str(&s[last_end..m.start()]);
            // No replacement for an empty match right after a match.
            if m.end() > last_end || m.start() == 0 {
                if literal {
                    out.push_str(replacement);
                } else {
                    self.expand(&mut out, replacement, s, &caps);
                }
            }
            last_end = m.end();
            let width = s[search..].chars().next().map_or(1, char::len_utf8);
            search = if search + width > m.end() {
                search + width
            } else if search + 1 > m.end() {
                search + 1
            } else {
                m.end()
            };
        }
        out.push_str(&s[last_end.min(s.len())..]);
        out
    }

    /// `Regexp.Expand`: `$n`, `${n}`, `$name`, `${name}` and `$$`; a name
    /// is the longest run of letters, digits and `_` (`$1W` is the group
    /// named `1W`); a malformed reference is kept as text.
    fn expand(&self, out: &mut String, template: &str, s: &str, caps: &::regex::Captures<'_>) {
        let mut rest = template;
        while let Some(dollar) = rest.find('$') {
            out.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                out.push('$');
                rest = after;
                continue;
            }
            let Some((name, after)) = extract_reference(rest) else {
                out.push('$');
                continue;
            };
            rest = after;
            let group = match group_number(name) {
                Some(number) => Some(number),
                None => self.names.iter().position(|n| n.as_deref() == Some(name)),
            };
            if let Some(text) = group.and_then(|g| caps.get(g)) {
                out.push_str(&s[text.start()..text.end()]);
            }
        }
        out.push_str(rest);
    }

    /// `Split(s, n)`.
    pub fn split(&self, s: &str, n: i64) -> Vec<String> {
        if n == 0 {
            return Vec::new();
        }
        if !self.empty_pattern && s.is_empty() {
            return vec![String::new()];
        }
        let matches = self.find_all(s, n);
        let mut parts = Vec::with_capacity(matches.len() + 1);
        let mut begin = 0;
        let mut end = 0;
        for (start, stop) in matches {
            if n > 0 && parts.len() as i64 == n - 1 {
                break;
            }
            end = start;
            if stop != 0 {
                parts.push(s[begin..end].to_owned());
            }
            begin = stop;
        }
        if end != s.len() {
            parts.push(s[begin..].to_owned());
        }
        parts
    }
}

/// Go's `extract`: the reference name after a `$` and the text after it.
fn extract_reference(s: &str) -> Option<(&str, &str)> {
    let (body, braced) = match s.strip_prefix('{') {
        Some(body) => (body, true),
        None => (s, false),
    };
    let len: usize = body
        .chars()
        .take_while(|&c| {
            crate::strings::is_go_letter(c) || crate::strings::is_go_digit(c) || c == '_'
        })
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let after = &body[len..];
    if braced {
        return after.strip_prefix('}').map(|after| (name, after));
    }
    Some((name, after))
}

/// A reference that is a group number: decimal, no leading zero, < 10⁸.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    let mut n: usize = 0;
    for b in name.bytes() {
        if n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

/// `regexp.QuoteMeta`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The panic of `regexp.MustCompile`: `regexp: Compile(`…`): ERROR`.
fn must_compile(pattern: &str) -> Result<GoRegex, FuncError> {
    GoRegex::compile(pattern).map_err(|e| {
        FuncError::new(format!(
            "regexp: Compile({}): {e}",
            quote_for_panic(pattern)
        ))
    })
}

/// Go's `regexp` `quote`: backquoted when `strconv.CanBackquote`, else
/// `strconv.Quote`d.
fn quote_for_panic(s: &str) -> String {
    let can_backquote = s
        .chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\x7f')));
    if can_backquote {
        format!("`{s}`")
    } else {
        caravel_gotemplate::fmt::quote(s, false)
    }
}

fn compile(pattern: &str) -> Result<GoRegex, FuncError> {
    GoRegex::compile(pattern).map_err(|e| FuncError::new(e.to_string()))
}

fn strings_value(items: impl IntoIterator<Item = String>) -> Value {
    Value::list(items.into_iter().map(Value::from))
}

/// How a function reports an invalid pattern.
#[derive(Clone, Copy)]
enum OnInvalid {
    /// The `must` variants: Go's compile error.
    Error,
    /// The plain variants: the `MustCompile` panic.
    Panic,
}

impl OnInvalid {
    fn compile(self, pattern: &str) -> Result<GoRegex, FuncError> {
        match self {
            OnInvalid::Error => compile(pattern),
            OnInvalid::Panic => must_compile(pattern),
        }
    }
}

/// Registers the regular expression functions.
pub fn register(funcs: &mut Funcs) {
    funcs.insert("regexMatch", |_, args| {
        want("regexMatch", args, 2)?;
        let pattern = string_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(Value::Bool(
            GoRegex::compile(pattern).is_ok_and(|re| re.is_match(s)),
        ))
    });
    funcs.insert("mustRegexMatch", |_, args| {
        want("mustRegexMatch", args, 2)?;
        let pattern = string_arg(&args[0])?;
        let s = string_arg(&args[1])?;
        Ok(Value::Bool(compile(pattern)?.is_match(s)))
    });
    for (name, on_invalid) in [
        ("regexFindAll", OnInvalid::Panic),
        ("mustRegexFindAll", OnInvalid::Error),
    ] {
        funcs.insert(name, move |_, args| {
            want(name, args, 3)?;
            let pattern = string_arg(&args[0])?;
            let s = string_arg(&args[1])?;
            let n = int_arg(&args[2])?;
            let re = on_invalid.compile(pattern)?;
            let found = re.find_all(s, n);
            Ok(strings_value(
                found.into_iter().map(|(a, b)| s[a..b].to_owned()),
            ))
        });
    }
    for (name, on_invalid) in [
        ("regexFind", OnInvalid::Panic),
        ("mustRegexFind", OnInvalid::Error),
    ] {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            let pattern = string_arg(&args[0])?;
            let s = string_arg(&args[1])?;
            Ok(Value::from(on_invalid.compile(pattern)?.find(s)))
        });
    }
    for (name, on_invalid, literal) in [
        ("regexReplaceAll", OnInvalid::Panic, false),
        ("mustRegexReplaceAll", OnInvalid::Error, false),
        ("regexReplaceAllLiteral", OnInvalid::Panic, true),
        ("mustRegexReplaceAllLiteral", OnInvalid::Error, true),
    ] {
        funcs.insert(name, move |_, args| {
            want(name, args, 3)?;
            let pattern = string_arg(&args[0])?;
            let s = string_arg(&args[1])?;
            let replacement = string_arg(&args[2])?;
            let re = on_invalid.compile(pattern)?;
            Ok(Value::from(re.replace_all(s, replacement, literal)))
        });
    }
    for (name, on_invalid) in [
        ("regexSplit", OnInvalid::Panic),
        ("mustRegexSplit", OnInvalid::Error),
    ] {
        funcs.insert(name, move |_, args| {
            want(name, args, 3)?;
            let pattern = string_arg(&args[0])?;
            let s = string_arg(&args[1])?;
            let n = int_arg(&args[2])?;
            Ok(strings_value(on_invalid.compile(pattern)?.split(s, n)))
        });
    }
    funcs.insert("regexQuoteMeta", |_, args| {
        want("regexQuoteMeta", args, 1)?;
        Ok(Value::from(quote_meta(string_arg(&args[0])?)))
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn re(p: &str) -> GoRegex {
        GoRegex::compile(p).unwrap()
    }

    #[test]
    fn empty_matches_follow_gos_all_rules() {
        let a = re("a*");
        let found: Vec<&str> = a
            .find_all("baaac", -1)
            .into_iter()
            .map(|(s, e)| &"baaac"[s..e])
            .collect();
        assert_eq!(found, vec!["", "aaa", ""]);
        assert_eq!(a.replace_all("baaac", "X", false), "XbXcX");
        assert_eq!(a.split("baaac", -1), vec!["b", "c"]);
        assert_eq!(re("").split("abc", -1), vec!["a", "b", "c"]);
        assert_eq!(re("x").split("", -1), vec![""]);
        assert!(re("x").split("axb", 0).is_empty());
        assert_eq!(re(",").split("a,b,c", 2), vec!["a", "b,c"]);
    }

    #[test]
    fn replacements_expand_as_go_expand_does() {
        let r = re("(?P<first>\\w+) (\\w+)");
        assert_eq!(
            r.replace_all("hello world", "$2 ${first}", false),
            "world hello"
        );
        assert_eq!(r.replace_all("hello world", "$1W", false), "");
        assert_eq!(r.replace_all("hello world", "${1}W", false), "helloW");
        assert_eq!(r.replace_all("hello world", "$$1 $", false), "$1 $");
        assert_eq!(r.replace_all("hello world", "$1", true), "$1");
        let named = re("(?P<1W>a)");
        assert_eq!(named.replace_all("a", "[$1W]", false), "[a]");
    }

    #[test]
    fn go_ascii_classes_do_not_match_unicode() {
        assert!(!re(r"^\w$").is_match("é"));
        assert!(!re(r"^\d$").is_match("٣"));
        assert!(re(r"\bfoo\b").is_match("a foo b"));
        assert_eq!(re(r"[\w-\.]+").find("ab-c.d!"), "ab-c.d");
    }

    #[test]
    fn invalid_patterns_report_gos_panic_text() {
        let e = must_compile("[").unwrap_err();
        assert_eq!(
            e.message,
            "regexp: Compile(`[`): error parsing regexp: missing closing ]: `[`"
        );
        assert_eq!(quote_meta("a.b*c"), "a\\.b\\*c");
    }
}
