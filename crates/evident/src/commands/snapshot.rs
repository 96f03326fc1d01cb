//! `evident snapshot server|file`: report what runs in an environment.

use anyhow::Context;
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};

use super::report::fingerprint_of;
use super::Ctx;
use crate::cli::SnapshotCmd;
use crate::{exit, output};

pub async fn run(ctx: &Ctx, cmd: SnapshotCmd) -> anyhow::Result<i32> {
    let (env, report, dry_run) = match cmd {
        SnapshotCmd::Server {
            env,
            paths,
            dry_run,
        } => {
            let mut artifacts = Vec::new();
            for path in &paths {
                let meta = std::fs::metadata(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let kind = if meta.is_dir() { "dir" } else { "file" };
                let fingerprint = fingerprint_of(kind, path).await?;
                let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                let started = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs() as i64);
                artifacts.push(ReportedInstance {
                    digests: [(absolute.display().to_string(), fingerprint.to_string())].into(),
                    creation_timestamp: started,
                    ..Default::default()
                });
            }
            let report = EnvironmentReport {
                artifacts,
                kind: Some("server".into()),
            };
            (env, report, dry_run)
        }
        SnapshotCmd::File { env, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report: EnvironmentReport = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid report", file.display()))?;
            (env, report, false)
        }
    };
    if dry_run {
        output::json(&report)?;
        return Ok(exit::OK);
    }
    let outcome = ctx
        .client
        .report_environment(ctx.org()?, &env, &report)
        .await?;
    if ctx.json() {
        output::json(&outcome)?;
    } else if outcome.created {
        println!(
            "[{}] artifacts were reported to environment {env}: snapshot #{} created.",
            outcome.artifacts, outcome.snapshot
        );
    } else {
        println!(
            "[{}] artifacts were reported to environment {env}: unchanged since snapshot #{}.",
            outcome.artifacts, outcome.snapshot
        );
    }
    Ok(exit::OK)
}
