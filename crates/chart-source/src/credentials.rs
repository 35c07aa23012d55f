//! What the repo-server knows about one chart repository besides its URL:
//! Argo CD's repository secret fields, held in memory only.

use sha2::{Digest, Sha256};

/// Credentials and connection settings of a chart repository, filled from
/// an Argo CD repository secret (`username`, `password`, `bearerToken`,
/// `tlsClientCertData`, `tlsClientCertKey`, `insecure`, `enableOCI`,
/// `insecureOCIForceHttp`) plus the CA bundle of `argocd-tls-certs-cm`.
///
/// `Debug` prints no secret. Nothing in this struct ever reaches an error
/// message, a log line or a cache key (cache keys use a salted hash).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RepoCredentials {
    /// Basic auth user (HTTP repositories; registry login for OCI).
    pub username: String,
    /// Basic auth password (or registry token used as a password).
    pub password: String,
    /// Sent as `Authorization: Bearer …` when no username is set.
    pub bearer_token: String,
    /// PEM client certificate for mutual TLS (`tlsClientCertData`).
    pub tls_client_cert_data: String,
    /// PEM private key of the client certificate (`tlsClientCertKey`).
    pub tls_client_cert_key: String,
    /// Extra trusted CA certificates (PEM bundle), in addition to the
    /// system roots.
    pub ca_data: String,
    /// Skip TLS certificate verification (`insecure`).
    pub insecure: bool,
    /// Talk plain HTTP to an OCI registry (`insecureOCIForceHttp`, Helm's
    /// `--plain-http`).
    pub plain_http: bool,
    /// Treat a repository URL without scheme as an OCI registry
    /// (`enableOCI`).
    pub enable_oci: bool,
    /// Send credentials to archive URLs on another host than the
    /// repository (Helm's `--pass-credentials`, Argo CD's
    /// `helm.passCredentials`).
    pub pass_credentials: bool,
}

impl std::fmt::Debug for RepoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &str| (!s.is_empty()).then_some("<redacted>");
        f.debug_struct("RepoCredentials")
            .field("username", &self.username)
            .field("password", &secret(&self.password))
            .field("bearer_token", &secret(&self.bearer_token))
            .field("tls_client_cert_data", &secret(&self.tls_client_cert_data))
            .field("tls_client_cert_key", &secret(&self.tls_client_cert_key))
            .field("ca_data", &(!self.ca_data.is_empty()))
            .field("insecure", &self.insecure)
            .field("plain_http", &self.plain_http)
            .field("enable_oci", &self.enable_oci)
            .field("pass_credentials", &self.pass_credentials)
            .finish()
    }
}

impl RepoCredentials {
    /// A salted hash of everything that changes what a request may see,
    /// for cache keys: two callers share a cached index only when they
    /// present the same credentials.
    pub(crate) fn fingerprint(&self, salt: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(salt);
        for field in [
            &self.username,
            &self.password,
            &self.bearer_token,
            &self.tls_client_cert_data,
            &self.tls_client_cert_key,
            &self.ca_data,
        ] {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.update([
            u8::from(self.insecure),
            u8::from(self.plain_http),
            u8::from(self.pass_credentials),
        ]);
        hasher.finalize().into()
    }

    /// A salted hash of the settings that shape the TLS client.
    pub(crate) fn tls_fingerprint(&self, salt: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(salt);
        for field in [
            &self.tls_client_cert_data,
            &self.tls_client_cert_key,
            &self.ca_data,
        ] {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.update([u8::from(self.insecure)]);
        hasher.finalize().into()
    }

    /// The `Authorization` to send to the repository itself, if any.
    pub(crate) fn authorization(&self) -> Option<Authorization> {
        if !self.username.is_empty() {
            Some(Authorization::Basic {
                username: self.username.clone(),
                password: self.password.clone(),
            })
        } else if !self.bearer_token.is_empty() {
            Some(Authorization::Bearer(self.bearer_token.clone()))
        } else {
            None
        }
    }
}

/// One `Authorization` header value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Authorization {
    Basic { username: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authorization::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Authorization::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Authorization {
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Authorization::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
            Authorization::Bearer(token) => request.bearer_auth(token),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_every_secret() {
        let credentials = RepoCredentials {
            username: "alice".into(),
            password: "s3cret-pass".into(),
            bearer_token: "tok-123".into(),
            tls_client_cert_key: "-----BEGIN PRIVATE KEY-----".into(),
            ..RepoCredentials::default()
        };
        let text = format!("{credentials:?} {:?}", credentials.authorization().unwrap());
        assert!(text.contains("alice"));
        for secret in ["s3cret-pass", "tok-123", "PRIVATE KEY"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }

    #[test]
    fn fingerprints_differ_by_password_and_by_salt() {
        let a = RepoCredentials {
            username: "u".into(),
            password: "one".into(),
            ..RepoCredentials::default()
        };
        let b = RepoCredentials {
            password: "two".into(),
            ..a.clone()
        };
        let salt = [7; 32];
        assert_ne!(a.fingerprint(&salt), b.fingerprint(&salt));
        assert_ne!(a.fingerprint(&salt), a.fingerprint(&[8; 32]));
        assert_eq!(a.fingerprint(&salt), a.clone().fingerprint(&salt));
    }

    #[test]
    fn username_wins_over_bearer_token() {
        let credentials = RepoCredentials {
            username: "u".into(),
            password: "p".into(),
            bearer_token: "t".into(),
            ..RepoCredentials::default()
        };
        assert!(matches!(
            credentials.authorization(),
            Some(Authorization::Basic { .. })
        ));
        let token_only = RepoCredentials {
            bearer_token: "t".into(),
            ..RepoCredentials::default()
        };
        assert_eq!(
            token_only.authorization(),
            Some(Authorization::Bearer("t".into()))
        );
    }
}
