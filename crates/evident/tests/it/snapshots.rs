//! Snapshot semantics: heartbeats, scaling, restarts, blue-green, provenance and compliance.

use evident_core::api::*;
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use evident_core::Fingerprint;

use crate::helpers::{env_request, fp, spawn_app, TestApp};

fn instance(name: &str, fingerprint: &str, started: i64) -> ReportedInstance {
    ReportedInstance {
        digests: [(name.to_string(), fingerprint.to_string())].into(),
        creation_timestamp: Some(started),
        ..Default::default()
    }
}

fn report(instances: Vec<ReportedInstance>) -> EnvironmentReport {
    EnvironmentReport {
        artifacts: instances,
        kind: None,
    }
}

async fn setup(app: &TestApp) {
    app.org("o", Visibility::Public).await;
    let admin = app.admin();
    admin
        .put_pipeline(
            "o",
            "api",
            &PipelineRequest {
                template: vec!["unit-test".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    admin
        .put_environment("o", "prod", &env_request("k8s"))
        .await
        .unwrap();
}

#[tokio::test]
async fn only_changes_make_snapshots() {
    let app = spawn_app(false);
    setup(&app).await;
    let c = app.admin();
    let send = |r: EnvironmentReport| {
        let c = c.clone();
        async move { c.report_environment("o", "prod", &r).await.unwrap() }
    };
    let three = || {
        vec![
            instance("api:1", &fp(1), 100),
            instance("api:1", &fp(1), 100),
            instance("api:1", &fp(1), 100),
        ]
    };

    let first = send(report(three())).await;
    assert_eq!((first.snapshot, first.created), (1, true));
    // The same state again is a heartbeat.
    let again = send(report(three())).await;
    assert_eq!((again.snapshot, again.created), (1, false));
    // A restarted pod (new start time) is not a change.
    let mut restarted = three();
    restarted[2].creation_timestamp = Some(999);
    assert!(!send(report(restarted)).await.created);
    // Scaling 3 -> 1 is one snapshot with a replica change.
    let scaled = send(report(vec![instance("api:1", &fp(1), 100)])).await;
    assert_eq!((scaled.snapshot, scaled.created), (2, true));
    let d = c.diff("o", "prod#1", "prod#2", false).await.unwrap();
    assert!(d.only_a.is_empty() && d.only_b.is_empty());
    assert_eq!(d.changed.len(), 1);
    assert_eq!((d.changed[0].replicas_a, d.changed[0].replicas_b), (3, 1));
    // Blue-green: both versions show, each with its own replicas.
    let bg = send(report(vec![
        instance("api:1", &fp(1), 100),
        instance("api:2", &fp(2), 200),
        instance("api:2", &fp(2), 200),
    ]))
    .await;
    assert_eq!(bg.snapshot, 3);
    let s = c.snapshot("o", "prod").await.unwrap();
    assert_eq!(s.artifacts.len(), 2);
    assert_eq!(s.artifacts[0].names, vec!["api:2"], "newest first");
    assert_eq!(s.artifacts[0].replicas, 2);
    // Running since carries over a scaling; snapshot #1 still reads as it was.
    let s1 = c.snapshot("o", "prod#1").await.unwrap();
    assert_eq!(s1.artifacts.len(), 1);
    assert_eq!(s1.artifacts[0].replicas, 3);
    assert_eq!(
        c.snapshot("o", "prod#2").await.unwrap().artifacts[0]
            .running_since
            .as_second(),
        100
    );
    // Heartbeats refresh "last reported" without a snapshot.
    let env = c.environment("o", "prod").await.unwrap();
    assert_eq!(env.latest_snapshot, Some(3));
    assert!(env.last_reported_at >= env.last_changed_at);
}

#[tokio::test]
async fn same_image_under_two_names_is_one_artifact() {
    let app = spawn_app(false);
    setup(&app).await;
    let c = app.admin();
    c.report_environment(
        "o",
        "prod",
        &report(vec![
            instance("docker.io/acme/api:1", &fp(7), 10),
            instance("ecr.example/api:1", &fp(7), 20),
        ]),
    )
    .await
    .unwrap();
    let s = c.snapshot("o", "prod").await.unwrap();
    assert_eq!(s.artifacts.len(), 1);
    assert_eq!(
        s.artifacts[0].names,
        vec!["docker.io/acme/api:1", "ecr.example/api:1"]
    );
    assert_eq!(s.artifacts[0].replicas, 2);
}

#[tokio::test]
async fn provenance_and_compliance_are_judged_per_artifact_and_snapshot() {
    let app = spawn_app(false);
    setup(&app).await;
    let c = app.admin();
    let known = Fingerprint::parse(&fp(1)).unwrap();
    c.report_artifact(
        "o",
        "api",
        &ArtifactReport {
            fingerprint: known.clone(),
            name: "api:1".into(),
            git_commit: Some("abcdef1234567abcdef1234567abcdef12345678".into()),
            commit_url: None,
            build_url: None,
        },
    )
    .await
    .unwrap();
    c.report_environment(
        "o",
        "prod",
        &report(vec![
            instance("api:1", &fp(1), 1),
            instance("miner", &fp(66), 2),
        ]),
    )
    .await
    .unwrap();

    let s = c.snapshot("o", "prod").await.unwrap();
    assert!(!s.compliant);
    let miner = s.artifacts.iter().find(|a| a.names == ["miner"]).unwrap();
    assert!(!miner.provenance && miner.pipeline.is_none());
    assert!(miner.reasons[0].contains("unknown provenance"));
    let api = s.artifacts.iter().find(|a| a.names == ["api:1"]).unwrap();
    assert_eq!(api.reasons, vec!["missing evidence: unit-test"]);

    let a = c.artifact("o", "api:abcdef1").await.unwrap();
    assert_eq!(a.state, "NON-COMPLIANT");
    // Failing evidence, then passing: only the latest counts.
    for compliant in [false, true] {
        c.report_evidence(
            "o",
            &EvidenceReport {
                fingerprint: known.clone(),
                name: "unit-test".into(),
                compliant,
                url: None,
                description: None,
                user_data: Some(serde_json::json!({"passed": 10})),
                pipeline: None,
            },
        )
        .await
        .unwrap();
        let a = c
            .artifact("o", &format!("api@{}", &fp(1)[..12]))
            .await
            .unwrap();
        assert_eq!(a.compliant, compliant, "{:?}", a.reasons);
    }
    // Deployments and approvals are numbered per pipeline and appear in the history.
    let dep = c
        .report_deployment(
            "o",
            &DeploymentReport {
                fingerprint: known.clone(),
                environment: "prod".into(),
                description: None,
                user_data: None,
                pipeline: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(dep.number, Some(1));
    let appr = c
        .report_approval(
            "o",
            &ApprovalReport {
                fingerprint: known.clone(),
                environment: Some("prod".into()),
                approved: true,
                reviewer: Some("ann".into()),
                description: None,
                oldest_commit: None,
                newest_commit: None,
                pipeline: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(appr.number, Some(1));
    let history: Vec<String> = c
        .artifact("o", &fp(1))
        .await
        .unwrap()
        .history
        .into_iter()
        .map(|h| h.text)
        .collect();
    assert!(
        history.contains(&"Started running in prod#1 environment".to_string()),
        "{history:?}"
    );
    assert!(history.contains(&"Deployment #1 to prod environment".to_string()));
    assert!(history.contains(&"Approval #1 approved for prod environment by ann".to_string()));
    // The snapshot now lacks only the miner's provenance.
    let s = c.snapshot("o", "prod").await.unwrap();
    assert_eq!(s.artifacts.iter().filter(|a| !a.compliant).count(), 1);
}

#[tokio::test]
async fn concurrent_reporters_never_skip_or_repeat_numbers() {
    let app = spawn_app(false);
    setup(&app).await;
    let c = app.admin();
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.report_environment("o", "prod", &report(vec![instance("a", &fp(n % 4 + 1), 1)]))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let env = c.environment("o", "prod").await.unwrap();
    let latest = env.latest_snapshot.unwrap();
    let log = c.log("o", "prod", 1, 1000).await.unwrap();
    let numbers: Vec<u64> = log.items.iter().map(|s| s.number).collect();
    assert_eq!(numbers, (1..=latest).rev().collect::<Vec<_>>());
    // Consecutive snapshots always differ.
    for n in 2..=latest {
        let d = c
            .diff("o", &format!("prod#{}", n - 1), &format!("prod#{n}"), false)
            .await
            .unwrap();
        assert!(
            !(d.only_a.is_empty() && d.only_b.is_empty() && d.changed.is_empty()),
            "#{n} equals #{}",
            n - 1
        );
    }
}
