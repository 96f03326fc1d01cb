//! Environments, snapshots and runs.

use evident_core::api::{Environment, EnvironmentRequest, ReportOutcome, SnapshotSpan};
use evident_core::snapshot::{changes, Change, EnvState, RunningArtifact};
use evident_core::time::to_millis;
use evident_core::Fingerprint;
use jiff::Timestamp;
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{append_event, opt_ts, ts};
use crate::model::*;
use crate::{Result, StoreError, KEYFRAME_EVERY};

/// `to_snapshot` of a run still in force.
const OPEN: i64 = i64::MAX;

const RUN_COLUMNS: &str =
    "r.id, r.fingerprint, r.names, r.replicas, r.running_since, r.from_snapshot, r.to_snapshot";

fn env_from(r: &SqliteRow) -> EnvRecord {
    let latest: i64 = r.get("latest_snapshot");
    EnvRecord {
        id: r.get("id"),
        env: Environment {
            name: r.get("name"),
            kind: r.get("kind"),
            description: r.get("description"),
            created_at: ts(r.get("created_at")),
            last_reported_at: opt_ts(r.get("last_reported_at")),
            last_changed_at: opt_ts(r.get("last_changed_at")),
            latest_snapshot: (latest > 0).then_some(latest as u64),
        },
    }
}

fn run_from(r: &SqliteRow) -> RunRecord {
    let to: i64 = r.get("to_snapshot");
    RunRecord {
        fingerprint: Fingerprint::parse(r.get("fingerprint")).expect("stored fingerprint"),
        names: serde_json::from_str(r.get("names")).unwrap_or_default(),
        replicas: r.get::<i64, _>("replicas") as u32,
        running_since: ts(r.get("running_since")),
        from_snapshot: r.get::<i64, _>("from_snapshot") as u64,
        to_snapshot: (to != OPEN).then_some(to as u64),
    }
}

pub async fn put_environment(
    db: &SqlitePool,
    org: &OrgRecord,
    name: &str,
    req: &EnvironmentRequest,
    now: Timestamp,
) -> Result<EnvRecord> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "INSERT INTO environments (org_id, name, kind, description, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (org_id, name) DO UPDATE SET kind = excluded.kind, description = excluded.description
         RETURNING *",
    )
    .bind(org.id)
    .bind(name)
    .bind(&req.kind)
    .bind(&req.description)
    .bind(to_millis(now))
    .fetch_one(&mut *tx)
    .await?;
    append_event(
        &mut tx,
        org.id,
        "environment.put",
        &json!({"name": name, "request": req}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(env_from(&row))
}

pub async fn environments(
    db: &SqlitePool,
    org_id: i64,
    name: Option<&str>,
) -> Result<Vec<EnvRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM environments WHERE org_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY name",
    )
    .bind(org_id)
    .bind(name)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(env_from).collect())
}

pub async fn report_environment(
    db: &SqlitePool,
    org: &OrgRecord,
    env_name: &str,
    state: &EnvState,
    now: Timestamp,
) -> Result<ReportOutcome> {
    let hash = state.state_hash();
    let now_ms = to_millis(now);
    let outcome = |snapshot: i64, created| ReportOutcome {
        environment: env_name.to_string(),
        snapshot: snapshot as u64,
        created,
        artifacts: state.0.len(),
    };
    // The common case, a heartbeat: one conditional update, no ledger event, no new rows.
    let heartbeat: Option<i64> = sqlx::query_scalar(
        "UPDATE environments SET last_reported_at = max(coalesce(last_reported_at, 0), ?)
         WHERE org_id = ? AND name = ? AND state_hash = ? AND latest_snapshot > 0
         RETURNING latest_snapshot",
    )
    .bind(now_ms)
    .bind(org.id)
    .bind(env_name)
    .bind(&hash)
    .fetch_optional(db)
    .await?;
    if let Some(n) = heartbeat {
        return Ok(outcome(n, false));
    }

    let mut tx = db.begin().await?;
    let (env_id, latest): (i64, i64) = sqlx::query_as(
        "SELECT id, latest_snapshot FROM environments WHERE org_id = ? AND name = ?",
    )
    .bind(org.id)
    .bind(env_name)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::not_found(format!("environment {env_name:?} not found")))?;
    let open = open_runs(&mut tx, env_id).await?;
    let previous = EnvState(
        open.iter()
            .map(|(_, r)| {
                let a = RunningArtifact {
                    fingerprint: r.fingerprint.clone(),
                    names: r.names.clone(),
                    replicas: r.replicas,
                    running_since: r.running_since,
                };
                (r.fingerprint.clone(), a)
            })
            .collect(),
    );
    let diff = changes(&previous, state);
    if diff.is_empty() && latest > 0 {
        // A concurrent report got here first with the same state.
        tx.rollback().await?;
        return Ok(outcome(latest, false));
    }
    let number = latest + 1;
    sqlx::query("INSERT INTO snapshots (env_id, number, created_at) VALUES (?, ?, ?)")
        .bind(env_id)
        .bind(number)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    let run_id = |fp: &Fingerprint| {
        open.iter()
            .find(|(_, r)| &r.fingerprint == fp)
            .map(|(id, _)| *id)
    };
    let mut summary = Vec::new();
    for change in &diff {
        let (closing, opening) = match change {
            Change::Started(a) => (None, Some(a)),
            Change::Stopped(fp) => (run_id(fp), None),
            Change::Changed(a) => (run_id(&a.fingerprint), Some(a)),
        };
        if let Some(id) = closing {
            sqlx::query("UPDATE runs SET to_snapshot = ? WHERE id = ?")
                .bind(number)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(a) = opening {
            sqlx::query(
                "INSERT INTO runs (env_id, fingerprint, names, replicas, running_since, from_snapshot, to_snapshot)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(env_id)
            .bind(a.fingerprint.as_str())
            .bind(serde_json::to_string(&a.names).expect("strings serialise"))
            .bind(a.replicas as i64)
            .bind(to_millis(a.running_since))
            .bind(number)
            .bind(OPEN)
            .execute(&mut *tx)
            .await?;
        }
        summary.push(match change {
            Change::Started(a) => json!({"started": a.fingerprint, "replicas": a.replicas}),
            Change::Stopped(fp) => json!({"stopped": fp}),
            Change::Changed(a) => json!({"changed": a.fingerprint, "replicas": a.replicas}),
        });
    }
    if (number as u64).is_multiple_of(KEYFRAME_EVERY) {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM runs WHERE env_id = ? AND to_snapshot = ?")
                .bind(env_id)
                .bind(OPEN)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("INSERT INTO keyframes (env_id, number, run_ids) VALUES (?, ?, ?)")
            .bind(env_id)
            .bind(number)
            .bind(serde_json::to_string(&ids).expect("ints serialise"))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE environments SET latest_snapshot = ?, state_hash = ?, last_reported_at = ?, last_changed_at = ?
         WHERE id = ?",
    )
    .bind(number)
    .bind(&hash)
    .bind(now_ms)
    .bind(now_ms)
    .bind(env_id)
    .execute(&mut *tx)
    .await?;
    append_event(
        &mut tx,
        org.id,
        "snapshot.created",
        &json!({"environment": env_name, "number": number, "changes": summary}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(outcome(number, true))
}

async fn open_runs(conn: &mut SqliteConnection, env_id: i64) -> Result<Vec<(i64, RunRecord)>> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM runs r WHERE r.env_id = ? AND r.to_snapshot = ?"
    ))
    .bind(env_id)
    .bind(OPEN)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(|r| (r.get("id"), run_from(r))).collect())
}

pub async fn snapshot_time(db: &SqlitePool, env_id: i64, number: u64) -> Result<Option<Timestamp>> {
    let t: Option<i64> =
        sqlx::query_scalar("SELECT created_at FROM snapshots WHERE env_id = ? AND number = ?")
            .bind(env_id)
            .bind(number as i64)
            .fetch_optional(db)
            .await?;
    Ok(t.map(ts))
}

pub async fn snapshot_at(db: &SqlitePool, env_id: i64, at: Timestamp) -> Result<Option<u64>> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT number FROM snapshots WHERE env_id = ? AND created_at <= ?
         ORDER BY created_at DESC, number DESC LIMIT 1",
    )
    .bind(env_id)
    .bind(to_millis(at))
    .fetch_optional(db)
    .await?;
    Ok(n.map(|n| n as u64))
}

pub async fn runs_at(db: &SqlitePool, env_id: i64, number: u64) -> Result<Vec<RunRecord>> {
    let n = number as i64;
    let keyframe = (number / KEYFRAME_EVERY * KEYFRAME_EVERY) as i64;
    // Runs in force at the keyframe that are still in force at n...
    let mut rows = if keyframe > 0 {
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.id IN (SELECT value FROM json_each(
                 (SELECT run_ids FROM keyframes WHERE env_id = ? AND number = ?))) AND r.to_snapshot > ?"
        ))
        .bind(env_id)
        .bind(keyframe)
        .bind(n)
        .fetch_all(db)
        .await?
    } else {
        Vec::new()
    };
    // ...plus those that started after it.
    rows.extend(
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.env_id = ? AND r.from_snapshot > ?
             AND r.from_snapshot <= ? AND r.to_snapshot > ?"
        ))
        .bind(env_id)
        .bind(keyframe)
        .bind(n)
        .bind(n)
        .fetch_all(db)
        .await?,
    );
    Ok(rows.iter().map(run_from).collect())
}

pub async fn snapshot_spans(
    db: &SqlitePool,
    env_id: i64,
    page: u64,
    per_page: u64,
) -> Result<Vec<SnapshotSpan>> {
    let latest: i64 = sqlx::query_scalar("SELECT latest_snapshot FROM environments WHERE id = ?")
        .bind(env_id)
        .fetch_one(db)
        .await?;
    let hi = latest - (page.saturating_sub(1) * per_page) as i64;
    if hi < 1 {
        return Ok(Vec::new());
    }
    let lo = (hi - per_page as i64 + 1).max(1);
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT number, created_at FROM snapshots WHERE env_id = ? AND number BETWEEN ? AND ?
         ORDER BY number DESC",
    )
    .bind(env_id)
    .bind(lo)
    .bind(hi + 1)
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut next: Option<Timestamp> = None;
    for (number, created) in rows {
        if number <= hi {
            out.push(SnapshotSpan {
                number: number as u64,
                from: ts(created),
                to: next,
            });
        }
        next = Some(ts(created));
    }
    Ok(out)
}

pub async fn runs_of(
    db: &SqlitePool,
    org_id: i64,
    fingerprint: &Fingerprint,
) -> Result<Vec<RunHistory>> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS}, e.name AS environment, s1.created_at AS from_at, s2.created_at AS to_at
         FROM runs r JOIN environments e ON e.id = r.env_id
         JOIN snapshots s1 ON s1.env_id = r.env_id AND s1.number = r.from_snapshot
         LEFT JOIN snapshots s2 ON s2.env_id = r.env_id AND s2.number = r.to_snapshot
         WHERE r.fingerprint = ? AND e.org_id = ? ORDER BY e.name, r.from_snapshot"
    ))
    .bind(fingerprint.as_str())
    .bind(org_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| RunHistory {
            environment: r.get("environment"),
            run: run_from(r),
            from_at: ts(r.get("from_at")),
            to_at: opt_ts(r.get("to_at")),
        })
        .collect())
}
