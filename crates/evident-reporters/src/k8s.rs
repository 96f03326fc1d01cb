//! The Kubernetes reporter: what runs in a cluster's Running pods, from the API server.
//!
//! Uses the `kube` client: kubeconfig files (`current-context`, several files in `KUBECONFIG`,
//! certificate authorities, client certificates, tokens, `exec` credential plugins, proxies) or
//! the in-cluster service account.
//!
//! One [`ReportedInstance`] per Running pod, listing each of its (non-init, non-ephemeral)
//! containers: name = the image as the pod runs it, fingerprint = the digest in the container
//! status `imageID`. Init containers have finished before the pod runs and are left out, so a
//! pod's fingerprint set does not depend on them; restarts do not change it either (the
//! `imageID` of a restarted container is the same image).

use std::collections::BTreeMap;
use std::path::PathBuf;

use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{chain, ReporterError};
use crate::http::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use crate::image;

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

/// A client for one cluster, and where its configuration came from, for messages.
struct Cluster {
    client: kube::Client,
    /// The API server URL, without a trailing slash.
    server: String,
    /// The kubeconfig file, or the in-cluster service account.
    origin: String,
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
    let cluster = connect(options).await?;
    let excluded = |ns: &str| options.exclude_namespaces.iter().any(|x| x == ns);
    let mut pods = Vec::new();
    if options.namespaces.is_empty() {
        pods = list_pods(&cluster, None).await?;
    } else {
        let mut seen = Vec::new();
        for ns in &options.namespaces {
            if excluded(ns) || seen.contains(ns) {
                continue;
            }
            seen.push(ns.clone());
            pods.extend(list_pods(&cluster, Some(ns)).await?);
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

/// The configuration from `--kubeconfig`, else `KUBECONFIG`, `~/.kube/config` or the
/// in-cluster service account, with the reporters' timeouts.
async fn connect(options: &K8sOptions) -> Result<Cluster, ReporterError> {
    let (mut config, origin) = match &options.kubeconfig {
        Some(path) => {
            let origin = path.display().to_string();
            let err = |e: &(dyn std::error::Error + 'static)| ReporterError::Kubeconfig {
                origin: origin.clone(),
                message: chain(e),
            };
            let file = Kubeconfig::read_from(path).map_err(|e| err(&e))?;
            let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| err(&e))?;
            (config, origin)
        }
        None => {
            let config = kube::Config::infer().await.map_err(|e| {
                ReporterError::Config(format!(
                    "no usable Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create \
                     ~/.kube/config, or run in a pod with a service account ({})",
                    chain(&e)
                ))
            })?;
            let origin = match std::env::var("KUBECONFIG") {
                Ok(v) if !v.is_empty() => format!("KUBECONFIG={v}"),
                _ => "the default kubeconfig or in-cluster service account".to_string(),
            };
            (config, origin)
        }
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(REQUEST_TIMEOUT);
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let client = kube::Client::try_from(config).map_err(|e| ReporterError::Kubeconfig {
        origin: origin.clone(),
        message: chain(&e),
    })?;
    Ok(Cluster {
        client,
        server,
        origin,
    })
}

/// One instance for a Running pod; `None` for other phases or a pod with no usable digest yet.
fn pod_instance(pod: Pod) -> Option<ReportedInstance> {
    let status = pod.status.unwrap_or_default();
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    let spec = pod.spec.unwrap_or_default();
    let meta = pod.metadata;
    let pod_name = meta.name.unwrap_or_default();
    let mut digests = BTreeMap::new();
    for cs in status.container_statuses.iter().flatten() {
        let Some(digest) = image::k8s_image_id_digest(&cs.image_id) else {
            tracing::warn!(
                pod = %pod_name,
                container = %cs.name,
                image_id = %cs.image_id,
                "container has no image digest yet, leaving it out"
            );
            continue;
        };
        let spec_image = spec
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
    let started = status
        .start_time
        .or(meta.creation_timestamp)
        .map(|t| t.0.as_second());
    let owners = meta
        .owner_references
        .and_then(|o| serde_json::to_value(o).ok());
    Some(ReportedInstance {
        digests,
        creation_timestamp: started,
        pod_name: Some(pod_name),
        namespace: meta.namespace,
        owners,
        ..Default::default()
    })
}

/// Lists every Running pod (of `namespace`, or of all namespaces), following `continue`
/// tokens; restarts once or twice if a token expires.
async fn list_pods(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<Pod>, ReporterError> {
    let (api, path): (Api<Pod>, String) = match namespace {
        Some(ns) => (
            Api::namespaced(cluster.client.clone(), ns),
            format!("/api/v1/namespaces/{ns}/pods"),
        ),
        None => (Api::all(cluster.client.clone()), "/api/v1/pods".to_string()),
    };
    let url = format!("{}{path}", cluster.server);
    let mut restarts = 0;
    'restart: loop {
        let mut pods = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default()
                .limit(PAGE_SIZE)
                .fields("status.phase=Running");
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let page = match api.list(&params).await {
                Ok(page) => page,
                // 410 Gone: the continue token expired while paging; list again from the start.
                Err(kube::Error::Api(s)) if s.code == 410 && token.is_some() && restarts < 2 => {
                    restarts += 1;
                    tracing::warn!(%url, "pod list continue token expired, listing again");
                    continue 'restart;
                }
                Err(e) => return Err(api_error(cluster, &url, e)),
            };
            pods.extend(page.items);
            match page.metadata.continue_.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(pods),
            }
        }
    }
}

/// A `kube` error as a typed error.
fn api_error(cluster: &Cluster, url: &str, e: kube::Error) -> ReporterError {
    match e {
        kube::Error::Api(s) => ReporterError::Status {
            service: SERVICE,
            url: url.to_string(),
            status: s.code,
            message: if s.message.is_empty() {
                s.reason
            } else {
                s.message
            },
        },
        kube::Error::SerdeError(e) => ReporterError::Decode {
            service: SERVICE,
            url: url.to_string(),
            message: e.to_string(),
        },
        kube::Error::Auth(e) => ReporterError::Kubeconfig {
            origin: cluster.origin.clone(),
            message: chain(&e),
        },
        other => ReporterError::Unreachable {
            service: SERVICE,
            url: url.to_string(),
            message: match std::error::Error::source(&other) {
                Some(source) => chain(source),
                None => other.to_string(),
            },
        },
    }
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
}
