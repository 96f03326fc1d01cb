//! Persistence for evident: the [`Store`] trait and its backends, chosen by URL scheme.
//!
//! Every write appends an event to the org's hash-chained ledger and updates the projections
//! that queries read, in one transaction.

mod error;
pub mod model;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use evident_core::api::{
    ApprovalReport, ArtifactReport, DeploymentReport, EnvironmentRequest, EvidenceReport,
    PipelineRequest, ReportOutcome, Role, SnapshotSpan, Visibility,
};
use evident_core::snapshot::EnvState;
use evident_core::{ArtifactRef, Fingerprint};
use jiff::Timestamp;

pub use error::StoreError;
pub use model::*;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Snapshots between keyframes; bounds the work of reading an old snapshot.
pub const KEYFRAME_EVERY: u64 = 128;

/// Opens the store a URL names: `sqlite://path` (created if missing) or `sqlite::memory:`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Invalid(format!(
            "unsupported database URL {:?}: use sqlite://PATH",
            redact(url)
        )))
    }
}

/// A URL with any password replaced, safe to print.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Everything evident keeps. Each backend implements it; the conformance tests run against all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- users, tokens, orgs ----
    async fn create_user(&self, name: &str, site_admin: bool, now: Timestamp)
        -> Result<UserRecord>;
    async fn user(&self, name: &str) -> Result<Option<UserRecord>>;
    async fn users_count(&self) -> Result<u64>;
    async fn create_token(
        &self,
        user_id: i64,
        token_id: &str,
        secret_hash: &[u8],
        description: &str,
        now: Timestamp,
    ) -> Result<()>;
    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>>;
    /// Creates an org; `admin` (if any) becomes its first admin.
    async fn create_org(
        &self,
        name: &str,
        visibility: Visibility,
        admin: Option<i64>,
        now: Timestamp,
    ) -> Result<OrgRecord>;
    async fn org(&self, name: &str) -> Result<Option<OrgRecord>>;
    async fn orgs(&self) -> Result<Vec<OrgRecord>>;
    async fn set_member(
        &self,
        org: &OrgRecord,
        user_id: i64,
        role: Role,
        now: Timestamp,
    ) -> Result<()>;
    async fn role(&self, org_id: i64, user_id: i64) -> Result<Option<Role>>;

    // ---- pipelines and CI reports ----
    async fn put_pipeline(
        &self,
        org: &OrgRecord,
        name: &str,
        req: &PipelineRequest,
        now: Timestamp,
    ) -> Result<PipelineRecord>;
    async fn pipelines(&self, org_id: i64) -> Result<Vec<PipelineRecord>>;
    async fn pipeline(&self, org_id: i64, name: &str) -> Result<Option<PipelineRecord>>;
    async fn report_artifact(
        &self,
        org: &OrgRecord,
        pipeline: &str,
        req: &ArtifactReport,
        now: Timestamp,
    ) -> Result<ArtifactRecord>;
    async fn report_evidence(
        &self,
        org: &OrgRecord,
        req: &EvidenceReport,
        now: Timestamp,
    ) -> Result<ArtifactRecord>;
    /// Returns the artifact and the approval number.
    async fn report_approval(
        &self,
        org: &OrgRecord,
        req: &ApprovalReport,
        now: Timestamp,
    ) -> Result<(ArtifactRecord, u64)>;
    /// Returns the artifact and the deployment number.
    async fn report_deployment(
        &self,
        org: &OrgRecord,
        req: &DeploymentReport,
        now: Timestamp,
    ) -> Result<(ArtifactRecord, u64)>;
    /// Artifacts matching a reference, newest first.
    async fn find_artifacts(&self, org_id: i64, r: &ArtifactRef) -> Result<Vec<ArtifactRecord>>;
    /// Artifacts with any of these fingerprints (for joining snapshots with provenance).
    async fn artifacts_by_fingerprint(
        &self,
        org_id: i64,
        fingerprints: &[Fingerprint],
    ) -> Result<Vec<ArtifactRecord>>;
    async fn list_artifacts(
        &self,
        org_id: i64,
        pipeline: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<ArtifactRecord>, u64)>;
    /// Evidence of these artifacts, oldest first.
    async fn evidence(&self, artifact_ids: &[i64]) -> Result<Vec<EvidenceRecord>>;
    async fn approvals(&self, artifact_id: i64) -> Result<Vec<ApprovalRecord>>;
    async fn deployments(&self, artifact_id: i64) -> Result<Vec<DeploymentRecord>>;

    // ---- environments and snapshots ----
    async fn put_environment(
        &self,
        org: &OrgRecord,
        name: &str,
        req: &EnvironmentRequest,
        now: Timestamp,
    ) -> Result<EnvRecord>;
    async fn environments(&self, org_id: i64) -> Result<Vec<EnvRecord>>;
    async fn environment(&self, org_id: i64, name: &str) -> Result<Option<EnvRecord>>;
    /// Records what runs now: a new snapshot if it differs from the latest, else a heartbeat.
    async fn report_environment(
        &self,
        org: &OrgRecord,
        env_name: &str,
        state: &EnvState,
        now: Timestamp,
    ) -> Result<ReportOutcome>;
    /// When snapshot `number` was taken.
    async fn snapshot_time(&self, env_id: i64, number: u64) -> Result<Option<Timestamp>>;
    /// The snapshot in force at `at`, if any was.
    async fn snapshot_at(&self, env_id: i64, at: Timestamp) -> Result<Option<u64>>;
    /// The runs in force in snapshot `number`.
    async fn runs_at(&self, env_id: i64, number: u64) -> Result<Vec<RunRecord>>;
    /// Snapshots newest first, with the time each ended.
    async fn snapshot_spans(
        &self,
        env_id: i64,
        page: u64,
        per_page: u64,
    ) -> Result<Vec<SnapshotSpan>>;
    /// Every run of a fingerprint in any environment of the org, with snapshot times.
    async fn runs_of(&self, org_id: i64, fingerprint: &Fingerprint) -> Result<Vec<RunHistory>>;

    // ---- git repositories ----
    /// Starts tracking a repository; a conflict if the name is taken.
    async fn create_repo(
        &self,
        org: &OrgRecord,
        name: &str,
        url: &str,
        now: Timestamp,
    ) -> Result<RepoRecord>;
    async fn repos(&self, org_id: i64) -> Result<Vec<RepoRecord>>;
    async fn repo(&self, org_id: i64, name: &str) -> Result<Option<RepoRecord>>;
    /// Every tracked repository of every org, for the background refresher.
    async fn all_repos(&self) -> Result<Vec<(OrgRecord, RepoRecord)>>;
    async fn delete_repo(&self, org: &OrgRecord, name: &str, now: Timestamp) -> Result<()>;
    /// Records a successful refresh: the new ref set, new commits, and commits no longer
    /// reachable. Returns the repository's generation afterwards.
    async fn apply_refresh(
        &self,
        repo_id: i64,
        refs: &[(String, String)],
        new_commits: &[evident_core::api::Commit],
        removed: &[String],
        now: Timestamp,
    ) -> Result<i64>;
    /// Adds commits to the index ahead of [`Store::apply_refresh`], so a large first listing
    /// can be stored in batches as git produces it.
    async fn insert_commits(
        &self,
        repo_id: i64,
        commits: &[evident_core::api::Commit],
    ) -> Result<()>;
    /// Records a failed refresh; the index keeps its previous state.
    async fn refresh_failed(&self, repo_id: i64, error: &str, now: Timestamp) -> Result<()>;
    /// Reachable commits of a repository (refs left empty), in no particular order.
    async fn repo_commits(&self, repo_id: i64) -> Result<Vec<evident_core::api::Commit>>;
    async fn repo_refs(&self, repo_id: i64) -> Result<Vec<(String, String)>>;
    /// The commit graph of a repository: (sha, parents, committer time in Unix seconds) of
    /// every reachable commit, without the bulky fields.
    async fn repo_graph(&self, repo_id: i64) -> Result<Vec<(String, Vec<String>, i64)>>;
    /// Reachable or not, the commits with these shas (in no particular order).
    async fn commits_by_shas(
        &self,
        repo_id: i64,
        shas: &[&str],
    ) -> Result<Vec<evident_core::api::Commit>>;
    /// Commits whose sha starts with `prefix`, in any repository of the org.
    async fn commits_by_prefix(
        &self,
        org_id: i64,
        prefix: &str,
    ) -> Result<Vec<(String, evident_core::api::Commit)>>;
    /// Artifacts whose git commit starts with `prefix`, in any pipeline.
    async fn artifacts_by_commit_prefix(
        &self,
        org_id: i64,
        prefix: &str,
    ) -> Result<Vec<ArtifactRecord>>;

    /// Flushes and closes connections (SQLite checkpoints its WAL into the database file).
    async fn close(&self);

    // ---- ledger ----
    async fn events(&self, org_id: i64, after_seq: i64, limit: u64) -> Result<Vec<EventRecord>>;
}
