//! The crate's error type. Every URL in a message is redacted (no userinfo,
//! no query) and no message ever carries a credential.

/// Why a chart could not be resolved or fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The repository URL or chart reference is malformed.
    #[error("invalid chart repository {url:?}: {reason}")]
    InvalidRepoUrl { url: String, reason: String },
    /// The chart name is empty or would escape the repository path.
    #[error("invalid chart name {name:?}: {reason}")]
    InvalidChartName { name: String, reason: String },
    /// TLS material (CA bundle, client certificate) could not be used.
    #[error("invalid TLS settings for {url}: {reason}")]
    InvalidTls { url: String, reason: String },
    /// The request could not be sent or its response not read (DNS,
    /// connection, TLS handshake, timeout, too many redirects).
    #[error("request to {url} failed: {reason}")]
    Request { url: String, reason: String },
    /// The server refused the credentials (or wanted some).
    #[error("authentication to {url} failed: HTTP {status}")]
    Unauthorized { url: String, status: u16 },
    /// Any other unsuccessful HTTP status.
    #[error("request to {url} failed: HTTP {status}")]
    Status { url: String, status: u16 },
    /// A response body is larger than the configured limit.
    #[error("response from {url} is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    /// `index.yaml` is not a Helm repository index.
    #[error("invalid repository index {url}: {reason}")]
    InvalidIndex { url: String, reason: String },
    /// The repository has no chart of that name.
    #[error("chart {chart:?} not found in {repo}")]
    ChartNotFound { chart: String, repo: String },
    /// No version of the chart satisfies the requested revision.
    #[error("chart {chart:?} version {revision:?} not found in {repo}: available {available}")]
    VersionNotFound {
        chart: String,
        revision: String,
        repo: String,
        /// The versions the repository does have, for the message.
        available: String,
    },
    /// `targetRevision` is neither a version nor a constraint.
    #[error("invalid chart version or constraint {revision:?}: {reason}")]
    InvalidRevision { revision: String, reason: String },
    /// The index entry lists no archive URL.
    #[error("chart {chart:?} version {version:?} has no downloadable URLs")]
    NoDownloadUrl { chart: String, version: String },
    /// Downloaded bytes do not hash to the digest the index or manifest
    /// promised.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    /// A digest uses an algorithm other than sha256 or is malformed.
    #[error("unsupported digest {digest:?} for {url}")]
    UnsupportedDigest { url: String, digest: String },
    /// The OCI manifest or tag list could not be understood.
    #[error("invalid registry response from {url}: {reason}")]
    InvalidRegistryResponse { url: String, reason: String },
    /// The OCI manifest has no Helm chart layer.
    #[error(
        "{reference} is not a Helm chart: its manifest has no layer of media type {media_type}"
    )]
    NoChartLayer {
        reference: String,
        media_type: &'static str,
    },
    /// The on-disk archive cache could not be read or written.
    #[error("chart cache {path}: {reason}")]
    Cache { path: String, reason: String },
}

impl Error {
    /// A short, stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidRepoUrl { .. } => "invalid_repo_url",
            Error::InvalidChartName { .. } => "invalid_chart_name",
            Error::InvalidTls { .. } => "invalid_tls",
            Error::Request { .. } => "request",
            Error::Unauthorized { .. } => "unauthorized",
            Error::Status { .. } => "http_status",
            Error::TooLarge { .. } => "too_large",
            Error::InvalidIndex { .. } => "invalid_index",
            Error::ChartNotFound { .. } => "chart_not_found",
            Error::VersionNotFound { .. } => "version_not_found",
            Error::InvalidRevision { .. } => "invalid_revision",
            Error::NoDownloadUrl { .. } => "no_download_url",
            Error::DigestMismatch { .. } => "digest_mismatch",
            Error::UnsupportedDigest { .. } => "unsupported_digest",
            Error::InvalidRegistryResponse { .. } => "invalid_registry_response",
            Error::NoChartLayer { .. } => "no_chart_layer",
            Error::Cache { .. } => "cache",
        }
    }

    /// Whether retrying later could succeed (network trouble, server
    /// errors), as opposed to a request that is wrong.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Request { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
