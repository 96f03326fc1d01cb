//! `evident report artifact|evidence|approval|deployment`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use evident_core::api::*;
use evident_core::Fingerprint;
use evident_fingerprint::{ArtifactType, DigestOptions};

use super::Ctx;
use crate::cli::{ArtifactTarget, ReportCmd};
use crate::{exit, output};

/// Fingerprints a path (or an image, for docker) off the async runtime, with a progress bar
/// on a terminal for big files and trees.
pub async fn fingerprint_of(kind: &str, target: &Path) -> anyhow::Result<Fingerprint> {
    fingerprint_with(kind, target, Vec::new()).await
}

pub async fn fingerprint_with(
    kind: &str,
    target: &Path,
    excludes: Vec<String>,
) -> anyhow::Result<Fingerprint> {
    let kind: ArtifactType = kind.parse()?;
    let progress = evident_fingerprint::Progress::new();
    let opts = DigestOptions {
        dir: evident_fingerprint::DirOptions {
            excludes,
            progress: std::io::stderr().is_terminal().then(|| progress.clone()),
        },
        ..DigestOptions::default()
    };
    let target = target.to_path_buf();
    let work = tokio::task::spawn_blocking(move || {
        evident_fingerprint::digest(kind, target.as_os_str(), &opts)
    });
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} fingerprinting {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar
    });
    tokio::pin!(work);
    let hex = loop {
        tokio::select! {
            done = &mut work => break done.context("fingerprinting was interrupted")??,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                if let Some(bar) = &bar {
                    bar.set_length(progress.bytes_total());
                    bar.set_position(progress.bytes_done());
                    bar.set_message(format!("{} files", progress.files_done()));
                }
            }
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
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
