//! Bad input gets a clear 4xx JSON error, never a 500, and writes nothing.

use evident_core::api::{PipelineRequest, Visibility};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{env_request, fp, http, spawn_app, TestApp};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = http()
        .request(method, format!("{}/api/v1{path}", app.host()))
        .bearer_auth(&app.admin_token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(json!(null));
    (status, body)
}

#[tokio::test]
async fn every_client_mistake_is_a_4xx_with_a_json_error() {
    let app = spawn_app(false);
    app.org("o", Visibility::Public).await;
    let admin = app.admin();
    admin
        .put_pipeline("o", "p", &PipelineRequest::default())
        .await
        .unwrap();
    admin
        .put_environment("o", "prod", &env_request("k8s"))
        .await
        .unwrap();
    let good_report = json!({"artifacts": [{"digests": {"app": fp(1)}}]}).to_string();
    send(
        &app,
        reqwest::Method::PUT,
        "/orgs/o/envs/prod/report",
        Some(&good_report),
    )
    .await;

    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;
    let huge = format!(
        "{{\"artifacts\": [{}]}}",
        vec![format!("{{\"digests\": {{\"a\": \"{}\"}}}}", fp(1)); 20_000].join(",")
    );
    let cases: Vec<(reqwest::Method, String, Option<String>, StatusCode)> = vec![
        (
            post.clone(),
            "/orgs/o/pipelines/p/artifacts".into(),
            Some("{not json".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            post.clone(),
            "/orgs/o/pipelines/p/artifacts".into(),
            Some(json!({"fingerprint": fp(1), "name": "a", "colour": "red"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post.clone(),
            "/orgs/o/pipelines/p/artifacts".into(),
            Some(json!({"fingerprint": "abc", "name": "a"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post.clone(),
            "/orgs/o/pipelines/p/artifacts".into(),
            Some(json!({"fingerprint": "z".repeat(64), "name": "a"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post.clone(),
            "/orgs/o/pipelines/p/artifacts".into(),
            Some(json!({"fingerprint": fp(1), "name": "a", "git_commit": "not-a-sha"}).to_string()),
            StatusCode::BAD_REQUEST,
        ),
        (
            post.clone(),
            "/orgs/o/pipelines/nope/artifacts".into(),
            Some(json!({"fingerprint": fp(1), "name": "a"}).to_string()),
            StatusCode::NOT_FOUND,
        ),
        (
            post.clone(),
            "/orgs/o/evidence".into(),
            Some(json!({"fingerprint": fp(9), "name": "tests", "compliant": true}).to_string()),
            StatusCode::NOT_FOUND,
        ),
        (
            post.clone(),
            "/orgs/o/deployments".into(),
            Some(json!({"fingerprint": fp(9), "environment": "prod"}).to_string()),
            StatusCode::NOT_FOUND,
        ),
        (
            put.clone(),
            "/orgs/o/envs/staging/report".into(),
            Some(good_report.clone()),
            StatusCode::NOT_FOUND,
        ),
        (
            put.clone(),
            "/orgs/o/envs/prod/report".into(),
            Some(json!({"artifacts": [{"digests": {"app": "123"}}]}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            put.clone(),
            "/orgs/o/envs/prod/report".into(),
            Some(json!({"artifacts": [{"digests": {"": fp(1)}}]}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            put.clone(),
            "/orgs/o/envs/prod/report".into(),
            Some(
                json!({"artifacts": [{"digests": {"a": fp(1)}, "creationTimestamp": i64::MAX}]})
                    .to_string(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            put.clone(),
            "/orgs/o/envs/prod/report".into(),
            Some(huge),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            put.clone(),
            "/orgs/o/envs/bad%20name".into(),
            Some(json!({"type": "k8s"}).to_string()),
            StatusCode::BAD_REQUEST,
        ),
        (
            put.clone(),
            "/orgs/o/envs/e2".into(),
            Some(json!({"type": "mainframe"}).to_string()),
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/snapshots/prod%230".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/snapshots/prod%232".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            get.clone(),
            "/orgs/o/snapshots/prod~5".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            get.clone(),
            "/orgs/o/snapshots/prod%23x".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/snapshots/prod@%7Byesterday-ish%7D".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/snapshots/nowhere".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            get.clone(),
            "/orgs/o/diff?a=prod".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/envs/prod/log?page=0".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/envs/prod/log?per_page=100000".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/artifacts/p:zz".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/o/artifacts/p:1234567".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            get.clone(),
            "/orgs/o/artifacts?page=x".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            get.clone(),
            "/orgs/nowhere/pipelines".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            get.clone(),
            "/no/such/route".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, json) = send(&app, method.clone(), &path, body.as_deref()).await;
        assert_eq!(status, expected, "{method} {path}: {json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: no error text in {json}"
        );
    }

    // Nothing was half-written: still one snapshot, one pipeline, no artifacts.
    let env = admin.environment("o", "prod").await.unwrap();
    assert_eq!(env.latest_snapshot, Some(1));
    assert_eq!(admin.pipelines("o").await.unwrap().len(), 1);
    assert_eq!(admin.artifacts("o", None, 1, 10).await.unwrap().total, 0);
}

#[test]
fn cli_rejects_bad_references_before_calling_the_server() {
    let app = spawn_app(false);
    for args in [
        vec!["env", "get", "prod#0"],
        vec!["env", "get", "prod#1~2"],
        vec!["artifact", "get", "runner:xyz"],
        vec!["env", "diff", "a#-0", "b"],
    ] {
        app.cli(&app.admin_token, "o").args(&args).assert().code(2);
    }
    app.cli(&app.admin_token, "o")
        .args(["report", "evidence", "--fingerprint", "abc", "--name", "x"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("64 hex"));
}

#[tokio::test]
async fn ambiguous_reference_lists_candidates() {
    let app = spawn_app(false);
    app.org("o", Visibility::Public).await;
    let admin = app.admin();
    admin
        .put_pipeline("o", "p", &PipelineRequest::default())
        .await
        .unwrap();
    for n in [0xabc1, 0xabc2] {
        let req = evident_core::api::ArtifactReport {
            fingerprint: evident_core::Fingerprint::parse(&format!("abcdef0{n:057x}")).unwrap(),
            name: format!("app-{n}"),
            git_commit: Some("1234567890abcdef1234567890abcdef12345678".into()),
            commit_url: None,
            build_url: None,
        };
        admin.report_artifact("o", "p", &req).await.unwrap();
    }
    let err = admin.artifact("o", "p:1234567").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));
    assert!(
        err.to_string().contains("app-43969") && err.to_string().contains("app-43970"),
        "{err}"
    );
}
