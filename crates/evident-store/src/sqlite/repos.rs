//! Tracked repositories and the commit index.

use evident_core::api::{Commit, Signature};
use evident_core::time::to_millis;
use jiff::Timestamp;
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::{append_event, conflict_on_unique, opt_ts, ts};
use crate::model::*;
use crate::{Result, StoreError};

/// Commits per INSERT statement: one multi-row statement is far faster than a statement per
/// commit, and 12 parameters × 1,000 rows stays under SQLite's limit of 32,766 parameters.
const ROWS_PER_INSERT: usize = 1_000;

fn repo_from(r: &SqliteRow) -> RepoRecord {
    RepoRecord {
        id: r.get("id"),
        name: r.get("name"),
        url: r.get("url"),
        created_at: ts(r.get("created_at")),
        last_refresh_at: opt_ts(r.get("last_refresh_at")),
        last_refresh_ok: r.get::<Option<i64>, _>("last_refresh_ok").map(|v| v != 0),
        last_error: r.get("last_error"),
        generation: r.get("generation"),
        commits: r.get::<i64, _>("commits") as u64,
    }
}

fn commit_from(r: &SqliteRow) -> Commit {
    let sig = |who: &str| Signature {
        name: r.get(format!("{who}_name").as_str()),
        email: r.get(format!("{who}_email").as_str()),
        time: jiff::Timestamp::from_second(r.get(format!("{who}_time").as_str()))
            .unwrap_or(Timestamp::UNIX_EPOCH),
        offset_minutes: r.get::<i64, _>(format!("{who}_offset").as_str()) as i32,
    };
    Commit {
        sha: r.get("sha"),
        parents: serde_json::from_str(r.get("parents")).unwrap_or_default(),
        author: sig("author"),
        committer: sig("committer"),
        message: r.get("message"),
        refs: Vec::new(),
    }
}

const COMMIT_COLUMNS: &str =
    "sha, parents, author_name, author_email, author_time, author_offset, \
    committer_name, committer_email, committer_time, committer_offset, message";

pub async fn create_repo(
    db: &SqlitePool,
    org: &OrgRecord,
    name: &str,
    url: &str,
    now: Timestamp,
) -> Result<RepoRecord> {
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO repos (org_id, name, url, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(org.id)
    .bind(name)
    .bind(url)
    .bind(to_millis(now))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("repository {name:?} is already tracked")))?;
    append_event(
        &mut tx,
        org.id,
        "repo.added",
        &json!({"name": name, "url": url}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(RepoRecord {
        id,
        name: name.to_string(),
        url: url.to_string(),
        created_at: now,
        last_refresh_at: None,
        last_refresh_ok: None,
        last_error: None,
        generation: 0,
        commits: 0,
    })
}

/// Repositories with their org id, filtered by org and name when given.
pub async fn repos(
    db: &SqlitePool,
    org_id: Option<i64>,
    name: Option<&str>,
) -> Result<Vec<(i64, RepoRecord)>> {
    let rows = sqlx::query(
        "SELECT r.*, r.commit_count AS commits FROM repos r WHERE (?1 IS NULL OR r.org_id = ?1) AND (?2 IS NULL OR r.name = ?2) ORDER BY r.name",
    )
    .bind(org_id)
    .bind(name)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("org_id"), repo_from(r)))
        .collect())
}

pub async fn delete_repo(
    db: &SqlitePool,
    org: &OrgRecord,
    name: &str,
    now: Timestamp,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let deleted = sqlx::query("DELETE FROM repos WHERE org_id = ? AND name = ?")
        .bind(org.id)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::not_found(format!(
            "repository {name:?} not found"
        )));
    }
    append_event(&mut tx, org.id, "repo.removed", &json!({"name": name}), now).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds commits to the index (a commit seen again becomes reachable again).
pub async fn insert_commits(db: &SqlitePool, repo_id: i64, commits: &[Commit]) -> Result<()> {
    let mut tx = db.begin().await?;
    insert_commits_in(&mut tx, repo_id, commits).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_commits_in(
    conn: &mut sqlx::SqliteConnection,
    repo_id: i64,
    commits: &[Commit],
) -> Result<()> {
    for batch in commits.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "INSERT INTO repo_commits (repo_id, {COMMIT_COLUMNS}) "
        ));
        insert.push_values(batch, |mut row, c| {
            row.push_bind(repo_id)
                .push_bind(c.sha.as_str())
                .push_bind(serde_json::to_string(&c.parents).expect("strings serialise"))
                .push_bind(c.author.name.as_str())
                .push_bind(c.author.email.as_str())
                .push_bind(c.author.time.as_second())
                .push_bind(c.author.offset_minutes)
                .push_bind(c.committer.name.as_str())
                .push_bind(c.committer.email.as_str())
                .push_bind(c.committer.time.as_second())
                .push_bind(c.committer.offset_minutes)
                .push_bind(c.message.as_str());
        });
        // A commit seen again (e.g. a branch restored after a force-push) becomes reachable.
        insert.push(" ON CONFLICT (repo_id, sha) DO UPDATE SET reachable = 1");
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn apply_refresh(
    db: &SqlitePool,
    repo_id: i64,
    refs: &[(String, String)],
    new_commits: &[Commit],
    removed: &[String],
    now: Timestamp,
) -> Result<i64> {
    let mut tx = db.begin().await?;
    insert_commits_in(&mut tx, repo_id, new_commits).await?;
    if !removed.is_empty() {
        sqlx::query(
            "UPDATE repo_commits SET reachable = 0 WHERE repo_id = ? AND sha IN (SELECT value FROM json_each(?))",
        )
        .bind(repo_id)
        .bind(serde_json::to_string(removed).expect("strings serialise"))
        .execute(&mut *tx)
        .await?;
    }
    let mut sorted_refs = refs.to_vec();
    sorted_refs.sort();
    let old_refs: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sha FROM repo_refs WHERE repo_id = ? ORDER BY name")
            .bind(repo_id)
            .fetch_all(&mut *tx)
            .await?;
    let refs_changed = old_refs != sorted_refs;
    if refs_changed {
        sqlx::query("DELETE FROM repo_refs WHERE repo_id = ?")
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
        let refs_json: Vec<serde_json::Value> = refs.iter().map(|(n, s)| json!([n, s])).collect();
        sqlx::query(
            "INSERT INTO repo_refs (repo_id, name, sha) SELECT ?, value->>0, value->>1 FROM json_each(?)",
        )
        .bind(repo_id)
        .bind(serde_json::Value::Array(refs_json).to_string())
        .execute(&mut *tx)
        .await?;
    }
    let generation: i64 = sqlx::query_scalar(
        "UPDATE repos SET last_refresh_at = ?, last_refresh_ok = 1, last_error = NULL,
             generation = generation + ?,
             commit_count = (SELECT COUNT(*) FROM repo_commits WHERE repo_id = repos.id)
                 - (SELECT COUNT(*) FROM repo_commits WHERE repo_id = repos.id AND reachable = 0)
         WHERE id = ? RETURNING generation",
    )
    .bind(to_millis(now))
    // Caches of the index reload when this moves, so only a change moves it.
    .bind(i64::from(
        !new_commits.is_empty() || !removed.is_empty() || refs_changed,
    ))
    .bind(repo_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(generation)
}

pub async fn refresh_failed(
    db: &SqlitePool,
    repo_id: i64,
    error: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE repos SET last_refresh_at = ?, last_refresh_ok = 0, last_error = ? WHERE id = ?",
    )
    .bind(to_millis(now))
    .bind(error)
    .bind(repo_id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn repo_commits(db: &SqlitePool, repo_id: i64) -> Result<Vec<Commit>> {
    use futures_util::TryStreamExt;
    // Streamed row by row: a large repository's rows are never all in memory at once.
    let sql =
        format!("SELECT {COMMIT_COLUMNS} FROM repo_commits WHERE repo_id = ? AND reachable = 1");
    let mut rows = sqlx::query(&sql).bind(repo_id).fetch(db);
    let mut out = Vec::new();
    while let Some(row) = rows.try_next().await? {
        out.push(commit_from(&row));
    }
    Ok(out)
}

pub async fn repo_graph(db: &SqlitePool, repo_id: i64) -> Result<Vec<(String, Vec<String>, i64)>> {
    use futures_util::TryStreamExt;
    // A repository's rows were appended together, so reading them in rowid order from the
    // first to the last of its ids is sequential; going through the (repo_id, sha) index
    // instead would visit the table in random order. The unary `+` keeps SQLite off it.
    let mut rows = sqlx::query(
        "SELECT sha, parents, committer_time FROM repo_commits
         WHERE id BETWEEN (SELECT MIN(id) FROM repo_commits WHERE repo_id = ?1)
                      AND (SELECT MAX(id) FROM repo_commits WHERE repo_id = ?1)
           AND +repo_id = ?1 AND reachable = 1",
    )
    .bind(repo_id)
    .fetch(db);
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await? {
        let parents: Vec<String> = serde_json::from_str(r.get("parents")).unwrap_or_default();
        out.push((r.get("sha"), parents, r.get("committer_time")));
    }
    Ok(out)
}

pub async fn commits_by_shas(db: &SqlitePool, repo_id: i64, shas: &[&str]) -> Result<Vec<Commit>> {
    let rows = sqlx::query(&format!(
        "SELECT {COMMIT_COLUMNS} FROM repo_commits
         WHERE repo_id = ? AND sha IN (SELECT value FROM json_each(?))"
    ))
    .bind(repo_id)
    .bind(serde_json::to_string(shas).expect("strings serialise"))
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(commit_from).collect())
}

pub async fn repo_refs(db: &SqlitePool, repo_id: i64) -> Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT name, sha FROM repo_refs WHERE repo_id = ? ORDER BY name")
            .bind(repo_id)
            .fetch_all(db)
            .await?,
    )
}

pub async fn commits_by_prefix(
    db: &SqlitePool,
    org_id: i64,
    prefix: &str,
) -> Result<Vec<(String, Commit)>> {
    // Per repository, a range on the primary key (repo_id, sha).
    let columns = COMMIT_COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!(
        "SELECT r.name AS repo, {columns} FROM repos r JOIN repo_commits c
             ON c.repo_id = r.id AND c.sha >= ?2 AND c.sha < ?2 || 'z'
         WHERE r.org_id = ?1 ORDER BY r.name LIMIT 50"
    ))
    .bind(org_id)
    .bind(prefix)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("repo"), commit_from(r)))
        .collect())
}
