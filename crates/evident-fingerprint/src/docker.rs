//! The fingerprint of an image in the local Docker daemon: its registry manifest digest
//! (`RepoDigests`), asked over the daemon's unix socket with one blocking HTTP request
//! (`GET /images/{name}/json`), as Kosli's `DockerImageSha256` does through the Docker
//! client library.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{FingerprintError, Result};

/// Where the Docker daemon listens unless `DOCKER_HOST` says otherwise.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Largest response accepted from the daemon (an inspect answer is a few KiB).
const MAX_RESPONSE: usize = 32 << 20;

/// How long to wait for the daemon.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The daemon socket named by `DOCKER_HOST` (`unix:///path`), or
/// [`DEFAULT_DOCKER_SOCKET`] when it is unset or empty. Other schemes (`tcp://`,
/// `ssh://`, `npipe://`) are refused with an error saying so.
pub fn docker_socket_from_env() -> Result<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => match host.strip_prefix("unix://") {
            Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
            _ => Err(FingerprintError::InvalidTarget {
                target: host,
                reason: "DOCKER_HOST must be a unix socket (unix:///path/to/docker.sock); \
                         other transports are not supported"
                    .into(),
            }),
        },
        _ => Ok(PathBuf::from(DEFAULT_DOCKER_SOCKET)),
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
#[cfg(unix)]
pub fn docker_image_digest(image: &str, socket: impl AsRef<Path>) -> Result<String> {
    let socket = socket.as_ref();
    validate_image(image)?;
    let (status, body) = get(socket, &format!("/images/{}/json", encode_path(image)))?;
    let api = |message: String| FingerprintError::DockerApi {
        socket: socket.to_path_buf(),
        message,
    };
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

/// Docker needs a unix socket; other platforms get a clear error.
#[cfg(not(unix))]
pub fn docker_image_digest(image: &str, socket: impl AsRef<Path>) -> Result<String> {
    validate_image(image)?;
    Err(FingerprintError::DockerUnavailable {
        socket: socket.as_ref().to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::Unsupported,
            "unix sockets are not supported here",
        ),
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

/// One `GET` over the unix socket; returns the status code and the (de-chunked) body.
#[cfg(unix)]
fn get(socket: &Path, path: &str) -> Result<(u16, Vec<u8>)> {
    use std::os::unix::net::UnixStream;

    let unavailable = |source| FingerprintError::DockerUnavailable {
        socket: socket.to_path_buf(),
        source,
    };
    let api = |message: String| FingerprintError::DockerApi {
        socket: socket.to_path_buf(),
        message,
    };
    let mut stream = UnixStream::connect(socket).map_err(unavailable)?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| api(format!("cannot configure the connection: {e}")))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: evident\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| api(format!("cannot send the request: {e}")))?;
    read_response(&mut stream).map_err(|e| api(format!("bad HTTP response: {e}")))
}

/// Reads an HTTP/1.x response: status line, headers, then a body delimited by
/// `Content-Length`, chunked encoding, or the end of the connection.
fn read_response(r: &mut dyn Read) -> io::Result<(u16, Vec<u8>)> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(invalid("headers too large"));
        }
        let n = read_some(r, &mut chunk)?;
        if n == 0 {
            return Err(invalid("connection closed before the headers ended"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head =
        std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .map_err(|_| invalid("malformed status line"))?,
        _ => return Err(invalid("malformed status line")),
    };
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                content_length = Some(v.parse().map_err(|_| invalid("bad Content-Length"))?);
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    let mut body = buf.split_off(head_end);
    let limit = content_length.filter(|_| !chunked);
    if limit.is_some_and(|n| n > MAX_RESPONSE) {
        return Err(invalid("response too large"));
    }
    loop {
        if limit.is_some_and(|n| body.len() >= n) {
            break;
        }
        let n = read_some(r, &mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
        if body.len() > MAX_RESPONSE {
            return Err(invalid("response too large"));
        }
    }
    if let Some(n) = limit {
        if body.len() < n {
            return Err(invalid("connection closed before the body ended"));
        }
        body.truncate(n);
    }
    if chunked {
        body = dechunk(&body).ok_or_else(|| invalid("malformed chunked body"))?;
    }
    Ok((status, body))
}

fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {} s", TIMEOUT.as_secs()),
                ))
            }
            other => return other,
        }
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 || &data[size..size + 2] != b"\r\n" {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
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
    fn chunked_bodies() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"5\r\nab\r\n").is_none());
    }

    #[test]
    fn response_parsing() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        let (status, body) = read_response(&mut &raw[..]).unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{}"[..]));
        let raw = b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"x\"}";
        let (status, body) = read_response(&mut &raw[..]).unwrap();
        assert_eq!(
            (status, body.as_slice()),
            (404, &b"{\"message\":\"x\"}"[..])
        );
        assert!(read_response(&mut &b"garbage"[..]).is_err());
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
