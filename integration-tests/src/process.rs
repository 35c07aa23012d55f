//! Child processes that cannot outlive the test process.
//!
//! The shared test environment lives in a `static`, so nothing is dropped
//! when the test binary exits. Every child therefore asks the kernel for
//! `SIGKILL` when its parent dies (`PR_SET_PDEATHSIG`). That signal fires when
//! the *thread* that forked the child exits, so all children are forked by one
//! keeper thread that lives as long as the process. A [`ManagedProcess`] is
//! also killed when its handle is dropped.
//!
//! Unsafe code: `pre_exec` (to call `prctl`/`getppid` between fork and exec)
//! and `libc::kill` (to send SIGTERM/SIGSTOP/SIGCONT) need `unsafe`. Both are
//! plain syscalls with no memory-safety preconditions beyond the
//! async-signal-safety `pre_exec` requires, which the closure respects (no
//! allocation, no locks).
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

// === binaries ===

/// Finds a binary built by cargo (e.g. `caravel-repo-server`).
///
/// Looks in `$CARAVEL_BIN_DIR`, then next to the running executable (test
/// binaries live in `<target>/<profile>/deps/`), then
/// `$CARGO_TARGET_DIR/debug`, then `<workspace>/target/debug`. Binaries are
/// not built on demand: run `cargo build --bins` first.
pub fn binary_path(name: &str) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARAVEL_BIN_DIR") {
        candidates.push(PathBuf::from(dir).join(name));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(mut dir) = exe.parent() {
            if dir.file_name().is_some_and(|n| n == "deps") {
                dir = dir.parent().unwrap_or(dir);
            }
            candidates.push(dir.join(name));
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug").join(name));
    }
    if let Some(workspace) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
        candidates.push(workspace.join("target").join("debug").join(name));
    }
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "binary {name} not found (looked at {}); build it first with `cargo build --bins`",
        looked.join(", ")
    )
}

// === spawning ===

/// What to run, and where its output goes.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    env_removes: Vec<OsString>,
    env_clear: bool,
    current_dir: Option<PathBuf>,
    log_path: PathBuf,
}

impl ProcessSpec {
    /// `name` identifies the process in errors; stdout and stderr are
    /// appended to `log_path`.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        log_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            env_removes: Vec::new(),
            env_clear: false,
            current_dir: None,
            log_path: log_path.into(),
        }
    }

    /// A Caravel binary from the cargo target dir (see [`binary_path`]).
    pub fn cargo_binary(binary: &str, log_path: impl Into<PathBuf>) -> Result<Self> {
        Ok(Self::new(binary, binary_path(binary)?, log_path))
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Removes an inherited variable (e.g. `KUBECONFIG`) from the child's environment.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env_removes.push(key.into());
        self
    }

    /// Starts the child with no inherited environment: only what `env` sets.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Starts the process through the keeper thread.
    pub fn spawn(self) -> Result<ManagedProcess> {
        let log = open_log(&self.log_path)?;
        let log_err = log
            .try_clone()
            .with_context(|| format!("duplicating the log file handle for {}", self.name))?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: a Ctrl-C in a terminal reaches only the
            // parent, which then stops the children in order.
            .process_group(0);
        if self.env_clear {
            command.env_clear();
        }
        for key in &self.env_removes {
            command.env_remove(key);
        }
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: the closure runs between fork and exec; it only makes
        // async-signal-safe syscalls and does not allocate.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) == -1
                {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let child = spawn_on_keeper(command)
            .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?;
        Ok(ManagedProcess {
            name: self.name,
            pid: child.id(),
            log_path: self.log_path,
            child: Mutex::new(child),
        })
    }
}

fn open_log(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating log dir {}", dir.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log file {}", path.display()))
}

struct SpawnRequest {
    command: Command,
    reply: mpsc::SyncSender<io::Result<Child>>,
}

/// The keeper's request channel. The sender stays in this static forever, so
/// the keeper thread only ends with the process.
static KEEPER: Mutex<Option<mpsc::Sender<SpawnRequest>>> = Mutex::new(None);

fn spawn_on_keeper(command: Command) -> Result<Child> {
    let (reply, answer) = mpsc::sync_channel(1);
    {
        let mut keeper = KEEPER
            .lock()
            .map_err(|_| anyhow!("process keeper lock poisoned"))?;
        if keeper.is_none() {
            let (sender, requests) = mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("caravel-process-keeper".into())
                .spawn(move || {
                    for mut request in requests {
                        let result = request.command.spawn();
                        let _ = request.reply.send(result);
                    }
                })
                .context("starting the process keeper thread")?;
            *keeper = Some(sender);
        }
        let sender = keeper
            .as_ref()
            .ok_or_else(|| anyhow!("process keeper missing"))?;
        sender
            .send(SpawnRequest { command, reply })
            .map_err(|_| anyhow!("process keeper thread is gone"))?;
    }
    let child = answer
        .recv()
        .map_err(|_| anyhow!("process keeper thread is gone"))??;
    Ok(child)
}

// === running processes ===

/// A running child process; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    pid: u32,
    log_path: PathBuf,
    child: Mutex<Child>,
}

impl ManagedProcess {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process wrote so far (lossy UTF-8).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    /// `true` while the process has not exited.
    pub fn is_running(&self) -> bool {
        match self.child.lock() {
            Ok(mut child) => matches!(child.try_wait(), Ok(None)),
            Err(_) => false,
        }
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().ok()?.try_wait().ok().flatten()
    }

    /// SIGKILL and reap. Does nothing if the process already exited.
    pub fn kill(&self) -> Result<()> {
        let mut child = self
            .child
            .lock()
            .map_err(|_| anyhow!("{} handle lock poisoned", self.name))?;
        if child.try_wait()?.is_none() {
            child
                .kill()
                .with_context(|| format!("killing {}", self.name))?;
            child
                .wait()
                .with_context(|| format!("waiting for {}", self.name))?;
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if the process has not exited after `grace`.
    pub async fn terminate(&self, grace: Duration) -> Result<()> {
        if !self.signal(libc::SIGTERM)? {
            return Ok(());
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.is_running() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill()
    }

    /// SIGSTOP: the process hangs (open sockets, no answers) until [`resume`](Self::resume).
    pub fn pause(&self) -> Result<()> {
        self.signal(libc::SIGSTOP).map(|_| ())
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self) -> Result<()> {
        self.signal(libc::SIGCONT).map(|_| ())
    }

    /// Sends `signal` if the process is still running; `false` if it had exited.
    pub fn signal(&self, signal: libc::c_int) -> Result<bool> {
        let mut child = self
            .child
            .lock()
            .map_err(|_| anyhow!("{} handle lock poisoned", self.name))?;
        // Holding the lock while checking keeps the pid from being reaped
        // (and reused) before the signal is sent.
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        let pid = libc::pid_t::try_from(self.pid).context("pid out of range")?;
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(pid, signal) } == -1 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("signalling {}", self.name));
        }
        Ok(true)
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[tokio::test]
    async fn spawned_process_logs_and_is_killed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let process = ProcessSpec::new("sh", "/bin/sh", &log)
            .args(["-c", "echo started; echo \"$X\"; exec sleep 60"])
            .env("X", "from-env")
            .spawn()
            .unwrap();
        let pid = process.pid();
        for _ in 0..100 {
            if process.log().contains("from-env") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(process.log(), "started\nfrom-env\n");
        assert!(process.is_running());
        drop(process);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    /// Run by `children_die_when_the_test_process_exits` in a child test
    /// process: starts `sleep`, reports its pid, and exits without dropping it.
    #[test]
    #[ignore = "helper for children_die_when_the_test_process_exits"]
    fn pdeathsig_helper() {
        if std::env::var_os("CARAVEL_PDEATHSIG_HELPER").is_none() {
            return;
        }
        let dir = std::env::temp_dir();
        let process = ProcessSpec::new(
            "sleep",
            "/bin/sleep",
            dir.join("caravel-pdeathsig-helper.log"),
        )
        .arg("60")
        .spawn()
        .unwrap();
        println!("CHILD_PID={}", process.pid());
        // Leaked like the shared environment's processes: no Drop runs.
        std::mem::forget(process);
    }

    #[test]
    fn children_die_when_the_test_process_exits() {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "process::tests::pdeathsig_helper",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("CARAVEL_PDEATHSIG_HELPER", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let pid: u32 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("CHILD_PID="))
            .unwrap_or_else(|| panic!("helper printed no pid: {stdout}"))
            .trim()
            .parse()
            .unwrap();
        let gone = (0..100).any(|_| {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| !stat.contains(") Z"))
                .unwrap_or(false);
            if alive {
                std::thread::sleep(Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "sleep (pid {pid}) outlived its test process");
    }

    #[tokio::test]
    async fn terminate_stops_a_process_that_handles_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let process = ProcessSpec::new("sleep", "/bin/sleep", dir.path().join("sleep.log"))
            .arg("60")
            .spawn()
            .unwrap();
        process.terminate(Duration::from_secs(5)).await.unwrap();
        assert!(!process.is_running());
        assert!(!process.signal(libc::SIGTERM).unwrap());
    }
}
