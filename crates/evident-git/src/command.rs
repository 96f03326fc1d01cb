//! Running git safely: a hardened environment, time and size limits, and no leftovers.
//!
//! Nothing from a repository may run on the server. Every invocation therefore gets
//! `core.hooksPath=/dev/null`, `core.fsmonitor=false`, a protocol allow-list with only the
//! URL's own transport (`ext`, `fd` and all others `never`), no credential helper, no askpass,
//! no terminal prompt, no system or global config, no replace refs and no lazy fetches.
//! Repositories are bare (no checkout, so no smudge filters). Each git runs in its own
//! process group so a timeout kills ssh and remote helpers too, and dropping a future
//! that waits on git kills git.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::error::{FailureKind, GitError};
use crate::policy::{CheckedUrl, Transport};

/// Limits and switches for git invocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOptions {
    /// Longest a clone or fetch may run before git is killed.
    pub timeout: Duration,
    /// Largest a mirror may grow (checked while cloning and fetching) before git is killed.
    pub max_size_bytes: u64,
    /// Fetch only commits and tags (`--filter=tree:0`), not trees and blobs: the commit index
    /// needs nothing else, and mirrors become many times smaller. Servers without filter
    /// support send everything.
    pub commits_only: bool,
    /// The git program.
    pub git_program: PathBuf,
    /// How many threads decode one large listing; 0 means one per CPU, at most 4.
    pub list_workers: usize,
    /// Receives git's transfer progress during clones and fetches (e.g. for a progress
    /// bar); `None` lets git stay quiet.
    pub progress: Option<crate::progress::ProgressSink>,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            timeout: Duration::from_secs(300),
            max_size_bytes: 2 << 30,
            commits_only: true,
            git_program: PathBuf::from("git"),
            list_workers: 0,
            progress: None,
        }
    }
}

/// Environment variables passed through to git; every other `GIT_*` variable is removed so
/// the server's environment (or a test running inside a git hook) cannot redirect git.
const KEPT_GIT_VARS: &[&str] = &[
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_SSH_VARIANT",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
];

const STDERR_TAIL: usize = 8 * 1024;

/// Build a hardened `git` command. `network` is the transport a clone or fetch may use;
/// `None` forbids every transport.
pub(crate) fn git(opts: &GitOptions, dir: Option<&Path>, network: Option<Transport>) -> Command {
    let mut cmd = Command::new(&opts.git_program);
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str() {
            if k.starts_with("GIT_") && !KEPT_GIT_VARS.contains(&k) {
                cmd.env_remove(&key);
            }
        }
    }
    let allowed = network.map(Transport::protocol_name).unwrap_or("none");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("SSH_ASKPASS_REQUIRE", "never")
        .env("GIT_ALLOW_PROTOCOL", allowed)
        .env("GIT_PROTOCOL_FROM_USER", "0")
        .env("GIT_NO_LAZY_FETCH", "1")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C")
        .env("LANGUAGE", "");
    if std::env::var_os("GIT_SSH_COMMAND").is_none() && std::env::var_os("GIT_SSH").is_none() {
        cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
    }
    let mut config: Vec<String> = vec![
        "core.hooksPath=/dev/null".into(),
        "core.fsmonitor=false".into(),
        "core.askPass=".into(),
        "credential.helper=".into(),
        "protocol.allow=never".into(),
        "protocol.ext.allow=never".into(),
        "protocol.fd.allow=never".into(),
        "http.followRedirects=false".into(),
        "transfer.credentialsInUrl=allow".into(),
        "gc.autoDetach=false".into(),
        "maintenance.autoDetach=false".into(),
    ];
    match network {
        Some(t) => config.push(format!("protocol.{}.allow=always", t.protocol_name())),
        None => config.push("protocol.file.allow=never".into()),
    }
    cmd.arg("--no-pager").arg("--no-replace-objects");
    for c in config {
        cmd.arg("-c").arg(c);
    }
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// Kills a git process group unless disarmed: on timeout, on error and when the future
/// running git is dropped.
pub(crate) struct GroupGuard {
    pgid: Option<rustix::process::Pid>,
}

impl GroupGuard {
    /// Guard the group led by `child` (git runs as a group leader).
    pub(crate) fn new(child: &Child) -> Self {
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        GroupGuard { pgid }
    }

    /// Kill every process of the group now.
    pub(crate) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }

    /// The leader exited on its own: leave the group alone.
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a finished git run produced.
pub(crate) struct Output {
    pub(crate) stdout: Vec<u8>,
}

/// Limits for [`run`].
#[derive(Default)]
pub(crate) struct Limits<'a> {
    pub(crate) timeout: Option<Duration>,
    /// Kill git when this directory grows past the given number of bytes.
    pub(crate) watch: Option<(&'a Path, u64)>,
    pub(crate) stdin: Option<Vec<u8>>,
    /// Redact this URL's credentials in error messages.
    pub(crate) url: Option<&'a CheckedUrl>,
    /// Where git's progress goes (the command must ask git for it with `--progress`).
    pub(crate) progress: Option<&'a crate::progress::ProgressSink>,
}

/// Run `cmd` to completion under `limits`. A non-zero exit is [`GitError::Failed`].
pub(crate) async fn run(
    op: &'static str,
    mut cmd: Command,
    limits: Limits<'_>,
) -> Result<Output, GitError> {
    if limits.stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    let mut guard = GroupGuard::new(&child);
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let work = async {
        let feed = async {
            if let (Some(mut pipe), Some(data)) = (stdin, limits.stdin.as_deref()) {
                // git may exit before reading everything (e.g. on error): not our failure.
                let _ = pipe.write_all(data).await;
                let _ = pipe.shutdown().await;
            }
        };
        let err = async {
            match limits.progress {
                Some(sink) => crate::progress::read_stderr(stderr, sink, STDERR_TAIL).await,
                None => read_tail(stderr, STDERR_TAIL).await,
            }
        };
        let (_, out, err, status) = tokio::join!(feed, read_all(stdout), err, child.wait());
        (out, err, status)
    };
    let timeout = sleep_or_forever(limits.timeout);
    let too_big = watch_size(limits.watch);

    let (stdout, stderr, status) = tokio::select! {
        done = work => done,
        _ = timeout => {
            guard.kill();
            return Err(GitError::Timeout { op, after: limits.timeout.unwrap_or_default() });
        }
        limit = too_big => {
            guard.kill();
            return Err(GitError::TooLarge { op, limit });
        }
    };
    let status = status.map_err(|e| GitError::io(format!("waiting for git {op}"), e))?;
    guard.disarm();
    check_status(op, status, &stderr, limits.url)?;
    Ok(Output { stdout })
}

/// Turn a non-zero exit into [`GitError::Failed`].
pub(crate) fn check_status(
    op: &'static str,
    status: ExitStatus,
    stderr: &[u8],
    url: Option<&CheckedUrl>,
) -> Result<(), GitError> {
    if status.success() {
        return Ok(());
    }
    let mut message = String::from_utf8_lossy(stderr).trim().to_string();
    if let Some(url) = url {
        message = message.replace(url.as_str(), &url.redacted());
    }
    Err(GitError::Failed {
        op,
        kind: FailureKind::classify(&message),
        code: status.code(),
        stderr: message,
    })
}

async fn sleep_or_forever(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Resolves (with the limit) once `dir` holds more than `limit` bytes; never without a watch.
async fn watch_size(watch: Option<(&Path, u64)>) -> u64 {
    let Some((dir, limit)) = watch else {
        return std::future::pending().await;
    };
    let dir = dir.to_path_buf();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let d = dir.clone();
        let size = tokio::task::spawn_blocking(move || dir_size(&d))
            .await
            .unwrap_or(0);
        if size > limit {
            return limit;
        }
    }
}

/// Total size of the files under `dir`; files vanishing mid-walk are skipped.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

async fn read_all<R: AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_end(&mut out).await;
    }
    out
}

/// Keep only the last `max` bytes: a hostile server can print progress forever.
pub(crate) async fn read_tail<R: AsyncRead + Unpin>(pipe: Option<R>, max: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let Some(mut p) = pipe else {
        return tail;
    };
    let mut buf = vec![0u8; 8192];
    loop {
        match p.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * max {
                    tail.drain(..tail.len() - max);
                }
            }
        }
    }
    if tail.len() > max {
        tail.drain(..tail.len() - max);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ext_transport_is_refused_by_git_itself() {
        // Bypass the URL policy to prove the git layer alone refuses `ext::`.
        let marker =
            std::env::temp_dir().join(format!("evident-ext-marker-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let url = CheckedUrl::unchecked(
            &format!("ext::sh -c touch% {}", marker.display()),
            Transport::Https,
        );
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("clone");
        let mut cmd = git(&GitOptions::default(), None, Some(url.transport()));
        cmd.arg("clone")
            .arg("--bare")
            .arg("--")
            .arg(url.as_str())
            .arg(&target);
        let err = run("clone", cmd, Limits::default())
            .await
            .err()
            .expect("clone must fail");
        assert!(matches!(err, GitError::Failed { .. }), "{err}");
        assert!(!marker.exists(), "ext:: ran a command");
    }

    #[tokio::test]
    async fn upload_pack_option_after_double_dash_is_a_url_not_an_option() {
        let marker = std::env::temp_dir().join(format!("evident-up-marker-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let raw = format!("--upload-pack=touch {}", marker.display());
        let url = CheckedUrl::unchecked(&raw, Transport::File);
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = git(&GitOptions::default(), None, Some(Transport::File));
        cmd.arg("clone")
            .arg("--bare")
            .arg("--")
            .arg(url.as_str())
            .arg(dir.path().join("c"));
        assert!(run("clone", cmd, Limits::default()).await.is_err());
        assert!(!marker.exists(), "--upload-pack was parsed as an option");
    }

    #[tokio::test]
    async fn stderr_tail_is_bounded() {
        let data = vec![b'x'; 100_000];
        let tail = read_tail(Some(&data[..]), 1000).await;
        assert_eq!(tail.len(), 1000);
    }
}
