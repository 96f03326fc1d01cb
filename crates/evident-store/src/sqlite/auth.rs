//! Users, tokens, orgs and memberships.

use evident_core::api::{Role, Visibility};
use evident_core::ledger::GENESIS;
use evident_core::time::to_millis;
use jiff::Timestamp;
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::{append_event, conflict_on_unique, ts};
use crate::model::*;
use crate::Result;

fn user_from(r: &SqliteRow) -> UserRecord {
    UserRecord {
        id: r.get("id"),
        name: r.get("name"),
        site_admin: r.get::<i64, _>("site_admin") != 0,
    }
}

fn org_from(r: &SqliteRow) -> OrgRecord {
    OrgRecord {
        id: r.get("id"),
        name: r.get("name"),
        visibility: visibility_from(r.get("visibility")),
        created_at: ts(r.get("created_at")),
    }
}

pub async fn create_user(
    db: &SqlitePool,
    name: &str,
    site_admin: bool,
    now: Timestamp,
) -> Result<UserRecord> {
    let row = sqlx::query(
        "INSERT INTO users (name, site_admin, created_at) VALUES (?, ?, ?) RETURNING id, name, site_admin",
    )
    .bind(name)
    .bind(site_admin as i64)
    .bind(to_millis(now))
    .fetch_one(db)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("user {name:?} already exists")))?;
    Ok(user_from(&row))
}

pub async fn user(db: &SqlitePool, name: &str) -> Result<Option<UserRecord>> {
    let row = sqlx::query("SELECT id, name, site_admin FROM users WHERE name = ?")
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(user_from))
}

pub async fn create_token(
    db: &SqlitePool,
    user_id: i64,
    token_id: &str,
    secret_hash: &[u8],
    description: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (id, user_id, secret_hash, description, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_id)
    .bind(user_id)
    .bind(secret_hash)
    .bind(description)
    .bind(to_millis(now))
    .execute(db)
    .await
    .map_err(|e| conflict_on_unique(e, || "token id collision".to_string()))?;
    Ok(())
}

pub async fn token(db: &SqlitePool, token_id: &str) -> Result<Option<TokenRecord>> {
    let row = sqlx::query(
        "SELECT u.id, u.name, u.site_admin, t.secret_hash FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
    )
    .bind(token_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| TokenRecord {
        user: user_from(&r),
        secret_hash: r.get("secret_hash"),
    }))
}

pub async fn create_org(
    db: &SqlitePool,
    name: &str,
    visibility: Visibility,
    admin: Option<i64>,
    now: Timestamp,
) -> Result<OrgRecord> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "INSERT INTO orgs (name, visibility, created_at, last_hash) VALUES (?, ?, ?, ?) RETURNING id, name, visibility, created_at",
    )
    .bind(name)
    .bind(visibility.as_str())
    .bind(to_millis(now))
    .bind(GENESIS)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("org {name:?} already exists")))?;
    let org = org_from(&row);
    append_event(
        &mut tx,
        org.id,
        "org.created",
        &json!({"name": name, "visibility": visibility}),
        now,
    )
    .await?;
    if let Some(user_id) = admin {
        sqlx::query("INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, 'admin')")
            .bind(org.id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(org)
}

pub async fn org(db: &SqlitePool, name: &str) -> Result<Option<OrgRecord>> {
    let row = sqlx::query("SELECT id, name, visibility, created_at FROM orgs WHERE name = ?")
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(org_from))
}

pub async fn orgs(db: &SqlitePool) -> Result<Vec<OrgRecord>> {
    let rows = sqlx::query("SELECT id, name, visibility, created_at FROM orgs ORDER BY name")
        .fetch_all(db)
        .await?;
    Ok(rows.iter().map(org_from).collect())
}

pub async fn set_member(
    db: &SqlitePool,
    org: &OrgRecord,
    user_id: i64,
    role: Role,
    now: Timestamp,
) -> Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, ?)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org.id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    append_event(
        &mut tx,
        org.id,
        "member.set",
        &json!({"user_id": user_id, "role": role}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn role(db: &SqlitePool, org_id: i64, user_id: i64) -> Result<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = ? AND user_id = ?")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    Ok(role.as_deref().map(role_from))
}
