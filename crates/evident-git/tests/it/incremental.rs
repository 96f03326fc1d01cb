//! Refreshing a mirror: only new commits, force-pushes, deleted branches, failures that
//! leave the mirror as it was.

use std::collections::BTreeSet;

use evident_git::{FailureKind, GitError, LogQuery, Mirror, RefChange};

use crate::support::{self, mirrors_root, rev_list, shas, Repo};

fn base_repo() -> Repo {
    let r = Repo::new();
    r.commits("main", 5);
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.commits("feature", 3);
    r.git(&["checkout", "-q", "main"]);
    r.commit("main after feature\n");
    r.git(&["tag", "-a", "v1", "-m", "v1"]);
    r.git(&["branch", "doomed", "HEAD~1"]);
    r
}

#[tokio::test]
async fn refresh_lists_only_new_commits_and_ref_changes() {
    let repo = base_repo();
    let (_tmp, root) = mirrors_root();
    let mirror = Mirror::open_or_clone(&root, &repo.url(), &support::options())
        .await
        .unwrap();
    let known_tips = repo.tips();
    let before = mirror.list_commits(&LogQuery::default()).await.unwrap();

    repo.commits("more main", 3);
    repo.git(&["checkout", "-q", "-b", "fresh", "feature"]);
    repo.commits("fresh", 2);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["tag", "v2"]);

    let mut args = vec!["--all".to_string()];
    args.extend(known_tips.iter().map(|t| format!("^{t}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let expected_new = rev_list(repo.path(), &args);
    assert_eq!(expected_new.len(), 5);

    let refresh = mirror.refresh(&known_tips).await.unwrap();
    assert_eq!(shas(&refresh.new_commits), expected_new);
    assert!(refresh.removed.is_empty());
    let fresh_tip = repo.git(&["rev-parse", "fresh"]);
    let tip = refresh
        .new_commits
        .iter()
        .find(|c| c.sha == fresh_tip)
        .unwrap();
    assert_eq!(tip.refs, vec!["refs/heads/fresh".to_string()]);
    let names: BTreeSet<String> = refresh
        .changes
        .iter()
        .map(|c| match c {
            RefChange::Created { name, .. } => format!("+{name}"),
            RefChange::Moved { name, .. } => format!("~{name}"),
            RefChange::Deleted { name, .. } => format!("-{name}"),
        })
        .collect();
    let want: BTreeSet<String> = ["~refs/heads/main", "+refs/heads/fresh", "+refs/tags/v2"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, want);

    let after = mirror.list_commits(&LogQuery::default()).await.unwrap();
    assert_eq!(after.len(), before.len() + 5);
    assert_eq!(shas(&after), rev_list(repo.path(), &["--all"]));

    // Nothing upstream: nothing new.
    let idle = mirror.refresh(&repo.tips()).await.unwrap();
    assert!(idle.new_commits.is_empty() && idle.changes.is_empty() && idle.removed.is_empty());
}

#[tokio::test]
async fn force_push_and_deleted_branch_report_unreachable_commits() {
    let repo = base_repo();
    let (_tmp, root) = mirrors_root();
    let mirror = Mirror::open_or_clone(&root, &repo.url(), &support::options())
        .await
        .unwrap();
    let old_tips = repo.tips();
    let doomed = repo.git(&["rev-parse", "doomed"]);

    // Force-push feature: drop its last two commits, add one; delete `doomed`; delete tag v1
    // and rewrite main's last commit.
    repo.git(&["checkout", "-q", "feature"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~2"]);
    let replacement = repo.commit("replacement\n");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "doomed"]);
    repo.git(&["tag", "-d", "v1"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let rewritten = repo.commit("rewritten main\n");

    let mut args: Vec<String> = old_tips.clone();
    args.extend(["--not".to_string(), "--all".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let expected_removed = rev_list(repo.path(), &args);
    assert_eq!(
        expected_removed.len(),
        3,
        "two feature commits and main's old tip"
    );

    let refresh = mirror.refresh(&old_tips).await.unwrap();
    let removed: BTreeSet<String> = refresh.removed.iter().cloned().collect();
    assert_eq!(removed, expected_removed);
    assert_eq!(
        shas(&refresh.new_commits),
        BTreeSet::from([replacement, rewritten])
    );
    assert!(refresh.changes.contains(&RefChange::Deleted {
        name: "refs/heads/doomed".into(),
        sha: doomed,
    }));
    assert!(refresh
        .changes
        .iter()
        .any(|c| matches!(c, RefChange::Deleted { name, .. } if name == "refs/tags/v1")));
    assert!(refresh
        .changes
        .iter()
        .any(|c| matches!(c, RefChange::Moved { name, .. } if name == "refs/heads/feature")));
    let names: Vec<&str> = refresh.refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["refs/heads/feature", "refs/heads/main"]);
    let all = mirror.list_commits(&LogQuery::default()).await.unwrap();
    assert_eq!(shas(&all), rev_list(repo.path(), &["--all"]));
}

#[tokio::test]
async fn unknown_known_tips_are_ignored_and_bad_ones_refused() {
    let repo = base_repo();
    let (_tmp, root) = mirrors_root();
    let mirror = Mirror::open_or_clone(&root, &repo.url(), &support::options())
        .await
        .unwrap();
    let missing = "0123456789abcdef0123456789abcdef01234567".to_string();
    let all = mirror
        .list_commits(&LogQuery {
            exclude: vec![missing.clone()],
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(shas(&all), rev_list(repo.path(), &["--all"]));
    assert!(mirror
        .unreachable_commits(&[missing])
        .await
        .unwrap()
        .is_empty());
    let err = mirror.refresh(&["HEAD".to_string()]).await.unwrap_err();
    assert!(matches!(err, GitError::InvalidSha(_)), "{err}");
}

#[tokio::test]
async fn failed_fetch_leaves_the_mirror_intact() {
    let repo = base_repo();
    let (_tmp, root) = mirrors_root();
    let url = repo.url();
    let mirror = Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap();
    let before = mirror.list_commits(&LogQuery::default()).await.unwrap();
    let refs_before = mirror.refs().await.unwrap();

    // The upstream disappears.
    let moved = repo.path().with_extension("gone");
    std::fs::rename(repo.path(), &moved).unwrap();
    let err = mirror.fetch().await.unwrap_err();
    std::fs::rename(&moved, repo.path()).unwrap();
    match &err {
        GitError::Failed { op, kind, .. } => {
            assert_eq!(*op, "fetch");
            assert_eq!(*kind, FailureKind::NotFound, "{err}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(mirror.refs().await.unwrap(), refs_before);
    assert_eq!(
        mirror.list_commits(&LogQuery::default()).await.unwrap(),
        before
    );
}

#[tokio::test]
async fn maintenance_and_removal_keep_to_the_mirror() {
    let repo = base_repo();
    let (_tmp, root) = mirrors_root();
    let url = repo.url();
    let mirror = Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap();
    for i in 0..3 {
        repo.commit(&format!("more {i}\n"));
        mirror.fetch().await.unwrap();
    }
    mirror.maintain().await.unwrap();
    let all = mirror.list_commits(&LogQuery::default()).await.unwrap();
    assert_eq!(shas(&all), rev_list(repo.path(), &["--all"]));
    Mirror::remove(&root, &url).await.unwrap();
    assert!(!mirror.dir().exists());
    assert!(Mirror::open(&root, &url, &support::options())
        .await
        .unwrap()
        .is_none());
    Mirror::remove(&root, &url).await.unwrap();
}

/// The server runs these futures on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(m: &Mirror, s: &evident_git::CommitSource, u: &evident_git::CheckedUrl) {
    fn send<T: Send>(_: T) {}
    let q = LogQuery::default();
    send(m.refresh(&[]));
    send(m.fetch());
    send(m.list_commits(&q));
    send(m.for_each_commit(&q, |_| std::ops::ControlFlow::Continue(())));
    send(s.list(u, &q));
    send(Mirror::open_or_clone(
        std::path::Path::new("/"),
        u,
        &evident_git::GitOptions::default(),
    ));
}

#[tokio::test]
async fn clone_and_fetch_report_git_progress_when_asked() {
    use std::sync::{Arc, Mutex};
    let repo = base_repo();
    let (_tmp, root) = mirrors_root();
    let seen: Arc<Mutex<Vec<evident_git::TransferProgress>>> = Arc::default();
    let opts = evident_git::GitOptions {
        progress: Some(evident_git::ProgressSink::new({
            let seen = seen.clone();
            move |p| seen.lock().unwrap().push(p.clone())
        })),
        ..support::options()
    };
    let mirror = Mirror::open_or_clone(&root, &repo.url(), &opts)
        .await
        .unwrap();
    // Git reports the phases that take long enough to show ("Receiving objects" only after
    // a while); the server-side counting phase always has a total.
    let objects = |seen: &[evident_git::TransferProgress]| {
        seen.iter()
            .filter(|p| p.phase == "remote: Counting objects")
            .map(|p| (p.done, p.total))
            .next_back()
    };
    // Nine commits and the annotated tag: the mirror holds commits and tags only.
    let after_clone = seen.lock().unwrap().clone();
    assert_eq!(
        objects(&after_clone),
        Some((10, Some(10))),
        "{after_clone:?}"
    );
    seen.lock().unwrap().clear();
    repo.commits("main", 2);
    mirror.fetch().await.unwrap();
    let after_fetch = seen.lock().unwrap().clone();
    assert_eq!(objects(&after_fetch), Some((2, Some(2))), "{after_fetch:?}");
    // Without a sink git is not asked for progress, and a failure still has its message.
    let gone = Repo::new();
    let url = gone.url();
    drop(gone);
    let err = Mirror::open_or_clone(&root, &url, &opts).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not appear to be a git repository")
            || err.to_string().contains("not found"),
        "{err}"
    );
}
