//! Clone, list and refresh over a real network transport: a local `git daemon` serving the
//! git protocol on a loopback port, as a forge serves a mirror over the network.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use evident_git::{LogQuery, Mirror, UrlPolicy};

use crate::support::{self, git, mirrors_root, rev_list, shas, Repo};

/// `git daemon` exporting one repository; killed on drop.
struct Daemon {
    child: Child,
    url: String,
}

impl Daemon {
    fn serve(repo: &Repo) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = support::git_cmd(repo.path())
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
            ])
            // Only this directory is served.
            .arg(repo.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            url: format!("git://127.0.0.1:{port}{}", repo.path().display()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn clone_list_and_refresh_over_the_git_protocol() {
    let repo = Repo::new();
    repo.commits("main", 4);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.commits("feature", 3);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    repo.git(&["tag", "-a", "v1", "-m", "v1"]);
    repo.git(&["checkout", "-q", "-b", "wip"]);
    repo.commits("wip", 2);
    repo.git(&["checkout", "-q", "main"]);
    let daemon = Daemon::serve(&repo);
    let policy = UrlPolicy {
        allow_plain_transport: true,
        allow_private_hosts: true,
        ..UrlPolicy::default()
    };
    let url = policy.check(&daemon.url).unwrap();
    let (_tmp, root) = mirrors_root();
    let mirror = Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap();

    // The commits-only filter went over the wire: the mirror holds no trees or blobs.
    let kinds: BTreeSet<String> = git(
        mirror.dir(),
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype)",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert_eq!(kinds, BTreeSet::from(["commit".into(), "tag".into()]));

    // The first index (the whole object database, any order) and an ordered listing agree
    // with git on the source repository.
    let everything = LogQuery {
        any_order: true,
        ..LogQuery::default()
    };
    let all = rev_list(repo.path(), &["--all"]);
    assert_eq!(shas(&mirror.list_commits(&everything).await.unwrap()), all);
    assert_eq!(
        shas(&mirror.list_commits(&LogQuery::default()).await.unwrap()),
        all
    );

    // New commits and a force-push, fetched incrementally over the same transport.
    let old_tips = repo.tips();
    repo.commits("pushed", 2);
    repo.git(&["checkout", "-q", "wip"]);
    let dropped = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let replacement = repo.commit("replacement\n");
    repo.git(&["checkout", "-q", "main"]);
    let refresh = mirror.refresh(&old_tips).await.unwrap();
    let mut expected_new = rev_list(repo.path(), &["main", "^main~2"]);
    expected_new.insert(replacement);
    assert_eq!(shas(&refresh.new_commits), expected_new);
    assert_eq!(refresh.removed, vec![dropped]);
}
