//! The command line: Kosli's grammar (`env get aws-prod#65`, `artifact get runner:16d9990`)
//! plus evident's own commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "evident",
    version,
    about = "Follow a commit from git through CI to the environments where it runs",
    after_help = "Examples:\n  evident server --demo\n  evident pipeline ls\n  evident artifact get runner:16d9990\n  evident env get aws-prod#65\n  evident env diff aws-prod#64 aws-prod#65\n  evident env log aws-prod\n\nConfiguration: flags, then EVIDENT_* variables (KOSLI_* accepted), then the config file."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client command shares.
#[derive(Debug, Args)]
pub struct Global {
    /// Server URL [env: EVIDENT_HOST, KOSLI_HOST] [default: http://127.0.0.1:8080]
    #[arg(long, short = 'H', global = true)]
    pub host: Option<String>,
    /// API token [env: EVIDENT_API_TOKEN, KOSLI_API_TOKEN]
    #[arg(long, short = 'a', global = true)]
    pub api_token: Option<String>,
    /// Organization [env: EVIDENT_ORG, KOSLI_ORG, KOSLI_OWNER]
    #[arg(long, global = true)]
    pub org: Option<String>,
    /// Output format [env: EVIDENT_OUTPUT] [default: table]
    #[arg(long, short = 'o', global = true, value_enum)]
    pub output: Option<Format>,
    /// Config file (TOML: host, api_token, org, output) [env: EVIDENT_CONFIG]
    /// [default: ~/.config/evident/config.toml]
    #[arg(long, short = 'c', global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the evident server
    #[command(
        after_help = "Examples:\n  evident server --demo\n  evident server --bind 0.0.0.0:8080 --db sqlite:///var/lib/evident/evident.db"
    )]
    Server(ServerArgs),
    /// Manage pipelines (CI flows that build artifacts)
    #[command(subcommand)]
    Pipeline(PipelineCmd),
    /// Report what CI did: artifacts, evidence, approvals, deployments
    #[command(subcommand)]
    Report(ReportCmd),
    /// Look at artifacts
    #[command(subcommand)]
    Artifact(ArtifactCmd),
    /// Environments and their snapshots
    #[command(subcommand, alias = "environment")]
    Env(EnvCmd),
    /// Report what runs in an environment
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
    /// Print the SHA-256 fingerprint of a file, directory or image (Kosli-compatible)
    #[command(
        after_help = "Examples:\n  evident fingerprint ./build --artifact-type dir --exclude '**/*.log'\n  evident fingerprint app.tgz -t file\n  evident fingerprint ./image-layout -t oci\n  evident fingerprint cyberdojo/runner:16d9990 -t docker"
    )]
    Fingerprint {
        /// A path, or an image name for docker
        target: PathBuf,
        /// file, dir, oci or docker
        #[arg(long, short = 't')]
        artifact_type: String,
        /// Paths to leave out of a dir fingerprint (globs, `**` allowed); repeatable
        #[arg(long, short = 'x', value_delimiter = ',')]
        exclude: Vec<String>,
    },
    /// Track git repositories on the server
    #[command(subcommand)]
    Repo(RepoCmd),
    /// List commits: of any repository directly, or of a tracked one
    #[command(subcommand)]
    Commits(CommitsCmd),
    /// Find a commit or fingerprint: the commit, artifacts built from it, where they run
    #[command(after_help = "Example:\n  evident search 16d9990")]
    Search { prefix: String },
    /// Exit 0 when compliant, 7 when not: for gates in CI and deploy scripts
    #[command(subcommand)]
    Assert(AssertCmd),
    /// Orgs and their members
    #[command(subcommand)]
    Org(OrgCmd),
    /// Users (site admins only)
    #[command(subcommand)]
    User(UserCmd),
    /// Work on the database directly (first admin token, orgs) without a running server
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Print a shell completion script
    #[command(after_help = "Example:\n  evident completion bash > /etc/bash_completion.d/evident")]
    Completion { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on
    #[arg(long, env = "EVIDENT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Database URL [default: sqlite://<data dir>/evident/evident.db]
    #[arg(long, env = "EVIDENT_DATABASE_URL")]
    pub db: Option<String>,
    /// Load the cyber-dojo demo data into a throwaway database
    #[arg(long)]
    pub demo: bool,
    /// A token (evd_<16 hex>_<secret>) for the first site admin, stored hashed
    #[arg(long, env = "EVIDENT_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,
    /// Largest accepted request body, in bytes
    #[arg(long, env = "EVIDENT_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Where git mirrors are kept [default: <data dir>/evident/mirrors]
    #[arg(long, env = "EVIDENT_MIRRORS_DIR")]
    pub mirrors_dir: Option<PathBuf>,
    /// Seconds between refreshes of tracked repositories (0 turns them off)
    #[arg(long, env = "EVIDENT_REFRESH_INTERVAL", default_value_t = 300)]
    pub refresh_interval: u64,
    /// Accept file:// repository URLs (the server's own disk): for tests and trusted setups
    #[arg(long, env = "EVIDENT_GIT_ALLOW_FILE")]
    pub git_allow_file: bool,
    /// Accept repositories on loopback and private addresses
    #[arg(long, env = "EVIDENT_GIT_ALLOW_PRIVATE_HOSTS")]
    pub git_allow_private_hosts: bool,
    /// Only these git hosts, comma-separated (e.g. github.com,*.example.com)
    #[arg(long, env = "EVIDENT_GIT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub git_allowed_hosts: Vec<String>,
    /// Longest a clone or fetch may take, in seconds
    #[arg(long, env = "EVIDENT_GIT_TIMEOUT", default_value_t = 300)]
    pub git_timeout: u64,
    /// GitHub REST API asked first for ad-hoc listings of github.com repositories ("off":
    /// git only). Token from EVIDENT_GITHUB_TOKEN or GITHUB_TOKEN, optional
    #[arg(long, env = "EVIDENT_GITHUB_API", default_value = crate::config::GITHUB_API)]
    pub github_api: String,
}

#[derive(Debug, Subcommand)]
pub enum PipelineCmd {
    /// Create or update a pipeline
    #[command(
        after_help = "Example:\n  evident pipeline create runner --description 'Test runner' --template branch-coverage,unit-test"
    )]
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Evidence names every artifact must have, comma-separated
        #[arg(long, value_delimiter = ',')]
        template: Vec<String>,
        #[arg(long, value_enum, default_value = "public")]
        visibility: VisibilityArg,
    },
    /// List pipelines
    #[command(alias = "list")]
    Ls,
    /// Show one pipeline
    Get { name: String },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum VisibilityArg {
    Public,
    Private,
}

/// How a report names its artifact: a fingerprint, or a path to fingerprint.
#[derive(Debug, Args)]
pub struct ArtifactTarget {
    /// The artifact's SHA-256 fingerprint
    #[arg(long, short = 'F', conflicts_with = "artifact_type")]
    pub fingerprint: Option<String>,
    /// Fingerprint the PATH argument: file or dir
    #[arg(long, short = 't', requires = "path")]
    pub artifact_type: Option<String>,
    /// Path of the artifact to fingerprint (with --artifact-type)
    pub path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Report an artifact built by CI
    #[command(
        after_help = "Examples:\n  evident report artifact cyberdojo/runner:16d9990 --pipeline runner --fingerprint 9af401c4... --git-commit 16d9990ad23a...\n  evident report artifact ./build/app.tgz --artifact-type file --pipeline runner --git-commit $GITHUB_SHA"
    )]
    Artifact {
        /// Display name of the artifact, or its path with --artifact-type
        name_or_path: String,
        #[arg(long, short = 'f', env = "EVIDENT_PIPELINE")]
        pipeline: String,
        /// SHA-256 fingerprint
        #[arg(long, short = 'F', conflicts_with = "artifact_type")]
        fingerprint: Option<String>,
        /// Fingerprint NAME_OR_PATH as a file or dir
        #[arg(long, short = 't')]
        artifact_type: Option<String>,
        /// Display name when NAME_OR_PATH is a path [default: its file name]
        #[arg(long, short = 'n')]
        name: Option<String>,
        #[arg(long, short = 'g', env = "GITHUB_SHA")]
        git_commit: Option<String>,
        #[arg(long, short = 'u')]
        commit_url: Option<String>,
        #[arg(long, short = 'b')]
        build_url: Option<String>,
    },
    /// Report evidence (tests, coverage, scans) about an artifact
    #[command(
        after_help = "Example:\n  evident report evidence --fingerprint 9af401c4... --name branch-coverage --compliant --url https://ci/run/1"
    )]
    Evidence {
        #[command(flatten)]
        target: ArtifactTarget,
        /// Evidence name, as in the pipeline template
        #[arg(long, short = 'n')]
        name: String,
        /// Whether the evidence is compliant (--compliant=false for a failure)
        #[arg(long, short = 'C', default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        compliant: bool,
        #[arg(long)]
        url: Option<String>,
        #[arg(long, short = 'd')]
        description: Option<String>,
        /// A JSON file attached to the evidence
        #[arg(long, short = 'u')]
        user_data: Option<PathBuf>,
        #[arg(long, short = 'f')]
        pipeline: Option<String>,
    },
    /// Report an approval of an artifact for an environment
    #[command(
        after_help = "Example:\n  evident report approval --fingerprint 4807356... --environment aws-prod --reviewer alice"
    )]
    Approval {
        #[command(flatten)]
        target: ArtifactTarget,
        #[arg(long, short = 'e')]
        environment: Option<String>,
        /// Approved (true) or rejected (--approved=false)
        #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        approved: bool,
        #[arg(long)]
        reviewer: Option<String>,
        #[arg(long, short = 'd')]
        description: Option<String>,
        #[arg(long)]
        oldest_commit: Option<String>,
        #[arg(long)]
        newest_commit: Option<String>,
        #[arg(long, short = 'f')]
        pipeline: Option<String>,
    },
    /// Report a deployment of an artifact to an environment
    #[command(
        after_help = "Example:\n  evident report deployment --fingerprint 9af401c4... --environment aws-beta"
    )]
    Deployment {
        #[command(flatten)]
        target: ArtifactTarget,
        #[arg(long, short = 'e')]
        environment: String,
        #[arg(long, short = 'd')]
        description: Option<String>,
        #[arg(long, short = 'u')]
        user_data: Option<PathBuf>,
        #[arg(long, short = 'f')]
        pipeline: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArtifactCmd {
    /// Show an artifact: PIPELINE:COMMIT, PIPELINE@FINGERPRINT or FINGERPRINT (prefixes allowed)
    #[command(
        after_help = "Examples:\n  evident artifact get runner:16d9990\n  evident artifact get web@4807356\n  evident artifact get 9af401c4350b21e3"
    )]
    Get { reference: String },
    /// Which artifacts an (unknown) commit first shipped in, per pipeline
    #[command(after_help = "Example:\n  evident artifact contains 16d9990")]
    Contains { commit: String },
    /// List artifacts, newest first
    #[command(alias = "list")]
    Ls {
        #[arg(long, short = 'f')]
        pipeline: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u64,
        #[arg(long, short = 'n', default_value_t = 15)]
        per_page: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvCmd {
    /// Create or update an environment
    #[command(
        after_help = "Example:\n  evident env create aws-prod --type ecs --description 'production'"
    )]
    Create {
        name: String,
        /// server, docker, k8s, ecs, lambda or s3
        #[arg(long, short = 't')]
        r#type: String,
        #[arg(long, short = 'd', default_value = "")]
        description: String,
    },
    /// List environments
    #[command(alias = "list")]
    Ls,
    /// Show what ran in a snapshot: ENV, ENV#N, ENV#-N, ENV~N or ENV@{TIME}
    #[command(
        after_help = "Examples:\n  evident env get aws-prod\n  evident env get aws-prod#65\n  evident env get aws-prod~1\n  evident env get 'aws-prod@{2022-08-24T18:00:00Z}'"
    )]
    Get { snappish: String },
    /// Compare two snapshots, of one environment or of two
    #[command(
        after_help = "Examples:\n  evident env diff aws-prod#64 aws-prod#65\n  evident env diff aws-beta aws-prod"
    )]
    Diff {
        a: String,
        b: String,
        /// Also list what is the same in both
        #[arg(long, short = 'u', conflicts_with = "commits")]
        show_unchanged: bool,
        /// For each changed artifact, list the commits the new version brings
        #[arg(long)]
        commits: bool,
    },
    /// List an environment's snapshots, newest first
    #[command(after_help = "Example:\n  evident env log aws-prod --per-page 15 --page 2")]
    Log {
        env: String,
        #[arg(long, default_value_t = 1)]
        page: u64,
        #[arg(long, short = 'n', default_value_t = 15)]
        per_page: u64,
    },
}

/// How a reporter runs: once, once without sending, or in a loop.
#[derive(Debug, Args)]
pub struct ReportMode {
    /// Print the report instead of sending it
    #[arg(long, short = 'D')]
    pub dry_run: bool,
    /// Keep reporting at this interval (e.g. 60s, 5m), retrying with backoff on errors
    #[arg(long, value_parser = parse_interval)]
    pub interval: Option<std::time::Duration>,
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("{s:?} is not a duration like 60s or 5m: {e}"))?;
    std::time::Duration::try_from(d)
        .ok()
        .filter(|d| d.as_secs() >= 1)
        .ok_or_else(|| format!("{s:?}: the interval must be at least 1s"))
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// Fingerprint files or directories on this server and report them
    #[command(
        after_help = "Example:\n  evident snapshot server prod-web --paths /opt/app/bin,/opt/app/static --interval 60s"
    )]
    Server {
        env: String,
        /// Files or directories to fingerprint, comma-separated; each is one artifact
        #[arg(long, short = 'p', value_delimiter = ',', required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        mode: ReportMode,
    },
    /// Report the running containers of the local Docker daemon
    #[command(after_help = "Example:\n  evident snapshot docker dev-box --interval 60s")]
    Docker {
        env: String,
        /// The daemon's socket [default: DOCKER_HOST or /var/run/docker.sock]
        #[arg(long)]
        socket: Option<PathBuf>,
        #[command(flatten)]
        mode: ReportMode,
    },
    /// Report the running pods of a Kubernetes cluster (image digests from pod status)
    #[command(
        after_help = "Example:\n  evident snapshot k8s prod --namespace shop,payments --interval 60s"
    )]
    K8s {
        env: String,
        #[arg(long, short = 'k')]
        kubeconfig: Option<PathBuf>,
        /// Only these namespaces, comma-separated
        #[arg(long, short = 'n', value_delimiter = ',')]
        namespace: Vec<String>,
        /// All namespaces but these, comma-separated
        #[arg(long, short = 'x', value_delimiter = ',', conflicts_with = "namespace")]
        exclude_namespace: Vec<String>,
        #[command(flatten)]
        mode: ReportMode,
    },
    /// Report the running tasks of an ECS cluster
    #[command(
        after_help = "Example:\n  evident snapshot ecs aws-prod --cluster cyber-dojo --interval 60s"
    )]
    Ecs {
        env: String,
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, env = "AWS_REGION")]
        region: Option<String>,
        #[command(flatten)]
        mode: ReportMode,
    },
    /// Report Lambda functions (all when none is named)
    #[command(
        after_help = "Example:\n  evident snapshot lambda aws-prod --function-name reporter,api"
    )]
    Lambda {
        env: String,
        #[arg(long, value_delimiter = ',')]
        function_name: Vec<String>,
        #[arg(long, env = "AWS_REGION")]
        region: Option<String>,
        #[command(flatten)]
        mode: ReportMode,
    },
    /// Send a report read from a JSON file (`{"artifacts": [...]}`), e.g. from a custom reporter
    File { env: String, file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum RepoCmd {
    /// Track a repository: mirror it on the server and index its commits
    #[command(
        after_help = "Example:\n  evident repo add runner https://github.com/cyber-dojo/runner.git"
    )]
    Add { name: String, url: String },
    /// List tracked repositories with their last refresh
    #[command(alias = "list")]
    Ls,
    /// Stop tracking a repository
    Rm { name: String },
    /// Fetch and index what changed now
    Refresh { name: String },
}

#[derive(Debug, Subcommand)]
pub enum CommitsCmd {
    /// Every commit reachable from all branches and tags of a git URL (no server needed)
    #[command(
        after_help = "Examples:\n  evident commits list https://github.com/cyber-dojo/runner.git\n  evident commits list https://github.com/git/git.git --branch master --limit 20 -o json"
    )]
    List {
        /// The repository: https://, ssh:// or user@host:path (file:// with --allow-file)
        url: String,
        /// Only commits reachable from this branch or tag (`main`, `v1.0`, or a full ref name)
        #[arg(long)]
        branch: Option<String>,
        /// Only commits committed at or after this time (RFC 3339, a date, or 3.days.ago)
        #[arg(long)]
        since: Option<String>,
        /// At most this many commits, newest first
        #[arg(long)]
        limit: Option<usize>,
        /// Accept file:// URLs (your own disk)
        #[arg(long, env = "EVIDENT_GIT_ALLOW_FILE")]
        allow_file: bool,
        /// Where mirrors are kept between runs [default: <cache dir>/evident/mirrors]
        #[arg(long)]
        mirrors: Option<PathBuf>,
    },
    /// A page of a tracked repository's commits
    #[command(after_help = "Example:\n  evident commits page runner --ref main --page 2")]
    Page {
        /// The tracked repository's name
        repo: String,
        /// Only commits reachable from this branch or tag
        #[arg(long = "ref")]
        reference: Option<String>,
        /// Page number, from 1
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Commits per page (at most 1000)
        #[arg(long, short = 'n', default_value_t = 30)]
        per_page: u64,
    },
    /// The commits NEW brings over OLD in a tracked repository
    #[command(after_help = "Example:\n  evident commits between runner 85d83c6 16d9990")]
    Between {
        repo: String,
        old: String,
        new: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AssertCmd {
    /// Is every artifact in the snapshot compliant and of known provenance?
    #[command(
        after_help = "Example:\n  evident assert snapshot aws-prod || echo 'production is not compliant'"
    )]
    Snapshot { snappish: String },
    /// Is the artifact compliant?
    #[command(
        after_help = "Example:\n  evident assert artifact runner:16d9990 && evident report deployment ..."
    )]
    Artifact { reference: String },
}

#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    /// Create an org (site admins)
    Create {
        name: String,
        #[arg(long)]
        private: bool,
    },
    /// List the orgs you can see
    #[command(alias = "list")]
    Ls,
    /// Give a user a role in an org (org admins)
    AddMember {
        user: String,
        #[arg(long, value_parser = ["reader", "writer", "admin"], default_value = "writer")]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user and print their API token (shown once)
    Create {
        name: String,
        #[arg(long)]
        site_admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Create a user if needed and print a new API token for them (shown once)
    #[command(after_help = "Example:\n  evident admin create-token --user admin --site-admin")]
    CreateToken {
        #[arg(long, env = "EVIDENT_DATABASE_URL")]
        db: Option<String>,
        #[arg(long, default_value = "admin")]
        user: String,
        #[arg(long)]
        site_admin: bool,
    },
    /// Create an org, optionally with an admin
    CreateOrg {
        name: String,
        #[arg(long, env = "EVIDENT_DATABASE_URL")]
        db: Option<String>,
        #[arg(long)]
        private: bool,
        /// A user who becomes the org's admin
        #[arg(long)]
        admin: Option<String>,
    },
}
