//! Which repository URLs evident will hand to git.
//!
//! A URL from a caller is untrusted input that ends up as an argument of a program able to
//! read local files (`file://`, plain paths), run commands (`ext::`, `--upload-pack=`,
//! `ssh://-oProxyCommand=`) and reach internal services (SSRF through `http://169.254.169.254`).
//! [`UrlPolicy::check`] is the only way to obtain a [`CheckedUrl`], and every [`crate::Mirror`]
//! operation takes a `CheckedUrl`, so nothing unvetted reaches git.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::host::{is_local_name, is_private_ip, parse_ip_literal};

/// Which URLs are acceptable. [`Default`] is strict: `https://` and `ssh://` / scp-style
/// (`git@host:path`) to public hosts, without credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct UrlPolicy {
    /// Accept `file://` URLs (the server's own disk). Plain local paths are always refused.
    pub allow_file: bool,
    /// Accept a user name with a password in ssh URLs, or any user info in http(s) URLs.
    pub allow_credentials: bool,
    /// When set, only these hosts (case-insensitive; `*.example.com` matches subdomains).
    pub allowed_hosts: Option<Vec<String>>,
    /// Accept loopback, private, link-local and other non-public IP literals and `localhost`.
    pub allow_private_hosts: bool,
    /// Accept the unencrypted `http://` and `git://` transports.
    pub allow_plain_transport: bool,
}

/// A transport git will use for a [`CheckedUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `https://`
    Https,
    /// `ssh://` or scp-style `user@host:path`
    Ssh,
    /// `http://` (only with [`UrlPolicy::allow_plain_transport`])
    Http,
    /// `git://` (only with [`UrlPolicy::allow_plain_transport`])
    Git,
    /// `file://` (only with [`UrlPolicy::allow_file`])
    File,
}

impl Transport {
    /// The name git uses in `protocol.<name>.allow`.
    pub fn protocol_name(self) -> &'static str {
        match self {
            Transport::Https => "https",
            Transport::Ssh => "ssh",
            Transport::Http => "http",
            Transport::Git => "git",
            Transport::File => "file",
        }
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The URL is empty.
    #[error("the repository URL is empty")]
    Empty,
    /// A leading `-` would be read by git or ssh as an option.
    #[error("a repository URL must not start with '-'")]
    LeadingDash,
    /// Whitespace, control characters, non-ASCII, `\`, `?` or `#` in the URL.
    #[error("the repository URL contains a forbidden character {0:?}")]
    ForbiddenCharacter(char),
    /// A scheme other than https, ssh, http, git or file.
    #[error("unsupported URL scheme '{0}': use https:// or ssh://")]
    UnsupportedScheme(String),
    /// `ext::`, `fd::` and other `<transport>::<address>` remote helpers.
    #[error("remote helper URLs ('{0}::') are refused")]
    RemoteHelper(String),
    /// A local path instead of a URL.
    #[error("local paths are refused: use a file:// URL, which the operator must allow")]
    LocalPath,
    /// `file://` while [`UrlPolicy::allow_file`] is off.
    #[error("file:// URLs are refused by the server's URL policy")]
    FileNotAllowed,
    /// `http://` or `git://` while [`UrlPolicy::allow_plain_transport`] is off.
    #[error("unencrypted {0}:// URLs are refused by the server's URL policy")]
    PlainTransportNotAllowed(&'static str),
    /// A password or token embedded in the URL.
    #[error("credentials in repository URLs are refused by the server's URL policy")]
    Credentials,
    /// The URL names no host.
    #[error("the repository URL has no host")]
    MissingHost,
    /// A host that is not a valid DNS name or IP literal (or starts with '-').
    #[error("invalid host '{0}'")]
    InvalidHost(String),
    /// A user name that could be read as an option or is otherwise malformed.
    #[error("invalid user name in the repository URL")]
    InvalidUser,
    /// A port that is not a number in 1..=65535.
    #[error("invalid port '{0}'")]
    InvalidPort(String),
    /// The URL names no repository path.
    #[error("the repository URL has no path")]
    MissingPath,
    /// The host is not on [`UrlPolicy::allowed_hosts`].
    #[error("host '{0}' is not on the server's allow-list")]
    HostNotAllowed(String),
    /// A loopback, private or link-local host while [`UrlPolicy::allow_private_hosts`] is off.
    #[error("host '{0}' is a loopback, private or link-local address")]
    PrivateHost(String),
    /// A host name that resolves to a loopback, private or link-local address.
    #[error("host '{0}' resolves to {1}, a loopback, private or link-local address")]
    ResolvesToPrivate(String, std::net::IpAddr),
}

/// How long [`UrlPolicy::check_resolved`] waits for DNS before leaving it to git.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The first address of `addrs` that a policy without private hosts refuses.
pub(crate) fn first_private(
    addrs: impl IntoIterator<Item = std::net::IpAddr>,
) -> Option<std::net::IpAddr> {
    addrs.into_iter().find(|ip| is_private_ip(*ip))
}

/// A repository URL accepted by a [`UrlPolicy`]. Its `Display` and `Debug` hide credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CheckedUrl {
    raw: String,
    transport: Transport,
    host: Option<String>,
    port: Option<u16>,
    path: String,
    userinfo: Option<String>,
}

impl UrlPolicy {
    /// A policy for tests and trusted single-user setups: everything but remote helpers,
    /// local paths, leading dashes and malformed URLs.
    pub fn permissive() -> Self {
        UrlPolicy {
            allow_file: true,
            allow_credentials: true,
            allowed_hosts: None,
            allow_private_hosts: true,
            allow_plain_transport: true,
        }
    }

    /// Accept or refuse `url` (surrounding whitespace is ignored).
    pub fn check(&self, url: &str) -> Result<CheckedUrl, PolicyError> {
        let url = url.trim();
        let parsed = parse(url)?;
        self.admit(&parsed)?;
        Ok(parsed)
    }

    /// Refuse a host *name* that resolves to a loopback, private or link-local address
    /// (unless [`UrlPolicy::allow_private_hosts`]): [`UrlPolicy::check`] only sees literal
    /// addresses and well-known local names, and a public DNS name can point anywhere.
    ///
    /// Call it right before git connects. git resolves the name again, so a DNS server that
    /// answers differently the second time (rebinding) is not stopped by this; an egress
    /// firewall is the complete answer. A name that does not resolve passes: git then fails
    /// with its own message.
    pub async fn check_resolved(&self, url: &CheckedUrl) -> Result<(), PolicyError> {
        let Some(host) = url.host().filter(|_| !self.allow_private_hosts) else {
            return Ok(());
        };
        if parse_ip_literal(host).is_some() {
            return Ok(()); // Already judged by `check`.
        }
        let port = url.port().unwrap_or(443);
        let lookup = tokio::net::lookup_host((host.trim_end_matches('.'), port));
        let Ok(Ok(addrs)) = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await else {
            return Ok(());
        };
        match first_private(addrs.map(|a| a.ip())) {
            Some(ip) => Err(PolicyError::ResolvesToPrivate(host.to_string(), ip)),
            None => Ok(()),
        }
    }

    fn admit(&self, url: &CheckedUrl) -> Result<(), PolicyError> {
        match url.transport {
            Transport::File if !self.allow_file => return Err(PolicyError::FileNotAllowed),
            Transport::Http | Transport::Git if !self.allow_plain_transport => {
                return Err(PolicyError::PlainTransportNotAllowed(
                    url.transport.protocol_name(),
                ))
            }
            _ => {}
        }
        if let Some(info) = &url.userinfo {
            let is_credential = match url.transport {
                Transport::Ssh => info.contains(':'),
                _ => true,
            };
            if is_credential && !self.allow_credentials {
                return Err(PolicyError::Credentials);
            }
        }
        let Some(host) = &url.host else {
            return Ok(());
        };
        if let Some(allowed) = &self.allowed_hosts {
            if !allowed.iter().any(|pattern| host_matches(pattern, host)) {
                return Err(PolicyError::HostNotAllowed(host.clone()));
            }
        }
        if !self.allow_private_hosts {
            let private = match parse_ip_literal(host) {
                Some(ip) => is_private_ip(ip),
                None => is_local_name(host),
            };
            if private {
                return Err(PolicyError::PrivateHost(host.clone()));
            }
        }
        Ok(())
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => host == pattern,
    }
}

fn parse(url: &str) -> Result<CheckedUrl, PolicyError> {
    if url.is_empty() {
        return Err(PolicyError::Empty);
    }
    if url.starts_with('-') {
        return Err(PolicyError::LeadingDash);
    }
    if let Some(bad) = url.chars().find(|c| {
        !c.is_ascii() || c.is_ascii_control() || c.is_whitespace() || matches!(c, '\\' | '?' | '#')
    }) {
        return Err(PolicyError::ForbiddenCharacter(bad));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        if is_scheme_like(scheme) {
            return parse_hierarchical(url, &scheme.to_ascii_lowercase(), rest);
        }
    }
    if let Some((helper, _)) = url.split_once("::") {
        if is_scheme_like(helper) {
            return Err(PolicyError::RemoteHelper(helper.to_string()));
        }
    }
    parse_scp_like(url)
}

fn is_scheme_like(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn parse_hierarchical(raw: &str, scheme: &str, rest: &str) -> Result<CheckedUrl, PolicyError> {
    let transport = match scheme {
        "https" => Transport::Https,
        "ssh" => Transport::Ssh,
        "http" => Transport::Http,
        "git" => Transport::Git,
        "file" => Transport::File,
        other => return Err(PolicyError::UnsupportedScheme(other.to_string())),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if transport == Transport::File {
        // git reads `file://host/x` as the path `host/x`: only `file:///abs/path` is meaningful.
        if !authority.is_empty() {
            return Err(PolicyError::InvalidHost(authority.to_string()));
        }
        return Ok(CheckedUrl {
            raw: raw.to_string(),
            transport,
            host: None,
            port: None,
            path: non_empty_path(path)?,
            userinfo: None,
        });
    }
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(info) = userinfo {
        if info.is_empty() || info.starts_with('-') {
            return Err(PolicyError::InvalidUser);
        }
        if transport == Transport::Git {
            return Err(PolicyError::InvalidUser);
        }
    }
    let (host, port) = split_host_port(hostport)?;
    Ok(CheckedUrl {
        raw: raw.to_string(),
        transport,
        host: Some(host),
        port,
        path: non_empty_path(path)?,
        userinfo: userinfo.map(str::to_string),
    })
}

/// git's scp-like syntax `[user@]host:path`: a ':' before any '/'. Anything else is a local path.
fn parse_scp_like(raw: &str) -> Result<CheckedUrl, PolicyError> {
    // As git's `host_end`: a bracketed host (`[::1]:r`, `git@[::1]:r`) ends at `]`,
    // otherwise the first ':' ends the host, even inside what looks like `user:pass@`.
    let bracket = if raw.starts_with('[') {
        Some(0)
    } else {
        raw.find("@[").map(|i| i + 1)
    };
    let colon = match bracket {
        Some(start) => raw[start..].find("]:").map(|i| start + i + 1),
        None => raw.find(':'),
    };
    let Some(colon) = colon else {
        return Err(PolicyError::LocalPath);
    };
    if raw[..colon].contains('/') {
        return Err(PolicyError::LocalPath);
    }
    let (authority, path) = (&raw[..colon], &raw[colon + 1..]);
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(info) = userinfo {
        if info.is_empty() || info.starts_with('-') {
            return Err(PolicyError::InvalidUser);
        }
    }
    let host = validate_host(host)?;
    if path.is_empty() || path == "/" {
        return Err(PolicyError::MissingPath);
    }
    if path.starts_with('-') {
        return Err(PolicyError::LeadingDash);
    }
    Ok(CheckedUrl {
        raw: raw.to_string(),
        transport: Transport::Ssh,
        host: Some(host),
        port: None,
        path: if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        },
        userinfo: userinfo.map(str::to_string),
    })
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), PolicyError> {
    let (host, port) = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(end) => {
                let after = &hostport[end + 1..];
                let port = match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if after.is_empty() => None,
                    None => return Err(PolicyError::InvalidHost(hostport.to_string())),
                };
                (&hostport[..=end], port)
            }
            None => return Err(PolicyError::InvalidHost(hostport.to_string())),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(PolicyError::InvalidPort(p.to_string())),
        },
        None => None,
    };
    Ok((validate_host(host)?, port))
}

fn validate_host(host: &str) -> Result<String, PolicyError> {
    if host.is_empty() {
        return Err(PolicyError::MissingHost);
    }
    if host.starts_with('[') {
        return match parse_ip_literal(host) {
            Some(std::net::IpAddr::V6(_)) => Ok(host.to_ascii_lowercase()),
            _ => Err(PolicyError::InvalidHost(host.to_string())),
        };
    }
    let valid = !host.starts_with(['-', '.'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid {
        return Err(PolicyError::InvalidHost(host.to_string()));
    }
    Ok(host.to_ascii_lowercase())
}

fn non_empty_path(path: &str) -> Result<String, PolicyError> {
    if path.trim_matches('/').is_empty() {
        return Err(PolicyError::MissingPath);
    }
    Ok(path.to_string())
}

impl CheckedUrl {
    /// The URL exactly as it is given to git (after `--`).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The transport git will use.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The lower-cased host, `None` for `file://`.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The repository path on the host, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The identity of the repository: transport, host, port and path without user info,
    /// trailing `/` or `.git`. Two URLs with the same key share one mirror.
    pub fn key(&self) -> String {
        let path = self.path.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let scheme = self.transport.protocol_name();
        match (&self.host, self.port) {
            (Some(host), Some(port)) => format!("{scheme}://{host}:{port}{path}"),
            (Some(host), None) => format!("{scheme}://{host}{path}"),
            (None, _) => format!("{scheme}://{path}"),
        }
    }

    /// A file-system-safe name derived from a SHA-256 of [`CheckedUrl::key`]: never from the
    /// URL's text, so no URL can name (or escape) a directory.
    pub fn dir_name(&self) -> String {
        let digest = Sha256::digest(self.key().as_bytes());
        hex::encode(&digest[..16])
    }

    /// `(owner, repository)` when this is a github.com repository over https or ssh.
    pub fn github_repo(&self) -> Option<(String, String)> {
        let host = self.host.as_deref()?;
        if !matches!(self.transport, Transport::Https | Transport::Ssh)
            || !matches!(host, "github.com" | "www.github.com")
        {
            return None;
        }
        let path = self.path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let (owner, repo) = path.split_once('/')?;
        let ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        (ok(owner) && ok(repo)).then(|| (owner.to_string(), repo.to_string()))
    }

    /// The URL with any user info replaced by `***`, for logs and messages.
    pub fn redacted(&self) -> String {
        match &self.userinfo {
            Some(info) => self.raw.replacen(&format!("{info}@"), "***@", 1),
            None => self.raw.clone(),
        }
    }

    /// A `CheckedUrl` that skipped the policy: only for this crate's own tests of the layers
    /// below the policy.
    #[cfg(test)]
    pub(crate) fn unchecked(raw: &str, transport: Transport) -> Self {
        CheckedUrl {
            raw: raw.to_string(),
            transport,
            host: None,
            port: None,
            path: raw.to_string(),
            userinfo: None,
        }
    }
}

impl fmt::Display for CheckedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for CheckedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedUrl")
            .field("url", &self.redacted())
            .field("transport", &self.transport)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_among_resolved_ones_are_found() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(
            first_private([ip("140.82.121.3"), ip("2606:4700::1111")]),
            None
        );
        assert_eq!(
            first_private([ip("140.82.121.3"), ip("169.254.169.254")]),
            Some(ip("169.254.169.254"))
        );
        assert_eq!(first_private([ip("::1")]), Some(ip("::1")));
        assert_eq!(first_private([ip("10.1.2.3")]), Some(ip("10.1.2.3")));
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused_before_git_connects() {
        // `localhost` always resolves to loopback; `check` refuses it by name, so the URL is
        // parsed by a permissive policy to reach the resolution step on its own.
        let url = UrlPolicy::permissive()
            .check("https://localhost:8443/org/repo.git")
            .unwrap();
        let err = UrlPolicy::default().check_resolved(&url).await.unwrap_err();
        assert!(
            matches!(err, PolicyError::ResolvesToPrivate(ref h, ip) if h == "localhost" && ip.is_loopback()),
            "{err}"
        );
        assert!(err.to_string().contains("resolves to"), "{err}");
        let open = UrlPolicy {
            allow_private_hosts: true,
            ..UrlPolicy::default()
        };
        open.check_resolved(&url).await.unwrap();
        // A name that does not resolve is left for git to report.
        let nowhere = UrlPolicy::default()
            .check("https://no-such-host.invalid/org/repo.git")
            .unwrap();
        UrlPolicy::default().check_resolved(&nowhere).await.unwrap();
    }

    #[test]
    fn strict_default_accepts_https_and_ssh() {
        let p = UrlPolicy::default();
        for ok in [
            "https://github.com/cyber-dojo/runner",
            "https://github.com/cyber-dojo/runner.git",
            "ssh://git@github.com/cyber-dojo/runner.git",
            "ssh://git@github.com:2222/cyber-dojo/runner.git",
            "git@github.com:cyber-dojo/runner.git",
            "github.com:cyber-dojo/runner.git",
            "https://[2606:4700::1111]/x/y",
        ] {
            p.check(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn scp_like_is_ssh_and_keys_match_ssh_form() {
        let p = UrlPolicy::default();
        let scp = p.check("git@github.com:o/r.git").unwrap();
        let ssh = p.check("ssh://git@github.com/o/r").unwrap();
        assert_eq!(scp.transport(), Transport::Ssh);
        assert_eq!(scp.key(), ssh.key());
        assert_eq!(scp.dir_name(), ssh.dir_name());
        assert_eq!(scp.github_repo(), Some(("o".into(), "r".into())));
    }

    #[test]
    fn dir_name_is_a_hash_never_the_last_segment() {
        let u = UrlPolicy::default()
            .check("https://example.com/a/evident")
            .unwrap();
        let d = u.dir_name();
        assert_eq!(d.len(), 32);
        assert!(d.bytes().all(|b| b.is_ascii_hexdigit()));
        let other = UrlPolicy::default()
            .check("https://example.org/b/evident")
            .unwrap();
        assert_ne!(d, other.dir_name());
    }

    #[test]
    fn credentials_are_redacted() {
        let u = UrlPolicy::permissive()
            .check("https://user:tok@example.com/r")
            .unwrap();
        assert_eq!(u.to_string(), "https://***@example.com/r");
        assert!(!format!("{u:?}").contains("tok"));
    }

    #[test]
    fn allow_list_supports_wildcards() {
        assert!(host_matches("github.com", "github.com"));
        assert!(host_matches("GitHub.com.", "github.com"));
        assert!(host_matches("*.example.com", "git.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evilexample.com"));
        assert!(!host_matches("github.com", "github.com.evil.net"));
    }
}
