//! Environments, reports, snapshots, diffs and logs.

use std::sync::Arc;

use axum::extract::State;
use evident_core::api::*;
use evident_core::snapshot::EnvironmentReport;
use evident_core::Snappish;
use jiff::Timestamp;

use super::{check_paging, Paging};
use crate::auth::{Access, Caller};
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::AppState;

pub async fn list_envs(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<Environment>>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let envs = app.store.environments(org.id).await?;
    Ok(Json(envs.into_iter().map(|e| e.env).collect()))
}

pub async fn get_env(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, env)): Path<(String, String)>,
) -> ApiResult<Json<Environment>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    Ok(Json(app.ledger.environment(&org, &env).await?.env))
}

pub async fn put_env(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, env)): Path<(String, String)>,
    Json(req): Json<EnvironmentRequest>,
) -> ApiResult<Json<Environment>> {
    let org = caller.org(&app, &org, Access::Write).await?;
    Ok(Json(
        app.ledger
            .put_environment(&org, &env, req, Timestamp::now())
            .await?,
    ))
}

pub async fn report(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, env)): Path<(String, String)>,
    Json(report): Json<EnvironmentReport>,
) -> ApiResult<Json<ReportOutcome>> {
    let org = caller.org(&app, &org, Access::Write).await?;
    Ok(Json(
        app.ledger
            .report_environment(&org, &env, &report, Timestamp::now())
            .await?,
    ))
}

pub async fn get_snapshot(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, snappish)): Path<(String, String)>,
) -> ApiResult<Json<Snapshot>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let s = Snappish::parse(&snappish, Timestamp::now())?;
    Ok(Json(app.ledger.snapshot(&org, &s).await?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    a: String,
    b: String,
    #[serde(default)]
    unchanged: bool,
    /// Also list the commits each changed artifact brings.
    #[serde(default)]
    commits: bool,
}

pub async fn diff(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<SnapshotDiff>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let now = Timestamp::now();
    let (a, b) = (Snappish::parse(&q.a, now)?, Snappish::parse(&q.b, now)?);
    let mut diff = app.ledger.diff(&org, &a, &b, q.unchanged).await?;
    if q.commits {
        diff.commits = app.repos.commit_changes(&org, &diff).await?;
    }
    Ok(Json(diff))
}

pub async fn log(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, env)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Page<SnapshotSpan>>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let (page, per_page) = check_paging(paging.page, paging.per_page, 15)?;
    Ok(Json(app.ledger.log(&org, &env, page, per_page).await?))
}
