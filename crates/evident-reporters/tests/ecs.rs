mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{
    assert_signed, closed_port_url, fixture, serve_tcp, test_credentials, Recorded, Reply,
};
use evident_core::snapshot::EnvState;
use evident_reporters::{ecs, Collector, EcsOptions, ReporterError};
use serde_json::{json, Value};

const WEB: &str = "7fd089bfb18d9dd67f3dfda04ade12934dd04bf67cf89bb7e3cf0d2909f02583";
const XRAY: &str = "1a46e6a68c37e8f969bab5d6fe6ce7b4deda2a17d80e1a7142e9c005b108f608";
const MIGRATE: &str = "51b7c1e39a3e1c3e2887eea214e62335e75c9ec8cb16fe6b6695d3a327ec7b86";
const REINDEX: &str = "9c0abe51c6e6655d81de2d044d4fb194931f058c0426c67c7285d8f5657ed64a";
const TASK: &str = "arn:aws:ecs:eu-west-1:123456789012:task/prod/";

fn target(req: &Recorded) -> &str {
    req.header("X-Amz-Target")
        .and_then(|t| t.strip_prefix("AmazonEC2ContainerServiceV20141113."))
        .unwrap_or("")
}

/// ECS as recorded: two pages of ListTasks, and DescribeTasks answering from the fixture
/// (unknown ARNs come back as `MISSING` failures, as ECS does for tasks long gone).
fn ecs_api(req: &Recorded) -> Reply {
    match target(req) {
        "ListTasks" => {
            if req.json().get("nextToken").is_some() {
                Reply::json(200, fixture("ecs/list-tasks-page2.json"))
            } else {
                Reply::json(200, fixture("ecs/list-tasks-page1.json"))
            }
        }
        "DescribeTasks" => {
            let wanted: Vec<String> = req.json()["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let all: Value = serde_json::from_str(&fixture("ecs/describe-tasks.json")).unwrap();
            let tasks: Vec<&Value> = all["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| wanted.iter().any(|w| t["taskArn"] == w.as_str()))
                .collect();
            let failures: Vec<Value> = wanted
                .iter()
                .filter(|w| !tasks.iter().any(|t| t["taskArn"] == w.as_str()))
                .map(|w| json!({"arn": w, "reason": "MISSING"}))
                .collect();
            Reply::json(
                200,
                json!({"tasks": tasks, "failures": failures}).to_string(),
            )
        }
        other => Reply::json(
            400,
            json!({"__type": "UnknownOperationException", "message": other}).to_string(),
        ),
    }
    .header("x-amzn-RequestId", "6a1e3d2c-0b9f-4e8d-a7c6-b5a4f3e2d1c0")
}

fn options(url: &str) -> EcsOptions {
    EcsOptions {
        cluster: "prod".into(),
        service: None,
        region: Some("eu-west-1".into()),
        endpoint: Some(url.to_string()),
        credentials: Some(test_credentials(Some("FwoGZXIvYXdzEBYaDEXAMPLETOKEN"))),
    }
}

#[tokio::test]
async fn running_tasks_across_pages() {
    let fake = serve_tcp(ecs_api).await;
    let report = ecs::collect(&options(&fake.url)).await.unwrap();
    assert_eq!(report.kind.as_deref(), Some("ECS"));

    type Row = (
        String,
        Vec<(String, String)>,
        Option<i64>,
        String,
        Option<String>,
    );
    let rows: Vec<Row> = report
        .artifacts
        .iter()
        .map(|i| {
            (
                i.task_arn.clone().unwrap().replace(TASK, ""),
                i.digests.clone().into_iter().collect(),
                i.creation_timestamp,
                i.cluster_name.clone().unwrap(),
                i.service_name.clone(),
            )
        })
        .collect();
    let web_task = |id: &str, ts: i64| -> Row {
        (
            id.into(),
            vec![
                (
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web:1.4.2".into(),
                    WEB.into(),
                ),
                (
                    "public.ecr.aws/xray/aws-xray-daemon:3.3.12".into(),
                    XRAY.into(),
                ),
            ],
            Some(ts),
            "prod".into(),
            Some("web".into()),
        )
    };
    assert_eq!(
        rows,
        vec![
            // The stopped `migrate` container of a running task is left out.
            web_task("0f9a8e1f2c3b4d5e6f708192a3b4c5d6", 1717000042),
            web_task("3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e", 1717086433),
            // The STOPPED task 7d1e… is left out. A standalone task: no service; the digest
            // comes from the pinned image; busybox (no digest at all) is left out.
            (
                "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49".into(),
                vec![(
                    format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/search/reindex@sha256:{REINDEX}"),
                    REINDEX.into()
                )],
                Some(1717100003),
                "prod".into(),
                None,
            ),
        ]
    );
    let all: Vec<&String> = report
        .artifacts
        .iter()
        .flat_map(|i| i.digests.values())
        .collect();
    assert!(!all.contains(&&MIGRATE.to_string()));
    let state = EnvState::from_report(&report, jiff::Timestamp::now()).unwrap();
    assert_eq!(state.0.len(), 3);
    assert_eq!(
        state
            .0
            .values()
            .find(|a| a.fingerprint.as_str() == WEB)
            .unwrap()
            .replicas,
        2
    );

    // ListTasks twice (the second with the token), then one DescribeTasks of all five ARNs.
    let reqs = fake.requests();
    let targets: Vec<&str> = reqs.iter().map(target).collect();
    assert_eq!(targets, ["ListTasks", "ListTasks", "DescribeTasks"]);
    assert_eq!(
        reqs[0].json(),
        json!({"cluster": "prod", "desiredStatus": "RUNNING", "maxResults": 100})
    );
    assert_eq!(
        reqs[1].json()["nextToken"],
        "eyJlbmNyeXB0ZWREYXRhIjpbXSwidmVyc2lvbiI6MSwia2V5SWQiOiJhcm46YXdzOmttczpldS13ZXN0LTE6MTIzNDU2Nzg5MDEyOmtleS9lY3MifQ=="
    );
    assert_eq!(reqs[2].json()["tasks"].as_array().unwrap().len(), 5);
    assert_eq!(reqs[2].json()["cluster"], "prod");
    let creds = test_credentials(Some("FwoGZXIvYXdzEBYaDEXAMPLETOKEN"));
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path(), "/");
        assert_eq!(r.header("Content-Type"), Some("application/x-amz-json-1.1"));
        let auth = assert_signed(r, &creds, "eu-west-1", "ecs");
        assert!(auth.contains(";x-amz-target"), "{auth}");
    }
}

#[tokio::test]
async fn one_service_and_describe_batches_of_100() {
    // 150 tasks over two pages of ListTasks.
    let arns: Vec<String> = (0..150).map(|i| format!("{TASK}{i:032x}")).collect();
    let pages = Arc::new(arns.clone());
    let fake = serve_tcp(move |req| match target(req) {
        "ListTasks" => {
            let body = if req.json().get("nextToken").is_some() {
                json!({"taskArns": pages[100..]})
            } else {
                json!({"taskArns": pages[..100], "nextToken": "page-2"})
            };
            Reply::json(200, body.to_string())
        }
        _ => {
            let tasks: Vec<Value> = req.json()["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|arn| {
                    json!({
                        "taskArn": arn,
                        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
                        "group": "service:api",
                        "lastStatus": "RUNNING",
                        "desiredStatus": "RUNNING",
                        "startedAt": 1717000000.5,
                        "containers": [{"name": "api", "image": "ghcr.io/acme/api:2.3.1",
                                        "imageDigest": format!("sha256:{WEB}"), "lastStatus": "RUNNING"}]
                    })
                })
                .collect();
            Reply::json(200, json!({"tasks": tasks, "failures": []}).to_string())
        }
    })
    .await;
    let mut o = options(&fake.url);
    o.service = Some("api".into());
    o.credentials = Some(test_credentials(None));
    let report = Collector::Ecs(o).collect().await.unwrap();
    assert_eq!(report.artifacts.len(), 150);
    let reqs = fake.requests();
    assert_eq!(reqs[0].json()["serviceName"], "api");
    let batches: Vec<usize> = reqs
        .iter()
        .filter(|r| target(r) == "DescribeTasks")
        .map(|r| r.json()["tasks"].as_array().unwrap().len())
        .collect();
    assert_eq!(batches, [100, 50]);
    for r in &reqs {
        assert_signed(r, &test_credentials(None), "eu-west-1", "ecs");
    }
}

#[tokio::test]
async fn client_errors_are_typed_and_not_retried() {
    let fake = serve_tcp(|_| Reply::json(400, fixture("ecs/cluster-not-found.json"))).await;
    let err = ecs::collect(&options(&fake.url)).await.unwrap_err();
    match &err {
        ReporterError::Aws {
            service,
            status,
            code,
            message,
        } => {
            assert_eq!(
                (*service, *status, code.as_str(), message.as_str()),
                ("ECS", 400, "ClusterNotFoundException", "Cluster not found.")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn access_denied_403() {
    let fake = serve_tcp(|_| {
        Reply::json(
            403,
            r#"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:ListTasks on resource: * because no identity-based policy allows the ecs:ListTasks action"}"#,
        )
    })
    .await;
    let err = ecs::collect(&options(&fake.url)).await.unwrap_err();
    assert!(
        matches!(&err, ReporterError::Aws { status: 403, code, message, .. }
            if code == "AccessDeniedException" && message.contains("ecs:ListTasks")),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_typed() {
    let fake = serve_tcp(|_| Reply::json(500, fixture("ecs/server-exception.json"))).await;
    let err = ecs::collect(&options(&fake.url)).await.unwrap_err();
    assert!(
        matches!(&err, ReporterError::Aws { status: 500, code, .. } if code == "ServerException"),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn throttling_is_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fake = serve_tcp(move |req| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(400, fixture("ecs/throttling.json"))
        } else {
            ecs_api(req)
        }
    })
    .await;
    let report = ecs::collect(&options(&fake.url)).await.unwrap();
    assert_eq!(report.artifacts.len(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn malformed_json_and_html_errors() {
    let fake = serve_tcp(|_| Reply::json(200, r#"{"taskArns": ["arn:aws:ecs:"#)).await;
    let err = ecs::collect(&options(&fake.url)).await.unwrap_err();
    assert!(matches!(err, ReporterError::Decode { .. }), "{err:?}");

    // A proxy's HTML page: no AWS error code, so a plain status error.
    let fake = serve_tcp(|_| {
        Reply::json(403, "<html><body>Forbidden by proxy</body></html>")
            .header("Content-Type", "text/html")
    })
    .await;
    let err = ecs::collect(&options(&fake.url)).await.unwrap_err();
    assert!(
        matches!(&err, ReporterError::Status { status: 403, message, .. } if message.contains("Forbidden by proxy")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unreachable_endpoint() {
    let url = closed_port_url().await;
    let err = ecs::collect(&options(&url)).await.unwrap_err();
    assert!(matches!(err, ReporterError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot reach ECS at http://127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cluster_is_required() {
    let err = ecs::collect(&EcsOptions::default()).await.unwrap_err();
    assert!(matches!(err, ReporterError::Config(_)), "{err:?}");
}
