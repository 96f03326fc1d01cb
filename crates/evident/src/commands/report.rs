//! `evident report artifact|evidence|approval|deployment`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use evident_core::api::*;
use evident_core::Fingerprint;
use evident_fingerprint::{ArtifactType, DigestOptions};

use super::Ctx;
use crate::cli::{ArtifactTarget, ReportCmd};
use crate::{exit, output};

/// Fingerprints a path (or an image, for docker) off the async runtime.
pub async fn fingerprint_of(kind: &str, target: &Path) -> anyhow::Result<Fingerprint> {
    let kind: ArtifactType = kind.parse()?;
    let target = target.to_path_buf();
    let hex = tokio::task::spawn_blocking(move || {
        evident_fingerprint::digest(kind, target.as_os_str(), &DigestOptions::default())
    })
    .await
    .context("fingerprinting was interrupted")??;
    Ok(Fingerprint::parse(&hex)?)
}

async fn resolve_target(target: &ArtifactTarget) -> anyhow::Result<Fingerprint> {
    match (&target.fingerprint, &target.artifact_type, &target.path) {
        (Some(fp), _, _) => Ok(Fingerprint::parse(fp)?),
        (None, Some(kind), Some(path)) => fingerprint_of(kind, path).await,
        _ => bail!("name the artifact with --fingerprint SHA256, or --artifact-type TYPE PATH"),
    }
}

fn read_json(path: &Option<PathBuf>) -> anyhow::Result<Option<serde_json::Value>> {
    path.as_ref()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", p.display()))
        })
        .transpose()
}

fn done(ctx: &Ctx, r: &Recorded, what: &str) -> anyhow::Result<i32> {
    if ctx.json() {
        output::json(r)?;
    } else {
        println!("{what} for {}@{} recorded.", r.pipeline, r.fingerprint);
    }
    Ok(exit::OK)
}

pub async fn run(ctx: &Ctx, cmd: ReportCmd) -> anyhow::Result<i32> {
    let org = ctx.org()?;
    match cmd {
        ReportCmd::Artifact {
            name_or_path,
            pipeline,
            fingerprint,
            artifact_type,
            name,
            git_commit,
            commit_url,
            build_url,
        } => {
            let (fingerprint, default_name) = match (fingerprint, artifact_type) {
                (Some(fp), _) => (Fingerprint::parse(&fp)?, name_or_path.clone()),
                (None, Some(kind)) => {
                    let path = Path::new(&name_or_path);
                    let base = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| name_or_path.clone());
                    (fingerprint_of(&kind, path).await?, base)
                }
                (None, None) => bail!("give --fingerprint SHA256, or --artifact-type file|dir to fingerprint {name_or_path}"),
            };
            let req = ArtifactReport {
                fingerprint,
                name: name.unwrap_or(default_name),
                git_commit,
                commit_url,
                build_url,
            };
            let r = ctx.client.report_artifact(org, &pipeline, &req).await?;
            done(ctx, &r, "Artifact")
        }
        ReportCmd::Evidence {
            target,
            name,
            compliant,
            url,
            description,
            user_data,
            pipeline,
        } => {
            let req = EvidenceReport {
                fingerprint: resolve_target(&target).await?,
                name,
                compliant,
                url,
                description,
                user_data: read_json(&user_data)?,
                pipeline,
            };
            let r = ctx.client.report_evidence(org, &req).await?;
            done(ctx, &r, &format!("Evidence {}", req.name))
        }
        ReportCmd::Approval {
            target,
            environment,
            approved,
            reviewer,
            description,
            oldest_commit,
            newest_commit,
            pipeline,
        } => {
            let req = ApprovalReport {
                fingerprint: resolve_target(&target).await?,
                environment,
                approved,
                reviewer,
                description,
                oldest_commit,
                newest_commit,
                pipeline,
            };
            let r = ctx.client.report_approval(org, &req).await?;
            done(
                ctx,
                &r,
                &format!("Approval #{}", r.number.unwrap_or_default()),
            )
        }
        ReportCmd::Deployment {
            target,
            environment,
            description,
            user_data,
            pipeline,
        } => {
            let req = DeploymentReport {
                fingerprint: resolve_target(&target).await?,
                environment: environment.clone(),
                description,
                user_data: read_json(&user_data)?,
                pipeline,
            };
            let r = ctx.client.report_deployment(org, &req).await?;
            done(
                ctx,
                &r,
                &format!(
                    "Deployment #{} to {environment}",
                    r.number.unwrap_or_default()
                ),
            )
        }
    }
}
