//! `evident artifact get|ls`.

use evident_core::time::{format_time, format_time_with_age};
use jiff::Timestamp;

use super::{tz, Ctx};
use crate::cli::ArtifactCmd;
use crate::{exit, output};

pub async fn run(ctx: &Ctx, cmd: ArtifactCmd) -> anyhow::Result<i32> {
    let org = ctx.org()?;
    let (tz, now) = (tz(), Timestamp::now());
    match cmd {
        ArtifactCmd::Get { reference } => {
            // Check the reference locally for a clear message before asking the server.
            evident_core::ArtifactRef::parse(&reference)?;
            let a = ctx.client.artifact(org, &reference).await?;
            if ctx.json() {
                output::json(&a)?;
                return Ok(exit::OK);
            }
            let w = 13;
            let none = || "N/A".to_string();
            print!("{}", output::field("Name", w, &a.name));
            print!("{}", output::field("SHA256", w, a.fingerprint.as_str()));
            print!(
                "{}",
                output::field(
                    "Created on",
                    w,
                    &format_time_with_age(a.created_at, now, &tz)
                )
            );
            print!(
                "{}",
                output::field("Git commit", w, &a.git_commit.clone().unwrap_or_else(none))
            );
            print!(
                "{}",
                output::field("Commit URL", w, &a.commit_url.clone().unwrap_or_else(none))
            );
            print!(
                "{}",
                output::field("Build URL", w, &a.build_url.clone().unwrap_or_else(none))
            );
            print!("{}", output::field("State", w, &a.state));
            for reason in &a.reasons {
                println!("    {reason}");
            }
            println!("History:");
            let width = a
                .history
                .iter()
                .map(|h| h.text.chars().count())
                .max()
                .unwrap_or(0);
            for h in &a.history {
                println!("    {:<width$}  {}", h.text, format_time(h.at, &tz));
            }
        }
        ArtifactCmd::Contains { commit } => {
            let c = ctx.client.contains(org, &commit).await?;
            if ctx.json() {
                output::json(&c)?;
                return Ok(exit::OK);
            }
            println!("Commit {} ({})", c.commit, c.repo);
            if c.artifacts.is_empty() {
                println!("is in no artifact yet.");
                return Ok(exit::NOT_FOUND);
            }
            let rows: Vec<Vec<String>> = c
                .artifacts
                .iter()
                .map(|a| {
                    vec![
                        a.pipeline.clone(),
                        format!("Name: {}\nSHA256: {}", a.name, a.fingerprint),
                        a.git_commit
                            .as_deref()
                            .map(|g| g[..g.len().min(7)].to_string())
                            .unwrap_or_default(),
                        format_time(a.created_at, &tz),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &["PIPELINE", "FIRST ARTIFACT", "COMMIT", "CREATED"],
                    &rows,
                    true
                )
            );
        }
        ArtifactCmd::Ls {
            pipeline,
            page,
            per_page,
        } => {
            let list = ctx
                .client
                .artifacts(org, pipeline.as_deref(), page, per_page)
                .await?;
            if ctx.json() {
                output::json(&list)?;
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = list
                .items
                .iter()
                .map(|a| {
                    vec![
                        a.git_commit
                            .as_deref()
                            .map(|c| c[..c.len().min(7)].to_string())
                            .unwrap_or_else(|| "N/A".into()),
                        format!("Name: {}\nSHA256: {}", a.name, a.fingerprint),
                        a.pipeline.clone(),
                        evident_core::compliance::state_word(a.compliant).to_string(),
                        evident_core::time::ago(a.created_at, now),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &["COMMIT", "ARTIFACT", "PIPELINE", "STATE", "CREATED"],
                    &rows,
                    true
                )
            );
            eprintln!(
                "page {} of {}",
                list.page,
                list.total.div_ceil(list.per_page).max(1)
            );
        }
    }
    Ok(exit::OK)
}
