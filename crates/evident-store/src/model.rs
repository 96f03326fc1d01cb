//! Rows as the store returns them.

use evident_core::api::{Role, Visibility};
use evident_core::Fingerprint;
use jiff::Timestamp;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub site_admin: bool,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub user: UserRecord,
    pub secret_hash: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct OrgRecord {
    pub id: i64,
    pub name: String,
    pub visibility: Visibility,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct PipelineRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub template: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ArtifactRecord {
    pub id: i64,
    pub pipeline: String,
    pub template: Vec<String>,
    pub fingerprint: Fingerprint,
    pub name: String,
    pub git_commit: Option<String>,
    pub commit_url: Option<String>,
    pub build_url: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct EvidenceRecord {
    pub artifact_id: i64,
    pub evidence: evident_core::api::Evidence,
}

pub type ApprovalRecord = evident_core::api::Approval;
pub type DeploymentRecord = evident_core::api::Deployment;

#[derive(Debug, Clone)]
pub struct EnvRecord {
    pub id: i64,
    pub env: evident_core::api::Environment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub fingerprint: Fingerprint,
    pub names: Vec<String>,
    pub replicas: u32,
    pub running_since: Timestamp,
    pub from_snapshot: u64,
    /// None while the run is open.
    pub to_snapshot: Option<u64>,
}

/// A run with the environment name and the times of its bounding snapshots.
#[derive(Debug, Clone)]
pub struct RunHistory {
    pub environment: String,
    pub run: RunRecord,
    pub from_at: Timestamp,
    pub to_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    pub seq: i64,
    pub kind: String,
    pub at: Timestamp,
    pub payload: String,
    pub hash: String,
}

pub(crate) fn role_from(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Reader)
}

pub(crate) fn visibility_from(s: &str) -> Visibility {
    if s == "private" {
        Visibility::Private
    } else {
        Visibility::Public
    }
}

#[derive(Debug, Clone)]
pub struct RepoRecord {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub created_at: Timestamp,
    pub last_refresh_at: Option<Timestamp>,
    pub last_refresh_ok: Option<bool>,
    pub last_error: Option<String>,
    pub generation: i64,
    pub commits: u64,
}
