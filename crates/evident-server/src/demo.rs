//! The cyber-dojo demo: the story of the Kosli tutorials (runner 16d9990 fixing the replica
//! count, the creator b7a5908 / 31dee35 incident, web c3ada4d awaiting approval), replayed
//! through the same ledger operations real reports use, at the times the tutorials show.
//!
//! Facts the tutorials print are reproduced exactly (names, fingerprints, commits, snapshot
//! numbers, times). The filler releases between them are generated deterministically so the
//! snapshot and deployment numbers land where the tutorials have them.

use std::collections::BTreeMap;

use evident_core::api::*;
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use evident_core::Fingerprint;
use evident_store::OrgRecord;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::ledger::Ledger;

/// The demo org, public like cyber-dojo's.
pub const ORG: &str = "cyber-dojo";
const BETA: &str = "aws-beta";
const PROD: &str = "aws-prod";

const PIPELINES: &[(&str, &str)] = &[
    ("creator", "UX for Group/Kata creation"),
    ("custom-start-points", "Custom exercises choices"),
    ("dashboard", "UX for a group practice dashboard"),
    ("differ", "Diff files from two traffic-lights"),
    ("exercises-start-points", "Exercises choices"),
    ("languages-start-points", "Language+TestFramework choices"),
    ("nginx", "Reverse proxy"),
    ("repler", "REPL for Python images"),
    ("runner", "Test runner"),
    ("saver", "Group/Kata model+persistence"),
    ("shas", "UX for git+image shas"),
    ("web", "UX for practicing TDD"),
];

/// Services that take turns in the generated filler releases.
const ROTATION: &[&str] = &[
    "creator",
    "custom-start-points",
    "dashboard",
    "differ",
    "exercises-start-points",
    "languages-start-points",
    "nginx",
    "repler",
    "saver",
    "shas",
];

/// A release the tutorials name: its commit, fingerprint and build.
struct Known {
    commit: &'static str,
    fingerprint: &'static str,
    build: u64,
}

const RUNNER_16D9990: Known = Known {
    commit: "16d9990ad23a40eecaf087abac2a58a2d2a4b3f4",
    fingerprint: "9af401c4350b21e3f1df17d6ad808da43d9646e75b6da902cc7c492bcfb9c625",
    build: 2902808452,
};
const RUNNER_85D83C6: Known = Known {
    commit: "85d83c6ab8e0ce800baeef3dfa4fa9f6eee338a4",
    fingerprint: "eeb0cfc9ee7f69fbd9531d5b8c1e8d22a8de119e2a422344a714a868e9a8bfec",
    build: 2893354128,
};
const SHAS_7C45272: Known = Known {
    commit: "7c45272",
    fingerprint: "76c442c04283c4ca1af22d882750eb960cf53c0aa041bbdb2db9df2f2c1282be",
    build: 2901003315,
};
const DIFFER_1A2B170: Known = Known {
    commit: "1a2b170",
    fingerprint: "d8440b94f7f9174c180324ceafd4148360d9d7c916be2b910f132c58b8a943ae",
    build: 2890547723,
};
const CREATOR_31DEE35: Known = Known {
    commit: "31dee357844ab2f58a40d16f945dc5e35dcd6bc0",
    fingerprint: "5d1c926530213dadd5c9fcbf59c8822da56e32a04b0f9c774d7cdde3cf6ba66d",
    build: 3000122034,
};
const CREATOR_B7A5908: Known = Known {
    commit: "b7a590836cf140e17da3f01eadd5eca17d9efc65",
    fingerprint: "860ad172ace5aee03e6a1e3492a88b3315ecac2a899d4f159f43ca7314290d5a",
    build: 3000452877,
};
const WEB_6B1B6BC: Known = Known {
    commit: "6b1b6bc45af830836838db8644d1388726d8f381",
    fingerprint: "d4ab88ce200e88a07eda3c33fb18d7051a586e6b8e900fcea1063a13c4506446",
    build: 2974400651,
};
const WEB_C3ADA4D: Known = Known {
    commit: "c3ada4dbd6bb9a66c27f24cec4b5a4c25cf9ce2b",
    fingerprint: "480735698cb9e468bb16c4265fedb7507640d236b3ab53cf2e3ec09d3bd72063",
    build: 2998616599,
};

fn t(s: &str) -> Timestamp {
    s.parse().expect("demo times are valid")
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

fn digest(parts: &[&str]) -> String {
    hex::encode(Sha256::digest(parts.join(":").as_bytes()))
}

/// The ECR registry each environment pulls from.
fn registry(env: &str) -> &'static str {
    if env == BETA {
        "244531986313.dkr.ecr.eu-central-1.amazonaws.com"
    } else {
        "274425519734.dkr.ecr.eu-central-1.amazonaws.com"
    }
}

#[derive(Clone)]
struct Release {
    service: &'static str,
    commit: String,
    fingerprint: Fingerprint,
}

impl Release {
    fn short(&self) -> &str {
        &self.commit[..7]
    }
}

#[derive(Clone)]
struct Running {
    name: String,
    fingerprint: Fingerprint,
    replicas: u32,
    since: Timestamp,
}

/// One step of the story in time order.
enum Step {
    /// A filler release of a service, deployed to beta then prod.
    Shared {
        service: &'static str,
        in_place: bool,
    },
    /// A tool with no provenance started (true) or stopped (false) in one environment.
    Rogue {
        env: &'static str,
        image: &'static str,
        start: bool,
    },
}

struct Demo<'a> {
    ledger: &'a Ledger,
    org: OrgRecord,
    envs: BTreeMap<&'static str, BTreeMap<String, Running>>,
    counters: BTreeMap<&'static str, u32>,
}

impl<'a> Demo<'a> {
    async fn release(
        &mut self,
        service: &'static str,
        at: Timestamp,
        known: Option<&Known>,
    ) -> ApiResult<Release> {
        let n = self.counters.entry(service).or_default();
        *n += 1;
        let n = n.to_string();
        let (commit, fingerprint, build) = match known {
            Some(k) if k.commit.len() == 40 => {
                (k.commit.to_string(), k.fingerprint.to_string(), k.build)
            }
            Some(k) => {
                let rest = digest(&["commit", service, k.commit]);
                (
                    format!("{}{}", k.commit, &rest[..33]),
                    k.fingerprint.to_string(),
                    k.build,
                )
            }
            None => (
                digest(&["commit", service, &n])[..40].to_string(),
                digest(&["image", service, &n]),
                2_700_000_000
                    + u64::from_str_radix(&digest(&["build", service, &n])[..6], 16).unwrap_or(0),
            ),
        };
        let release = Release {
            service,
            fingerprint: Fingerprint::parse(&fingerprint)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
            commit,
        };
        let url = format!("https://github.com/cyber-dojo/{service}");
        self.ledger
            .report_artifact(
                &self.org,
                service,
                ArtifactReport {
                    fingerprint: release.fingerprint.clone(),
                    name: format!("cyberdojo/{service}:{}", release.short()),
                    git_commit: Some(release.commit.clone()),
                    commit_url: Some(format!("{url}/commit/{}", release.commit)),
                    build_url: Some(format!("{url}/actions/runs/{build}")),
                },
                at,
            )
            .await?;
        if service == "runner" {
            self.evidence(&release, true, at + secs(61)).await?;
        }
        Ok(release)
    }

    async fn evidence(&self, release: &Release, compliant: bool, at: Timestamp) -> ApiResult<()> {
        self.ledger
            .report_evidence(
                &self.org,
                EvidenceReport {
                    fingerprint: release.fingerprint.clone(),
                    name: "branch-coverage".into(),
                    compliant,
                    url: Some(format!(
                        "https://github.com/cyber-dojo/{}/actions/runs/coverage",
                        release.service
                    )),
                    description: Some("branch coverage of the test suite".into()),
                    user_data: Some(
                        serde_json::json!({"branches": if compliant { 100 } else { 87 }}),
                    ),
                    pipeline: None,
                },
                at,
            )
            .await?;
        Ok(())
    }

    async fn deployment(&self, release: &Release, env: &str, at: Timestamp) -> ApiResult<()> {
        if release.service == "web" && env == PROD {
            // web has a manual approval step before production.
            self.ledger
                .report_approval(
                    &self.org,
                    ApprovalReport {
                        fingerprint: release.fingerprint.clone(),
                        environment: Some(PROD.into()),
                        approved: true,
                        reviewer: Some("jon.jagger".into()),
                        description: Some("looks good in aws-beta".into()),
                        oldest_commit: None,
                        newest_commit: Some(release.commit.clone()),
                        pipeline: None,
                    },
                    at - secs(30),
                )
                .await?;
        }
        self.ledger
            .report_deployment(
                &self.org,
                DeploymentReport {
                    fingerprint: release.fingerprint.clone(),
                    environment: env.into(),
                    description: Some("terraform apply".into()),
                    user_data: None,
                    pipeline: None,
                },
                at,
            )
            .await?;
        Ok(())
    }

    /// Sends the complete list of what runs in `env`, as a reporter would.
    async fn report(&self, env: &str, at: Timestamp) -> ApiResult<ReportOutcome> {
        let mut artifacts = Vec::new();
        for r in self.envs[env].values() {
            for _ in 0..r.replicas {
                artifacts.push(ReportedInstance {
                    digests: [(r.name.clone(), r.fingerprint.to_string())].into(),
                    creation_timestamp: Some(r.since.as_second()),
                    ..Default::default()
                });
            }
        }
        let report = EnvironmentReport {
            artifacts,
            kind: Some("ECS".into()),
        };
        self.ledger
            .report_environment(&self.org, env, &report, at)
            .await
    }

    fn set(&mut self, env: &'static str, key: &str, running: Option<Running>) {
        let state = self.envs.entry(env).or_default();
        match running {
            Some(r) => state.insert(key.to_string(), r),
            None => state.remove(key),
        };
    }

    fn running(release: &Release, env: &str, replicas: u32, since: Timestamp) -> Running {
        Running {
            name: format!("{}/{}:{}", registry(env), release.service, release.short()),
            fingerprint: release.fingerprint.clone(),
            replicas,
            since,
        }
    }

    /// Deploys a release to `env`: blue-green (new version starts, the old one stops a minute
    /// later: two snapshots) or in place (one snapshot). `at` is when the first snapshot is taken.
    async fn roll_out(
        &mut self,
        env: &'static str,
        release: &Release,
        at: Timestamp,
        since: Timestamp,
        in_place: bool,
    ) -> ApiResult<()> {
        self.deployment(release, env, since - secs(40)).await?;
        let replicas = self.envs[env]
            .get(release.service)
            .map_or(1, |r| r.replicas);
        let new = Self::running(release, env, replicas, since);
        let blue = format!("{}~{}", release.service, release.short());
        if in_place {
            self.set(env, release.service, Some(new));
            self.report(env, at).await?;
        } else {
            self.set(env, &blue, Some(new.clone()));
            self.report(env, at).await?;
            self.set(env, &blue, None);
            self.set(env, release.service, Some(new));
            self.report(env, at + secs(60)).await?;
        }
        Ok(())
    }

    /// A release deployed to beta at `beta_at` and to prod at `prod_at`.
    async fn shared(
        &mut self,
        service: &'static str,
        known: Option<&Known>,
        beta_at: Timestamp,
        prod_at: Timestamp,
        prod_since: Timestamp,
        in_place: bool,
    ) -> ApiResult<Release> {
        let release = self.release(service, beta_at - secs(600), known).await?;
        self.roll_out(BETA, &release, beta_at, beta_at - secs(25), in_place)
            .await?;
        self.roll_out(PROD, &release, prod_at, prod_since, in_place)
            .await?;
        Ok(release)
    }

    async fn run_steps(&mut self, mut steps: Vec<(Timestamp, Step)>) -> ApiResult<()> {
        steps.sort_by_key(|(at, _)| *at);
        for (at, step) in steps {
            match step {
                Step::Shared { service, in_place } => {
                    let prod_at = at + secs(300);
                    self.shared(service, None, at, prod_at, prod_at - secs(20), in_place)
                        .await?;
                }
                Step::Rogue { env, image, start } => {
                    let running = start.then(|| Running {
                        name: image.to_string(),
                        fingerprint: Fingerprint::parse(&digest(&["rogue", image])).expect("hex"),
                        replicas: 1,
                        since: at - secs(15),
                    });
                    self.set(env, image, running);
                    self.report(env, at).await?;
                }
            }
        }
        Ok(())
    }

    /// `count` filler slots from `first`, `every` apart, cycling through `services`.
    fn slots(
        first: Timestamp,
        every: SignedDuration,
        services: &[&'static str],
        in_place_first: bool,
    ) -> Vec<(Timestamp, Step)> {
        services
            .iter()
            .enumerate()
            .map(|(i, service)| {
                (
                    first + every * i as i32,
                    Step::Shared {
                        service,
                        in_place: in_place_first && i == 0,
                    },
                )
            })
            .collect()
    }

    fn rogue(
        env: &'static str,
        image: &'static str,
        first: Timestamp,
        every: SignedDuration,
        times: usize,
    ) -> Vec<(Timestamp, Step)> {
        (0..times)
            .flat_map(|i| {
                let start = first + every * i as i32;
                [
                    (
                        start,
                        Step::Rogue {
                            env,
                            image,
                            start: true,
                        },
                    ),
                    (
                        start + secs(1800),
                        Step::Rogue {
                            env,
                            image,
                            start: false,
                        },
                    ),
                ]
            })
            .collect()
    }
}

/// A list of `n` services from the rotation, starting at `offset`, with `extra` mixed in.
fn rotation(n: usize, offset: usize) -> Vec<&'static str> {
    (0..n)
        .map(|i| ROTATION[(i + offset) % ROTATION.len()])
        .collect()
}

/// Interleaves `special` services evenly into `base`.
fn mix(mut base: Vec<&'static str>, special: &'static str, count: usize) -> Vec<&'static str> {
    let total = base.len() + count;
    for k in 0..count {
        base.insert((k * total / count + 1).min(base.len()), special);
    }
    base
}

/// Loads the demo org and returns a token that reads and writes it.
pub async fn load(ledger: &Ledger) -> ApiResult<String> {
    let store = ledger.store.as_ref();
    let start = t("2022-07-01T08:00:00Z");
    let user = store.create_user("demo", false, start).await?;
    let org = store
        .create_org(ORG, Visibility::Public, Some(user.id), start)
        .await?;
    let token = crate::auth::mint_token(store, &user, "demo").await?;

    for (name, description) in PIPELINES {
        let template = if *name == "runner" {
            vec!["branch-coverage".to_string()]
        } else {
            vec![]
        };
        let req = PipelineRequest {
            description: description.to_string(),
            template,
            visibility: Visibility::Public,
        };
        ledger.put_pipeline(&org, name, req, start).await?;
    }
    for (env, description) in [
        (BETA, "cyber-dojo beta on AWS ECS"),
        (PROD, "cyber-dojo production on AWS ECS"),
    ] {
        let req = EnvironmentRequest {
            kind: "ecs".into(),
            description: description.into(),
        };
        ledger.put_environment(&org, env, req, start).await?;
    }

    let mut demo = Demo {
        ledger,
        org,
        envs: [(BETA, BTreeMap::new()), (PROD, BTreeMap::new())].into(),
        counters: BTreeMap::new(),
    };

    // Phase A, August 1-22: every service starts, then filler releases; beta also runs a
    // load tester on and off (no provenance), which is why its numbers run ahead of prod's.
    let init = t("2022-08-01T08:00:00Z");
    for (service, _) in PIPELINES {
        let release = demo.release(service, init - hours(2), None).await?;
        for env in [BETA, PROD] {
            demo.deployment(&release, env, init - secs(300)).await?;
            let replicas = 1;
            demo.set(
                env,
                service,
                Some(Demo::running(&release, env, replicas, init - secs(120))),
            );
        }
    }
    demo.report(BETA, init).await?;
    demo.report(PROD, init).await?;
    let a = mix(mix(rotation(8, 0), "runner", 6), "web", 6);
    let mut steps = Demo::slots(t("2022-08-01T12:00:00Z"), hours(21), &a, true);
    steps.extend(Demo::rogue(
        BETA,
        "loadtest/k6:latest",
        t("2022-08-02T03:00:00Z"),
        hours(40),
        9,
    ));
    demo.run_steps(steps).await?;
    // A runner release that failed its coverage: deployed to beta, never started.
    let failed = demo
        .release("runner", t("2022-08-19T09:00:00Z"), None)
        .await?;
    demo.evidence(&failed, false, t("2022-08-19T09:02:00Z"))
        .await?;
    demo.deployment(&failed, BETA, t("2022-08-19T09:05:00Z"))
        .await?;

    // The tail of phase A: what `env get aws-prod#65` shows, oldest first.
    let differ_at = t("2022-08-20T09:55:00Z");
    demo.shared(
        "differ",
        Some(&DIFFER_1A2B170),
        differ_at,
        differ_at + secs(300),
        differ_at + secs(280),
        false,
    )
    .await?;
    demo.shared(
        "runner",
        Some(&RUNNER_85D83C6),
        t("2022-08-20T20:10:00Z"),
        t("2022-08-20T20:33:03Z"),
        t("2022-08-20T20:32:43Z"),
        false,
    )
    .await?;
    let tail = [
        "creator",
        "custom-start-points",
        "dashboard",
        "exercises-start-points",
        "languages-start-points",
        "nginx",
        "repler",
        "saver",
        "web",
    ];
    for (k, service) in tail.into_iter().enumerate() {
        let at = t("2022-08-21T00:00:00Z") + hours(3) * k as i32;
        demo.shared(service, None, at, at + secs(300), at + secs(280), false)
            .await?;
    }
    let shas_at = t("2022-08-22T06:30:00Z");
    demo.shared(
        "shas",
        Some(&SHAS_7C45272),
        shas_at,
        shas_at + secs(300),
        shas_at + secs(280),
        false,
    )
    .await?;

    // Phase B, 22 August: runner 16d9990 brings the third replica back (blue-green).
    let runner = demo
        .release("runner", t("2022-08-22T09:34:59Z"), Some(&RUNNER_16D9990))
        .await?;
    // `release` reported the coverage 61 s after creation: 11:36:00 CEST, as the tutorial shows.
    demo.deployment(&runner, BETA, t("2022-08-22T09:37:15Z"))
        .await?;
    demo.deployment(&runner, PROD, t("2022-08-22T09:38:19Z"))
        .await?;
    let blue = "runner~16d9990";
    demo.set(
        BETA,
        blue,
        Some(Demo::running(&runner, BETA, 3, t("2022-08-22T09:38:05Z"))),
    );
    demo.report(BETA, t("2022-08-22T09:38:30Z")).await?; // aws-beta#83
    let b = demo.envs[BETA][blue].clone();
    demo.set(BETA, blue, None);
    demo.set(BETA, "runner", Some(b));
    demo.report(BETA, t("2022-08-22T09:39:30Z")).await?; // aws-beta#84
    demo.set(
        PROD,
        blue,
        Some(Demo::running(&runner, PROD, 3, t("2022-08-22T09:39:17Z"))),
    );
    demo.report(PROD, t("2022-08-22T09:39:45Z")).await?; // aws-prod#65
    let p = demo.envs[PROD][blue].clone();
    demo.set(PROD, blue, None);
    demo.set(PROD, "runner", Some(p));
    demo.report(PROD, t("2022-08-22T09:40:45Z")).await?; // aws-prod#66

    // Phase C, 22-24 August.
    let mut steps = Demo::slots(
        t("2022-08-22T12:00:00Z"),
        hours(4),
        &mix(rotation(8, 3), "web", 4),
        true,
    );
    steps.extend(Demo::rogue(
        BETA,
        "loadtest/k6:latest",
        t("2022-08-22T14:30:00Z"),
        hours(10),
        4,
    ));
    demo.run_steps(steps).await?;

    // Phase D, 24 August: the next runner replaces 16d9990; scaling down shows in its history.
    let next = demo
        .release("runner", t("2022-08-24T15:50:00Z"), None)
        .await?;
    demo.deployment(&next, BETA, t("2022-08-24T16:02:00Z"))
        .await?;
    demo.set(
        BETA,
        "runner~next",
        Some(Demo::running(&next, BETA, 3, t("2022-08-24T16:02:50Z"))),
    );
    demo.report(BETA, t("2022-08-24T16:03:22Z")).await?; // aws-beta#116
    scale(&mut demo, BETA, "runner", 2);
    demo.report(BETA, t("2022-08-24T16:04:22Z")).await?; // aws-beta#117
    let r = demo.envs[BETA]["runner~next"].clone();
    demo.set(BETA, "runner~next", None);
    demo.set(BETA, "runner", Some(r));
    demo.report(BETA, t("2022-08-24T16:05:22Z")).await?; // aws-beta#118
    let nginx = demo
        .release("nginx", t("2022-08-24T15:55:00Z"), None)
        .await?;
    demo.roll_out(
        BETA,
        &nginx,
        t("2022-08-24T16:06:22Z"),
        t("2022-08-24T16:06:00Z"),
        true,
    )
    .await?; // #119
    demo.deployment(&next, PROD, t("2022-08-24T16:08:30Z"))
        .await?;
    demo.set(
        PROD,
        "runner~next",
        Some(Demo::running(&next, PROD, 3, t("2022-08-24T16:08:55Z"))),
    );
    demo.report(PROD, t("2022-08-24T16:09:14Z")).await?; // aws-prod#90
    scale(&mut demo, PROD, "runner", 1);
    demo.report(PROD, t("2022-08-24T16:10:14Z")).await?; // aws-prod#91
    demo.deployment(&nginx, PROD, t("2022-08-24T16:10:40Z"))
        .await?;
    demo.set(
        PROD,
        "nginx~next",
        Some(Demo::running(&nginx, PROD, 1, t("2022-08-24T16:10:58Z"))),
    );
    demo.report(PROD, t("2022-08-24T16:11:14Z")).await?; // aws-prod#92
    for (blue, service) in [("runner~next", "runner"), ("nginx~next", "nginx")] {
        let r = demo.envs[PROD][blue].clone();
        demo.set(PROD, blue, None);
        demo.set(PROD, service, Some(r));
    }
    demo.report(PROD, t("2022-08-24T16:12:14Z")).await?; // aws-prod#93

    // Phase E, 24 August - 1 September; a debug shell appears in prod now and then.
    let mut steps = Demo::slots(
        t("2022-08-24T18:00:00Z"),
        hours(6),
        &mix(rotation(19, 5), "web", 11),
        false,
    );
    steps.extend(Demo::rogue(
        PROD,
        "busybox:1.35",
        t("2022-08-25T03:00:00Z"),
        hours(36),
        4,
    ));
    demo.run_steps(steps).await?;
    let web_failed = demo.release("web", t("2022-08-28T04:50:00Z"), None).await?;
    demo.deployment(&web_failed, BETA, t("2022-08-28T05:00:00Z"))
        .await?;

    // Phase F, 2-5 September.
    let beta_at = t("2022-09-02T03:00:00Z");
    demo.shared(
        "web",
        Some(&WEB_6B1B6BC),
        beta_at,
        t("2022-09-02T03:36:28Z"),
        t("2022-09-02T03:32:00Z"),
        false,
    )
    .await?;
    for (service, beta_at, prod_at) in [
        ("saver", "2022-09-02T17:00:00Z", "2022-09-02T17:27:28Z"),
        ("dashboard", "2022-09-04T00:40:00Z", "2022-09-04T01:10:28Z"),
        (
            "languages-start-points",
            "2022-09-05T05:30:00Z",
            "2022-09-05T05:59:28Z",
        ),
    ] {
        demo.shared(
            service,
            None,
            t(beta_at),
            t(prod_at),
            t(prod_at) - secs(20),
            false,
        )
        .await?;
    }

    // Phase G, 6 September: web c3ada4d reaches beta and waits for approval.
    let web = demo
        .release("web", t("2022-09-06T08:26:29Z"), Some(&WEB_C3ADA4D))
        .await?;
    demo.deployment(&web, BETA, t("2022-09-06T08:27:42Z"))
        .await?;
    demo.set(
        BETA,
        "web~c3ada4d",
        Some(Demo::running(&web, BETA, 1, t("2022-09-06T08:28:40Z"))),
    );
    demo.report(BETA, t("2022-09-06T08:29:22Z")).await?; // aws-beta#188
    let w = demo.envs[BETA]["web~c3ada4d"].clone();
    demo.set(BETA, "web~c3ada4d", None);
    demo.set(BETA, "web", Some(w));
    demo.report(BETA, t("2022-09-06T08:30:22Z")).await?; // aws-beta#189

    // Phase H, 6 September afternoon: two releases, then the creator incident.
    for (service, beta_at, prod_at, stop_at) in [
        (
            "repler",
            "2022-09-06T13:00:00Z",
            "2022-09-06T13:27:28Z",
            "2022-09-06T13:28:27Z",
        ),
        (
            "nginx",
            "2022-09-06T13:40:00Z",
            "2022-09-06T13:52:28Z",
            "2022-09-06T13:53:28Z",
        ),
    ] {
        let release = demo.release(service, t(beta_at) - secs(600), None).await?;
        demo.roll_out(BETA, &release, t(beta_at), t(beta_at) - secs(25), false)
            .await?;
        blue_green(
            &mut demo,
            PROD,
            &release,
            t(prod_at) - secs(20),
            t(prod_at),
            t(stop_at),
        )
        .await?;
    }
    let hotfix = demo
        .release("creator", t("2022-09-06T14:35:00Z"), Some(&CREATOR_31DEE35))
        .await?;
    blue_green(
        &mut demo,
        PROD,
        &hotfix,
        t("2022-09-06T14:41:44Z"),
        t("2022-09-06T14:42:28Z"),
        t("2022-09-06T14:43:28Z"),
    )
    .await?;
    let fix = demo
        .release("creator", t("2022-09-06T14:40:00Z"), Some(&CREATOR_B7A5908))
        .await?;
    demo.roll_out(
        BETA,
        &fix,
        t("2022-09-06T14:45:00Z"),
        t("2022-09-06T14:44:35Z"),
        false,
    )
    .await?;
    blue_green(
        &mut demo,
        PROD,
        &fix,
        t("2022-09-06T14:52:03Z"),
        t("2022-09-06T14:52:28Z"),
        t("2022-09-06T14:53:28Z"),
    )
    .await?;
    // Later reports find nothing new: heartbeats, not snapshots.
    demo.report(PROD, t("2022-09-06T14:56:28Z")).await?;
    demo.report(BETA, t("2022-09-06T14:56:30Z")).await?;

    check_numbers(&demo).await?;
    Ok(token.token)
}

fn scale(demo: &mut Demo<'_>, env: &'static str, key: &str, replicas: u32) {
    if let Some(r) = demo.envs.get_mut(env).and_then(|s| s.get_mut(key)) {
        r.replicas = replicas;
    }
}

/// A blue-green roll-out with the exact times of the tutorial's snapshots.
async fn blue_green(
    demo: &mut Demo<'_>,
    env: &'static str,
    release: &Release,
    since: Timestamp,
    start_at: Timestamp,
    stop_at: Timestamp,
) -> ApiResult<()> {
    demo.deployment(release, env, since - secs(40)).await?;
    let blue = format!("{}~{}", release.service, release.short());
    demo.set(env, &blue, Some(Demo::running(release, env, 1, since)));
    demo.report(env, start_at).await?;
    let r = demo.envs[env][&blue].clone();
    demo.set(env, &blue, None);
    demo.set(env, release.service, Some(r));
    demo.report(env, stop_at).await?;
    Ok(())
}

/// The tutorials quote snapshot numbers; fail loudly if the story drifted from them.
async fn check_numbers(demo: &Demo<'_>) -> ApiResult<()> {
    for (env, expected) in [(BETA, 195), (PROD, 177)] {
        let latest = demo
            .ledger
            .environment(&demo.org, env)
            .await?
            .env
            .latest_snapshot;
        if latest != Some(expected) {
            return Err(ApiError::conflict(format!(
                "demo data drifted: {env} has {latest:?} snapshots, the story needs {expected}"
            )));
        }
    }
    Ok(())
}
