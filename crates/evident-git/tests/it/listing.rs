//! Full listings: every commit of every branch and tag exactly once, every field as git has it.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use evident_git::{Commit, GitError, GitOptions, LogQuery, Mirror};

use crate::support::{self, git, mirrors_root, oracle_field, oracle_refs, rev_list, shas, Repo};

/// A repository with everything that broke the peer services: separators in names and
/// subjects, quotes, unicode, an empty message, a non-UTF-8 author, a declared Latin-1
/// encoding, merges, many branches, lightweight/annotated/nested tags, a tag on a blob and a
/// commit reachable only from a tag.
fn hostile_repo() -> Repo {
    let r = Repo::new();
    r.commit("initial\n");
    r.commit_as(
        b"Bob | Pipe",
        "bob@example.com",
        b"fix | pipes: colon - dash, \"double\" 'single'\n\nbody | with: separators - here\n",
    );
    r.commit_as(
        b"Carol: Colon",
        "carol@example.com",
        "Ünïcödé ☃ 日本語 subject\n".as_bytes(),
    );
    r.git(&["tag", "v0.1"]);
    r.commit_as(b"Dave, Comma", "dave@example.com", b"");
    r.commit_as(
        b"Eve - Dash",
        "eve@example.com",
        b"first line\nsecond line of subject\n\n  indented body  \n\ntrailer: x\n",
    );
    r.commit_raw(
        b"Jos\xe9 Latin1",
        b"author name and message are not UTF-8: \xff\n",
    );
    r.git(&["checkout", "-q", "-b", "feature", "HEAD~3"]);
    r.commits("feature work", 3);
    r.git(&["checkout", "-q", "main"]);
    r.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'feature' | into: main",
        "feature",
    ]);
    r.git(&["tag", "-a", "v1.0", "-m", "release 1.0"]);
    r.git(&["tag", "-a", "v1.0-signed", "-m", "tag of a tag", "v1.0"]);
    let blob = r.git(&["hash-object", "-w", "--stdin"]);
    r.git(&["tag", "blob-tag", &blob]);
    // Latin-1 message and name with an `encoding` header: git log re-encodes to UTF-8.
    let out = support::git_cmd(r.path())
        .env("GIT_AUTHOR_NAME", std::ffi::OsStr::new("Latin"))
        .args([
            "-c",
            "i18n.commitEncoding=ISO-8859-1",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
        ])
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"caf\xe9 cr\xe8me\n"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..12 {
        r.git(&[
            "branch",
            &format!("topic/{i:02}"),
            &format!("HEAD~{}", i % 4),
        ]);
    }
    r.git(&["checkout", "-q", "-b", "tag-only", "main~2"]);
    r.commit("only reachable from a tag\n");
    r.git(&["tag", "orphan-tag"]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&["branch", "-q", "-D", "tag-only"]);
    r
}

async fn mirror_of(repo: &Repo, opts: &GitOptions) -> (tempfile::TempDir, Mirror) {
    let (tmp, root) = mirrors_root();
    let m = Mirror::open_or_clone(&root, &repo.url(), opts)
        .await
        .unwrap();
    (tmp, m)
}

fn assert_matches_oracle(repo: &Repo, commits: &[Commit]) {
    let dir = repo.path();
    let expected = rev_list(dir, &["--all"]);
    assert_eq!(commits.len(), expected.len(), "each commit exactly once");
    assert_eq!(shas(commits), expected);
    type Field = fn(&Commit) -> String;
    let fields: [(&str, Field); 9] = [
        ("%P", |c| c.parents.join(" ")),
        ("%an", |c| c.author_name.clone()),
        ("%ae", |c| c.author_email.clone()),
        ("%at", |c| c.author_time.to_string()),
        ("%cn", |c| c.committer_name.clone()),
        ("%ce", |c| c.committer_email.clone()),
        ("%ct", |c| c.committer_time.to_string()),
        ("%B", |c| c.message.clone()),
        ("%s", |c| c.subject()),
    ];
    for (placeholder, get) in fields {
        let oracle = oracle_field(dir, placeholder);
        for c in commits {
            assert_eq!(get(c), oracle[&c.sha], "{placeholder} of {}", c.sha);
        }
    }
    let refs = oracle_refs(dir);
    for c in commits {
        let want = refs.get(&c.sha).cloned().unwrap_or_default();
        assert_eq!(c.refs, want, "refs of {}", c.sha);
    }
}

#[tokio::test]
async fn lists_every_commit_of_all_branches_and_tags_once_with_exact_fields() {
    let repo = hostile_repo();
    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    assert!(mirror.was_cloned());
    let commits = mirror.list_commits(&LogQuery::default()).await.unwrap();
    assert_matches_oracle(&repo, &commits);
}

#[tokio::test]
async fn every_decoding_parallelism_gives_the_same_answer() {
    let repo = hostile_repo();
    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    let reference = mirror.list_commits(&LogQuery::default()).await.unwrap();
    // git log's default order: the oracle for the sequence, not just the set.
    let git_order: Vec<String> = git(
        mirror.dir(),
        &["log", "--branches", "--tags", "--format=%H"],
    )
    .lines()
    .map(str::to_string)
    .collect();
    let ours: Vec<String> = reference.iter().map(|c| c.sha.clone()).collect();
    assert_eq!(ours, git_order, "newest first, as git log lists them");
    for workers in [1, 2, 3, 4] {
        let opts = GitOptions {
            list_workers: workers,
            ..support::options()
        };
        let m = Mirror::open_or_clone(mirror.dir().parent().unwrap(), &repo.url(), &opts)
            .await
            .unwrap();
        let commits = m.list_commits(&LogQuery::default()).await.unwrap();
        assert_eq!(commits, reference, "workers {workers}");
        assert_matches_oracle(&repo, &commits);
        let mut first = Vec::new();
        m.for_each_commit(&LogQuery::default(), |c| {
            first.push(c);
            if first.len() == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
        .unwrap();
        assert_eq!(first[..], reference[..5], "stops early, workers {workers}");
    }
    // Without a commit-graph the walk reads the commits themselves: same answer.
    for graph in ["commit-graph", "commit-graphs"] {
        let p = mirror.dir().join("objects/info").join(graph);
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_dir_all(&p);
    }
    assert_eq!(
        mirror.list_commits(&LogQuery::default()).await.unwrap(),
        reference
    );
}

/// Sorted by sha, to compare listings that come in different orders.
fn by_sha(mut commits: Vec<Commit>) -> Vec<Commit> {
    commits.sort_by(|a, b| a.sha.cmp(&b.sha));
    commits
}

#[tokio::test]
async fn any_order_listing_of_a_fresh_clone_reads_the_object_database_whole() {
    let repo = hostile_repo();
    let (_tmp, fresh) = mirror_of(&repo, &support::options()).await;
    assert!(fresh.was_cloned());
    let graph = fresh
        .dir()
        .join("objects/info/commit-graphs/commit-graph-chain");
    let any_order = LogQuery {
        any_order: true,
        ..LogQuery::default()
    };
    let scanned = by_sha(fresh.list_commits(&any_order).await.unwrap());
    assert!(!graph.exists(), "no walk, so no commit-graph needed");
    assert_matches_oracle(&repo, &scanned);

    // An existing mirror may hold commits no ref reaches any more (a force-push): the same
    // query walks from the refs instead.
    repo.git(&["branch", "doomed", "main"]);
    repo.git(&["checkout", "-q", "doomed"]);
    let doomed = repo.commit("only on a branch about to be deleted\n");
    let m = Mirror::open(
        fresh.dir().parent().unwrap(),
        &repo.url(),
        &support::options(),
    )
    .await
    .unwrap()
    .unwrap();
    m.fetch().await.unwrap();
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "doomed"]);
    m.fetch().await.unwrap();
    let walked = by_sha(m.list_commits(&any_order).await.unwrap());
    assert!(
        !walked.iter().any(|c| c.sha == doomed),
        "unreachable commit left out"
    );
    assert_matches_oracle(&repo, &walked);
    // So does the handle that cloned, once it has fetched (into the same directory).
    fresh.fetch().await.unwrap();
    assert_eq!(
        by_sha(fresh.list_commits(&any_order).await.unwrap()),
        walked
    );
    // A whole ordered listing writes the commit-graph it walks with, once.
    m.list_commits(&LogQuery::default()).await.unwrap();
    assert!(graph.exists());
}

#[tokio::test]
async fn full_clone_without_commit_filter_lists_the_same() {
    let repo = hostile_repo();
    repo.git(&["config", "uploadpack.allowFilter", "false"]);
    let opts = GitOptions {
        commits_only: false,
        ..support::options()
    };
    let (_tmp, mirror) = mirror_of(&repo, &opts).await;
    // Trees and blobs are in this mirror too: the whole-database read skips them.
    let any_order = LogQuery {
        any_order: true,
        ..LogQuery::default()
    };
    let scanned = by_sha(mirror.list_commits(&any_order).await.unwrap());
    assert_matches_oracle(&repo, &scanned);
    let commits = mirror.list_commits(&LogQuery::default()).await.unwrap();
    assert_matches_oracle(&repo, &commits);
    assert_eq!(by_sha(commits), scanned);
}

#[tokio::test]
async fn hostile_fields_come_back_intact() {
    let repo = hostile_repo();
    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    let commits = mirror.list_commits(&LogQuery::default()).await.unwrap();
    let by_author: BTreeMap<&str, &Commit> = commits
        .iter()
        .map(|c| (c.author_name.as_str(), c))
        .collect();
    let bob = by_author["Bob | Pipe"];
    assert_eq!(
        bob.message,
        "fix | pipes: colon - dash, \"double\" 'single'\n\nbody | with: separators - here\n"
    );
    assert_eq!(bob.author_offset_minutes, -420);
    assert_eq!(bob.committer_offset_minutes, 330);
    assert_eq!(bob.sha.len(), 40);
    assert_eq!(
        by_author["Carol: Colon"].subject(),
        "Ünïcödé ☃ 日本語 subject"
    );
    assert_eq!(by_author["Dave, Comma"].message, "");
    assert_eq!(by_author["Dave, Comma"].subject(), "");
    assert_eq!(
        by_author["Eve - Dash"].subject(),
        "first line second line of subject"
    );
    assert!(
        by_author.contains_key("Jos\u{fffd} Latin1"),
        "non-UTF-8 name decoded lossily"
    );
    let latin = by_author["Latin"];
    assert_eq!(
        latin.message, "café crème\n",
        "declared encoding re-encoded to UTF-8"
    );
    let merge = commits.iter().find(|c| c.parents.len() == 2).unwrap();
    assert_eq!(merge.subject(), "Merge branch 'feature' | into: main");
    assert!(merge.refs.contains(&"refs/tags/v1.0".to_string()));
    assert!(
        merge.refs.contains(&"refs/tags/v1.0-signed".to_string()),
        "nested tag peeled"
    );
    let json = serde_json::to_string(&commits).unwrap();
    let back: Vec<Commit> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, commits);
}

#[tokio::test]
async fn refs_lists_branches_and_tags_with_peeled_annotated_tags() {
    let repo = hostile_repo();
    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    let refs = mirror.refs().await.unwrap();
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"refs/heads/main"));
    assert!(names.contains(&"refs/tags/blob-tag"));
    assert_eq!(refs.iter().filter(|r| r.is_branch()).count(), 14);
    let v1 = refs.iter().find(|r| r.name == "refs/tags/v1.0").unwrap();
    assert_eq!(v1.sha, repo.git(&["rev-parse", "v1.0^{commit}"]));
    assert_eq!(
        v1.tag_object.as_deref(),
        Some(repo.git(&["rev-parse", "v1.0"]).as_str())
    );
    let nested = refs
        .iter()
        .find(|r| r.name == "refs/tags/v1.0-signed")
        .unwrap();
    assert_eq!(nested.sha, v1.sha);
}

#[tokio::test]
async fn branch_since_and_limit_narrow_the_listing() {
    let repo = hostile_repo();
    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    let feature = mirror
        .list_commits(&LogQuery {
            branch: Some("feature".into()),
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(shas(&feature), rev_list(repo.path(), &["feature"]));

    let by_tag = mirror
        .list_commits(&LogQuery {
            branch: Some("refs/tags/v0.1".into()),
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(shas(&by_tag), rev_list(repo.path(), &["v0.1"]));

    let newest3 = mirror
        .list_commits(&LogQuery {
            limit: Some(3),
            ..LogQuery::default()
        })
        .await
        .unwrap();
    let want: Vec<String> = git(
        repo.path(),
        &["log", "--branches", "--tags", "-n3", "--format=%H"],
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert_eq!(
        newest3.iter().map(|c| c.sha.clone()).collect::<Vec<_>>(),
        want
    );

    let all = mirror.list_commits(&LogQuery::default()).await.unwrap();
    let mut times: Vec<i64> = all.iter().map(|c| c.committer_time).collect();
    times.sort();
    let since = times[times.len() / 2];
    let recent = mirror
        .list_commits(&LogQuery {
            since: Some(since),
            ..LogQuery::default()
        })
        .await
        .unwrap();
    let want: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|c| c.committer_time >= since)
        .map(|c| c.sha.clone())
        .collect();
    assert_eq!(shas(&recent), want);

    let recent2 = mirror
        .list_commits(&LogQuery {
            since: Some(since),
            limit: Some(2),
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(recent2.len(), 2);
    assert!(recent2.iter().all(|c| c.committer_time >= since));

    let err = mirror
        .list_commits(&LogQuery {
            branch: Some("--all".into()),
            ..LogQuery::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::UnknownRef(_)), "{err}");
}

#[tokio::test]
async fn for_each_commit_can_stop_early() {
    let repo = hostile_repo();
    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    let mut seen = 0;
    let n = mirror
        .for_each_commit(&LogQuery::default(), |_| {
            seen += 1;
            if seen == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
        .unwrap();
    assert_eq!((n, seen), (2, 2));
}

#[tokio::test]
async fn empty_repository_lists_nothing() {
    let repo = Repo::new();
    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    assert!(mirror.refs().await.unwrap().is_empty());
    assert!(mirror
        .list_commits(&LogQuery::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn reopening_uses_the_existing_mirror() {
    let repo = hostile_repo();
    let (_tmp, root) = mirrors_root();
    let first = Mirror::open_or_clone(&root, &repo.url(), &support::options())
        .await
        .unwrap();
    let again = Mirror::open_or_clone(&root, &repo.url(), &support::options())
        .await
        .unwrap();
    assert!(first.was_cloned());
    assert!(!again.was_cloned());
    assert_eq!(first.dir(), again.dir());
}

#[tokio::test]
async fn a_malformed_commit_is_listed_with_what_can_be_read() {
    let repo = Repo::new();
    let base = repo.commit("base\n");
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    // No email or time in the author line, a committer time that is not a number, a NUL in
    // the message: git accepts such objects (older tools wrote them) and lists them.
    let raw = format!(
        "tree {tree}\nparent {base}\nauthor Broken Name\ncommitter C <c@x> notatime +0100\n\nodd commit\0hidden\n"
    );
    let odd = repo.commit_object(raw.as_bytes());
    repo.git(&["branch", "odd", &odd]);

    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    let commits = mirror.list_commits(&LogQuery::default()).await.unwrap();
    assert_eq!(commits.len(), 2);
    let c = commits
        .iter()
        .find(|c| c.sha == odd)
        .expect("odd commit listed");
    assert_eq!(c.parents, vec![base]);
    // As `git log --format=%an%ae%cn%ce%B` prints them; unreadable times become 0.
    assert_eq!(oracle_field(repo.path(), "%an")[&odd], c.author_name);
    assert_eq!(oracle_field(repo.path(), "%cn")[&odd], c.committer_name);
    assert_eq!(oracle_field(repo.path(), "%ce")[&odd], c.committer_email);
    assert_eq!(oracle_field(repo.path(), "%B")[&odd], c.message);
    assert_eq!((c.author_time, c.committer_time), (0, 0));
    assert_eq!(c.message, "odd commit");
}

#[tokio::test]
async fn a_commit_that_inflates_past_the_limit_is_refused_not_allocated() {
    let repo = Repo::new();
    let base = repo.commit("base\n");
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    // 65 MiB of message compresses to ~65 KB: small on disk, huge in memory.
    let mut raw = format!(
        "tree {tree}\nparent {base}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\n"
    )
    .into_bytes();
    raw.resize(raw.len() + (65 << 20), b'a');
    let bomb = repo.commit_object(&raw);
    repo.git(&["branch", "bomb", &bomb]);

    let (_tmp, mirror) = mirror_of(&repo, &support::options()).await;
    let err = mirror
        .list_commits(&LogQuery::default())
        .await
        .expect_err("refused");
    assert!(matches!(err, GitError::Objects(_)), "{err}");
}

#[tokio::test]
async fn a_sha256_repository_lists_with_64_hex_names() {
    let repo = Repo::new();
    // Re-initialise the fixture's repository with SHA-256 object names.
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    repo.git(&["init", "-q", "-b", "main", "--object-format=sha256"]);
    repo.git(&["config", "user.name", "Fixture"]);
    repo.git(&["config", "user.email", "fixture@example.com"]);
    repo.git(&["config", "uploadpack.allowFilter", "true"]);
    repo.commits("sha256", 3);
    repo.git(&["checkout", "-q", "-b", "side", "HEAD~1"]);
    repo.commit("side\n");
    repo.git(&["tag", "-a", "v1", "-m", "v1"]);
    let (_tmp, fresh) = mirror_of(&repo, &support::options()).await;
    let any_order = LogQuery {
        any_order: true,
        ..LogQuery::default()
    };
    let scanned = by_sha(fresh.list_commits(&any_order).await.unwrap());
    assert!(scanned.iter().all(|c| c.sha.len() == 64));
    assert_matches_oracle(&repo, &scanned);
    let ordered = fresh.list_commits(&LogQuery::default()).await.unwrap();
    assert_matches_oracle(&repo, &ordered);
}
