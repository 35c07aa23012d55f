//! Go's regular expression syntax (RE2 as `regexp.Compile` parses it)
//! translated to the `regex` crate's, with Go's error messages.
//!
//! The dialects differ in details charts hit: Go accepts `[\w-.]` (a `-`
//! after a class is literal), `a{` and `x{,2}` (a `{` that starts no
//! repetition is literal), octal escapes, `\Q…\E` and capture names that
//! start with a digit; its `\d`, `\w`, `\s` and `\b` are ASCII-only. The
//! translator parses Go's syntax itself and writes an unambiguous Rust
//! pattern (every non-alphanumeric ASCII literal as `\x{..}`), so no Go
//! text is ever read by the other dialect's rules.

use std::fmt;

/// A Go `regexp/syntax` error: `error parsing regexp: CODE: `EXPR``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub code: &'static str,
    pub expr: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

impl std::error::Error for SyntaxError {}

const INVALID_CHAR_RANGE: &str = "invalid character class range";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_BRACKET: &str = "missing closing ]";
const MISSING_PAREN: &str = "missing closing )";
const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
const UNEXPECTED_PAREN: &str = "unexpected )";
pub const EXPRESSION_TOO_LARGE: &str = "expression too large";

fn error(code: &'static str, expr: &str) -> SyntaxError {
    SyntaxError {
        code,
        expr: expr.to_owned(),
    }
}

/// A translated pattern: the Rust text and the name of every capture
/// group (index 0 is the whole match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub pattern: String,
    pub names: Vec<Option<String>>,
}

/// What the last parsed item was, for Go's repetition checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Nothing to repeat: start, after `(` or `|`.
    Nothing,
    /// Something repeatable.
    Item,
    /// A repetition operator starting at this byte offset.
    Repeat(usize),
}

const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

const GO_CATEGORIES: [&str; 37] = [
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs", "LC",
];

/// Translates Go pattern `pattern` to the `regex` crate's syntax.
pub fn translate(pattern: &str) -> Result<Translation, SyntaxError> {
    Translator {
        pattern,
        pos: 0,
        out: String::with_capacity(pattern.len() * 2),
        names: vec![None],
        depth: 0,
        last: Last::Nothing,
    }
    .run()
}

struct Translator<'a> {
    pattern: &'a str,
    pos: usize,
    out: String,
    names: Vec<Option<String>>,
    depth: usize,
    last: Last,
}

impl Translator<'_> {
    fn rest(&self) -> &str {
        &self.pattern[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.pattern.get(self.pos + offset..)?.chars().next()
    }

    fn run(mut self) -> Result<Translation, SyntaxError> {
        while let Some(c) = self.peek() {
            match c {
                '(' => self.open_group()?,
                ')' => {
                    if self.depth == 0 {
                        return Err(error(UNEXPECTED_PAREN, self.pattern));
                    }
                    self.depth -= 1;
                    self.out.push(')');
                    self.pos += 1;
                    self.last = Last::Item;
                }
                '|' => {
                    self.out.push('|');
                    self.pos += 1;
                    self.last = Last::Nothing;
                }
                '*' | '+' | '?' => {
                    let start = self.pos;
                    self.pos += 1;
                    if self.peek() == Some('?') {
                        self.pos += 1;
                    }
                    self.repeat(start)?;
                    self.out.push_str(&self.pattern[start..self.pos]);
                }
                '{' => self.brace()?,
                '[' => {
                    let class = self.class()?;
                    self.out.push_str(&class);
                    self.last = Last::Item;
                }
                '.' => self.item("."),
                '^' => self.item("(?:^)"),
                '$' => self.item("(?:$)"),
                '\\' => self.escape()?,
                c => {
                    self.pos += c.len_utf8();
                    push_literal(&mut self.out, c);
                    self.last = Last::Item;
                }
            }
        }
        if self.depth > 0 {
            return Err(error(MISSING_PAREN, self.pattern));
        }
        Ok(Translation {
            pattern: self.out,
            names: self.names,
        })
    }

    fn item(&mut self, text: &str) {
        self.out.push_str(text);
        self.pos += 1;
        self.last = Last::Item;
    }

    /// Go's checks before applying a repetition operator that starts at
    /// `start` and ends at the current position.
    fn repeat(&mut self, start: usize) -> Result<(), SyntaxError> {
        match self.last {
            Last::Repeat(previous) => {
                return Err(error(INVALID_REPEAT_OP, &self.pattern[previous..self.pos]))
            }
            Last::Nothing => {
                return Err(error(
                    MISSING_REPEAT_ARGUMENT,
                    &self.pattern[start..self.pos],
                ))
            }
            Last::Item => {}
        }
        self.last = Last::Repeat(start);
        Ok(())
    }

    /// `{n}`, `{n,}`, `{n,m}`, or a literal `{`.
    fn brace(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        let Some((min, max, len)) = parse_repeat(self.rest()) else {
            self.pos += 1;
            push_literal(&mut self.out, '{');
            self.last = Last::Item;
            return Ok(());
        };
        self.pos += len;
        if !(0..=1000).contains(&min) || max > 1000 || max >= 0 && min > max {
            return Err(error(INVALID_REPEAT_SIZE, &self.pattern[start..self.pos]));
        }
        let lazy = self.peek() == Some('?');
        if lazy {
            self.pos += 1;
        }
        self.repeat(start)?;
        match max {
            -1 => self.out.push_str(&format!("{{{min},}}")),
            _ => self.out.push_str(&format!("{{{min},{max}}}")),
        }
        if lazy {
            self.out.push('?');
        }
        Ok(())
    }

    fn open_group(&mut self) -> Result<(), SyntaxError> {
        let rest = self.rest();
        if !rest.starts_with("(?") {
            self.pos += 1;
            self.depth += 1;
            self.names.push(None);
            self.out.push('(');
            self.last = Last::Nothing;
            return Ok(());
        }
        let b = rest.as_bytes();
        let named = (b.len() > 4 && b[2] == b'P' && b[3] == b'<') || (b.len() > 3 && b[2] == b'<');
        if named {
            let begin = if b[2] == b'P' { 4 } else { 3 };
            let Some(end) = rest.find('>') else {
                return Err(error(INVALID_NAMED_CAPTURE, rest));
            };
            let name = &rest[begin..end];
            if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()) {
                return Err(error(INVALID_NAMED_CAPTURE, &rest[..=end]));
            }
            self.names.push(Some(name.to_owned()));
            self.pos += end + 1;
            self.depth += 1;
            self.out.push('(');
            self.last = Last::Nothing;
            return Ok(());
        }
        // Flags: `(?flags)` or `(?flags:re)`, each flag set or, after `-`,
        // cleared; the last mention of a flag wins.
        let mut states: Vec<(char, bool)> = Vec::new();
        let mut negated = false;
        let mut saw_flag = false;
        let mut offset = 2;
        for c in rest[2..].chars() {
            offset += c.len_utf8();
            match c {
                'i' | 'm' | 's' | 'U' => {
                    states.retain(|(f, _)| *f != c);
                    states.push((c, !negated));
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => {
                    let set: String = states
                        .iter()
                        .filter(|(_, on)| *on)
                        .map(|(f, _)| *f)
                        .collect();
                    let cleared: String = states
                        .iter()
                        .filter(|(_, on)| !*on)
                        .map(|(f, _)| *f)
                        .collect();
                    let mut flags = set;
                    if !cleared.is_empty() {
                        flags.push('-');
                        flags.push_str(&cleared);
                    }
                    self.pos += offset;
                    if c == ':' {
                        self.depth += 1;
                        self.out.push_str(&format!("(?{flags}:"));
                        self.last = Last::Nothing;
                    } else {
                        if !flags.is_empty() {
                            self.out.push_str(&format!("(?{flags})"));
                        }
                        if let Last::Repeat(_) = self.last {
                            self.last = Last::Item;
                        }
                    }
                    return Ok(());
                }
                _ => break,
            }
        }
        Err(error(INVALID_PERL_OP, &rest[..offset.min(rest.len())]))
    }

    fn escape(&mut self) -> Result<(), SyntaxError> {
        let Some(next) = self.peek_at(1) else {
            return Err(error(TRAILING_BACKSLASH, ""));
        };
        let assertion = match next {
            'A' => Some("(?:\\A)"),
            'z' => Some("(?:\\z)"),
            'b' => Some("(?-u:\\b)"),
            'B' => Some("(?-u:\\B)"),
            _ => None,
        };
        if let Some(text) = assertion {
            self.out.push_str(text);
            self.pos += 2;
            self.last = Last::Item;
            return Ok(());
        }
        match next {
            'C' => Err(error(INVALID_ESCAPE, "\\C")),
            'Q' => {
                let body = &self.pattern[self.pos + 2..];
                let (literal, consumed) = match body.find("\\E") {
                    Some(end) => (&body[..end], end + 2),
                    None => (body, body.len()),
                };
                for c in literal.chars() {
                    push_literal(&mut self.out, c);
                    self.last = Last::Item;
                }
                if let Last::Repeat(_) = self.last {
                    self.last = Last::Item;
                }
                self.pos += 2 + consumed;
                Ok(())
            }
            'p' | 'P' => {
                let (class, len) = unicode_class(self.rest())?;
                self.out.push_str(&class);
                self.pos += len;
                self.last = Last::Item;
                Ok(())
            }
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
                self.out.push('[');
                self.out.push_str(perl_class(next));
                self.out.push(']');
                self.pos += 2;
                self.last = Last::Item;
                Ok(())
            }
            _ => {
                let (c, len) = parse_escape(self.rest())?;
                self.pos += len;
                push_literal(&mut self.out, c);
                self.last = Last::Item;
                Ok(())
            }
        }
    }

    /// A bracketed class, translated as a whole.
    fn class(&mut self) -> Result<String, SyntaxError> {
        let whole = self.rest();
        let mut out = String::from("[");
        let mut pos = 1;
        if whole[pos..].starts_with('^') {
            out.push('^');
            pos += 1;
        }
        let mut first = true;
        loop {
            let t = &whole[pos..];
            if t.starts_with(']') && !first {
                pos += 1;
                break;
            }
            first = false;
            if t.len() > 2 && t.starts_with("[:") {
                if let Some(end) = t[2..].find(":]") {
                    let name = &t[..end + 4];
                    let bare = name[2..name.len() - 2].trim_start_matches('^');
                    if name[2..].starts_with("^^") || !POSIX_CLASSES.contains(&bare) {
                        return Err(error(INVALID_CHAR_RANGE, name));
                    }
                    out.push_str(name);
                    pos += name.len();
                    continue;
                }
            }
            if t.starts_with("\\p") || t.starts_with("\\P") {
                let (class, len) = unicode_class(t)?;
                out.push_str(&class);
                pos += len;
                continue;
            }
            if let Some(c @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) =
                t.strip_prefix('\\').and_then(|r| r.chars().next())
            {
                out.push('[');
                out.push_str(perl_class(c));
                out.push(']');
                pos += 2;
                continue;
            }
            let range_start = pos;
            let (lo, len) = class_char(t, whole)?;
            pos += len;
            let mut hi = lo;
            let t = &whole[pos..];
            if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
                pos += 1;
                let (h, len) = class_char(&whole[pos..], whole)?;
                pos += len;
                if h < lo {
                    return Err(error(INVALID_CHAR_RANGE, &whole[range_start..pos]));
                }
                hi = h;
            }
            push_class_literal(&mut out, lo);
            if hi != lo {
                out.push('-');
                push_class_literal(&mut out, hi);
            }
        }
        out.push(']');
        self.pos += pos;
        Ok(out)
    }
}

/// One character of a class: an escape or a rune.
fn class_char(t: &str, whole: &str) -> Result<(char, usize), SyntaxError> {
    match t.chars().next() {
        None => Err(error(MISSING_BRACKET, whole)),
        Some('\\') => parse_escape(t),
        Some(c) => Ok((c, c.len_utf8())),
    }
}

/// Go's `\d`, `\s`, `\w` (ASCII) and their negations, as class items.
fn perl_class(c: char) -> &'static str {
    match c {
        'd' => "0-9",
        'D' => "^0-9",
        's' => "\\t\\n\\x0C\\r ",
        'S' => "^\\t\\n\\x0C\\r ",
        'w' => "0-9A-Za-z_",
        _ => "^0-9A-Za-z_",
    }
}

/// `\pL`, `\p{Greek}`, `\P{^Lu}`…: Go accepts its general categories,
/// scripts and `Any`, by their exact names.
fn unicode_class(s: &str) -> Result<(String, usize), SyntaxError> {
    let mut negated = s.as_bytes().get(1) == Some(&b'P');
    let (seq_len, name) = match s[2..].chars().next() {
        Some('{') => {
            let Some(end) = s.find('}') else {
                return Err(error(INVALID_CHAR_RANGE, s));
            };
            (end + 1, &s[3..end])
        }
        Some(c) => (2 + c.len_utf8(), &s[2..2 + c.len_utf8()]),
        None => (2, ""),
    };
    let seq = &s[..seq_len];
    let name = match name.strip_prefix('^') {
        Some(bare) => {
            negated = !negated;
            bare
        }
        None => name,
    };
    let rust_name = if name == "Any" || GO_CATEGORIES.contains(&name) {
        name.to_owned()
    } else if name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && ::regex::Regex::new(&format!("\\p{{sc={name}}}")).is_ok()
    {
        format!("sc={name}")
    } else {
        return Err(error(INVALID_CHAR_RANGE, seq));
    };
    let letter = if negated { 'P' } else { 'p' };
    Ok((format!("\\{letter}{{{rust_name}}}"), seq_len))
}

/// Go's `parseEscape` for an escape at the start of `s`: the rune and the
/// escape's length.
fn parse_escape(s: &str) -> Result<(char, usize), SyntaxError> {
    let t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err(error(TRAILING_BACKSLASH, ""));
    };
    let invalid = |len: usize| error(INVALID_ESCAPE, &s[..len.min(s.len())]);
    let after = 1 + c.len_utf8();
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        return Ok((c, after));
    }
    let is_octal = |b: Option<&u8>| b.is_some_and(|b| (b'0'..=b'7').contains(b));
    match c {
        '1'..='7' if !is_octal(s.as_bytes().get(2)) => Err(invalid(after)),
        '0'..='7' => {
            let bytes = s.as_bytes();
            let mut value = u32::from(bytes[1] - b'0');
            let mut len = 2;
            while len < 4 && is_octal(bytes.get(len)) {
                value = value * 8 + u32::from(bytes[len] - b'0');
                len += 1;
            }
            Ok((
                char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
                len,
            ))
        }
        'x' => hex_escape(s).ok_or_else(|| {
            // Go reports the escape up to where it stopped making sense.
            let consumed = hex_escape_consumed(s);
            invalid(consumed)
        }),
        'a' => Ok(('\x07', after)),
        'f' => Ok(('\x0C', after)),
        'n' => Ok(('\n', after)),
        'r' => Ok(('\r', after)),
        't' => Ok(('\t', after)),
        'v' => Ok(('\x0B', after)),
        _ => Err(invalid(after)),
    }
}

/// `\xHH` or `\x{H…}` at the start of `s`.
fn hex_escape(s: &str) -> Option<(char, usize)> {
    let body = &s[2..];
    if let Some(braced) = body.strip_prefix('{') {
        let end = braced.find('}')?;
        let digits = &braced[..end];
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let value = u32::from_str_radix(digits.trim_start_matches('0'), 16)
            .ok()
            .or_else(|| digits.bytes().all(|b| b == b'0').then_some(0))?;
        if value > 0x10FFFF {
            return None;
        }
        let c = char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER);
        return Some((c, 2 + 1 + end + 1));
    }
    let digits = body.get(..2)?;
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let value = u32::from_str_radix(digits, 16).ok()?;
    Some((char::from_u32(value)?, 4))
}

/// How much of a malformed `\x` escape Go consumed before giving up.
fn hex_escape_consumed(s: &str) -> usize {
    let body = &s[2..];
    let Some(braced) = body.strip_prefix('{') else {
        // `\x`, then up to two runes.
        return body
            .char_indices()
            .take(2)
            .last()
            .map_or(2, |(i, c)| 2 + i + c.len_utf8());
    };
    let mut len = 3;
    let mut value: u32 = 0;
    for c in braced.chars() {
        len += c.len_utf8();
        match c.to_digit(16) {
            Some(d) if c != '}' => {
                value = value.saturating_mul(16).saturating_add(d);
                if value > 0x10FFFF {
                    return len;
                }
            }
            _ => return len,
        }
    }
    len
}

/// Go's `parseRepeat`: `{min}`, `{min,}` or `{min,max}` at the start of
/// `s`, as (min, max or -1, length); a number over 10⁸ is -1.
fn parse_repeat(s: &str) -> Option<(i64, i64, usize)> {
    let b = s.as_bytes();
    let mut pos = 1;
    let (mut min, len) = parse_int(&b[pos..])?;
    pos += len;
    let max = if *b.get(pos)? != b',' {
        min
    } else {
        pos += 1;
        if *b.get(pos)? == b'}' {
            -1
        } else {
            let (max, len) = parse_int(&b[pos..])?;
            pos += len;
            if max < 0 {
                min = -1;
            }
            max
        }
    };
    if b.get(pos) != Some(&b'}') {
        return None;
    }
    Some((min, max, pos + 1))
}

/// Go's `parseInt`: decimal digits without a leading zero; -1 when over
/// 10⁸.
fn parse_int(b: &[u8]) -> Option<(i64, usize)> {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || (digits >= 2 && b[0] == b'0') {
        return None;
    }
    let mut n: i64 = 0;
    for &c in &b[..digits] {
        if n >= 100_000_000 {
            return Some((-1, digits));
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some((n, digits))
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    } else {
        out.push(c);
    }
}

fn push_class_literal(out: &mut String, c: char) {
    push_literal(out, c);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rust(pattern: &str) -> String {
        translate(pattern).unwrap().pattern
    }

    fn err(pattern: &str) -> String {
        translate(pattern).unwrap_err().to_string()
    }

    #[test]
    fn go_only_syntax_is_translated() {
        assert_eq!(rust(r"[\w-\.]"), r"[[0-9A-Za-z_]\x{2D}\x{2E}]");
        assert_eq!(rust("a{"), r"a\x{7B}");
        assert_eq!(rust("a{,2}"), r"a\x{7B}\x{2C}2\x{7D}");
        assert_eq!(rust("a{2}"), "a{2,2}");
        assert_eq!(rust("a{2,}?"), "a{2,}?");
        assert_eq!(rust(r"\101"), "A");
        assert_eq!(rust(r"\Qa.b\E"), r"a\x{2E}b");
        assert_eq!(rust(r"\d\b"), r"[0-9](?-u:\b)");
        assert_eq!(rust("(?i-i)a(?)"), "(?-i)a");
    }

    #[test]
    fn capture_names_are_kept_apart_from_the_pattern() {
        let t = translate("(?P<1W>a)(b)(?<name>c)").unwrap();
        assert_eq!(t.pattern, "(a)(b)(c)");
        assert_eq!(
            t.names,
            vec![None, Some("1W".to_owned()), None, Some("name".to_owned())]
        );
    }

    #[test]
    fn errors_are_worded_as_go_words_them() {
        assert_eq!(err("["), "error parsing regexp: missing closing ]: `[`");
        assert_eq!(
            err("a**"),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
        assert_eq!(
            err("(?x)a"),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?x`"
        );
        assert_eq!(
            err(r"\q"),
            "error parsing regexp: invalid escape sequence: `\\q`"
        );
        assert_eq!(
            err("a{1001}"),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert_eq!(
            err(r"\p{Foo}"),
            "error parsing regexp: invalid character class range: `\\p{Foo}`"
        );
        assert_eq!(err("(a"), "error parsing regexp: missing closing ): `(a`");
        assert_eq!(err("a)"), "error parsing regexp: unexpected ): `a)`");
        assert_eq!(
            err("*"),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(
            err("[z-a]"),
            "error parsing regexp: invalid character class range: `z-a`"
        );
        assert_eq!(
            err("a\\"),
            "error parsing regexp: trailing backslash at end of expression: ``"
        );
        assert_eq!(
            err("(?P<a-b>x)"),
            "error parsing regexp: invalid named capture: `(?P<a-b>`"
        );
    }

    #[test]
    fn translations_compile() {
        for p in [
            r"[\w-\.]+",
            "^*$+",
            r"\b+",
            "(?i)k",
            r"[[:alpha:][:^digit:]]",
            r"\pL\p{Greek}\P{^Lu}",
            "x*?|(?s:.)",
        ] {
            let t = rust(p);
            assert!(::regex::Regex::new(&t).is_ok(), "{p} -> {t}");
        }
    }
}
