mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{closed_port_url, fixture, serve_tcp, Reply};
use evident_core::snapshot::{EnvState, EnvironmentReport};
use evident_reporters::{k8s, Collector, K8sOptions, ReporterError};

const COREDNS: &str = "8a32e516d7415be524a7fcec482ad2918f2b6ef2a7f4cb8e2e232b361436b20b";
const REDIS: &str = "34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03";
const API: &str = "14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479";
const ENVOY: &str = "84532b306f259587c364bd7301e0813963d5b84fd27c9338f0862dab8f0499d7";
const NGINX: &str = "5be1ecc7935f1dd85635d4feedaf660594030253cc97c9e9ca3819ffeac36b65";
const MIGRATE: &str = "3bc801a33ea83df414e1aeb962a52412835be99db28668ec25de73fdd4733804";
const CONTINUE: &str = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDgxNjAyMywic3RhcnQiOiJzaG9wL3dlYi01ZDljN2Y5OGIteHoya3BcdTAwMDAifQ";

/// A kubeconfig for `server`, authenticating with a bearer token.
fn kubeconfig(dir: &tempfile::TempDir, server: &str) -> PathBuf {
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: fake\n  cluster:\n    server: {server}\ncontexts:\n- name: test\n  context:\n    cluster: fake\n    user: reporter\n    namespace: shop\nusers:\n- name: reporter\n  user:\n    token: test-token\n"
        ),
    )
    .unwrap();
    path
}

/// The two pages of the cluster-wide pod list, chained by a `continue` token.
fn paged(req: &common::Recorded) -> Reply {
    if req.path() != "/api/v1/pods" {
        return Reply::json(404, fixture("k8s/forbidden.json"));
    }
    if req.query().contains("continue=") {
        Reply::json(200, fixture("k8s/pods-page2.json"))
    } else {
        Reply::json(200, fixture("k8s/pods-page1.json"))
    }
}

/// All pods of both pages in one namespace, as `/api/v1/namespaces/{ns}/pods` lists them.
fn namespaced(req: &common::Recorded) -> Reply {
    let Some(ns) = req
        .path()
        .strip_prefix("/api/v1/namespaces/")
        .and_then(|p| p.strip_suffix("/pods"))
    else {
        return Reply::json(404, "{}");
    };
    let mut items = Vec::new();
    for page in ["k8s/pods-page1.json", "k8s/pods-page2.json"] {
        let v: serde_json::Value = serde_json::from_str(&fixture(page)).unwrap();
        for pod in v["items"].as_array().unwrap() {
            if pod["metadata"]["namespace"] == ns {
                items.push(pod.clone());
            }
        }
    }
    let list = serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items});
    Reply::json(200, list.to_string())
}

type Row = (String, String, Vec<(String, String)>, Option<i64>);

fn rows(report: &EnvironmentReport) -> Vec<Row> {
    report
        .artifacts
        .iter()
        .map(|i| {
            (
                i.namespace.clone().unwrap(),
                i.pod_name.clone().unwrap(),
                i.digests.clone().into_iter().collect(),
                i.creation_timestamp,
            )
        })
        .collect()
}

fn row(ns: &str, pod: &str, digests: &[(&str, &str)], ts: i64) -> Row {
    (
        ns.into(),
        pod.into(),
        digests
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect(),
        Some(ts),
    )
}

fn web(pod: &str, ts: i64) -> Row {
    row(
        "shop",
        pod,
        &[
            ("docker.io/envoyproxy/envoy:v1.30.1", ENVOY),
            ("docker.io/library/nginx:1.25", NGINX),
        ],
        ts,
    )
}

#[tokio::test]
async fn running_pods_of_all_namespaces_across_pages() {
    let fake = serve_tcp(paged).await;
    let dir = tempfile::tempdir().unwrap();
    let options = K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        ..Default::default()
    };
    let report = k8s::collect(&options).await.unwrap();
    assert_eq!(report.kind.as_deref(), Some("K8S"));
    assert_eq!(
        rows(&report),
        vec![
            row(
                "kube-system",
                "coredns-76f75df574-8xk2p",
                &[("registry.k8s.io/coredns/coredns:v1.11.1", COREDNS)],
                1716192012
            ),
            // No startTime: the pod's creationTimestamp. `docker-pullable://` is stripped.
            row(
                "legacy",
                "cache-7f9d8c6b5-h2j4k",
                &[("redis:7", REDIS)],
                1698911110
            ),
            // Digest-pinned: the status names the image by ID, the spec by what the user wrote.
            row(
                "payments",
                "api-0",
                &[(
                    "ghcr.io/acme/api:2.3.1@sha256:14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479",
                    API
                )],
                1716913801
            ),
            web("web-5d9c7f98b-q7m4d", 1717236003),
            web("web-5d9c7f98b-xz2kp", 1717236002),
        ]
    );
    // The init container's image is not reported; the Pending and Succeeded pods are not either.
    let all: Vec<&String> = report
        .artifacts
        .iter()
        .flat_map(|i| i.digests.values())
        .collect();
    assert!(!all.contains(&&MIGRATE.to_string()));
    let owners = report.artifacts[2].owners.as_ref().unwrap();
    assert_eq!(owners[0]["kind"], "StatefulSet");

    // Two pages were fetched, the second with the first one's continue token.
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].target,
        "/api/v1/pods?&fieldSelector=status.phase%3DRunning&limit=500"
    );
    assert_eq!(
        reqs[1].target,
        format!("/api/v1/pods?&fieldSelector=status.phase%3DRunning&limit=500&continue={CONTINUE}")
    );
    assert_eq!(reqs[0].header("Authorization"), Some("Bearer test-token"));

    // Aggregated: web runs two replicas, nginx and envoy one fingerprint each.
    let state = EnvState::from_report(&report, jiff::Timestamp::now()).unwrap();
    let nginx = state
        .0
        .values()
        .find(|a| a.fingerprint.as_str() == NGINX)
        .unwrap();
    assert_eq!(nginx.replicas, 2);
    assert_eq!(state.0.len(), 5);
}

#[tokio::test]
async fn restarts_do_not_change_the_fingerprint_set() {
    let dir = tempfile::tempdir().unwrap();
    let fake = serve_tcp(paged).await;
    let options = K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        ..Default::default()
    };
    let before = k8s::collect(&options).await.unwrap();

    // Every container restarts: new restart counts, states and start times.
    let restart = |page: &str| {
        let mut v: serde_json::Value = serde_json::from_str(&fixture(page)).unwrap();
        for pod in v["items"].as_array_mut().unwrap() {
            for cs in pod["status"]["containerStatuses"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
            {
                cs["restartCount"] = serde_json::json!(cs["restartCount"].as_i64().unwrap() + 7);
                cs["lastState"] =
                    serde_json::json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}});
                cs["state"] = serde_json::json!({"running": {"startedAt": "2024-06-03T00:00:00Z"}});
            }
        }
        v.to_string()
    };
    let (p1, p2) = (
        restart("k8s/pods-page1.json"),
        restart("k8s/pods-page2.json"),
    );
    let restarted_fake = serve_tcp(move |req| {
        if req.query().contains("continue=") {
            Reply::json(200, p2.clone())
        } else {
            Reply::json(200, p1.clone())
        }
    })
    .await;
    let dir2 = tempfile::tempdir().unwrap();
    let after = k8s::collect(&K8sOptions {
        kubeconfig: Some(kubeconfig(&dir2, &restarted_fake.url)),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(rows(&before), rows(&after));
    let now = jiff::Timestamp::now();
    assert_eq!(
        EnvState::from_report(&before, now).unwrap().state_hash(),
        EnvState::from_report(&after, now).unwrap().state_hash()
    );
}

#[tokio::test]
async fn chosen_namespaces_minus_excluded() {
    let fake = serve_tcp(namespaced).await;
    let dir = tempfile::tempdir().unwrap();
    let options = K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        namespaces: vec!["shop".into(), "payments".into(), "legacy".into()],
        exclude_namespaces: vec!["legacy".into()],
    };
    let report = Collector::K8s(options).collect().await.unwrap();
    let pods: Vec<String> = report
        .artifacts
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i.namespace.as_ref().unwrap(),
                i.pod_name.as_ref().unwrap()
            )
        })
        .collect();
    assert_eq!(
        pods,
        [
            "payments/api-0",
            "shop/web-5d9c7f98b-q7m4d",
            "shop/web-5d9c7f98b-xz2kp"
        ]
    );
    let paths: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/shop/pods",
            "/api/v1/namespaces/payments/pods"
        ]
    );
}

#[tokio::test]
async fn excluded_namespaces_are_dropped_from_a_cluster_wide_list() {
    let fake = serve_tcp(paged).await;
    let dir = tempfile::tempdir().unwrap();
    let options = K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        exclude_namespaces: vec!["kube-system".into(), "shop".into()],
        ..Default::default()
    };
    let report = k8s::collect(&options).await.unwrap();
    let pods: Vec<&str> = report
        .artifacts
        .iter()
        .map(|i| i.pod_name.as_deref().unwrap())
        .collect();
    assert_eq!(pods, ["cache-7f9d8c6b5-h2j4k", "api-0"]);
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fake = serve_tcp(move |req| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        if req.query().contains("continue=") {
            if n == 1 {
                Reply::json(410, fixture("k8s/expired.json"))
            } else {
                Reply::json(200, fixture("k8s/pods-page2.json"))
            }
        } else {
            Reply::json(200, fixture("k8s/pods-page1.json"))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let report = k8s::collect(&K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(report.artifacts.len(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn forbidden_is_a_typed_error_with_the_api_message() {
    let fake = serve_tcp(|_| Reply::json(403, fixture("k8s/forbidden.json"))).await;
    let dir = tempfile::tempdir().unwrap();
    let err = k8s::collect(&K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        ..Default::default()
    })
    .await
    .unwrap_err();
    match &err {
        ReporterError::Status {
            status, message, ..
        } => {
            assert_eq!(*status, 403);
            assert!(message.starts_with("pods is forbidden: User"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn server_error_and_malformed_json() {
    let dir = tempfile::tempdir().unwrap();
    let fake = serve_tcp(|_| Reply::json(500, "etcdserver: request timed out")).await;
    let options = K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        ..Default::default()
    };
    let err = k8s::collect(&options).await.unwrap_err();
    assert!(
        matches!(&err, ReporterError::Status { status: 500, message, .. } if message == "etcdserver: request timed out"),
        "{err:?}"
    );

    let fake = serve_tcp(|_| Reply::json(200, r#"{"kind":"PodList","items":[{"metadata":"#)).await;
    let options = K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &fake.url)),
        ..Default::default()
    };
    let err = k8s::collect(&options).await.unwrap_err();
    assert!(matches!(err, ReporterError::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let url = closed_port_url().await;
    let err = k8s::collect(&K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &url)),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ReporterError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot reach the Kubernetes API at"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_options_are_refused_before_any_request() {
    let err = k8s::collect(&K8sOptions {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        namespaces: vec!["../../secrets".into()],
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ReporterError::Config(_)), "{err:?}");
    let err = k8s::collect(&K8sOptions {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ReporterError::Kubeconfig { .. }), "{err:?}");
}

#[tokio::test]
async fn the_run_loop_survives_an_unreachable_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let down = Collector::K8s(K8sOptions {
        kubeconfig: Some(kubeconfig(&dir, &closed_port_url().await)),
        ..Default::default()
    });
    let fake = serve_tcp(paged).await;
    let dir2 = tempfile::tempdir().unwrap();
    let up = Collector::K8s(K8sOptions {
        kubeconfig: Some(kubeconfig(&dir2, &fake.url)),
        ..Default::default()
    });
    // The API server is unreachable for two attempts, then answers.
    let attempts = AtomicUsize::new(0);
    let sent = AtomicUsize::new(0);
    let config = evident_reporters::LoopConfig {
        interval: std::time::Duration::from_secs(1),
        initial_backoff: std::time::Duration::from_millis(10),
        max_backoff: std::time::Duration::from_millis(20),
        jitter: 0.0,
    };
    let summary = evident_reporters::run_loop(
        &config,
        || {
            let first = attempts.fetch_add(1, Ordering::SeqCst) < 2;
            if first { &down } else { &up }.collect()
        },
        |report| {
            let sent = &sent;
            async move {
                assert_eq!(report.artifacts.len(), 5);
                sent.fetch_add(1, Ordering::SeqCst);
                Ok::<(), String>(())
            }
        },
        async {
            while sent.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        },
    )
    .await;
    assert_eq!((summary.failures, summary.reports_sent), (2, 1));
    let error = summary.last_error.unwrap();
    assert!(
        error.starts_with("collecting the report failed: cannot reach the Kubernetes API at"),
        "{error}"
    );
    assert_eq!(summary.last_report.unwrap().artifacts.len(), 5);
}
