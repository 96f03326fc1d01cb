//! Where the Kubernetes API is and how to authenticate: kubeconfig files or the in-cluster
//! service account.
//!
//! Supported: `current-context`; several files in `KUBECONFIG` (the first file to define a name
//! or the current context wins, as kubectl does); cluster `server`, `certificate-authority`
//! (file or `-data`), `insecure-skip-tls-verify` and `proxy-url`; user `token`, `tokenFile`,
//! client certificates (file or `-data`), `username`/`password`, and `exec` credential plugins
//! (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`, …). Not supported: the
//! deprecated `auth-provider` plugins and `tls-server-name`.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::error::{chain, ReporterError};

/// Where a pod finds its service account.
pub(crate) const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to reach and authenticate to one API server.
#[derive(Clone)]
pub(crate) struct ApiConfig {
    /// `https://host:port`, without a trailing slash.
    pub server: String,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
    pub proxy: Option<String>,
    pub auth: Auth,
    /// The file or source the configuration came from, for error messages.
    pub origin: String,
}

#[derive(Clone)]
pub(crate) enum Auth {
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    /// A client certificate and its key, PEM, concatenated.
    ClientCert(Vec<u8>),
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::None => "none",
            Auth::Bearer(_) => "bearer token",
            Auth::Basic { .. } => "basic",
            Auth::ClientCert(_) => "client certificate",
        };
        f.debug_struct("ApiConfig")
            .field("server", &self.server)
            .field("insecure", &self.insecure)
            .field("auth", &auth)
            .field("origin", &self.origin)
            .finish()
    }
}

impl ApiConfig {
    /// An HTTP client that trusts the cluster's CA and presents the client certificate, if any.
    pub(crate) fn client(&self) -> Result<reqwest::Client, ReporterError> {
        let err = |message: String| ReporterError::Kubeconfig {
            origin: self.origin.clone(),
            message,
        };
        let mut b = crate::http::builder();
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                err(format!(
                    "certificate authority is not valid PEM: {}",
                    chain(&e)
                ))
            })?;
            if certs.is_empty() {
                return Err(err("certificate authority holds no certificate".into()));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if self.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(proxy) = &self.proxy {
            let p = reqwest::Proxy::all(proxy)
                .map_err(|e| err(format!("proxy-url {proxy:?}: {}", chain(&e))))?;
            b = b.proxy(p);
        }
        if let Auth::ClientCert(pem) = &self.auth {
            let id = reqwest::Identity::from_pem(pem)
                .map_err(|e| err(format!("client certificate or key: {}", chain(&e))))?;
            b = b.identity(id);
        }
        crate::http::build(b)
    }

    /// Adds the credentials to a request.
    pub(crate) fn authorize(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Bearer(t) => r.bearer_auth(t),
            Auth::Basic { username, password } => r.basic_auth(username, Some(password)),
            Auth::None | Auth::ClientCert(_) => r,
        }
    }
}

/// Finds the configuration: an explicit kubeconfig, else `KUBECONFIG`, else `~/.kube/config`,
/// else the in-cluster service account.
pub(crate) async fn load(explicit: Option<&Path>) -> Result<ApiConfig, ReporterError> {
    if let Some(p) = explicit {
        return from_files(&[p.to_path_buf()]).await;
    }
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let existing: Vec<PathBuf> = paths.iter().filter(|p| p.exists()).cloned().collect();
        if existing.is_empty() {
            return Err(ReporterError::Kubeconfig {
                origin: format!("KUBECONFIG={}", v.to_string_lossy()),
                message: "none of these files exists".into(),
            });
        }
        return from_files(&existing).await;
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let p = Path::new(&home).join(".kube").join("config");
        if p.exists() {
            return from_files(&[p]).await;
        }
    }
    match (
        std::env::var("KUBERNETES_SERVICE_HOST"),
        std::env::var("KUBERNETES_SERVICE_PORT"),
    ) {
        (Ok(host), Ok(port)) if !host.is_empty() => {
            in_cluster(Path::new(SERVICE_ACCOUNT_DIR), &host, &port)
        }
        _ => Err(ReporterError::Config(
            "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, \
             or run in a pod with a service account"
                .into(),
        )),
    }
}

/// The in-cluster configuration from a service account directory (`token`, `ca.crt`).
pub(crate) fn in_cluster(dir: &Path, host: &str, port: &str) -> Result<ApiConfig, ReporterError> {
    let origin = format!("in-cluster service account {}", dir.display());
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| ReporterError::Kubeconfig {
            origin: origin.clone(),
            message: format!("cannot read {name}: {e}"),
        })
    };
    let token = String::from_utf8_lossy(&read("token")?).trim().to_string();
    let ca = read("ca.crt")?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok(ApiConfig {
        server: format!("https://{host}:{port}"),
        ca_pem: Some(ca),
        insecure: false,
        proxy: None,
        auth: Auth::Bearer(token),
        origin,
    })
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: Option<bool>,
    #[serde(default)]
    proxy_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Debug, Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default)]
    token: Option<String>,
    #[serde(rename = "tokenFile", default)]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    exec: Option<Exec>,
    #[serde(default)]
    auth_provider: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
struct Exec {
    command: String,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<ExecEnv>>,
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExecEnv {
    name: String,
    value: String,
}

/// Reads and merges kubeconfig files, then resolves the current context.
async fn from_files(paths: &[PathBuf]) -> Result<ApiConfig, ReporterError> {
    let origin = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let err = |message: String| ReporterError::Kubeconfig {
        origin: origin.clone(),
        message,
    };
    let mut current_context = None;
    let mut clusters: Vec<(NamedCluster, PathBuf)> = Vec::new();
    let mut contexts: Vec<NamedContext> = Vec::new();
    let mut users: Vec<(NamedUser, PathBuf)> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml::from_str(&text)
                .map_err(|e| err(format!("{} is not a valid kubeconfig: {e}", path.display())))?
        };
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if current_context.is_none() {
            current_context = file.current_context.filter(|c| !c.is_empty());
        }
        for c in file.clusters.into_iter().flatten() {
            if !clusters.iter().any(|(x, _)| x.name == c.name) {
                clusters.push((c, dir.clone()));
            }
        }
        for c in file.contexts.into_iter().flatten() {
            if !contexts.iter().any(|x| x.name == c.name) {
                contexts.push(c);
            }
        }
        for u in file.users.into_iter().flatten() {
            if !users.iter().any(|(x, _)| x.name == u.name) {
                users.push((u, dir.clone()));
            }
        }
    }
    let context_name = current_context.ok_or_else(|| err("no current-context is set".into()))?;
    let context = contexts
        .iter()
        .find(|c| c.name == context_name)
        .ok_or_else(|| err(format!("current-context {context_name:?} is not defined")))?;
    let (cluster, cluster_dir) = clusters
        .iter()
        .find(|(c, _)| c.name == context.context.cluster)
        .ok_or_else(|| {
            err(format!(
                "cluster {:?} of context {context_name:?} is not defined",
                context.context.cluster
            ))
        })?;
    let cluster = &cluster.cluster;
    let server = cluster
        .server
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            err(format!(
                "cluster {:?} has no server",
                context.context.cluster
            ))
        })?
        .trim_end_matches('/')
        .to_string();
    let ca_pem = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) if !data.is_empty() => {
            Some(b64(data).map_err(|e| err(format!("certificate-authority-data: {e}")))?)
        }
        (_, Some(file)) if !file.is_empty() => Some(read_rel(cluster_dir, file).map_err(&err)?),
        _ => None,
    };
    let user = match &context.context.user {
        Some(name) if !name.is_empty() => {
            Some(users.iter().find(|(u, _)| &u.name == name).ok_or_else(|| {
                err(format!(
                    "user {name:?} of context {context_name:?} is not defined"
                ))
            })?)
        }
        _ => None,
    };
    let auth = match user {
        None => Auth::None,
        Some((u, dir)) => match &u.user {
            None => Auth::None,
            Some(u) => user_auth(u, dir).await.map_err(&err)?,
        },
    };
    Ok(ApiConfig {
        server,
        ca_pem,
        insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
        proxy: cluster.proxy_url.clone().filter(|p| !p.is_empty()),
        auth,
        origin: format!("{origin} (context {context_name})"),
    })
}

async fn user_auth(u: &User, dir: &Path) -> Result<Auth, String> {
    if let Some(t) = u.token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Auth::Bearer(t.trim().to_string()));
    }
    if let Some(f) = u.token_file.as_deref().filter(|f| !f.is_empty()) {
        let t = read_rel(dir, f)?;
        return Ok(Auth::Bearer(String::from_utf8_lossy(&t).trim().to_string()));
    }
    let cert = match (&u.client_certificate_data, &u.client_certificate) {
        (Some(d), _) if !d.is_empty() => {
            Some(b64(d).map_err(|e| format!("client-certificate-data: {e}"))?)
        }
        (_, Some(f)) if !f.is_empty() => Some(read_rel(dir, f)?),
        _ => None,
    };
    let key = match (&u.client_key_data, &u.client_key) {
        (Some(d), _) if !d.is_empty() => Some(b64(d).map_err(|e| format!("client-key-data: {e}"))?),
        (_, Some(f)) if !f.is_empty() => Some(read_rel(dir, f)?),
        _ => None,
    };
    match (cert, key) {
        (Some(c), Some(k)) => return Ok(Auth::ClientCert(pem_pair(c, k))),
        (Some(_), None) => return Err("client certificate given without client key".into()),
        (None, Some(_)) => return Err("client key given without client certificate".into()),
        (None, None) => {}
    }
    if let (Some(username), Some(password)) = (&u.username, &u.password) {
        return Ok(Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        });
    }
    if let Some(exec) = &u.exec {
        return exec_credential(exec).await;
    }
    if u.auth_provider.is_some() {
        return Err(
            "auth-provider plugins are not supported; use an exec credential plugin instead".into(),
        );
    }
    Ok(Auth::None)
}

/// Runs an exec credential plugin and takes the token or client certificate it prints.
async fn exec_credential(exec: &Exec) -> Result<Auth, String> {
    let api_version = exec
        .api_version
        .clone()
        .unwrap_or_else(|| "client.authentication.k8s.io/v1beta1".to_string());
    let info = serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": false},
    });
    let mut cmd = tokio::process::Command::new(&exec.command);
    cmd.args(exec.args.iter().flatten())
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for e in exec.env.iter().flatten() {
        cmd.env(&e.name, &e.value);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| format!("exec plugin {:?} did not finish within 60s", exec.command))?
        .map_err(|e| format!("cannot run exec plugin {:?}: {e}", exec.command))?;
    if !output.status.success() {
        return Err(format!(
            "exec plugin {:?} failed ({}): {}",
            exec.command,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    #[derive(Deserialize)]
    struct ExecCredential {
        status: Option<ExecStatus>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ExecStatus {
        token: Option<String>,
        client_certificate_data: Option<String>,
        client_key_data: Option<String>,
    }
    let cred: ExecCredential = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "exec plugin {:?} printed no ExecCredential: {e}",
            exec.command
        )
    })?;
    let status = cred
        .status
        .ok_or_else(|| format!("exec plugin {:?} returned no status", exec.command))?;
    if let Some(t) = status.token.filter(|t| !t.is_empty()) {
        return Ok(Auth::Bearer(t));
    }
    match (status.client_certificate_data, status.client_key_data) {
        (Some(c), Some(k)) => Ok(Auth::ClientCert(pem_pair(c.into_bytes(), k.into_bytes()))),
        _ => Err(format!(
            "exec plugin {:?} returned neither a token nor a client certificate",
            exec.command
        )),
    }
}

fn pem_pair(mut cert: Vec<u8>, key: Vec<u8>) -> Vec<u8> {
    if !cert.ends_with(b"\n") {
        cert.push(b'\n');
    }
    cert.extend_from_slice(&key);
    cert
}

fn b64(data: &str) -> Result<Vec<u8>, String> {
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("invalid base64: {e}"))
}

/// Reads a file named in a kubeconfig, relative to that kubeconfig's directory.
fn read_rel(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    let p = dir.join(file);
    std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const CONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
preferences: {}
clusters:
- name: prod-cluster
  cluster:
    server: https://10.1.2.3:6443/
    certificate-authority: ca.pem
contexts:
- name: dev
  context: {cluster: prod-cluster, user: nobody}
- name: prod
  context:
    cluster: prod-cluster
    user: reporter
    namespace: shop
users:
- name: reporter
  user:
    tokenFile: token.txt
"#;

    #[tokio::test]
    async fn current_context_with_relative_files() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "ca.pem", "CA");
        write(d.path(), "token.txt", "s3cr3t\n");
        let p = write(d.path(), "config", CONFIG);
        let c = from_files(&[p]).await.unwrap();
        assert_eq!(c.server, "https://10.1.2.3:6443");
        assert_eq!(c.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert!(matches!(c.auth, Auth::Bearer(ref t) if t == "s3cr3t"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[tokio::test]
    async fn merged_files_first_wins() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "ca.pem", "CA");
        write(d.path(), "token.txt", "t");
        let first = write(
            d.path(),
            "first",
            "current-context: dev\nusers:\n- name: nobody\n  user:\n    username: u\n    password: p\n",
        );
        let second = write(d.path(), "second", CONFIG);
        let c = from_files(&[first, second]).await.unwrap();
        assert!(matches!(c.auth, Auth::Basic { ref username, .. } if username == "u"));
    }

    #[tokio::test]
    async fn client_cert_data_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cfg = format!(
            "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://k:6443\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b("CERT"),
            b("KEY")
        );
        let p = write(d.path(), "c", &cfg);
        let c = from_files(&[p]).await.unwrap();
        assert!(c.insecure);
        assert!(matches!(c.auth, Auth::ClientCert(ref pem) if pem == b"CERT\nKEY"));

        let p = write(d.path(), "bad", "current-context: nope\n");
        let e = from_files(&[p]).await.unwrap_err().to_string();
        assert!(e.contains("current-context \"nope\" is not defined"), "{e}");
        let p = write(d.path(), "notyaml", "{{{");
        assert!(matches!(
            from_files(&[p]).await,
            Err(ReporterError::Kubeconfig { .. })
        ));
    }

    #[tokio::test]
    async fn exec_plugin_token() {
        let d = tempfile::tempdir().unwrap();
        let cfg = r#"
current-context: c
clusters: [{name: k, cluster: {server: "https://k"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: sh
      args: ["-c", "printf '{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' \"$TOKEN\""]
      env: [{name: TOKEN, value: from-plugin}]
"#;
        let p = write(d.path(), "c", cfg);
        let c = from_files(&[p]).await.unwrap();
        assert!(matches!(c.auth, Auth::Bearer(ref t) if t == "from-plugin"));
    }

    #[test]
    fn service_account() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "token", "sa-token\n");
        write(d.path(), "ca.crt", "CA");
        let c = in_cluster(d.path(), "fd00::1", "443").unwrap();
        assert_eq!(c.server, "https://[fd00::1]:443");
        assert!(matches!(c.auth, Auth::Bearer(ref t) if t == "sa-token"));
        let empty = tempfile::tempdir().unwrap();
        assert!(in_cluster(empty.path(), "10.0.0.1", "443").is_err());
    }
}
