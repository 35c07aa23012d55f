//! A chart repository's `index.yaml`: chart name → versions with their
//! archive URLs and digests. Only the fields needed to pick and download a
//! version are kept.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// A parsed repository index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartIndex {
    entries: HashMap<String, Vec<IndexEntry>>,
    /// Size of the document it was parsed from, to weigh cache entries.
    pub(crate) source_len: usize,
}

/// One version of a chart in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub version: String,
    /// Archive URLs, absolute or relative to the repository URL; the
    /// first one is downloaded.
    pub urls: Vec<String>,
    /// sha256 of the archive (lowercase hex) when the index has one.
    pub digest: Option<String>,
    /// `created` timestamp as written, for information.
    pub created: Option<String>,
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(rename = "apiVersion")]
    api_version: Option<serde_yaml::Value>,
    #[serde(default)]
    entries: Option<BTreeMap<String, Option<Vec<serde_yaml::Value>>>>,
}

#[derive(Deserialize)]
struct RawEntry {
    version: Option<serde_yaml::Value>,
    #[serde(default)]
    urls: Option<Vec<serde_yaml::Value>>,
    digest: Option<serde_yaml::Value>,
    created: Option<serde_yaml::Value>,
}

impl ChartIndex {
    /// Parses an index as Helm's `loadIndex` does: `apiVersion` is
    /// required; entries that are not maps or whose version is not a
    /// semantic version are skipped (Helm logs and drops them).
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let raw: RawIndex = serde_yaml::from_slice(text).map_err(|e| e.to_string())?;
        let has_api_version = match &raw.api_version {
            Some(serde_yaml::Value::String(s)) => !s.is_empty(),
            Some(serde_yaml::Value::Null) | None => false,
            Some(_) => true,
        };
        if !has_api_version {
            return Err("no API version specified".to_owned());
        }
        let mut entries = HashMap::new();
        for (name, versions) in raw.entries.unwrap_or_default() {
            let kept: Vec<IndexEntry> = versions
                .unwrap_or_default()
                .into_iter()
                .filter_map(entry_from_value)
                .collect();
            entries.insert(name, kept);
        }
        Ok(Self {
            entries,
            source_len: text.len(),
        })
    }

    /// The versions of `chart`, in index order; `None` if the index does
    /// not know the chart.
    pub fn versions(&self, chart: &str) -> Option<&[IndexEntry]> {
        self.entries.get(chart).map(Vec::as_slice)
    }
}

fn entry_from_value(value: serde_yaml::Value) -> Option<IndexEntry> {
    let raw: RawEntry = serde_yaml::from_value(value).ok()?;
    let version = scalar_text(raw.version?)?;
    caravel_semver::Version::parse(&version).ok()?;
    let urls = raw
        .urls
        .unwrap_or_default()
        .into_iter()
        .filter_map(scalar_text)
        .filter(|url| !url.is_empty())
        .collect();
    let digest = raw.digest.and_then(scalar_text).filter(|d| !d.is_empty());
    Some(IndexEntry {
        version,
        urls,
        digest,
        created: raw.created.and_then(scalar_text),
    })
}

fn scalar_text(value: serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::String(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Written by real Helm (`helm repo index`, via helm_python's
    /// `repo_index_generate`) over archives of testdata/helm/charts/app-v2.
    const HELM_INDEX: &str = include_str!("../testdata/helm-index.yaml");

    #[test]
    fn reads_an_index_written_by_helm() {
        let index = ChartIndex::parse(HELM_INDEX.as_bytes()).unwrap();
        let versions = index.versions("app-v2").unwrap();
        let mut numbers: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, ["1.0.0", "1.2.0"]);
        let entry = versions.iter().find(|v| v.version == "1.2.0").unwrap();
        assert_eq!(entry.urls, ["app-v2-1.2.0.tgz"]);
        let digest = entry.digest.as_deref().unwrap();
        assert_eq!(digest.len(), 64);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(entry.created.is_some());
        assert!(index.versions("other").is_none());
    }

    #[test]
    fn an_index_without_api_version_is_rejected() {
        let error = ChartIndex::parse(b"entries: {}\n").unwrap_err();
        assert_eq!(error, "no API version specified");
    }

    #[test]
    fn invalid_entries_are_skipped_like_helm() {
        let index = ChartIndex::parse(
            br#"
apiVersion: v1
entries:
  demo:
    - version: 1.0.0
      urls: [demo-1.0.0.tgz]
    - version: not-a-version
      urls: [x.tgz]
    - urls: [no-version.tgz]
    - "a string"
    - version: v2.0
      urls: [https://cdn.example.com/demo-2.0.tgz]
      digest: ""
  empty:
"#,
        )
        .unwrap();
        let versions = index.versions("demo").unwrap();
        let numbers: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(numbers, ["1.0.0", "v2.0"]);
        assert_eq!(versions[1].digest, None);
        assert_eq!(index.versions("empty").unwrap().len(), 0);
    }

    #[test]
    fn malformed_yaml_is_an_error() {
        assert!(ChartIndex::parse(b"apiVersion: v1\nentries: [").is_err());
    }
}
