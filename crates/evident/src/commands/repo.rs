//! `evident repo`, `evident commits`, `evident search`.

use std::ops::ControlFlow;

use anyhow::Context;
use evident_core::api::Commit;
use evident_core::time::{ago, format_time};
use evident_git::{GitOptions, LogQuery, Mirror, UrlPolicy};
use jiff::Timestamp;

use super::{tz, Ctx};
use crate::cli::{CommitsCmd, RepoCmd};
use crate::config::ClientConfig;
use crate::{exit, output};

pub async fn run_repo(ctx: &Ctx, cmd: RepoCmd) -> anyhow::Result<i32> {
    let org = ctx.org()?;
    let now = Timestamp::now();
    let repos = match cmd {
        RepoCmd::Add { name, url } => vec![ctx.client.add_repo(org, &name, &url).await?],
        RepoCmd::Ls => ctx.client.repos(org).await?,
        RepoCmd::Rm { name } => {
            ctx.client.remove_repo(org, &name).await?;
            eprintln!("Repository {name} is no longer tracked.");
            return Ok(exit::OK);
        }
        RepoCmd::Refresh { name } => vec![ctx.client.refresh_repo(org, &name).await?],
    };
    if ctx.json() {
        output::json(&repos)?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = repos
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.commits.to_string(),
                match r.last_refresh_at {
                    Some(t) => format!("{} {}", r.last_refresh, ago(t, now)),
                    None => r.last_refresh.clone(),
                },
                r.url.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["NAME", "COMMITS", "LAST REFRESH", "URL"], &rows, false)
    );
    for r in repos.iter().filter(|r| r.last_error.is_some()) {
        eprintln!(
            "{}: {}",
            r.name,
            r.last_error.as_deref().unwrap_or_default()
        );
    }
    Ok(exit::OK)
}

fn print_commits(commits: &[Commit]) {
    let tz = tz();
    let rows: Vec<Vec<String>> = commits
        .iter()
        .map(|c| {
            vec![
                c.sha[..c.sha.len().min(12)].to_string(),
                c.author.name.clone(),
                format_time(c.author.time, &tz),
                c.message.lines().next().unwrap_or("").to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["SHA", "AUTHOR", "DATE", "SUBJECT"], &rows, false)
    );
}

pub async fn run_commits(
    config: &ClientConfig,
    ctx: impl FnOnce() -> anyhow::Result<Ctx>,
    cmd: CommitsCmd,
) -> anyhow::Result<i32> {
    let json = config.output == output::Format::Json;
    match cmd {
        CommitsCmd::List {
            url,
            branch,
            since,
            limit,
            allow_file,
            mirrors,
        } => {
            let policy = UrlPolicy {
                allow_file,
                ..UrlPolicy::default()
            };
            let url = policy.check(&url).context("repository URL refused")?;
            let since = since
                .map(|s| {
                    evident_core::refs::parse_instant(&s, Timestamp::now())
                        .map(|t| t.as_second())
                        .with_context(|| {
                            format!(
                                "--since {s:?}: use 2022-08-24, 2022-08-24T18:00:00Z or 3.days.ago"
                            )
                        })
                })
                .transpose()?;
            let root = match mirrors {
                Some(dir) => dir,
                None => dirs::cache_dir()
                    .context("no cache directory: pass --mirrors DIR")?
                    .join("evident")
                    .join("mirrors"),
            };
            std::fs::create_dir_all(&root)
                .with_context(|| format!("cannot create {}", root.display()))?;
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let query = LogQuery {
                branch,
                since,
                limit,
                ..LogQuery::default()
            };
            let github = std::env::var("EVIDENT_GITHUB_API")
                .unwrap_or_else(|_| crate::config::GITHUB_API.to_string());
            if let (Some(_), Some(api)) = (url.github_repo(), crate::config::github_api(&github)) {
                // GitHub first; git when the API fails, times out or is rate-limited.
                let source = evident_git::CommitSource {
                    mirrors_root: root.clone(),
                    git: GitOptions::default(),
                    github: Some(api),
                };
                let listing = source.list(&url, &query).await?;
                if let Some(why) = &listing.fallback {
                    eprintln!("GitHub API unavailable ({why}); listed with git instead.");
                }
                if json {
                    output::json(&listing.commits)?;
                } else {
                    let tz = tz();
                    for c in &listing.commits {
                        let t =
                            Timestamp::from_second(c.author_time).unwrap_or(Timestamp::UNIX_EPOCH);
                        println!(
                            "{}  {}  {}  {}",
                            c.sha,
                            c.author_name,
                            format_time(t, &tz),
                            c.subject()
                        );
                    }
                }
                return Ok(exit::OK);
            }
            // git's own transfer progress as a bar, on a terminal only.
            let bar = progress.then(|| transfer_bar(&url.redacted()));
            let opts = GitOptions {
                progress: bar
                    .clone()
                    .map(|bar| evident_git::ProgressSink::new(move |p| show_transfer(&bar, p))),
                ..GitOptions::default()
            };
            let mirror = Mirror::open_or_clone(&root, &url, &opts).await?;
            if !mirror.was_cloned() {
                mirror.fetch().await?;
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            if json {
                let commits = mirror.list_commits(&query).await?;
                output::json(&commits)?;
            } else {
                // Stream: print as git produces, so a huge history starts showing at once.
                use std::io::Write;
                let tz = tz();
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let mut broken = false;
                mirror
                    .for_each_commit(&query, |c| {
                        let t =
                            Timestamp::from_second(c.author_time).unwrap_or(Timestamp::UNIX_EPOCH);
                        let line = format!(
                            "{}  {}  {}  {}\n",
                            c.sha,
                            c.author_name,
                            format_time(t, &tz),
                            c.subject()
                        );
                        if out.write_all(line.as_bytes()).is_err() {
                            broken = true;
                            return ControlFlow::Break(());
                        }
                        ControlFlow::Continue(())
                    })
                    .await?;
                if !broken {
                    let _ = out.flush();
                }
            }
        }
        CommitsCmd::Page {
            repo,
            reference,
            page,
            per_page,
        } => {
            let ctx = ctx()?;
            let p = ctx
                .client
                .commits(ctx.org()?, &repo, page, per_page, reference.as_deref())
                .await?;
            if json {
                output::json(&p)?;
            } else {
                print_commits(&p.commits);
                eprintln!(
                    "page {} of {} ({} commits)",
                    p.page,
                    p.total.div_ceil(p.per_page).max(1),
                    p.total
                );
            }
        }
        CommitsCmd::Between { repo, old, new } => {
            let ctx = ctx()?;
            let commits = ctx.client.between(ctx.org()?, &repo, &old, &new).await?;
            if json {
                output::json(&commits)?;
            } else {
                print_commits(&commits);
            }
        }
    }
    Ok(exit::OK)
}

pub async fn run_search(ctx: &Ctx, prefix: &str) -> anyhow::Result<i32> {
    let found = ctx.client.search(ctx.org()?, prefix).await?;
    if ctx.json() {
        output::json(&found)?;
        return Ok(exit::OK);
    }
    if found.commits.is_empty() && found.artifacts.is_empty() {
        eprintln!("Nothing matches {prefix}.");
        return Ok(exit::NOT_FOUND);
    }
    let tz = tz();
    for rc in &found.commits {
        let c = &rc.commit;
        println!("Commit {} in {}", c.sha, rc.repo);
        println!(
            "  Author:  {} <{}>, {}",
            c.author.name,
            c.author.email,
            format_time(c.author.time, &tz)
        );
        println!("  Subject: {}", c.message.lines().next().unwrap_or(""));
        if !c.refs.is_empty() {
            println!("  Refs:    {}", c.refs.join(", "));
        }
    }
    for aw in &found.artifacts {
        let a = &aw.artifact;
        println!(
            "Artifact {} ({}@{})",
            a.name,
            a.pipeline,
            &a.fingerprint.as_str()[..12]
        );
        println!(
            "  State:   {}",
            evident_core::compliance::state_word(a.compliant)
        );
        if aw.runs.is_empty() {
            println!("  Running: nowhere");
        }
        for r in &aw.runs {
            match r.to_snapshot {
                Some(to) => println!(
                    "  Ran in   {}#{}..#{} ({} replicas)",
                    r.environment, r.from_snapshot, to, r.replicas
                ),
                None => println!(
                    "  Runs in  {}#{} onwards ({} replicas, now)",
                    r.environment, r.from_snapshot, r.replicas
                ),
            }
        }
    }
    Ok(exit::OK)
}

/// A progress bar for a clone or fetch of `what`, driven by [`show_transfer`].
fn transfer_bar(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0).with_prefix(format!("fetching {what}"));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix}: {msg} [{bar:30}] {pos}/{len} ({elapsed})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Shows one of git's progress reports: its phase, its counts and what it says of bytes.
fn show_transfer(bar: &indicatif::ProgressBar, p: &evident_git::TransferProgress) {
    // A phase without a total (e.g. enumerating) shows its count as done.
    bar.set_length(p.total.unwrap_or(p.done));
    bar.set_position(p.done);
    let phase = p.phase.trim_start_matches("remote: ");
    bar.set_message(match &p.bytes {
        Some(bytes) => format!("{phase}, {bytes}"),
        None => phase.to_string(),
    });
}
