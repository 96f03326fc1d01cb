//! The CLI as a CI pipeline and an operator use it.

use evident_core::api::Visibility;
use predicates::str::contains;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_ci_pipeline_reports_through_the_cli() {
    let app = spawn_app(false);
    app.org("acme", Visibility::Public).await;
    let work = tempfile::tempdir().unwrap();
    let artifact = work.path().join("app.tgz");
    std::fs::write(&artifact, b"hello world!").unwrap();
    let build = work.path().join("build");
    std::fs::create_dir_all(build.join("bin")).unwrap();
    std::fs::write(build.join("bin/app"), b"binary").unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = app.cli(&app.admin_token, "acme");
        cmd.args(args);
        cmd
    };
    cli(&[
        "pipeline",
        "create",
        "api",
        "--description",
        "The API",
        "--template",
        "unit-test,coverage",
    ])
    .assert()
    .success();
    cli(&["env", "create", "prod", "--type", "server"])
        .assert()
        .success();
    cli(&[
        "report",
        "artifact",
        artifact.to_str().unwrap(),
        "--artifact-type",
        "file",
        "--pipeline",
        "api",
        "--git-commit",
        "abcdef1234567abcdef1234567abcdef12345678",
        "--build-url",
        "https://ci/1",
    ])
    .assert()
    .success()
    // SHA-256 of "hello world!", Kosli's published file vector.
    .stdout(contains(
        "api@7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9",
    ));
    let fp = "7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9";
    let user_data = work.path().join("junit.json");
    std::fs::write(&user_data, r#"{"tests": 12, "failures": 0}"#).unwrap();
    cli(&[
        "report",
        "evidence",
        "--fingerprint",
        fp,
        "--name",
        "unit-test",
        "--user-data",
        user_data.to_str().unwrap(),
    ])
    .assert()
    .success();
    cli(&[
        "report",
        "evidence",
        "--artifact-type",
        "file",
        artifact.to_str().unwrap(),
        "--name",
        "coverage",
        "--compliant=false",
    ])
    .assert()
    .success();
    cli(&["artifact", "get", "api:abcdef1"])
        .assert()
        .success()
        .stdout(contains("State:       NON-COMPLIANT"))
        .stdout(contains("non-compliant evidence: coverage"))
        .stdout(contains("unit-test evidence received"));
    cli(&[
        "report",
        "deployment",
        "--fingerprint",
        fp,
        "--environment",
        "prod",
    ])
    .assert()
    .success()
    .stdout(contains("Deployment #1 to prod"));

    // The runtime side: fingerprint the file and an unknown directory and report them.
    cli(&[
        "snapshot",
        "server",
        "prod",
        "--paths",
        &format!("{},{}", artifact.display(), build.display()),
    ])
    .assert()
    .success()
    .stdout(contains(
        "[2] artifacts were reported to environment prod: snapshot #1 created",
    ));
    cli(&[
        "snapshot",
        "server",
        "prod",
        "--paths",
        &format!("{},{}", artifact.display(), build.display()),
    ])
    .assert()
    .success()
    .stdout(contains("unchanged since snapshot #1"));
    cli(&["env", "get", "prod"])
        .assert()
        .success()
        .stdout(contains("abcdef1"))
        .stdout(contains("UNKNOWN"))
        .stdout(contains("unknown provenance"))
        .stdout(contains("prod#1 • "))
        .stdout(contains("NON-COMPLIANT (2 of 2 artifacts)"));
    cli(&[
        "snapshot",
        "server",
        "prod",
        "--paths",
        artifact.to_str().unwrap(),
        "--dry-run",
    ])
    .assert()
    .success()
    .stdout(contains(fp));
}

#[tokio::test]
async fn json_output_is_the_api_response() {
    let app = spawn_app(true);
    let token = app.demo_token.clone().unwrap();
    let out = app
        .cli(&token, "cyber-dojo")
        .args(["env", "diff", "aws-prod#64", "aws-prod#65", "-o", "json"])
        .output()
        .unwrap();
    let from_cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_api: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/orgs/cyber-dojo/diff?a=aws-prod%2364&b=aws-prod%2365",
            app.host()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(from_cli, from_api);
    assert_eq!(
        from_cli["only_b"][0]["fingerprint"],
        "9af401c4350b21e3f1df17d6ad808da43d9646e75b6da902cc7c492bcfb9c625"
    );
}

#[test]
fn kosli_variables_are_accepted_as_fallbacks() {
    let app = spawn_app(true);
    let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
    cmd.env_clear()
        .env("HOME", app.dir.path())
        .env("KOSLI_HOST", app.host())
        .env("KOSLI_API_TOKEN", app.demo_token.as_deref().unwrap())
        .env("KOSLI_OWNER", "cyber-dojo")
        .args(["env", "ls"])
        .assert()
        .success()
        .stdout(contains("aws-prod"));
}

#[test]
fn config_file_supplies_settings_and_flags_win() {
    let app = spawn_app(true);
    let config = app.dir.path().join("evident.toml");
    std::fs::write(
        &config,
        format!(
            "host = \"{}\"\napi_token = \"{}\"\norg = \"cyber-dojo\"\noutput = \"json\"\n",
            app.host(),
            app.demo_token.as_deref().unwrap()
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
        cmd.env_clear()
            .env("HOME", app.dir.path())
            .args(["--config", config.to_str().unwrap(), "pipeline", "ls"])
            .args(extra);
        cmd.assert().success().get_output().stdout.clone()
    };
    let json: serde_json::Value = serde_json::from_slice(&run(&[])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 12);
    assert!(String::from_utf8(run(&["--output", "table"]))
        .unwrap()
        .starts_with("NAME"));
}

#[test]
fn help_has_examples_and_completions_are_generated() {
    let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
    cmd.args(["env", "get", "--help"])
        .assert()
        .success()
        .stdout(contains("evident env get aws-prod#65"));
    let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
    cmd.args(["completion", "bash"])
        .assert()
        .success()
        .stdout(contains("_evident"));
    let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
    cmd.args(["no-such-command"]).assert().code(2);
}

#[test]
fn unreachable_server_is_exit_code_6() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
    cmd.env_clear()
        .env("EVIDENT_HOST", format!("http://127.0.0.1:{port}"))
        .env("EVIDENT_ORG", "o")
        .args(["pipeline", "ls"])
        .assert()
        .code(6)
        .stderr(contains("cannot reach the server"));
}

#[test]
fn assert_commands_gate_on_compliance() {
    let app = spawn_app(true);
    let token = app.demo_token.clone().unwrap();
    app.cli(&token, "cyber-dojo")
        .args(["assert", "artifact", "runner:16d9990"])
        .assert()
        .code(0)
        .stdout(contains("cyberdojo/runner:16d9990: COMPLIANT"));
    // aws-beta#10 is during a load test: an image nobody built runs there.
    app.cli(&token, "cyber-dojo")
        .args(["assert", "snapshot", "aws-beta@{2022-08-02T03:10:00Z}"])
        .assert()
        .code(7)
        .stdout(contains("NON-COMPLIANT"))
        .stdout(contains("loadtest/k6:latest: unknown provenance"));
    app.cli(&token, "cyber-dojo")
        .args(["assert", "snapshot", "aws-prod"])
        .assert()
        .code(0);
}

#[test]
fn runtime_reporters_fail_clearly_without_their_runtime() {
    let app = spawn_app(false);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    app.cli(&app.admin_token, "o")
        .args([
            "snapshot",
            "docker",
            "dev",
            "--socket",
            socket.to_str().unwrap(),
            "--dry-run",
        ])
        .assert()
        .failure()
        .stderr(contains("cannot reach the Docker daemon"));
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "not: [a kubeconfig").unwrap();
    app.cli(&app.admin_token, "o")
        .args([
            "snapshot",
            "k8s",
            "prod",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--dry-run",
        ])
        .assert()
        .failure()
        .stderr(contains("kubeconfig"));
    app.cli(&app.admin_token, "o")
        .args([
            "snapshot",
            "server",
            "prod",
            "--paths",
            "/x",
            "--interval",
            "0s",
        ])
        .assert()
        .code(2)
        .stderr(contains("at least 1s"));
}

#[test]
fn fingerprint_command_prints_only_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file1"), b"hello world!").unwrap();
    let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
    cmd.args([
        "fingerprint",
        "-t",
        "file",
        dir.path().join("file1").to_str().unwrap(),
    ])
    .assert()
    .success()
    .stdout("7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9\n");
    let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
    cmd.args(["fingerprint", "-t", "tarball", "x"])
        .assert()
        .failure()
        .stderr(contains("file"));
}

/// A one-thread HTTP server on 127.0.0.1 answering ECS's `ListTasks` and `DescribeTasks` with
/// one running task; it records the `Authorization` header of every request.
fn fake_ecs() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut target, mut auth) = (0usize, String::new(), String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                let value = value.trim().to_string();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "x-amz-target" => target = value,
                    "authorization" => auth = value,
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            record.lock().unwrap().push(auth);
            let answer = if target.ends_with(".ListTasks") {
                r#"{"taskArns":["arn:aws:ecs:eu-west-1:123456789012:task/prod/0f9a8e1f"]}"#
            } else {
                r#"{"failures":[],"tasks":[{"taskArn":"arn:aws:ecs:eu-west-1:123456789012:task/prod/0f9a8e1f","clusterArn":"arn:aws:ecs:eu-west-1:123456789012:cluster/prod","group":"service:web","lastStatus":"RUNNING","startedAt":1717000042.5,"containers":[{"name":"web","image":"shop/web:1.4.2","imageDigest":"sha256:7fd089bfb18d9dd67f3dfda04ade12934dd04bf67cf89bb7e3cf0d2909f02583","lastStatus":"RUNNING"}]}]}"#
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn the_ecs_reporter_signs_with_credentials_from_the_environment() {
    let app = spawn_app(false);
    let (url, seen) = fake_ecs();
    app.cli(&app.admin_token, "o")
        .args(["snapshot", "ecs", "prod", "--cluster", "prod", "--dry-run"])
        .env("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY01")
        .env("AWS_SECRET_ACCESS_KEY", "secret-from-the-environment")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ENDPOINT_URL_ECS", &url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .assert()
        .success()
        .stdout(contains(
            "7fd089bfb18d9dd67f3dfda04ade12934dd04bf67cf89bb7e3cf0d2909f02583",
        ))
        .stdout(contains(r#""service_name": "web""#));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for auth in seen.iter() {
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAENVIRONMENTKEY01/")
                && auth.contains("/eu-west-1/ecs/aws4_request"),
            "{auth}"
        );
    }
}
