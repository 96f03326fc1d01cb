//! Tracked repositories against real git repositories built in temp dirs. Oracle: git itself.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use evident_core::api::{ArtifactReport, PipelineRequest, Visibility};
use reqwest::StatusCode;

use crate::helpers::{env_request, http, one_instance, spawn_app_with, TestApp};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ann Author")
        .env("GIT_AUTHOR_EMAIL", "ann@example.com")
        .env("GIT_COMMITTER_NAME", "Cy Committer")
        .env("GIT_COMMITTER_EMAIL", "cy@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn commit(dir: &Path, message: &str) {
    git(
        dir,
        &[
            "commit",
            "--allow-empty",
            "--allow-empty-message",
            "-q",
            "-m",
            message,
        ],
    );
}

/// A repository with merges, branches, tags, hostile messages and a non-UTF-8 author.
fn hostile_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    commit(dir, "first | with pipe");
    commit(dir, "Carol: Colon, Dave, Comma - Dash \"quoted\"");
    git(dir, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    git(dir, &["checkout", "-q", "-b", "feature"]);
    commit(dir, "ünïcødé ✓ 漢字");
    commit(dir, "");
    git(dir, &["checkout", "-q", "main"]);
    commit(dir, "on main\n\nwith a body\nof several lines");
    git(
        dir,
        &["merge", "-q", "--no-ff", "feature", "-m", "Merge feature"],
    );
    git(dir, &["checkout", "-q", "-b", "topic"]);
    commit(dir, "topic work");
    git(dir, &["checkout", "-q", "main"]);
    // A Latin-1 author name, not valid UTF-8.
    let out = Command::new("git")
        .current_dir(dir)
        .args(["commit", "--allow-empty", "-q", "-m", "latin-1 author"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env(
            "GIT_AUTHOR_NAME",
            std::ffi::OsStr::from_bytes(b"Jos\xe9 Latin"),
        )
        .env("GIT_AUTHOR_EMAIL", "jose@example.com")
        .env("GIT_COMMITTER_NAME", "Cy Committer")
        .env("GIT_COMMITTER_EMAIL", "cy@example.com")
        .output()
        .unwrap();
    assert!(out.status.success());
}

fn rev_list(dir: &Path, what: &str) -> BTreeSet<String> {
    git(dir, &["rev-list", what])
        .lines()
        .map(str::to_string)
        .collect()
}

fn app_allowing_file() -> TestApp {
    spawn_app_with(false, |c| c.git.policy.allow_file = true)
}

#[tokio::test]
async fn background_refresher_picks_up_new_commits_and_keeps_the_mirror_tidy() {
    let src = tempfile::tempdir().unwrap();
    hostile_repo(src.path());
    let app = spawn_app_with(false, |c| {
        c.git.policy.allow_file = true;
        c.git.refresh_interval = Some(std::time::Duration::from_millis(200));
    });
    let c = track_svc(&app, src.path()).await;
    let before = all_commits(&app, "svc").await.len();
    // Every fetch adds a pack to the mirror; with the threshold lowered, `git gc --auto`
    // must merge them, as it would after many fetches with the default threshold of 50.
    let mirror = std::fs::read_dir(app.dir.path().join("mirrors"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("HEAD").exists())
        .expect("the mirror");
    // The first index reads the fresh clone without a walk; the commit-graph that later
    // refreshes walk with is written after it, in the background.
    let graph = mirror.join("objects/info/commit-graphs/commit-graph-chain");
    eventually("a commit-graph written", || async { graph.exists() }).await;
    git(&mirror, &["config", "gc.autoPackLimit", "1"]);
    let packs = || {
        std::fs::read_dir(mirror.join("objects/pack"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
            .count()
    };
    assert_eq!(packs(), 1, "the clone's pack");
    for i in 0..3 {
        commit(src.path(), &format!("pushed later {i}"));
    }
    eventually("the three pushed commits indexed", || async {
        all_commits(&app, "svc").await.len() == before + 3
    })
    .await;
    eventually("the fetches' packs merged into one", || async {
        packs() == 1
    })
    .await;
    let repos = c.repos("o").await.unwrap();
    assert_eq!(repos[0].last_refresh, "ok");
}

#[tokio::test]
async fn a_lost_mirror_is_cloned_again_and_the_index_serves_what_it_lists() {
    let src = tempfile::tempdir().unwrap();
    hostile_repo(src.path());
    let app = app_allowing_file();
    let c = track_svc(&app, src.path()).await;
    let before = all_commits(&app, "svc").await.len();
    // The mirror is a cache: losing it costs a clone, never commits.
    std::fs::remove_dir_all(app.dir.path().join("mirrors")).unwrap();
    commit(src.path(), "pushed while the mirror was gone");
    c.refresh_repo("o", "svc").await.unwrap();
    let after = all_commits(&app, "svc").await;
    assert_eq!(after.len(), before + 1);
    assert!(after
        .iter()
        .any(|c| c.message == "pushed while the mirror was gone\n"));
}

/// Polls `done` until it holds; fails the test after 20 s, saying what did not happen.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Public org `o` tracking the repository in `src` as `svc`; the admin's client.
async fn track_svc(app: &TestApp, src: &Path) -> evident_client::Client {
    app.org("o", Visibility::Public).await;
    let c = app.admin();
    c.add_repo("o", "svc", &format!("file://{}", src.display()))
        .await
        .unwrap();
    c
}

async fn all_commits(app: &TestApp, repo: &str) -> Vec<evident_core::api::Commit> {
    let page = app.admin().commits("o", repo, 1, 1000, None).await.unwrap();
    page.commits
}

#[tokio::test]
async fn tracked_repository_lists_every_commit_once_with_fields_intact() {
    let src = tempfile::tempdir().unwrap();
    hostile_repo(src.path());
    let app = app_allowing_file();
    app.org("o", Visibility::Public).await;
    let url = format!("file://{}", src.path().display());
    let repo = app.admin().add_repo("o", "hostile", &url).await.unwrap();
    let expected = rev_list(src.path(), "--all");
    assert_eq!(repo.commits as usize, expected.len());
    assert_eq!(repo.last_refresh, "ok");

    let commits = all_commits(&app, "hostile").await;
    let got: BTreeSet<String> = commits.iter().map(|c| c.sha.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(commits.len(), expected.len(), "each commit exactly once");
    // Every field equals what git log says.
    let log = git(
        src.path(),
        &[
            "log",
            "--all",
            "-z",
            "--format=%H%x01%P%x01%an%x01%ae%x01%at%x01%cn%x01%ce%x01%ct%x01%B",
        ],
    );
    for record in log.split('\0').filter(|r| !r.trim().is_empty()) {
        let f: Vec<&str> = record.trim_start_matches('\n').split('\u{1}').collect();
        let c = commits.iter().find(|c| c.sha == f[0]).unwrap();
        let parents: Vec<String> = f[1].split_whitespace().map(str::to_string).collect();
        assert_eq!(c.parents, parents);
        assert_eq!(c.author.name, f[2]);
        assert_eq!(c.author.email, f[3]);
        assert_eq!(c.author.time.as_second().to_string(), f[4]);
        assert_eq!(c.committer.name, f[5]);
        assert_eq!(c.committer.email, f[6]);
        assert_eq!(c.committer.time.as_second().to_string(), f[7]);
        assert_eq!(
            c.message.trim_end(),
            f[8].trim_end(),
            "message of {}",
            c.sha
        );
    }
    assert!(
        commits.iter().any(|c| c.message.is_empty()),
        "the empty message survives"
    );
    assert!(commits
        .iter()
        .any(|c| c.author.name.starts_with("Jos") && c.author.name.ends_with("Latin")));
    let head = git(src.path(), &["rev-parse", "main"]);
    let tip = commits.iter().find(|c| c.sha == head.trim()).unwrap();
    assert!(
        tip.refs.contains(&"refs/heads/main".to_string()),
        "{:?}",
        tip.refs
    );

    // `ref` narrows to what a branch reaches.
    let topic = app
        .admin()
        .commits("o", "hostile", 1, 1000, Some("topic"))
        .await
        .unwrap();
    let got: BTreeSet<String> = topic.commits.iter().map(|c| c.sha.clone()).collect();
    assert_eq!(got, rev_list(src.path(), "topic"));
}

#[tokio::test]
async fn refresh_is_incremental_and_follows_force_pushes_and_deleted_branches() {
    let src = tempfile::tempdir().unwrap();
    hostile_repo(src.path());
    let app = app_allowing_file();
    app.org("o", Visibility::Public).await;
    let url = format!("file://{}", src.path().display());
    app.admin().add_repo("o", "r", &url).await.unwrap();

    for n in 0..10 {
        commit(src.path(), &format!("new {n}"));
    }
    git(src.path(), &["branch", "-D", "topic"]);
    git(src.path(), &["checkout", "-q", "feature"]);
    git(src.path(), &["reset", "-q", "--hard", "HEAD~1"]); // rewrite feature: a force-push
    commit(src.path(), "rewritten feature");
    git(src.path(), &["checkout", "-q", "main"]);
    let repo = app.admin().refresh_repo("o", "r").await.unwrap();
    let expected = rev_list(src.path(), "--all");
    assert_eq!(repo.commits as usize, expected.len());
    let got: BTreeSet<String> = all_commits(&app, "r")
        .await
        .into_iter()
        .map(|c| c.sha)
        .collect();
    assert_eq!(got, expected);

    // A failing fetch keeps the previous index and says why.
    std::fs::rename(src.path(), src.path().with_extension("moved")).unwrap();
    let err = app.admin().refresh_repo("o", "r").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    let repos = app.admin().repos("o").await.unwrap();
    assert_eq!(repos[0].last_refresh, "failed");
    assert!(repos[0].last_error.is_some());
    assert_eq!(all_commits(&app, "r").await.len(), expected.len());
    std::fs::rename(src.path().with_extension("moved"), src.path()).unwrap();
}

#[tokio::test]
async fn pages_carry_link_headers_and_totals() {
    let src = tempfile::tempdir().unwrap();
    git(src.path(), &["init", "-q", "-b", "main"]);
    for n in 0..25 {
        commit(src.path(), &format!("c{n}"));
    }
    let app = app_allowing_file();
    app.org("o", Visibility::Public).await;
    app.admin()
        .add_repo("o", "r", &format!("file://{}", src.path().display()))
        .await
        .unwrap();
    let url = format!(
        "{}/api/v1/orgs/o/repos/r/commits?page=2&per_page=10",
        app.host()
    );
    let resp = http()
        .get(&url)
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-total-count"], "25");
    let link = resp.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("page=3&per_page=10>; rel=\"next\""), "{link}");
    assert!(link.contains("page=1&per_page=10>; rel=\"prev\""), "{link}");
    assert!(link.contains("page=3&per_page=10>; rel=\"last\""), "{link}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["commits"].as_array().unwrap().len(), 10);
    assert_eq!(body["commits"][0]["message"], "c14\n");
    // Newest first, and the last page holds the rest.
    let last = app.admin().commits("o", "r", 3, 10, None).await.unwrap();
    assert_eq!(last.commits.len(), 5);
    assert_eq!(last.commits[4].message.trim(), "c0");
    for bad in ["per_page=1001", "page=0", "per_page=x", "colour=red"] {
        let resp = http()
            .get(format!(
                "{}/api/v1/orgs/o/repos/r/commits?{bad}",
                app.host()
            ))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // The HTML page escapes what it shows.
    commit(src.path(), "<script>alert(1)</script>");
    app.admin().refresh_repo("o", "r").await.unwrap();
    let html = http()
        .get(format!("{}/api/v1/orgs/o/repos/r/commits", app.host()))
        .bearer_auth(&app.admin_token)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"));
}

#[tokio::test]
async fn unsafe_urls_are_refused_and_never_run_anything() {
    let app = spawn_app_with(false, |_| {});
    app.org("o", Visibility::Public).await;
    let marker = std::env::temp_dir().join(format!("evident-pwned-{}", std::process::id()));
    let local = tempfile::tempdir().unwrap();
    let mut urls = vec![
        format!("file://{}", local.path().display()),
        local.path().display().to_string(),
        format!("--upload-pack=touch {}", marker.display()),
        format!("ext::sh -c touch% {}", marker.display()),
        "https://user:secret@github.com/a/b.git".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "http://127.0.0.1:1/x.git".to_string(),
        "-oProxyCommand=touch /tmp/x".to_string(),
    ];
    // A plain name that DNS (here /etc/hosts) maps to a private address: this machine's own.
    if let Some(name) = name_resolving_privately() {
        urls.push(format!("https://{name}/a/b.git"));
    }
    for url in urls {
        let err = app.admin().add_repo("o", "r", &url).await.unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{url}: {err}");
        assert!(
            !err.to_string().contains("secret"),
            "credentials echoed: {err}"
        );
    }
    assert!(!marker.exists(), "a URL ran a command");
    assert!(app.admin().repos("o").await.unwrap().is_empty());
}

/// This machine's host name, when it resolves only to loopback or private addresses.
fn name_resolving_privately() -> Option<String> {
    use std::net::{IpAddr, ToSocketAddrs};
    let name = std::fs::read_to_string("/etc/hostname")
        .ok()?
        .trim()
        .to_string();
    let private = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    let addrs: Vec<IpAddr> = (name.as_str(), 443)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .collect();
    (!name.is_empty() && !addrs.is_empty() && addrs.into_iter().all(private)).then_some(name)
}

#[tokio::test]
async fn search_links_a_commit_to_its_artifacts_and_where_they_run() {
    let src = tempfile::tempdir().unwrap();
    hostile_repo(src.path());
    let head = git(src.path(), &["rev-parse", "main"]).trim().to_string();
    let app = app_allowing_file();
    let c = track_svc(&app, src.path()).await;
    c.put_pipeline("o", "svc", &PipelineRequest::default())
        .await
        .unwrap();
    let fp = evident_core::Fingerprint::parse(&format!("{:064x}", 77)).unwrap();
    c.report_artifact(
        "o",
        "svc",
        &ArtifactReport {
            fingerprint: fp.clone(),
            name: "svc:1".into(),
            git_commit: Some(head.clone()),
            commit_url: None,
            build_url: None,
        },
    )
    .await
    .unwrap();
    c.put_environment("o", "prod", &env_request("k8s"))
        .await
        .unwrap();
    c.report_environment("o", "prod", &one_instance("svc:1", fp.as_str()))
        .await
        .unwrap();

    let found = c.search("o", &head[..7]).await.unwrap();
    assert_eq!(found.commits.len(), 1);
    assert_eq!(found.commits[0].commit.sha, head);
    assert_eq!(found.artifacts.len(), 1);
    assert_eq!(found.artifacts[0].runs[0].environment, "prod");
    assert_eq!(found.artifacts[0].runs[0].to_snapshot, None);

    // What one version brings over another.
    let first = git(src.path(), &["rev-list", "--max-parents=0", "main"])
        .trim()
        .to_string();
    let between = c.between("o", "svc", &first[..8], &head).await.unwrap();
    let expected: BTreeSet<String> = git(src.path(), &["rev-list", &format!("{first}..{head}")])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        between
            .iter()
            .map(|c| c.sha.clone())
            .collect::<BTreeSet<_>>(),
        expected
    );
}

#[test]
fn commits_list_works_without_a_server_and_honours_the_policy() {
    let src = tempfile::tempdir().unwrap();
    hostile_repo(src.path());
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", src.path().display());
    let run = |extra: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
        cmd.env_clear()
            .env("HOME", cache.path())
            .args([
                "commits",
                "list",
                &url,
                "--mirrors",
                cache.path().to_str().unwrap(),
            ])
            .args(extra);
        cmd
    };
    run(&[])
        .assert()
        .failure()
        .stderr(predicates::str::contains("refused"));
    let out = run(&["--allow-file"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shas: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split("  ").next().unwrap().to_string())
        .collect();
    assert_eq!(shas, rev_list(src.path(), "--all"));
    let json = run(&[
        "--allow-file",
        "-o",
        "json",
        "--branch",
        "topic",
        "--limit",
        "2",
    ])
    .output()
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn incident_tracing_lists_the_commits_a_deployment_brought() {
    let src = tempfile::tempdir().unwrap();
    git(src.path(), &["init", "-q", "-b", "main"]);
    let mut shas = Vec::new();
    for n in 0..10 {
        commit(src.path(), &format!("change {n}"));
        shas.push(git(src.path(), &["rev-parse", "HEAD"]).trim().to_string());
    }
    let app = app_allowing_file();
    let c = track_svc(&app, src.path()).await;
    c.put_pipeline("o", "svc", &PipelineRequest::default())
        .await
        .unwrap();
    c.put_environment("o", "prod", &env_request("k8s"))
        .await
        .unwrap();
    for (n, at) in [(1u32, 2usize), (2, 6), (3, 9)] {
        let fp = evident_core::Fingerprint::parse(&format!("{n:064x}")).unwrap();
        c.report_artifact(
            "o",
            "svc",
            &ArtifactReport {
                fingerprint: fp.clone(),
                name: format!("svc:{n}"),
                git_commit: Some(shas[at].clone()),
                commit_url: None,
                build_url: None,
            },
        )
        .await
        .unwrap();
        if n < 3 {
            c.report_environment("o", "prod", &one_instance(&format!("svc:{n}"), fp.as_str()))
                .await
                .unwrap();
        }
    }
    let d = c.diff_with_commits("o", "prod#1", "prod#2").await.unwrap();
    assert_eq!(d.commits.len(), 1);
    let brought: Vec<&str> = d.commits[0]
        .commits
        .iter()
        .map(|c| c.message.trim())
        .collect();
    assert_eq!(
        brought,
        vec!["change 6", "change 5", "change 4", "change 3"]
    );
    let out = app
        .cli(&app.admin_token, "o")
        .args(["env", "diff", "prod#1", "prod#2", "--commits"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("commits in svc from") && text.contains("change 4"),
        "{text}"
    );

    // Which artifact first shipped change 4? The one built at change 6.
    let contains = c.contains("o", &shas[4][..9]).await.unwrap();
    assert_eq!(contains.commit, shas[4]);
    let names: Vec<&str> = contains.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["svc:2"]);
    // A commit after every artifact is in none yet.
    commit(src.path(), "unreleased");
    c.refresh_repo("o", "svc").await.unwrap();
    let head = git(src.path(), &["rev-parse", "HEAD"]).trim().to_string();
    assert!(c.contains("o", &head).await.unwrap().artifacts.is_empty());
}

#[tokio::test]
async fn ad_hoc_listing_shares_one_clone_and_keeps_it() {
    let src = tempfile::tempdir().unwrap();
    hostile_repo(src.path());
    let app = app_allowing_file();
    let url = format!("file://{}", src.path().display());
    let c = app.admin();
    // Eight concurrent first requests: one clone serves them all.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { c.adhoc_commits(&url, 1, 1000).await.unwrap() })
        })
        .collect();
    let expected = rev_list(src.path(), "--all");
    for t in tasks {
        let page = t.await.unwrap();
        let got: BTreeSet<String> = page.commits.iter().map(|c| c.sha.clone()).collect();
        assert_eq!(got, expected);
        assert_eq!(page.total as usize, expected.len());
    }
    let mirrors: Vec<_> = std::fs::read_dir(app.dir.path().join("mirrors/adhoc"))
        .unwrap()
        .collect();
    assert_eq!(mirrors.len(), 1, "one mirror for one URL");
    // Refused URLs and bad paging are 400s.
    assert_eq!(
        c.adhoc_commits("ext::sh -c id", 1, 10)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        c.adhoc_commits(&url, 1, 5000).await.unwrap_err().status(),
        Some(StatusCode::BAD_REQUEST)
    );
    // Without a token there is nothing to see.
    let resp = http()
        .get(format!("{}/api/v1/commits?url={}", app.host(), url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_beyond_the_in_memory_window_come_from_the_store() {
    // A linear history one page longer than the index keeps rendered in memory.
    let src = tempfile::tempdir().unwrap();
    git(src.path(), &["init", "-q", "--bare"]);
    let n = evident_server::repos::HOT_COMMITS + 50;
    let mut stream = String::new();
    for i in 1..=n {
        let msg = format!("commit {i}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{i}\ncommitter C <c@x> {} +0000\ndata {}\n{msg}",
            1_600_000_000 + i as i64,
            msg.len()
        ));
        if i > 1 {
            stream.push_str(&format!("from :{}\n", i - 1));
        }
        stream.push('\n');
    }
    let mut child = Command::new("git")
        .current_dir(src.path())
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), stream.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    let app = app_allowing_file();
    app.org("o", Visibility::Public).await;
    let c = app.admin();
    c.add_repo("o", "big", &format!("file://{}", src.path().display()))
        .await
        .unwrap();
    let per_page = 100;
    let last_page = (n as u64).div_ceil(per_page);
    let page = c
        .commits("o", "big", last_page, per_page, None)
        .await
        .unwrap();
    assert_eq!(page.total as usize, n);
    assert_eq!(page.commits.len(), 50);
    assert_eq!(page.commits[0].message, "commit 50\n");
    assert_eq!(page.commits[49].message, "commit 1\n");
    let first = c.commits("o", "big", 1, 1, None).await.unwrap();
    assert_eq!(first.commits[0].message, format!("commit {n}\n"));
    assert!(first.commits[0]
        .refs
        .contains(&"refs/heads/main".to_string()));
}

/// A GitHub REST API stand-in for `octo/hello`: two commits on `main`, the older one tagged
/// `v1`, in the shape api.github.com answers (`/branches`, `/tags`, `/commits?sha=`).
async fn fake_github(hits: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> String {
    use axum::extract::{Query, Request};
    use axum::routing::get;
    const OLD: &str = "1111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222";
    let person = |name: &str, date: &str| serde_json::json!({"name": name, "email": format!("{name}@example.com"), "date": date});
    let old = serde_json::json!({
        "sha": OLD, "parents": [],
        "commit": {"author": person("Zoë", "2024-05-01T10:00:00Z"),
                   "committer": person("Zoë", "2024-05-01T10:00:00Z"), "message": "first | one"}});
    let new = serde_json::json!({
        "sha": NEW, "parents": [{"sha": OLD}],
        "commit": {"author": person("Bob", "2024-05-02T10:00:00Z"),
                   "committer": person("Bob", "2024-05-02T11:00:00Z"), "message": "second: two\n\nbody"}});
    let reference =
        |name: &str, sha: &str| serde_json::json!([{"name": name, "commit": {"sha": sha}}]);
    let (branches, tags) = (reference("main", NEW), reference("v1", OLD));
    let router = axum::Router::new()
        .route(
            "/repos/octo/hello/branches",
            get(move || async move { axum::Json(branches) }),
        )
        .route(
            "/repos/octo/hello/tags",
            get(move || async move { axum::Json(tags) }),
        )
        .route(
            "/repos/octo/hello/commits",
            get(
                move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let from_new = vec![new.clone(), old.clone()];
                    axum::Json(match q.get("sha").map(String::as_str) {
                        Some(NEW) => from_new,
                        Some(OLD) => vec![old.clone()],
                        _ => Vec::new(),
                    })
                },
            ),
        )
        .layer(axum::middleware::from_fn(
            move |req: Request, next: axum::middleware::Next| {
                hits.lock().unwrap().push(req.uri().to_string());
                next.run(req)
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test]
async fn adhoc_listing_of_a_github_repository_asks_the_api_first() {
    let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let api = fake_github(hits.clone()).await;
    let app = spawn_app_with(false, |c| {
        c.git.github = Some(evident_git::GithubApi::new(&api, None));
    });
    let page = app
        .admin()
        .adhoc_commits("https://github.com/octo/hello", 1, 100)
        .await
        .unwrap();
    let shas: Vec<&str> = page.commits.iter().map(|c| &c.sha[..1]).collect();
    assert_eq!(shas, ["2", "1"], "newest first, each once");
    // Like git's raw message, with its final newline, whichever source answered.
    assert_eq!(page.commits[0].message, "second: two\n\nbody\n");
    assert_eq!(page.commits[0].parents, [page.commits[1].sha.clone()]);
    assert_eq!(page.commits[1].author.name, "Zoë");
    assert_eq!(page.commits[0].refs, ["refs/heads/main"]);
    assert_eq!(page.commits[1].refs, ["refs/tags/v1"]);
    let hits = hits.lock().unwrap().clone();
    assert!(
        hits.iter()
            .any(|h| h.starts_with("/repos/octo/hello/commits?sha=2222")),
        "{hits:?}"
    );
    // Answered without git: nothing was cloned.
    let adhoc = app.dir.path().join("mirrors/adhoc");
    let clones = std::fs::read_dir(&adhoc).map(|d| d.count()).unwrap_or(0);
    assert_eq!(clones, 0, "a mirror was cloned");
}
