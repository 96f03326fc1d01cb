//! AWS credentials, found the way the AWS CLI finds them, as far as is practical without the SDK.
//!
//! The chain, in the AWS CLI's order; the first source that is configured wins (and its
//! failure is an error, not a reason to try the next):
//! 1. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 2. a role profile: the profile `AWS_PROFILE` (else `default`) with `role_arn` and
//!    `source_profile` (itself static keys, `credential_process` or another role profile,
//!    chained) or `credential_source` (`Environment`, `EcsContainer`, `Ec2InstanceMetadata`):
//!    STS `AssumeRole`, signed with the source credentials, with the profile's
//!    `role_session_name`, `external_id` and `duration_seconds`;
//! 3. web identity (EKS IRSA, CI OIDC): `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`
//!    (+ `AWS_ROLE_SESSION_NAME`), or the profile's `web_identity_token_file` + `role_arn`:
//!    STS `AssumeRoleWithWebIdentity`, unsigned;
//! 4. the profile's static keys or `credential_process`, from the shared credentials file
//!    (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`), then the config file
//!    (`AWS_CONFIG_FILE`, else `~/.aws/config`);
//! 5. container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS tasks) or
//!    `AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`
//!    (EKS Pod Identity);
//! 6. the EC2 instance metadata service, IMDSv2 (a session token, then the instance role's
//!    credentials), at `AWS_EC2_METADATA_SERVICE_ENDPOINT` or `http://169.254.169.254`; skipped
//!    when `AWS_EC2_METADATA_DISABLED=true`. A 1 s connect timeout keeps it from stalling
//!    off EC2, where it is simply reported as unreachable.
//!
//! STS is `https://sts.{region}.amazonaws.com` (region as for the API calls, else
//! `us-east-1`), or `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`. Its XML answers are flat
//! enough for the crate's own few-line reader (`aws/xml.rs`), so no XML crate is needed.
//!
//! Not supported: IAM Identity Center (SSO) profiles and roles that need an MFA code
//! (`mfa_serial`). For those, export credentials into the environment or use a
//! `credential_process` such as `aws configure export-credentials --profile NAME --format process`.
//! Credentials are resolved afresh for each report, so temporary ones are never used stale.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;

use super::{sigv4, xml, AwsClient, AwsSettings};
use crate::error::{chain, snippet, ReporterError};

/// Where ECS serves container credentials for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_CREDENTIALS_HOST: &str = "http://169.254.170.2";

/// The EC2 instance metadata service, unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` says otherwise.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The same over IPv6 (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`).
const IMDS_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";
/// Off EC2 the metadata address usually blackholes packets: give up on connecting quickly.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Each metadata request, connect to last byte.
const IMDS_TIMEOUT: Duration = Duration::from_secs(3);
/// Lifetime asked for the IMDSv2 session token; one resolution needs it for a moment only.
const IMDS_TOKEN_TTL_SECONDS: &str = "300";

/// The STS API version of the query protocol.
const STS_VERSION: &str = "2011-06-15";

/// An access key pair, with a session token for temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Reads environment variables; a seam so the chain can be tested without touching the process.
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment; empty values count as unset.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<&str, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.is_empty())
    }
}

/// Resolves credentials through the chain described in the module documentation.
pub async fn resolve() -> Result<Credentials, ReporterError> {
    resolve_with(&ProcessEnv).await
}

pub(crate) async fn resolve_with(env: &dyn Env) -> Result<Credentials, ReporterError> {
    if let Some(c) = environment_credentials(env) {
        return Ok(c);
    }
    let mut tried = vec![
        "environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): not set".to_string(),
    ];
    let name = env.var("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let profile = load_profile(env, &name)?;
    if profile.contains_key("role_arn")
        && (profile.contains_key("source_profile") || profile.contains_key("credential_source"))
    {
        return role_profile_credentials(env, &name, &mut Vec::new()).await;
    }
    if let Some(c) = web_identity_credentials(env, &profile).await? {
        return Ok(c);
    }
    tried.push("web identity (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN): not set".into());
    if let Some(c) = profile_credentials(&name, &profile).await? {
        return Ok(c);
    }
    tried.push(format!(
        "profile {name:?} in the shared credentials and config files: {}",
        if profile.is_empty() {
            "not found"
        } else {
            "no credentials in it"
        }
    ));
    if let Some(c) = container_credentials(env).await? {
        return Ok(c);
    }
    tried.push(
        "container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI): not set".into(),
    );
    match imds_credentials(env).await {
        Ok(c) => return Ok(c),
        Err(why) => tried.push(format!("EC2 instance metadata: {why}")),
    }
    Err(ReporterError::Credentials(format!(
        "none found; tried {}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, configure a \
         profile in ~/.aws/credentials, or run with an ECS task, EKS pod or EC2 instance role",
        tried.join("; ")
    )))
}

fn environment_credentials(env: &dyn Env) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: env.var("AWS_ACCESS_KEY_ID")?,
        secret_access_key: env.var("AWS_SECRET_ACCESS_KEY")?,
        session_token: env.var("AWS_SESSION_TOKEN"),
    })
}

/// The region from `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's `region`.
pub(crate) fn region_with(env: &dyn Env) -> Option<String> {
    env.var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .or_else(|| {
            let name = env.var("AWS_PROFILE").unwrap_or_else(|| "default".into());
            load_profile(env, &name).ok()?.get("region").cloned()
        })
}

type Profile = HashMap<String, String>;

fn home(env: &dyn Env) -> Option<PathBuf> {
    env.var("HOME").map(PathBuf::from)
}

/// The profile's keys: the credentials file first, then the config file for keys not yet set.
fn load_profile(env: &dyn Env, name: &str) -> Result<Profile, ReporterError> {
    let credentials_file = env
        .var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home(env).map(|h| h.join(".aws").join("credentials")));
    let config_file = env
        .var("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home(env).map(|h| h.join(".aws").join("config")));
    let mut profile = Profile::new();
    if let Some(p) = credentials_file {
        for (k, v) in read_ini(&p)?.remove(name).unwrap_or_default() {
            profile.entry(k).or_insert(v);
        }
    }
    if let Some(p) = config_file {
        let mut sections = read_ini(&p)?;
        let section = if name == "default" {
            sections.remove("default")
        } else {
            sections.remove(&format!("profile {name}"))
        };
        for (k, v) in section.unwrap_or_default() {
            profile.entry(k).or_insert(v);
        }
    }
    Ok(profile)
}

/// Parses an AWS INI file into sections; a missing file is empty.
fn read_ini(path: &Path) -> Result<HashMap<String, Profile>, ReporterError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => {
            return Err(ReporterError::Credentials(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    Ok(parse_ini(&text))
}

fn parse_ini(text: &str) -> HashMap<String, Profile> {
    let mut sections: HashMap<String, Profile> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        // Indented lines continue a nested setting (`s3 =\n  max_concurrent_requests = 5`).
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    sections
}

async fn profile_credentials(
    name: &str,
    profile: &Profile,
) -> Result<Option<Credentials>, ReporterError> {
    if let Some(c) = static_keys(profile) {
        return Ok(Some(c));
    }
    if let Some(command) = profile.get("credential_process") {
        return credential_process(command).await.map(Some);
    }
    if profile.contains_key("role_arn") {
        return Err(role_without_source(name));
    }
    for unsupported in ["sso_session", "sso_start_url"] {
        if profile.contains_key(unsupported) {
            return Err(ReporterError::Credentials(format!(
                "profile {name:?} uses {unsupported}, which evident does not support; add \
                 `credential_process = aws configure export-credentials --profile {name} --format process` \
                 to another profile and use that one"
            )));
        }
    }
    Ok(None)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessOutput {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

/// Runs a `credential_process` command and reads the JSON it prints.
async fn credential_process(command: &str) -> Result<Credentials, ReporterError> {
    let err =
        |m: String| ReporterError::Credentials(format!("credential_process {command:?}: {m}"));
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .map_err(|_| err("did not finish within 60s".into()))?
        .map_err(|e| err(format!("cannot run it: {e}")))?;
    if !output.status.success() {
        return Err(err(format!(
            "failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let out: ProcessOutput = serde_json::from_slice(&output.stdout)
        .map_err(|e| err(format!("printed no credentials JSON: {e}")))?;
    Ok(Credentials {
        access_key_id: out.access_key_id,
        secret_access_key: out.secret_access_key,
        session_token: out.session_token,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
}

/// Credentials from the ECS / EKS Pod Identity container endpoint, when one is configured.
async fn container_credentials(env: &dyn Env) -> Result<Option<Credentials>, ReporterError> {
    let url = if let Some(relative) = env.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        format!("{ECS_CREDENTIALS_HOST}{relative}")
    } else if let Some(full) = env.var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        full
    } else {
        return Ok(None);
    };
    let token = match env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(file) => Some(
            std::fs::read_to_string(&file)
                .map_err(|e| {
                    ReporterError::Credentials(format!(
                        "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {file}: {e}"
                    ))
                })?
                .trim()
                .to_string(),
        ),
        None => env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    };
    let client =
        crate::http::build(crate::http::builder().timeout(std::time::Duration::from_secs(10)))?;
    let mut request = client.get(&url);
    if let Some(t) = token {
        request = request.header("Authorization", t);
    }
    let fail =
        |m: String| ReporterError::Credentials(format!("container credentials from {url}: {m}"));
    let response = request.send().await.map_err(|e| fail(chain(&e)))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| fail(chain(&e)))?;
    if !status.is_success() {
        return Err(fail(format!(
            "HTTP {}: {}",
            status.as_u16(),
            snippet(&body)
        )));
    }
    let c: ContainerCredentials =
        serde_json::from_slice(&body).map_err(|e| fail(format!("unexpected answer: {e}")))?;
    Ok(Some(Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.token,
    }))
}

/// A boxed future, so the role chain (a source profile can itself be a role profile) can recurse.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, ReporterError>> + 'a>>;

/// Credentials of profile `name` when it is used as a role profile or a source profile:
/// `role_arn` assumed with its source's credentials, else its own keys. `visited` holds the
/// profiles already on the way, so a loop is an error rather than endless.
fn role_profile_credentials<'a>(
    env: &'a dyn Env,
    name: &'a str,
    visited: &'a mut Vec<String>,
) -> Boxed<'a, Credentials> {
    Box::pin(async move {
        if visited.iter().any(|v| v == name) {
            visited.push(name.to_string());
            return Err(ReporterError::Credentials(format!(
                "the source_profile chain loops: {}",
                visited.join(" -> ")
            )));
        }
        visited.push(name.to_string());
        let profile = load_profile(env, name)?;
        let Some(role_arn) = profile.get("role_arn") else {
            return profile_credentials(name, &profile).await?.ok_or_else(|| {
                ReporterError::Credentials(format!(
                    "source profile {name:?} has no credentials (static keys, \
                     credential_process or role_arn)"
                ))
            });
        };
        if profile.contains_key("mfa_serial") {
            return Err(ReporterError::Credentials(format!(
                "profile {name:?} needs an MFA code (mfa_serial), which evident cannot ask for; \
                 export temporary credentials into the environment instead"
            )));
        }
        let source = if let Some(source) = profile.get("source_profile") {
            if source == name {
                // A profile may name itself: its own static keys then assume its role.
                static_keys(&profile).ok_or_else(|| {
                    ReporterError::Credentials(format!(
                        "profile {name:?} is its own source_profile but has no static keys"
                    ))
                })?
            } else {
                role_profile_credentials(env, source, visited).await?
            }
        } else if let Some(source) = profile.get("credential_source") {
            credential_source(env, name, source).await?
        } else if let Some(token_file) = profile.get("web_identity_token_file") {
            return web_identity(
                env,
                role_arn,
                Path::new(token_file),
                profile.get("role_session_name").cloned(),
            )
            .await;
        } else {
            return Err(role_without_source(name));
        };
        let mut params = vec![
            ("RoleArn", role_arn.clone()),
            (
                "RoleSessionName",
                profile
                    .get("role_session_name")
                    .cloned()
                    .unwrap_or_else(default_session_name),
            ),
        ];
        if let Some(id) = profile.get("external_id") {
            params.push(("ExternalId", id.clone()));
        }
        if let Some(seconds) = profile.get("duration_seconds") {
            params.push(("DurationSeconds", seconds.clone()));
        }
        sts(env, Some(source), "AssumeRole", role_arn, &params).await
    })
}

fn role_without_source(name: &str) -> ReporterError {
    ReporterError::Credentials(format!(
        "profile {name:?} has role_arn but no source_profile, credential_source or \
         web_identity_token_file to get the role with"
    ))
}

fn static_keys(profile: &Profile) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: profile.get("aws_access_key_id")?.clone(),
        secret_access_key: profile.get("aws_secret_access_key")?.clone(),
        session_token: profile.get("aws_session_token").cloned(),
    })
}

/// The credentials a `credential_source` names, to assume a role with.
async fn credential_source(
    env: &dyn Env,
    profile: &str,
    source: &str,
) -> Result<Credentials, ReporterError> {
    let missing = |what: String| {
        ReporterError::Credentials(format!(
            "profile {profile:?} has credential_source = {source}, but {what}"
        ))
    };
    match source {
        "Environment" => environment_credentials(env)
            .ok_or_else(|| missing("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set".into())),
        "EcsContainer" => container_credentials(env)
            .await?
            .ok_or_else(|| missing("no container credentials endpoint is set".into())),
        "Ec2InstanceMetadata" => imds_credentials(env)
            .await
            .map_err(|why| missing(format!("the instance metadata service failed: {why}"))),
        other => Err(ReporterError::Credentials(format!(
            "profile {profile:?} has credential_source = {other}: expected Environment, \
             EcsContainer or Ec2InstanceMetadata"
        ))),
    }
}

/// Web identity from the environment (first) or the profile, when both a token file and a
/// role are configured.
async fn web_identity_credentials(
    env: &dyn Env,
    profile: &Profile,
) -> Result<Option<Credentials>, ReporterError> {
    let token_file = env
        .var("AWS_WEB_IDENTITY_TOKEN_FILE")
        .or_else(|| profile.get("web_identity_token_file").cloned());
    let role_arn = env
        .var("AWS_ROLE_ARN")
        .or_else(|| profile.get("role_arn").cloned());
    let (Some(token_file), Some(role_arn)) = (token_file, role_arn) else {
        return Ok(None);
    };
    let session = env
        .var("AWS_ROLE_SESSION_NAME")
        .or_else(|| profile.get("role_session_name").cloned());
    web_identity(env, &role_arn, Path::new(&token_file), session)
        .await
        .map(Some)
}

/// STS `AssumeRoleWithWebIdentity` with the token in `token_file` (re-read each time: the
/// platform rotates it).
async fn web_identity(
    env: &dyn Env,
    role_arn: &str,
    token_file: &Path,
    session_name: Option<String>,
) -> Result<Credentials, ReporterError> {
    let token = std::fs::read_to_string(token_file).map_err(|e| {
        ReporterError::Credentials(format!(
            "cannot read the web identity token file {}: {e}",
            token_file.display()
        ))
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(ReporterError::Credentials(format!(
            "the web identity token file {} is empty",
            token_file.display()
        )));
    }
    let params = [
        ("RoleArn", role_arn.to_string()),
        (
            "RoleSessionName",
            session_name.unwrap_or_else(default_session_name),
        ),
        ("WebIdentityToken", token.to_string()),
    ];
    sts(env, None, "AssumeRoleWithWebIdentity", role_arn, &params).await
}

/// The session name when none is configured, unique per second as the AWS CLI's is.
fn default_session_name() -> String {
    format!("evident-{}", jiff::Timestamp::now().as_second())
}

/// Calls the STS query API `action` (signed with `credentials`, or unsigned when `None`)
/// and reads the `<Credentials>` of its answer.
async fn sts(
    env: &dyn Env,
    credentials: Option<Credentials>,
    action: &str,
    role_arn: &str,
    params: &[(&str, String)],
) -> Result<Credentials, ReporterError> {
    let fail = |m: String| {
        ReporterError::Credentials(format!("cannot assume role {role_arn} (STS {action}): {m}"))
    };
    let settings = AwsSettings {
        region: Some(region_with(env).unwrap_or_else(|| "us-east-1".into())),
        ..Default::default()
    };
    let client = AwsClient::build("STS", "sts", &settings, env, credentials)?;
    let mut form = format!("Action={action}&Version={STS_VERSION}");
    for (k, v) in params {
        form.push_str(&format!("&{k}={}", sigv4::uri_encode(v, true)));
    }
    let response = client
        .call(
            reqwest::Method::POST,
            "/",
            &[],
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            )],
            form.into_bytes(),
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    let unexpected = || fail(format!("unexpected answer: {}", snippet(&response.body)));
    let text = std::str::from_utf8(&response.body).map_err(|_| unexpected())?;
    let credentials = xml::element(text, "Credentials").ok_or_else(unexpected)?;
    // Keys and tokens are base64-like; AWS's documented examples wrap them over lines, so
    // whitespace inside is layout, never content.
    let field = |name| {
        xml::text(credentials, name)
            .map(|v| v.split_whitespace().collect::<String>())
            .filter(|v| !v.is_empty())
    };
    Ok(Credentials {
        access_key_id: field("AccessKeyId").ok_or_else(unexpected)?,
        secret_access_key: field("SecretAccessKey").ok_or_else(unexpected)?,
        session_token: Some(field("SessionToken").ok_or_else(unexpected)?),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImdsCredentials {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
}

/// The instance role's credentials from the EC2 instance metadata service (IMDSv2, falling
/// back to v1 where tokens are not served). `Err` says why there are none, for the
/// "nothing found" message.
async fn imds_credentials(env: &dyn Env) -> Result<Credentials, String> {
    if env
        .var("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err("disabled by AWS_EC2_METADATA_DISABLED".into());
    }
    let endpoint = env
        .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .or_else(|| {
            env.var("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
                .filter(|m| m.eq_ignore_ascii_case("ipv6"))
                .map(|_| IMDS_ENDPOINT_IPV6.to_string())
        })
        .unwrap_or_else(|| IMDS_ENDPOINT.to_string());
    let base = endpoint.trim_end_matches('/');
    let client = crate::http::build(
        crate::http::builder()
            .connect_timeout(IMDS_CONNECT_TIMEOUT)
            .timeout(IMDS_TIMEOUT)
            // The metadata service is link-local; a proxy would only get in the way.
            .no_proxy(),
    )
    .map_err(|e| e.to_string())?;
    let unreachable = |e: reqwest::Error| {
        let mut m = format!("not reachable at {base}: {}", chain(&e));
        if e.is_timeout() {
            m.push_str(" (timed out)");
        }
        m
    };
    let token_url = format!("{base}/latest/api/token");
    let response = client
        .put(&token_url)
        .header(
            "X-aws-ec2-metadata-token-ttl-seconds",
            IMDS_TOKEN_TTL_SECONDS,
        )
        .send()
        .await
        .map_err(unreachable)?;
    let token = match response.status().as_u16() {
        200 => Some(response.text().await.map_err(unreachable)?),
        // No token service (IMDSv1 only, or tokens turned off): go on without one, as the CLI does.
        403..=405 => None,
        status => return Err(format!("HTTP {status} from {token_url}")),
    };
    let get = |url: String| {
        let mut request = client.get(&url);
        if let Some(t) = &token {
            request = request.header("X-aws-ec2-metadata-token", t.trim());
        }
        async move {
            let response = request.send().await.map_err(unreachable)?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(unreachable)?;
            match status {
                200 => Ok(body),
                404 => Err(format!(
                    "no IAM role is attached to this instance ({url} answered 404)"
                )),
                _ => Err(format!("HTTP {status} from {url}: {}", snippet(&body))),
            }
        }
    };
    let roles_url = format!("{base}/latest/meta-data/iam/security-credentials/");
    let roles = get(roles_url.clone()).await?;
    let role = String::from_utf8_lossy(&roles)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "no IAM role is attached to this instance (empty role list)".to_string())?;
    let url = format!("{roles_url}{}", sigv4::uri_encode(&role, true));
    let body = get(url.clone()).await?;
    let c: ImdsCredentials =
        serde_json::from_slice(&body).map_err(|e| format!("unexpected answer from {url}: {e}"))?;
    if c.code != "Success" || c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
        return Err(format!(
            "{url} answered Code {:?}: {}",
            c.code,
            c.message.unwrap_or_default()
        ));
    }
    Ok(Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[tokio::test]
    async fn environment_variables_first() {
        let e = env(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "SECRET"),
            ("AWS_SESSION_TOKEN", "TOKEN"),
            ("HOME", "/nonexistent"),
        ]);
        let c = resolve_with(&e).await.unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.session_token.as_deref(), Some("TOKEN"));
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[tokio::test]
    async fn profiles_from_files() {
        let d = tempfile::tempdir().unwrap();
        let aws = d.path().join(".aws");
        std::fs::create_dir(&aws).unwrap();
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id = DEFAULTID\naws_secret_access_key = DEFAULTSECRET\n\n\
             [ci]\n# comment\naws_access_key_id=CIID\naws_secret_access_key=CISECRET\naws_session_token=CITOKEN\n",
        )
        .unwrap();
        std::fs::write(
            aws.join("config"),
            "[default]\nregion = eu-west-1\ns3 =\n  max_concurrent_requests = 5\n\
             [profile proc]\nregion = us-east-2\ncredential_process = printf '{\"Version\": 1, \"AccessKeyId\": \"PROCID\", \"SecretAccessKey\": \"PROCSECRET\"}'\n\
             [profile sso]\nsso_session = corp\n",
        )
        .unwrap();
        let home = d.path().to_str().unwrap();
        let c = resolve_with(&env(&[("HOME", home)])).await.unwrap();
        assert_eq!(c.access_key_id, "DEFAULTID");
        assert_eq!(
            region_with(&env(&[("HOME", home)])).as_deref(),
            Some("eu-west-1")
        );
        let ci = env(&[("HOME", home), ("AWS_PROFILE", "ci")]);
        let c = resolve_with(&ci).await.unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("CIID", Some("CITOKEN"))
        );
        let proc = env(&[("HOME", home), ("AWS_PROFILE", "proc")]);
        assert_eq!(resolve_with(&proc).await.unwrap().access_key_id, "PROCID");
        assert_eq!(region_with(&proc).as_deref(), Some("us-east-2"));
        let sso = env(&[("HOME", home), ("AWS_PROFILE", "sso")]);
        let e = resolve_with(&sso).await.unwrap_err().to_string();
        assert!(e.contains("sso_session"), "{e}");
    }

    #[tokio::test]
    async fn nothing_found_lists_what_was_tried() {
        let d = tempfile::tempdir().unwrap();
        let imds = closed_port_url().await;
        let e = resolve_with(&env(&[
            ("HOME", d.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
        ]))
        .await
        .unwrap_err();
        assert!(matches!(e, ReporterError::Credentials(_)), "{e}");
        let msg = e.to_string();
        for tried in [
            "environment variables",
            "web identity",
            "profile \"default\"",
            "container endpoint",
            &format!("EC2 instance metadata: not reachable at {imds}"),
        ] {
            assert!(msg.contains(tried), "{tried:?} missing from: {msg}");
        }
    }

    /// A request as the fake server received it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        /// The decoded form fields of the body.
        fn form(&self) -> HashMap<String, String> {
            reqwest::Url::parse(&format!("http://x/?{}", self.body))
                .unwrap()
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        }
    }

    type Log = std::sync::Arc<std::sync::Mutex<Vec<Seen>>>;

    /// An HTTP server on 127.0.0.1 answering every request with `answer` (status, body), one
    /// request per connection, recording what it got.
    async fn fake(
        answer: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static,
    ) -> (String, Log) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Log = Default::default();
        let log = seen.clone();
        let answer = std::sync::Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or_default().split(' ');
                let (method, path) = (
                    first.next().unwrap_or_default(),
                    first.next().unwrap_or_default(),
                );
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = data[head_end + 4..].to_vec();
                while body.len() < length {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => body.extend_from_slice(&buf[..n]),
                    }
                }
                let seen = Seen {
                    method: method.to_string(),
                    path: path.to_string(),
                    headers,
                    body: String::from_utf8_lossy(&body).to_string(),
                };
                log.lock().unwrap().push(seen.clone());
                let (status, body) = answer(&seen);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        (url, seen)
    }

    async fn closed_port_url() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        format!("http://{addr}")
    }

    /// STS's documented `AssumeRole` answer (API reference, "Examples").
    fn assume_role_response(key_id: &str) -> String {
        format!(
            r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>DevUser123</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/John</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:John</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>
       AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW
       LWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGd
       QrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU
       9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz
       +scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==
      </SessionToken>
      <SecretAccessKey>
       wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY
      </SecretAccessKey>
      <Expiration>2019-07-15T23:28:33.359Z</Expiration>
      <AccessKeyId>{key_id}</AccessKeyId>
    </Credentials>
    <PackedPolicySize>8</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#
        )
    }

    /// A home directory with these credentials and config files.
    fn home(credentials: &str, config: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let aws = d.path().join(".aws");
        std::fs::create_dir(&aws).unwrap();
        std::fs::write(aws.join("credentials"), credentials).unwrap();
        std::fs::write(aws.join("config"), config).unwrap();
        d
    }

    #[tokio::test]
    async fn role_profiles_assume_their_role_with_the_source_credentials() {
        let (sts, seen) = fake(|req| {
            let key = match req.form().get("RoleArn").map(String::as_str) {
                Some("arn:aws:iam::123456789012:role/deploy") => "ASIADEPLOY",
                _ => "ASIAAUDIT",
            };
            (200, assume_role_response(key))
        })
        .await;
        let d = home(
            "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = BASESECRET\n",
            "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\n\
             source_profile = base\nrole_session_name = ci-run\nexternal_id = ext-1\n\
             region = eu-west-1\n\
             [profile audit]\nrole_arn = arn:aws:iam::210987654321:role/audit\nsource_profile = deploy\n",
        );
        let home_dir = d.path().to_str().unwrap();
        let e = env(&[
            ("HOME", home_dir),
            ("AWS_PROFILE", "deploy"),
            ("AWS_ENDPOINT_URL_STS", &sts),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let c = resolve_with(&e).await.unwrap();
        assert_eq!(c.access_key_id, "ASIADEPLOY");
        assert_eq!(
            c.secret_access_key,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
        );
        let token = c.session_token.unwrap();
        assert!(token.starts_with("AQoDYXdzEPT//") && token.ends_with("/oLxBA=="));

        let req = seen.lock().unwrap()[0].clone();
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/"));
        assert_eq!(
            req.header("Content-Type"),
            Some("application/x-www-form-urlencoded; charset=utf-8")
        );
        let form = req.form();
        assert_eq!(form["Action"], "AssumeRole");
        assert_eq!(form["Version"], "2011-06-15");
        assert_eq!(form["RoleArn"], "arn:aws:iam::123456789012:role/deploy");
        assert_eq!(form["RoleSessionName"], "ci-run");
        assert_eq!(form["ExternalId"], "ext-1");
        // Signed for STS in the profile's region with the source profile's key.
        let auth = req.header("Authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIABASE/")
                && auth.contains("/eu-west-1/sts/aws4_request"),
            "{auth}"
        );
        assert_eq!(req.header("X-Amz-Security-Token"), None);

        // A role profile whose source is a role profile: two hops, the second signed with
        // the first role's temporary credentials.
        let audit = env(&[
            ("HOME", home_dir),
            ("AWS_PROFILE", "audit"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_STS", &sts),
        ]);
        assert_eq!(
            resolve_with(&audit).await.unwrap().access_key_id,
            "ASIAAUDIT"
        );
        let reqs = seen.lock().unwrap().clone();
        assert_eq!(reqs.len(), 3);
        assert!(reqs[2].form()["RoleSessionName"].starts_with("evident-"));
        assert!(reqs[2]
            .header("Authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=ASIADEPLOY/"));
        assert!(reqs[2]
            .header("X-Amz-Security-Token")
            .unwrap()
            .starts_with("AQoDYXdzEPT//"));
    }

    #[tokio::test]
    async fn role_profile_errors_are_explained() {
        let d = home(
            "",
            "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n\
             [profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n\
             [profile lonely]\nrole_arn = arn:aws:iam::1:role/x\nregion = us-east-1\n\
             [profile mfa]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = a\nmfa_serial = arn:aws:iam::1:mfa/me\n\
             [profile odd]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Nowhere\n",
        );
        let home_dir = d.path().to_str().unwrap();
        let err = |profile: &'static str| {
            let e = env(&[("HOME", home_dir), ("AWS_PROFILE", profile)]);
            async move { resolve_with(&e).await.unwrap_err().to_string() }
        };
        let e = err("a").await;
        assert!(e.contains("loops: a -> b -> a"), "{e}");
        let e = err("lonely").await;
        assert!(
            e.contains("no source_profile, credential_source or web_identity_token_file"),
            "{e}"
        );
        let e = err("mfa").await;
        assert!(e.contains("mfa_serial"), "{e}");
        let e = err("odd").await;
        assert!(e.contains("credential_source = Nowhere"), "{e}");
    }

    #[tokio::test]
    async fn sts_access_denied_is_a_clear_error() {
        // STS's documented error shape for a role the caller may not assume.
        let (sts, _seen) = fake(|_| {
            (
                403,
                r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/deploy</Message>
  </Error>
  <RequestId>4f3a5d9e-1c2b-4e6f-9a8d-7b6c5e4d3c2b</RequestId>
</ErrorResponse>"#
                    .to_string(),
            )
        })
        .await;
        let d = home(
            "[default]\naws_access_key_id = AKIACI\naws_secret_access_key = S\n",
            "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = default\n",
        );
        let e = env(&[
            ("HOME", d.path().to_str().unwrap()),
            ("AWS_PROFILE", "deploy"),
            ("AWS_REGION", "us-east-2"),
            ("AWS_ENDPOINT_URL", &sts),
        ]);
        let msg = resolve_with(&e).await.unwrap_err().to_string();
        assert_eq!(
            msg,
            "AWS credentials: cannot assume role arn:aws:iam::123456789012:role/deploy \
             (STS AssumeRole): STS refused the request: AccessDenied (HTTP 403): User: \
             arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole \
             on resource: arn:aws:iam::123456789012:role/deploy"
        );
    }

    /// STS's documented `AssumeRoleWithWebIdentity` answer.
    const WEB_IDENTITY_RESPONSE: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <SourceIdentity>SourceIdentityValue</SourceIdentity>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

    #[tokio::test]
    async fn web_identity_from_the_environment_or_the_profile() {
        let (sts, seen) = fake(|_| (200, WEB_IDENTITY_RESPONSE.to_string())).await;
        let d = home(
            "",
            "[profile irsa]\nweb_identity_token_file = TOKEN_FILE\n\
             role_arn = arn:aws:iam::123456789012:role/from-profile\n",
        );
        let token_file = d.path().join("token");
        std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.e30.sig+/=\n").unwrap();
        let config = d.path().join(".aws").join("config");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("TOKEN_FILE", token_file.to_str().unwrap()),
        )
        .unwrap();
        let home_dir = d.path().to_str().unwrap();

        let e = env(&[
            ("HOME", home_dir),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/FederatedWebIdentityRole",
            ),
            ("AWS_ROLE_SESSION_NAME", "app1"),
            ("AWS_REGION", "us-east-2"),
            ("AWS_ENDPOINT_URL_STS", &sts),
        ]);
        let c = resolve_with(&e).await.unwrap();
        assert_eq!(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
        assert_eq!(
            c.session_token.as_deref(),
            Some("AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE")
        );
        let req = seen.lock().unwrap()[0].clone();
        let form = req.form();
        assert_eq!(form["Action"], "AssumeRoleWithWebIdentity");
        assert_eq!(
            form["RoleArn"],
            "arn:aws:iam::123456789012:role/FederatedWebIdentityRole"
        );
        assert_eq!(form["RoleSessionName"], "app1");
        assert_eq!(form["WebIdentityToken"], "eyJhbGciOiJSUzI1NiJ9.e30.sig+/=");
        // The token is the proof of identity: the request is not signed.
        assert_eq!(req.header("Authorization"), None);

        let from_profile = env(&[
            ("HOME", home_dir),
            ("AWS_PROFILE", "irsa"),
            ("AWS_ENDPOINT_URL_STS", &sts),
        ]);
        resolve_with(&from_profile).await.unwrap();
        let form = seen.lock().unwrap()[1].form();
        assert_eq!(
            form["RoleArn"],
            "arn:aws:iam::123456789012:role/from-profile"
        );

        let missing = env(&[
            ("HOME", home_dir),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/x"),
        ]);
        let msg = resolve_with(&missing).await.unwrap_err().to_string();
        assert!(
            msg.contains("cannot read the web identity token file /nonexistent/token"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn instance_metadata_v2() {
        let (imds, seen) = fake(|req| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", "/latest/api/token") => (200, "AQAEAEXAMPLETOKEN==".to_string()),
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                (200, "reporter-role".to_string())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/reporter-role") => (
                200,
                r#"{
  "Code" : "Success",
  "LastUpdated" : "2012-04-26T16:39:16Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "ASIAIMDSEXAMPLE",
  "SecretAccessKey" : "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "Token" : "IQoJb3JpZ2luX2VjEXAMPLE",
  "Expiration" : "2017-05-17T15:09:54Z"
}"#
                .to_string(),
            ),
            _ => (404, String::new()),
        })
        .await;
        let d = tempfile::tempdir().unwrap();
        let e = env(&[
            ("HOME", d.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &format!("{imds}/")),
        ]);
        let c = resolve_with(&e).await.unwrap();
        assert_eq!(c.access_key_id, "ASIAIMDSEXAMPLE");
        assert_eq!(c.session_token.as_deref(), Some("IQoJb3JpZ2luX2VjEXAMPLE"));
        let reqs = seen.lock().unwrap().clone();
        assert_eq!(reqs.len(), 3, "{reqs:?}");
        assert_eq!(reqs[0].method, "PUT");
        assert!(reqs[0]
            .header("X-aws-ec2-metadata-token-ttl-seconds")
            .is_some());
        for r in &reqs[1..] {
            assert_eq!(
                r.header("X-aws-ec2-metadata-token"),
                Some("AQAEAEXAMPLETOKEN==")
            );
        }

        // Disabled: not even asked.
        let off = env(&[
            ("HOME", d.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let msg = resolve_with(&off).await.unwrap_err().to_string();
        assert!(
            msg.contains("EC2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED"),
            "{msg}"
        );
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn instance_without_a_role_falls_through() {
        let (imds, _seen) = fake(|req| match req.path.as_str() {
            "/latest/api/token" => (200, "T".to_string()),
            _ => (404, "Not Found".to_string()),
        })
        .await;
        let d = tempfile::tempdir().unwrap();
        let e = env(&[
            ("HOME", d.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
        ]);
        let msg = resolve_with(&e).await.unwrap_err().to_string();
        assert!(msg.contains("none found"), "{msg}");
        assert!(
            msg.contains("no IAM role is attached to this instance"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn unroutable_instance_metadata_gives_up_quickly() {
        // TEST-NET-1 (RFC 5737) is never routed: the connection attempt hangs or fails at once.
        let d = tempfile::tempdir().unwrap();
        let e = env(&[
            ("HOME", d.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://192.0.2.1"),
        ]);
        let started = std::time::Instant::now();
        let msg = resolve_with(&e).await.unwrap_err().to_string();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(msg.contains("not reachable at http://192.0.2.1"), "{msg}");
    }

    #[tokio::test]
    async fn container_endpoint() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-01T00:00:00Z","RoleArn":"arn:aws:iam::123456789012:role/reporter"}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(response.as_bytes()).await.unwrap();
            request
        });
        let d = tempfile::tempdir().unwrap();
        let token_file = d.path().join("token");
        std::fs::write(&token_file, "pod-identity-token\n").unwrap();
        let e = env(&[
            ("HOME", d.path().to_str().unwrap()),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                &format!("http://{addr}/v1/credentials"),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
        ]);
        let c = resolve_with(&e).await.unwrap();
        assert_eq!(c.access_key_id, "ASIACONTAINER");
        assert_eq!(c.session_token.as_deref(), Some("T"));
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("get /v1/credentials "), "{request}");
        assert!(
            request.contains("authorization: pod-identity-token"),
            "{request}"
        );
    }
}
