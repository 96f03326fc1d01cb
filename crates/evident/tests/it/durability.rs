//! An acknowledged write survives `kill -9` of the server.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use evident_client::Client;
use evident_core::api::Visibility;

use crate::helpers::{env_request, fp, one_instance, ADMIN_TOKEN};

fn start(db: &str, port: u16) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("evident"))
        .args(["server", "--db", db, "--bind", &format!("127.0.0.1:{port}")])
        .env("EVIDENT_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(host: &str) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{host}/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {host} never became ready");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn acknowledged_reports_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let port = free_port();
    let host = format!("http://127.0.0.1:{port}");
    let mut server = start(&db, port);
    wait_ready(&host).await;
    let c = Client::new(&host, Some(ADMIN_TOKEN.into())).unwrap();
    c.create_org("o", Visibility::Public).await.unwrap();
    c.put_environment("o", "prod", &env_request("server"))
        .await
        .unwrap();
    let mut acknowledged = 0;
    for n in 1..=50u32 {
        let r = one_instance("app", &fp(n));
        acknowledged = c
            .report_environment("o", "prod", &r)
            .await
            .unwrap()
            .snapshot;
    }
    server.kill().unwrap(); // SIGKILL: no shutdown hooks, no checkpoint.
    server.wait().unwrap();

    let port = free_port();
    let host = format!("http://127.0.0.1:{port}");
    let mut server = start(&db, port);
    wait_ready(&host).await;
    let c = Client::new(&host, Some(ADMIN_TOKEN.into())).unwrap();
    let s = c.snapshot("o", "prod").await.unwrap();
    assert_eq!(s.number, acknowledged);
    assert_eq!(s.artifacts[0].fingerprint.as_str(), fp(50));
    server.kill().unwrap();
    server.wait().unwrap();
}
