//! The embedded SQLite backend: WAL, one writer connection (writes are serialised in order,
//! which also makes snapshot numbering gap-free) and a pool of readers.

mod auth;
mod ci;
mod envs;
mod repos;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use evident_core::api::{
    ApprovalReport, ArtifactReport, DeploymentReport, EnvironmentRequest, EvidenceReport,
    PipelineRequest, ReportOutcome, Role, SnapshotSpan, Visibility,
};
use evident_core::ledger::event_hash;
use evident_core::snapshot::EnvState;
use evident_core::time::{from_millis, to_millis};
use evident_core::{ArtifactRef, Fingerprint};
use jiff::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::model::*;
use crate::{Result, Store, StoreError};

/// A store in one SQLite file.
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    _checkpointer: Option<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Self> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            // NORMAL in WAL mode: a committed transaction survives a process crash (kill -9);
            // only an OS crash or power loss can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // 4 MiB of page cache for the writer (readers get less, below): the working set
            // of queries is small, and memory is part of what the server promises.
            .pragma("cache_size", "-4000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // Checkpoints run beside the writer (see `Checkpointer`); this is only the
            // backstop should that fall behind.
            // A bulk index can grow the WAL well past this; it is truncated back afterwards.
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "16384")
                    .pragma("journal_size_limit", "33554432"),
            )
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        if memory {
            return Ok(Self {
                reader: writer.clone(),
                writer,
                _checkpointer: None,
            });
        }
        // Readers get half the writer's page cache: four of them, mostly short lookups.
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                options
                    .clone()
                    .read_only(true)
                    .pragma("cache_size", "-2000"),
            )
            .await?;
        let checkpointer = Checkpointer::start(
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?,
        );
        Ok(Self {
            writer,
            reader,
            _checkpointer: Some(checkpointer),
        })
    }
}

/// Copies committed pages from the WAL into the database file on its own connection, off
/// the writer's path. Left to SQLite's automatic checkpoint, the transaction that happens to
/// cross the threshold pays for the copy and its fsync, which made storing a large
/// history about 40 % slower. A PASSIVE checkpoint neither waits for nor blocks the writer
/// or the readers, and durability does not depend on it: a commit is durable in the WAL.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    const EVERY: Duration = Duration::from_millis(250);

    fn start(pool: SqlitePool) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Self::EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Appends an event to the org's chain inside the caller's transaction.
pub(crate) async fn append_event(
    conn: &mut SqliteConnection,
    org_id: i64,
    kind: &str,
    payload: &serde_json::Value,
    at: Timestamp,
) -> Result<()> {
    let row = sqlx::query("SELECT last_seq, last_hash FROM orgs WHERE id = ?")
        .bind(org_id)
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = row.get::<i64, _>(0) + 1;
    let prev: String = row.get(1);
    let payload = payload.to_string();
    let at_ms = to_millis(at);
    let hash = event_hash(&prev, seq, kind, at_ms, &payload);
    sqlx::query(
        "INSERT INTO events (org_id, seq, kind, at, payload, hash) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(org_id)
    .bind(seq)
    .bind(kind)
    .bind(at_ms)
    .bind(&payload)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE orgs SET last_seq = ?, last_hash = ? WHERE id = ?")
        .bind(seq)
        .bind(&hash)
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    from_millis(ms)
}

pub(crate) fn opt_ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(from_millis)
}

/// Maps a unique-constraint violation to a conflict with a readable message.
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(e),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(
        &self,
        name: &str,
        site_admin: bool,
        now: Timestamp,
    ) -> Result<UserRecord> {
        auth::create_user(&self.writer, name, site_admin, now).await
    }
    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        auth::user(&self.reader, name).await
    }
    async fn users_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u64)
    }
    async fn create_token(
        &self,
        user_id: i64,
        token_id: &str,
        secret_hash: &[u8],
        description: &str,
        now: Timestamp,
    ) -> Result<()> {
        auth::create_token(
            &self.writer,
            user_id,
            token_id,
            secret_hash,
            description,
            now,
        )
        .await
    }
    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>> {
        auth::token(&self.reader, token_id).await
    }
    async fn create_org(
        &self,
        name: &str,
        visibility: Visibility,
        admin: Option<i64>,
        now: Timestamp,
    ) -> Result<OrgRecord> {
        auth::create_org(&self.writer, name, visibility, admin, now).await
    }
    async fn org(&self, name: &str) -> Result<Option<OrgRecord>> {
        auth::org(&self.reader, name).await
    }
    async fn orgs(&self) -> Result<Vec<OrgRecord>> {
        auth::orgs(&self.reader).await
    }
    async fn set_member(
        &self,
        org: &OrgRecord,
        user_id: i64,
        role: Role,
        now: Timestamp,
    ) -> Result<()> {
        auth::set_member(&self.writer, org, user_id, role, now).await
    }
    async fn role(&self, org_id: i64, user_id: i64) -> Result<Option<Role>> {
        auth::role(&self.reader, org_id, user_id).await
    }

    async fn put_pipeline(
        &self,
        org: &OrgRecord,
        name: &str,
        req: &PipelineRequest,
        now: Timestamp,
    ) -> Result<PipelineRecord> {
        ci::put_pipeline(&self.writer, org, name, req, now).await
    }
    async fn pipelines(&self, org_id: i64) -> Result<Vec<PipelineRecord>> {
        ci::pipelines(&self.reader, org_id, None).await
    }
    async fn pipeline(&self, org_id: i64, name: &str) -> Result<Option<PipelineRecord>> {
        Ok(ci::pipelines(&self.reader, org_id, Some(name)).await?.pop())
    }
    async fn report_artifact(
        &self,
        org: &OrgRecord,
        pipeline: &str,
        req: &ArtifactReport,
        now: Timestamp,
    ) -> Result<ArtifactRecord> {
        ci::report_artifact(&self.writer, org, pipeline, req, now).await
    }
    async fn report_evidence(
        &self,
        org: &OrgRecord,
        req: &EvidenceReport,
        now: Timestamp,
    ) -> Result<ArtifactRecord> {
        ci::report_evidence(&self.writer, org, req, now).await
    }
    async fn report_approval(
        &self,
        org: &OrgRecord,
        req: &ApprovalReport,
        now: Timestamp,
    ) -> Result<(ArtifactRecord, u64)> {
        ci::report_approval(&self.writer, org, req, now).await
    }
    async fn report_deployment(
        &self,
        org: &OrgRecord,
        req: &DeploymentReport,
        now: Timestamp,
    ) -> Result<(ArtifactRecord, u64)> {
        ci::report_deployment(&self.writer, org, req, now).await
    }
    async fn find_artifacts(&self, org_id: i64, r: &ArtifactRef) -> Result<Vec<ArtifactRecord>> {
        ci::find_artifacts(&self.reader, org_id, r).await
    }
    async fn artifacts_by_fingerprint(
        &self,
        org_id: i64,
        fingerprints: &[Fingerprint],
    ) -> Result<Vec<ArtifactRecord>> {
        ci::artifacts_by_fingerprint(&self.reader, org_id, fingerprints).await
    }
    async fn list_artifacts(
        &self,
        org_id: i64,
        pipeline: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<ArtifactRecord>, u64)> {
        ci::list_artifacts(&self.reader, org_id, pipeline, page, per_page).await
    }
    async fn evidence(&self, artifact_ids: &[i64]) -> Result<Vec<EvidenceRecord>> {
        ci::evidence(&self.reader, artifact_ids).await
    }
    async fn approvals(&self, artifact_id: i64) -> Result<Vec<ApprovalRecord>> {
        ci::approvals(&self.reader, artifact_id).await
    }
    async fn deployments(&self, artifact_id: i64) -> Result<Vec<DeploymentRecord>> {
        ci::deployments(&self.reader, artifact_id).await
    }

    async fn put_environment(
        &self,
        org: &OrgRecord,
        name: &str,
        req: &EnvironmentRequest,
        now: Timestamp,
    ) -> Result<EnvRecord> {
        envs::put_environment(&self.writer, org, name, req, now).await
    }
    async fn environments(&self, org_id: i64) -> Result<Vec<EnvRecord>> {
        envs::environments(&self.reader, org_id, None).await
    }
    async fn environment(&self, org_id: i64, name: &str) -> Result<Option<EnvRecord>> {
        Ok(envs::environments(&self.reader, org_id, Some(name))
            .await?
            .pop())
    }
    async fn report_environment(
        &self,
        org: &OrgRecord,
        env_name: &str,
        state: &EnvState,
        now: Timestamp,
    ) -> Result<ReportOutcome> {
        envs::report_environment(&self.writer, org, env_name, state, now).await
    }
    async fn snapshot_time(&self, env_id: i64, number: u64) -> Result<Option<Timestamp>> {
        envs::snapshot_time(&self.reader, env_id, number).await
    }
    async fn snapshot_at(&self, env_id: i64, at: Timestamp) -> Result<Option<u64>> {
        envs::snapshot_at(&self.reader, env_id, at).await
    }
    async fn runs_at(&self, env_id: i64, number: u64) -> Result<Vec<RunRecord>> {
        envs::runs_at(&self.reader, env_id, number).await
    }
    async fn snapshot_spans(
        &self,
        env_id: i64,
        page: u64,
        per_page: u64,
    ) -> Result<Vec<SnapshotSpan>> {
        envs::snapshot_spans(&self.reader, env_id, page, per_page).await
    }
    async fn runs_of(&self, org_id: i64, fingerprint: &Fingerprint) -> Result<Vec<RunHistory>> {
        envs::runs_of(&self.reader, org_id, fingerprint).await
    }

    async fn create_repo(
        &self,
        org: &OrgRecord,
        name: &str,
        url: &str,
        now: Timestamp,
    ) -> Result<RepoRecord> {
        repos::create_repo(&self.writer, org, name, url, now).await
    }
    async fn repos(&self, org_id: i64) -> Result<Vec<RepoRecord>> {
        let repos = repos::repos(&self.reader, Some(org_id), None).await?;
        Ok(repos.into_iter().map(|(_, r)| r).collect())
    }
    async fn repo(&self, org_id: i64, name: &str) -> Result<Option<RepoRecord>> {
        let repos = repos::repos(&self.reader, Some(org_id), Some(name)).await?;
        Ok(repos.into_iter().next().map(|(_, r)| r))
    }
    async fn all_repos(&self) -> Result<Vec<(OrgRecord, RepoRecord)>> {
        let repos = repos::repos(&self.reader, None, None).await?;
        let orgs = auth::orgs(&self.reader).await?;
        Ok(repos
            .into_iter()
            .filter_map(|(org_id, r)| orgs.iter().find(|o| o.id == org_id).map(|o| (o.clone(), r)))
            .collect())
    }
    async fn delete_repo(&self, org: &OrgRecord, name: &str, now: Timestamp) -> Result<()> {
        repos::delete_repo(&self.writer, org, name, now).await
    }
    async fn apply_refresh(
        &self,
        repo_id: i64,
        refs: &[(String, String)],
        new_commits: &[evident_core::api::Commit],
        removed: &[String],
        now: Timestamp,
    ) -> Result<i64> {
        repos::apply_refresh(&self.writer, repo_id, refs, new_commits, removed, now).await
    }
    async fn insert_commits(
        &self,
        repo_id: i64,
        commits: &[evident_core::api::Commit],
    ) -> Result<()> {
        repos::insert_commits(&self.writer, repo_id, commits).await
    }
    async fn refresh_failed(&self, repo_id: i64, error: &str, now: Timestamp) -> Result<()> {
        repos::refresh_failed(&self.writer, repo_id, error, now).await
    }
    async fn repo_commits(&self, repo_id: i64) -> Result<Vec<evident_core::api::Commit>> {
        repos::repo_commits(&self.reader, repo_id).await
    }
    async fn repo_graph(&self, repo_id: i64) -> Result<Vec<(String, Vec<String>, i64)>> {
        repos::repo_graph(&self.reader, repo_id).await
    }
    async fn commits_by_shas(
        &self,
        repo_id: i64,
        shas: &[&str],
    ) -> Result<Vec<evident_core::api::Commit>> {
        repos::commits_by_shas(&self.reader, repo_id, shas).await
    }
    async fn repo_refs(&self, repo_id: i64) -> Result<Vec<(String, String)>> {
        repos::repo_refs(&self.reader, repo_id).await
    }
    async fn commits_by_prefix(
        &self,
        org_id: i64,
        prefix: &str,
    ) -> Result<Vec<(String, evident_core::api::Commit)>> {
        repos::commits_by_prefix(&self.reader, org_id, prefix).await
    }
    async fn artifacts_by_commit_prefix(
        &self,
        org_id: i64,
        prefix: &str,
    ) -> Result<Vec<ArtifactRecord>> {
        ci::artifacts_by_commit_prefix(&self.reader, org_id, prefix).await
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn events(&self, org_id: i64, after_seq: i64, limit: u64) -> Result<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT seq, kind, at, payload, hash FROM events WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(org_id)
        .bind(after_seq)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| EventRecord {
                seq: r.get(0),
                kind: r.get(1),
                at: ts(r.get(2)),
                payload: r.get(3),
                hash: r.get(4),
            })
            .collect())
    }
}
