//! API tokens and who may see and change what.
//!
//! A token is `evd_<id>_<secret>`. The id finds the row; only SHA-256(secret) is stored and it
//! is compared in constant time, so neither the database nor timing reveals a usable token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use evident_core::api::{NewToken, Role, Visibility};
use evident_store::{OrgRecord, Store, UserRecord};
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

const PREFIX: &str = "evd_";

/// Mints a token for `user` and stores its hash. The secret is returned once.
pub async fn mint_token(
    store: &dyn Store,
    user: &UserRecord,
    description: &str,
) -> evident_store::Result<NewToken> {
    let (id, secret) = {
        let mut rng = rand::rng();
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut id);
        rng.fill_bytes(&mut secret);
        (hex::encode(id), hex::encode(secret))
    };
    store
        .create_token(
            user.id,
            &id,
            &hash_secret(&secret),
            description,
            Timestamp::now(),
        )
        .await?;
    Ok(NewToken {
        user: user.name.clone(),
        token: format!("{PREFIX}{id}_{secret}"),
    })
}

/// Stores a token chosen by the operator (a bootstrap token from config) for `user`.
pub async fn install_token(store: &dyn Store, user: &UserRecord, token: &str) -> ApiResult<()> {
    let (id, secret) = split(token).ok_or_else(|| {
        ApiError::bad_request("bootstrap token must look like evd_<16 hex>_<32+ chars>")
    })?;
    if store.token(id).await?.is_none() {
        store
            .create_token(
                user.id,
                id,
                &hash_secret(secret),
                "bootstrap",
                Timestamp::now(),
            )
            .await?;
    }
    Ok(())
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()) && secret.len() >= 32)
        .then_some((id, secret))
}

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRecord,
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized("missing API token: send Authorization: Bearer <token>")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .unwrap_or("")
            .trim();
        let invalid = || ApiError::unauthorized("invalid API token");
        let (id, secret) = split(token).ok_or_else(invalid)?;
        let record = match state.tokens.get(&id.to_string()) {
            Some(r) => r,
            None => {
                let r = state.store.token(id).await?.ok_or_else(invalid)?;
                state.tokens.insert(id.to_string(), r.clone());
                r
            }
        };
        if bool::from(hash_secret(secret).ct_eq(&record.secret_hash)) {
            Ok(Caller { user: record.user })
        } else {
            Err(invalid())
        }
    }
}

/// What a caller may do in an org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Admin,
}

impl Caller {
    /// Finds the org and checks access. A private org the caller cannot read is reported as
    /// missing, so its existence does not leak.
    pub async fn org(&self, app: &AppState, name: &str, access: Access) -> ApiResult<OrgRecord> {
        let missing = || ApiError::not_found(format!("org {name:?} not found"));
        let org = match app.orgs.get(&name.to_string()) {
            Some(org) => org,
            None => {
                let org = app.store.org(name).await?.ok_or_else(missing)?;
                app.orgs.insert(name.to_string(), org.clone());
                org
            }
        };
        if self.user.site_admin {
            return Ok(org);
        }
        let key = (org.id, self.user.id);
        let role = match app.roles.get(&key) {
            Some(role) => role,
            None => {
                let role = app.store.role(org.id, self.user.id).await?;
                app.roles.insert(key, role);
                role
            }
        };
        if role.is_none() && org.visibility == Visibility::Private {
            return Err(missing());
        }
        let needed = match access {
            Access::Read => return Ok(org),
            Access::Write => Role::Writer,
            Access::Admin => Role::Admin,
        };
        match role {
            Some(r) if r >= needed => Ok(org),
            _ => Err(ApiError::forbidden(format!(
                "{} needs the {} role in org {name:?}",
                self.user.name,
                needed.as_str()
            ))),
        }
    }

    pub fn require_site_admin(&self) -> ApiResult<()> {
        if self.user.site_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("only a site admin may do this"))
        }
    }
}
