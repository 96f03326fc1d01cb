//! AWS credentials, found the way the AWS CLI finds them, as far as is practical without the SDK.
//!
//! The chain, first match wins:
//! 1. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 2. the profile `AWS_PROFILE` (else `default`) in the shared credentials file
//!    (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`), then in the config file
//!    (`AWS_CONFIG_FILE`, else `~/.aws/config`): static keys, or `credential_process`;
//! 3. container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS tasks) or
//!    `AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`
//!    (EKS Pod Identity).
//!
//! Not supported: the EC2 instance metadata service (IMDS), IAM Identity Center (SSO) profiles,
//! `role_arn`/`source_profile` role assumption and web identity tokens (`AWS_WEB_IDENTITY_TOKEN_FILE`,
//! EKS IRSA). For those, export credentials into the environment or use a
//! `credential_process` such as `aws configure export-credentials --profile NAME --format process`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{chain, snippet, ReporterError};

/// Where ECS serves container credentials for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_CREDENTIALS_HOST: &str = "http://169.254.170.2";

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

/// Resolves credentials from the process environment, files and container endpoint.
pub async fn resolve() -> Result<Credentials, ReporterError> {
    resolve_with(&ProcessEnv).await
}

pub(crate) async fn resolve_with(env: &dyn Env) -> Result<Credentials, ReporterError> {
    if let (Some(id), Some(secret)) = (
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env.var("AWS_SESSION_TOKEN"),
        });
    }
    let explicit_profile = env.var("AWS_PROFILE");
    let profile_name = explicit_profile.clone().unwrap_or_else(|| "default".into());
    let profile = load_profile(env, &profile_name)?;
    if let Some(c) = profile_credentials(&profile_name, &profile).await? {
        return Ok(c);
    }
    if let Some(c) = container_credentials(env).await? {
        return Ok(c);
    }
    let mut hint = String::from(
        "none found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, configure a profile in \
         ~/.aws/credentials, or run in an ECS task with a task role",
    );
    if explicit_profile.is_some() || !profile.is_empty() {
        hint = format!("profile {profile_name:?} has no usable credentials; {hint}");
    }
    Err(ReporterError::Credentials(hint))
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
    if let (Some(id), Some(secret)) = (
        profile.get("aws_access_key_id"),
        profile.get("aws_secret_access_key"),
    ) {
        return Ok(Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: profile.get("aws_session_token").cloned(),
        }));
    }
    if let Some(command) = profile.get("credential_process") {
        return credential_process(command).await.map(Some);
    }
    for unsupported in [
        "sso_session",
        "sso_start_url",
        "role_arn",
        "web_identity_token_file",
    ] {
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
    async fn nothing_found_is_a_typed_error() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve_with(&env(&[("HOME", d.path().to_str().unwrap())]))
            .await
            .unwrap_err();
        assert!(matches!(e, ReporterError::Credentials(_)), "{e}");
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
