//! Tracked repositories, commit pages, search.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_core::api::*;

use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::repos::{to_api, RepoIndex};
use crate::AppState;

pub async fn add(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<RepoRequest>,
) -> ApiResult<(StatusCode, Json<Repo>)> {
    let org = caller.org(&app, &org, Access::Write).await?;
    let repo = app.repos.add(&org, &req.name, &req.url).await?;
    Ok((StatusCode::CREATED, Json(repo)))
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<Repo>>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    Ok(Json(
        app.store.repos(org.id).await?.iter().map(to_api).collect(),
    ))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<Json<Repo>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    Ok(Json(app.repos.get(&org, &name).await?))
}

pub async fn remove(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let org = caller.org(&app, &org, Access::Write).await?;
    app.repos.remove(&org, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn refresh(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<Json<Repo>> {
    let org = caller.org(&app, &org, Access::Write).await?;
    let record = app.repos.record(&org, &name).await?;
    app.repos.refresh(&record).await?;
    Ok(Json(app.repos.get(&org, &name).await?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitQuery {
    page: Option<u64>,
    per_page: Option<u64>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

/// A page of a tracked repository's commits, newest first: JSON (with `Link` and
/// `X-Total-Count` headers), or HTML for a browser.
pub async fn commits(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path((org, name)): Path<(String, String)>,
    Query(q): Query<CommitQuery>,
) -> ApiResult<Response> {
    q.paging()?;
    let org = caller.org(&app, &org, Access::Read).await?;
    let record = app.repos.record(&org, &name).await?;
    let index = app.repos.index(&record).await?;
    let base = format!("/api/v1/orgs/{}/repos/{name}/commits?", org.name);
    page_response(
        &app,
        Some(record.id),
        &index,
        &format!("{} / {name}", org.name),
        &name,
        &base,
        &q,
        &headers,
    )
    .await
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdHocQuery {
    url: String,
    page: Option<u64>,
    per_page: Option<u64>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

/// `GET /commits?url=`: commits of a repository nobody tracks. The mirror is kept in a
/// bounded cache for the next request; concurrent requests for one URL share one clone.
pub async fn adhoc(
    State(app): State<Arc<AppState>>,
    _caller: Caller,
    headers: HeaderMap,
    Query(raw): Query<AdHocQuery>,
) -> ApiResult<Response> {
    let q = CommitQuery {
        page: raw.page,
        per_page: raw.per_page,
        reference: raw.reference,
    };
    q.paging()?;
    let index = app.repos.adhoc(&raw.url).await?;
    let shown = app.repos.check_url(&raw.url)?.redacted();
    let base = format!("/api/v1/commits?url={}&", encode(&raw.url));
    page_response(&app, None, &index, &shown, &shown, &base, &q, &headers).await
}

impl CommitQuery {
    fn paging(&self) -> ApiResult<(u64, u64)> {
        super::check_paging(self.page, self.per_page, 30)
    }
}

/// Renders one page of an index as JSON or HTML. `base` is the URL prefix for `Link`s.
#[allow(clippy::too_many_arguments)]
async fn page_response(
    app: &AppState,
    repo_id: Option<i64>,
    index: &RepoIndex,
    title: &str,
    name: &str,
    base: &str,
    q: &CommitQuery,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let (page, per_page) = q.paging()?;
    // All commits need no list: a page of them is a range of positions.
    let selected = index.select(q.reference.as_deref())?;
    let total = selected.as_ref().map_or(index.len(), Vec::len) as u64;
    let start = ((page - 1) * per_page).min(total) as usize;
    let end = (start + per_page as usize).min(total as usize);
    let rows: Vec<usize> = match &selected {
        Some(s) => s[start..end].to_vec(),
        None => (start..end).collect(),
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        let commits = index.commits_at(app.store.as_ref(), repo_id, &rows).await?;
        return Ok(html_page(title, &commits, page, per_page, total));
    }
    let json = index.json_of(app.store.as_ref(), repo_id, &rows).await?;
    let mut body = String::with_capacity(rows.len() * 600 + 128);
    body.push_str(&format!(
        "{{\"repo\":{},\"page\":{page},\"per_page\":{per_page},\"total\":{total},\"commits\":[",
        serde_json::to_string(name).expect("string")
    ));
    for (k, commit) in json.iter().enumerate() {
        if k > 0 {
            body.push(',');
        }
        body.push_str(commit);
    }
    body.push_str("]}");
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    let h = resp.headers_mut();
    h.insert("x-total-count", HeaderValue::from(total));
    let last = total.div_ceil(per_page).max(1);
    let link = |p: u64, rel: &str| {
        let mut url = format!("{base}page={p}&per_page={per_page}");
        if let Some(r) = &q.reference {
            url.push_str("&ref=");
            url.push_str(&encode(r));
        }
        format!("<{url}>; rel=\"{rel}\"")
    };
    let mut links = vec![link(1, "first"), link(last, "last")];
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
    }
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        h.insert(header::LINK, v);
    }
    Ok(resp)
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html_page(title: &str, commits: &[Commit], page: u64, per_page: u64, total: u64) -> Response {
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · commits</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}\
         code{{font:13px ui-monospace,monospace}}.ref{{background:#eef;border-radius:3px;padding:0 .3em;margin-right:.3em}}</style>\
         </head><body><h1>{t}</h1><p>{total} commits, page {page}</p>\
         <table><tr><th>commit</th><th>subject</th><th>author</th><th>date</th></tr>",
        t = escape(title)
    );
    for c in commits {
        let subject = c.message.lines().next().unwrap_or("");
        let refs: String = c
            .refs
            .iter()
            .map(|r| {
                format!(
                    "<span class=\"ref\">{}</span>",
                    escape(r.rsplit('/').next().unwrap_or(r))
                )
            })
            .collect();
        html.push_str(&format!(
            "<tr><td><code title=\"{sha}\">{short}</code></td><td>{refs}{subject}</td><td>{author}</td><td>{date}</td></tr>",
            sha = c.sha,
            short = &c.sha[..c.sha.len().min(10)],
            subject = escape(subject),
            author = escape(&c.author.name),
            date = c.author.time,
        ));
    }
    html.push_str("</table><p>");
    let last = total.div_ceil(per_page).max(1);
    if page > 1 {
        html.push_str(&format!(
            "<a href=\"?page={}&amp;per_page={per_page}\">newer</a> ",
            page - 1
        ));
    }
    if page < last {
        html.push_str(&format!(
            "<a href=\"?page={}&amp;per_page={per_page}\">older</a>",
            page + 1
        ));
    }
    html.push_str("</p></body></html>");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetweenQuery {
    from: String,
    to: String,
}

/// The commits `to` brings over `from`, newest first.
pub async fn between(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    Query(q): Query<BetweenQuery>,
) -> ApiResult<Json<Vec<Commit>>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let record = app.repos.record(&org, &name).await?;
    let index = app.repos.index(&record).await?;
    let ids = index.between(&q.from, &q.to)?;
    Ok(Json(
        index
            .commits_at(app.store.as_ref(), Some(record.id), &ids)
            .await?,
    ))
}

/// A commit or fingerprint prefix: matching commits, artifacts built from them, and where
/// those run or ran.
pub async fn search(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, prefix)): Path<(String, String)>,
) -> ApiResult<Json<SearchResult>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 4 || prefix.len() > 64 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "search for at least 4 hex characters of a commit sha or fingerprint",
        ));
    }
    let commits: Vec<RepoCommit> = app
        .store
        .commits_by_prefix(org.id, &prefix)
        .await?
        .into_iter()
        .map(|(repo, commit)| RepoCommit { repo, commit })
        .collect();
    let mut records = app
        .store
        .artifacts_by_commit_prefix(org.id, &prefix)
        .await?;
    for c in &commits {
        if c.commit.sha != prefix {
            records.extend(
                app.store
                    .artifacts_by_commit_prefix(org.id, &c.commit.sha)
                    .await?,
            );
        }
    }
    if prefix.len() >= 7 {
        let by_fp = evident_core::ArtifactRef::Bare {
            prefix: prefix.clone(),
        };
        records.extend(app.store.find_artifacts(org.id, &by_fp).await?);
    }
    records.sort_by_key(|a| a.id);
    records.dedup_by_key(|a| a.id);
    let mut artifacts = Vec::new();
    for summary in app.ledger.summaries(records).await? {
        let runs = app
            .store
            .runs_of(org.id, &summary.fingerprint)
            .await?
            .into_iter()
            .map(|h| RunWhere {
                environment: h.environment,
                from_snapshot: h.run.from_snapshot,
                to_snapshot: h.run.to_snapshot,
                replicas: h.run.replicas,
            })
            .collect();
        artifacts.push(ArtifactWhere {
            artifact: summary,
            runs,
        });
    }
    Ok(Json(SearchResult { commits, artifacts }))
}

/// Which artifact an unknown commit is part of: per pipeline, the first artifact whose
/// commit includes it.
pub async fn contains(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, commit)): Path<(String, String)>,
) -> ApiResult<Json<Contains>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let (records, _) = app.store.list_artifacts(org.id, None, 1, 1_000_000).await?;
    let (repo, sha, found) = app
        .repos
        .first_artifacts_containing(&org, &commit, records)
        .await?;
    Ok(Json(Contains {
        commit: sha,
        repo,
        artifacts: app.ledger.summaries(found).await?,
    }))
}
