//! The JSON shapes of the REST API (`/api/v1`), shared by the server, the client and the CLI.
//! `--output json` prints exactly these.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;

/// Who may read an org or pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

/// A member's rights in an org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Writer => "writer",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reader" => Some(Self::Reader),
            "writer" => Some(Self::Writer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Every error body: `{"error": "...", "code": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
}

// ---- orgs, users, tokens ----

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
    #[serde(default)]
    pub visibility: Visibility,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Org {
    pub name: String,
    pub visibility: Visibility,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: String,
    #[serde(default)]
    pub site_admin: bool,
}

/// A freshly minted token; the secret is shown once and only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewToken {
    pub user: String,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    pub role: Role,
}

// ---- pipelines ----

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PipelineRequest {
    #[serde(default)]
    pub description: String,
    /// Evidence names every artifact of this pipeline must have.
    #[serde(default)]
    pub template: Vec<String>,
    #[serde(default)]
    pub visibility: Visibility,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub template: Vec<String>,
    pub created_at: Timestamp,
}

// ---- CI reports ----

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactReport {
    pub fingerprint: Fingerprint,
    /// Display name, e.g. `cyberdojo/runner:16d9990`.
    pub name: String,
    #[serde(default)]
    pub git_commit: Option<String>,
    #[serde(default)]
    pub commit_url: Option<String>,
    #[serde(default)]
    pub build_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceReport {
    pub fingerprint: Fingerprint,
    /// Evidence name, e.g. `branch-coverage`.
    pub name: String,
    pub compliant: bool,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub user_data: Option<serde_json::Value>,
    /// Restricts the report to one pipeline when the fingerprint is in several.
    #[serde(default)]
    pub pipeline: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalReport {
    pub fingerprint: Fingerprint,
    #[serde(default)]
    pub environment: Option<String>,
    pub approved: bool,
    #[serde(default)]
    pub reviewer: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The commit range the approval covers (oldest exclusive, newest inclusive).
    #[serde(default)]
    pub oldest_commit: Option<String>,
    #[serde(default)]
    pub newest_commit: Option<String>,
    #[serde(default)]
    pub pipeline: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentReport {
    pub fingerprint: Fingerprint,
    pub environment: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub user_data: Option<serde_json::Value>,
    #[serde(default)]
    pub pipeline: Option<String>,
}

/// The outcome of a CI report: which artifact it attached to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    pub pipeline: String,
    pub fingerprint: Fingerprint,
    /// Deployment or approval number, numbered per pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    pub name: String,
    pub compliant: bool,
    pub url: Option<String>,
    pub description: Option<String>,
    pub user_data: Option<serde_json::Value>,
    pub reported_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approval {
    pub number: u64,
    pub approved: bool,
    pub environment: Option<String>,
    pub reviewer: Option<String>,
    pub description: Option<String>,
    pub oldest_commit: Option<String>,
    pub newest_commit: Option<String>,
    pub reported_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    pub number: u64,
    pub environment: String,
    pub description: Option<String>,
    pub reported_at: Timestamp,
}

/// One line of an artifact's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub text: String,
}

/// `GET /orgs/{org}/artifacts/{ref}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    pub fingerprint: Fingerprint,
    pub pipeline: String,
    pub git_commit: Option<String>,
    pub commit_url: Option<String>,
    pub build_url: Option<String>,
    pub created_at: Timestamp,
    /// `COMPLIANT` or `NON-COMPLIANT`.
    pub state: String,
    pub compliant: bool,
    pub reasons: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub approvals: Vec<Approval>,
    pub deployments: Vec<Deployment>,
    pub history: Vec<HistoryEntry>,
}

/// A row of `GET /orgs/{org}/artifacts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactSummary {
    pub name: String,
    pub fingerprint: Fingerprint,
    pub pipeline: String,
    pub git_commit: Option<String>,
    pub created_at: Timestamp,
    pub compliant: bool,
}

// ---- environments and snapshots ----

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentRequest {
    /// `server`, `docker`, `k8s`, `ecs`, `lambda` or `s3`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
}

/// The environment kinds evident knows.
pub const ENV_KINDS: &[&str] = &["server", "docker", "k8s", "ecs", "lambda", "s3"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub created_at: Timestamp,
    pub last_reported_at: Option<Timestamp>,
    pub last_changed_at: Option<Timestamp>,
    pub latest_snapshot: Option<u64>,
}

/// The outcome of an environment report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportOutcome {
    pub environment: String,
    /// The snapshot now in force.
    pub snapshot: u64,
    /// False when the report equalled the latest snapshot (a heartbeat).
    pub created: bool,
    pub artifacts: usize,
}

/// An artifact as it runs in a snapshot, joined with what the ledger knows of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotArtifact {
    pub fingerprint: Fingerprint,
    pub names: Vec<String>,
    pub replicas: u32,
    pub running_since: Timestamp,
    /// False when no pipeline reported this fingerprint: unknown provenance.
    pub provenance: bool,
    pub pipeline: Option<String>,
    pub git_commit: Option<String>,
    pub commit_url: Option<String>,
    pub compliant: bool,
    pub reasons: Vec<String>,
}

/// `GET /orgs/{org}/snapshots/{snappish}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub environment: String,
    pub number: u64,
    /// `aws-prod#65`.
    pub id: String,
    pub created_at: Timestamp,
    pub is_latest: bool,
    pub compliant: bool,
    pub artifacts: Vec<SnapshotArtifact>,
}

/// A replica-count change between the two sides of a diff.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaledArtifact {
    pub artifact: SnapshotArtifact,
    pub replicas_a: u32,
    pub replicas_b: u32,
}

/// `GET /orgs/{org}/diff?a=&b=`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotDiff {
    /// Expanded ids, e.g. `aws-prod#64`.
    pub a: String,
    pub b: String,
    pub only_a: Vec<SnapshotArtifact>,
    pub only_b: Vec<SnapshotArtifact>,
    pub changed: Vec<ScaledArtifact>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<SnapshotArtifact>,
    /// With `commits=true`: for each pipeline whose artifact changed, the commits the new
    /// version brings over the old one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<CommitChange>,
}

/// The commits between two versions of one pipeline's artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitChange {
    pub pipeline: String,
    pub from_commit: String,
    pub to_commit: String,
    /// The tracked repository holding the commits, if any.
    pub repo: Option<String>,
    pub commits: Vec<Commit>,
    /// Why the list is empty or incomplete, when it is.
    pub note: Option<String>,
}

/// A row of `env log`: one snapshot and how long it was in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotSpan {
    pub number: u64,
    pub from: Timestamp,
    /// None while it is the latest.
    pub to: Option<Timestamp>,
}

/// A page of a listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
    pub items: Vec<T>,
}

// ---- git repositories and commits ----

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoRequest {
    pub name: String,
    pub url: String,
}

/// A tracked repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repo {
    pub name: String,
    pub url: String,
    pub created_at: Timestamp,
    pub commits: u64,
    pub last_refresh_at: Option<Timestamp>,
    /// `ok`, `failed` or `never`.
    pub last_refresh: String,
    pub last_error: Option<String>,
}

/// Who made a commit and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub name: String,
    pub email: String,
    pub time: Timestamp,
    /// The author's or committer's UTC offset, in minutes.
    pub offset_minutes: i32,
}

/// One commit with its refs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub parents: Vec<String>,
    pub author: Signature,
    pub committer: Signature,
    pub message: String,
    /// Branches and tags pointing at it.
    pub refs: Vec<String>,
}

/// A page of commits, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitPage {
    pub repo: String,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
    pub commits: Vec<Commit>,
}

/// What `evident search` finds for a commit or fingerprint prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// Matching commits in tracked repositories.
    pub commits: Vec<RepoCommit>,
    /// Artifacts built from those commits, or with a matching fingerprint.
    pub artifacts: Vec<ArtifactWhere>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoCommit {
    pub repo: String,
    pub commit: Commit,
}

/// An artifact and where it runs or ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactWhere {
    pub artifact: ArtifactSummary,
    /// `aws-prod#65..#93` style spans, current ones last with no end.
    pub runs: Vec<RunWhere>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunWhere {
    pub environment: String,
    pub from_snapshot: u64,
    /// The first snapshot it was no longer in, if it stopped.
    pub to_snapshot: Option<u64>,
    pub replicas: u32,
}

/// `GET /orgs/{org}/contains/{commit}`: the first artifact of each pipeline built from a
/// commit that includes the given one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contains {
    pub commit: String,
    pub repo: String,
    pub artifacts: Vec<ArtifactSummary>,
}
