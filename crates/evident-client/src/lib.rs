//! A typed client for evident's `/api/v1`, used by the CLI and the tests.

use std::time::Duration;

use evident_core::api::*;
use evident_core::snapshot::EnvironmentReport;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("invalid server address {0:?}: use e.g. http://127.0.0.1:8080")]
    Host(String),
    #[error("cannot reach the server at {host}: {source}")]
    Connect {
        host: String,
        source: reqwest::Error,
    },
    #[error("unexpected response from the server: {0}")]
    Decode(String),
}

impl ClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// A connection to one evident server as one user.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Client {
    pub fn new(host: &str, token: Option<String>) -> Result<Self> {
        let base =
            Url::parse(host.trim_end_matches('/')).map_err(|_| ClientError::Host(host.into()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::Host(host.into()));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("evident/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ClientError::Connect {
                host: host.into(),
                source: e,
            })?;
        Ok(Self { http, base, token })
    }

    /// The URL of `/api/v1/<segments...>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new")
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        url
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T> {
        let mut req = self.http.request(method, url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ClientError::Connect {
            host: self.base.to_string(),
            source: e,
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => (e.code, e.error),
                Err(_) => (
                    "http".to_string(),
                    format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
                ),
            };
            return Err(ClientError::Api {
                status,
                code,
                message,
            });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        self.call::<(), T>(Method::GET, url, None).await
    }

    // ---- admin ----

    pub async fn create_user(&self, name: &str, site_admin: bool) -> Result<NewToken> {
        let body = CreateUser {
            name: name.into(),
            site_admin,
        };
        self.call(Method::POST, self.url(&["users"]), Some(&body))
            .await
    }

    pub async fn create_org(&self, name: &str, visibility: Visibility) -> Result<Org> {
        let body = CreateOrg {
            name: name.into(),
            visibility,
        };
        self.call(Method::POST, self.url(&["orgs"]), Some(&body))
            .await
    }

    pub async fn orgs(&self) -> Result<Vec<Org>> {
        self.get(self.url(&["orgs"])).await
    }

    pub async fn set_member(&self, org: &str, user: &str, role: Role) -> Result<()> {
        let url = self.url(&["orgs", org, "members", user]);
        self.call(Method::PUT, url, Some(&SetMember { role })).await
    }

    // ---- pipelines and CI ----

    pub async fn pipelines(&self, org: &str) -> Result<Vec<Pipeline>> {
        self.get(self.url(&["orgs", org, "pipelines"])).await
    }

    pub async fn pipeline(&self, org: &str, name: &str) -> Result<Pipeline> {
        self.get(self.url(&["orgs", org, "pipelines", name])).await
    }

    pub async fn put_pipeline(
        &self,
        org: &str,
        name: &str,
        req: &PipelineRequest,
    ) -> Result<Pipeline> {
        let url = self.url(&["orgs", org, "pipelines", name]);
        self.call(Method::PUT, url, Some(req)).await
    }

    pub async fn report_artifact(
        &self,
        org: &str,
        pipeline: &str,
        req: &ArtifactReport,
    ) -> Result<Recorded> {
        let url = self.url(&["orgs", org, "pipelines", pipeline, "artifacts"]);
        self.call(Method::POST, url, Some(req)).await
    }

    pub async fn report_evidence(&self, org: &str, req: &EvidenceReport) -> Result<Recorded> {
        self.call(
            Method::POST,
            self.url(&["orgs", org, "evidence"]),
            Some(req),
        )
        .await
    }

    pub async fn report_approval(&self, org: &str, req: &ApprovalReport) -> Result<Recorded> {
        self.call(
            Method::POST,
            self.url(&["orgs", org, "approvals"]),
            Some(req),
        )
        .await
    }

    pub async fn report_deployment(&self, org: &str, req: &DeploymentReport) -> Result<Recorded> {
        self.call(
            Method::POST,
            self.url(&["orgs", org, "deployments"]),
            Some(req),
        )
        .await
    }

    pub async fn artifact(&self, org: &str, reference: &str) -> Result<Artifact> {
        self.get(self.url(&["orgs", org, "artifacts", reference]))
            .await
    }

    pub async fn artifacts(
        &self,
        org: &str,
        pipeline: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<ArtifactSummary>> {
        let mut url = self.url(&["orgs", org, "artifacts"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("page", &page.to_string())
                .append_pair("per_page", &per_page.to_string());
            if let Some(p) = pipeline {
                q.append_pair("pipeline", p);
            }
        }
        self.get(url).await
    }

    // ---- environments ----

    pub async fn environments(&self, org: &str) -> Result<Vec<Environment>> {
        self.get(self.url(&["orgs", org, "envs"])).await
    }

    pub async fn environment(&self, org: &str, env: &str) -> Result<Environment> {
        self.get(self.url(&["orgs", org, "envs", env])).await
    }

    pub async fn put_environment(
        &self,
        org: &str,
        env: &str,
        req: &EnvironmentRequest,
    ) -> Result<Environment> {
        let url = self.url(&["orgs", org, "envs", env]);
        self.call(Method::PUT, url, Some(req)).await
    }

    pub async fn report_environment(
        &self,
        org: &str,
        env: &str,
        report: &EnvironmentReport,
    ) -> Result<ReportOutcome> {
        let url = self.url(&["orgs", org, "envs", env, "report"]);
        self.call(Method::PUT, url, Some(report)).await
    }

    pub async fn snapshot(&self, org: &str, snappish: &str) -> Result<Snapshot> {
        self.get(self.url(&["orgs", org, "snapshots", snappish]))
            .await
    }

    pub async fn diff(&self, org: &str, a: &str, b: &str, unchanged: bool) -> Result<SnapshotDiff> {
        let mut url = self.url(&["orgs", org, "diff"]);
        url.query_pairs_mut()
            .append_pair("a", a)
            .append_pair("b", b)
            .append_pair("unchanged", if unchanged { "true" } else { "false" });
        self.get(url).await
    }

    pub async fn log(
        &self,
        org: &str,
        env: &str,
        page: u64,
        per_page: u64,
    ) -> Result<Page<SnapshotSpan>> {
        let mut url = self.url(&["orgs", org, "envs", env, "log"]);
        url.query_pairs_mut()
            .append_pair("page", &page.to_string())
            .append_pair("per_page", &per_page.to_string());
        self.get(url).await
    }

    // ---- repositories ----

    pub async fn add_repo(&self, org: &str, name: &str, url: &str) -> Result<Repo> {
        let body = RepoRequest {
            name: name.into(),
            url: url.into(),
        };
        self.call(Method::POST, self.url(&["orgs", org, "repos"]), Some(&body))
            .await
    }

    pub async fn repos(&self, org: &str) -> Result<Vec<Repo>> {
        self.get(self.url(&["orgs", org, "repos"])).await
    }

    pub async fn remove_repo(&self, org: &str, name: &str) -> Result<()> {
        self.call::<(), ()>(
            Method::DELETE,
            self.url(&["orgs", org, "repos", name]),
            None,
        )
        .await
    }

    pub async fn refresh_repo(&self, org: &str, name: &str) -> Result<Repo> {
        let url = self.url(&["orgs", org, "repos", name, "refresh"]);
        self.call::<(), Repo>(Method::POST, url, None).await
    }

    pub async fn commits(
        &self,
        org: &str,
        repo: &str,
        page: u64,
        per_page: u64,
        reference: Option<&str>,
    ) -> Result<CommitPage> {
        let mut url = self.url(&["orgs", org, "repos", repo, "commits"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("page", &page.to_string())
                .append_pair("per_page", &per_page.to_string());
            if let Some(r) = reference {
                q.append_pair("ref", r);
            }
        }
        self.get(url).await
    }

    pub async fn between(
        &self,
        org: &str,
        repo: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<Commit>> {
        let mut url = self.url(&["orgs", org, "repos", repo, "between"]);
        url.query_pairs_mut()
            .append_pair("from", from)
            .append_pair("to", to);
        self.get(url).await
    }

    pub async fn search(&self, org: &str, prefix: &str) -> Result<SearchResult> {
        self.get(self.url(&["orgs", org, "search", prefix])).await
    }

    pub async fn contains(&self, org: &str, commit: &str) -> Result<Contains> {
        self.get(self.url(&["orgs", org, "contains", commit])).await
    }

    pub async fn diff_with_commits(&self, org: &str, a: &str, b: &str) -> Result<SnapshotDiff> {
        let mut url = self.url(&["orgs", org, "diff"]);
        url.query_pairs_mut()
            .append_pair("a", a)
            .append_pair("b", b)
            .append_pair("commits", "true");
        self.get(url).await
    }

    /// Commits of a repository the server does not track (`GET /commits?url=`).
    pub async fn adhoc_commits(&self, url: &str, page: u64, per_page: u64) -> Result<CommitPage> {
        let mut u = self.url(&["commits"]);
        u.query_pairs_mut()
            .append_pair("url", url)
            .append_pair("page", &page.to_string())
            .append_pair("per_page", &per_page.to_string());
        self.get(u).await
    }
}
