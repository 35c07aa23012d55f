//! Sprig's `urlParse` and `urlJoin`, on a port of the parts of Go's
//! `net/url` they use: `url.Parse` (scheme, opaque, authority, path and
//! fragment unescaping, with Go's error texts) and `URL.String` (Go's
//! escaping per component).

use std::collections::BTreeMap;

use caravel_gotemplate::{FuncError, Funcs, Value};

use crate::convert::{dict_arg, string_arg, want};

/// Registers `urlParse` and `urlJoin`.
pub fn register(funcs: &mut Funcs) {
    funcs.insert("urlParse", |_, args| {
        want("urlParse", args, 1)?;
        let raw = string_arg(&args[0])?;
        let url =
            Url::parse(raw).map_err(|e| FuncError::new(format!("unable to parse url: {e}")))?;
        Ok(url.to_dict())
    });
    funcs.insert("urlJoin", |_, args| {
        want("urlJoin", args, 1)?;
        let dict = dict_arg(&args[0])?;
        Ok(Value::from(join(dict.as_deref())?))
    });
}

/// Sprig's `urlJoin`: builds a `url.URL` from the dict's string fields and
/// prints it.
fn join(dict: Option<&BTreeMap<String, Value>>) -> Result<String, FuncError> {
    let field = |key: &str| -> Result<String, FuncError> {
        match dict.and_then(|d| d.get(key)) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            // `reflect.TypeOf(nil).Kind()` in Sprig.
            Some(Value::Nil) => Err(FuncError::new(
                "runtime error: invalid memory address or nil pointer dereference",
            )),
            Some(other) => Err(FuncError::new(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                kind_name(other)
            ))),
        }
    };
    let mut url = Url {
        scheme: field("scheme")?,
        host: field("host")?,
        path: field("path")?,
        raw_query: field("query")?,
        opaque: field("opaque")?,
        fragment: field("fragment")?,
        ..Url::default()
    };
    let userinfo = field("userinfo")?;
    if !userinfo.is_empty() {
        let parsed = Url::parse(&format!("proto://{userinfo}@host"))
            .map_err(|e| FuncError::new(format!("unable to parse userinfo in dict: {e}")))?;
        url.user = parsed.user;
    }
    Ok(url.to_string())
}

/// Go's `reflect.Kind` name of a value.
fn kind_name(v: &Value) -> &str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) | Value::SharedMap(_) => "map",
        Value::Nil => "invalid",
        Value::Object(_) => "struct",
    }
}

// === url.URL ===

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Userinfo {
    username: String,
    password: Option<String>,
}

impl Userinfo {
    /// `Userinfo.String`.
    fn to_go_string(&self) -> String {
        let mut s = escape(&self.username, Mode::UserPassword);
        if let Some(password) = &self.password {
            s.push(':');
            s.push_str(&escape(password, Mode::UserPassword));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<Userinfo>,
    host: String,
    path: String,
    raw_path: String,
    omit_host: bool,
    force_query: bool,
    raw_query: String,
    fragment: String,
}

/// A `url.Parse` error, printed as Go's `*url.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParseError {
    url: String,
    message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "parse {}: {}",
            caravel_gotemplate::fmt::quote(&self.url, false),
            self.message
        )
    }
}

impl Url {
    /// `url.Parse`.
    fn parse(raw: &str) -> Result<Url, ParseError> {
        let (rest, fragment) = match raw.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (raw, None),
        };
        let fail = |url: &str, message: String| ParseError {
            url: url.to_owned(),
            message,
        };
        let mut url = Url::parse_without_fragment(rest).map_err(|m| fail(rest, m))?;
        if let Some(fragment) = fragment {
            url.fragment = unescape(fragment, Mode::Fragment).map_err(|m| fail(raw, m))?;
        }
        Ok(url)
    }

    fn parse_without_fragment(raw: &str) -> Result<Url, String> {
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err("net/url: invalid control character in URL".to_owned());
        }
        let mut url = Url::default();
        if raw == "*" {
            url.path = "*".to_owned();
            return Ok(url);
        }
        let (scheme, mut rest) = split_scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else if let Some((before, query)) = rest.split_once('?') {
            url.raw_query = query.to_owned();
            rest = before;
        }
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                // A rootless path after a scheme is opaque.
                url.opaque = rest.to_owned();
                return Ok(url);
            }
            let segment = rest.split('/').next().unwrap_or_default();
            if segment.contains(':') {
                return Err("first path segment in URL cannot contain colon".to_owned());
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let authority_and_path = &rest[2..];
            let (authority, path) = match authority_and_path.find('/') {
                Some(i) => authority_and_path.split_at(i),
                None => (authority_and_path, ""),
            };
            let (user, host) = parse_authority(authority)?;
            url.user = user;
            url.host = host;
            rest = path;
        } else if !url.scheme.is_empty() && rest.starts_with('/') {
            url.omit_host = true;
        }
        url.path = unescape(rest, Mode::Path)?;
        url.raw_path = if escape(&url.path, Mode::Path) == rest {
            String::new()
        } else {
            rest.to_owned()
        };
        Ok(url)
    }

    /// `URL.Hostname`: the host without port and IPv6 brackets.
    fn hostname(&self) -> &str {
        let mut host = self.host.as_str();
        if let Some(colon) = host.rfind(':') {
            if valid_optional_port(&host[colon..]) {
                host = &host[..colon];
            }
        }
        if host.starts_with('[') && host.ends_with(']') && host.len() >= 2 {
            host = &host[1..host.len() - 1];
        }
        host
    }

    /// `URL.EscapedPath`.
    fn escaped_path(&self) -> String {
        if !self.raw_path.is_empty()
            && valid_encoded(&self.raw_path)
            && unescape(&self.raw_path, Mode::Path).is_ok_and(|p| p == self.path)
        {
            return self.raw_path.clone();
        }
        if self.path == "*" {
            return "*".to_owned();
        }
        escape(&self.path, Mode::Path)
    }

    /// Sprig's `urlParse` dict.
    fn to_dict(&self) -> Value {
        let userinfo = self
            .user
            .as_ref()
            .map(Userinfo::to_go_string)
            .unwrap_or_default();
        Value::map([
            ("scheme", Value::from(self.scheme.as_str())),
            ("host", Value::from(self.host.as_str())),
            ("hostname", Value::from(self.hostname())),
            ("path", Value::from(self.path.as_str())),
            ("query", Value::from(self.raw_query.as_str())),
            ("opaque", Value::from(self.opaque.as_str())),
            ("fragment", Value::from(self.fragment.as_str())),
            ("userinfo", Value::from(userinfo)),
        ])
    }
}

impl std::fmt::Display for Url {
    /// `URL.String`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = String::new();
        if !self.scheme.is_empty() {
            buf.push_str(&self.scheme);
            buf.push(':');
        }
        if !self.opaque.is_empty() {
            buf.push_str(&self.opaque);
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                let omit = self.omit_host && self.host.is_empty() && self.user.is_none();
                if !omit {
                    if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                        buf.push_str("//");
                    }
                    if let Some(user) = &self.user {
                        buf.push_str(&user.to_go_string());
                        buf.push('@');
                    }
                    if !self.host.is_empty() {
                        buf.push_str(&escape(&self.host, Mode::Host));
                    }
                }
            }
            let path = self.escaped_path();
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                buf.push('/');
            }
            if buf.is_empty() {
                // A colon in the first segment would read as a scheme.
                let segment = path.split('/').next().unwrap_or_default();
                if segment.contains(':') {
                    buf.push_str("./");
                }
            }
            buf.push_str(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            buf.push('?');
            buf.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            buf.push('#');
            buf.push_str(&escape(&self.fragment, Mode::Fragment));
        }
        f.write_str(&buf)
    }
}

/// Go's `getScheme`: the scheme before the first `:`, if the text before
/// it is a valid scheme.
fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, b) in raw.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".to_owned());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<(Option<Userinfo>, String), String> {
    let at = authority.rfind('@');
    let host = parse_host(match at {
        Some(i) => &authority[i + 1..],
        None => authority,
    })?;
    let Some(at) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..at];
    if !valid_userinfo(userinfo) {
        return Err("net/url: invalid userinfo".to_owned());
    }
    let user = match userinfo.split_once(':') {
        None => Userinfo {
            username: unescape(userinfo, Mode::UserPassword)?,
            password: None,
        },
        Some((username, password)) => Userinfo {
            username: unescape(username, Mode::UserPassword)?,
            password: Some(unescape(password, Mode::UserPassword)?),
        },
    };
    Ok((Some(user), host))
}

fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".to_owned());
        };
        let port = &host[i + 1..];
        if !valid_optional_port(port) {
            return Err(format!(
                "invalid port {} after host",
                caravel_gotemplate::fmt::quote(port, false)
            ));
        }
        if let Some(zone) = host[..i].find("%25") {
            let a = unescape(&host[..zone], Mode::Host)?;
            let b = unescape(&host[zone..i], Mode::Zone)?;
            let c = unescape(&host[i..], Mode::Host)?;
            return Ok(a + &b + &c);
        }
    } else if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !valid_optional_port(port) {
            return Err(format!(
                "invalid port {} after host",
                caravel_gotemplate::fmt::quote(port, false)
            ));
        }
    }
    unescape(host, Mode::Host)
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        _ if port.is_empty() => true,
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

fn valid_userinfo(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c))
}

/// Go's `validEncoded` for paths.
fn valid_encoded(s: &str) -> bool {
    s.bytes()
        .all(|b| "!$&'()*+,;=:@[]%".contains(char::from(b)) || !should_escape(b, Mode::Path))
}

// === escaping ===

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone) && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Mode::Path => c == b'?',
                Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Mode::Fragment => false,
                Mode::Host | Mode::Zone => true,
            };
        }
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

/// Go's `escape`: `%XX` for every byte `should_escape` selects.
fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if should_escape(b, mode) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Go's `unescape`, with its checks for hosts and zones; invalid UTF-8 in
/// the result becomes replacement characters.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    let end = (i + 3).min(b.len());
                    return Err(escape_error(&s[i..end]));
                }
                let v = hex(b[i + 1]) << 4 | hex(b[i + 2]);
                if mode == Mode::Host && hex(b[i + 1]) < 8 && &s[i..i + 3] != "%25" {
                    return Err(escape_error(&s[i..i + 3]));
                }
                if mode == Mode::Zone
                    && &s[i..i + 3] != "%25"
                    && v != b' '
                    && should_escape(v, Mode::Host)
                {
                    return Err(escape_error(&s[i..i + 3]));
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(format!(
                        "invalid character {} in host name",
                        caravel_gotemplate::fmt::quote(&s[i..i + 1], false)
                    ));
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn escape_error(s: &str) -> String {
    format!(
        "invalid URL escape {}",
        caravel_gotemplate::fmt::quote(s, false)
    )
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c.wrapping_sub(b'A').wrapping_add(10),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_as_go_does() {
        let u = Url::parse("https://u:p@host:8080/a%20b/c?x=1&y=2#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "host:8080");
        assert_eq!(u.hostname(), "host");
        assert_eq!(u.path, "/a b/c");
        assert_eq!(u.raw_query, "x=1&y=2");
        assert_eq!(u.fragment, "frag");
        assert_eq!(u.user.unwrap().to_go_string(), "u:p");
        let m = Url::parse("mailto:joe@x.com").unwrap();
        assert_eq!(m.opaque, "joe@x.com");
        assert_eq!(
            Url::parse("::").unwrap_err().to_string(),
            "parse \"::\": missing protocol scheme"
        );
        assert_eq!(
            Url::parse("http://h/%zz").unwrap_err().to_string(),
            "parse \"http://h/%zz\": invalid URL escape \"%zz\""
        );
    }

    #[test]
    fn string_escapes_each_component() {
        let u = Url {
            scheme: "https".into(),
            host: "h".into(),
            path: "/a b".into(),
            raw_query: "q=1".into(),
            fragment: "f g".into(),
            user: Some(Userinfo {
                username: "u".into(),
                password: Some("p".into()),
            }),
            ..Url::default()
        };
        assert_eq!(u.to_string(), "https://u:p@h/a%20b?q=1#f%20g");
        let relative = Url {
            path: "a:b".into(),
            ..Url::default()
        };
        assert_eq!(relative.to_string(), "./a:b");
    }
}
