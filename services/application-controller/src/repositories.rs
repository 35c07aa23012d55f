//! Repository credentials, as Argo CD keeps them: Secrets labelled
//! `argocd.argoproj.io/secret-type: repository` in the controller's
//! namespace, with `url`, `username`, `password`, `insecure`, `enableOCI`
//! and `insecureOCIForceHttp`. The Secret whose `url` names a source's
//! `repoURL` supplies the credentials sent to the repo-server with each
//! request (held in memory only, never logged).

use caravel_proto::reposerver::v1::Repository;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, Client};

/// The label Argo CD puts on repository Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// How long a listing of repository Secrets is reused: every render asks
/// for credentials, and a Secret edit shows up within this time.
const LISTING_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A listing of repository Secrets and when it was made.
type Listing = Option<(std::time::Instant, Vec<Secret>)>;

/// Reads repository Secrets from one namespace.
#[derive(Clone)]
pub struct Repositories {
    secrets: Api<Secret>,
    listing: std::sync::Arc<tokio::sync::Mutex<Listing>>,
}

impl Repositories {
    pub fn new(client: Client, namespace: &str) -> Self {
        Repositories {
            secrets: Api::namespaced(client, namespace),
            listing: Default::default(),
        }
    }

    /// The repository Secrets, listed at most every [`LISTING_TTL`].
    async fn secrets(&self) -> Result<Vec<Secret>, kube::Error> {
        let mut listing = self.listing.lock().await;
        if let Some((at, secrets)) = listing.as_ref() {
            if at.elapsed() < LISTING_TTL {
                return Ok(secrets.clone());
            }
        }
        let selector = format!("{SECRET_TYPE_LABEL}=repository");
        let secrets = self
            .secrets
            .list(&ListParams::default().labels(&selector))
            .await?
            .items;
        *listing = Some((std::time::Instant::now(), secrets.clone()));
        Ok(secrets)
    }

    /// The repository for `url`: its credentials when a repository Secret
    /// names it, the bare URL otherwise (or when Secrets cannot be read).
    pub async fn get(&self, url: &str) -> Repository {
        let mut repository = Repository {
            repo: url.to_owned(),
            ..Default::default()
        };
        let secrets = match self.secrets().await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::warn!(error = %e, "listing repository secrets failed; using no credentials");
                return repository;
            }
        };
        if let Some(secret) = secrets
            .iter()
            .find(|s| same_url(field(s, "url").as_deref(), url))
        {
            apply(secret, &mut repository);
        }
        repository
    }
}

fn field(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key).cloned())
        })
}

fn same_url(secret_url: Option<&str>, url: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
    secret_url.is_some_and(|s| norm(s) == norm(url))
}

fn apply(secret: &Secret, repository: &mut Repository) {
    let flag = |key: &str| field(secret, key).is_some_and(|v| v.trim() == "true");
    repository.username = field(secret, "username").unwrap_or_default();
    repository.password = field(secret, "password").unwrap_or_default();
    repository.ssh_private_key = field(secret, "sshPrivateKey").unwrap_or_default();
    repository.insecure = flag("insecure");
    repository.enable_oci = flag("enableOCI");
    repository.force_http = flag("insecureOCIForceHttp");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn a_repository_secret_fills_the_credentials() {
        let mut secret = Secret::default();
        let data = [
            ("url", "oci://127.0.0.1:5000/charts"),
            ("username", "alice"),
            ("password", "s3cret"),
            ("insecureOCIForceHttp", "true"),
            ("enableOCI", "false"),
        ];
        secret.data = Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        assert!(same_url(
            field(&secret, "url").as_deref(),
            "oci://127.0.0.1:5000/charts/"
        ));
        assert!(!same_url(
            field(&secret, "url").as_deref(),
            "oci://127.0.0.1:5000/other"
        ));
        let mut repo = Repository::default();
        apply(&secret, &mut repo);
        assert_eq!(
            (repo.username.as_str(), repo.password.as_str()),
            ("alice", "s3cret")
        );
        assert!(repo.force_http && !repo.enable_oci && !repo.insecure);
    }
}
