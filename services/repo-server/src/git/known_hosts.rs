//! SSH host key verification against an OpenSSH `known_hosts` file, the
//! way Argo CD checks its `argocd-ssh-known-hosts-cm`: a host that is not in
//! the file, or that offers a key other than the one recorded for it, is
//! refused.
//!
//! The file is read on every connection, so an edited ConfigMap takes
//! effect without a restart. Supported: plain host patterns (`*`, `?`,
//! `!negation`), comma lists, `[host]:port` for ports other than 22, hashed
//! names (`|1|salt|hash`, HMAC-SHA1), comments and blank lines, and the
//! `@revoked` marker. `@cert-authority` lines are skipped; a host
//! certificate the server offers (libssh2 asks for those first) is checked
//! by the plain key it certifies, as OpenSSH does when no CA vouches for
//! it. Malformed lines are skipped (and logged), as OpenSSH does.
//!
//! Keys are compared as the raw SSH wire-format blobs libssh2 hands over,
//! which are exactly what the base64 field of a line decodes to, so no key
//! needs to be parsed beyond its type name.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The port ssh uses when a URL names none; hosts on it are recorded
/// without brackets.
pub const DEFAULT_SSH_PORT: u16 = 22;

// === HostKey ===

/// A public host key as the SSH wire-format blob (`string type, ...`).
#[derive(Clone, PartialEq, Eq)]
pub struct HostKey {
    blob: Vec<u8>,
    key_type: String,
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key_type, self.fingerprint())
    }
}

impl HostKey {
    /// Reads the key type from the blob's leading SSH string; `None` if the
    /// blob does not start with a printable one.
    pub fn from_blob(blob: &[u8]) -> Option<Self> {
        let (name, _) = split_ssh_string(blob)?;
        let key_type = std::str::from_utf8(&name[4..]).ok()?;
        if key_type.is_empty() || !key_type.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        Some(Self {
            key_type: key_type.to_owned(),
            blob: blob.to_vec(),
        })
    }

    /// The algorithm name, as in the key type field of a known_hosts line
    /// (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...).
    pub fn key_type(&self) -> &str {
        &self.key_type
    }

    /// The plain key an OpenSSH host certificate certifies, or `None` if
    /// this is not a certificate of a supported type. A certificate's type
    /// is the plain one plus `-cert-v01@openssh.com`, and after a nonce it
    /// carries the plain key's fields: one for Ed25519 (the point), two for
    /// ECDSA (curve, point) and RSA (e, n).
    pub fn certified_key(&self) -> Option<HostKey> {
        let plain_type = self.key_type.strip_suffix(CERTIFICATE_SUFFIX)?;
        let fields = match plain_type {
            "ssh-ed25519" => 1,
            "ssh-rsa" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => 2,
            _ => return None,
        };
        let (_type, rest) = split_ssh_string(&self.blob)?;
        let (_nonce, mut rest) = split_ssh_string(rest)?;
        let mut blob = (u32::try_from(plain_type.len()).ok()?)
            .to_be_bytes()
            .to_vec();
        blob.extend_from_slice(plain_type.as_bytes());
        for _ in 0..fields {
            let (field, after) = split_ssh_string(rest)?;
            blob.extend_from_slice(field);
            rest = after;
        }
        HostKey::from_blob(&blob)
    }

    /// `SHA256:<base64>`, as `ssh-keygen -l` and `ssh` print it.
    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.blob))
        )
    }
}

/// Splits an SSH wire-format string (u32 big-endian length, bytes) off the
/// front of `buf`: `(the string with its length, the rest)`.
fn split_ssh_string(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let len_bytes: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    let end = usize::try_from(u32::from_be_bytes(len_bytes))
        .ok()?
        .checked_add(4)?;
    (end <= buf.len()).then(|| buf.split_at(end))
}

/// What OpenSSH appends to a key type to name its certificates.
const CERTIFICATE_SUFFIX: &str = "-cert-v01@openssh.com";

// === parsing ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Revoked,
    CertAuthority,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPatterns {
    /// A comma list; a `!` pattern that matches excludes the host.
    Patterns(Vec<String>),
    /// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    marker: Option<Marker>,
    hosts: HostPatterns,
    key: HostKey,
}

/// The entries of a known_hosts file.
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
    /// 1-based numbers of the lines that were skipped as malformed.
    malformed_lines: Vec<usize>,
}

/// What a known_hosts file says about the key a host offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An entry for the host holds this key.
    Known,
    /// The key is marked `@revoked`.
    Revoked,
    /// No entry names the host.
    Unknown,
    /// The host has a different key of the same type.
    Mismatch,
    /// The host is known only with keys of other types (sorted, unique).
    OtherKeyTypes(Vec<String>),
}

impl KnownHosts {
    /// Parses known_hosts text. Never fails: malformed lines are skipped and
    /// counted in [`KnownHosts::malformed_lines`].
    pub fn parse(text: &str) -> Self {
        let mut known = Self::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Some(entry) => known.entries.push(entry),
                None => known.malformed_lines.push(index + 1),
            }
        }
        known
    }

    /// Line numbers (1-based) that were skipped because they are malformed.
    pub fn malformed_lines(&self) -> &[usize] {
        &self.malformed_lines
    }

    /// Checks the key `host` offered, where `host` is the name as looked up
    /// (see [`host_lookup_name`]). A revoked key is refused for every host,
    /// whatever hosts its line names.
    pub fn check(&self, host: &str, offered: &HostKey) -> Verdict {
        if self
            .entries
            .iter()
            .any(|e| e.marker == Some(Marker::Revoked) && e.key == *offered)
        {
            return Verdict::Revoked;
        }
        let host = host.to_ascii_lowercase();
        let for_host: Vec<&HostKey> = self
            .entries
            .iter()
            .filter(|e| e.marker.is_none() && e.hosts.matches(&host))
            .map(|e| &e.key)
            .collect();
        if for_host.iter().any(|k| **k == *offered) {
            return Verdict::Known;
        }
        if for_host.is_empty() {
            return Verdict::Unknown;
        }
        if for_host.iter().any(|k| k.key_type == offered.key_type) {
            return Verdict::Mismatch;
        }
        let mut types: Vec<String> = for_host.iter().map(|k| k.key_type.clone()).collect();
        types.sort();
        types.dedup();
        Verdict::OtherKeyTypes(types)
    }
}

/// `marker? hosts keytype base64 comment?`, or `None` if malformed.
fn parse_line(line: &str) -> Option<Entry> {
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Some(Marker::Revoked),
        "@cert-authority" => Some(Marker::CertAuthority),
        m if m.starts_with('@') => return None,
        _ => None,
    };
    if marker.is_some() {
        first = fields.next()?;
    }
    let hosts = parse_hosts(first)?;
    let key_type = fields.next()?;
    let blob = STANDARD.decode(fields.next()?).ok()?;
    let key = HostKey::from_blob(&blob)?;
    // The type field must name the key it precedes.
    if key.key_type != key_type {
        return None;
    }
    Some(Entry { marker, hosts, key })
}

fn parse_hosts(field: &str) -> Option<HostPatterns> {
    if let Some(hashed) = field.strip_prefix("|1|") {
        let (salt, hash) = hashed.split_once('|')?;
        let salt = STANDARD.decode(salt).ok()?;
        let hash = STANDARD.decode(hash).ok()?;
        return Some(HostPatterns::Hashed { salt, hash });
    }
    let patterns: Vec<String> = field
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    (!patterns.is_empty()).then_some(HostPatterns::Patterns(patterns))
}

impl HostPatterns {
    /// Whether the (lowercased) lookup name matches.
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPatterns::Hashed { salt, hash } => Hmac::<Sha1>::new_from_slice(salt)
                .map(|mut mac| {
                    mac.update(host.as_bytes());
                    mac.verify_slice(hash).is_ok()
                })
                .unwrap_or(false),
            HostPatterns::Patterns(patterns) => {
                let mut matched = false;
                for pattern in patterns {
                    match pattern.strip_prefix('!') {
                        Some(negated) if glob_matches(negated, host) => return false,
                        Some(_) => {}
                        None => matched |= glob_matches(pattern, host),
                    }
                }
                matched
            }
        }
    }
}

/// OpenSSH's pattern match: `*` is any run of characters, `?` any one.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The name a host is recorded under: `host` on port 22, `[host]:port`
/// otherwise, lowercased.
pub fn host_lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == DEFAULT_SSH_PORT {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

// === HostKeyVerifier ===

/// Checks ssh host keys against a known_hosts file, read on every check.
#[derive(Clone, Debug, Default)]
pub struct HostKeyVerifier {
    known_hosts: Option<PathBuf>,
}

impl HostKeyVerifier {
    /// Without a file every ssh host is unknown.
    pub fn new(known_hosts: Option<PathBuf>) -> Self {
        Self { known_hosts }
    }

    /// The known_hosts file checked against, if any.
    pub fn known_hosts_file(&self) -> Option<&Path> {
        self.known_hosts.as_deref()
    }

    /// Accepts `offered` (the host key blob the server at `host:port`
    /// presented) only if the known_hosts file records it for that host.
    /// Blocking: reads the file.
    pub fn verify(&self, host: &str, port: u16, offered: &[u8]) -> Result<(), Error> {
        let name = host_lookup_name(host, port);
        let refuse = |reason: String| {
            Err(Error::HostKey(format!(
                "ssh host key verification failed for {name}: {reason}"
            )))
        };
        let Some(mut offered) = HostKey::from_blob(offered) else {
            return refuse("the server offered a host key that cannot be read".to_owned());
        };
        // libssh2 asks for host certificates first. Like OpenSSH when no
        // @cert-authority line vouches for one (and those are not
        // supported here), check the plain key it certifies.
        if offered.key_type().ends_with(CERTIFICATE_SUFFIX) {
            match offered.certified_key() {
                Some(plain) => offered = plain,
                None => {
                    return refuse(format!(
                        "the server offered a {} host certificate, which cannot be checked",
                        offered.key_type()
                    ))
                }
            }
        }
        let how_to_add = format!(
            "add the host's keys to the ssh known hosts (Helm value repoServer.knownHosts), e.g. \
             the output of `ssh-keyscan {}{host}`, or mark the repository insecure to skip the check",
            if port == DEFAULT_SSH_PORT {
                String::new()
            } else {
                format!("-p {port} ")
            }
        );
        let Some(path) = &self.known_hosts else {
            return refuse(format!(
                "knownhosts: key is unknown: no ssh known hosts file is configured \
                 (--ssh-known-hosts, CARAVEL_SSH_KNOWN_HOSTS); {how_to_add}"
            ));
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return refuse(format!(
                    "knownhosts: key is unknown: the ssh known hosts file {} does not exist; \
                     {how_to_add}",
                    path.display()
                ))
            }
            Err(e) => {
                return refuse(format!(
                    "reading the ssh known hosts file {}: {e}",
                    path.display()
                ))
            }
        };
        let known = KnownHosts::parse(&text);
        if !known.malformed_lines().is_empty() {
            tracing::warn!(
                file = %path.display(),
                lines = ?known.malformed_lines(),
                "skipping malformed lines of the ssh known hosts file"
            );
        }
        let key_type = offered.key_type();
        let fingerprint = offered.fingerprint();
        let file = path.display();
        match known.check(&name, &offered) {
            Verdict::Known => {
                tracing::debug!(host = %name, key_type, %fingerprint, "ssh host key verified");
                Ok(())
            }
            Verdict::Revoked => refuse(format!(
                "the {key_type} key the server offered ({fingerprint}) is marked @revoked in {file}"
            )),
            Verdict::Unknown => refuse(format!(
                "knownhosts: key is unknown: {file} has no entry for {name} (the server offered \
                 {key_type} {fingerprint}); {how_to_add}"
            )),
            Verdict::Mismatch => refuse(format!(
                "knownhosts: key mismatch: the server offered {key_type} {fingerprint}, which is \
                 not the {key_type} key {file} holds for {name}; if the host's key was changed on \
                 purpose replace its entry, otherwise someone may be intercepting the connection"
            )),
            Verdict::OtherKeyTypes(types) => refuse(format!(
                "knownhosts: key mismatch: the server offered its {key_type} key ({fingerprint}) \
                 but {file} only holds {} keys for {name}; add the host's {key_type} key",
                types.join(", ")
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A key blob of `key_type` with `body` as its key material.
    fn blob(key_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = (key_type.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(key_type.as_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn key(key_type: &str, body: &[u8]) -> HostKey {
        HostKey::from_blob(&blob(key_type, body)).unwrap()
    }

    fn line(hosts: &str, key: &HostKey) -> String {
        format!(
            "{hosts} {} {} comment here",
            key.key_type(),
            STANDARD.encode(&key.blob)
        )
    }

    /// `|1|salt|hash` for `name`, as `ssh-keygen -H` writes it.
    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn plain_and_comma_listed_hosts_are_known_with_their_key() {
        let ed = key("ssh-ed25519", b"ed-key");
        let known = KnownHosts::parse(&line("gitlab.example.com,10.0.0.5", &ed));
        assert_eq!(known.check("gitlab.example.com", &ed), Verdict::Known);
        assert_eq!(known.check("GitLab.Example.COM", &ed), Verdict::Known);
        assert_eq!(known.check("10.0.0.5", &ed), Verdict::Known);
        assert_eq!(known.check("github.com", &ed), Verdict::Unknown);
    }

    #[test]
    fn a_port_other_than_22_needs_a_bracketed_entry() {
        let ed = key("ssh-ed25519", b"ed-key");
        assert_eq!(host_lookup_name("Git.Example", 22), "git.example");
        assert_eq!(host_lookup_name("git.example", 2222), "[git.example]:2222");
        let plain = KnownHosts::parse(&line("git.example", &ed));
        assert_eq!(plain.check("[git.example]:2222", &ed), Verdict::Unknown);
        let bracketed = KnownHosts::parse(&line("[git.example]:2222", &ed));
        assert_eq!(bracketed.check("[git.example]:2222", &ed), Verdict::Known);
        assert_eq!(bracketed.check("[git.example]:2223", &ed), Verdict::Unknown);
        assert_eq!(bracketed.check("git.example", &ed), Verdict::Unknown);
    }

    #[test]
    fn wildcards_match_and_negations_exclude() {
        let ed = key("ssh-ed25519", b"ed-key");
        let known = KnownHosts::parse(&line("*.example.com,!evil.example.com,git?.corp", &ed));
        assert_eq!(known.check("a.b.example.com", &ed), Verdict::Known);
        assert_eq!(known.check("evil.example.com", &ed), Verdict::Unknown);
        assert_eq!(known.check("git1.corp", &ed), Verdict::Known);
        assert_eq!(known.check("git12.corp", &ed), Verdict::Unknown);
        assert_eq!(known.check("example.com", &ed), Verdict::Unknown);
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
        assert!(glob_matches("[*]:2222", "[git.example]:2222"));
    }

    #[test]
    fn hashed_names_match_the_host_and_port_they_were_made_from() {
        let ed = key("ssh-ed25519", b"ed-key");
        let text = format!(
            "{}\n{}\n",
            line(&hashed("github.com", b"salt-one-20-bytes!!"), &ed),
            line(&hashed("[git.example]:2222", b"salt-two"), &ed)
        );
        let known = KnownHosts::parse(&text);
        assert!(known.malformed_lines().is_empty());
        assert_eq!(known.check("github.com", &ed), Verdict::Known);
        assert_eq!(known.check("GITHUB.com", &ed), Verdict::Known);
        assert_eq!(known.check("[git.example]:2222", &ed), Verdict::Known);
        assert_eq!(known.check("git.example", &ed), Verdict::Unknown);
        assert_eq!(known.check("gitlab.com", &ed), Verdict::Unknown);
    }

    #[test]
    fn lines_hashed_by_ssh_keygen_are_matched() {
        // `ssh-keygen -H` of "[git.example]:2222 <key>" and "github.com <key>".
        let text = "\
|1|jTrJNszJJq/ACKWcASElU3Ew+9s=|rgbA9Phs5cf8gH6A7HZMk07RHHs= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmkUi3nYfinmrFhWJqp4rEkBZJ+4Z6QDt/Y0WKz/+uS
|1|PP9S39jqw+LF6aDqSZJnh5hfUpk=|Ae0ltDNxxMbvHzMViWzS2JKlZMk= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmkUi3nYfinmrFhWJqp4rEkBZJ+4Z6QDt/Y0WKz/+uS
";
        let blob = STANDARD
            .decode("AAAAC3NzaC1lZDI1NTE5AAAAIMmkUi3nYfinmrFhWJqp4rEkBZJ+4Z6QDt/Y0WKz/+uS")
            .unwrap();
        let ed = HostKey::from_blob(&blob).unwrap();
        let known = KnownHosts::parse(text);
        assert_eq!(known.check("[git.example]:2222", &ed), Verdict::Known);
        assert_eq!(known.check("github.com", &ed), Verdict::Known);
        assert_eq!(known.check("git.example", &ed), Verdict::Unknown);
        assert_eq!(known.check("[github.com]:2222", &ed), Verdict::Unknown);
    }

    #[test]
    fn the_published_github_host_keys_parse_and_match() {
        // As in Argo CD's argocd-ssh-known-hosts-cm and the chart's defaults.
        let text = "\
github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl
github.com ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=
github.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=
";
        let known = KnownHosts::parse(text);
        assert!(known.malformed_lines().is_empty());
        for line in text.lines() {
            let blob = STANDARD.decode(line.split(' ').nth(2).unwrap()).unwrap();
            let offered = HostKey::from_blob(&blob).unwrap();
            assert_eq!(
                known.check("github.com", &offered),
                Verdict::Known,
                "{line}"
            );
            assert_eq!(
                known.check("gitlab.com", &offered),
                Verdict::Unknown,
                "{line}"
            );
        }
    }

    #[test]
    fn a_different_key_is_a_mismatch_and_other_types_are_named() {
        let ed = key("ssh-ed25519", b"ed-key");
        let rsa = key("ssh-rsa", b"rsa-key");
        let known = KnownHosts::parse(&format!("{}\n{}\n", line("host", &ed), line("host", &rsa)));
        assert_eq!(known.check("host", &rsa), Verdict::Known);
        assert_eq!(
            known.check("host", &key("ssh-ed25519", b"other")),
            Verdict::Mismatch
        );
        assert_eq!(
            known.check("host", &key("ecdsa-sha2-nistp256", b"ec")),
            Verdict::OtherKeyTypes(vec!["ssh-ed25519".into(), "ssh-rsa".into()])
        );
    }

    #[test]
    fn every_supported_key_type_is_recognised() {
        for key_type in [
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521",
            "ssh-rsa",
        ] {
            let k = key(key_type, b"material");
            let known = KnownHosts::parse(&line("h", &k));
            assert_eq!(known.check("h", &k), Verdict::Known, "{key_type}");
        }
    }

    #[test]
    fn revoked_keys_are_refused_for_every_host_and_ca_lines_are_skipped() {
        let ed = key("ssh-ed25519", b"ed-key");
        let revoked = KnownHosts::parse(&format!(
            "{}\n@revoked {}\n",
            line("host", &ed),
            line("*", &ed)
        ));
        assert_eq!(revoked.check("host", &ed), Verdict::Revoked);
        let other_host = KnownHosts::parse(&format!(
            "{}\n@revoked {}\n",
            line("host", &ed),
            line("elsewhere", &ed)
        ));
        assert_eq!(other_host.check("host", &ed), Verdict::Revoked);
        let ca = KnownHosts::parse(&format!("@cert-authority {}\n", line("*", &ed)));
        assert!(ca.malformed_lines().is_empty());
        assert_eq!(ca.check("host", &ed), Verdict::Unknown);
    }

    #[test]
    fn comments_blank_and_malformed_lines_are_skipped() {
        let ed = key("ssh-ed25519", b"ed-key");
        let text = format!(
            "# Argo CD known hosts\n\n   \n\
             @bogus-marker {good}\n\
             host-only\n\
             host ssh-ed25519\n\
             host ssh-ed25519 !!!not-base64!!!\n\
             host ssh-rsa {b64}\n\
             host ssh-ed25519 {short}\n\
             |1|bad|salt ssh-ed25519 {b64}\n\
             ,, ssh-ed25519 {b64}\n\
             \u{0}\u{ff}garbage\n\
             {good}\n",
            good = line("host", &ed),
            b64 = STANDARD.encode(&ed.blob),
            short = STANDARD.encode([0, 0, 0, 9, b's']),
        );
        let known = KnownHosts::parse(&text);
        assert_eq!(known.malformed_lines(), &[4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(known.check("host", &ed), Verdict::Known);
        assert_eq!(KnownHosts::parse("").check("host", &ed), Verdict::Unknown);
    }

    #[test]
    fn a_certificate_yields_the_plain_key_it_certifies() {
        let ssh_string = |bytes: &[u8]| {
            let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(bytes);
            out
        };
        let mut cert = ssh_string(b"ssh-ed25519-cert-v01@openssh.com");
        cert.extend(ssh_string(b"nonce-nonce"));
        cert.extend(ssh_string(b"ed-point"));
        cert.extend(8u64.to_be_bytes()); // serial, and the rest of the certificate
        cert.extend(ssh_string(b"signature and more"));
        let cert = HostKey::from_blob(&cert).unwrap();
        assert_eq!(cert.certified_key(), Some(key("ssh-ed25519", b"ed-point")));

        let mut ecdsa = ssh_string(b"ecdsa-sha2-nistp256-cert-v01@openssh.com");
        ecdsa.extend(ssh_string(b"nonce"));
        ecdsa.extend(ssh_string(b"nistp256"));
        ecdsa.extend(ssh_string(b"point"));
        let plain = HostKey::from_blob(&ecdsa).unwrap().certified_key().unwrap();
        let mut want = ssh_string(b"ecdsa-sha2-nistp256");
        want.extend(ssh_string(b"nistp256"));
        want.extend(ssh_string(b"point"));
        assert_eq!(plain, HostKey::from_blob(&want).unwrap());

        let mut truncated = ssh_string(b"ssh-rsa-cert-v01@openssh.com");
        truncated.extend(ssh_string(b"nonce"));
        truncated.extend(ssh_string(b"e-only"));
        assert_eq!(
            HostKey::from_blob(&truncated).unwrap().certified_key(),
            None
        );
        assert_eq!(key("ssh-ed25519", b"plain").certified_key(), None);
    }

    #[test]
    fn unreadable_blobs_are_rejected_and_fingerprints_match_ssh_keygen() {
        assert!(HostKey::from_blob(&[]).is_none());
        assert!(HostKey::from_blob(&[0, 0, 0, 200, b'x']).is_none());
        assert!(HostKey::from_blob(&[0, 0, 0, 0]).is_none());
        assert!(HostKey::from_blob(&[0xff, 0xff, 0xff, 0xff]).is_none());
        // `ssh-keygen -lf` of this public key prints this fingerprint.
        let blob = STANDARD
            .decode("AAAAC3NzaC1lZDI1NTE5AAAAIMmkUi3nYfinmrFhWJqp4rEkBZJ+4Z6QDt/Y0WKz/+uS")
            .unwrap();
        let key = HostKey::from_blob(&blob).unwrap();
        assert_eq!(key.key_type(), "ssh-ed25519");
        assert_eq!(
            key.fingerprint(),
            "SHA256:NMz4UD/RBQyv7kCQGwf3QpTVlJ16WSUmh0Xbw+fRbek"
        );
    }

    #[test]
    fn the_verifier_explains_what_is_wrong_and_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let ed = key("ssh-ed25519", b"ed-key");
        let unconfigured = HostKeyVerifier::new(None)
            .verify("git.example", 22, &ed.blob)
            .unwrap_err();
        assert!(matches!(unconfigured, Error::HostKey(_)));
        let message = unconfigured.to_string();
        assert!(message.contains("knownhosts: key is unknown"), "{message}");
        assert!(message.contains("--ssh-known-hosts"), "{message}");
        assert!(message.contains("ssh-keyscan git.example"), "{message}");

        let missing = dir.path().join("missing");
        let message = HostKeyVerifier::new(Some(missing.clone()))
            .verify("git.example", 2222, &ed.blob)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
        assert!(message.contains("[git.example]:2222"), "{message}");
        assert!(
            message.contains("ssh-keyscan -p 2222 git.example"),
            "{message}"
        );

        let file = dir.path().join("known_hosts");
        std::fs::write(&file, line("[git.example]:2222", &ed)).unwrap();
        let verifier = HostKeyVerifier::new(Some(file));
        verifier.verify("git.example", 2222, &ed.blob).unwrap();
        let other = key("ssh-ed25519", b"attacker");
        let message = verifier
            .verify("git.example", 2222, &other.blob)
            .unwrap_err()
            .to_string();
        assert!(message.contains("knownhosts: key mismatch"), "{message}");
        assert!(message.contains(&other.fingerprint()), "{message}");
        let message = verifier
            .verify("git.example", 22, &ed.blob)
            .unwrap_err()
            .to_string();
        assert!(message.contains("knownhosts: key is unknown"), "{message}");
        assert!(message.contains("for git.example:"), "{message}");
    }
}
