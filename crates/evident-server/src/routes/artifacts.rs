//! Pipelines and what CI reports.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use evident_core::api::*;
use evident_core::ArtifactRef;
use jiff::Timestamp;

use super::check_paging;
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::AppState;

pub async fn list_pipelines(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<Pipeline>>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    Ok(Json(app.ledger.pipelines(&org).await?))
}

pub async fn get_pipeline(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<Json<Pipeline>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    app.ledger
        .pipelines(&org)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("pipeline {name:?} not found")))
}

pub async fn put_pipeline(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    Json(req): Json<PipelineRequest>,
) -> ApiResult<Json<Pipeline>> {
    let org = caller.org(&app, &org, Access::Write).await?;
    Ok(Json(
        app.ledger
            .put_pipeline(&org, &name, req, Timestamp::now())
            .await?,
    ))
}

pub async fn report_artifact(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, pipeline)): Path<(String, String)>,
    Json(req): Json<ArtifactReport>,
) -> ApiResult<(StatusCode, Json<Recorded>)> {
    let org = caller.org(&app, &org, Access::Write).await?;
    let r = app
        .ledger
        .report_artifact(&org, &pipeline, req, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

pub async fn report_evidence(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<EvidenceReport>,
) -> ApiResult<(StatusCode, Json<Recorded>)> {
    let org = caller.org(&app, &org, Access::Write).await?;
    let r = app
        .ledger
        .report_evidence(&org, req, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

pub async fn report_approval(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<ApprovalReport>,
) -> ApiResult<(StatusCode, Json<Recorded>)> {
    let org = caller.org(&app, &org, Access::Write).await?;
    let r = app
        .ledger
        .report_approval(&org, req, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

pub async fn report_deployment(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<DeploymentReport>,
) -> ApiResult<(StatusCode, Json<Recorded>)> {
    let org = caller.org(&app, &org, Access::Write).await?;
    let r = app
        .ledger
        .report_deployment(&org, req, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactQuery {
    pipeline: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

pub async fn list_artifacts(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Query<ArtifactQuery>,
) -> ApiResult<Json<Page<ArtifactSummary>>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let (page, per_page) = check_paging(q.page, q.per_page, 15)?;
    Ok(Json(
        app.ledger
            .list_artifacts(&org, q.pipeline.as_deref(), page, per_page)
            .await?,
    ))
}

pub async fn get_artifact(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, reference)): Path<(String, String)>,
) -> ApiResult<Json<Artifact>> {
    let org = caller.org(&app, &org, Access::Read).await?;
    let r = ArtifactRef::parse(&reference)?;
    Ok(Json(app.ledger.artifact(&org, &r).await?))
}
