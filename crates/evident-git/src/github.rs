//! Listing commits through the GitHub REST API, so a github.com repository can be shown
//! without cloning it. Any failure (rate limit, server error, timeout, a listing too large
//! for the page budget) is a [`ForgeError`], upon which [`crate::CommitSource`] falls back
//! to git.
//!
//! What the API gives differs slightly from git: times come back in UTC (offsets are 0), and
//! messages lose their trailing newline (we restore one).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::commit::{is_full_sha, Commit};
use crate::listing::LogQuery;

/// Why the GitHub API could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// 403/429 with an exhausted rate limit (or `retry-after`).
    #[error("GitHub API rate limit exhausted (resets at {reset:?})")]
    RateLimited {
        /// Unix time of `x-ratelimit-reset`, when given.
        reset: Option<i64>,
    },
    /// Any other unsuccessful status.
    #[error("GitHub API answered {0}")]
    Status(u16),
    /// Connection or protocol trouble.
    #[error("GitHub API request failed: {0}")]
    Http(String),
    /// The listing did not finish within [`GithubApi::timeout`].
    #[error("GitHub API listing timed out")]
    Timeout,
    /// The response was not the JSON we expect.
    #[error("unexpected GitHub API response: {0}")]
    Decode(String),
    /// The listing needs more than [`GithubApi::max_pages`] requests: git is cheaper.
    #[error("GitHub API listing would need more than {0} pages")]
    TooManyPages(usize),
    /// A pagination link to another origin (never followed: it would receive the token).
    #[error("GitHub API pagination link leaves {0}")]
    ForeignLink(String),
    /// The query needs something the API cannot do (e.g. excluding known commits).
    #[error("not supported by the GitHub API: {0}")]
    Unsupported(&'static str),
    /// `--branch` named no branch or tag.
    #[error("no branch or tag named '{0}'")]
    UnknownRef(String),
}

/// A GitHub REST API client for commit listings.
#[derive(Clone)]
pub struct GithubApi {
    /// API root, `https://api.github.com` (or `https://HOST/api/v3` for GitHub Enterprise).
    pub api_base: String,
    /// Optional token, sent as `Authorization: Bearer` (never to another origin).
    pub token: Option<String>,
    /// Deadline for a whole listing.
    pub timeout: Duration,
    /// Most requests one listing may make before giving way to git.
    pub max_pages: usize,
    client: reqwest::Client,
}

impl fmt::Debug for GithubApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApi")
            .field("api_base", &self.api_base)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("max_pages", &self.max_pages)
            .finish()
    }
}

impl Default for GithubApi {
    fn default() -> Self {
        GithubApi::new("https://api.github.com", None)
    }
}

#[derive(Deserialize)]
struct ApiRef {
    name: String,
    commit: ApiSha,
}

#[derive(Deserialize)]
struct ApiSha {
    sha: String,
}

#[derive(Deserialize)]
struct ApiCommit {
    sha: String,
    commit: ApiCommitBody,
    #[serde(default)]
    parents: Vec<ApiSha>,
}

#[derive(Deserialize)]
struct ApiCommitBody {
    author: Option<ApiPerson>,
    committer: Option<ApiPerson>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
struct ApiPerson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    date: Option<String>,
}

impl GithubApi {
    /// A client for `api_base` with an optional token; 20 s deadline, 30 pages.
    pub fn new(api_base: &str, token: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("evident/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        GithubApi {
            api_base: api_base.trim_end_matches('/').to_string(),
            token,
            timeout: Duration::from_secs(20),
            max_pages: 30,
            client,
        }
    }

    /// Commits of `owner/repo` selected by `query`, newest first, each once.
    pub async fn list_commits(
        &self,
        owner: &str,
        repo: &str,
        query: &LogQuery,
    ) -> Result<Vec<Commit>, ForgeError> {
        if !query.exclude.is_empty() {
            return Err(ForgeError::Unsupported("excluding known commits"));
        }
        tokio::time::timeout(self.timeout, self.list_inner(owner, repo, query))
            .await
            .map_err(|_| ForgeError::Timeout)?
    }

    async fn list_inner(
        &self,
        owner: &str,
        repo: &str,
        query: &LogQuery,
    ) -> Result<Vec<Commit>, ForgeError> {
        let mut pages = 0usize;
        let base = format!("{}/repos/{owner}/{repo}", self.api_base);
        let branches: Vec<ApiRef> = self
            .get_all(&format!("{base}/branches?per_page=100"), &mut pages, None)
            .await?;
        let tags: Vec<ApiRef> = self
            .get_all(&format!("{base}/tags?per_page=100"), &mut pages, None)
            .await?;
        let mut refs_by_sha: HashMap<String, Vec<String>> = HashMap::new();
        let mut named: Vec<(String, String)> = Vec::new();
        for (prefix, list) in [("refs/heads/", &branches), ("refs/tags/", &tags)] {
            for r in list {
                let full = format!("{prefix}{}", r.name);
                refs_by_sha
                    .entry(r.commit.sha.clone())
                    .or_default()
                    .push(full.clone());
                named.push((full, r.commit.sha.clone()));
            }
        }
        let tips: Vec<String> = match &query.branch {
            Some(b) => {
                let wanted = [
                    b.clone(),
                    format!("refs/heads/{b}"),
                    format!("refs/tags/{b}"),
                ];
                let sha = wanted
                    .iter()
                    .find_map(|w| named.iter().find(|(n, _)| n == w))
                    .map(|(_, sha)| sha.clone())
                    .ok_or_else(|| ForgeError::UnknownRef(b.clone()))?;
                vec![sha]
            }
            None => {
                let mut seen = HashSet::new();
                named
                    .iter()
                    .filter(|(_, s)| seen.insert(s.clone()))
                    .map(|(_, s)| s.clone())
                    .collect()
            }
        };
        let since = query
            .since
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| format!("&since={t}"))
            .unwrap_or_default();
        // With one tip the API's order is git's order and `limit` can stop paging early.
        let stop_at = if tips.len() == 1 { query.limit } else { None };
        let mut seen: HashSet<String> = HashSet::new();
        let mut commits: Vec<Commit> = Vec::new();
        for tip in tips {
            if seen.contains(&tip) {
                // Already listed with all its ancestors as part of another tip's history.
                continue;
            }
            if !is_full_sha(&tip) {
                return Err(ForgeError::Decode(format!("bad sha {tip:?}")));
            }
            let url = format!("{base}/commits?sha={tip}&per_page=100{since}");
            let mut batch: Vec<ApiCommit> = Vec::new();
            self.get_pages(&url, &mut pages, stop_at, &mut batch)
                .await?;
            for c in batch {
                if seen.insert(c.sha.clone()) {
                    commits.push(convert(c, &refs_by_sha)?);
                }
            }
        }
        if let Some(since) = query.since {
            commits.retain(|c| c.committer_time >= since);
        }
        commits.sort_by_key(|c| std::cmp::Reverse(c.committer_time));
        if let Some(limit) = query.limit {
            commits.truncate(limit);
        }
        Ok(commits)
    }

    async fn get_all<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        pages: &mut usize,
        stop_at: Option<usize>,
    ) -> Result<Vec<T>, ForgeError> {
        let mut out = Vec::new();
        self.get_pages(url, pages, stop_at, &mut out).await?;
        Ok(out)
    }

    /// Follow `Link: <...>; rel="next"` from `url`, appending every item to `out`.
    async fn get_pages<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        pages: &mut usize,
        stop_at: Option<usize>,
        out: &mut Vec<T>,
    ) -> Result<(), ForgeError> {
        let mut next = Some(url.to_string());
        while let Some(url) = next.take() {
            if !same_origin(&url, &self.api_base) {
                return Err(ForgeError::ForeignLink(url));
            }
            *pages += 1;
            if *pages > self.max_pages {
                return Err(ForgeError::TooManyPages(self.max_pages));
            }
            let mut req = self
                .client
                .get(&url)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28");
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| ForgeError::Http(e.without_url().to_string()))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let remaining = header("x-ratelimit-remaining").and_then(|v| v.parse::<u64>().ok());
            let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok());
            if status == 429
                || (status == 403 && (remaining == Some(0) || header("retry-after").is_some()))
            {
                return Err(ForgeError::RateLimited { reset });
            }
            if !(200..300).contains(&status) {
                return Err(ForgeError::Status(status));
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| ForgeError::Http(e.without_url().to_string()))?;
            let items: Vec<T> =
                serde_json::from_slice(&body).map_err(|e| ForgeError::Decode(e.to_string()))?;
            out.extend(items);
            next = header("link").and_then(|l| next_link(&l));
            if next.is_some() && remaining == Some(0) {
                return Err(ForgeError::RateLimited { reset });
            }
            if stop_at.is_some_and(|n| out.len() >= n) {
                break;
            }
        }
        Ok(())
    }
}

fn convert(c: ApiCommit, refs_by_sha: &HashMap<String, Vec<String>>) -> Result<Commit, ForgeError> {
    if !is_full_sha(&c.sha) {
        return Err(ForgeError::Decode(format!("bad sha {:?}", c.sha)));
    }
    let author = c.commit.author.unwrap_or_default();
    let committer = c.commit.committer.unwrap_or_default();
    let mut message = c.commit.message;
    if !message.is_empty() && !message.ends_with('\n') {
        message.push('\n');
    }
    let mut refs = refs_by_sha.get(&c.sha).cloned().unwrap_or_default();
    refs.sort();
    Ok(Commit {
        parents: c.parents.into_iter().map(|p| p.sha).collect(),
        author_time: seconds(author.date.as_deref()),
        author_name: author.name,
        author_email: author.email,
        author_offset_minutes: 0,
        committer_time: seconds(committer.date.as_deref()),
        committer_name: committer.name,
        committer_email: committer.email,
        committer_offset_minutes: 0,
        message,
        refs,
        sha: c.sha,
    })
}

fn seconds(date: Option<&str>) -> i64 {
    date.and_then(|d| d.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .unwrap_or(0)
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// True when `url` is on the same scheme, host and port as `base`.
fn same_origin(url: &str, base: &str) -> bool {
    let origin = |u: &str| -> Option<String> {
        let (scheme, rest) = u.split_once("://")?;
        let host = rest.split(['/', '?', '#']).next()?;
        Some(format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        ))
    };
    match (origin(url), origin(base)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_is_found() {
        let h = r#"<https://api.github.com/repositories/1/commits?page=2>; rel="next", <https://api.github.com/repositories/1/commits?page=9>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/commits?page=2")
        );
        assert_eq!(next_link(r#"<https://x/y?page=1>; rel="prev""#), None);
    }

    #[test]
    fn only_same_origin_links_are_followed() {
        assert!(same_origin(
            "https://api.github.com/x?page=2",
            "https://api.github.com"
        ));
        assert!(!same_origin(
            "https://evil.example/x",
            "https://api.github.com"
        ));
        assert!(!same_origin(
            "http://api.github.com/x",
            "https://api.github.com"
        ));
        assert!(!same_origin(
            "https://api.github.com.evil/x",
            "https://api.github.com"
        ));
    }

    #[test]
    fn token_is_not_debug_printed() {
        let api = GithubApi::new("https://api.github.com", Some("ghp_secret".into()));
        assert!(!format!("{api:?}").contains("ghp_secret"));
    }
}
