//! Where the CLI finds its server, token, org and output format:
//! flags, then `EVIDENT_*` variables, then `KOSLI_*` variables, then the config file.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::cli::Global;
use crate::output::Format;

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    host: Option<String>,
    api_token: Option<String>,
    org: Option<String>,
    output: Option<Format>,
}

/// Resolved client settings.
pub struct ClientConfig {
    pub host: String,
    pub token: Option<String>,
    pub org: Option<String>,
    pub output: Format,
}

impl ClientConfig {
    pub fn org(&self) -> anyhow::Result<&str> {
        self.org
            .as_deref()
            .context("no org given: use --org or set EVIDENT_ORG")
    }
}

/// An environment variable, treating empty as unset.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn first_var(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| var(n))
}

fn load_file(explicit: Option<&PathBuf>) -> anyhow::Result<FileConfig> {
    let (path, required) = match explicit
        .cloned()
        .or_else(|| var("EVIDENT_CONFIG").map(PathBuf::from))
    {
        Some(p) => (p, true),
        None => match dirs::config_dir() {
            Some(d) => (d.join("evident").join("config.toml"), false),
            None => return Ok(FileConfig::default()),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read config file {}", path.display())),
    }
}

pub fn resolve(global: &Global) -> anyhow::Result<ClientConfig> {
    let file = load_file(global.config.as_ref())?;
    let output = match global.output {
        Some(f) => f,
        None => match var("EVIDENT_OUTPUT").as_deref() {
            Some("json") => Format::Json,
            Some("table") | None => file.output.unwrap_or(Format::Table),
            Some(other) => bail!("EVIDENT_OUTPUT must be table or json, not {other:?}"),
        },
    };
    Ok(ClientConfig {
        host: global
            .host
            .clone()
            .or_else(|| first_var(&["EVIDENT_HOST", "KOSLI_HOST"]))
            .or(file.host)
            .unwrap_or_else(|| "http://127.0.0.1:8080".to_string()),
        token: global
            .api_token
            .clone()
            .or_else(|| first_var(&["EVIDENT_API_TOKEN", "KOSLI_API_TOKEN"]))
            .or(file.api_token),
        org: global
            .org
            .clone()
            .or_else(|| first_var(&["EVIDENT_ORG", "KOSLI_ORG", "KOSLI_OWNER"]))
            .or(file.org),
        output,
    })
}

/// `<data dir>/evident`, created if missing.
pub fn data_dir() -> anyhow::Result<PathBuf> {
    let dir = dirs::data_dir()
        .context("no data directory for this user: pass --db sqlite://PATH")?
        .join("evident");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The server's default database: a file under the user's data directory.
pub fn default_database_url() -> anyhow::Result<String> {
    Ok(format!(
        "sqlite://{}",
        data_dir()?.join("evident.db").display()
    ))
}

/// GitHub's public REST API.
pub const GITHUB_API: &str = "https://api.github.com";

/// A client for the GitHub API at `base` ("off" for none), with the token from
/// `EVIDENT_GITHUB_TOKEN` or `GITHUB_TOKEN` when one is set.
pub fn github_api(base: &str) -> Option<evident_git::GithubApi> {
    let token = ["EVIDENT_GITHUB_TOKEN", "GITHUB_TOKEN"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    (base != "off" && !base.is_empty()).then(|| evident_git::GithubApi::new(base, token))
}
