//! Sprig's path functions: `base`, `dir`, `clean`, `ext` and `isAbs` are
//! Go's `path` (slash-separated paths), the `os` variants are Go's
//! `path/filepath`, which on Linux (where Helm renders) behaves the same.

use caravel_gotemplate::{Funcs, Value};

use crate::convert::{string_arg, want};

/// A path function over the string argument.
type PathFn = fn(&str) -> Value;

/// Registers the path functions.
pub fn register(funcs: &mut Funcs) {
    let functions: [(&str, PathFn); 10] = [
        ("base", |p| Value::from(base(p))),
        ("dir", |p| Value::from(dir(p))),
        ("clean", |p| Value::from(clean(p))),
        ("ext", |p| Value::from(ext(p))),
        ("isAbs", |p| Value::Bool(p.starts_with('/'))),
        ("osBase", |p| Value::from(base(p))),
        ("osDir", |p| Value::from(dir(p))),
        ("osClean", |p| Value::from(clean(p))),
        ("osExt", |p| Value::from(ext(p))),
        ("osIsAbs", |p| Value::Bool(p.starts_with('/'))),
    ];
    for (name, f) in functions {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            Ok(f(string_arg(&args[0])?))
        });
    }
}

/// `path.Base`: the last element, trailing slashes ignored; `.` for an
/// empty path, `/` for slashes only.
pub fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    let last = match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    };
    if last.is_empty() {
        return "/".to_owned();
    }
    last.to_owned()
}

/// `path.Dir`: everything up to the last slash, cleaned.
pub fn dir(path: &str) -> String {
    let end = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..end])
}

/// `path.Ext`: the suffix from the last dot of the last element.
pub fn ext(path: &str) -> String {
    for (i, b) in path.bytes().enumerate().rev() {
        match b {
            b'/' => break,
            b'.' => return path[i..].to_owned(),
            _ => {}
        }
    }
    String::new()
}

/// `path.Clean`: the shortest equivalent path, by purely lexical
/// processing (repeated slashes, `.` and `..` elements, trailing slash).
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let p = path.as_bytes();
    let n = p.len();
    let rooted = p[0] == b'/';
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || p[r + 1] == b'/')) {
            // A separator or a `.` element.
            r += 1;
        } else if p[r] == b'.' && p[r + 1] == b'.' && (r + 2 == n || p[r + 2] == b'/') {
            r += 2;
            if out.len() > dotdot {
                // Back up over the last element and its separator.
                let mut w = out.len() - 1;
                while w > dotdot && out[w] != b'/' {
                    w -= 1;
                }
                out.truncate(w);
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return ".".to_owned();
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go_path_clean() {
        for (input, want) in [
            ("", "."),
            ("a//b/./../c/", "a/c"),
            ("/../a", "/a"),
            ("../../a/b/..", "../../a"),
            ("a/../..", ".."),
            ("/", "/"),
            ("//a//", "/a"),
            ("a/b/../../c", "c"),
            ("./", "."),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("/abc/def/../../..", "/"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn base_dir_and_ext_match_go() {
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base(""), ".");
        assert_eq!(base("///"), "/");
        assert_eq!(dir("a"), ".");
        assert_eq!(dir("/a/../../b"), "/");
        assert_eq!(dir(""), ".");
        assert_eq!(ext("a/b.tar.gz"), ".gz");
        assert_eq!(ext("a.b/c"), "");
    }
}
