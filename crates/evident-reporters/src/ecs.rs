//! The ECS reporter: what runs in the RUNNING tasks of an ECS cluster (optionally one service).
//!
//! Calls the ECS JSON 1.1 API (`ListTasks`, then `DescribeTasks` in batches of 100) signed with
//! SigV4; see [`crate::aws::credentials`] for where credentials come from. One
//! [`ReportedInstance`] per RUNNING task, listing its containers: name = the container image
//! (the container name when there is none), fingerprint = `imageDigest`, else the digest of a
//! digest-pinned image. A container with neither is left out with a warning (Kosli would send an
//! empty fingerprint), and so is a container that has already stopped inside a running task
//! (a finished init-style container, like a Kubernetes init container).

use std::collections::BTreeMap;

use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use serde::Deserialize;
use serde_json::json;

use crate::aws::credentials::Credentials;
use crate::aws::{epoch_seconds, AwsClient, AwsSettings};
use crate::error::ReporterError;
use crate::{http, image};

/// The most tasks `DescribeTasks` accepts in one call.
pub const DESCRIBE_BATCH: usize = 100;

/// What to report: a cluster, optionally one service in it.
#[derive(Debug, Clone, Default)]
pub struct EcsOptions {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Only the tasks of this service.
    pub service: Option<String>,
    /// The region; default: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
    pub region: Option<String>,
    /// The API endpoint, e.g. a local fake; default: `AWS_ENDPOINT_URL_ECS`, `AWS_ENDPOINT_URL`,
    /// then `https://ecs.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    /// Credentials to use instead of the lookup chain of [`crate::aws::credentials`].
    pub credentials: Option<Credentials>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListTasksResponse {
    #[serde(default)]
    task_arns: Vec<String>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct DescribeTasksResponse {
    #[serde(default)]
    tasks: Vec<Task>,
    #[serde(default)]
    failures: Vec<Failure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    #[serde(default)]
    arn: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    task_arn: String,
    #[serde(default)]
    cluster_arn: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    last_status: Option<String>,
    #[serde(default)]
    started_at: Option<f64>,
    #[serde(default)]
    created_at: Option<f64>,
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    image_digest: Option<String>,
    #[serde(default)]
    last_status: Option<String>,
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
    let client = AwsClient::new("ECS", "ecs", &settings).await?;
    let arns = list_tasks(&client, options).await?;
    let mut tasks = Vec::new();
    for batch in arns.chunks(DESCRIBE_BATCH) {
        let body = json!({"cluster": options.cluster, "tasks": batch});
        let response: DescribeTasksResponse = rpc(&client, "DescribeTasks", &body).await?;
        for f in response.failures {
            // MISSING: the task stopped between the listing and the description.
            tracing::warn!(arn = ?f.arn, reason = ?f.reason, "ECS could not describe a task");
        }
        tasks.extend(response.tasks);
    }
    let mut artifacts: Vec<ReportedInstance> = tasks
        .into_iter()
        .filter(|t| t.last_status.as_deref() == Some("RUNNING"))
        .filter_map(|t| task_instance(t, &options.cluster))
        .collect();
    artifacts.sort_by(|a, b| a.task_arn.cmp(&b.task_arn));
    Ok(EnvironmentReport {
        artifacts,
        kind: Some(crate::KIND_ECS.to_string()),
    })
}

async fn list_tasks(
    client: &AwsClient,
    options: &EcsOptions,
) -> Result<Vec<String>, ReporterError> {
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({
            "cluster": options.cluster,
            "desiredStatus": "RUNNING",
            "maxResults": 100,
        });
        if let Some(s) = &options.service {
            body["serviceName"] = json!(s);
        }
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page: ListTasksResponse = rpc(client, "ListTasks", &body).await?;
        arns.extend(page.task_arns);
        match page.next_token.filter(|t| !t.is_empty()) {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => return Ok(arns),
        }
    }
}

fn task_instance(task: Task, cluster: &str) -> Option<ReportedInstance> {
    let mut digests = BTreeMap::new();
    for c in &task.containers {
        if c.last_status.as_deref() == Some("STOPPED") {
            continue;
        }
        let digest = c
            .image_digest
            .as_deref()
            .and_then(image::fingerprint)
            .or_else(|| c.image.as_deref().and_then(image::pinned_digest));
        let name = c
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .or_else(|| c.name.clone())
            .unwrap_or_default();
        match digest {
            Some(d) if !name.is_empty() => {
                digests.insert(name, d);
            }
            _ => tracing::warn!(
                task = %task.task_arn,
                container = ?c.name,
                image = ?c.image,
                "container has no image digest, leaving it out"
            ),
        }
    }
    if digests.is_empty() {
        return None;
    }
    let cluster_name = task
        .cluster_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_else(|| cluster.rsplit('/').next().unwrap_or(cluster))
        .to_string();
    let service_name = task
        .group
        .as_deref()
        .and_then(|g| g.strip_prefix("service:"))
        .map(str::to_string);
    Some(ReportedInstance {
        digests,
        creation_timestamp: epoch_seconds(task.started_at.or(task.created_at)),
        task_arn: Some(task.task_arn),
        cluster_name: Some(cluster_name),
        service_name,
        ..Default::default()
    })
}

async fn rpc<T: serde::de::DeserializeOwned>(
    client: &AwsClient,
    action: &str,
    body: &serde_json::Value,
) -> Result<T, ReporterError> {
    let response = client
        .call(
            reqwest::Method::POST,
            "/",
            &[],
            &[
                ("Content-Type", "application/x-amz-json-1.1".to_string()),
                (
                    "X-Amz-Target",
                    format!("AmazonEC2ContainerServiceV20141113.{action}"),
                ),
            ],
            body.to_string().into_bytes(),
        )
        .await?;
    http::decode(
        client.label,
        &format!("{} ({action})", response.url),
        &response.body,
    )
}
