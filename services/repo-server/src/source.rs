//! Turning an Application source at a commit into manifests: validating the
//! source, deciding its type (explicit fields first, then what the app
//! directory contains, as Argo CD does) and handing it to the renderer for
//! that type: plain directories and Helm charts in Git.

pub mod directory;
pub mod helm;

use caravel_crd::application::ApplicationSource;
use git2::Oid;

use crate::error::Error;
use crate::git::CommitTree;
use crate::repo_path::{self, Node};

/// `source_type` of a directory app.
pub const SOURCE_TYPE_DIRECTORY: &str = "Directory";

/// Limits applied while rendering.
#[derive(Clone, Debug)]
pub struct RenderLimits {
    /// Combined size of one directory app's manifest files, checked before
    /// any of them is parsed.
    pub max_combined_directory_manifests_size: u64,
    pub helm: helm::HelmLimits,
}

/// A rendered source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One JSON document per object, in render order.
    pub manifests: Vec<String>,
    pub source_type: String,
}

/// A validated source: what can be checked without the repository.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    pub source: ApplicationSource,
    /// `source.path` as components from the repository root.
    pub app_path: Vec<String>,
    pub directory: directory::DirectoryOptions,
}

impl SourceSpec {
    /// Parses Argo CD `ApplicationSource` JSON and checks the path and
    /// directory options.
    pub fn parse(json: &str) -> Result<Self, Error> {
        if json.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "application_source_json is empty".to_owned(),
            ));
        }
        let source: ApplicationSource = serde_json::from_str(json)
            .map_err(|e| Error::InvalidArgument(format!("parsing application_source_json: {e}")))?;
        let app_path = repo_path::app_path_components(source.path.as_deref().unwrap_or(""))?;
        let directory = directory::DirectoryOptions::from_source(source.directory.as_ref())?;
        Ok(Self {
            source,
            app_path,
            directory,
        })
    }

    /// Fails for source types that are not implemented yet, before any Git
    /// work is done.
    pub fn check_supported(&self) -> Result<(), Error> {
        let s = &self.source;
        if s.kustomize.is_some() {
            return Err(unsupported("kustomize"));
        }
        if s.plugin.is_some() {
            return Err(unsupported("config management plugin"));
        }
        Ok(())
    }

    /// The app path for messages ("." for the root).
    pub fn display_path(&self) -> String {
        display_path(&self.app_path)
    }
}

fn unsupported(kind: &str) -> Error {
    Error::Unsupported(format!("{kind} sources are not supported yet"))
}

fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.join("/")
    }
}

/// Files whose presence at the top of an app directory makes it a Helm
/// chart or a Kustomize app.
const HELM_MARKERS: &[&str] = &["Chart.yaml"];
const KUSTOMIZE_MARKERS: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Renders `spec` from `tree`. Blocking.
pub fn render(
    tree: &CommitTree,
    spec: &SourceSpec,
    limits: &RenderLimits,
    context: &helm::HelmContext<'_>,
    refs: &helm::RefTrees<'_>,
) -> Result<Rendered, Error> {
    spec.check_supported()?;
    let shown = spec.display_path();
    let resolved = tree
        .resolve(&spec.app_path)?
        .ok_or_else(|| Error::Render(format!("app path {shown} does not exist")))?;
    let dir: Oid = match resolved.node {
        Node::Dir(id) => id,
        _ => {
            return Err(Error::Render(format!(
                "app path {shown} is not a directory"
            )))
        }
    };
    let is_helm = spec.source.helm.is_some()
        || (spec.source.directory.is_none() && detect(tree, dir)? == Detected::Helm);
    if is_helm {
        let manifests = helm::render(
            tree,
            &spec.app_path,
            &resolved.real_path,
            dir,
            spec.source.helm.as_ref(),
            context,
            refs,
            &limits.helm,
        )?;
        return Ok(Rendered {
            manifests,
            source_type: helm::SOURCE_TYPE_HELM.to_owned(),
        });
    }
    let manifests = directory::render(
        tree,
        &resolved.real_path,
        dir,
        &shown,
        &spec.directory,
        limits.max_combined_directory_manifests_size,
    )?;
    Ok(Rendered {
        manifests,
        source_type: SOURCE_TYPE_DIRECTORY.to_owned(),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Detected {
    Helm,
    Directory,
}

/// Argo CD's discovery for a source with no explicit type: a Kustomize
/// app (not supported yet), a Helm chart, or a directory.
fn detect(tree: &CommitTree, dir: Oid) -> Result<Detected, Error> {
    let entries = tree.list(dir)?;
    let has = |markers: &[&str]| {
        entries
            .iter()
            .any(|e| markers.iter().any(|m| m.as_bytes() == e.name.as_slice()))
    };
    if has(KUSTOMIZE_MARKERS) {
        return Err(unsupported("kustomize"));
    }
    if has(HELM_MARKERS) {
        return Ok(Detected::Helm);
    }
    Ok(Detected::Directory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_sources_are_supported_and_kustomize_is_not() -> Result<(), Error> {
        let helm = SourceSpec::parse(r#"{"repoURL":"x","chart":"nginx"}"#)?;
        assert!(helm.check_supported().is_ok());
        let git_helm = SourceSpec::parse(r#"{"repoURL":"x","path":"c","helm":{}}"#)?;
        assert!(git_helm.check_supported().is_ok());
        let kustomize = SourceSpec::parse(r#"{"repoURL":"x","kustomize":{}}"#)?;
        assert!(matches!(
            kustomize.check_supported(),
            Err(Error::Unsupported(_))
        ));
        let dir = SourceSpec::parse(r#"{"repoURL":"x","path":"apps/./a"}"#)?;
        assert!(dir.check_supported().is_ok());
        assert_eq!(dir.display_path(), "apps/a");
        Ok(())
    }

    #[test]
    fn malformed_source_json_is_an_invalid_argument() {
        assert!(matches!(
            SourceSpec::parse(""),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            SourceSpec::parse("{"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            SourceSpec::parse(r#"{"repoURL":"x","path":"../x"}"#),
            Err(Error::InvalidArgument(_))
        ));
    }
}
