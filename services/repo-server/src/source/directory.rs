//! Directory apps: every `.yaml`, `.yml` and `.json` file of the app path
//! (and below it with `directory.recurse`), filtered by the
//! `directory.include` / `exclude` globs matched against the path relative
//! to the app, Argo CD style (`*` also matches `/`, `{a,b}` alternation).
//! YAML files may hold several documents; `kind: List` objects are
//! flattened into their items. Output is ordered by file path, then by
//! position in the file.
//!
//! Symlinks are followed inside the repository only; one that leads outside,
//! loops, or is dangling where a manifest is expected fails the app.

use caravel_crd::application::ApplicationSourceDirectory;
use git2::Oid;
use globset::{Glob, GlobMatcher};
use serde_json::Value;

use crate::error::Error;
use crate::git::{CommitTree, EntryKind};
use crate::repo_path::Node;

const MANIFEST_EXTENSIONS: &[&str] = &[".yaml", ".yml", ".json"];

/// Nested `List`s deeper than this are rejected rather than flattened.
const MAX_LIST_DEPTH: usize = 8;

/// `spec.source.directory`, compiled.
#[derive(Clone, Debug, Default)]
pub struct DirectoryOptions {
    pub recurse: bool,
    include: Option<GlobMatcher>,
    exclude: Option<GlobMatcher>,
}

impl DirectoryOptions {
    pub fn from_source(directory: Option<&ApplicationSourceDirectory>) -> Result<Self, Error> {
        let Some(d) = directory else {
            return Ok(Self::default());
        };
        Ok(Self {
            recurse: d.recurse.unwrap_or(false),
            include: compile_glob("include", d.include.as_deref())?,
            exclude: compile_glob("exclude", d.exclude.as_deref())?,
        })
    }

    /// Whether a manifest file at `rel_path` (relative to the app path) is
    /// part of the app: not excluded, and included when an include is set.
    pub fn selects(&self, rel_path: &str) -> bool {
        if self.exclude.as_ref().is_some_and(|g| g.is_match(rel_path)) {
            return false;
        }
        self.include.as_ref().is_none_or(|g| g.is_match(rel_path))
    }
}

fn compile_glob(field: &str, pattern: Option<&str>) -> Result<Option<GlobMatcher>, Error> {
    match pattern {
        None | Some("") => Ok(None),
        Some(p) => Glob::new(p)
            .map(|g| Some(g.compile_matcher()))
            .map_err(|e| {
                Error::InvalidArgument(format!("invalid directory.{field} glob {p:?}: {e}"))
            }),
    }
}

/// Whether a file name has a manifest extension.
pub fn is_manifest_file(name: &str) -> bool {
    MANIFEST_EXTENSIONS
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

// === walking the tree ===

struct Candidate {
    rel_path: String,
    id: Oid,
    size: u64,
}

struct Walk<'a> {
    tree: &'a CommitTree,
    options: &'a DirectoryOptions,
    app: &'a str,
    found: Vec<Candidate>,
}

impl Walk<'_> {
    /// Visits every entry below the app directory: manifest files at the
    /// top (or anywhere with `recurse`) are collected, and every symlink and
    /// file name is checked even where nothing is collected, as Argo CD
    /// checks the whole app path for out-of-bounds symlinks.
    fn dir(&mut self, id: Oid, real_dir: &[String], rel_dir: &str) -> Result<(), Error> {
        let collect_here = rel_dir.is_empty() || self.options.recurse;
        for entry in self.tree.list(id)? {
            let name = std::str::from_utf8(&entry.name).map_err(|_| {
                Error::Render(format!(
                    "app {}: a file name in {} is not valid utf-8",
                    self.app,
                    if rel_dir.is_empty() { "." } else { rel_dir }
                ))
            })?;
            let rel = if rel_dir.is_empty() {
                name.to_owned()
            } else {
                format!("{rel_dir}/{name}")
            };
            let mut real = real_dir.to_vec();
            real.push(name.to_owned());
            match entry.kind {
                EntryKind::Dir => self.dir(entry.id, &real, &rel)?,
                EntryKind::File => {
                    if collect_here && self.wanted(name, &rel) {
                        self.collect(rel, entry.id)?;
                    }
                }
                EntryKind::Symlink => {
                    // Resolving fails for links out of the repository and
                    // for loops, wanted or not.
                    let target = self.tree.resolve(&real)?;
                    let wanted = collect_here && self.wanted(name, &rel);
                    match target.map(|r| r.node) {
                        Some(Node::File(id)) if wanted => self.collect(rel, id)?,
                        None if wanted => {
                            return Err(Error::Render(format!(
                                "app {}: symlink {rel} points to a file that does not exist",
                                self.app
                            )))
                        }
                        // Like filepath.Walk, linked directories are not
                        // descended into.
                        _ => {}
                    }
                }
                EntryKind::Other => {}
            }
        }
        Ok(())
    }

    fn wanted(&self, name: &str, rel: &str) -> bool {
        is_manifest_file(name) && self.options.selects(rel)
    }

    fn collect(&mut self, rel_path: String, id: Oid) -> Result<(), Error> {
        let size = self.tree.blob_size(id)?;
        self.found.push(Candidate { rel_path, id, size });
        Ok(())
    }
}

/// Renders the directory app whose directory tree is `dir` (at `real_dir`
/// from the repository root). `app` names the app path in messages.
pub fn render(
    tree: &CommitTree,
    real_dir: &[String],
    dir: Oid,
    app: &str,
    options: &DirectoryOptions,
    max_combined_size: u64,
) -> Result<Vec<String>, Error> {
    let mut walk = Walk {
        tree,
        options,
        app,
        found: Vec::new(),
    };
    walk.dir(dir, real_dir, "")?;
    let mut files = walk.found;
    files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));

    let total: u64 = files.iter().map(|f| f.size).sum();
    if total > max_combined_size {
        return Err(Error::Render(format!(
            "app {app}: the manifest files total {total} bytes, more than the limit of {max_combined_size} bytes (--max-combined-directory-manifests-size)"
        )));
    }

    let mut out = Vec::new();
    for file in files {
        let bytes = tree.read_blob(file.id)?;
        let content = String::from_utf8(bytes)
            .map_err(|_| Error::Render(format!("{}: file is not valid utf-8", file.rel_path)))?;
        for object in parse_manifests(&file.rel_path, &content)? {
            let json = serde_json::to_string(&object)
                .map_err(|e| Error::Internal(format!("serializing {}: {e}", file.rel_path)))?;
            out.push(json);
        }
    }
    Ok(out)
}

// === parsing ===

/// Parses one manifest file into objects, `List`s flattened, each checked
/// to have an apiVersion and a kind. Errors name the file (and, for YAML
/// and JSON syntax errors, the line).
pub fn parse_manifests(path: &str, content: &str) -> Result<Vec<Value>, Error> {
    let documents = if path.ends_with(".json") {
        match serde_json::from_str::<Value>(content)
            .map_err(|e| Error::Render(format!("parsing {path}: {e}")))?
        {
            Value::Array(items) => items,
            other => vec![other],
        }
    } else {
        caravel_yaml::from_str_multi(content)
            .map_err(|e| Error::Render(format!("parsing {path}: {e}")))?
    };
    let mut out = Vec::new();
    for (index, doc) in documents.into_iter().enumerate() {
        flatten_into(doc, 0, &mut out)
            .map_err(|why| Error::Render(format!("{path}: document {}: {why}", index + 1)))?;
    }
    Ok(out)
}

/// Appends `value` to `out`, replacing a `List` (any `*List` kind with an
/// `items` array) by its items, recursively.
pub fn flatten_into(value: Value, depth: usize, out: &mut Vec<Value>) -> Result<(), String> {
    let Value::Object(mut map) = value else {
        return Err("expected an object with apiVersion and kind".to_owned());
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version.is_empty() || kind.is_empty() {
        return Err("object has no apiVersion or kind".to_owned());
    }
    if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
        if depth >= MAX_LIST_DEPTH {
            return Err("lists are nested too deeply".to_owned());
        }
        if let Some(Value::Array(items)) = map.remove("items") {
            for item in items {
                flatten_into(item, depth + 1, out)?;
            }
        }
        return Ok(());
    }
    out.push(Value::Object(map));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn options(
        recurse: bool,
        include: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<DirectoryOptions, Error> {
        DirectoryOptions::from_source(Some(&ApplicationSourceDirectory {
            recurse: Some(recurse),
            include: include.map(str::to_owned),
            exclude: exclude.map(str::to_owned),
            ..Default::default()
        }))
    }

    #[test]
    fn include_and_exclude_globs_match_relative_paths_argo_style() -> Result<(), Error> {
        let o = options(true, Some("{config.yaml,env/*}"), None)?;
        assert!(o.selects("config.yaml"));
        assert!(o.selects("env/a.yaml"));
        // `*` crosses directories, as with Argo CD's glob.Match.
        assert!(o.selects("env/deep/b.yaml"));
        assert!(!o.selects("other.yaml"));

        let o = options(true, None, Some("*secret*"))?;
        assert!(!o.selects("sub/my-secret.yaml"));
        assert!(o.selects("sub/cm.yaml"));

        let o = options(false, Some("*.yaml"), Some("skip.yaml"))?;
        assert!(o.selects("a.yaml"));
        assert!(!o.selects("skip.yaml"));
        assert!(!o.selects("a.json"));
        Ok(())
    }

    #[test]
    fn invalid_globs_are_invalid_arguments() {
        assert!(matches!(
            options(false, Some("{a,b"), None),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn only_yaml_yml_and_json_files_are_manifests() {
        assert!(
            is_manifest_file("a.yaml") && is_manifest_file("a.yml") && is_manifest_file("a.json")
        );
        assert!(
            !is_manifest_file("README.md")
                && !is_manifest_file(".yaml")
                && !is_manifest_file("a.jsonnet")
        );
    }

    #[test]
    fn lists_are_flattened_into_their_items() -> Result<(), Error> {
        let objects = parse_manifests(
            "list.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- apiVersion: v1\n  kind: ConfigMapList\n  items:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n---\napiVersion: v1\nkind: Secret\n",
        )?;
        let kinds: Vec<_> = objects.iter().map(|o| o["kind"].clone()).collect();
        assert_eq!(
            kinds,
            vec![json!("ConfigMap"), json!("ConfigMap"), json!("Secret")]
        );
        assert_eq!(objects[1]["metadata"]["name"], json!("b"));
        Ok(())
    }

    #[test]
    fn objects_without_api_version_or_kind_are_errors_naming_the_file() {
        let err = parse_manifests("apps/bad.yaml", "kind: ConfigMap\n");
        assert!(
            matches!(err, Err(Error::Render(ref m)) if m.contains("apps/bad.yaml") && m.contains("apiVersion")),
            "{err:?}"
        );
        let err = parse_manifests("apps/bad.json", "[1]");
        assert!(
            matches!(err, Err(Error::Render(ref m)) if m.contains("apps/bad.json")),
            "{err:?}"
        );
    }

    #[test]
    fn json_files_may_hold_one_object_or_an_array() -> Result<(), Error> {
        let one = parse_manifests("a.json", r#"{"apiVersion":"v1","kind":"ConfigMap"}"#)?;
        assert_eq!(one.len(), 1);
        let two = parse_manifests(
            "b.json",
            r#"[{"apiVersion":"v1","kind":"ConfigMap"},{"apiVersion":"v1","kind":"Secret"}]"#,
        )?;
        assert_eq!(two.len(), 2);
        let err = parse_manifests("c.json", "{\n\"a\": }");
        assert!(
            matches!(err, Err(Error::Render(ref m)) if m.contains("c.json") && m.contains("line 2")),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn invalid_yaml_errors_name_the_file_and_line() {
        let err = parse_manifests(
            "apps/broken.yaml",
            "apiVersion: v1\nkind: [unclosed\nmetadata: {}\n",
        );
        assert!(
            matches!(err, Err(Error::Render(ref m)) if m.contains("apps/broken.yaml") && m.contains("line ")),
            "{err:?}"
        );
    }
}
