//! The tutorials in shared/seeds (000, 001, 002) with `kosli` replaced by `evident`,
//! against `--demo`. Times are shown in the tutorials' zone (TZ=Europe/Berlin).

use crate::helpers::{spawn_app, TestApp};

fn run(app: &TestApp, args: &[&str]) -> String {
    let out = app
        .cli(app.demo_token.as_deref().unwrap(), "cyber-dojo")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "evident {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Drops the relative ages (" • 4 years ago"), which depend on today's date.
fn strip_ages(s: &str) -> String {
    s.lines()
        .map(|l| l.split(" • ").next().unwrap_or(l).to_string() + "\n")
        .collect()
}

/// Asserts each expected line appears in order in the output.
fn assert_lines_in_order(output: &str, expected: &[&str]) {
    let mut rest = output;
    for line in expected {
        match rest.find(line) {
            Some(i) => rest = &rest[i + line.len()..],
            None => panic!("missing or out of order: {line:?}\n--- output ---\n{output}"),
        }
    }
}

#[test]
fn following_a_commit_to_service_execution() {
    let app = spawn_app(true);

    let pipelines = run(&app, &["pipeline", "ls"]);
    assert_eq!(
        pipelines,
        "NAME                    DESCRIPTION                         VISIBILITY
creator                 UX for Group/Kata creation          public
custom-start-points     Custom exercises choices            public
dashboard               UX for a group practice dashboard   public
differ                  Diff files from two traffic-lights  public
exercises-start-points  Exercises choices                   public
languages-start-points  Language+TestFramework choices      public
nginx                   Reverse proxy                       public
repler                  REPL for Python images              public
runner                  Test runner                         public
saver                   Group/Kata model+persistence        public
shas                    UX for git+image shas               public
web                     UX for practicing TDD               public
"
    );

    // Short and full commit forms name the same artifact.
    for reference in [
        "runner:16d9990",
        "runner:16d9990ad23a40eecaf087abac2a58a2d2a4b3f4",
    ] {
        let artifact = run(&app, &["artifact", "get", reference]);
        assert_lines_in_order(
            &artifact,
            &[
                "Name:        cyberdojo/runner:16d9990",
                "SHA256:      9af401c4350b21e3f1df17d6ad808da43d9646e75b6da902cc7c492bcfb9c625",
                "Created on:  Mon, 22 Aug 2022 11:34:59 CEST • ",
                "Git commit:  16d9990ad23a40eecaf087abac2a58a2d2a4b3f4",
                "Commit URL:  https://github.com/cyber-dojo/runner/commit/16d9990ad23a40eecaf087abac2a58a2d2a4b3f4",
                "Build URL:   https://github.com/cyber-dojo/runner/actions/runs/2902808452",
                "State:       COMPLIANT",
                "History:",
                "    Artifact created                                     Mon, 22 Aug 2022 11:34:59 CEST",
                "    branch-coverage evidence received                    Mon, 22 Aug 2022 11:36:00 CEST",
                "    Deployment #18 to aws-beta environment               Mon, 22 Aug 2022 11:37:15 CEST",
                "    Deployment #19 to aws-prod environment               Mon, 22 Aug 2022 11:38:19 CEST",
                "    Started running in aws-beta#83 environment           Mon, 22 Aug 2022 11:38:30 CEST",
                "    Started running in aws-prod#65 environment           Mon, 22 Aug 2022 11:39:45 CEST",
                "    Scaled down from 3 to 2 in aws-beta#117 environment  Wed, 24 Aug 2022 18:04:22 CEST",
                "    No longer running in aws-beta#118 environment        Wed, 24 Aug 2022 18:05:22 CEST",
                "    Scaled down from 3 to 1 in aws-prod#91 environment   Wed, 24 Aug 2022 18:10:14 CEST",
                "    No longer running in aws-prod#93 environment         Wed, 24 Aug 2022 18:12:14 CEST",
            ],
        );
    }

    // The blue-green pair in #65, under the private ECR names.
    let snapshot = run(&app, &["env", "get", "aws-prod#65"]);
    assert!(snapshot.starts_with("COMMIT   ARTIFACT"));
    let compact: Vec<String> = snapshot
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let has = |s: &str| compact.iter().any(|l| l.contains(s));
    assert!(has(
        "16d9990 Name: 274425519734.dkr.ecr.eu-central-1.amazonaws.com/runner:16d9990 runner"
    ));
    assert!(has(
        "SHA256: 9af401c4350b21e3f1df17d6ad808da43d9646e75b6da902cc7c492bcfb9c625"
    ));
    assert!(has(
        "7c45272 Name: 274425519734.dkr.ecr.eu-central-1.amazonaws.com/shas:7c45272 shas"
    ));
    assert!(has(
        "85d83c6 Name: 274425519734.dkr.ecr.eu-central-1.amazonaws.com/runner:85d83c6 runner"
    ));
    assert!(has(
        "1a2b170 Name: 274425519734.dkr.ecr.eu-central-1.amazonaws.com/differ:1a2b170 differ"
    ));
    let replicas = |commit: &str| {
        compact
            .iter()
            .find(|l| l.starts_with(commit))
            .and_then(|l| l.split(' ').next_back())
            .map(str::to_string)
    };
    assert_eq!(replicas("16d9990").as_deref(), Some("3"));
    assert_eq!(replicas("85d83c6").as_deref(), Some("1"));
    // Newest first: 16d9990 heads the list, differ 1a2b170 ends it.
    assert!(compact[1].starts_with("16d9990"));
    assert!(snapshot.contains("aws-prod#65 • Mon, 22 Aug 2022 11:39:45 CEST • COMPLIANT"));

    // In #66 the old runner is gone.
    let next = run(&app, &["env", "get", "aws-prod#66"]);
    assert!(next.contains("runner:16d9990") && !next.contains("runner:85d83c6"));

    assert_eq!(
        strip_ages(&run(&app, &["env", "diff", "aws-prod#64", "aws-prod#65"])),
        "only present in aws-prod#65

  Name:     274425519734.dkr.ecr.eu-central-1.amazonaws.com/runner:16d9990
  Sha256:   9af401c4350b21e3f1df17d6ad808da43d9646e75b6da902cc7c492bcfb9c625
  Pipeline: runner
  Commit:   https://github.com/cyber-dojo/runner/commit/16d9990ad23a40eecaf087abac2a58a2d2a4b3f4
  Started:  Mon, 22 Aug 2022 11:39:17 CEST
"
    );
    let removed = run(&app, &["env", "diff", "aws-prod#65", "aws-prod#66"]);
    assert_lines_in_order(
        &removed,
        &[
            "only present in aws-prod#65",
            "Name:     274425519734.dkr.ecr.eu-central-1.amazonaws.com/runner:85d83c6",
            "Sha256:   eeb0cfc9ee7f69fbd9531d5b8c1e8d22a8de119e2a422344a714a868e9a8bfec",
            "Commit:   https://github.com/cyber-dojo/runner/commit/85d83c6ab8e0ce800baeef3dfa4fa9f6eee338a4",
            "Started:  Sat, 20 Aug 2022 22:32:43 CEST",
        ],
    );
}

#[test]
fn tracing_a_production_incident_back_to_git_commits() {
    let app = spawn_app(true);

    let log = run(&app, &["env", "log", "aws-prod"]);
    assert_lines_in_order(
        &log,
        &[
            "SNAPSHOT  FROM                            TO                              DURATION",
            "177       Tue, 06 Sep 2022 16:53:28 CEST  now",
            "176       Tue, 06 Sep 2022 16:52:28 CEST  Tue, 06 Sep 2022 16:53:28 CEST",
            "175       Tue, 06 Sep 2022 16:43:28 CEST  Tue, 06 Sep 2022 16:52:28 CEST  9 minutes",
            "174       Tue, 06 Sep 2022 16:42:28 CEST  Tue, 06 Sep 2022 16:43:28 CEST",
            "173       Tue, 06 Sep 2022 15:53:28 CEST  Tue, 06 Sep 2022 16:42:28 CEST  49 minutes",
            "172       Tue, 06 Sep 2022 15:52:28 CEST  Tue, 06 Sep 2022 15:53:28 CEST  about a minute",
            "171       Tue, 06 Sep 2022 15:28:27 CEST  Tue, 06 Sep 2022 15:52:28 CEST  24 minutes",
            "170       Tue, 06 Sep 2022 15:27:28 CEST  Tue, 06 Sep 2022 15:28:27 CEST  59 seconds",
            "169       Mon, 05 Sep 2022 08:00:28 CEST  Tue, 06 Sep 2022 15:27:28 CEST  one day",
            "168       Mon, 05 Sep 2022 07:59:28 CEST  Mon, 05 Sep 2022 08:00:28 CEST",
            "167       Sun, 04 Sep 2022 03:11:28 CEST  Mon, 05 Sep 2022 07:59:28 CEST  one day",
            "166       Sun, 04 Sep 2022 03:10:28 CEST  Sun, 04 Sep 2022 03:11:28 CEST",
            "165       Fri, 02 Sep 2022 19:28:28 CEST  Sun, 04 Sep 2022 03:10:28 CEST  one day",
            "164       Fri, 02 Sep 2022 19:27:28 CEST  Fri, 02 Sep 2022 19:28:28 CEST",
            "163       Fri, 02 Sep 2022 05:37:28 CEST  Fri, 02 Sep 2022 19:27:28 CEST  14 hours",
        ],
    );
    assert_eq!(
        log.lines().count(),
        16,
        "15 snapshots per page plus the header"
    );

    assert_lines_in_order(
        &run(&app, &["env", "diff", "aws-prod#176", "aws-prod#177"]),
        &[
            "only present in aws-prod#176",
            "Name:     274425519734.dkr.ecr.eu-central-1.amazonaws.com/creator:31dee35",
            "Sha256:   5d1c926530213dadd5c9fcbf59c8822da56e32a04b0f9c774d7cdde3cf6ba66d",
            "Pipeline: creator",
            "Commit:   https://github.com/cyber-dojo/creator/commit/31dee357844ab2f58a40d16f945dc5e35dcd6bc0",
            "Started:  Tue, 06 Sep 2022 16:41:44 CEST",
        ],
    );
    let diff = run(&app, &["env", "diff", "aws-prod#175", "aws-prod#176"]);
    assert_lines_in_order(
        &diff,
        &[
            "only present in aws-prod#176",
            "Name:     274425519734.dkr.ecr.eu-central-1.amazonaws.com/creator:b7a5908",
            "Sha256:   860ad172ace5aee03e6a1e3492a88b3315ecac2a899d4f159f43ca7314290d5a",
            "Commit:   https://github.com/cyber-dojo/creator/commit/b7a590836cf140e17da3f01eadd5eca17d9efc65",
            "Started:  Tue, 06 Sep 2022 16:52:03 CEST",
        ],
    );
    assert!(!diff.contains("only present in aws-prod#175"));

    // Across environments: web c3ada4d waits in beta while prod runs 6b1b6bc; nothing else differs.
    for (a, b) in [("aws-beta#189", "aws-prod#169"), ("aws-beta", "aws-prod")] {
        let cross = run(&app, &["env", "diff", a, b]);
        assert_lines_in_order(
            &cross,
            &[
                "only present in aws-beta#",
                "Name:     244531986313.dkr.ecr.eu-central-1.amazonaws.com/web:c3ada4d",
                "Sha256:   480735698cb9e468bb16c4265fedb7507640d236b3ab53cf2e3ec09d3bd72063",
                "Started:  Tue, 06 Sep 2022 10:28:40 CEST",
                "only present in aws-prod#",
                "Name:     274425519734.dkr.ecr.eu-central-1.amazonaws.com/web:6b1b6bc",
                "Sha256:   d4ab88ce200e88a07eda3c33fb18d7051a586e6b8e900fcea1063a13c4506446",
                "Started:  Fri, 02 Sep 2022 05:32:00 CEST",
            ],
        );
        assert_eq!(cross.matches("Name:").count(), 2, "{cross}");
    }

    let web = run(
        &app,
        &[
            "artifact",
            "get",
            "web@480735698cb9e468bb16c4265fedb7507640d236b3ab53cf2e3ec09d3bd72063",
        ],
    );
    assert_lines_in_order(
        &web,
        &[
            "Name:        cyberdojo/web:c3ada4d",
            "Created on:  Tue, 06 Sep 2022 10:26:29 CEST",
            "Git commit:  c3ada4dbd6bb9a66c27f24cec4b5a4c25cf9ce2b",
            "Build URL:   https://github.com/cyber-dojo/web/actions/runs/2998616599",
            "State:       COMPLIANT",
            "    Artifact created                             Tue, 06 Sep 2022 10:26:29 CEST",
            "    Deployment #50 to aws-beta environment       Tue, 06 Sep 2022 10:27:42 CEST",
            "    Started running in aws-beta#188 environment  Tue, 06 Sep 2022 10:29:22 CEST",
        ],
    );
}

#[test]
fn snappish_forms_select_the_same_snapshots() {
    let app = spawn_app(true);
    let id = |s: &str| -> String {
        let json: serde_json::Value =
            serde_json::from_str(&run(&app, &["env", "get", s, "--output", "json"])).unwrap();
        json["id"].as_str().unwrap().to_string()
    };
    assert_eq!(id("aws-prod"), "aws-prod#177");
    assert_eq!(id("aws-prod#-1"), "aws-prod#177");
    assert_eq!(id("aws-prod#-2"), "aws-prod#176");
    assert_eq!(id("aws-prod~1"), "aws-prod#176");
    assert_eq!(id("aws-prod#65"), "aws-prod#65");
    // 18:11 CEST on 24 August is between #91 (18:10:14) and #92 (18:11:14).
    assert_eq!(id("aws-prod@{2022-08-24T16:11:00Z}"), "aws-prod#91");
}
