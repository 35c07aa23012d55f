//! Registry authentication: reading `WWW-Authenticate` challenges and the
//! distribution token flow (`Bearer realm=…,service=…,scope=…` → GET the
//! realm, with basic credentials when there are some → a token).

use reqwest::{Client, Url};
use serde::Deserialize;

use crate::credentials::{Authorization, RepoCredentials};
use crate::error::Error;
use crate::location::redact;
use crate::transport::{check_status, read_limited, send};

/// Largest token response accepted.
const MAX_TOKEN_RESPONSE_BYTES: u64 = 1 << 20;

/// One parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The first challenge we can answer among `WWW-Authenticate` values
/// (Bearer preferred over Basic).
pub(crate) fn pick_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut basic = false;
    for value in values {
        for (scheme, params) in parse_challenges(value) {
            if scheme.eq_ignore_ascii_case("bearer") {
                let get = |name: &str| {
                    params
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                        .map(|(_, value)| value.clone())
                };
                if let Some(realm) = get("realm") {
                    return Some(Challenge::Bearer {
                        realm,
                        service: get("service"),
                        scope: get("scope"),
                    });
                }
            } else if scheme.eq_ignore_ascii_case("basic") {
                basic = true;
            }
        }
    }
    basic.then_some(Challenge::Basic)
}

/// RFC 7235 challenges: `scheme param=value, param="quoted, value"`,
/// several challenges separated by commas.
fn parse_challenges(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut challenges: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let chars: Vec<char> = header.chars().collect();
    let mut i = 0;
    let skip_separators = |i: &mut usize| {
        while *i < chars.len() && (chars[*i] == ',' || chars[*i].is_whitespace()) {
            *i += 1;
        }
    };
    let read_token = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && !chars[*i].is_whitespace() && chars[*i] != ',' && chars[*i] != '='
        {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    loop {
        skip_separators(&mut i);
        if i >= chars.len() {
            break;
        }
        let token = read_token(&mut i);
        // Whitespace then `=` means a parameter of the current challenge.
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if j < chars.len() && chars[j] == '=' && !challenges.is_empty() {
            i = j + 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            let value = if i < chars.len() && chars[i] == '"' {
                i += 1;
                let mut value = String::new();
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                i += 1;
                value
            } else {
                read_token(&mut i)
            };
            if let Some((_, params)) = challenges.last_mut() {
                params.push((token, value));
            }
        } else if !token.is_empty() {
            challenges.push((token, Vec::new()));
        } else {
            i += 1;
        }
    }
    challenges
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

/// Answers a Bearer challenge: asks the realm for a token, presenting
/// basic credentials when the repository has some.
pub(crate) async fn fetch_token(
    client: &Client,
    registry: &Url,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    credentials: &RepoCredentials,
) -> Result<Authorization, Error> {
    let shown_realm = crate::location::redact_str(realm);
    let mut url = Url::parse(realm).map_err(|e| Error::InvalidRegistryResponse {
        url: redact(registry),
        reason: format!("token realm {shown_realm:?} is not a URL: {e}"),
    })?;
    let downgrade = url.scheme() == "http" && registry.scheme() == "https" && !credentials.insecure;
    if downgrade || (url.scheme() != "http" && url.scheme() != "https") {
        return Err(Error::InvalidRegistryResponse {
            url: redact(registry),
            reason: format!("refusing token realm {shown_realm}: not https"),
        });
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        query.append_pair("scope", scope);
    }
    let mut get = client.get(url.clone());
    if !credentials.username.is_empty() {
        get = get.basic_auth(&credentials.username, Some(&credentials.password));
    }
    let response = send(get, &url).await?;
    check_status(&response, &url)?;
    let body = read_limited(response, &url, MAX_TOKEN_RESPONSE_BYTES).await?;
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| Error::InvalidRegistryResponse {
            url: redact(&url),
            reason: format!("token response: {e}"),
        })?;
    parsed
        .token
        .or(parsed.access_token)
        .filter(|token| !token.is_empty())
        .map(Authorization::Bearer)
        .ok_or_else(|| Error::InvalidRegistryResponse {
            url: redact(&url),
            reason: "token response holds no token".to_owned(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_read_with_quoted_commas() {
        let challenge = pick_challenge([
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:charts/demo:pull,push""#,
        ]);
        assert_eq!(
            challenge,
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:charts/demo:pull,push".into()),
            })
        );
    }

    #[test]
    fn basic_challenges_and_mixed_headers() {
        assert_eq!(
            pick_challenge([r#"Basic realm="Registry Realm""#]),
            Some(Challenge::Basic)
        );
        assert_eq!(
            pick_challenge([
                r#"Basic realm="x""#,
                r#"Bearer realm="https://a/t", service=s"#
            ]),
            Some(Challenge::Bearer {
                realm: "https://a/t".into(),
                service: Some("s".into()),
                scope: None,
            })
        );
        assert_eq!(
            pick_challenge([r#"Basic realm="x", Bearer realm="https://a/t""#]),
            Some(Challenge::Bearer {
                realm: "https://a/t".into(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(pick_challenge([r#"Negotiate abc"#]), None);
        assert_eq!(pick_challenge([""]), None);
    }
}
