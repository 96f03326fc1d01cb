//! Bare mirrors of tracked repositories: clone once, fetch incrementally, list commits.
//!
//! A mirror lives in `<root>/<hash of the URL key>.git`, so no URL can choose (or escape)
//! its directory and two URLs ending in the same segment never share one. Clones go to a
//! unique temporary directory under the root and are renamed into place only when complete,
//! so a failed or killed clone leaves nothing behind and a failed fetch leaves the previous
//! mirror as it was (`--atomic` ref updates). Different mirrors share no state; one mirror
//! should see one fetch at a time (the server single-flights per repository).
//!
//! Mirrors hold commits and tags only (`--filter=tree:0` when the server supports it) and a
//! commit-graph, refreshed after every fetch that moved a ref. A URL with credentials ends
//! up in the mirror's git config, as with any `git clone`; prefer ssh keys or a forge token.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;

use crate::command::{self, check_status, git, GitOptions, GroupGuard, Limits};
use crate::commit::{is_full_sha, Commit, Ref};
use crate::error::GitError;
use crate::listing::{lines, stream_commits, validated_shas, LogQuery};
use crate::policy::CheckedUrl;

/// File in each mirror holding the key of the URL it mirrors.
const MARKER: &str = "evident-url";
/// Only branches and tags are mirrored (not `refs/pull/*` and other forge internals).
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A bare mirror of one repository on local disk.
#[derive(Debug, Clone)]
pub struct Mirror {
    dir: PathBuf,
    url: CheckedUrl,
    opts: GitOptions,
    cloned: bool,
    /// Holds exactly what the clone brought: every object is reachable from the refs.
    /// Cleared by the first fetch (which may leave force-pushed commits behind), and shared
    /// by clones of this handle, which all mean the same directory.
    pristine: Arc<AtomicBool>,
}

/// How a ref moved between two states of a mirror.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum RefChange {
    /// A new branch or tag.
    Created {
        /// Full ref name.
        name: String,
        /// Where it points.
        sha: String,
    },
    /// A branch or tag that now points elsewhere (fast-forward or force-push).
    Moved {
        /// Full ref name.
        name: String,
        /// Where it pointed.
        from: String,
        /// Where it points now.
        to: String,
    },
    /// A branch or tag that is gone.
    Deleted {
        /// Full ref name.
        name: String,
        /// Where it pointed.
        sha: String,
    },
}

/// The refs of a mirror before and after a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Refs before the fetch.
    pub before: Vec<Ref>,
    /// Refs after the fetch.
    pub after: Vec<Ref>,
}

impl FetchOutcome {
    /// The ref changes the fetch brought, sorted by ref name.
    pub fn changes(&self) -> Vec<RefChange> {
        diff_refs(&self.before, &self.after)
    }
}

/// The result of [`Mirror::refresh`]: what changed since the caller's last known state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// Every branch and tag after the fetch: the index should make its ref set equal to this.
    pub refs: Vec<Ref>,
    /// Ref changes made by this fetch.
    pub changes: Vec<RefChange>,
    /// Commits reachable now that are not reachable from the caller's known tips.
    pub new_commits: Vec<Commit>,
    /// Commits reachable from the known tips that no branch or tag reaches any more
    /// (force-pushes, deleted branches). Needs the old objects, which fetch keeps until a gc.
    pub removed: Vec<String>,
}

impl Mirror {
    /// Where the mirror of `url` lives under `root`.
    pub fn path_for(root: &Path, url: &CheckedUrl) -> PathBuf {
        root.join(format!("{}.git", url.dir_name()))
    }

    /// Open the mirror of `url` under `root`, cloning it first if there is none.
    ///
    /// A fresh clone is complete: calling [`Mirror::fetch`] right after it is unnecessary
    /// ([`Mirror::was_cloned`] tells).
    pub async fn open_or_clone(
        root: &Path,
        url: &CheckedUrl,
        opts: &GitOptions,
    ) -> Result<Mirror, GitError> {
        if let Some(m) = Mirror::open(root, url, opts).await? {
            return Ok(m);
        }
        Mirror::clone_into(root, url, opts).await
    }

    /// Open an existing mirror of `url` under `root`, `None` if there is none.
    pub async fn open(
        root: &Path,
        url: &CheckedUrl,
        opts: &GitOptions,
    ) -> Result<Option<Mirror>, GitError> {
        let dir = Mirror::path_for(root, url);
        match tokio::fs::read_to_string(dir.join(MARKER)).await {
            Ok(found) if found.trim_end() == url.key() => Ok(Some(Mirror {
                dir,
                url: url.clone(),
                opts: opts.clone(),
                cloned: false,
                pristine: Arc::new(AtomicBool::new(false)),
            })),
            Ok(found) => Err(GitError::MirrorMismatch {
                dir,
                expected: url.key(),
                found: Some(found.trim_end().to_string()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
                    Err(GitError::MirrorMismatch {
                        dir,
                        expected: url.key(),
                        found: None,
                    })
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(GitError::io(format!("reading {}", dir.display()), e)),
        }
    }

    /// Remove the mirror of `url` under `root` (nothing else), if there is one.
    pub async fn remove(root: &Path, url: &CheckedUrl) -> Result<(), GitError> {
        let dir = Mirror::path_for(root, url);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(GitError::io(format!("removing {}", dir.display()), e)),
        }
    }

    async fn clone_into(
        root: &Path,
        url: &CheckedUrl,
        opts: &GitOptions,
    ) -> Result<Mirror, GitError> {
        tokio::fs::create_dir_all(root)
            .await
            .map_err(|e| GitError::io(format!("creating {}", root.display()), e))?;
        let dir = Mirror::path_for(root, url);
        remove_stale_clones(root, &url.dir_name()).await;
        let temp = root.join(format!(
            ".clone-{}-{}-{}",
            url.dir_name(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = clone_to(&temp, url, opts).await;
        let result = match result {
            Ok(()) => tokio::fs::rename(&temp, &dir)
                .await
                .map_err(|e| GitError::io(format!("moving clone into {}", dir.display()), e)),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Ok(Mirror {
                dir,
                url: url.clone(),
                opts: opts.clone(),
                cloned: true,
                pristine: Arc::new(AtomicBool::new(true)),
            }),
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&temp).await;
                // Lost a race with a concurrent clone of the same URL: use the winner's.
                match Mirror::open(root, url, opts).await {
                    Ok(Some(m)) => Ok(m),
                    _ => Err(e),
                }
            }
        }
    }

    /// The mirror's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL this mirror follows.
    pub fn url(&self) -> &CheckedUrl {
        &self.url
    }

    /// True when [`Mirror::open_or_clone`] had to clone.
    pub fn was_cloned(&self) -> bool {
        self.cloned
    }

    fn pristine(&self) -> bool {
        self.pristine.load(Ordering::Relaxed)
    }

    /// Fetch what changed upstream: new commits, moved and force-pushed branches, deleted
    /// branches and tags (pruned). Ref updates are atomic: on failure nothing changes.
    pub async fn fetch(&self) -> Result<FetchOutcome, GitError> {
        let before = self.refs().await?;
        self.pristine.store(false, Ordering::Relaxed);
        let mut cmd = git(&self.opts, Some(&self.dir), Some(self.url.transport()));
        cmd.args([
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            "--atomic",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-auto-gc",
        ]);
        if self.opts.commits_only {
            cmd.arg("--filter=tree:0");
        }
        if self.opts.progress.is_some() {
            cmd.arg("--progress");
        }
        cmd.arg("--").arg(self.url.as_str()).args(REFSPECS);
        command::run(
            "fetch",
            cmd,
            Limits {
                timeout: Some(self.opts.timeout),
                watch: Some((&self.dir, self.opts.max_size_bytes)),
                url: Some(&self.url),
                progress: self.opts.progress.as_ref(),
                ..Limits::default()
            },
        )
        .await?;
        let after = self.refs().await?;
        if before != after {
            write_commit_graph(&self.dir, &self.opts).await;
        }
        Ok(FetchOutcome { before, after })
    }

    /// Fetch, then report new commits (not reachable from `known_tips`), commits no longer
    /// reachable from any ref, and the new ref set.
    pub async fn refresh(&self, known_tips: &[String]) -> Result<Refresh, GitError> {
        let outcome = self.fetch().await?;
        let changes = outcome.changes();
        let query = LogQuery {
            exclude: known_tips.to_vec(),
            ..LogQuery::default()
        };
        let new_commits = self.list_commits_with_refs(&query, &outcome.after).await?;
        let removed = self.unreachable_commits(known_tips).await?;
        Ok(Refresh {
            refs: outcome.after,
            changes,
            new_commits,
            removed,
        })
    }

    /// Every branch and tag, sorted by name; annotated tags peeled to what they tag.
    pub async fn refs(&self) -> Result<Vec<Ref>, GitError> {
        let mut cmd = git(&self.opts, Some(&self.dir), None);
        cmd.args(["show-ref", "--dereference"]);
        let mut child = cmd.spawn().map_err(GitError::Spawn)?;
        let mut guard = GroupGuard::new(&child);
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let (out, err, status) = tokio::join!(
            async {
                let mut v = Vec::new();
                if let Some(mut s) = stdout {
                    let _ = s.read_to_end(&mut v).await;
                }
                v
            },
            command::read_tail(stderr, 8192),
            child.wait()
        );
        let status = status.map_err(|e| GitError::io("waiting for git show-ref", e))?;
        guard.disarm();
        // show-ref exits 1 with no output when there are no refs at all.
        if !(status.code() == Some(1) && out.is_empty()) {
            check_status("show-ref", status, &err, None)?;
        }
        parse_show_ref(&out)
    }

    /// List commits matching `query`, newest first, each exactly once, with their refs.
    pub async fn list_commits(&self, query: &LogQuery) -> Result<Vec<Commit>, GitError> {
        let refs = self.refs().await?;
        self.list_commits_with_refs(query, &refs).await
    }

    async fn list_commits_with_refs(
        &self,
        query: &LogQuery,
        refs: &[Ref],
    ) -> Result<Vec<Commit>, GitError> {
        let mut out = Vec::new();
        stream_commits(&self.opts, &self.dir, query, refs, self.pristine(), |c| {
            out.push(c);
            ControlFlow::Continue(())
        })
        .await?;
        Ok(out)
    }

    /// Like [`Mirror::list_commits`] but hands each commit to `visit` as git produces it;
    /// `ControlFlow::Break` stops git. Returns how many commits were visited.
    pub async fn for_each_commit(
        &self,
        query: &LogQuery,
        visit: impl FnMut(Commit) -> ControlFlow<()>,
    ) -> Result<usize, GitError> {
        let refs = self.refs().await?;
        stream_commits(&self.opts, &self.dir, query, &refs, self.pristine(), visit).await
    }

    /// Commits reachable from `old_tips` that no branch or tag reaches now.
    pub async fn unreachable_commits(&self, old_tips: &[String]) -> Result<Vec<String>, GitError> {
        let tips = validated_shas(old_tips)?;
        if tips.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = git(&self.opts, Some(&self.dir), None);
        cmd.args([
            "rev-list",
            "--ignore-missing",
            "--stdin",
            "--not",
            "--branches",
            "--tags",
        ]);
        let out = command::run(
            "rev-list",
            cmd,
            Limits {
                stdin: Some(lines(&tips, "")),
                ..Limits::default()
            },
        )
        .await?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .filter(|l| is_full_sha(l))
            .map(str::to_string)
            .collect())
    }

    /// Write (or extend) the mirror's commit-graph, which ordered listings and refreshes walk
    /// with. A clone does not write one, so that indexing a new mirror (which needs no walk)
    /// is not delayed by it: call this afterwards, e.g. in the background. Failures are
    /// logged, as they only cost speed.
    pub async fn write_commit_graph(&self) {
        write_commit_graph(&self.dir, &self.opts).await;
    }

    /// Let git tidy the mirror (`git gc --auto`: pack loose objects, merge packs) under the
    /// time limit. Fetches never do this themselves, so call it now and then.
    pub async fn maintain(&self) -> Result<(), GitError> {
        let mut cmd = git(&self.opts, Some(&self.dir), None);
        cmd.args(["gc", "--auto", "--quiet"]);
        command::run(
            "gc",
            cmd,
            Limits {
                timeout: Some(self.opts.timeout),
                ..Limits::default()
            },
        )
        .await
        .map(|_| ())
    }
}

async fn clone_to(temp: &Path, url: &CheckedUrl, opts: &GitOptions) -> Result<(), GitError> {
    let mut cmd = git(opts, None, Some(url.transport()));
    cmd.args(["clone", "--bare", "--quiet", "--template="]);
    if opts.commits_only {
        cmd.arg("--filter=tree:0");
    }
    if opts.progress.is_some() {
        cmd.arg("--progress");
    }
    cmd.arg("--").arg(url.as_str()).arg(temp);
    command::run(
        "clone",
        cmd,
        Limits {
            timeout: Some(opts.timeout),
            watch: Some((temp, opts.max_size_bytes)),
            url: Some(url),
            progress: opts.progress.as_ref(),
            ..Limits::default()
        },
    )
    .await?;
    let size = command::dir_size(temp);
    if size > opts.max_size_bytes {
        return Err(GitError::TooLarge {
            op: "clone",
            limit: opts.max_size_bytes,
        });
    }
    tokio::fs::write(temp.join(MARKER), format!("{}\n", url.key()))
        .await
        .map_err(|e| GitError::io(format!("writing {}", temp.display()), e))
}

/// Remove temporary clones of this URL left by an earlier process that died mid-clone
/// (this process's own are in use or already gone). Only `.clone-<hash>-*` names, which
/// only this module creates, are touched.
async fn remove_stale_clones(root: &Path, name: &str) {
    let prefix = format!(".clone-{name}-");
    let ours = format!("{prefix}{}-", std::process::id());
    let Ok(mut entries) = tokio::fs::read_dir(root).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        if n.starts_with(&prefix) && !n.starts_with(&ours) {
            let _ = tokio::fs::remove_dir_all(entry.path()).await;
        }
    }
}

/// Add the new commits to the mirror's commit-graph (a chain of small layers that git
/// merges as it grows). The graph makes walks ~8x cheaper, which fast listings rely on; a
/// failure only costs speed, so it is logged, not returned.
pub(crate) async fn write_commit_graph(dir: &Path, opts: &GitOptions) {
    let mut cmd = git(opts, Some(dir), None);
    cmd.args([
        "commit-graph",
        "write",
        "--reachable",
        "--split",
        "--no-progress",
    ]);
    let limits = Limits {
        timeout: Some(opts.timeout),
        ..Limits::default()
    };
    if let Err(e) = command::run("commit-graph", cmd, limits).await {
        tracing::warn!(dir = %dir.display(), error = %e, "could not write the commit-graph");
    }
}

/// Parse `git show-ref --dereference`: `<sha> <name>` lines, with `<sha> <name>^{}` giving
/// the fully peeled object of an annotated tag.
fn parse_show_ref(out: &[u8]) -> Result<Vec<Ref>, GitError> {
    let text = String::from_utf8_lossy(out);
    let mut refs: Vec<Ref> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let Some((sha, name)) = line.split_once(' ') else {
            continue;
        };
        if !is_full_sha(sha) {
            return Err(crate::error::ParseError(format!("bad show-ref line {line:?}")).into());
        }
        if let Some(base) = name.strip_suffix("^{}") {
            if let Some(&i) = index.get(base) {
                let r = &mut refs[i];
                r.tag_object = Some(std::mem::replace(&mut r.sha, sha.to_string()));
            }
            continue;
        }
        if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) {
            continue;
        }
        index.insert(name.to_string(), refs.len());
        refs.push(Ref {
            name: name.to_string(),
            sha: sha.to_string(),
            tag_object: None,
        });
    }
    refs.sort();
    Ok(refs)
}

fn diff_refs(before: &[Ref], after: &[Ref]) -> Vec<RefChange> {
    let old: HashMap<&str, &str> = before
        .iter()
        .map(|r| (r.name.as_str(), r.sha.as_str()))
        .collect();
    let new: HashMap<&str, &str> = after
        .iter()
        .map(|r| (r.name.as_str(), r.sha.as_str()))
        .collect();
    let mut changes = Vec::new();
    for r in after {
        match old.get(r.name.as_str()) {
            None => changes.push(RefChange::Created {
                name: r.name.clone(),
                sha: r.sha.clone(),
            }),
            Some(&from) if from != r.sha => changes.push(RefChange::Moved {
                name: r.name.clone(),
                from: from.to_string(),
                to: r.sha.clone(),
            }),
            _ => {}
        }
    }
    for r in before {
        if !new.contains_key(r.name.as_str()) {
            changes.push(RefChange::Deleted {
                name: r.name.clone(),
                sha: r.sha.clone(),
            });
        }
    }
    changes.sort_by(|a, b| change_name(a).cmp(change_name(b)));
    changes
}

fn change_name(c: &RefChange) -> &str {
    match c {
        RefChange::Created { name, .. }
        | RefChange::Moved { name, .. }
        | RefChange::Deleted { name, .. } => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_ref_peels_annotated_tags() {
        let a = "a".repeat(40);
        let t = "b".repeat(40);
        let out = format!(
            "{a} refs/heads/main\n{t} refs/tags/v1\n{a} refs/tags/v1^{{}}\n{a} refs/pull/1/head\n"
        );
        let refs = parse_show_ref(out.as_bytes()).unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].name, "refs/tags/v1");
        assert_eq!(refs[1].sha, a);
        assert_eq!(refs[1].tag_object.as_deref(), Some(t.as_str()));
    }

    #[test]
    fn ref_diff_reports_created_moved_deleted() {
        let r = |n: &str, s: char| Ref {
            name: n.into(),
            sha: s.to_string().repeat(40),
            tag_object: None,
        };
        let before = vec![
            r("refs/heads/a", '1'),
            r("refs/heads/b", '2'),
            r("refs/heads/c", '3'),
        ];
        let after = vec![
            r("refs/heads/a", '1'),
            r("refs/heads/b", '4'),
            r("refs/heads/d", '5'),
        ];
        let changes = diff_refs(&before, &after);
        assert_eq!(changes.len(), 3);
        assert!(matches!(&changes[0], RefChange::Moved { name, .. } if name == "refs/heads/b"));
        assert!(matches!(&changes[1], RefChange::Deleted { name, .. } if name == "refs/heads/c"));
        assert!(matches!(&changes[2], RefChange::Created { name, .. } if name == "refs/heads/d"));
    }
}
