//! Test fixtures: throwaway git repositories built with the git CLI, and oracles that ask
//! git itself what a listing must contain.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};

use evident_git::{CheckedUrl, Commit, GitOptions, UrlPolicy};

/// Monotonic commit dates so that ordering is deterministic.
static CLOCK: AtomicI64 = AtomicI64::new(1_600_000_000);

/// A plain `git` for fixtures, isolated from the developer's configuration.
pub fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C");
    cmd
}

/// Run git in `dir`, panic on failure, return stdout bytes.
pub fn git_bytes<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Vec<u8> {
    let out = git_cmd(dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {:?} failed: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run git in `dir`, return trimmed stdout.
pub fn git<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> String {
    String::from_utf8_lossy(&git_bytes(dir, args))
        .trim()
        .to_string()
}

/// A working repository in a temporary directory, served to mirrors through `file://`.
pub struct Repo {
    pub tmp: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let r = Repo { tmp };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "user.name", "Fixture"]);
        r.git(&["config", "user.email", "fixture@example.com"]);
        r.git(&["config", "uploadpack.allowFilter", "true"]);
        r
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }

    pub fn url_string(&self) -> String {
        format!("file://{}", self.path().display())
    }

    pub fn url(&self) -> CheckedUrl {
        file_policy().check(&self.url_string()).unwrap()
    }

    /// An empty commit with the given author (raw bytes allowed) and message.
    pub fn commit_as(&self, name: &[u8], email: &str, message: &[u8]) -> String {
        let t = CLOCK.fetch_add(60, Ordering::SeqCst);
        let msg_file = self.path().join(".git").join("fixture-msg");
        std::fs::write(&msg_file, message).unwrap();
        let out = git_cmd(self.path())
            .env("GIT_AUTHOR_NAME", OsStr::from_bytes(name))
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_AUTHOR_DATE", format!("{t} -0700"))
            .env("GIT_COMMITTER_DATE", format!("{} +0530", t + 1))
            .args([
                "commit",
                "-q",
                "--allow-empty",
                "--allow-empty-message",
                "--cleanup=verbatim",
                "-F",
            ])
            .arg(&msg_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.git(&["rev-parse", "HEAD"])
    }

    /// A commit written byte for byte with `hash-object`, on top of HEAD: `git commit` would
    /// "fix" a non-UTF-8 name by re-encoding it, old commits in real repositories were not.
    pub fn commit_raw(&self, author_name: &[u8], message: &[u8]) -> String {
        let t = CLOCK.fetch_add(60, Ordering::SeqCst);
        let tree = self.git(&["rev-parse", "HEAD^{tree}"]);
        let parent = self.git(&["rev-parse", "HEAD"]);
        let mut body = format!("tree {tree}\nparent {parent}\nauthor ").into_bytes();
        body.extend_from_slice(author_name);
        body.extend_from_slice(
            format!(" <raw@example.com> {t} +0100\ncommitter Raw <raw@example.com> {t} +0100\n\n")
                .as_bytes(),
        );
        body.extend_from_slice(message);
        let sha = self.commit_object(&body);
        self.git(&["update-ref", "HEAD", &sha]);
        sha
    }

    /// Write `raw` as a commit object as it is, however malformed (`--literally`), and
    /// return its sha. No ref points at it.
    pub fn commit_object(&self, raw: &[u8]) -> String {
        let path = self.path().join(".git").join("fixture-raw");
        std::fs::write(&path, raw).unwrap();
        git(
            self.path(),
            &[
                OsStr::new("hash-object"),
                OsStr::new("-t"),
                OsStr::new("commit"),
                OsStr::new("--literally"),
                OsStr::new("-w"),
                path.as_os_str(),
            ],
        )
    }

    pub fn commit(&self, message: &str) -> String {
        self.commit_as(b"Fixture", "fixture@example.com", message.as_bytes())
    }

    /// `n` commits on the current branch.
    pub fn commits(&self, prefix: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| self.commit(&format!("{prefix} {i}\n")))
            .collect()
    }

    /// Every branch and tag tip as the mirror sees them.
    pub fn tips(&self) -> Vec<String> {
        let out = self.git(&[
            "for-each-ref",
            "--format=%(objectname)",
            "refs/heads",
            "refs/tags",
        ]);
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Policy used by most tests: strict except that `file://` is allowed.
pub fn file_policy() -> UrlPolicy {
    UrlPolicy {
        allow_file: true,
        ..UrlPolicy::default()
    }
}

/// Git options for tests: short timeout.
pub fn options() -> GitOptions {
    GitOptions {
        timeout: std::time::Duration::from_secs(60),
        ..GitOptions::default()
    }
}

/// A directory for mirrors.
pub fn mirrors_root() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mirrors");
    (tmp, root)
}

pub fn rev_list(dir: &Path, args: &[&str]) -> BTreeSet<String> {
    let mut full = vec!["rev-list"];
    full.extend_from_slice(args);
    git(dir, &full).lines().map(str::to_string).collect()
}

pub fn shas(commits: &[Commit]) -> BTreeSet<String> {
    commits.iter().map(|c| c.sha.clone()).collect()
}

/// `sha -> git's own rendering of one format placeholder`, lossily decoded.
pub fn oracle_field(dir: &Path, placeholder: &str) -> BTreeMap<String, String> {
    let out = git_bytes(
        dir,
        &[
            "log",
            "--all",
            "-z",
            "--date=raw",
            &format!("--format=%H%x00{placeholder}"),
        ],
    );
    let mut parts = out.split(|&b| b == 0);
    let mut map = BTreeMap::new();
    while let Some(sha) = parts.next() {
        if sha.is_empty() {
            continue;
        }
        let value = parts.next().unwrap_or_default();
        map.insert(
            String::from_utf8_lossy(sha).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        );
    }
    map
}

/// `sha -> sorted ref names` computed by peeling each ref with `rev-parse`.
pub fn oracle_refs(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let names = git(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads",
            "refs/tags",
        ],
    );
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in names.lines() {
        let out = git_cmd(dir)
            .args(["rev-parse", "--verify", "-q", &format!("{name}^{{commit}}")])
            .output()
            .unwrap();
        if out.status.success() {
            let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
            map.entry(sha).or_default().push(name.to_string());
        }
    }
    for v in map.values_mut() {
        v.sort();
    }
    map
}
