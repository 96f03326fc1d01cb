//! Local Docker images, against a fake Docker Engine on a unix socket in a temp dir
//! (no daemon runs in CI). The fake serves a recorded real `/images/{name}/json` body.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

use evident_fingerprint::{
    digest, docker_image_digest, ArtifactType, DigestOptions, FingerprintError,
};

const RECORDED: &str = include_str!("fixtures/image-inspect-metrics.json");
const IMAGE: &str = "ghcr.io/lowlighter/metrics:v3.34";
const DIGEST: &str = "257392f90340f916cb8b815026f259399f6b246d3eb7de38b58bfe7a07bd5b65";

/// Serves one connection with `response` (raw HTTP) and reports the request line.
fn fake_daemon(response: Vec<u8>) -> (tempfile::TempDir, PathBuf, mpsc::Receiver<String>) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let request = String::from_utf8_lossy(&head).into_owned();
        tx.send(request.lines().next().unwrap_or_default().to_string())
            .unwrap();
        conn.write_all(&response).unwrap();
    });
    (dir, socket, rx)
}

fn http(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nApi-Version: 1.47\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn repo_digest_of_a_pulled_image() {
    let (_d, socket, rx) = fake_daemon(http("200 OK", RECORDED));
    assert_eq!(docker_image_digest(IMAGE, &socket).unwrap(), DIGEST);
    assert_eq!(
        rx.recv().unwrap(),
        format!("GET /images/{IMAGE}/json HTTP/1.1")
    );
}

#[test]
fn chunked_and_close_delimited_answers() {
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in RECORDED.as_bytes().chunks(1000) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (_d, socket, _rx) = fake_daemon(chunked);
    assert_eq!(docker_image_digest(IMAGE, &socket).unwrap(), DIGEST);

    let close = format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{RECORDED}");
    let (_d, socket, _rx) = fake_daemon(close.into_bytes());
    assert_eq!(docker_image_digest(IMAGE, &socket).unwrap(), DIGEST);
}

#[test]
fn dispatcher_uses_the_configured_socket() {
    let (_d, socket, _rx) = fake_daemon(http("200 OK", RECORDED));
    let opts = DigestOptions {
        docker_socket: Some(socket),
        ..Default::default()
    };
    assert_eq!(digest(ArtifactType::Docker, IMAGE, &opts).unwrap(), DIGEST);
}

#[test]
fn locally_built_image_has_no_repo_digest() {
    let mut body: serde_json::Value = serde_json::from_str(RECORDED).unwrap();
    body["RepoDigests"] = serde_json::json!([]);
    let (_d, socket, _rx) = fake_daemon(http("200 OK", &body.to_string()));
    let err = docker_image_digest("app:dev", &socket).unwrap_err();
    assert!(
        matches!(err, FingerprintError::RepoDigestUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "repo digest unavailable for image 'app:dev': has it been pushed to or pulled from a registry?"
    );
}

#[test]
fn several_repo_digests_pick_the_one_for_the_name() {
    let mut body: serde_json::Value = serde_json::from_str(RECORDED).unwrap();
    body["RepoDigests"] = serde_json::json!([
        format!("registry.example/mirror/metrics@sha256:{}", "1".repeat(64)),
        format!("ghcr.io/lowlighter/metrics@sha256:{DIGEST}"),
    ]);
    let (_d, socket, _rx) = fake_daemon(http("200 OK", &body.to_string()));
    assert_eq!(docker_image_digest(IMAGE, &socket).unwrap(), DIGEST);
}

#[test]
fn missing_image() {
    let (_d, socket, _rx) = fake_daemon(http(
        "404 Not Found",
        r#"{"message":"No such image: nope:latest"}"#,
    ));
    let err = docker_image_digest("nope", &socket).unwrap_err();
    assert_eq!(
        err.to_string(),
        "image 'nope' is not present in the local Docker daemon (pull it first)"
    );
}

#[test]
fn daemon_error_message_is_passed_on() {
    let (_d, socket, _rx) = fake_daemon(http("500 Internal Server Error", r#"{"message":"boom"}"#));
    let msg = docker_image_digest(IMAGE, &socket).unwrap_err().to_string();
    assert!(msg.contains("HTTP 500") && msg.ends_with(": boom"), "{msg}");
}

#[test]
fn no_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let err = docker_image_digest(IMAGE, &socket).unwrap_err();
    assert!(
        matches!(err, FingerprintError::DockerUnavailable { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("no Docker daemon at {}", socket.display())),
        "{err}"
    );
}

#[test]
fn image_names_with_spaces_are_refused_before_connecting() {
    let err = docker_image_digest(" ", "/nonexistent.sock").unwrap_err();
    assert!(
        matches!(err, FingerprintError::InvalidTarget { .. }),
        "{err:?}"
    );
}
