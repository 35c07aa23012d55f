//! SSH repositories against a real OpenSSH server (`sshd` on a free port
//! with host keys made by `ssh-keygen`): host keys are checked against the
//! configured known_hosts file, the private key comes from the request.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use caravel_proto::reposerver::v1::{
    GenerateManifestRequest, Repository, ResolveRevisionRequest, ResolveRevisionResponse,
};
use serde_json::json;
use tempfile::TempDir;
use tonic::Code;

use crate::support::{
    config_map, free_port, generate_request, kinds_and_names, GitRepo, TestServer,
};

const SSHD: &str = "/usr/sbin/sshd";

// === sshd fixture ===

/// `sshd` serving one bare repository over ssh, killed on drop.
struct SshServer {
    dir: TempDir,
    child: Child,
    port: u16,
    user: String,
    /// The commit `main` (and `HEAD`) point at.
    commit: String,
}

fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn keygen(path: &Path, key_type: &str) -> Result<()> {
    let path = path.to_str().context("temp path is not utf-8")?;
    run(
        "ssh-keygen",
        &["-q", "-t", key_type, "-N", "", "-C", "", "-f", path],
    )?;
    Ok(())
}

impl SshServer {
    /// Starts sshd with host keys of `host_key_types` (`ed25519`, `ecdsa`),
    /// or `None` when sshd is not installed and this is not CI, where a
    /// missing sshd fails the test.
    fn start(host_key_types: &[&str]) -> Result<Option<Self>> {
        Self::start_with(host_key_types, false)
    }

    /// Like [`SshServer::start`]; with `certified`, each host key also has
    /// a host certificate signed by a throwaway CA.
    fn start_with(host_key_types: &[&str], certified: bool) -> Result<Option<Self>> {
        if !Path::new(SSHD).exists() {
            if std::env::var_os("CI").is_some() {
                bail!("{SSHD} is missing: install openssh-server (scripts/deps.sh)");
            }
            eprintln!("skipping: {SSHD} is missing (install openssh-server)");
            return Ok(None);
        }
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        let mut config = String::new();
        if certified {
            keygen(&root.join("ca"), "ed25519")?;
        }
        for key_type in host_key_types {
            let path = root.join(format!("host_{key_type}"));
            keygen(&path, key_type)?;
            config.push_str(&format!("HostKey {}\n", path.display()));
            if certified {
                let ca = root.join("ca");
                let public = path.with_extension("pub");
                run(
                    "ssh-keygen",
                    &[
                        "-q",
                        "-s",
                        ca.to_str().context("temp path is not utf-8")?,
                        "-I",
                        "caravel-test",
                        "-h",
                        "-n",
                        "127.0.0.1",
                        public.to_str().context("temp path is not utf-8")?,
                    ],
                )?;
                let certificate = root.join(format!("host_{key_type}-cert.pub"));
                config.push_str(&format!("HostCertificate {}\n", certificate.display()));
            }
        }
        keygen(&root.join("client"), "ed25519")?;
        std::fs::copy(root.join("client.pub"), root.join("authorized_keys"))?;
        config.push_str(&format!(
            "AuthorizedKeysFile {root}/authorized_keys\n\
             PidFile {root}/sshd.pid\n\
             ListenAddress 127.0.0.1\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             UsePAM no\n\
             LogLevel DEBUG\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n",
            root = root.display()
        ));
        let config_path = root.join("sshd_config");
        std::fs::write(&config_path, config)?;
        // sshd's privilege separation needs it; it exists when the ssh
        // service was ever started.
        let _ = std::fs::create_dir_all("/run/sshd");

        let source = GitRepo::new()?;
        source.write("app/cm.yaml", &config_map("over-ssh"))?;
        let commit = source.commit("app")?;
        let bare = root.join("repo.git");
        source.git(&[
            "clone",
            "-q",
            "--bare",
            ".",
            bare.to_str().context("temp path is not utf-8")?,
        ])?;

        let port = free_port()?;
        let log = std::fs::File::create(root.join("sshd.log"))?;
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config_path)
            .arg("-p")
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting sshd")?;
        let server = Self {
            dir,
            child,
            port,
            user: run("id", &["-un"])?,
            commit,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("sshd did not start on port {port}: {}", server.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Some(server))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            self.dir.path().join("repo.git").display()
        )
    }

    /// The name known_hosts records this server under.
    fn host(&self) -> String {
        format!("[127.0.0.1]:{}", self.port)
    }

    /// `<type> <base64>` of the server's host key of `key_type`.
    fn host_key(&self, key_type: &str) -> Result<String> {
        let public = std::fs::read_to_string(self.dir.path().join(format!("host_{key_type}.pub")))?;
        Ok(public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "))
    }

    fn client_private_key(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.dir.path().join("client"))?)
    }

    /// The repository with the client's private key.
    fn repo(&self, insecure: bool) -> Result<Option<Repository>> {
        Ok(Some(Repository {
            repo: self.url(),
            ssh_private_key: self.client_private_key()?,
            insecure,
            ..Default::default()
        }))
    }

    /// Writes `lines` as a known_hosts file next to the server's files.
    fn known_hosts(&self, name: &str, lines: &[String]) -> Result<PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n")?;
        Ok(path)
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key of `key_type` that no server here uses.
fn unrelated_key(key_type: &str) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("other");
    keygen(&path, key_type)?;
    let public = std::fs::read_to_string(path.with_extension("pub"))?;
    Ok(public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" "))
}

async fn server_with(known_hosts: Option<PathBuf>) -> Result<TestServer> {
    TestServer::start_with(|c| c.ssh_known_hosts = known_hosts).await
}

async fn resolve(
    s: &TestServer,
    sshd: &SshServer,
    insecure: bool,
) -> Result<ResolveRevisionResponse, tonic::Status> {
    let repo = sshd
        .repo(insecure)
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    s.client
        .clone()
        .resolve_revision(ResolveRevisionRequest {
            repo,
            revision: "main".to_owned(),
            no_cache: true,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// A render of `app` at the server's commit: no ref listing, straight to
/// a fetch.
fn render_request(sshd: &SshServer, insecure: bool) -> Result<GenerateManifestRequest> {
    let mut req = generate_request(
        &sshd.url(),
        json!({"path": "app", "targetRevision": sshd.commit}),
        "over-ssh",
    );
    req.repo = sshd.repo(insecure)?;
    Ok(req)
}

/// Asserts the refusal is a FailedPrecondition that says `wanted` and
/// leaks neither the private key nor the URL's user.
fn assert_refused(status: &tonic::Status, sshd: &SshServer, wanted: &[&str]) -> Result<()> {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let message = status.message();
    for w in wanted {
        assert!(message.contains(w), "{w:?} not in {message}");
    }
    assert!(message.contains(&sshd.host()), "{message}");
    assert!(!message.contains(&format!("{}@", sshd.user)), "{message}");
    for line in sshd.client_private_key()?.lines().filter(|l| l.len() > 20) {
        assert!(!message.contains(line), "private key leaked: {message}");
    }
    assert!(!message.contains("PRIVATE KEY"), "{message}");
    Ok(())
}

// === tests ===

#[tokio::test]
async fn ssh_repositories_resolve_and_render_when_the_host_key_is_known() -> Result<()> {
    let Some(sshd) = SshServer::start(&["ed25519"])? else {
        return Ok(());
    };
    let known_hosts = sshd.known_hosts(
        "known_hosts",
        &[
            "# Argo CD style known hosts".to_owned(),
            format!("github.com {}", unrelated_key("ed25519")?),
            format!("{} {}", sshd.host(), sshd.host_key("ed25519")?),
        ],
    )?;
    let s = server_with(Some(known_hosts)).await?;
    let resolved = resolve(&s, &sshd, false).await;
    let resolved = resolved.map_err(|e| anyhow::anyhow!("{e:?}\nsshd: {}", sshd.log()))?;
    assert_eq!(resolved.revision, sshd.commit);
    let resp = s.generate(render_request(&sshd, false)?).await?;
    assert_eq!(kinds_and_names(&resp)?, vec!["ConfigMap/over-ssh"]);
    assert_eq!(resp.revision, sshd.commit);
    Ok(())
}

#[tokio::test]
async fn known_hosts_hashed_by_ssh_keygen_are_accepted() -> Result<()> {
    let Some(sshd) = SshServer::start(&["ed25519"])? else {
        return Ok(());
    };
    let known_hosts = sshd.known_hosts(
        "known_hosts",
        &[format!("{} {}", sshd.host(), sshd.host_key("ed25519")?)],
    )?;
    run(
        "ssh-keygen",
        &["-q", "-H", "-f", known_hosts.to_str().context("utf-8")?],
    )?;
    let hashed = std::fs::read_to_string(&known_hosts)?;
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let s = server_with(Some(known_hosts)).await?;
    let resolved = resolve(&s, &sshd, false).await?;
    assert_eq!(resolved.revision, sshd.commit);
    Ok(())
}

#[tokio::test]
async fn unknown_ssh_hosts_are_refused_with_how_to_add_their_key() -> Result<()> {
    let Some(sshd) = SshServer::start(&["ed25519"])? else {
        return Ok(());
    };
    // The right key, but recorded for port 22 only.
    let known_hosts = sshd.known_hosts(
        "known_hosts",
        &[format!("127.0.0.1 {}", sshd.host_key("ed25519")?)],
    )?;
    let s = server_with(Some(known_hosts.clone())).await?;
    let keyscan = format!("ssh-keyscan -p {} 127.0.0.1", sshd.port);
    let wanted = [
        "knownhosts: key is unknown",
        &keyscan,
        &known_hosts.display().to_string(),
    ];
    let listing = resolve(&s, &sshd, false).await.unwrap_err();
    assert_refused(&listing, &sshd, &wanted)?;
    let fetching = s.generate(render_request(&sshd, false)?).await.unwrap_err();
    assert_refused(&fetching, &sshd, &wanted)?;
    Ok(())
}

#[tokio::test]
async fn changed_ssh_host_keys_are_refused_as_a_mismatch() -> Result<()> {
    let Some(sshd) = SshServer::start(&["ed25519"])? else {
        return Ok(());
    };
    let known_hosts = sshd.known_hosts(
        "known_hosts",
        &[format!("{} {}", sshd.host(), unrelated_key("ed25519")?)],
    )?;
    let s = server_with(Some(known_hosts)).await?;
    let status = resolve(&s, &sshd, false).await.unwrap_err();
    assert_refused(
        &status,
        &sshd,
        &["knownhosts: key mismatch", "ssh-ed25519 SHA256:"],
    )?;
    let fetching = s.generate(render_request(&sshd, false)?).await.unwrap_err();
    assert_refused(&fetching, &sshd, &["knownhosts: key mismatch"])?;
    Ok(())
}

#[tokio::test]
async fn revoked_ssh_host_keys_are_refused() -> Result<()> {
    let Some(sshd) = SshServer::start(&["ed25519"])? else {
        return Ok(());
    };
    let key = sshd.host_key("ed25519")?;
    let known_hosts = sshd.known_hosts(
        "known_hosts",
        &[
            format!("{} {key}", sshd.host()),
            format!("@revoked * {key}"),
        ],
    )?;
    let s = server_with(Some(known_hosts)).await?;
    let status = resolve(&s, &sshd, false).await.unwrap_err();
    assert_refused(&status, &sshd, &["is marked @revoked"])?;
    Ok(())
}

#[tokio::test]
async fn a_host_known_only_by_another_key_type_is_refused_naming_the_types() -> Result<()> {
    let Some(sshd) = SshServer::start(&["ed25519", "ecdsa"])? else {
        return Ok(());
    };
    // libssh2 asks for the Ed25519 key first; only the ECDSA one is known.
    let known_hosts = sshd.known_hosts(
        "known_hosts",
        &[format!("{} {}", sshd.host(), sshd.host_key("ecdsa")?)],
    )?;
    let s = server_with(Some(known_hosts.clone())).await?;
    let status = resolve(&s, &sshd, false).await.unwrap_err();
    assert_refused(
        &status,
        &sshd,
        &[
            "knownhosts: key mismatch",
            "offered its ssh-ed25519 key",
            "only holds ecdsa-sha2-nistp256 keys",
        ],
    )?;
    // With every key of the host recorded, as `ssh-keyscan` prints them, it works.
    std::fs::write(
        &known_hosts,
        format!(
            "{host} {}\n{host} {}\n",
            sshd.host_key("ed25519")?,
            sshd.host_key("ecdsa")?,
            host = sshd.host()
        ),
    )?;
    assert_eq!(resolve(&s, &sshd, false).await?.revision, sshd.commit);
    Ok(())
}

#[tokio::test]
async fn insecure_repositories_skip_host_key_verification() -> Result<()> {
    let Some(sshd) = SshServer::start(&["ed25519"])? else {
        return Ok(());
    };
    let s = server_with(None).await?;
    let status = resolve(&s, &sshd, false).await.unwrap_err();
    assert_refused(
        &status,
        &sshd,
        &["knownhosts: key is unknown", "--ssh-known-hosts"],
    )?;
    assert_eq!(resolve(&s, &sshd, true).await?.revision, sshd.commit);
    let resp = s.generate(render_request(&sshd, true)?).await?;
    assert_eq!(kinds_and_names(&resp)?, vec!["ConfigMap/over-ssh"]);
    Ok(())
}

#[tokio::test]
async fn host_certificates_are_checked_by_the_key_they_certify() -> Result<()> {
    let Some(sshd) = SshServer::start_with(&["ed25519"], true)? else {
        return Ok(());
    };
    let known_hosts = sshd.known_hosts(
        "known_hosts",
        &[format!("{} {}", sshd.host(), sshd.host_key("ed25519")?)],
    )?;
    let s = server_with(Some(known_hosts.clone())).await?;
    assert_eq!(resolve(&s, &sshd, false).await?.revision, sshd.commit);
    // The server did present its certificate, not the plain key.
    assert!(
        sshd.log()
            .contains("host key algorithm: ssh-ed25519-cert-v01@openssh.com"),
        "{}",
        sshd.log()
    );
    std::fs::write(
        &known_hosts,
        format!("{} {}\n", sshd.host(), unrelated_key("ed25519")?),
    )?;
    let status = resolve(&s, &sshd, false).await.unwrap_err();
    assert_refused(&status, &sshd, &["knownhosts: key mismatch"])?;
    Ok(())
}
