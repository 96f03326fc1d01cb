//! A minimal HTTP/1.1 GET over a Unix socket, enough for the Docker Engine API.
//!
//! One request per connection (`Connection: close`); the body is read as `Content-Length`,
//! chunked, or up to the end of the stream.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::ReporterError;

/// How long one request may take, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response accepted; Docker's answers are far smaller.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// An HTTP response: status and decoded body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET path` on the HTTP server listening at `socket`.
pub(crate) async fn get(socket: &Path, path: &str) -> Result<Response, ReporterError> {
    let unreachable = |source: std::io::Error| ReporterError::DockerUnreachable {
        path: socket.to_path_buf(),
        source,
    };
    let raw = tokio::time::timeout(TIMEOUT, async {
        let mut stream = UnixStream::connect(socket).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: evident\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.len() > MAX_RESPONSE {
                return Err(std::io::Error::other(format!(
                    "response larger than {MAX_RESPONSE} bytes"
                )));
            }
        }
        Ok(raw)
    })
    .await
    .map_err(|_| {
        unreachable(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {}s", TIMEOUT.as_secs()),
        ))
    })?
    .map_err(unreachable)?;
    parse_response(&raw).map_err(|message| ReporterError::DockerProtocol {
        path: socket.to_path_buf(),
        message,
    })
}

/// Splits a complete HTTP/1.x response into status and body.
pub(crate) fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not UTF-8")?;
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        if rest.len() < n {
            return Err(format!(
                "body cut short: {} of {n} bytes (connection closed early)",
                rest.len()
            ));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("chunk size line not terminated")?;
        let line = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("chunk cut short (connection closed early)".to_string());
        }
        out.extend_from_slice(&data[..size]);
        if &data[size..size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".to_string());
        }
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_body() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"[]"[..]));
    }

    #[test]
    fn chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\n[{}\r\n1\r\n]\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().body, b"[{}]");
    }

    #[test]
    fn body_to_eof_and_errors() {
        let r = parse_response(b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"x\"}").unwrap();
        assert_eq!(r.status, 404);
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SSH-2.0 hello\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[]").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }
}
