//! The GitHub API path, against a local fake API serving GitHub-shaped JSON, and the
//! fallback to git on rate limits, server errors, timeouts and oversized listings.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evident_git::{CommitSource, ForgeError, GitOptions, GithubApi, LogQuery, Via};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{self, mirrors_root, rev_list, shas, Repo};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(body: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            headers: vec![("x-ratelimit-remaining".into(), "4999".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    fn status(status: u16, headers: &[(&str, &str)]) -> Reply {
        Reply {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: json!({"message": "nope"}).to_string(),
            delay: Duration::ZERO,
        }
    }

    fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Route = Arc<dyn Fn(&str, u16) -> Reply + Send + Sync>;
/// `(path, authorization header)` of every request.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A tiny HTTP/1.1 server: one request per connection, every request recorded as
/// `(path, authorization header)`.
struct FakeApi {
    port: u16,
    requests: RequestLog,
}

impl FakeApi {
    async fn start(route: impl Fn(&str, u16) -> Reply + Send + Sync + 'static) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: RequestLog = Arc::new(Mutex::new(Vec::new()));
        let (route, log): (Route, _) = (Arc::new(route), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (route, log) = (route.clone(), log.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let auth = head.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .starts_with("authorization:")
                            .then(|| l[14..].trim().to_string())
                    });
                    log.lock().unwrap().push((path.clone(), auth));
                    let reply = route(&path, port);
                    tokio::time::sleep(reply.delay).await;
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (k, v) in &reply.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    out.push_str(&reply.body);
                    let _ = sock.write_all(out.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        FakeApi { port, requests }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn paths(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }
}

fn sha(n: u32) -> String {
    format!("{n:040x}")
}

fn api_commit(n: u32, parents: &[u32], message: &str) -> serde_json::Value {
    let date = format!("2024-01-0{}T10:00:00Z", n.min(9));
    json!({
        "sha": sha(n),
        "commit": {
            "author": {"name": format!("Bob | Pipe {n}"), "email": "bob@example.com", "date": date},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": date},
            "message": message
        },
        "parents": parents.iter().map(|p| json!({"sha": sha(*p)})).collect::<Vec<_>>()
    })
}

/// `octo/hello`: main = 1..5 (5 newest), feature = 6 on top of 3, tag v1 on 2; main's
/// history comes in two pages.
fn hello_routes(path: &str, port: u16) -> Reply {
    let repo = "/repos/octo/hello";
    if path == format!("{repo}/branches?per_page=100") {
        Reply::json(json!([
            {"name": "main", "commit": {"sha": sha(5)}},
            {"name": "feature", "commit": {"sha": sha(6)}}
        ]))
    } else if path == format!("{repo}/tags?per_page=100") {
        Reply::json(json!([{"name": "v1", "commit": {"sha": sha(2)}}]))
    } else if path == format!("{repo}/commits?sha={}&per_page=100", sha(5)) {
        Reply::json(json!([
            api_commit(5, &[4], "five | with: separators - \"quoted\""),
            api_commit(4, &[3], ""),
            api_commit(3, &[2], "three\n\nbody")
        ]))
        .header(
            "link",
            &format!(
                "<http://127.0.0.1:{port}{repo}/commits?sha={}&per_page=100&page=2>; rel=\"next\", <http://127.0.0.1:{port}/x>; rel=\"last\"",
                sha(5)
            ),
        )
    } else if path == format!("{repo}/commits?sha={}&per_page=100&page=2", sha(5)) {
        Reply::json(json!([
            api_commit(2, &[1], "two"),
            api_commit(1, &[], "one")
        ]))
    } else if path == format!("{repo}/commits?sha={}&per_page=100", sha(6)) {
        Reply::json(json!([
            api_commit(6, &[3], "feature ünïcödé"),
            api_commit(3, &[2], "three\n\nbody"),
            api_commit(2, &[1], "two"),
            api_commit(1, &[], "one")
        ]))
    } else {
        Reply::status(404, &[])
    }
}

fn source_with(api: Option<GithubApi>) -> (tempfile::TempDir, CommitSource) {
    let (tmp, root) = mirrors_root();
    (
        tmp,
        CommitSource {
            mirrors_root: root,
            git: support::options(),
            github: api,
        },
    )
}

#[tokio::test]
async fn api_lists_all_branches_and_tags_following_pagination_with_the_token() {
    let fake = FakeApi::start(hello_routes).await;
    let api = GithubApi::new(&fake.base(), Some("t0ken".into()));
    let commits = api
        .list_commits("octo", "hello", &LogQuery::default())
        .await
        .unwrap();
    let got: BTreeSet<String> = commits.iter().map(|c| c.sha.clone()).collect();
    assert_eq!(got, (1..=6).map(sha).collect());
    assert_eq!(commits.len(), 6, "each commit once");
    assert_eq!(commits[0].sha, sha(6), "newest first");
    let five = commits.iter().find(|c| c.sha == sha(5)).unwrap();
    assert_eq!(five.refs, vec!["refs/heads/main".to_string()]);
    assert_eq!(five.message, "five | with: separators - \"quoted\"\n");
    assert_eq!(five.author_name, "Bob | Pipe 5");
    assert_eq!(five.parents, vec![sha(4)]);
    assert_eq!(five.author_time, 1_704_448_800);
    assert_eq!(
        commits.iter().find(|c| c.sha == sha(4)).unwrap().message,
        ""
    );
    assert_eq!(
        commits.iter().find(|c| c.sha == sha(2)).unwrap().refs,
        vec!["refs/tags/v1".to_string()]
    );
    let reqs = fake.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 5, "{reqs:?}");
    assert!(reqs
        .iter()
        .all(|(_, auth)| auth.as_deref() == Some("Bearer t0ken")));

    let feature = api
        .list_commits(
            "octo",
            "hello",
            &LogQuery {
                branch: Some("feature".into()),
                limit: Some(2),
                ..LogQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        feature.iter().map(|c| c.sha.clone()).collect::<Vec<_>>(),
        vec![sha(6), sha(3)]
    );
}

#[tokio::test]
async fn github_answer_is_used_when_the_api_works() {
    let fake = FakeApi::start(hello_routes).await;
    let (_tmp, source) = source_with(Some(GithubApi::new(&fake.base(), None)));
    let repo = Repo::new();
    repo.commit("local\n");
    let listing = source
        .list_via(&repo.url(), Some(("octo", "hello")), &LogQuery::default())
        .await
        .unwrap();
    assert_eq!(listing.via, Via::GithubApi);
    assert_eq!(listing.commits.len(), 6);
    assert!(fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .all(|(_, auth)| auth.is_none()));
}

async fn assert_falls_back(api: GithubApi, fake: &FakeApi, want: impl Fn(&ForgeError) -> bool) {
    let repo = Repo::new();
    repo.commits("local", 4);
    repo.git(&["tag", "v9"]);
    let (_tmp, source) = source_with(Some(api));
    let listing = source
        .list_via(&repo.url(), Some(("octo", "hello")), &LogQuery::default())
        .await
        .unwrap();
    assert_eq!(listing.via, Via::Git);
    let reason = listing.fallback.expect("a fallback reason");
    assert!(want(&reason), "unexpected reason {reason}");
    assert_eq!(shas(&listing.commits), rev_list(repo.path(), &["--all"]));
    assert!(!fake.paths().is_empty(), "the API was tried first");
}

#[tokio::test]
async fn rate_limited_403_falls_back_to_git() {
    let fake = FakeApi::start(|_, _| {
        Reply::status(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1900000000"),
            ],
        )
    })
    .await;
    let api = GithubApi::new(&fake.base(), None);
    assert_falls_back(api, &fake, |e| {
        *e == ForgeError::RateLimited {
            reset: Some(1_900_000_000),
        }
    })
    .await;
}

#[tokio::test]
async fn too_many_requests_429_falls_back_to_git() {
    let fake = FakeApi::start(|_, _| Reply::status(429, &[("retry-after", "60")])).await;
    let api = GithubApi::new(&fake.base(), None);
    assert_falls_back(api, &fake, |e| matches!(e, ForgeError::RateLimited { .. })).await;
}

#[tokio::test]
async fn rate_limit_exhausted_mid_listing_falls_back_to_git() {
    let fake = FakeApi::start(|path, port| {
        let r = hello_routes(path, port);
        if path.contains("/commits?") {
            let mut r = r;
            r.headers.retain(|(k, _)| k != "x-ratelimit-remaining");
            r.header("x-ratelimit-remaining", "0")
        } else {
            r
        }
    })
    .await;
    let api = GithubApi::new(&fake.base(), None);
    assert_falls_back(api, &fake, |e| matches!(e, ForgeError::RateLimited { .. })).await;
}

#[tokio::test]
async fn server_error_falls_back_to_git() {
    let fake = FakeApi::start(|_, _| Reply::status(502, &[])).await;
    let api = GithubApi::new(&fake.base(), None);
    assert_falls_back(api, &fake, |e| *e == ForgeError::Status(502)).await;
}

#[tokio::test]
async fn slow_api_times_out_and_falls_back_to_git() {
    let fake = FakeApi::start(|_, _| Reply {
        delay: Duration::from_secs(10),
        ..Reply::json(json!([]))
    })
    .await;
    let mut api = GithubApi::new(&fake.base(), None);
    api.timeout = Duration::from_millis(300);
    assert_falls_back(api, &fake, |e| *e == ForgeError::Timeout).await;
}

#[tokio::test]
async fn listing_over_the_page_budget_falls_back_to_git() {
    let fake = FakeApi::start(hello_routes).await;
    let mut api = GithubApi::new(&fake.base(), None);
    api.max_pages = 3;
    assert_falls_back(api, &fake, |e| *e == ForgeError::TooManyPages(3)).await;
}

#[tokio::test]
async fn pagination_links_to_other_hosts_are_not_followed_with_the_token() {
    let elsewhere = FakeApi::start(|_, _| Reply::json(json!([]))).await;
    let other = elsewhere.port;
    let fake = FakeApi::start(move |path, _| {
        Reply::json(json!([])).header(
            "link",
            &format!("<http://127.0.0.1:{other}{path}&page=2>; rel=\"next\""),
        )
    })
    .await;
    let api = GithubApi::new(&fake.base(), Some("secret".into()));
    assert_falls_back(api, &fake, |e| matches!(e, ForgeError::ForeignLink(_))).await;
    assert!(
        elsewhere.paths().is_empty(),
        "the token went to another origin"
    );
}

#[tokio::test]
async fn without_an_api_or_for_other_hosts_git_is_used_directly() {
    let repo = Repo::new();
    repo.commit("x\n");
    let (_tmp, source) = source_with(None);
    let listing = source
        .list(&repo.url(), &LogQuery::default())
        .await
        .unwrap();
    assert_eq!((listing.via, listing.fallback), (Via::Git, None));
    let fake = FakeApi::start(hello_routes).await;
    let (_tmp2, source) = source_with(Some(GithubApi::new(&fake.base(), None)));
    let listing = source
        .list(&repo.url(), &LogQuery::default())
        .await
        .unwrap();
    assert_eq!(
        listing.via,
        Via::Git,
        "a file:// URL is not a GitHub repository"
    );
    assert!(fake.paths().is_empty());
    let _ = GitOptions::default();
}
