//! A real `redis-server` per test on a free loopback port, that tests can
//! stop and start again (same port) to check fallback behaviour.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net::free_port;
use crate::process::{ManagedProcess, ProcessSpec};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A `redis-server` process; killed when dropped.
#[derive(Debug)]
pub struct Redis {
    port: u16,
    password: Option<String>,
    log_path: PathBuf,
    // Keeps the default log dir alive when none was given.
    _log_dir: Option<tempfile::TempDir>,
    process: Mutex<Option<ManagedProcess>>,
}

impl Redis {
    /// Starts an empty Redis without persistence, logging to a temp dir.
    pub async fn start() -> Result<Redis> {
        let dir = tempfile::Builder::new()
            .prefix("caravel-redis-")
            .tempdir()
            .context("creating the redis log dir")?;
        let log_path = dir.path().join("redis.log");
        Self::launch(None, log_path, Some(dir), None).await
    }

    /// Starts Redis with `requirepass`.
    pub async fn start_with_password(password: &str) -> Result<Redis> {
        let dir = tempfile::Builder::new()
            .prefix("caravel-redis-")
            .tempdir()
            .context("creating the redis log dir")?;
        let log_path = dir.path().join("redis.log");
        Self::launch(Some(password.to_owned()), log_path, Some(dir), None).await
    }

    /// Starts Redis logging to `log_path`, on `port` (or a free one).
    pub async fn start_with(
        password: Option<&str>,
        log_path: &Path,
        port: Option<u16>,
    ) -> Result<Redis> {
        Self::launch(password.map(str::to_owned), log_path.to_owned(), None, port).await
    }

    async fn launch(
        password: Option<String>,
        log_path: PathBuf,
        log_dir: Option<tempfile::TempDir>,
        port: Option<u16>,
    ) -> Result<Redis> {
        let port = match port {
            Some(port) if port != 0 => port,
            _ => free_port()?,
        };
        let redis = Redis {
            port,
            password,
            log_path,
            _log_dir: log_dir,
            process: Mutex::new(None),
        };
        redis.start_again().await?;
        Ok(redis)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:<port>/`, with the password when one is set.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// `true` while the server process runs.
    pub fn is_running(&self) -> bool {
        self.process
            .lock()
            .map(|p| p.as_ref().is_some_and(ManagedProcess::is_running))
            .unwrap_or(false)
    }

    /// Kills the server; its data is gone (no persistence).
    pub fn stop(&self) -> Result<()> {
        let process = self
            .process
            .lock()
            .map_err(|_| anyhow!("redis handle lock poisoned"))?
            .take();
        if let Some(process) = process {
            process.kill()?;
        }
        Ok(())
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop))
    /// and waits until it answers PING.
    pub async fn start_again(&self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let mut spec = ProcessSpec::new("redis-server", REDIS_SERVER, &self.log_path).args([
            "--port".to_owned(),
            self.port.to_string(),
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "--save".to_owned(),
            String::new(),
            "--appendonly".to_owned(),
            "no".to_owned(),
            "--logfile".to_owned(),
            String::new(),
        ]);
        if let Some(password) = &self.password {
            spec = spec.args(["--requirepass", password]);
        }
        let process = spec.spawn()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ping(self.port, self.password.as_deref()).await.is_ok() {
                break;
            }
            if !process.is_running() || Instant::now() >= deadline {
                bail!(
                    "redis-server on port {} did not answer PING (log {}):\n{}",
                    self.port,
                    self.log_path.display(),
                    process.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *self
            .process
            .lock()
            .map_err(|_| anyhow!("redis handle lock poisoned"))? = Some(process);
        Ok(())
    }

    /// Sends one command (RESP) and returns the raw reply, e.g. `+PONG\r\n`.
    pub async fn command(&self, args: &[&str]) -> Result<String> {
        let mut stream = connect(self.port, self.password.as_deref()).await?;
        stream.write_all(&resp_command(args)).await?;
        read_reply(&mut stream).await
    }
}

/// `PING` (after `AUTH` when a password is given); `Ok` on `+PONG`.
pub async fn ping(port: u16, password: Option<&str>) -> Result<()> {
    let mut stream = connect(port, password).await?;
    stream.write_all(&resp_command(&["PING"])).await?;
    let reply = read_reply(&mut stream).await?;
    if reply.starts_with("+PONG") {
        Ok(())
    } else {
        bail!("unexpected PING reply from redis: {}", reply.trim())
    }
}

async fn connect(port: u16, password: Option<&str>) -> Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connecting to redis on port {port}"))?;
    if let Some(password) = password {
        stream.write_all(&resp_command(&["AUTH", password])).await?;
        let reply = read_reply(&mut stream).await?;
        if !reply.starts_with("+OK") {
            // The reply never echoes the password.
            bail!("redis AUTH failed: {}", reply.trim());
        }
    }
    Ok(stream)
}

fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

async fn read_reply(stream: &mut TcpStream) -> Result<String> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .context("redis reply timed out")??;
    if n == 0 {
        bail!("redis closed the connection");
    }
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_command_encodes_bulk_strings() {
        assert_eq!(
            resp_command(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".to_vec()
        );
    }
}
