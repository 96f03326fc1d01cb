//! The ECS reporter: what runs in the RUNNING tasks of an ECS cluster (optionally one service).
//!
//! Calls `ListTasks`, then `DescribeTasks` in batches of 100, with the AWS SDK and credentials
//! from the usual AWS chain (see [`EcsOptions::credentials`]). One
//! [`ReportedInstance`] per RUNNING task, listing its containers: name = the container image
//! (the container name when there is none), fingerprint = `imageDigest`, else the digest of a
//! digest-pinned image. A container with neither is left out with a warning (Kosli would send an
//! empty fingerprint), and so is a container that has already stopped inside a running task
//! (a finished init-style container, like a Kubernetes init container).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{DesiredStatus, Task};
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};

use crate::aws::{epoch_seconds, AwsSettings, Credentials, Service};
use crate::error::ReporterError;
use crate::image;

/// The most tasks `DescribeTasks` accepts in one call.
pub const DESCRIBE_BATCH: usize = 100;

/// What to report: a cluster, optionally one service in it.
#[derive(Debug, Clone, Default)]
pub struct EcsOptions {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Only the tasks of this service.
    pub service: Option<String>,
    /// The region; default: the AWS SDK's region chain (`AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's `region`, instance metadata).
    pub region: Option<String>,
    /// The API endpoint, e.g. a local fake; default: `AWS_ENDPOINT_URL_ECS`, `AWS_ENDPOINT_URL`,
    /// the profile's `endpoint_url`, then `https://ecs.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    /// Credentials to use instead of the AWS SDK's default chain (environment, profiles with
    /// `AssumeRole`, web identity or `credential_process`, the ECS/EKS container endpoint, EC2
    /// instance metadata).
    pub credentials: Option<Credentials>,
}

/// Lists the RUNNING tasks of the cluster (or service) and their container image digests.
pub async fn collect(options: &EcsOptions) -> Result<EnvironmentReport, ReporterError> {
    if options.cluster.trim().is_empty() {
        return Err(ReporterError::Config(
            "an ECS cluster name is required".into(),
        ));
    }
    let settings = AwsSettings {
        region: options.region.clone(),
        endpoint: options.endpoint.clone(),
        credentials: options.credentials.clone(),
    };
    let service = Service::load("ECS", "ECS", &settings).await?;
    let mut config = aws_sdk_ecs::config::Builder::from(&service.config);
    if let Some(e) = &service.endpoint_override {
        config = config.endpoint_url(e);
    }
    let client = aws_sdk_ecs::Client::from_conf(config.build());
    let arns = list_tasks(&client, &service, options).await?;
    let mut tasks = Vec::new();
    for batch in arns.chunks(DESCRIBE_BATCH) {
        let response = client
            .describe_tasks()
            .cluster(&options.cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| service.error("DescribeTasks", e))?;
        for f in response.failures() {
            // MISSING: the task stopped between the listing and the description.
            tracing::warn!(arn = ?f.arn(), reason = ?f.reason(), "ECS could not describe a task");
        }
        tasks.extend(response.tasks.unwrap_or_default());
    }
    let mut artifacts: Vec<ReportedInstance> = tasks
        .into_iter()
        .filter(|t| t.last_status() == Some("RUNNING"))
        .filter_map(|t| task_instance(&t, &options.cluster))
        .collect();
    artifacts.sort_by(|a, b| a.task_arn.cmp(&b.task_arn));
    Ok(EnvironmentReport {
        artifacts,
        kind: Some(crate::KIND_ECS.to_string()),
    })
}

/// Every task ARN, page after page (`nextToken`).
async fn list_tasks(
    client: &aws_sdk_ecs::Client,
    service: &Service,
    options: &EcsOptions,
) -> Result<Vec<String>, ReporterError> {
    client
        .list_tasks()
        .cluster(&options.cluster)
        .desired_status(DesiredStatus::Running)
        .set_service_name(options.service.clone())
        .into_paginator()
        .page_size(100)
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| service.error("ListTasks", e))
}

fn task_instance(task: &Task, cluster: &str) -> Option<ReportedInstance> {
    let task_arn = task.task_arn().unwrap_or_default();
    let mut digests = BTreeMap::new();
    for c in task.containers() {
        if c.last_status() == Some("STOPPED") {
            continue;
        }
        let digest = c
            .image_digest()
            .and_then(image::fingerprint)
            .or_else(|| c.image().and_then(image::pinned_digest));
        let name = c
            .image()
            .filter(|i| !i.is_empty())
            .or(c.name())
            .unwrap_or_default()
            .to_string();
        match digest {
            Some(d) if !name.is_empty() => {
                digests.insert(name, d);
            }
            _ => tracing::warn!(
                task = %task_arn,
                container = ?c.name(),
                image = ?c.image(),
                "container has no image digest, leaving it out"
            ),
        }
    }
    if digests.is_empty() || task_arn.is_empty() {
        return None;
    }
    let cluster_name = task
        .cluster_arn()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_else(|| cluster.rsplit('/').next().unwrap_or(cluster))
        .to_string();
    let service_name = task
        .group()
        .and_then(|g| g.strip_prefix("service:"))
        .map(str::to_string);
    Some(ReportedInstance {
        digests,
        creation_timestamp: epoch_seconds(task.started_at().or(task.created_at())),
        task_arn: Some(task_arn.to_string()),
        cluster_name: Some(cluster_name),
        service_name,
        ..Default::default()
    })
}
