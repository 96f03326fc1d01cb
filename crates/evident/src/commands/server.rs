//! `evident server`.

use anyhow::Context;
use evident_git::{GitOptions, UrlPolicy};
use evident_server::repos::GitConfig;
use evident_server::{Application, Config};

use crate::cli::ServerArgs;
use crate::config::default_database_url;
use crate::exit;

pub async fn run(args: ServerArgs) -> anyhow::Result<i32> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVIDENT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never with NO_COLOR set.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    // The demo lives in a throwaway database that disappears with the process.
    let demo_dir = if args.demo {
        Some(tempfile::tempdir().context("cannot create a temporary directory for the demo")?)
    } else {
        None
    };
    let database_url = match (&demo_dir, args.db) {
        (Some(dir), _) => format!("sqlite://{}", dir.path().join("demo.db").display()),
        (None, Some(url)) => url,
        (None, None) => default_database_url()?,
    };
    let mirrors_dir = match (&demo_dir, args.mirrors_dir) {
        (Some(dir), _) => dir.path().join("mirrors"),
        (None, Some(dir)) => dir,
        (None, None) => crate::config::data_dir()?.join("mirrors"),
    };
    let git = GitConfig {
        mirrors_dir,
        policy: UrlPolicy {
            allow_file: args.git_allow_file,
            allow_private_hosts: args.git_allow_private_hosts,
            allowed_hosts: (!args.git_allowed_hosts.is_empty()).then_some(args.git_allowed_hosts),
            ..UrlPolicy::default()
        },
        options: GitOptions {
            timeout: std::time::Duration::from_secs(args.git_timeout.max(1)),
            ..GitOptions::default()
        },
        refresh_interval: (args.refresh_interval > 0)
            .then(|| std::time::Duration::from_secs(args.refresh_interval)),
        concurrency: 2,
        github: crate::config::github_api(&args.github_api),
    };
    let config = Config {
        bind: args.bind,
        database_url: database_url.clone(),
        max_body_bytes: args.max_body_bytes,
        bootstrap_token: args.bootstrap_token,
        demo: args.demo,
        git,
    };
    let app = Application::build(config).await?;
    let host = format!("http://{}", app.addr());
    tracing::info!(database = %evident_store::redact(&database_url), "evident listening on {host}");
    if let Some(token) = &app.demo_token {
        println!("evident demo listening on {host}\n");
        println!("The cyber-dojo demo org is loaded. In another terminal:\n");
        println!("  export EVIDENT_HOST={host} EVIDENT_ORG=cyber-dojo EVIDENT_API_TOKEN={token}");
        println!("  evident pipeline ls");
        println!("  evident artifact get runner:16d9990");
        println!("  evident env get aws-prod#65\n");
    } else if app.needs_bootstrap {
        println!(
            "No users yet. Create the first admin token with:\n  evident admin create-token --db {} --user admin --site-admin\nor start the server with EVIDENT_BOOTSTRAP_TOKEN set.",
            evident_store::redact(&database_url)
        );
    }
    app.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    drop(demo_dir);
    Ok(exit::OK)
}
