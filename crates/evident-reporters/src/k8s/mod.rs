//! The Kubernetes reporter: what runs in a cluster's Running pods, from the API server.
//!
//! One [`ReportedInstance`] per Running pod, listing each of its (non-init, non-ephemeral)
//! containers: name = the image as the pod runs it, fingerprint = the digest in the container
//! status `imageID`. Init containers have finished before the pod runs and are left out, so a
//! pod's fingerprint set does not depend on them; restarts do not change it either (the
//! `imageID` of a restarted container is the same image).

mod kubeconfig;

use std::collections::BTreeMap;
use std::path::PathBuf;

use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use serde::Deserialize;

use crate::error::{snippet, ReporterError};
use crate::{http, image};

/// The page size used when listing pods.
pub const PAGE_SIZE: u32 = 500;

const SERVICE: &str = "the Kubernetes API";

/// What to report and how to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct K8sOptions {
    /// A kubeconfig file. `None`: `KUBECONFIG`, then `~/.kube/config`, then the in-cluster
    /// service account (`/var/run/secrets/kubernetes.io/serviceaccount`).
    pub kubeconfig: Option<PathBuf>,
    /// Only these namespaces; empty means all namespaces (needs cluster-wide `list pods`).
    pub namespaces: Vec<String>,
    /// Namespaces to leave out; wins over `namespaces`.
    pub exclude_namespaces: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct PodList {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Pod>,
}

#[derive(Debug, Default, Deserialize)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Pod {
    metadata: PodMeta,
    #[serde(default)]
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodMeta {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<String>,
    #[serde(default)]
    owner_references: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct PodSpec {
    #[serde(default)]
    containers: Vec<SpecContainer>,
}

#[derive(Debug, Deserialize)]
struct SpecContainer {
    name: String,
    #[serde(default)]
    image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStatus {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStatus {
    name: String,
    #[serde(default)]
    image: String,
    #[serde(rename = "imageID", default)]
    image_id: String,
}

/// Lists the Running pods of the cluster (or of the chosen namespaces) and their images.
pub async fn collect(options: &K8sOptions) -> Result<EnvironmentReport, ReporterError> {
    for ns in options.namespaces.iter().chain(&options.exclude_namespaces) {
        if !valid_namespace(ns) {
            return Err(ReporterError::Config(format!(
                "{ns:?} is not a valid Kubernetes namespace name"
            )));
        }
    }
    let config = kubeconfig::load(options.kubeconfig.as_deref()).await?;
    let client = config.client()?;
    let excluded = |ns: &str| options.exclude_namespaces.iter().any(|x| x == ns);
    let mut pods = Vec::new();
    if options.namespaces.is_empty() {
        pods = list_pods(&client, &config, "/api/v1/pods").await?;
    } else {
        let mut seen = Vec::new();
        for ns in &options.namespaces {
            if excluded(ns) || seen.contains(ns) {
                continue;
            }
            seen.push(ns.clone());
            let path = format!("/api/v1/namespaces/{ns}/pods");
            pods.extend(list_pods(&client, &config, &path).await?);
        }
    }
    let mut artifacts: Vec<ReportedInstance> = pods
        .into_iter()
        .filter(|p| !excluded(p.metadata.namespace.as_deref().unwrap_or_default()))
        .filter_map(pod_instance)
        .collect();
    artifacts.sort_by(|a, b| (&a.namespace, &a.pod_name).cmp(&(&b.namespace, &b.pod_name)));
    Ok(EnvironmentReport {
        artifacts,
        kind: Some(crate::KIND_K8S.to_string()),
    })
}

/// One instance for a Running pod; `None` for other phases or a pod with no usable digest yet.
fn pod_instance(pod: Pod) -> Option<ReportedInstance> {
    if pod.status.phase.as_deref() != Some("Running") {
        return None;
    }
    let mut digests = BTreeMap::new();
    for cs in &pod.status.container_statuses {
        let Some(digest) = image::k8s_image_id_digest(&cs.image_id) else {
            tracing::warn!(
                pod = %pod.metadata.name,
                container = %cs.name,
                image_id = %cs.image_id,
                "container has no image digest yet, leaving it out"
            );
            continue;
        };
        let spec_image = pod
            .spec
            .containers
            .iter()
            .find(|c| c.name == cs.name)
            .and_then(|c| c.image.clone())
            .filter(|i| !i.is_empty());
        // A digest-pinned image shows up in the status as `sha256:…` or `repo@sha256:…`
        // (kosli-dev/cli#1203): the spec keeps what the user wrote, tag included.
        let status_is_poor =
            cs.image.is_empty() || image::is_image_id(&cs.image) || cs.image.contains('@');
        let name = match spec_image {
            Some(spec) if status_is_poor => spec,
            _ if cs.image.is_empty() => cs.name.clone(),
            _ => cs.image.clone(),
        };
        digests.insert(name, digest);
    }
    if digests.is_empty() {
        return None;
    }
    let started = pod
        .status
        .start_time
        .as_deref()
        .or(pod.metadata.creation_timestamp.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second());
    Some(ReportedInstance {
        digests,
        creation_timestamp: started,
        pod_name: Some(pod.metadata.name),
        namespace: pod.metadata.namespace,
        owners: pod.metadata.owner_references,
        ..Default::default()
    })
}

/// Lists every pod at `path`, following `continue` tokens; restarts once if a token expires.
async fn list_pods(
    client: &reqwest::Client,
    config: &kubeconfig::ApiConfig,
    path: &str,
) -> Result<Vec<Pod>, ReporterError> {
    let mut restarts = 0;
    'restart: loop {
        let mut pods = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let url = format!("{}{path}", config.server);
            let mut query: Vec<(&str, String)> = vec![
                ("limit", PAGE_SIZE.to_string()),
                ("fieldSelector", "status.phase=Running".to_string()),
            ];
            if let Some(t) = &token {
                query.push(("continue", t.clone()));
            }
            let request = config
                .authorize(client.get(&url))
                .query(&query)
                .header("Accept", "application/json");
            let response = request
                .send()
                .await
                .map_err(|e| http::unreachable(SERVICE, &url, &e))?;
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .map_err(|e| http::unreachable(SERVICE, &url, &e))?;
            // 410 Gone: the continue token expired while paging; list again from the start.
            if status == 410 && token.is_some() && restarts < 2 {
                restarts += 1;
                tracing::warn!(%url, "pod list continue token expired, listing again");
                continue 'restart;
            }
            if status != 200 {
                return Err(ReporterError::Status {
                    service: SERVICE,
                    url,
                    status,
                    message: status_message(&body),
                });
            }
            let page: PodList = http::decode(SERVICE, &url, &body)?;
            pods.extend(page.items);
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(pods),
            }
        }
    }
}

/// The `message` of a Kubernetes `Status` error body, or the body itself.
fn status_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Status {
        message: String,
    }
    serde_json::from_slice::<Status>(body)
        .map(|s| s.message)
        .unwrap_or_else(|_| snippet(body))
}

/// An RFC 1123 label, as namespace names are.
fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names() {
        assert!(valid_namespace("kube-system"));
        assert!(!valid_namespace("../secrets"));
        assert!(!valid_namespace("Prod"));
        assert!(!valid_namespace(""));
    }

    #[test]
    fn status_messages() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden","reason":"Forbidden","code":403}"#;
        assert_eq!(status_message(body), "pods is forbidden");
        assert_eq!(status_message(b"oops"), "oops");
    }
}
