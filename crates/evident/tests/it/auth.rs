//! Who may read and write what: no token, bad token, reader, writer, admin, private orgs.

use evident_core::api::{PipelineRequest, Role, Visibility};
use reqwest::StatusCode;

use crate::helpers::{env_request, http, spawn_app};

#[tokio::test]
async fn auth_matrix() {
    let app = spawn_app(false);
    app.org("open", Visibility::Public).await;
    app.org("secret", Visibility::Private).await;
    let reader = app.user_with_role("open", "rita", Some(Role::Reader)).await;
    let writer = app.user_with_role("open", "will", Some(Role::Writer)).await;
    let outsider = app.user_with_role("open", "olga", None).await;
    let member = app
        .user_with_role("secret", "mia", Some(Role::Reader))
        .await;
    let pipeline = PipelineRequest {
        description: "d".into(),
        ..Default::default()
    };

    // No token and a wrong token: 401 with a JSON error.
    let url = format!("{}/api/v1/orgs/open/pipelines", app.host());
    let resp = http().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"));
    for bad in [
        "nonsense",
        "evd_00112233aabbccdd_wrongwrongwrongwrongwrongwrongwrong",
        &app.admin_token[..app.admin_token.len() - 1],
    ] {
        let resp = http().get(&url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "token {bad}");
    }

    // Writers write; readers and outsiders of a public org read but may not write.
    app.client(&writer)
        .put_pipeline("open", "p", &pipeline)
        .await
        .unwrap();
    for token in [&reader, &outsider] {
        let c = app.client(token);
        assert_eq!(c.pipelines("open").await.unwrap().len(), 1);
        let err = c.put_pipeline("open", "p2", &pipeline).await.unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
        let env = env_request("server");
        assert_eq!(
            c.put_environment("open", "e", &env)
                .await
                .unwrap_err()
                .status(),
            Some(StatusCode::FORBIDDEN)
        );
    }

    // A private org does not exist for non-members, whatever they try.
    for token in [&reader, &writer, &outsider] {
        let c = app.client(token);
        assert_eq!(
            c.pipelines("secret").await.unwrap_err().status(),
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            c.put_pipeline("secret", "p", &pipeline)
                .await
                .unwrap_err()
                .status(),
            Some(StatusCode::NOT_FOUND)
        );
        let names: Vec<String> = c
            .orgs()
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(names, vec!["open"]);
    }
    // Its members read it; a reader still cannot write.
    let m = app.client(&member);
    assert!(m.pipelines("secret").await.unwrap().is_empty());
    assert_eq!(
        m.put_pipeline("secret", "p", &pipeline)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::FORBIDDEN)
    );

    // Only site admins create orgs and users; only org admins manage members.
    let w = app.client(&writer);
    assert_eq!(
        w.create_org("mine", Visibility::Public)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        w.create_user("eve", true).await.unwrap_err().status(),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        w.set_member("open", "olga", Role::Admin)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::FORBIDDEN)
    );
}

#[test]
fn cli_reports_auth_failures_with_exit_code_4() {
    let app = spawn_app(false);
    app.cli(
        "evd_0011223344556677_notavalidsecretnotavalidsecret00",
        "open",
    )
    .args(["pipeline", "ls"])
    .assert()
    .code(4)
    .stderr(predicates::str::contains("invalid API token"));
}

#[tokio::test]
async fn tokens_are_stored_hashed() {
    let app = spawn_app(false);
    let token = app.admin().create_user("hugo", false).await.unwrap().token;
    let secret = token.rsplit('_').next().unwrap().to_string();
    // No stored byte sequence equals the secret: read the database file directly.
    let db = std::fs::read(app.dir.path().join("evident.db")).unwrap();
    let wal = std::fs::read(app.dir.path().join("evident.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}
