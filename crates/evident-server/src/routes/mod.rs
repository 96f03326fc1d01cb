//! HTTP routes of `/api/v1`.

mod admin;
mod artifacts;
mod envs;
mod repos;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;

use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/users", post(admin::create_user))
        .route("/orgs", get(admin::list_orgs).post(admin::create_org))
        .route("/orgs/{org}/members/{user}", put(admin::set_member))
        .route("/orgs/{org}/pipelines", get(artifacts::list_pipelines))
        .route(
            "/orgs/{org}/pipelines/{pipeline}",
            get(artifacts::get_pipeline).put(artifacts::put_pipeline),
        )
        .route(
            "/orgs/{org}/pipelines/{pipeline}/artifacts",
            post(artifacts::report_artifact),
        )
        .route("/orgs/{org}/artifacts", get(artifacts::list_artifacts))
        .route(
            "/orgs/{org}/artifacts/{reference}",
            get(artifacts::get_artifact),
        )
        .route("/orgs/{org}/evidence", post(artifacts::report_evidence))
        .route("/orgs/{org}/approvals", post(artifacts::report_approval))
        .route(
            "/orgs/{org}/deployments",
            post(artifacts::report_deployment),
        )
        .route("/orgs/{org}/envs", get(envs::list_envs))
        .route(
            "/orgs/{org}/envs/{env}",
            get(envs::get_env).put(envs::put_env),
        )
        .route(
            "/orgs/{org}/envs/{env}/report",
            put(envs::report).post(envs::report),
        )
        .route("/orgs/{org}/envs/{env}/log", get(envs::log))
        .route("/orgs/{org}/snapshots/{snappish}", get(envs::get_snapshot))
        .route("/orgs/{org}/diff", get(envs::diff))
        .route("/orgs/{org}/repos", get(repos::list).post(repos::add))
        .route(
            "/orgs/{org}/repos/{name}",
            get(repos::get).delete(repos::remove),
        )
        .route("/orgs/{org}/repos/{name}/refresh", post(repos::refresh))
        .route("/orgs/{org}/repos/{name}/commits", get(repos::commits))
        .route("/orgs/{org}/repos/{name}/between", get(repos::between))
        .route("/orgs/{org}/search/{prefix}", get(repos::search))
        .route("/orgs/{org}/contains/{commit}", get(repos::contains))
        .route("/commits", get(repos::adhoc))
        .fallback(not_found)
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// `?page=&per_page=` where nothing else is accepted.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// Page numbers start at 1; page sizes are bounded. Every paged endpoint checks here.
pub fn check_paging(
    page: Option<u64>,
    per_page: Option<u64>,
    default_per_page: u64,
) -> Result<(u64, u64), ApiError> {
    let (page, per_page) = (page.unwrap_or(1), per_page.unwrap_or(default_per_page));
    if page == 0 || page > 1 << 40 || !(1..=1000).contains(&per_page) {
        return Err(ApiError::bad_request(
            "page starts at 1 and per_page must be between 1 and 1000",
        ));
    }
    Ok((page, per_page))
}
