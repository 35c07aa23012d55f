//! HTTP plumbing shared by both repository kinds: one rustls client per
//! TLS setting, timeouts, a redirect limit that refuses HTTPS→HTTP
//! downgrades, bounded body reads and error texts free of secrets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{redirect, Certificate, Client, Identity, Response, Url};

use crate::credentials::RepoCredentials;
use crate::error::Error;
use crate::location::redact;

/// Clients kept at most; a repo-server talks to a handful of TLS setups.
const MAX_CLIENTS: usize = 64;

/// Builds and reuses HTTP clients.
pub(crate) struct Transport {
    connect_timeout: Duration,
    request_timeout: Duration,
    max_redirects: usize,
    salt: [u8; 32],
    clients: Mutex<HashMap<[u8; 32], Client>>,
}

impl Transport {
    pub fn new(
        connect_timeout: Duration,
        request_timeout: Duration,
        max_redirects: usize,
        salt: [u8; 32],
    ) -> Self {
        Self {
            connect_timeout,
            request_timeout,
            max_redirects,
            salt,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for a repository's TLS settings (custom CA, client
    /// certificate, insecure), built once and reused.
    pub fn client(&self, credentials: &RepoCredentials, shown_url: &str) -> Result<Client, Error> {
        let key = credentials.tls_fingerprint(&self.salt);
        if let Some(client) = self.lock().get(&key) {
            return Ok(client.clone());
        }
        let client = self.build(credentials, shown_url)?;
        let mut clients = self.lock();
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Client>> {
        // A poisoned map of clients is still a valid map.
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn build(&self, credentials: &RepoCredentials, shown_url: &str) -> Result<Client, Error> {
        let invalid = |reason: String| Error::InvalidTls {
            url: shown_url.to_owned(),
            reason,
        };
        let max_redirects = self.max_redirects;
        let mut builder = Client::builder()
            .use_rustls_tls()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(concat!("caravel-chart-source/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > max_redirects {
                    return attempt.error(format!("stopped after {max_redirects} redirects"));
                }
                let downgrade = attempt.previous().iter().any(|url| url.scheme() == "https")
                    && attempt.url().scheme() == "http";
                if downgrade {
                    return attempt.error("refused a redirect from https to http");
                }
                attempt.follow()
            }));
        if !credentials.ca_data.trim().is_empty() {
            let certificates = Certificate::from_pem_bundle(credentials.ca_data.as_bytes())
                .map_err(|e| invalid(format!("CA bundle: {}", describe(&e))))?;
            if certificates.is_empty() {
                return Err(invalid("CA bundle holds no PEM certificate".to_owned()));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let has_cert = !credentials.tls_client_cert_data.trim().is_empty();
        let has_key = !credentials.tls_client_cert_key.trim().is_empty();
        if has_cert != has_key {
            return Err(invalid(
                "a client certificate needs both tlsClientCertData and tlsClientCertKey".to_owned(),
            ));
        }
        if has_cert {
            let pem = format!(
                "{}\n{}\n",
                credentials.tls_client_cert_data.trim(),
                credentials.tls_client_cert_key.trim()
            );
            let identity = Identity::from_pem(pem.as_bytes())
                .map_err(|e| invalid(format!("client certificate: {}", describe(&e))))?;
            builder = builder.identity(identity);
        }
        if credentials.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder
            .build()
            .map_err(|e| invalid(format!("building the HTTP client: {}", describe(&e))))
    }
}

/// Sends a request, mapping transport failures to [`Error::Request`] with
/// the redacted URL.
pub(crate) async fn send(request: reqwest::RequestBuilder, url: &Url) -> Result<Response, Error> {
    request.send().await.map_err(|e| Error::Request {
        url: redact(url),
        reason: describe(&e),
    })
}

/// Fails on a non-success status (401/403 as [`Error::Unauthorized`]).
pub(crate) fn check_status(response: &Response, url: &Url) -> Result<(), Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let url = redact(url);
    let status = status.as_u16();
    Err(if status == 401 || status == 403 {
        Error::Unauthorized { url, status }
    } else {
        Error::Status { url, status }
    })
}

/// Reads a whole body, refusing more than `limit` bytes (checked against
/// `Content-Length` first, then while streaming).
pub(crate) async fn read_limited(
    mut response: Response,
    url: &Url,
    limit: u64,
) -> Result<Bytes, Error> {
    let too_large = || Error::TooLarge {
        url: redact(url),
        limit,
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| Error::Request {
            url: redact(url),
            reason: describe(&e),
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A reqwest error and its causes, without the URL (which may carry
/// userinfo or a signed query).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    // reqwest's Display appends " for url (...)"; cut it off.
    let mut text = error.to_string();
    if let Some(at) = text.find(" for url (") {
        text.truncate(at);
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
