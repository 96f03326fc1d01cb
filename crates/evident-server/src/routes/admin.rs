//! Users, orgs and memberships.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use evident_core::api::{CreateOrg, CreateUser, NewToken, Org, SetMember};
use evident_core::refs::check_name;
use jiff::Timestamp;

use crate::auth::{mint_token, Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::AppState;

pub async fn create_user(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Json(req): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    caller.require_site_admin()?;
    check_name(&req.name)?;
    let user = app
        .store
        .create_user(&req.name, req.site_admin, Timestamp::now())
        .await?;
    let token = mint_token(app.store.as_ref(), &user, "created by admin").await?;
    Ok((StatusCode::CREATED, Json(token)))
}

pub async fn create_org(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Json(req): Json<CreateOrg>,
) -> ApiResult<(StatusCode, Json<Org>)> {
    caller.require_site_admin()?;
    check_name(&req.name)?;
    let org = app
        .store
        .create_org(
            &req.name,
            req.visibility,
            Some(caller.user.id),
            Timestamp::now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Org {
            name: org.name,
            visibility: org.visibility,
            created_at: org.created_at,
        }),
    ))
}

pub async fn list_orgs(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<Org>>> {
    let mut out = Vec::new();
    for org in app.store.orgs().await? {
        if caller.org(&app, &org.name, Access::Read).await.is_ok() {
            out.push(Org {
                name: org.name,
                visibility: org.visibility,
                created_at: org.created_at,
            });
        }
    }
    Ok(Json(out))
}

pub async fn set_member(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Json(req): Json<SetMember>,
) -> ApiResult<StatusCode> {
    let org = caller.org(&app, &org, Access::Admin).await?;
    let user = app
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {user:?} not found")))?;
    app.store
        .set_member(&org, user.id, req.role, Timestamp::now())
        .await?;
    app.forget_roles();
    Ok(StatusCode::NO_CONTENT)
}
