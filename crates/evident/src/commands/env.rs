//! `evident env create|ls|get|diff|log`.

use evident_core::api::{EnvironmentRequest, SnapshotArtifact};
use evident_core::compliance::state_word;
use evident_core::time::{ago, format_time, format_time_with_age, humanize_seconds};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{tz, Ctx};
use crate::cli::EnvCmd;
use crate::{exit, output};

pub async fn run(ctx: &Ctx, cmd: EnvCmd) -> anyhow::Result<i32> {
    let org = ctx.org()?;
    let (tz, now) = (tz(), Timestamp::now());
    match cmd {
        EnvCmd::Create {
            name,
            r#type,
            description,
        } => {
            let req = EnvironmentRequest {
                kind: r#type,
                description,
            };
            let env = ctx.client.put_environment(org, &name, &req).await?;
            if ctx.json() {
                output::json(&env)?;
            } else {
                println!("Environment {} saved.", env.name);
            }
        }
        EnvCmd::Ls => {
            let envs = ctx.client.environments(org).await?;
            if ctx.json() {
                output::json(&envs)?;
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = envs
                .iter()
                .map(|e| {
                    vec![
                        e.name.clone(),
                        e.kind.clone(),
                        e.latest_snapshot.map_or("-".into(), |n| format!("#{n}")),
                        e.last_reported_at.map_or("never".into(), |t| ago(t, now)),
                        e.last_changed_at.map_or("never".into(), |t| ago(t, now)),
                        e.description.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &[
                        "NAME",
                        "TYPE",
                        "LATEST",
                        "LAST REPORT",
                        "LAST CHANGE",
                        "DESCRIPTION"
                    ],
                    &rows,
                    false
                )
            );
        }
        EnvCmd::Get { snappish } => {
            evident_core::Snappish::parse(&snappish, now)?;
            let s = ctx.client.snapshot(org, &snappish).await?;
            if ctx.json() {
                output::json(&s)?;
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = s
                .artifacts
                .iter()
                .map(|a| {
                    vec![
                        short_commit(a),
                        artifact_cell(a),
                        a.pipeline.clone().unwrap_or_else(|| "UNKNOWN".into()),
                        ago(a.running_since, now),
                        a.replicas.to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &[
                        "COMMIT",
                        "ARTIFACT",
                        "PIPELINE",
                        "RUNNING_SINCE",
                        "REPLICAS"
                    ],
                    &rows,
                    true
                )
            );
            let failing = s.artifacts.iter().filter(|a| !a.compliant).count();
            println!(
                "\n{} • {} • {}{}",
                s.id,
                format_time(s.created_at, &tz),
                state_word(s.compliant),
                if failing > 0 {
                    format!(" ({failing} of {} artifacts)", s.artifacts.len())
                } else {
                    String::new()
                }
            );
        }
        EnvCmd::Diff {
            a,
            b,
            show_unchanged,
            commits,
        } => {
            for s in [&a, &b] {
                evident_core::Snappish::parse(s, now)?;
            }
            let d = if commits {
                ctx.client.diff_with_commits(org, &a, &b).await?
            } else {
                ctx.client.diff(org, &a, &b, show_unchanged).await?
            };
            if ctx.json() {
                output::json(&d)?;
                return Ok(exit::OK);
            }
            let mut sections = Vec::new();
            for (title, items) in [
                (format!("only present in {}", d.a), &d.only_a),
                (format!("only present in {}", d.b), &d.only_b),
            ] {
                if !items.is_empty() {
                    let body: Vec<String> = items
                        .iter()
                        .map(|x| diff_entry(x, None, now, &tz))
                        .collect();
                    sections.push(format!("{title}\n\n{}", body.join("\n")));
                }
            }
            if !d.changed.is_empty() {
                let body: Vec<String> = d
                    .changed
                    .iter()
                    .map(|c| diff_entry(&c.artifact, Some((c.replicas_a, c.replicas_b)), now, &tz))
                    .collect();
                sections.push(format!(
                    "scaled from {} to {}\n\n{}",
                    d.a,
                    d.b,
                    body.join("\n")
                ));
            }
            if !d.unchanged.is_empty() {
                let body: Vec<String> = d
                    .unchanged
                    .iter()
                    .map(|x| diff_entry(x, None, now, &tz))
                    .collect();
                sections.push(format!("unchanged\n\n{}", body.join("\n")));
            }
            for c in &d.commits {
                let mut body = format!(
                    "commits in {} from {} to {}{}\n\n",
                    c.pipeline,
                    &c.from_commit[..c.from_commit.len().min(7)],
                    &c.to_commit[..c.to_commit.len().min(7)],
                    c.repo
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
                for commit in &c.commits {
                    body.push_str(&format!(
                        "  {}  {}  {}\n",
                        &commit.sha[..10],
                        commit.author.name,
                        commit.message.lines().next().unwrap_or("")
                    ));
                }
                if let Some(note) = &c.note {
                    body.push_str(&format!("  ({note})\n"));
                }
                sections.push(body);
            }
            if sections.is_empty() {
                eprintln!("No differences between {} and {}.", d.a, d.b);
            } else {
                print!("{}", sections.join("\n"));
            }
        }
        EnvCmd::Log {
            env,
            page,
            per_page,
        } => {
            let log = ctx.client.log(org, &env, page, per_page).await?;
            if ctx.json() {
                output::json(&log)?;
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = log
                .items
                .iter()
                .map(|s| {
                    let end = s.to.unwrap_or(now);
                    vec![
                        s.number.to_string(),
                        format_time(s.from, &tz),
                        s.to.map_or("now".into(), |t| format_time(t, &tz)),
                        humanize_seconds(end.as_second() - s.from.as_second()),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(&["SNAPSHOT", "FROM", "TO", "DURATION"], &rows, false)
            );
            let pages = log.total.div_ceil(log.per_page).max(1);
            if pages > 1 {
                eprintln!(
                    "page {} of {pages}; more with --page {}",
                    log.page,
                    log.page + 1
                );
            }
        }
    }
    Ok(exit::OK)
}

fn short_commit(a: &SnapshotArtifact) -> String {
    a.git_commit
        .as_deref()
        .map(|c| c[..c.len().min(7)].to_string())
        .unwrap_or_else(|| "N/A".into())
}

fn artifact_cell(a: &SnapshotArtifact) -> String {
    let mut lines: Vec<String> = a.names.iter().map(|n| format!("Name: {n}")).collect();
    lines.push(format!("SHA256: {}", a.fingerprint));
    if !a.compliant {
        lines.push(format!("NON-COMPLIANT: {}", a.reasons.join("; ")));
    }
    lines.join("\n")
}

fn diff_entry(
    a: &SnapshotArtifact,
    scaled: Option<(u32, u32)>,
    now: Timestamp,
    tz: &TimeZone,
) -> String {
    let mut out = String::new();
    for n in &a.names {
        out.push_str(&format!("  Name:     {n}\n"));
    }
    out.push_str(&format!("  Sha256:   {}\n", a.fingerprint));
    let pipeline = a
        .pipeline
        .clone()
        .unwrap_or_else(|| "UNKNOWN (no provenance)".into());
    out.push_str(&format!("  Pipeline: {pipeline}\n"));
    let commit = a
        .commit_url
        .clone()
        .or_else(|| a.git_commit.clone())
        .unwrap_or_else(|| "N/A".into());
    out.push_str(&format!("  Commit:   {commit}\n"));
    out.push_str(&format!(
        "  Started:  {}\n",
        format_time_with_age(a.running_since, now, tz)
    ));
    if let Some((x, y)) = scaled {
        out.push_str(&format!("  Replicas: {x} -> {y}\n"));
    }
    if !a.compliant {
        out.push_str(&format!(
            "  State:    NON-COMPLIANT ({})\n",
            a.reasons.join("; ")
        ));
    }
    out
}
