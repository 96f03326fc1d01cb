//! One module per command group.

mod admin;
mod artifact;
mod assert;
mod env;
mod pipeline;
mod repo;
mod report;
mod server;
mod snapshot;

use anyhow::Context;
use clap::CommandFactory;
use evident_client::Client;

use crate::cli::{Cli, Command};
use crate::config::{resolve, ClientConfig};
use crate::exit;

/// What a client command needs: the client and the resolved settings.
pub struct Ctx {
    pub client: Client,
    pub config: ClientConfig,
}

impl Ctx {
    pub fn org(&self) -> anyhow::Result<&str> {
        self.config.org()
    }
    pub fn json(&self) -> bool {
        self.config.output == crate::output::Format::Json
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let ctx = || -> anyhow::Result<Ctx> {
        let config = resolve(&cli.global)?;
        let client = Client::new(&config.host, config.token.clone())
            .context("invalid --host / EVIDENT_HOST")?;
        Ok(Ctx { client, config })
    };
    if !matches!(cli.command, Command::Server(_)) {
        // Warnings (skipped containers, retries) go to stderr; stdout stays clean for scripts.
        // `kube` logs every failed request as an error, which the reporter reports anyway.
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("EVIDENT_LOG")
                    .unwrap_or_else(|_| "warn,kube_client::client::builder=off".into()),
            )
            .with_writer(std::io::stderr)
            // Colour only on a terminal, and never with NO_COLOR set.
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .without_time()
            .init();
    }
    match cli.command {
        Command::Server(args) => server::run(args).await,
        Command::Admin(cmd) => admin::run_admin(cmd).await,
        Command::Completion { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "evident",
                &mut std::io::stdout(),
            );
            Ok(exit::OK)
        }
        Command::Fingerprint {
            target,
            artifact_type,
            exclude,
        } => {
            let fp = report::fingerprint_with(&artifact_type, &target, exclude).await?;
            println!("{fp}");
            Ok(exit::OK)
        }
        Command::Repo(cmd) => repo::run_repo(&ctx()?, cmd).await,
        Command::Commits(cmd) => {
            let config = resolve(&cli.global)?;
            repo::run_commits(&config, ctx, cmd).await
        }
        Command::Search { prefix } => repo::run_search(&ctx()?, &prefix).await,
        Command::Assert(cmd) => assert::run(&ctx()?, cmd).await,
        Command::Org(cmd) => admin::run_org(&ctx()?, cmd).await,
        Command::User(cmd) => admin::run_user(&ctx()?, cmd).await,
        Command::Pipeline(cmd) => pipeline::run(&ctx()?, cmd).await,
        Command::Report(cmd) => report::run(&ctx()?, cmd).await,
        Command::Artifact(cmd) => artifact::run(&ctx()?, cmd).await,
        Command::Env(cmd) => env::run(&ctx()?, cmd).await,
        Command::Snapshot(cmd) => snapshot::run(&ctx()?, cmd).await,
    }
}

/// The user's time zone (honours `TZ`).
pub fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::system()
}
