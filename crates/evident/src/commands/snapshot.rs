//! `evident snapshot server|docker|k8s|ecs|lambda|file`: report what runs in an environment,
//! once, as a dry run, or every `--interval`.

use std::path::PathBuf;

use anyhow::Context;
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use evident_reporters::{Collector, EcsOptions, K8sOptions, LambdaOptions, LoopConfig};

use super::report::fingerprint_of;
use super::Ctx;
use crate::cli::{ReportMode, SnapshotCmd};
use crate::{exit, output};

/// Where a report comes from.
enum Source {
    Paths(Vec<PathBuf>),
    Runtime(Collector),
}

impl Source {
    async fn collect(&self) -> anyhow::Result<EnvironmentReport> {
        match self {
            Source::Paths(paths) => server_report(paths).await,
            Source::Runtime(c) => Ok(c.collect().await?),
        }
    }
}

/// Fingerprints each path (file or directory) as one artifact named by its absolute path.
/// Patterns (`/opt/*/app`) stand for every path they match; one matching nothing is an error.
async fn server_report(patterns: &[PathBuf]) -> anyhow::Result<EnvironmentReport> {
    let mut paths = Vec::new();
    for pattern in patterns {
        let found = evident_fingerprint::expand_paths(pattern)?;
        anyhow::ensure!(!found.is_empty(), "no path matches {}", pattern.display());
        paths.extend(found);
    }
    let mut artifacts = Vec::new();
    for path in &paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
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
    Ok(EnvironmentReport {
        artifacts,
        kind: Some("server".into()),
    })
}

fn announce(
    ctx: &Ctx,
    env: &str,
    outcome: &evident_core::api::ReportOutcome,
) -> anyhow::Result<()> {
    if ctx.json() {
        output::json(outcome)?;
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
    Ok(())
}

pub async fn run(ctx: &Ctx, cmd: SnapshotCmd) -> anyhow::Result<i32> {
    let (env, source, mode) = match cmd {
        SnapshotCmd::File { env, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report: EnvironmentReport = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid report", file.display()))?;
            let outcome = ctx
                .client
                .report_environment(ctx.org()?, &env, &report)
                .await?;
            announce(ctx, &env, &outcome)?;
            return Ok(exit::OK);
        }
        SnapshotCmd::Server { env, paths, mode } => (env, Source::Paths(paths), mode),
        SnapshotCmd::Docker { env, socket, mode } => {
            let socket = match socket {
                Some(s) => s,
                None => evident_reporters::docker::socket_from_env()?,
            };
            (env, Source::Runtime(Collector::Docker { socket }), mode)
        }
        SnapshotCmd::K8s {
            env,
            kubeconfig,
            namespace,
            exclude_namespace,
            mode,
        } => {
            let opts = K8sOptions {
                kubeconfig,
                namespaces: namespace,
                exclude_namespaces: exclude_namespace,
            };
            (env, Source::Runtime(Collector::K8s(opts)), mode)
        }
        SnapshotCmd::Ecs {
            env,
            cluster,
            service,
            region,
            mode,
        } => {
            let opts = EcsOptions {
                cluster,
                service,
                region,
                endpoint: None,
                credentials: None,
            };
            (env, Source::Runtime(Collector::Ecs(opts)), mode)
        }
        SnapshotCmd::Lambda {
            env,
            function_name,
            region,
            mode,
        } => {
            let opts = LambdaOptions {
                function_names: function_name,
                region,
                endpoint: None,
                credentials: None,
            };
            (env, Source::Runtime(Collector::Lambda(opts)), mode)
        }
    };
    report(ctx, &env, &source, &mode).await
}

async fn report(ctx: &Ctx, env: &str, source: &Source, mode: &ReportMode) -> anyhow::Result<i32> {
    if mode.dry_run {
        output::json(&source.collect().await?)?;
        return Ok(exit::OK);
    }
    let org = ctx.org()?;
    let Some(interval) = mode.interval else {
        let report = source.collect().await?;
        let outcome = ctx.client.report_environment(org, env, &report).await?;
        announce(ctx, env, &outcome)?;
        return Ok(exit::OK);
    };
    // A reporter never dies of a transient failure: it keeps its last report and retries.
    let summary = evident_reporters::run_loop(
        &LoopConfig::new(interval),
        || source.collect(),
        |report| async move {
            let outcome = ctx.client.report_environment(org, env, &report).await?;
            announce(ctx, env, &outcome)
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    eprintln!(
        "stopped after {} reports ({} failures){}",
        summary.reports_sent,
        summary.failures,
        summary
            .last_error
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default()
    );
    Ok(exit::OK)
}
