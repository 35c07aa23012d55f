//! `caravel-api-server init-secrets`: creates the install's generated
//! Secrets if they are missing, as Argo CD's `argocd admin
//! redis-initial-password` does for its Redis password. The Helm chart runs
//! it as a pre-install/pre-upgrade Job, so no random value is ever part of
//! the rendered manifests (which stay deterministic for GitOps and for
//! `deploy/install.yaml`), and an existing value is never replaced.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use rand::distributions::{Alphanumeric, DistString};

use crate::Error;

/// Key of the cache signing key in the Caravel Secret.
pub const CACHE_SIGNING_KEY: &str = "cache-signing-key";
/// Key of the password in the Redis Secret (Argo CD's `argocd-redis` uses `auth`).
pub const REDIS_PASSWORD_KEY: &str = "auth";
/// Length of generated values: 32 alphanumerics, about 190 bits.
const GENERATED_LENGTH: usize = 32;

/// One generated Secret: its name and the key that must hold a random value.
#[derive(Debug, Clone)]
pub struct GeneratedSecret {
    pub name: String,
    pub key: &'static str,
}

/// What happened to one Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    KeyAdded,
    AlreadyPresent,
}

/// Makes sure each Secret exists in `namespace` with a non-empty value at
/// its key; creates missing Secrets and adds missing keys, never changes a
/// value that is there.
pub async fn ensure(
    client: kube::Client,
    namespace: &str,
    secrets: &[GeneratedSecret],
) -> Result<Vec<(String, Outcome)>, Error> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let mut outcomes = Vec::with_capacity(secrets.len());
    for wanted in secrets {
        let outcome = ensure_one(&api, wanted).await?;
        tracing::info!(secret = %wanted.name, key = wanted.key, ?outcome, "generated secret checked");
        outcomes.push((wanted.name.clone(), outcome));
    }
    Ok(outcomes)
}

async fn ensure_one(api: &Api<Secret>, wanted: &GeneratedSecret) -> Result<Outcome, Error> {
    let kube_error = |what: &str, source| Error::Kube {
        context: format!("{what} secret {}", wanted.name),
        source,
    };
    match api
        .get_opt(&wanted.name)
        .await
        .map_err(|e| kube_error("reading", e))?
    {
        Some(existing) if has_value(&existing, wanted.key) => Ok(Outcome::AlreadyPresent),
        Some(mut existing) => {
            existing
                .data
                .get_or_insert_with(BTreeMap::new)
                .insert(wanted.key.to_owned(), random_value());
            // Replace carries the resourceVersion just read: a concurrent
            // writer makes this fail instead of being overwritten.
            api.replace(&wanted.name, &PostParams::default(), &existing)
                .await
                .map_err(|e| kube_error("updating", e))?;
            Ok(Outcome::KeyAdded)
        }
        None => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(wanted.name.clone()),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/part-of".to_owned(),
                        "caravel".to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                data: Some(BTreeMap::from([(wanted.key.to_owned(), random_value())])),
                ..Secret::default()
            };
            match api.create(&PostParams::default(), &secret).await {
                Ok(_) => Ok(Outcome::Created),
                // Another replica of the Job won the race: its value stands.
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Outcome::AlreadyPresent),
                Err(e) => Err(kube_error("creating", e)),
            }
        }
    }
}

fn has_value(secret: &Secret, key: &str) -> bool {
    let in_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .is_some_and(|v| !v.0.is_empty());
    let in_string_data = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .is_some_and(|v| !v.is_empty());
    in_data || in_string_data
}

fn random_value() -> ByteString {
    ByteString(
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), GENERATED_LENGTH)
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_long_random_alphanumerics() {
        let a = random_value();
        let b = random_value();
        assert_eq!(a.0.len(), GENERATED_LENGTH);
        assert!(a.0.iter().all(u8::is_ascii_alphanumeric));
        assert_ne!(a, b);
    }

    #[test]
    fn an_empty_value_counts_as_missing() {
        let mut secret = Secret::default();
        assert!(!has_value(&secret, "auth"));
        secret.data = Some(BTreeMap::from([("auth".into(), ByteString(vec![]))]));
        assert!(!has_value(&secret, "auth"));
        secret.data = Some(BTreeMap::from([("auth".into(), ByteString(b"x".to_vec()))]));
        assert!(has_value(&secret, "auth"));
        assert!(!has_value(&secret, "other"));
    }
}
