//! Pipelines and what CI reports: artifacts, evidence, approvals, deployments.

use evident_core::api::{
    Approval, ApprovalReport, ArtifactReport, Deployment, DeploymentReport, Evidence,
    EvidenceReport, PipelineRequest,
};
use evident_core::time::to_millis;
use evident_core::{ArtifactRef, Fingerprint};
use jiff::Timestamp;
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{append_event, ts};
use crate::model::*;
use crate::{Result, StoreError};

const ARTIFACT_COLUMNS: &str =
    "a.id, a.pipeline_id, p.name AS pipeline, p.template, a.fingerprint, a.name, \
     a.git_commit, a.commit_url, a.build_url, a.created_at \
     FROM artifacts a JOIN pipelines p ON p.id = a.pipeline_id";

fn template_from(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn pipeline_from(r: &SqliteRow) -> PipelineRecord {
    PipelineRecord {
        id: r.get("id"),
        name: r.get("name"),
        description: r.get("description"),
        visibility: visibility_from(r.get("visibility")),
        template: template_from(r.get("template")),
        created_at: ts(r.get("created_at")),
    }
}

fn artifact_from(r: &SqliteRow) -> ArtifactRecord {
    ArtifactRecord {
        id: r.get("id"),
        pipeline: r.get("pipeline"),
        template: template_from(r.get("template")),
        // Only validated fingerprints are ever written.
        fingerprint: Fingerprint::parse(r.get("fingerprint")).expect("stored fingerprint"),
        name: r.get("name"),
        git_commit: r.get("git_commit"),
        commit_url: r.get("commit_url"),
        build_url: r.get("build_url"),
        created_at: ts(r.get("created_at")),
    }
}

pub async fn put_pipeline(
    db: &SqlitePool,
    org: &OrgRecord,
    name: &str,
    req: &PipelineRequest,
    now: Timestamp,
) -> Result<PipelineRecord> {
    let mut tx = db.begin().await?;
    let template = serde_json::to_string(&req.template).expect("strings serialise");
    let row = sqlx::query(
        "INSERT INTO pipelines (org_id, name, description, visibility, template, created_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (org_id, name) DO UPDATE SET description = excluded.description,
             visibility = excluded.visibility, template = excluded.template
         RETURNING id, name, description, visibility, template, created_at",
    )
    .bind(org.id)
    .bind(name)
    .bind(&req.description)
    .bind(req.visibility.as_str())
    .bind(&template)
    .bind(to_millis(now))
    .fetch_one(&mut *tx)
    .await?;
    append_event(
        &mut tx,
        org.id,
        "pipeline.put",
        &json!({"name": name, "request": req}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(pipeline_from(&row))
}

pub async fn pipelines(
    db: &SqlitePool,
    org_id: i64,
    name: Option<&str>,
) -> Result<Vec<PipelineRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, description, visibility, template, created_at FROM pipelines
         WHERE org_id = ? AND (?2 IS NULL OR name = ?2) ORDER BY name",
    )
    .bind(org_id)
    .bind(name)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(pipeline_from).collect())
}

async fn pipeline_id(conn: &mut SqliteConnection, org_id: i64, name: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT id FROM pipelines WHERE org_id = ? AND name = ?")
        .bind(org_id)
        .bind(name)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("pipeline {name:?} not found")))
}

pub async fn report_artifact(
    db: &SqlitePool,
    org: &OrgRecord,
    pipeline: &str,
    req: &ArtifactReport,
    now: Timestamp,
) -> Result<ArtifactRecord> {
    let mut tx = db.begin().await?;
    let pid = pipeline_id(&mut tx, org.id, pipeline).await?;
    // Re-reporting an artifact updates what CI knows of it but keeps its creation time.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO artifacts (org_id, pipeline_id, fingerprint, name, git_commit, commit_url, build_url, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pipeline_id, fingerprint) DO UPDATE SET name = excluded.name,
             git_commit = coalesce(excluded.git_commit, git_commit),
             commit_url = coalesce(excluded.commit_url, commit_url),
             build_url = coalesce(excluded.build_url, build_url)
         RETURNING id",
    )
    .bind(org.id)
    .bind(pid)
    .bind(req.fingerprint.as_str())
    .bind(&req.name)
    .bind(&req.git_commit)
    .bind(&req.commit_url)
    .bind(&req.build_url)
    .bind(to_millis(now))
    .fetch_one(&mut *tx)
    .await?;
    append_event(
        &mut tx,
        org.id,
        "artifact.reported",
        &json!({"pipeline": pipeline, "artifact": req}),
        now,
    )
    .await?;
    let row = sqlx::query(&format!("SELECT {ARTIFACT_COLUMNS} WHERE a.id = ?"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(artifact_from(&row))
}

/// The one artifact a CI report about a fingerprint attaches to.
async fn target_artifact(
    conn: &mut SqliteConnection,
    org_id: i64,
    fingerprint: &Fingerprint,
    pipeline: Option<&str>,
) -> Result<(ArtifactRecord, i64)> {
    let rows = sqlx::query(&format!(
        "SELECT {ARTIFACT_COLUMNS} WHERE a.org_id = ? AND a.fingerprint = ? AND (?3 IS NULL OR p.name = ?3)"
    ))
    .bind(org_id)
    .bind(fingerprint.as_str())
    .bind(pipeline)
    .fetch_all(&mut *conn)
    .await?;
    match rows.as_slice() {
        [] => Err(StoreError::not_found(format!(
            "no artifact with fingerprint {fingerprint}{}: report the artifact first",
            pipeline
                .map(|p| format!(" in pipeline {p:?}"))
                .unwrap_or_default()
        ))),
        [r] => Ok((artifact_from(r), r.get("pipeline_id"))),
        many => Err(StoreError::Conflict(format!(
            "fingerprint {fingerprint} is in several pipelines ({}): say which with --pipeline",
            many.iter()
                .map(|r| r.get::<String, _>("pipeline"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub async fn report_evidence(
    db: &SqlitePool,
    org: &OrgRecord,
    req: &EvidenceReport,
    now: Timestamp,
) -> Result<ArtifactRecord> {
    let mut tx = db.begin().await?;
    let (artifact, _) =
        target_artifact(&mut tx, org.id, &req.fingerprint, req.pipeline.as_deref()).await?;
    sqlx::query(
        "INSERT INTO evidence (artifact_id, name, compliant, url, description, user_data, reported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(artifact.id)
    .bind(&req.name)
    .bind(req.compliant as i64)
    .bind(&req.url)
    .bind(&req.description)
    .bind(req.user_data.as_ref().map(|v| v.to_string()))
    .bind(to_millis(now))
    .execute(&mut *tx)
    .await?;
    append_event(&mut tx, org.id, "evidence.reported", &json!(req), now).await?;
    tx.commit().await?;
    Ok(artifact)
}

/// Takes the next number of a per-pipeline counter (`next_deployment`, `next_approval`).
async fn next_number(conn: &mut SqliteConnection, pipeline_id: i64, counter: &str) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(&format!(
        "UPDATE pipelines SET {counter} = {counter} + 1 WHERE id = ? RETURNING {counter} - 1"
    ))
    .bind(pipeline_id)
    .fetch_one(conn)
    .await?;
    Ok(n as u64)
}

async fn require_environment(conn: &mut SqliteConnection, org_id: i64, name: &str) -> Result<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM environments WHERE org_id = ? AND name = ?")
            .bind(org_id)
            .bind(name)
            .fetch_optional(conn)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(format!("environment {name:?} not found")))
}

/// What a numbered report (approval, deployment) needs first: its artifact, a check that the
/// environment exists, and the next number of the pipeline's `counter`.
async fn numbered_report(
    conn: &mut SqliteConnection,
    org_id: i64,
    fingerprint: &Fingerprint,
    pipeline: Option<&str>,
    environment: Option<&str>,
    counter: &str,
) -> Result<(ArtifactRecord, u64)> {
    let (artifact, pid) = target_artifact(conn, org_id, fingerprint, pipeline).await?;
    if let Some(env) = environment {
        require_environment(conn, org_id, env).await?;
    }
    let number = next_number(conn, pid, counter).await?;
    Ok((artifact, number))
}

pub async fn report_approval(
    db: &SqlitePool,
    org: &OrgRecord,
    req: &ApprovalReport,
    now: Timestamp,
) -> Result<(ArtifactRecord, u64)> {
    let mut tx = db.begin().await?;
    let (artifact, number) = numbered_report(
        &mut tx,
        org.id,
        &req.fingerprint,
        req.pipeline.as_deref(),
        req.environment.as_deref(),
        "next_approval",
    )
    .await?;
    sqlx::query(
        "INSERT INTO approvals (artifact_id, number, approved, environment, reviewer, description,
             oldest_commit, newest_commit, reported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(artifact.id)
    .bind(number as i64)
    .bind(req.approved as i64)
    .bind(&req.environment)
    .bind(&req.reviewer)
    .bind(&req.description)
    .bind(&req.oldest_commit)
    .bind(&req.newest_commit)
    .bind(to_millis(now))
    .execute(&mut *tx)
    .await?;
    append_event(
        &mut tx,
        org.id,
        "approval.reported",
        &json!({"number": number, "approval": req}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((artifact, number))
}

pub async fn report_deployment(
    db: &SqlitePool,
    org: &OrgRecord,
    req: &DeploymentReport,
    now: Timestamp,
) -> Result<(ArtifactRecord, u64)> {
    let mut tx = db.begin().await?;
    let (artifact, number) = numbered_report(
        &mut tx,
        org.id,
        &req.fingerprint,
        req.pipeline.as_deref(),
        Some(&req.environment),
        "next_deployment",
    )
    .await?;
    sqlx::query(
        "INSERT INTO deployments (artifact_id, number, environment, description, user_data, reported_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(artifact.id)
    .bind(number as i64)
    .bind(&req.environment)
    .bind(&req.description)
    .bind(req.user_data.as_ref().map(|v| v.to_string()))
    .bind(to_millis(now))
    .execute(&mut *tx)
    .await?;
    append_event(
        &mut tx,
        org.id,
        "deployment.reported",
        &json!({"number": number, "deployment": req}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((artifact, number))
}

pub async fn find_artifacts(
    db: &SqlitePool,
    org_id: i64,
    r: &ArtifactRef,
) -> Result<Vec<ArtifactRecord>> {
    // Prefix match as a range so the index serves it: ids are lower-case hex, all below 'z'.
    let (column, pipeline, prefix) = match r {
        ArtifactRef::Commit { pipeline, commit } => ("a.git_commit", Some(pipeline), commit),
        ArtifactRef::Fingerprint { pipeline, prefix } => ("a.fingerprint", Some(pipeline), prefix),
        ArtifactRef::Bare { prefix } => ("a.fingerprint", None, prefix),
    };
    let rows = sqlx::query(&format!(
        "SELECT {ARTIFACT_COLUMNS} WHERE a.org_id = ?1 AND {column} >= ?2 AND {column} < ?2 || 'z'
         AND (?3 IS NULL OR p.name = ?3) ORDER BY a.created_at DESC, a.id DESC LIMIT 50"
    ))
    .bind(org_id)
    .bind(prefix)
    .bind(pipeline)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(artifact_from).collect())
}

pub async fn artifacts_by_fingerprint(
    db: &SqlitePool,
    org_id: i64,
    fingerprints: &[Fingerprint],
) -> Result<Vec<ArtifactRecord>> {
    let list = serde_json::to_string(fingerprints).expect("strings serialise");
    let rows = sqlx::query(&format!(
        "SELECT {ARTIFACT_COLUMNS} WHERE a.org_id = ? AND a.fingerprint IN (SELECT value FROM json_each(?))
         ORDER BY a.created_at, a.id"
    ))
    .bind(org_id)
    .bind(list)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(artifact_from).collect())
}

pub async fn list_artifacts(
    db: &SqlitePool,
    org_id: i64,
    pipeline: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<ArtifactRecord>, u64)> {
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM artifacts a JOIN pipelines p ON p.id = a.pipeline_id
         WHERE a.org_id = ?1 AND (?2 IS NULL OR p.name = ?2)",
    )
    .bind(org_id)
    .bind(pipeline)
    .fetch_one(db)
    .await?;
    let rows = sqlx::query(&format!(
        "SELECT {ARTIFACT_COLUMNS} WHERE a.org_id = ?1 AND (?2 IS NULL OR p.name = ?2)
         ORDER BY a.created_at DESC, a.id DESC LIMIT ?3 OFFSET ?4"
    ))
    .bind(org_id)
    .bind(pipeline)
    .bind(per_page as i64)
    .bind((page.saturating_sub(1) * per_page) as i64)
    .fetch_all(db)
    .await?;
    Ok((rows.iter().map(artifact_from).collect(), total as u64))
}

fn json_opt(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

pub async fn evidence(db: &SqlitePool, artifact_ids: &[i64]) -> Result<Vec<EvidenceRecord>> {
    let rows = sqlx::query(
        "SELECT artifact_id, name, compliant, url, description, user_data, reported_at FROM evidence
         WHERE artifact_id IN (SELECT value FROM json_each(?)) ORDER BY reported_at, id",
    )
    .bind(serde_json::to_string(artifact_ids).expect("ints serialise"))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| EvidenceRecord {
            artifact_id: r.get("artifact_id"),
            evidence: Evidence {
                name: r.get("name"),
                compliant: r.get::<i64, _>("compliant") != 0,
                url: r.get("url"),
                description: r.get("description"),
                user_data: json_opt(r.get("user_data")),
                reported_at: ts(r.get("reported_at")),
            },
        })
        .collect())
}

pub async fn approvals(db: &SqlitePool, artifact_id: i64) -> Result<Vec<ApprovalRecord>> {
    let rows = sqlx::query(
        "SELECT number, approved, environment, reviewer, description, oldest_commit, newest_commit, reported_at
         FROM approvals WHERE artifact_id = ? ORDER BY reported_at, id",
    )
    .bind(artifact_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Approval {
            number: r.get::<i64, _>("number") as u64,
            approved: r.get::<i64, _>("approved") != 0,
            environment: r.get("environment"),
            reviewer: r.get("reviewer"),
            description: r.get("description"),
            oldest_commit: r.get("oldest_commit"),
            newest_commit: r.get("newest_commit"),
            reported_at: ts(r.get("reported_at")),
        })
        .collect())
}

pub async fn deployments(db: &SqlitePool, artifact_id: i64) -> Result<Vec<DeploymentRecord>> {
    let rows = sqlx::query(
        "SELECT number, environment, description, reported_at FROM deployments
         WHERE artifact_id = ? ORDER BY reported_at, id",
    )
    .bind(artifact_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Deployment {
            number: r.get::<i64, _>("number") as u64,
            environment: r.get("environment"),
            description: r.get("description"),
            reported_at: ts(r.get("reported_at")),
        })
        .collect())
}

pub async fn artifacts_by_commit_prefix(
    db: &SqlitePool,
    org_id: i64,
    prefix: &str,
) -> Result<Vec<ArtifactRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {ARTIFACT_COLUMNS} WHERE a.org_id = ?1 AND a.git_commit >= ?2 AND a.git_commit < ?2 || 'z'
         ORDER BY a.created_at, a.id LIMIT 200"
    ))
    .bind(org_id)
    .bind(prefix.to_ascii_lowercase())
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(artifact_from).collect())
}
