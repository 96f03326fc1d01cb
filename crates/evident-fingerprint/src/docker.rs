//! The fingerprint of an image in the local Docker daemon: its registry manifest digest
//! (`RepoDigests`), asked over the daemon's unix socket with one blocking HTTP request
//! (`GET /images/{name}/json`), as Kosli's `DockerImageSha256` does through the Docker
//! client library.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{FingerprintError, Result};
use crate::unix_http::{self, UnixHttpError};

/// Where the Docker daemon listens unless `DOCKER_HOST` says otherwise.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The daemon socket named by `DOCKER_HOST` (`unix:///path`), or
/// [`DEFAULT_DOCKER_SOCKET`] when it is unset or empty. Other schemes (`tcp://`,
/// `ssh://`, `npipe://`) are refused with an error saying so.
pub fn docker_socket_from_env() -> Result<PathBuf> {
    docker_socket_from_host(std::env::var("DOCKER_HOST").ok().as_deref())
}

/// [`docker_socket_from_env`] for a given `DOCKER_HOST` value (`None` when unset).
pub fn docker_socket_from_host(docker_host: Option<&str>) -> Result<PathBuf> {
    match docker_host.map(str::trim) {
        None | Some("") => Ok(PathBuf::from(DEFAULT_DOCKER_SOCKET)),
        Some(host) => match host.strip_prefix("unix://") {
            Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
            _ => Err(FingerprintError::InvalidTarget {
                target: host.to_string(),
                reason: "DOCKER_HOST must be a unix socket (unix:///path/to/docker.sock); \
                         other transports are not supported"
                    .into(),
            }),
        },
    }
}

#[derive(Debug, Deserialize)]
struct ImageInspect {
    #[serde(rename = "RepoDigests", default)]
    repo_digests: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    message: String,
}

/// The fingerprint (64 lowercase hex) of `image` as the local Docker daemon at
/// `socket` knows it: the `sha256` part of its repo digest.
///
/// With one repo digest, that one is used. With several, the one whose repository
/// matches `image` (tag, digest, `docker.io/` and `library/` ignored) is used; if
/// `image` is a full image ID, the first. An image that was built locally and never
/// pushed or pulled has no repo digest, which is an error, as is a daemon that is
/// absent ("no Docker daemon at /var/run/docker.sock: …") or does not have the image.
pub fn docker_image_digest(image: &str, socket: impl AsRef<Path>) -> Result<String> {
    let socket = socket.as_ref();
    validate_image(image)?;
    let api = |message: String| FingerprintError::DockerApi {
        socket: socket.to_path_buf(),
        message,
    };
    let path = format!("/images/{}/json", encode_path(image));
    let unix_http::Response { status, body } =
        unix_http::get(socket, &path).map_err(|e| match e {
            UnixHttpError::Connect { source, .. } => FingerprintError::DockerUnavailable {
                socket: socket.to_path_buf(),
                source,
            },
            UnixHttpError::Io { source, .. } => api(format!("connection failed: {source}")),
            UnixHttpError::Protocol { message, .. } => api(format!("bad HTTP response: {message}")),
            UnixHttpError::BadPath { reason, .. } => FingerprintError::InvalidTarget {
                target: image.to_string(),
                reason: format!("cannot be put in a request path: {reason}"),
            },
        })?;
    match status {
        200 => {}
        404 => {
            return Err(FingerprintError::ImageNotFound {
                image: image.to_string(),
            })
        }
        _ => {
            let detail = serde_json::from_slice::<ApiError>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
            return Err(api(format!(
                "HTTP {status} while inspecting image '{image}': {detail}"
            )));
        }
    }
    let inspect: ImageInspect = serde_json::from_slice(&body)
        .map_err(|e| api(format!("unexpected answer to image inspect: {e}")))?;
    let repo_digests = inspect.repo_digests.unwrap_or_default();
    let chosen = select_repo_digest(image, &repo_digests).ok_or_else(|| {
        FingerprintError::RepoDigestUnavailable {
            image: image.to_string(),
            repo_digests: repo_digests.clone(),
        }
    })?;
    chosen
        .split_once("@sha256:")
        .map(|(_, hex)| hex)
        .filter(|hex| crate::is_fingerprint(hex))
        .map(str::to_string)
        .ok_or_else(|| {
            api(format!(
                "repo digest '{chosen}' is not NAME@sha256:<64 hex>"
            ))
        })
}

fn validate_image(image: &str) -> Result<()> {
    let reason = if image.trim().is_empty() {
        "an image name is required"
    } else if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "an image name cannot contain spaces or control characters"
    } else {
        return Ok(());
    };
    Err(FingerprintError::InvalidTarget {
        target: image.to_string(),
        reason: reason.into(),
    })
}

/// Picks the repo digest that belongs to `image` (see [`docker_image_digest`]).
fn select_repo_digest<'a>(image: &str, repo_digests: &'a [String]) -> Option<&'a String> {
    if repo_digests.len() <= 1 {
        return repo_digests.first();
    }
    let id = image.strip_prefix("sha256:").unwrap_or(image);
    if crate::is_fingerprint(id) {
        return repo_digests.first();
    }
    let wanted = normalize_repository(image);
    repo_digests.iter().find(|rd| {
        let name = rd.split_once('@').map_or(rd.as_str(), |(n, _)| n);
        normalize_repository(name) == wanted
    })
}

/// `docker.io/library/alpine:3.20@sha256:…` -> `alpine`; `localhost:5000/app:1` -> `localhost:5000/app`.
fn normalize_repository(reference: &str) -> &str {
    let mut r = reference.split_once('@').map_or(reference, |(n, _)| n);
    if let Some(colon) = r.rfind(':') {
        if !r[colon..].contains('/') {
            r = &r[..colon];
        }
    }
    for registry in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = r.strip_prefix(registry) {
            r = rest;
            break;
        }
    }
    r.strip_prefix("library/").unwrap_or(r)
}

/// Percent-encodes an image reference for the request path, keeping `/ : @`.
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_normalization() {
        assert_eq!(normalize_repository("alpine"), "alpine");
        assert_eq!(normalize_repository("alpine:3.20"), "alpine");
        assert_eq!(
            normalize_repository("docker.io/library/alpine:3.20"),
            "alpine"
        );
        assert_eq!(normalize_repository("library/alpine@sha256:abc"), "alpine");
        assert_eq!(
            normalize_repository("localhost:5000/app"),
            "localhost:5000/app"
        );
        assert_eq!(
            normalize_repository("localhost:5000/app:1.2"),
            "localhost:5000/app"
        );
        assert_eq!(normalize_repository("ghcr.io/o/app:v1"), "ghcr.io/o/app");
    }

    #[test]
    fn repo_digest_selection() {
        let rds = vec![
            "alpine-extra@sha256:1111".to_string(),
            "alpine@sha256:2222".to_string(),
        ];
        assert_eq!(select_repo_digest("alpine:3", &rds), Some(&rds[1]));
        assert_eq!(
            select_repo_digest("docker.io/library/alpine", &rds),
            Some(&rds[1])
        );
        assert_eq!(select_repo_digest("busybox", &rds), None);
        assert_eq!(select_repo_digest(&"a".repeat(64), &rds), Some(&rds[0]));
        assert_eq!(select_repo_digest("anything", &rds[..1]), Some(&rds[0]));
        assert_eq!(select_repo_digest("anything", &[]), None);
    }

    #[test]
    fn docker_host_names_a_unix_socket() {
        let sock = |h| docker_socket_from_host(h).map_err(|e| e.to_string());
        assert_eq!(sock(None).unwrap(), PathBuf::from(DEFAULT_DOCKER_SOCKET));
        assert_eq!(
            sock(Some(" ")).unwrap(),
            PathBuf::from(DEFAULT_DOCKER_SOCKET)
        );
        assert_eq!(
            sock(Some("unix:///run/user/1000/docker.sock")).unwrap(),
            PathBuf::from("/run/user/1000/docker.sock")
        );
        let err = sock(Some("tcp://10.0.0.1:2375")).unwrap_err();
        assert!(err.contains("other transports are not supported"), "{err}");
        assert!(sock(Some("unix://")).is_err());
    }

    #[test]
    fn path_encoding() {
        assert_eq!(
            encode_path("ghcr.io/o/app:v1@sha256:ab"),
            "ghcr.io/o/app:v1@sha256:ab"
        );
        assert_eq!(encode_path("a?b#c%"), "a%3Fb%23c%25");
    }
}
