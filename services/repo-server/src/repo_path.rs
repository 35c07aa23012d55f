//! Paths inside a repository: validating the `source.path` a request names,
//! and resolving a path against a tree while following committed symlinks
//! without ever leaving the repository root.
//!
//! The resolver is pure: it walks the tree through a lookup function, so the
//! escape, loop and depth rules are tested without a Git repository.

use std::collections::VecDeque;

use crate::error::Error;

/// Linux's `MAXSYMLINKS`: more hops than this is treated as a loop.
pub const MAX_SYMLINK_HOPS: usize = 40;

/// Longest symlink target read from a repository (Linux's `PATH_MAX`).
pub const MAX_SYMLINK_TARGET_LEN: usize = 4096;

/// Checks an application's `source.path` and returns its components relative
/// to the repository root ("" and "." are the root).
///
/// NUL bytes, absolute paths and `..` components that climb above the root
/// are rejected; `..` that stays inside (`a/../b`) is folded away.
pub fn app_path_components(path: &str) -> Result<Vec<String>, Error> {
    if path.contains('\0') {
        return Err(Error::InvalidArgument(
            "source path contains a nul byte".to_owned(),
        ));
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(Error::InvalidArgument(format!(
            "source path {path:?} is absolute; it must be relative to the repository root"
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(Error::InvalidArgument(format!(
                        "source path {path:?} points outside the repository"
                    )));
                }
            }
            other => out.push(other.to_owned()),
        }
    }
    Ok(out)
}

/// What a path names in a tree. `Id` is the object id type of the backing
/// store (a `git2::Oid` in production).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node<Id> {
    Dir(Id),
    File(Id),
    /// A symlink and its target, as committed.
    Symlink(String),
    /// Anything else (a submodule commit): never read.
    Other,
}

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError<E> {
    #[error("symlink {link} points outside the repository")]
    Escapes { link: String },
    #[error("too many levels of symbolic links resolving {path} (a loop or a chain deeper than {MAX_SYMLINK_HOPS})")]
    TooManyLinks { path: String },
    #[error("symlink {link} has an invalid target")]
    InvalidTarget { link: String },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
    #[error(transparent)]
    Lookup(E),
}

/// A resolved path: where it really is (no symlinks left) and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved<Id> {
    pub real_path: Vec<String>,
    pub node: Node<Id>,
}

/// Resolves `path` (components from the repository root) by following
/// symlinks, like the kernel does, but treating the repository root as `/`
/// that cannot be climbed above. `lookup` returns the node at a real path
/// (no symlinks in it); `lookup(&[])` must return the root directory.
///
/// Returns `Ok(None)` when the path does not exist.
pub fn resolve<Id, E, F>(
    path: &[String],
    mut lookup: F,
) -> Result<Option<Resolved<Id>>, ResolveError<E>>
where
    Id: Clone,
    F: FnMut(&[String]) -> Result<Option<Node<Id>>, E>,
{
    let mut pending: VecDeque<String> = path.iter().cloned().collect();
    let mut current: Vec<String> = Vec::new();
    let Some(mut node) = lookup(&current).map_err(ResolveError::Lookup)? else {
        return Ok(None);
    };
    let mut hops = 0usize;
    // The symlink whose target is being walked, for error messages.
    let mut via_link: Option<String> = None;

    while let Some(part) = pending.pop_front() {
        if part.is_empty() || part == "." {
            continue;
        }
        if !matches!(node, Node::Dir(_)) {
            return Err(ResolveError::NotADirectory {
                path: current.join("/"),
            });
        }
        if part == ".." {
            if current.pop().is_none() {
                return Err(ResolveError::Escapes {
                    link: via_link.unwrap_or_else(|| path.join("/")),
                });
            }
            node = match lookup(&current).map_err(ResolveError::Lookup)? {
                Some(n) => n,
                None => return Ok(None),
            };
            continue;
        }
        current.push(part);
        match lookup(&current).map_err(ResolveError::Lookup)? {
            None => return Ok(None),
            Some(Node::Symlink(target)) => {
                let link = current.join("/");
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(ResolveError::TooManyLinks {
                        path: path.join("/"),
                    });
                }
                if target.is_empty() || target.contains('\0') {
                    return Err(ResolveError::InvalidTarget { link });
                }
                if target.starts_with('/') {
                    return Err(ResolveError::Escapes { link });
                }
                current.pop();
                for part in target.split('/').rev() {
                    pending.push_front(part.to_owned());
                }
                via_link = Some(link);
            }
            Some(other) => node = other,
        }
    }
    Ok(Some(Resolved {
        real_path: current,
        node,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;

    use super::*;

    fn comps(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A tree as a map from real path to node; the root is "".
    fn tree(entries: &[(&str, Node<u32>)]) -> HashMap<String, Node<u32>> {
        let mut map: HashMap<String, Node<u32>> = entries
            .iter()
            .map(|(p, n)| ((*p).to_owned(), n.clone()))
            .collect();
        map.insert(String::new(), Node::Dir(0));
        map
    }

    fn run(
        t: &HashMap<String, Node<u32>>,
        path: &str,
    ) -> Result<Option<Resolved<u32>>, ResolveError<Infallible>> {
        resolve(&comps(path), |p: &[String]| {
            Ok(t.get(&p.join("/")).cloned())
        })
    }

    #[test]
    fn app_paths_fold_dots_and_reject_escapes() {
        assert_eq!(app_path_components("").ok(), Some(vec![]));
        assert_eq!(app_path_components(".").ok(), Some(vec![]));
        assert_eq!(
            app_path_components("a/./b/../c/").ok(),
            Some(vec!["a".to_owned(), "c".to_owned()])
        );
        assert!(matches!(
            app_path_components("a/../../etc"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            app_path_components("/etc"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            app_path_components("a\0b"),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn symlinks_inside_the_repository_are_followed() {
        let t = tree(&[
            ("apps", Node::Dir(1)),
            ("apps/cm.yaml", Node::File(2)),
            ("apps/link.yaml", Node::Symlink("cm.yaml".into())),
            ("other", Node::Symlink("apps/../apps".into())),
        ]);
        let r = run(&t, "apps/link.yaml");
        assert!(matches!(
            r,
            Ok(Some(Resolved { ref real_path, node: Node::File(2) })) if real_path == &comps("apps/cm.yaml")
        ));
        let r = run(&t, "other/link.yaml");
        assert!(matches!(
            r,
            Ok(Some(Resolved {
                node: Node::File(2),
                ..
            }))
        ));
    }

    #[test]
    fn symlinks_to_root_or_above_the_repository_are_rejected() {
        let t = tree(&[
            ("apps", Node::Dir(1)),
            ("apps/root", Node::Symlink("/".into())),
            ("apps/up", Node::Symlink("../..".into())),
            ("apps/sneaky", Node::Symlink("../apps/../../repo/x".into())),
        ]);
        for p in ["apps/root", "apps/up", "apps/sneaky"] {
            let r = run(&t, p);
            assert!(
                matches!(r, Err(ResolveError::Escapes { ref link }) if link == p),
                "{p}: {r:?}"
            );
        }
    }

    #[test]
    fn symlink_loops_and_deep_chains_stop_with_an_error() {
        let mut entries = vec![
            ("a", Node::Symlink("b".to_owned())),
            ("b", Node::Symlink("a".to_owned())),
        ];
        let names: Vec<String> = (0..=MAX_SYMLINK_HOPS + 1)
            .map(|i| format!("l{i}"))
            .collect();
        for i in 0..=MAX_SYMLINK_HOPS {
            entries.push((names[i].as_str(), Node::Symlink(names[i + 1].clone())));
        }
        entries.push((names[MAX_SYMLINK_HOPS + 1].as_str(), Node::File(9)));
        let t = tree(&entries);
        assert!(matches!(
            run(&t, "a"),
            Err(ResolveError::TooManyLinks { .. })
        ));
        assert!(matches!(
            run(&t, "l0"),
            Err(ResolveError::TooManyLinks { .. })
        ));
        // A chain within the limit resolves.
        assert!(matches!(
            run(&t, "l2"),
            Ok(Some(Resolved {
                node: Node::File(9),
                ..
            }))
        ));
    }

    #[test]
    fn missing_paths_and_files_used_as_directories_are_reported() {
        let t = tree(&[
            ("f.yaml", Node::File(1)),
            ("dangling", Node::Symlink("nope".into())),
        ]);
        assert!(matches!(run(&t, "missing"), Ok(None)));
        assert!(matches!(run(&t, "dangling"), Ok(None)));
        assert!(matches!(
            run(&t, "f.yaml/x"),
            Err(ResolveError::NotADirectory { .. })
        ));
    }
}
