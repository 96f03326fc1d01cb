//! Listing commits out of a mirror: which commits a query selects, and handing them to the
//! caller with their ref names (the reading itself is in [`crate::objects`]).

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;

use gix_hash::ObjectId;

use crate::command::{self, git, GitOptions, Limits};
use crate::commit::{is_full_sha, Commit, Ref};
use crate::error::{GitError, ParseError};
use crate::mirror::write_commit_graph;
use crate::objects::Objects;

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
    /// Commits may come in any order (e.g. to store them). A whole listing of a fresh clone
    /// then reads the object database as it is, without walking the history first.
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
/// `pristine` says the mirror holds only what its clone brought, so every object in it is
/// reachable from its refs.
///
/// `git rev-list` orders the commits (or, for an any-order listing of a fresh clone, the
/// object database is simply read whole); blocking threads decode them ([`Objects`]) and
/// hand them over in chunks; when the caller stops (early stop, error, or the future being
/// dropped) they stop after the chunk at hand.
pub(crate) async fn stream_commits(
    opts: &GitOptions,
    dir: &Path,
    query: &LogQuery,
    refs: &[Ref],
    pristine: bool,
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
    let everything = LogQuery {
        any_order: true,
        ..LogQuery::default()
    };
    let ordered = if pristine && *query == everything {
        // No walk needed: the clone brought exactly the commits its refs reach.
        None
    } else {
        let start = match &query.branch {
            Some(name) => Some(resolve_ref(refs, name)?.sha.clone()),
            None => None,
        };
        let exclude = validated_shas(&query.exclude)?;
        // With `since` the limit counts only commits that pass it: git cannot stop early.
        let limit = query.limit.filter(|_| query.since.is_none());
        if exclude.is_empty() && limit.is_none() && !has_commit_graph(dir) {
            // A whole-history walk costs ~6x more without the graph than writing it does.
            write_commit_graph(dir, opts).await;
        }
        Some(rev_list(opts, dir, start.as_deref(), &exclude, limit).await?)
    };
    let kind = Objects::hash_kind(refs[0].sha.len());
    let workers = workers(opts);
    let dir = dir.to_path_buf();
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let decoded = Objects::open(&dir, kind).and_then(|objects| {
            let ids = match ordered {
                Some(shas) => parse_ids(&shas)?,
                None => objects.all_commits()?,
            };
            objects.decode(&ids, workers, |chunk| tx.blocking_send(Ok(chunk)).is_ok())
        });
        if let Err(e) = decoded {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut sink = Sink {
        query,
        refs_by_sha,
        visit,
        count: 0,
        stopped: false,
    };
    while let Some(chunk) = rx.recv().await {
        for c in chunk? {
            if sink.push(c) {
                // Dropping the receiver tells the decoding thread to stop.
                return Ok(sink.count);
            }
        }
    }
    Ok(sink.count)
}

fn parse_ids(shas: &[String]) -> Result<Vec<ObjectId>, GitError> {
    shas.iter()
        .map(|s| ObjectId::from_hex(s.as_bytes()).map_err(|_| GitError::InvalidSha(s.clone())))
        .collect()
}

fn has_commit_graph(dir: &Path) -> bool {
    let info = dir.join("objects").join("info");
    info.join("commit-graph").is_file()
        || info
            .join("commit-graphs")
            .join("commit-graph-chain")
            .is_file()
}

/// The shas `git log` would list, in its order, without loading the commits.
async fn rev_list(
    opts: &GitOptions,
    dir: &Path,
    start: Option<&str>,
    exclude: &[String],
    limit: Option<usize>,
) -> Result<Vec<String>, GitError> {
    let mut cmd = git(opts, Some(dir), None);
    cmd.args(["rev-list", "--ignore-missing", "--stdin"]);
    if start.is_none() {
        cmd.args(["--branches", "--tags"]);
    }
    if let Some(limit) = limit {
        cmd.arg(format!("--max-count={limit}"));
    }
    let mut input = lines(start.as_slice(), "");
    input.extend(lines(exclude, "^"));
    let limits = Limits {
        stdin: Some(input),
        ..Limits::default()
    };
    let out = command::run("rev-list", cmd, limits).await?;
    let text = String::from_utf8(out.stdout)
        .map_err(|_| ParseError("rev-list printed non-UTF-8".into()))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Threads decoding one listing: [`GitOptions::list_workers`], or one per CPU (at most 4).
fn workers(opts: &GitOptions) -> usize {
    match opts.list_workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4),
        n => n,
    }
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
pub(crate) fn lines<S: AsRef<str>>(shas: &[S], prefix: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(shas.len() * 42);
    for s in shas {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(s.as_ref().as_bytes());
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
