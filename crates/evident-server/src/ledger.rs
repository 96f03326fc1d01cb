//! The ledger operations behind the API: validated writes and composed views.
//! HTTP handlers and the demo loader both go through here, so demo data is real data.

use std::collections::BTreeMap;
use std::sync::Arc;

use evident_core::api::*;
use evident_core::compliance::{artifact_verdict, state_word};
use evident_core::history::{self, RunSpan};
use evident_core::refs::check_name;
use evident_core::snapshot::{diff, EnvState, EnvironmentReport};
use evident_core::{ArtifactRef, Fingerprint, Snappish, SnapshotSelector};
use evident_store::{ArtifactRecord, EnvRecord, EvidenceRecord, OrgRecord, Store};
use jiff::Timestamp;

use crate::error::{ApiError, ApiResult};

/// Cheap to clone; shares the store.
#[derive(Clone)]
pub struct Ledger {
    pub store: Arc<dyn Store>,
}

fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.len() > max {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {max} bytes"
        )));
    }
    Ok(())
}

fn check_commit(commit: &Option<String>) -> ApiResult<()> {
    match commit {
        Some(c) if !(7..=64).contains(&c.len()) || !c.chars().all(|c| c.is_ascii_hexdigit()) => {
            Err(ApiError::bad_request(format!(
                "git commit {c:?} must be 7 to 64 hex characters"
            )))
        }
        _ => Ok(()),
    }
}

impl Ledger {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    // ---- CI side ----

    pub async fn put_pipeline(
        &self,
        org: &OrgRecord,
        name: &str,
        mut req: PipelineRequest,
        now: Timestamp,
    ) -> ApiResult<Pipeline> {
        check_name(name)?;
        check_text("description", &req.description, 4096)?;
        for t in &req.template {
            check_name(t)?;
        }
        req.template.dedup();
        let p = self.store.put_pipeline(org, name, &req, now).await?;
        Ok(pipeline_view(p))
    }

    pub async fn pipelines(&self, org: &OrgRecord) -> ApiResult<Vec<Pipeline>> {
        Ok(self
            .store
            .pipelines(org.id)
            .await?
            .into_iter()
            .map(pipeline_view)
            .collect())
    }

    pub async fn report_artifact(
        &self,
        org: &OrgRecord,
        pipeline: &str,
        req: ArtifactReport,
        now: Timestamp,
    ) -> ApiResult<Recorded> {
        check_name(pipeline)?;
        if req.name.trim().is_empty() {
            return Err(ApiError::bad_request("artifact name must not be empty"));
        }
        check_text("name", &req.name, 1024)?;
        check_commit(&req.git_commit)?;
        for (field, v) in [
            ("commit_url", &req.commit_url),
            ("build_url", &req.build_url),
        ] {
            check_text(field, v.as_deref().unwrap_or(""), 2048)?;
        }
        let req = ArtifactReport {
            git_commit: req.git_commit.map(|c| c.to_ascii_lowercase()),
            ..req
        };
        let a = self.store.report_artifact(org, pipeline, &req, now).await?;
        Ok(Recorded {
            pipeline: a.pipeline,
            fingerprint: a.fingerprint,
            number: None,
        })
    }

    pub async fn report_evidence(
        &self,
        org: &OrgRecord,
        req: EvidenceReport,
        now: Timestamp,
    ) -> ApiResult<Recorded> {
        check_name(&req.name)?;
        check_text(
            "description",
            req.description.as_deref().unwrap_or(""),
            4096,
        )?;
        let a = self.store.report_evidence(org, &req, now).await?;
        Ok(Recorded {
            pipeline: a.pipeline,
            fingerprint: a.fingerprint,
            number: None,
        })
    }

    pub async fn report_approval(
        &self,
        org: &OrgRecord,
        req: ApprovalReport,
        now: Timestamp,
    ) -> ApiResult<Recorded> {
        check_commit(&req.oldest_commit)?;
        check_commit(&req.newest_commit)?;
        let (a, n) = self.store.report_approval(org, &req, now).await?;
        Ok(Recorded {
            pipeline: a.pipeline,
            fingerprint: a.fingerprint,
            number: Some(n),
        })
    }

    pub async fn report_deployment(
        &self,
        org: &OrgRecord,
        req: DeploymentReport,
        now: Timestamp,
    ) -> ApiResult<Recorded> {
        check_name(&req.environment)?;
        let (a, n) = self.store.report_deployment(org, &req, now).await?;
        Ok(Recorded {
            pipeline: a.pipeline,
            fingerprint: a.fingerprint,
            number: Some(n),
        })
    }

    // ---- runtime side ----

    pub async fn put_environment(
        &self,
        org: &OrgRecord,
        name: &str,
        mut req: EnvironmentRequest,
        now: Timestamp,
    ) -> ApiResult<Environment> {
        check_name(name)?;
        req.kind = req.kind.to_ascii_lowercase();
        if !ENV_KINDS.contains(&req.kind.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown environment type {:?}: use one of {}",
                req.kind,
                ENV_KINDS.join(", ")
            )));
        }
        check_text("description", &req.description, 4096)?;
        Ok(self.store.put_environment(org, name, &req, now).await?.env)
    }

    pub async fn environment(&self, org: &OrgRecord, name: &str) -> ApiResult<EnvRecord> {
        self.store
            .environment(org.id, name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("environment {name:?} not found")))
    }

    pub async fn report_environment(
        &self,
        org: &OrgRecord,
        env_name: &str,
        report: &EnvironmentReport,
        now: Timestamp,
    ) -> ApiResult<ReportOutcome> {
        let state = EnvState::from_report(report, now).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                e.to_string(),
            )
        })?;
        Ok(self
            .store
            .report_environment(org, env_name, &state, now)
            .await?)
    }

    /// Resolves a snappish to an environment and snapshot number.
    pub async fn resolve(&self, org: &OrgRecord, s: &Snappish) -> ApiResult<(EnvRecord, u64)> {
        let env = self.environment(org, &s.env).await?;
        let Some(latest) = env.env.latest_snapshot else {
            return Err(ApiError::not_found(format!(
                "environment {:?} has no snapshots yet",
                s.env
            )));
        };
        let number = match s.selector {
            SnapshotSelector::At(t) => {
                self.store.snapshot_at(env.id, t).await?.ok_or_else(|| {
                    ApiError::not_found(format!("{} has no snapshot at or before {t}", s.env))
                })?
            }
            sel => sel.resolve_number(latest).ok_or_else(|| {
                ApiError::not_found(format!(
                    "snapshot {s} does not exist: {} has snapshots #1 to #{latest}",
                    s.env
                ))
            })?,
        };
        Ok((env, number))
    }

    pub async fn snapshot(&self, org: &OrgRecord, s: &Snappish) -> ApiResult<Snapshot> {
        let (env, number) = self.resolve(org, s).await?;
        self.snapshot_of(org, &env, number).await
    }

    async fn snapshot_of(
        &self,
        org: &OrgRecord,
        env: &EnvRecord,
        number: u64,
    ) -> ApiResult<Snapshot> {
        let created_at = self
            .store
            .snapshot_time(env.id, number)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("{}#{number} not found", env.env.name)))?;
        let runs = self.store.runs_at(env.id, number).await?;
        let fps: Vec<Fingerprint> = runs.iter().map(|r| r.fingerprint.clone()).collect();
        let known = self.provenance(org, &fps).await?;
        let mut artifacts: Vec<SnapshotArtifact> = runs
            .into_iter()
            .map(|r| {
                let found = known.get(&r.fingerprint);
                let (compliant, reasons) = match found {
                    Some((_, v)) => (v.compliant, v.reasons.clone()),
                    None => (
                        false,
                        vec!["unknown provenance: no pipeline reported this artifact".to_string()],
                    ),
                };
                SnapshotArtifact {
                    provenance: found.is_some(),
                    pipeline: found.map(|(a, _)| a.pipeline.clone()),
                    git_commit: found.and_then(|(a, _)| a.git_commit.clone()),
                    commit_url: found.and_then(|(a, _)| a.commit_url.clone()),
                    fingerprint: r.fingerprint,
                    names: r.names,
                    replicas: r.replicas,
                    running_since: r.running_since,
                    compliant,
                    reasons,
                }
            })
            .collect();
        artifacts.sort_by(|a, b| (b.running_since, &a.names).cmp(&(a.running_since, &b.names)));
        Ok(Snapshot {
            environment: env.env.name.clone(),
            number,
            id: format!("{}#{number}", env.env.name),
            created_at,
            is_latest: env.env.latest_snapshot == Some(number),
            compliant: artifacts.iter().all(|a| a.compliant),
            artifacts,
        })
    }

    /// The newest artifact record of each fingerprint, with its compliance verdict.
    async fn provenance(
        &self,
        org: &OrgRecord,
        fps: &[Fingerprint],
    ) -> ApiResult<BTreeMap<Fingerprint, (ArtifactRecord, evident_core::compliance::Verdict)>> {
        if fps.is_empty() {
            return Ok(BTreeMap::new());
        }
        let records = self.store.artifacts_by_fingerprint(org.id, fps).await?;
        let ids: Vec<i64> = records.iter().map(|a| a.id).collect();
        let evidence = self.store.evidence(&ids).await?;
        let mut out = BTreeMap::new();
        // Records come oldest first, so the newest wins.
        for a in records {
            let verdict = verdict_of(&a, &evidence);
            out.insert(a.fingerprint.clone(), (a, verdict));
        }
        Ok(out)
    }

    pub async fn diff(
        &self,
        org: &OrgRecord,
        a: &Snappish,
        b: &Snappish,
        unchanged: bool,
    ) -> ApiResult<SnapshotDiff> {
        let sa = self.snapshot(org, a).await?;
        let sb = self.snapshot(org, b).await?;
        let d = diff(
            &sa.artifacts,
            &sb.artifacts,
            |x| &x.fingerprint,
            |x| x.replicas,
        );
        Ok(SnapshotDiff {
            a: sa.id,
            b: sb.id,
            only_a: d.only_a,
            only_b: d.only_b,
            changed: d
                .changed
                .into_iter()
                .map(|(x, y)| ScaledArtifact {
                    replicas_a: x.replicas,
                    replicas_b: y.replicas,
                    artifact: y,
                })
                .collect(),
            unchanged: if unchanged { d.unchanged } else { Vec::new() },
            commits: Vec::new(),
        })
    }

    pub async fn log(
        &self,
        org: &OrgRecord,
        env_name: &str,
        page: u64,
        per_page: u64,
    ) -> ApiResult<Page<SnapshotSpan>> {
        let env = self.environment(org, env_name).await?;
        let items = self.store.snapshot_spans(env.id, page, per_page).await?;
        Ok(Page {
            page,
            per_page,
            total: env.env.latest_snapshot.unwrap_or(0),
            items,
        })
    }

    // ---- artifacts ----

    /// The one artifact a reference names; ambiguity is an error listing the candidates.
    pub async fn find_artifact(
        &self,
        org: &OrgRecord,
        r: &ArtifactRef,
    ) -> ApiResult<ArtifactRecord> {
        let mut found = self.store.find_artifacts(org.id, r).await?;
        match found.len() {
            0 => Err(ApiError::not_found(format!("no artifact matches {r}"))),
            1 => Ok(found.remove(0)),
            _ => Err(ApiError::conflict(format!(
                "{r} is ambiguous; it matches: {}",
                found
                    .iter()
                    .map(|a| format!("{}@{} ({})", a.pipeline, a.fingerprint, a.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    pub async fn artifact(&self, org: &OrgRecord, r: &ArtifactRef) -> ApiResult<Artifact> {
        let a = self.find_artifact(org, r).await?;
        let evidence = self.store.evidence(&[a.id]).await?;
        let approvals = self.store.approvals(a.id).await?;
        let deployments = self.store.deployments(a.id).await?;
        let runs = self.store.runs_of(org.id, &a.fingerprint).await?;
        let verdict = verdict_of(&a, &evidence);

        let mut lines = vec![HistoryEntry {
            at: a.created_at,
            text: "Artifact created".to_string(),
        }];
        lines.extend(evidence.iter().map(|e| HistoryEntry {
            at: e.evidence.reported_at,
            text: format!("{} evidence received", e.evidence.name),
        }));
        lines.extend(approvals.iter().map(|ap| HistoryEntry {
            at: ap.reported_at,
            text: format!(
                "Approval #{} {}{}{}",
                ap.number,
                if ap.approved { "approved" } else { "rejected" },
                ap.environment
                    .as_ref()
                    .map(|e| format!(" for {e} environment"))
                    .unwrap_or_default(),
                ap.reviewer
                    .as_ref()
                    .map(|r| format!(" by {r}"))
                    .unwrap_or_default(),
            ),
        }));
        lines.extend(deployments.iter().map(|d| HistoryEntry {
            at: d.reported_at,
            text: format!("Deployment #{} to {} environment", d.number, d.environment),
        }));
        let spans: Vec<RunSpan> = runs
            .into_iter()
            .map(|h| RunSpan {
                environment: h.environment,
                replicas: h.run.replicas,
                from_snapshot: h.run.from_snapshot,
                from_at: h.from_at,
                to: h.run.to_snapshot.zip(h.to_at),
            })
            .collect();
        lines.extend(history::runtime_lines(&spans));
        history::sort(&mut lines);

        Ok(Artifact {
            name: a.name,
            fingerprint: a.fingerprint,
            pipeline: a.pipeline,
            git_commit: a.git_commit,
            commit_url: a.commit_url,
            build_url: a.build_url,
            created_at: a.created_at,
            state: state_word(verdict.compliant).to_string(),
            compliant: verdict.compliant,
            reasons: verdict.reasons,
            evidence: evidence.into_iter().map(|e| e.evidence).collect(),
            approvals,
            deployments,
            history: lines,
        })
    }

    /// Summaries (with compliance) of artifact records.
    pub async fn summaries(&self, records: Vec<ArtifactRecord>) -> ApiResult<Vec<ArtifactSummary>> {
        let ids: Vec<i64> = records.iter().map(|a| a.id).collect();
        let evidence = self.store.evidence(&ids).await?;
        Ok(records
            .into_iter()
            .map(|a| ArtifactSummary {
                compliant: verdict_of(&a, &evidence).compliant,
                name: a.name,
                fingerprint: a.fingerprint,
                pipeline: a.pipeline,
                git_commit: a.git_commit,
                created_at: a.created_at,
            })
            .collect())
    }

    pub async fn list_artifacts(
        &self,
        org: &OrgRecord,
        pipeline: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> ApiResult<Page<ArtifactSummary>> {
        let (records, total) = self
            .store
            .list_artifacts(org.id, pipeline, page, per_page)
            .await?;
        let items = self.summaries(records).await?;
        Ok(Page {
            page,
            per_page,
            total,
            items,
        })
    }
}

fn pipeline_view(p: evident_store::PipelineRecord) -> Pipeline {
    Pipeline {
        name: p.name,
        description: p.description,
        visibility: p.visibility,
        template: p.template,
        created_at: p.created_at,
    }
}

/// Compliance of one artifact given evidence (of possibly many artifacts), oldest first.
fn verdict_of(
    a: &ArtifactRecord,
    evidence: &[EvidenceRecord],
) -> evident_core::compliance::Verdict {
    let latest: BTreeMap<String, bool> = evidence
        .iter()
        .filter(|e| e.artifact_id == a.id)
        .map(|e| (e.evidence.name.clone(), e.evidence.compliant))
        .collect();
    artifact_verdict(&a.template, &latest)
}
