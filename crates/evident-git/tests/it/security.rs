//! Every defect of the peer services that is about safety, as a test.

use std::time::{Duration, Instant};

use evident_git::{GitError, GitOptions, LogQuery, Mirror, PolicyError, UrlPolicy};
use tokio::io::AsyncReadExt;

use crate::support::{self, mirrors_root, rev_list, shas, Repo};

fn refused(policy: &UrlPolicy, url: &str) -> PolicyError {
    match policy.check(url) {
        Ok(u) => panic!("{url} was accepted as {u}"),
        Err(e) => e,
    }
}

#[test]
fn strict_policy_refuses_local_files_and_paths() {
    let p = UrlPolicy::default();
    assert_eq!(refused(&p, "file:///etc"), PolicyError::FileNotAllowed);
    for path in [
        "/srv/secret/repo",
        "./repo",
        "repo",
        "../x/.git",
        "/tmp/x:y",
    ] {
        assert_eq!(refused(&p, path), PolicyError::LocalPath, "{path}");
    }
    // Even when file:// is allowed, plain paths are not.
    assert_eq!(
        refused(&support::file_policy(), "/srv/repo"),
        PolicyError::LocalPath
    );
    assert_eq!(
        refused(&support::file_policy(), "file://otherhost/srv/repo"),
        PolicyError::InvalidHost("otherhost".into())
    );
}

#[test]
fn remote_helpers_and_other_transports_are_refused() {
    let p = UrlPolicy::permissive();
    for (url, helper) in [
        ("ext::sh -c touch% /tmp/pwned", "ext"),
        ("ext::sh", "ext"),
        ("fd::17", "fd"),
        ("foo::https://github.com/a/b", "foo"),
    ] {
        let err = refused(&p, url);
        assert!(
            err == PolicyError::RemoteHelper(helper.into())
                || matches!(err, PolicyError::ForbiddenCharacter(_)),
            "{url}: {err}"
        );
    }
    assert_eq!(
        refused(&p, "ext::sh"),
        PolicyError::RemoteHelper("ext".into())
    );
    for url in [
        "ftp://host/r",
        "rsync://host/r",
        "git+ssh://host/r",
        "javascript://x/y",
    ] {
        assert!(
            matches!(refused(&p, url), PolicyError::UnsupportedScheme(_)),
            "{url}"
        );
    }
    let strict = UrlPolicy::default();
    assert_eq!(
        refused(&strict, "http://github.com/a/b"),
        PolicyError::PlainTransportNotAllowed("http")
    );
    assert_eq!(
        refused(&strict, "git://github.com/a/b"),
        PolicyError::PlainTransportNotAllowed("git")
    );
}

#[test]
fn option_injection_is_refused() {
    let p = UrlPolicy::permissive();
    assert_eq!(
        refused(&p, "--upload-pack=touch /tmp/x"),
        PolicyError::LeadingDash
    );
    assert_eq!(refused(&p, "-u touch"), PolicyError::LeadingDash);
    assert_eq!(refused(&p, "  --upload-pack=x"), PolicyError::LeadingDash);
    assert!(matches!(
        refused(&p, "ssh://-oProxyCommand=touch%20x/r"),
        PolicyError::InvalidHost(_)
    ));
    assert_eq!(
        refused(&p, "ssh://-oProxyCommand@host/r"),
        PolicyError::InvalidUser
    );
    assert!(matches!(
        refused(&p, "-oProxyCommand=x:r"),
        PolicyError::LeadingDash
    ));
    assert!(matches!(
        refused(&p, "git@-oProxyCommand=x:r"),
        PolicyError::InvalidHost(_)
    ));
    assert_eq!(refused(&p, "git@host:-r"), PolicyError::LeadingDash);
    assert!(matches!(
        refused(&p, "https://host/a b"),
        PolicyError::ForbiddenCharacter(' ')
    ));
    assert!(matches!(
        refused(&p, "https://host/a\nb"),
        PolicyError::ForbiddenCharacter('\n')
    ));
    assert!(matches!(
        refused(&p, "https://host/a\0b"),
        PolicyError::ForbiddenCharacter('\0')
    ));
}

#[test]
fn credentials_are_refused_unless_allowed() {
    let p = UrlPolicy::default();
    for url in [
        "https://user:pass@github.com/a/b",
        "https://ghp_token@github.com/a/b",
        "ssh://user:pass@github.com/a/b",
    ] {
        assert_eq!(refused(&p, url), PolicyError::Credentials, "{url}");
    }
    // A plain ssh user name is not a credential.
    p.check("ssh://git@github.com/a/b").unwrap();
    let allow = UrlPolicy {
        allow_credentials: true,
        ..UrlPolicy::default()
    };
    let u = allow.check("https://user:secret@github.com/a/b").unwrap();
    assert!(!u.to_string().contains("secret"));
}

#[test]
fn hosts_outside_the_allow_list_are_refused() {
    let p = UrlPolicy {
        allowed_hosts: Some(vec!["github.com".into(), "*.corp.example".into()]),
        ..UrlPolicy::default()
    };
    p.check("https://github.com/a/b").unwrap();
    p.check("git@git.corp.example:team/repo.git").unwrap();
    for url in [
        "https://gitlab.com/a/b",
        "https://github.com.evil.net/a/b",
        "https://evil.net/github.com/a/b",
        "https://github.com@evil.net/a/b",
    ] {
        let err = refused(&p, url);
        assert!(
            matches!(err, PolicyError::HostNotAllowed(ref h) if h != "github.com")
                || err == PolicyError::Credentials,
            "{url}: {err}"
        );
    }
    // git reads `user:pass@github.com:a/b` as host `user`, path `pass@github.com:a/b`: so do we.
    assert_eq!(
        refused(&p, "user:pass@github.com:a/b"),
        PolicyError::HostNotAllowed("user".into())
    );
    assert!(matches!(
        refused(&p, "https://evil.net#@github.com/a/b"),
        PolicyError::ForbiddenCharacter('#')
    ));
    assert!(matches!(
        refused(&p, "https://evil.net\\@github.com/a/b"),
        PolicyError::ForbiddenCharacter('\\')
    ));
}

#[test]
fn private_and_metadata_addresses_are_refused() {
    let p = UrlPolicy::default();
    for url in [
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:169.254.169.254]/x",
        "https://2852039166/x",
        "https://0xa9fea9fe/x",
        "https://127.0.0.1/r",
        "https://127.1/r",
        "https://0177.0.0.1/r",
        "https://0.0.0.0/r",
        "https://localhost/r",
        "https://LOCALHOST./r",
        "https://[::1]:8443/r",
        "https://[fe80::1%25eth0]/r",
        "https://10.0.0.8/r",
        "https://172.16.5.4/r",
        "https://192.168.1.1/r",
        "https://100.64.0.1/r",
        "ssh://git@192.168.1.1/r",
        "git@127.0.0.1:r",
        "git@[::1]:r",
    ] {
        assert!(
            matches!(refused(&p, url), PolicyError::PrivateHost(_)),
            "{url}"
        );
    }
    let relaxed = UrlPolicy {
        allow_private_hosts: true,
        ..UrlPolicy::default()
    };
    relaxed.check("https://10.0.0.8/r").unwrap();
}

#[test]
fn urls_without_host_or_path_are_refused() {
    let p = UrlPolicy::default();
    assert_eq!(refused(&p, ""), PolicyError::Empty);
    assert_eq!(refused(&p, "   "), PolicyError::Empty);
    assert_eq!(refused(&p, "https://github.com/"), PolicyError::MissingPath);
    assert_eq!(refused(&p, "https://github.com"), PolicyError::MissingPath);
    assert_eq!(refused(&p, "https:///a/b"), PolicyError::MissingHost);
    assert!(matches!(
        refused(&p, "https://github.com:99999/a"),
        PolicyError::InvalidPort(_)
    ));
    assert!(matches!(
        refused(&p, "https://github.com:/a"),
        PolicyError::InvalidPort(_)
    ));
}

#[tokio::test]
async fn upload_pack_url_cannot_run_anything() {
    let marker = std::env::temp_dir().join(format!("evident-upload-pack-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let (_tmp, root) = mirrors_root();
    for url in [
        format!("--upload-pack=touch {}", marker.display()),
        format!("--upload-pack=touch${{IFS}}{}", marker.display()),
        format!("ext::sh -c touch% {}", marker.display()),
        format!("file://{}/--upload-pack=touch", root.display()),
        format!("ssh://-oProxyCommand=touch${{IFS}}{}/x", marker.display()),
    ] {
        if let Ok(checked) = UrlPolicy::permissive().check(&url) {
            // The few that pass the policy reach git only after `--`, and must fail harmlessly.
            let err = Mirror::open_or_clone(&root, &checked, &support::options())
                .await
                .unwrap_err();
            assert!(matches!(err, GitError::Failed { .. }), "{url}: {err}");
        }
    }
    assert!(!marker.exists(), "a hostile URL ran a command");
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "failed clones left {leftovers:?}");
}

#[tokio::test]
async fn clone_of_silent_server_times_out_and_kills_git() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Accept, read the request, never answer; report when git hangs up.
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        let _ = closed_tx.send(Instant::now());
    });
    let policy = UrlPolicy {
        allow_plain_transport: true,
        allow_private_hosts: true,
        ..UrlPolicy::default()
    };
    let url = policy
        .check(&format!("http://127.0.0.1:{port}/silent.git"))
        .unwrap();
    let (_tmp, root) = mirrors_root();
    let opts = GitOptions {
        timeout: Duration::from_secs(2),
        ..GitOptions::default()
    };
    let start = Instant::now();
    let err = Mirror::open_or_clone(&root, &url, &opts).await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, GitError::Timeout { op: "clone", .. }),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    // The connection is closed promptly: the whole git process group (including
    // git-remote-http) was killed, not just the parent.
    let closed = tokio::time::timeout(Duration::from_secs(5), closed_rx)
        .await
        .expect("git's connection stayed open after the timeout")
        .unwrap();
    assert!(closed.duration_since(start) < Duration::from_secs(8));
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "temporary clone removed"
    );
}

#[tokio::test]
async fn clone_larger_than_the_size_limit_is_stopped_and_removed() {
    let repo = Repo::new();
    // Incompressible content, so the pack is as large as the file.
    let mut big = vec![0u8; 3_000_000];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut big).unwrap();
    std::fs::write(repo.path().join("big.bin"), big).unwrap();
    repo.git(&["add", "big.bin"]);
    repo.git(&["commit", "-q", "-m", "big"]);
    let (_tmp, root) = mirrors_root();
    let opts = GitOptions {
        max_size_bytes: 500_000,
        commits_only: false,
        ..support::options()
    };
    let err = Mirror::open_or_clone(&root, &repo.url(), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GitError::TooLarge { limit: 500_000, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);

    // The same repository fits when only commits are mirrored.
    let slim = GitOptions {
        max_size_bytes: 500_000,
        ..support::options()
    };
    Mirror::open_or_clone(&root, &repo.url(), &slim)
        .await
        .unwrap();
}

#[tokio::test]
async fn failed_clone_leaves_nothing_and_says_why() {
    let (_tmp, root) = mirrors_root();
    let url = support::file_policy()
        .check("file:///nonexistent/evident/repo.git")
        .unwrap();
    let err = Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GitError::Failed {
                op: "clone",
                kind: evident_git::FailureKind::NotFound,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}

#[tokio::test]
async fn same_last_segment_never_shares_a_directory_even_concurrently() {
    let a = Repo::new();
    a.commits("repo a", 3);
    let b = Repo::new();
    b.commits("repo b", 5);
    // Give both the same last path segment.
    let parent = tempfile::tempdir().unwrap();
    let (pa, pb) = (parent.path().join("a/proj"), parent.path().join("b/proj"));
    std::fs::create_dir_all(pa.parent().unwrap()).unwrap();
    std::fs::create_dir_all(pb.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(a.path(), &pa).unwrap();
    std::os::unix::fs::symlink(b.path(), &pb).unwrap();
    let policy = support::file_policy();
    let ua = policy.check(&format!("file://{}", pa.display())).unwrap();
    let ub = policy.check(&format!("file://{}", pb.display())).unwrap();
    let (_tmp, root) = mirrors_root();
    let opts = support::options();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (root, opts) = (root.clone(), opts.clone());
            let url = if i % 2 == 0 { ua.clone() } else { ub.clone() };
            tokio::spawn(async move {
                let m = Mirror::open_or_clone(&root, &url, &opts).await.unwrap();
                (i, m.list_commits(&LogQuery::default()).await.unwrap())
            })
        })
        .collect();
    for t in tasks {
        let (i, commits) = t.await.unwrap();
        let want = if i % 2 == 0 {
            rev_list(a.path(), &["--all"])
        } else {
            rev_list(b.path(), &["--all"])
        };
        assert_eq!(shas(&commits), want, "task {i}");
    }
    let dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert!(dirs.iter().all(|d| !d.contains("proj")));
}

#[tokio::test]
async fn a_directory_not_holding_this_urls_mirror_is_not_used() {
    let repo = Repo::new();
    repo.commit("x\n");
    let (_tmp, root) = mirrors_root();
    let url = repo.url();
    std::fs::create_dir_all(Mirror::path_for(&root, &url)).unwrap();
    let err = Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::MirrorMismatch { .. }), "{err}");
}

#[tokio::test]
async fn failed_clone_never_touches_other_directories() {
    let (_tmp, root) = mirrors_root();
    // A directory named like the URL's last segment, and one named like its hash prefix.
    let victim = root.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep"), b"precious").unwrap();
    for url in [
        "file:///nonexistent/victim",
        "file:///nonexistent/victim/",
        "file:///nonexistent/..",
    ] {
        let url = support::file_policy().check(url).unwrap();
        assert!(Mirror::open_or_clone(&root, &url, &support::options())
            .await
            .is_err());
    }
    assert_eq!(std::fs::read(victim.join("keep")).unwrap(), b"precious");
    let names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["victim".to_string()]);
}

#[tokio::test]
async fn trailing_slash_url_mirrors_that_repository_not_ours() {
    let repo = Repo::new();
    repo.commits("served", 2);
    let (_tmp, root) = mirrors_root();
    let url = support::file_policy()
        .check(&format!("{}/", repo.url_string()))
        .unwrap();
    let m = Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap();
    let commits = m.list_commits(&LogQuery::default()).await.unwrap();
    assert_eq!(shas(&commits), rev_list(repo.path(), &["--all"]));
    assert!(m.dir().starts_with(&root));
}

#[tokio::test]
async fn unreachable_server_is_a_network_failure_not_not_found() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = UrlPolicy::permissive()
        .check(&format!("http://127.0.0.1:{port}/r.git"))
        .unwrap();
    let (_tmp, root) = mirrors_root();
    let err = Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GitError::Failed {
                kind: evident_git::FailureKind::Network,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn temporary_clones_left_by_a_dead_process_are_cleaned_up() {
    let repo = Repo::new();
    repo.commit("x\n");
    let (_tmp, root) = mirrors_root();
    let url = repo.url();
    let stale = root.join(format!(".clone-{}-999999999-0", url.dir_name()));
    std::fs::create_dir_all(stale.join("objects")).unwrap();
    let unrelated = root.join(".clone-someoneelse-1-0");
    std::fs::create_dir_all(&unrelated).unwrap();
    Mirror::open_or_clone(&root, &url, &support::options())
        .await
        .unwrap();
    assert!(!stale.exists());
    assert!(unrelated.exists());
}
