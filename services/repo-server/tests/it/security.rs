//! The repo-server items of the security checklist
//! (/work/shared/reference/security-checklist.md): 4, 5, 7, 10 and 13.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use anyhow::Result;
use base64::Engine;
use caravel_proto::reposerver::v1::{Repository, ResolveRevisionRequest};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::support::{captured_logs, config_map, free_port, generate_request, GitRepo, TestServer};

// Item 5: paths with NUL bytes or `..` out of the repo, absolute paths.
#[tokio::test]
async fn source_paths_with_nul_dotdot_or_absolute_are_invalid_arguments() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("app/cm.yaml", &config_map("x"))?;
    git.commit("app")?;
    let s = TestServer::start().await?;
    for path in ["app\0/x", "../outside", "app/../../etc", "/etc", "/"] {
        let err = s
            .generate(generate_request(&git.url(), json!({"path": path}), "app"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{path:?}: {err:?}");
        assert!(!err.message().is_empty());
    }
    // `..` that stays inside the repository is fine.
    s.generate(generate_request(
        &git.url(),
        json!({"path": "app/../app"}),
        "app",
    ))
    .await?;
    Ok(())
}

// Item 5: invalid UTF-8 in file names.
#[tokio::test]
async fn non_utf8_file_names_fail_cleanly() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("app/cm.yaml", &config_map("x"))?;
    let bad = git
        .path()
        .join("app")
        .join(OsStr::from_bytes(b"bad\xff.yaml"));
    std::fs::write(bad, config_map("bad"))?;
    git.commit("bad name")?;
    let s = TestServer::start().await?;
    let err = s
        .generate(generate_request(&git.url(), json!({"path": "app"}), "app"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("not valid utf-8"),
        "{}",
        err.message()
    );
    Ok(())
}

// Item 7: committed symlinks to `/`, `../..` or anything outside the repo.
#[tokio::test]
async fn symlinks_escaping_the_repository_fail_the_app() -> Result<()> {
    let git = GitRepo::new()?;
    git.write("ok/cm.yaml", &config_map("ok"))?;
    git.write("root/cm.yaml", &config_map("root"))?;
    git.symlink("root/host-root", "/")?;
    git.write("up/cm.yaml", &config_map("up"))?;
    git.symlink("up/up.yaml", "../..")?;
    git.symlink("passwd/passwd.yaml", "/etc/passwd")?;
    git.write("nested/cm.yaml", &config_map("nested"))?;
    // Even a link below the app path, in a directory not rendered, counts.
    git.symlink("nested/deep/escape.yaml", "../../../../etc/hostname")?;
    git.symlink("link-app", "/etc")?;
    git.commit("escapes")?;
    let s = TestServer::start().await?;
    let url = git.url();
    for (path, link) in [
        ("root", "root/host-root"),
        ("up", "up/up.yaml"),
        ("passwd", "passwd/passwd.yaml"),
        ("nested", "nested/deep/escape.yaml"),
        ("link-app", "link-app"),
    ] {
        let err = s
            .generate(generate_request(&url, json!({"path": path}), path))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{path}: {err:?}");
        assert_eq!(
            err.message(),
            format!("symlink {link} points outside the repository"),
            "{path}"
        );
    }
    // Other apps of the same repository are unaffected.
    s.generate(generate_request(&url, json!({"path": "ok"}), "ok"))
        .await?;
    Ok(())
}

// Item 4: symlink loops and very deep chains.
#[tokio::test]
async fn symlink_loops_and_deep_chains_fail_cleanly() -> Result<()> {
    let git = GitRepo::new()?;
    git.symlink("loop/a.yaml", "b.yaml")?;
    git.symlink("loop/b.yaml", "a.yaml")?;
    git.symlink("self/self.yaml", "self.yaml")?;
    for i in 0..60 {
        git.symlink(&format!("chain/l{i}.yaml"), &format!("l{}.yaml", i + 1))?;
    }
    git.write("chain/l60.yaml", &config_map("end"))?;
    git.commit("loops")?;
    let s = TestServer::start().await?;
    for path in ["loop", "self", "chain"] {
        let err = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            s.generate(generate_request(&git.url(), json!({"path": path}), path)),
        )
        .await?
        .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{path}: {err:?}");
        assert!(
            err.message().contains("too many levels of symbolic links"),
            "{path}: {}",
            err.message()
        );
    }
    Ok(())
}

// Item 10: combined size limit before parsing.
#[tokio::test]
async fn oversized_directory_apps_are_rejected_before_parsing() -> Result<()> {
    let git = GitRepo::new()?;
    // Invalid YAML: if it were parsed, the error would be a parse error.
    let junk = format!("{}\n: : [\n", "#".repeat(600));
    git.write("big/a.yaml", &junk)?;
    git.write("big/b.yaml", &junk)?;
    git.write("small/cm.yaml", &config_map("small"))?;
    git.commit("big")?;
    let s = TestServer::start_with(|c| c.max_combined_directory_manifests_size = 1000).await?;
    let err = s
        .generate(generate_request(&git.url(), json!({"path": "big"}), "big"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("more than the limit of 1000 bytes"),
        "{}",
        err.message()
    );
    assert!(!err.message().contains("line"), "{}", err.message());
    s.generate(generate_request(
        &git.url(),
        json!({"path": "small"}),
        "small",
    ))
    .await?;
    Ok(())
}

// Item 10: YAML "billion laughs".
#[tokio::test]
async fn billion_laughs_yaml_is_rejected() -> Result<()> {
    let mut doc = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\nx:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let mut prev = 'a';
    for c in 'b'..='j' {
        doc.push_str(&format!(
            "  {c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = c;
    }
    let git = GitRepo::new()?;
    git.write("app/lol.yaml", &doc)?;
    git.commit("lol")?;
    let s = TestServer::start().await?;
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        s.generate(generate_request(&git.url(), json!({"path": "app"}), "app")),
    )
    .await?
    .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("lol.yaml"), "{}", err.message());
    Ok(())
}

/// An HTTP server that asks for Basic auth forever and records the
/// Authorization headers it gets.
async fn auth_demanding_http_server() -> Result<(u16, tokio::sync::mpsc::UnboundedReceiver<String>)>
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let Ok(n) = conn.read(&mut buf).await else {
                    return;
                };
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                for line in request.lines() {
                    if let Some(v) = line
                        .strip_prefix("Authorization: ")
                        .or_else(|| line.strip_prefix("authorization: "))
                    {
                        let _ = tx.send(v.trim().to_owned());
                    }
                }
                let _ = conn
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    Ok((port, rx))
}

// Item 13: credentials never in errors, logs, traces or cache keys.
#[tokio::test]
async fn credentials_never_appear_in_errors_or_logs() -> Result<()> {
    let (port, mut auth_headers) = auth_demanding_http_server().await?;
    let s = TestServer::start().await?;
    let password = "hunter2-Very-Secret-pw";
    let url_password = "url-Embedded-Secret-pw";
    let ssh_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nkey-Material-Secret\n-----END OPENSSH PRIVATE KEY-----\n";
    let closed = free_port()?;
    let cases = [
        // Asks for credentials: the userpass callback answers with ours.
        format!("http://alice:{url_password}@127.0.0.1:{port}/org/repo.git"),
        format!("http://127.0.0.1:{port}/org/repo.git"),
        // Nothing listens there.
        format!("https://alice:{url_password}@127.0.0.1:{closed}/org/repo.git"),
        format!("ssh://git:{url_password}@127.0.0.1:{closed}/org/repo.git"),
        "file:///nonexistent/repo".to_owned(),
    ];
    for url in &cases {
        let repository = Repository {
            repo: url.clone(),
            username: "alice".to_owned(),
            password: password.to_owned(),
            ssh_private_key: ssh_key.to_owned(),
            insecure: false,
            ..Default::default()
        };
        let err = s
            .client
            .clone()
            .resolve_revision(ResolveRevisionRequest {
                repo: Some(repository.clone()),
                revision: "main".to_owned(),
                no_cache: false,
            })
            .await
            .unwrap_err();
        let mut req = generate_request(url, json!({"path": "."}), "app");
        req.repo = Some(repository);
        let gen_err = s.generate(req).await.unwrap_err();
        for e in [&err, &gen_err] {
            assert_eq!(e.code(), Code::Unavailable, "{url}: {e:?}");
            let text = format!("{e:?}");
            for secret in [password, url_password, "key-Material-Secret"] {
                assert!(!text.contains(secret), "{secret} leaked: {text}");
            }
        }
    }
    // The credentials did reach the server that asked for them.
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"))
    );
    let mut seen = Vec::new();
    while let Ok(h) = auth_headers.try_recv() {
        seen.push(h);
    }
    assert!(
        seen.contains(&expected),
        "authorization headers sent: {}",
        seen.len()
    );

    let logs = captured_logs();
    assert!(logs.contains("ResolveRevision"), "spans are logged");
    for secret in [password, url_password, "key-Material-Secret"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
    Ok(())
}
