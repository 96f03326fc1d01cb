//! Listing commits out of a mirror as fast as git can read them.
//!
//! Reading and formatting commit objects is what a listing costs (for 85,000 commits git
//! spends ~0.05 s walking with a commit-graph and ~0.5 s loading and formatting). So a large
//! listing first asks `git rev-list` for the ordered list of commits (cheap thanks to the
//! commit-graph every mirror keeps), then splits that list across several
//! `git log --no-walk=unsorted --stdin` processes, one per core, each formatting its part
//! with the same NUL-separated format, and streams their output back in order. Small
//! listings, `--limit` listings and mirrors without a commit-graph use a single `git log`.
//! Output is read and parsed on blocking threads (see [`run_log`] for why).

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::Stdio;

use tokio::task::JoinHandle;

use crate::command::{self, check_status, git, git_std, GitOptions, GroupGuard, Limits};
use crate::commit::{is_full_sha, Commit, Ref};
use crate::error::GitError;
use crate::parse::{LogParser, LOG_FORMAT};

/// Which commits to list. The default lists every commit reachable from any branch or tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only commits reachable from this branch or tag (`main`, `v1.0` or a full ref name).
    pub branch: Option<String>,
    /// Only commits whose committer time is at or after this Unix time.
    pub since: Option<i64>,
    /// At most this many commits (newest first).
    pub limit: Option<usize>,
    /// Leave out commits reachable from these commits (e.g. previously indexed ref tips).
    /// Shas the mirror does not have are ignored.
    pub exclude: Vec<String>,
    /// Commits may come in any order (e.g. to store them), which lets a large listing stream
    /// from all its git processes at once instead of holding back all but the first part.
    pub any_order: bool,
}

/// Hands commits to the caller: applies `since` and `limit`, attaches ref names.
struct Sink<'a, F> {
    query: &'a LogQuery,
    refs_by_sha: HashMap<&'a str, Vec<String>>,
    visit: F,
    count: usize,
    stopped: bool,
}

impl<F: FnMut(Commit) -> ControlFlow<()>> Sink<'_, F> {
    /// Returns true once the caller wants no more commits.
    fn push(&mut self, mut c: Commit) -> bool {
        if self.stopped {
            return true;
        }
        if self
            .query
            .since
            .is_some_and(|since| c.committer_time < since)
        {
            return false;
        }
        if let Some(names) = self.refs_by_sha.get(c.sha.as_str()) {
            c.refs = names.clone();
            c.refs.sort();
        }
        self.count += 1;
        if (self.visit)(c).is_break() || self.query.limit.is_some_and(|l| self.count >= l) {
            self.stopped = true;
        }
        self.stopped
    }
}

/// List the commits `query` selects from the mirror in `dir`, whose refs are `refs`.
pub(crate) async fn stream_commits(
    opts: &GitOptions,
    dir: &Path,
    query: &LogQuery,
    refs: &[Ref],
    visit: impl FnMut(Commit) -> ControlFlow<()>,
) -> Result<usize, GitError> {
    if query.limit == Some(0) || refs.is_empty() {
        return Ok(0);
    }
    let mut refs_by_sha: HashMap<&str, Vec<String>> = HashMap::new();
    for r in refs {
        refs_by_sha
            .entry(r.sha.as_str())
            .or_default()
            .push(r.name.clone());
    }
    let start = match &query.branch {
        Some(name) => Some(resolve_ref(refs, name)?.sha.clone()),
        None => None,
    };
    let exclude = validated_shas(&query.exclude)?;
    let mut sink = Sink {
        query,
        refs_by_sha,
        visit,
        count: 0,
        stopped: false,
    };
    let workers = workers(opts);
    if query.limit.is_none() && workers > 1 && has_commit_graph(dir) {
        // With a commit-graph this walk costs ~1/10 of formatting; below the threshold a
        // single `git log` (which walks again) is cheaper than `--no-walk` processes.
        let shas = rev_list(opts, dir, start.as_deref(), &exclude).await?;
        if shas.len() >= opts.list_split_min.max(2) {
            split_log(opts, dir, shas, workers, &mut sink).await?;
            return Ok(sink.count);
        }
    }
    let mut cmd = log_command(opts, dir);
    if start.is_none() {
        cmd.args(["--branches", "--tags"]);
    }
    if let (Some(limit), None) = (query.limit, query.since) {
        cmd.arg(format!("--max-count={limit}"));
    }
    let mut input = lines(start.as_slice(), "");
    input.extend(lines(&exclude, "^"));
    run_log(cmd, input, |c| sink.push(c)).await?;
    Ok(sink.count)
}

fn workers(opts: &GitOptions) -> usize {
    match opts.list_workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4),
        n => n,
    }
}

fn has_commit_graph(dir: &Path) -> bool {
    let info = dir.join("objects").join("info");
    info.join("commit-graph").is_file()
        || info
            .join("commit-graphs")
            .join("commit-graph-chain")
            .is_file()
}

/// `git log` reading revisions from stdin, printing [`LOG_FORMAT`] records.
fn log_command(opts: &GitOptions, dir: &Path) -> std::process::Command {
    let mut cmd = git_std(opts, Some(dir), None);
    cmd.args(["log", "-z", "--date=raw", "--ignore-missing", "--stdin"])
        .arg(format!("--format={LOG_FORMAT}"));
    cmd
}

/// The ordered shas `git log` would list, without loading the commits.
async fn rev_list(
    opts: &GitOptions,
    dir: &Path,
    start: Option<&str>,
    exclude: &[String],
) -> Result<Vec<String>, GitError> {
    let mut cmd = git(opts, Some(dir), None);
    cmd.args(["rev-list", "--ignore-missing", "--stdin"]);
    if start.is_none() {
        cmd.args(["--branches", "--tags"]);
    }
    let mut input = lines(
        &start.map(str::to_string).into_iter().collect::<Vec<_>>(),
        "",
    );
    input.extend(lines(exclude, "^"));
    let out = command::run(
        "rev-list",
        cmd,
        Limits {
            stdin: Some(input),
            ..Limits::default()
        },
    )
    .await?;
    let text = String::from_utf8(out.stdout)
        .map_err(|_| crate::parse::ParseError("rev-list printed non-UTF-8".into()))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Format `shas` (in this order) with `chunks` concurrent `git log --no-walk` processes.
async fn split_log<F: FnMut(Commit) -> ControlFlow<()>>(
    opts: &GitOptions,
    dir: &Path,
    shas: Vec<String>,
    chunks: usize,
    sink: &mut Sink<'_, F>,
) -> Result<(), GitError> {
    if shas.is_empty() {
        return Ok(());
    }
    let size = shas.len().div_ceil(chunks.max(1));
    if sink.query.any_order {
        let parts = shas.chunks(size).map(|part| lines(part, "")).collect();
        return merge_logs(opts, dir, parts, sink).await;
    }
    let mut parts = shas.chunks(size).map(|part| lines(part, ""));
    let first = parts.next().unwrap_or_default();
    // Later parts are formatted in background tasks (killed with their git if we return
    // early) while the first streams straight to the caller.
    let rest = AbortOnDrop(
        parts
            .map(|input| {
                let mut cmd = log_command(opts, dir);
                cmd.arg("--no-walk=unsorted");
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    run_log(cmd, input, |c| {
                        out.push(c);
                        false
                    })
                    .await?;
                    Ok::<_, GitError>(out)
                })
            })
            .collect(),
    );
    let mut cmd = log_command(opts, dir);
    cmd.arg("--no-walk=unsorted");
    if run_log(cmd, first, |c| sink.push(c)).await? {
        return Ok(());
    }
    let mut rest = rest;
    for handle in rest.0.iter_mut() {
        let part = handle
            .await
            .map_err(|e| GitError::io("listing task", std::io::Error::other(e)))??;
        for c in part {
            if sink.push(c) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Format each of `parts` with its own `git log --no-walk` process, handing commits to
/// `sink` as any of them produces them, so nothing waits in memory.
async fn merge_logs<F: FnMut(Commit) -> ControlFlow<()>>(
    opts: &GitOptions,
    dir: &Path,
    parts: Vec<Vec<u8>>,
    sink: &mut Sink<'_, F>,
) -> Result<(), GitError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    for input in parts {
        let mut cmd = log_command(opts, dir);
        cmd.arg("--no-walk=unsorted");
        let tx = tx.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = read_log(cmd, input, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
    }
    drop(tx);
    // Returning drops the receiver, which tells every reader thread to kill its git.
    while let Some(message) = rx.recv().await {
        for c in message? {
            if sink.push(c) {
                return Ok(());
            }
        }
    }
    Ok(())
}

struct AbortOnDrop<T>(Vec<JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Commits per message from a reader thread to the caller.
const BATCH: usize = 2048;
/// A read shorter than this means the reader is ahead of git: pause before the next one.
const SHORT_READ: usize = 16 * 1024;
const READ_PAUSE: std::time::Duration = std::time::Duration::from_micros(300);

/// Run a `git log` command, feeding `input` on stdin and each parsed commit to `on_commit`
/// until it returns true. Returns whether it stopped early (git is then killed).
///
/// git writes its output 4 KB at a time. Reading that through the async runtime costs a
/// cross-thread wake-up per write (measured: 0.3 CPU-seconds for 85,000 commits, half of
/// what git itself spends), so a blocking thread reads and parses, and hands commits over
/// in batches. When the caller stops listening (early stop, error, or the future being
/// dropped), the thread kills git.
async fn run_log(
    cmd: std::process::Command,
    input: Vec<u8>,
    mut on_commit: impl FnMut(Commit) -> bool,
) -> Result<bool, GitError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = read_log(cmd, input, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    while let Some(message) = rx.recv().await {
        for c in message? {
            if on_commit(c) {
                // Dropping the receiver tells the reader thread to kill git.
                return Ok(true);
            }
        }
    }
    Ok(false)
}

type Batches = tokio::sync::mpsc::Sender<Result<Vec<Commit>, GitError>>;

/// The reader thread of [`run_log`]: spawn git, parse its output, send batches.
fn read_log(mut cmd: std::process::Command, input: Vec<u8>, tx: &Batches) -> Result<(), GitError> {
    use std::io::Write;

    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    let mut guard = GroupGuard::for_pid(Some(child.id()));
    let stdin = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let Some(mut pipe) = stdin {
            // git may exit before reading everything (e.g. on error): not our failure.
            let _ = pipe.write_all(&input);
        }
    });
    let stderr = child.stderr.take();
    let drain = std::thread::spawn(move || {
        stderr
            .map(|e| command::read_tail_blocking(e, 8192))
            .unwrap_or_default()
    });
    let mut batch = Vec::with_capacity(BATCH);
    let outcome = match child.stdout.take() {
        Some(stdout) => parse_into_batches(stdout, &mut batch, tx),
        None => Err(GitError::io(
            "git log",
            std::io::Error::other("no stdout pipe"),
        )),
    };
    if !matches!(outcome, Ok(true)) {
        guard.kill();
    }
    // Always reap git: a std child is not reaped on drop.
    let status = child.wait();
    guard.disarm();
    let _ = feeder.join();
    let err = drain.join().unwrap_or_default();
    if !outcome? {
        return Ok(());
    }
    let status = status.map_err(|e| GitError::io("waiting for git log", e))?;
    check_status("log", status, &err, None)?;
    if !batch.is_empty() {
        let _ = tx.blocking_send(Ok(batch));
    }
    Ok(())
}

/// Parse `stdout` to the end, sending full batches; the last, partial batch is left in
/// `batch`. Returns false when the receiver is gone.
fn parse_into_batches(
    mut stdout: impl std::io::Read,
    batch: &mut Vec<Commit>,
    tx: &Batches,
) -> Result<bool, GitError> {
    let mut parser = LogParser::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(GitError::io("reading git log output", e)),
        };
        parser.feed(&buf[..n], &mut |c| batch.push(c))?;
        if n < SHORT_READ {
            // git writes 4 KB at a time; waking up for each write costs more than parsing
            // it. Let the pipe (64 KB) fill a little: git writes ~40 KB/ms at most, so
            // it never blocks on a full pipe during this pause.
            std::thread::sleep(READ_PAUSE);
        }
        if batch.len() >= BATCH {
            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
            if tx.blocking_send(Ok(full)).is_err() {
                return Ok(false);
            }
        }
    }
    parser.finish(&mut |c| batch.push(c))?;
    Ok(true)
}

fn resolve_ref<'a>(refs: &'a [Ref], name: &str) -> Result<&'a Ref, GitError> {
    let candidates = [
        name.to_string(),
        format!("refs/heads/{name}"),
        format!("refs/tags/{name}"),
    ];
    candidates
        .iter()
        .find_map(|c| refs.iter().find(|r| &r.name == c))
        .ok_or_else(|| GitError::UnknownRef(name.to_string()))
}

/// Lower-cased, de-duplicated full shas; anything else is refused (it would reach git).
pub(crate) fn validated_shas(shas: &[String]) -> Result<Vec<String>, GitError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(shas.len());
    for s in shas {
        let s = s.trim().to_ascii_lowercase();
        if !is_full_sha(&s) {
            return Err(GitError::InvalidSha(s));
        }
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    Ok(out)
}

/// One `<prefix><sha>` line per sha, for `--stdin`.
pub(crate) fn lines(shas: &[String], prefix: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(shas.len() * 42);
    for s in shas {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_must_be_full_shas() {
        assert!(matches!(
            validated_shas(&["--all".into()]),
            Err(GitError::InvalidSha(_))
        ));
        assert_eq!(
            validated_shas(&["A".repeat(40), "a".repeat(40)])
                .unwrap()
                .len(),
            1
        );
    }
}
