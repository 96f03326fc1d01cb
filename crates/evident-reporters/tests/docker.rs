mod common;

use common::{fixture, serve_unix, Reply};
use evident_core::snapshot::EnvState;
use evident_reporters::{docker, Collector, ReporterError};

/// Digests, creation time, instance.
type Row = (Vec<(String, String)>, Option<i64>, Option<String>);

const NGINX: &str = "5be1ecc7935f1dd85635d4feedaf660594030253cc97c9e9ca3819ffeac36b65";
const API_ACR: &str = "d399067903e5fe9b002728c17a49bb31c57d01405748ecbbd4b7d3564f6e3d8c";

fn daemon(req: &common::Recorded) -> Reply {
    match req.path() {
        "/containers/json" => Reply::json(200, fixture("docker/containers.json")).chunked(),
        "/images/sha256:ae2ad8614ca6333ad4b3e4b685a7a5271532cc77820d1008816cdc8a1848f98e/json" => {
            Reply::json(200, fixture("docker/image-nginx.json"))
        }
        "/images/sha256:fe80e52dec5bdb2adf02da4fbdc128b47e20d75c157f93661f105be1e32aed45/json" => {
            Reply::json(200, fixture("docker/image-myapp.json"))
        }
        "/images/sha256:ae82b340f454b3e6485378a79f3a3e6da4c6101d92871f44bbbb0a3f160495fa/json" => {
            Reply::json(200, fixture("docker/image-api-untagged.json"))
        }
        _ => Reply::json(404, r#"{"message":"page not found"}"#),
    }
}

#[tokio::test]
async fn reports_running_containers_by_repo_digest() {
    let fake = serve_unix(daemon).await;
    let socket = fake.socket.clone().unwrap();
    let report = docker::collect(&socket).await.unwrap();
    assert_eq!(report.kind.as_deref(), Some("docker"));

    let got: Vec<Row> = report
        .artifacts
        .iter()
        .map(|i| {
            (
                i.digests.clone().into_iter().collect(),
                i.creation_timestamp,
                i.instance.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                vec![("nginx:1.25".to_string(), NGINX.to_string())],
                Some(1717000000),
                Some("3f4e8a9b1c2d".to_string())
            ),
            (
                vec![("nginx:1.25".to_string(), NGINX.to_string())],
                Some(1717000100),
                Some("b7c8d9e0f1a2".to_string())
            ),
            // The tag moved away: named by the repository of its digest, not by `sha256:…`.
            (
                vec![("acme.azurecr.io/acme/api".to_string(), API_ACR.to_string())],
                Some(1716990000),
                Some("d4e5f6071829".to_string())
            ),
        ]
    );

    // Two containers of one image are two replicas of one artifact; myapp:dev (no repo digest)
    // is left out.
    let state = EnvState::from_report(&report, jiff::Timestamp::now()).unwrap();
    let replicas: Vec<(String, u32)> = state
        .0
        .values()
        .map(|a| (a.fingerprint.to_string(), a.replicas))
        .collect();
    assert_eq!(
        replicas,
        vec![(NGINX.to_string(), 2), (API_ACR.to_string(), 1)]
    );

    // Each image is inspected once, however many containers run it.
    let paths: Vec<String> = fake.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert_eq!(paths[0], "/containers/json");
    let req = &fake.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.header("Connection"), Some("close"));
}

#[tokio::test]
async fn collector_dispatches_to_docker() {
    let fake = serve_unix(daemon).await;
    let c = Collector::Docker {
        socket: fake.socket.clone().unwrap(),
    };
    assert_eq!(c.kind(), "docker");
    assert_eq!(c.collect().await.unwrap().artifacts.len(), 3);
}

#[tokio::test]
async fn no_daemon_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let err = docker::collect(&socket).await.unwrap_err();
    assert!(
        matches!(err, ReporterError::DockerUnreachable { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot reach the Docker daemon at {}: ",
            socket.display()
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn daemon_errors_are_typed() {
    let fake = serve_unix(|_| {
        Reply::json(
            500,
            r#"{"message":"Error response from daemon: layer does not exist"}"#,
        )
    })
    .await;
    match docker::collect(fake.socket.as_ref().unwrap()).await {
        Err(ReporterError::Status {
            status, message, ..
        }) => {
            assert_eq!(status, 500);
            assert_eq!(message, "Error response from daemon: layer does not exist");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let fake = serve_unix(|_| Reply::json(200, r#"[{"Id": "abc", "Image": 42"#)).await;
    let err = docker::collect(fake.socket.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ReporterError::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn not_http_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-docker.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        }
    });
    let err = docker::collect(&path).await.unwrap_err();
    assert!(
        matches!(err, ReporterError::DockerProtocol { .. }),
        "{err:?}"
    );
}
