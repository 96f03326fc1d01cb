//! The Docker reporter: what the local Docker daemon runs, from the Engine API on its socket.
//!
//! One [`ReportedInstance`] per running container. The fingerprint is the registry digest of
//! the container's image (its `RepoDigests` entry), as Kosli's `snapshot docker` does, so it
//! matches the digest recorded when the image was pushed. An image that has no repo digest
//! (built locally, never pushed nor pulled) has no such fingerprint: its containers are skipped
//! with a warning.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{snippet, ReporterError};
use evident_fingerprint::unix_http::{self, UnixHttpError};

use crate::image;

/// The socket the Docker daemon listens on by default.
pub const DEFAULT_SOCKET: &str = evident_fingerprint::DEFAULT_DOCKER_SOCKET;

/// The socket named by `DOCKER_HOST` (`unix:///path`), or [`DEFAULT_SOCKET`].
///
/// A TCP `DOCKER_HOST` (`tcp://…`, `ssh://…`) is refused: only the local socket is supported.
pub fn socket_from_env() -> Result<PathBuf, ReporterError> {
    socket_from(std::env::var("DOCKER_HOST").ok().as_deref())
}

fn socket_from(docker_host: Option<&str>) -> Result<PathBuf, ReporterError> {
    // The same rule as the `docker` artifact type, so both read DOCKER_HOST alike.
    evident_fingerprint::docker_socket_from_host(docker_host)
        .map_err(|e| ReporterError::Config(e.to_string()))
}

/// A container as listed by `GET /containers/json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Container {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    image: String,
    #[serde(rename = "ImageID")]
    image_id: String,
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    state: Option<String>,
}

/// The part of `GET /images/{id}/json` that is used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImageInspect {
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
}

/// Lists the running containers of the daemon at `socket_path` and their image digests.
pub async fn collect(socket_path: &Path) -> Result<EnvironmentReport, ReporterError> {
    let containers: Vec<Container> = get_json(socket_path, "/containers/json").await?;
    let mut images: HashMap<String, ImageInspect> = HashMap::new();
    let mut artifacts = Vec::new();
    for c in containers {
        if matches!(
            c.state.as_deref(),
            Some("exited" | "dead" | "created" | "removing")
        ) {
            continue;
        }
        if !images.contains_key(&c.image_id) {
            let path = format!("/images/{}/json", c.image_id);
            let inspect = match get_json(socket_path, &path).await {
                Ok(i) => i,
                // The image was removed after the listing; the container is going away.
                Err(ReporterError::Status { status: 404, .. }) => {
                    tracing::warn!(container = %c.id, image = %c.image, "image not found, skipping the container");
                    continue;
                }
                Err(e) => return Err(e),
            };
            images.insert(c.image_id.clone(), inspect);
        }
        let inspect = &images[&c.image_id];
        let Some((digest, repo_digest)) = choose_digest(&c.image, inspect) else {
            tracing::warn!(
                container = %c.id,
                image = %c.image,
                "image has no repo digest (never pushed or pulled), skipping the container"
            );
            continue;
        };
        let name = if image::is_image_id(&c.image) {
            // The tag was moved to a newer image: name it by a tag it still has, or its repo.
            inspect
                .repo_tags
                .iter()
                .flatten()
                .next()
                .cloned()
                .unwrap_or_else(|| {
                    repo_digest
                        .split('@')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
        } else {
            c.image.clone()
        };
        tracing::debug!(container = ?c.names, %name, %digest, "running container");
        artifacts.push(ReportedInstance {
            digests: BTreeMap::from([(name, digest)]),
            creation_timestamp: c.created.filter(|t| *t > 0),
            instance: Some(c.id.chars().take(12).collect()),
            ..Default::default()
        });
    }
    Ok(EnvironmentReport {
        artifacts,
        kind: Some(crate::KIND_DOCKER.to_string()),
    })
}

/// The repo digest that belongs to `image_name`: the one of the same repository, else the first.
fn choose_digest(image_name: &str, inspect: &ImageInspect) -> Option<(String, String)> {
    let candidates: Vec<(String, &String)> = inspect
        .repo_digests
        .iter()
        .flatten()
        .filter_map(|rd| image::pinned_digest(rd).map(|d| (d, rd)))
        .collect();
    let wanted = image::repository(image_name);
    candidates
        .iter()
        .find(|(_, rd)| image::repository(rd) == wanted)
        .or(candidates.first())
        .map(|(d, rd)| (d.clone(), (*rd).clone()))
}

/// `GET path` from the daemon, on tokio's blocking pool (the shared client is blocking).
async fn get(socket: &Path, path: &str) -> Result<unix_http::Response, ReporterError> {
    let (owned_socket, owned_path) = (socket.to_path_buf(), path.to_string());
    let joined =
        tokio::task::spawn_blocking(move || unix_http::get(&owned_socket, &owned_path)).await;
    let unreachable = |source| ReporterError::DockerUnreachable {
        path: socket.to_path_buf(),
        source,
    };
    let protocol = |message| ReporterError::DockerProtocol {
        path: socket.to_path_buf(),
        message,
    };
    match joined {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(UnixHttpError::Connect { source, .. } | UnixHttpError::Io { source, .. })) => {
            Err(unreachable(source))
        }
        Ok(Err(UnixHttpError::Protocol { message, .. })) => Err(protocol(message)),
        // A bad path: the daemon's own listing named an image that cannot be asked back.
        Ok(Err(e)) => Err(protocol(e.to_string())),
        Err(e) => Err(unreachable(std::io::Error::other(format!(
            "the request thread failed: {e}"
        )))),
    }
}

async fn get_json<T: DeserializeOwned>(socket: &Path, path: &str) -> Result<T, ReporterError> {
    let response = get(socket, path).await?;
    if response.status != 200 {
        #[derive(Deserialize)]
        struct DockerError {
            message: String,
        }
        let message = serde_json::from_slice::<DockerError>(&response.body)
            .map(|e| e.message)
            .unwrap_or_else(|_| snippet(&response.body));
        return Err(ReporterError::Status {
            service: "the Docker daemon",
            url: path.to_string(),
            status: response.status,
            message,
        });
    }
    serde_json::from_slice(&response.body).map_err(|e| ReporterError::Decode {
        service: "the Docker daemon",
        url: path.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host() {
        assert_eq!(socket_from(None).unwrap(), PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            socket_from(Some("unix:///run/user/1000/docker.sock")).unwrap(),
            PathBuf::from("/run/user/1000/docker.sock")
        );
        let err = socket_from(Some("tcp://10.0.0.1:2375")).unwrap_err();
        assert!(matches!(err, ReporterError::Config(_)), "{err:?}");
        assert!(err.to_string().contains("unix:///path"), "{err}");
    }

    #[test]
    fn digest_of_matching_repository() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let inspect = ImageInspect {
            repo_tags: None,
            repo_digests: Some(vec![
                format!("ghcr.io/acme/app@sha256:{a}"),
                format!("registry.example.com:5000/acme/app@sha256:{b}"),
            ]),
        };
        let (d, _) = choose_digest("registry.example.com:5000/acme/app:v2", &inspect).unwrap();
        assert_eq!(d, b);
        let (d, _) = choose_digest("other:1", &inspect).unwrap();
        assert_eq!(d, a);
        let none = ImageInspect {
            repo_tags: None,
            repo_digests: Some(vec![]),
        };
        assert!(choose_digest("app", &none).is_none());
    }
}
