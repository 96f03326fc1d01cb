//! One blocking HTTP/1.1 `GET` over a unix socket: all that the Docker Engine API needs.
//!
//! Both the `docker` artifact type and the Docker environment reporter talk to the daemon
//! through [`get`]; the reporter runs it on tokio's blocking pool. A hand-written client
//! rather than hyper: one request per connection (`Connection: close`), no TLS, no pooling,
//! and the whole of it fits on a page.
//!
//! The response body is delimited by `Content-Length`, chunked encoding, or the end of the
//! connection. Limits keep a misbehaving peer from using unbounded memory or time: headers
//! up to [`MAX_HEADERS`], the body up to [`MAX_RESPONSE`], and [`TIMEOUT`] from connect to
//! the last byte.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one request may take, from connecting to the last byte of the answer.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response body accepted. Docker's answers are far smaller, even a container
/// listing of a busy host.
pub const MAX_RESPONSE: usize = 64 << 20;

/// The largest status line plus headers accepted.
pub const MAX_HEADERS: usize = 64 << 10;

/// The longest request path sent.
const MAX_PATH: usize = 8 << 10;

/// An HTTP response: its status code and its body, de-chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (`200`, `404`, …).
    pub status: u16,
    /// The body, without transfer encoding.
    pub body: Vec<u8>,
}

/// Why a request over the socket failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnixHttpError {
    /// Nothing accepts connections on the socket (absent, refused, not permitted).
    #[error("cannot connect to {}: {source}", socket.display())]
    Connect {
        /// The socket tried.
        socket: PathBuf,
        /// The connect error.
        #[source]
        source: io::Error,
    },

    /// The connection broke or timed out while sending or receiving.
    #[error("connection to {} failed: {source}", socket.display())]
    Io {
        /// The socket used.
        socket: PathBuf,
        /// The error, [`io::ErrorKind::TimedOut`] for a timeout.
        #[source]
        source: io::Error,
    },

    /// The peer answered with something that is not an acceptable HTTP/1.x response.
    #[error("malformed HTTP response from {}: {message}", socket.display())]
    Protocol {
        /// The socket used.
        socket: PathBuf,
        /// What is wrong with the answer.
        message: String,
    },

    /// The request path cannot be sent as is (it must start with `/` and hold no spaces or
    /// control characters, which would let it inject headers).
    #[error("cannot request {path:?}: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// `GET path` from the HTTP server listening on the unix socket `socket`, within the
/// limits described in the [module documentation](self).
#[cfg(unix)]
pub fn get(socket: &Path, path: &str) -> Result<Response, UnixHttpError> {
    get_within(socket, path, TIMEOUT, MAX_RESPONSE)
}

/// Unix sockets do not exist here; every request fails to connect.
#[cfg(not(unix))]
pub fn get(socket: &Path, path: &str) -> Result<Response, UnixHttpError> {
    check_path(path)?;
    Err(UnixHttpError::Connect {
        socket: socket.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::Unsupported,
            "unix sockets are not supported here",
        ),
    })
}

#[cfg(unix)]
fn get_within(
    socket: &Path,
    path: &str,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, UnixHttpError> {
    use std::os::unix::net::UnixStream;

    check_path(path)?;
    let deadline = Instant::now() + timeout;
    let io_error = |source| UnixHttpError::Io {
        socket: socket.to_path_buf(),
        source,
    };
    // Connecting to a unix socket does not wait for the server to accept, so it needs no
    // timeout of its own; the deadline covers everything after.
    let stream = UnixStream::connect(socket).map_err(|source| UnixHttpError::Connect {
        socket: socket.to_path_buf(),
        source,
    })?;
    let mut conn = Deadlined {
        stream,
        deadline,
        timeout,
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: evident\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).map_err(io_error)?;
    read_response(&mut conn, max_body).map_err(|e| match e {
        ReadError::Io(source) => io_error(source),
        ReadError::Protocol(message) => UnixHttpError::Protocol {
            socket: socket.to_path_buf(),
            message,
        },
    })
}

fn check_path(path: &str) -> Result<(), UnixHttpError> {
    let reason = if !path.starts_with('/') {
        "it must start with '/'"
    } else if path.len() > MAX_PATH {
        "it is too long"
    } else if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains spaces or control characters"
    } else {
        return Ok(());
    };
    Err(UnixHttpError::BadPath {
        path: path.chars().take(200).collect(),
        reason,
    })
}

/// A stream whose every read and write must finish before one overall deadline, so a peer
/// trickling bytes cannot stretch a request past [`TIMEOUT`].
#[cfg(unix)]
struct Deadlined {
    stream: std::os::unix::net::UnixStream,
    deadline: Instant,
    timeout: Duration,
}

#[cfg(unix)]
impl Deadlined {
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timed_out());
        }
        Ok(left)
    }

    fn timed_out(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no complete answer within {} s", self.timeout.as_secs_f64()),
        )
    }

    /// Maps the socket's timeout errors (`WouldBlock` on Linux) to one clear message.
    fn check<T>(&self, r: io::Result<T>) -> io::Result<T> {
        match r {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(self.timed_out())
            }
            other => other,
        }
    }
}

#[cfg(unix)]
impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_read_timeout(Some(left))?;
        let r = self.stream.read(buf);
        self.check(r)
    }
}

#[cfg(unix)]
impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_write_timeout(Some(left))?;
        let r = self.stream.write(buf);
        self.check(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[derive(Debug)]
enum ReadError {
    Io(io::Error),
    Protocol(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one HTTP/1.x response: status line, headers, then the body. Stops as soon as
/// the body is complete, without waiting for the peer to close.
fn read_response(r: &mut dyn Read, max_body: usize) -> Result<Response, ReadError> {
    let protocol = |m: String| ReadError::Protocol(m);
    let mut data: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    let mut scanned: usize = 0;
    let head_end = loop {
        // Resume the search a little before the new bytes: the terminator may straddle reads.
        if let Some(i) = find(&data[scanned.saturating_sub(3)..], b"\r\n\r\n") {
            break scanned.saturating_sub(3) + i + 4;
        }
        scanned = data.len();
        if data.len() > MAX_HEADERS {
            return Err(protocol(format!("headers longer than {MAX_HEADERS} bytes")));
        }
        let n = read_some(r, &mut chunk)?;
        if n == 0 {
            return Err(protocol(if data.is_empty() {
                "connection closed without an answer".into()
            } else {
                "connection closed before the headers ended".into()
            }));
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let (status, framing) = parse_head(&data[..head_end]).map_err(protocol)?;
    if let Framing::Length(n) = framing {
        if n > max_body {
            return Err(protocol(format!(
                "response body of {n} bytes is larger than the {max_body} accepted"
            )));
        }
    }
    let mut body = data.split_off(head_end);
    // Chunk framing adds a little to the payload; allow for it rather than decode twice.
    let allowed = if framing == Framing::Chunked {
        max_body + max_body / 8 + 1024
    } else {
        max_body
    };
    let too_large = || {
        protocol(format!(
            "response body larger than the {max_body} bytes accepted"
        ))
    };
    loop {
        match framing {
            Framing::Length(n) if body.len() >= n => {
                body.truncate(n);
                return Ok(Response { status, body });
            }
            // A complete chunked body ends with the last chunk and an empty line; only then
            // is it worth decoding before the peer closes.
            Framing::Chunked if body.ends_with(b"\r\n\r\n") => {
                if let Some(decoded) = dechunk(&body).map_err(protocol)? {
                    return Ok(Response {
                        status,
                        body: decoded,
                    });
                }
            }
            _ => {}
        }
        if body.len() > allowed {
            return Err(too_large());
        }
        let n = read_some(r, &mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    if body.len() > allowed {
        return Err(too_large());
    }
    match framing {
        Framing::Length(n) => Err(protocol(format!(
            "connection closed after {} of {n} body bytes",
            body.len()
        ))),
        Framing::Chunked => match dechunk(&body).map_err(protocol)? {
            Some(decoded) => Ok(Response {
                status,
                body: decoded,
            }),
            None => Err(protocol(
                "connection closed before the last chunk".to_string(),
            )),
        },
        Framing::UntilClose => Ok(Response { status, body }),
    }
}

/// The status code and body framing from the status line and headers (with the final
/// empty line).
fn parse_head(head: &[u8]) -> Result<(u16, Framing), String> {
    let head = std::str::from_utf8(head).map_err(|_| "headers are not UTF-8".to_string())?;
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    }
    .filter(|s| (100..=999).contains(s))
    .ok_or_else(|| format!("bad status line {:?}", snippet(status_line)))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {:?}", snippet(line)));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| format!("bad Content-Length {:?}", snippet(value)))?;
            if length.is_some_and(|m| m != n) {
                return Err("conflicting Content-Length headers".to_string());
            }
            length = Some(n);
        }
    }
    // Chunked encoding overrides any Content-Length (RFC 9112, 6.3).
    let framing = match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::UntilClose,
    };
    Ok((status, framing))
}

/// Decodes a chunked body: `Ok(None)` while the last (zero-size) chunk has not arrived.
/// Trailers after it are ignored.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[..line_end])
            .map_err(|_| "chunk size line is not UTF-8".to_string())?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {:?}", snippet(size_hex)))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size.saturating_add(2) {
            return Ok(None);
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".to_string());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// At most 100 characters of `s`, for an error message.
fn snippet(s: &str) -> String {
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Response, String> {
        read_response(&mut &raw[..], 1 << 20).map_err(|e| match e {
            ReadError::Io(e) => format!("io: {e}"),
            ReadError::Protocol(m) => m,
        })
    }

    /// A reader that hands out its data a few bytes at a time, as a slow socket would.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn content_length_body_stops_at_the_length() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]trailing").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"[]"[..]));
    }

    #[test]
    fn chunked_body_is_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n3;ext=1\r\n[{}\r\n1\r\n]\r\n0\r\n\r\n";
        assert_eq!(parse(raw).unwrap().body, b"[{}]");
        // Split across many small reads, the header terminator and chunk lines straddle them.
        for step in [1, 2, 3, 5, 7] {
            let r = read_response(&mut Trickle(raw, step), 1 << 20).unwrap();
            assert_eq!(r.body, b"[{}]", "step {step}");
        }
    }

    #[test]
    fn body_runs_to_eof_without_length() {
        let r = parse(b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"x\"}").unwrap();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (404, &b"{\"message\":\"x\"}"[..])
        );
    }

    #[test]
    fn malformed_answers_are_refused() {
        for (raw, want) in [
            (&b""[..], "without an answer"),
            (b"garbage", "before the headers ended"),
            (b"SSH-2.0 hello\r\n\r\n", "bad status line"),
            (b"HTTP/1.1 OK\r\n\r\n", "bad status line"),
            (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "bad header line"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                "bad Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                "conflicting Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[]",
                "after 2 of 9 body bytes",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "bad chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab\r\n",
                "before the last chunk",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
                "not followed by CRLF",
            ),
        ] {
            let err = parse(raw).unwrap_err();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn oversized_answers_are_refused() {
        let limit = 1000;
        let declared = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", limit + 1);
        let err = read_response(&mut declared.as_bytes(), limit).unwrap_err();
        assert!(matches!(err, ReadError::Protocol(m) if m.contains("larger than the 1000")));

        let mut to_eof = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        to_eof.extend(std::iter::repeat_n(b'x', limit + 1));
        let err = read_response(&mut &to_eof[..], limit).unwrap_err();
        assert!(matches!(err, ReadError::Protocol(m) if m.contains("larger than the 1000")));

        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..100 {
            chunked.extend_from_slice(b"40\r\n");
            chunked.extend(std::iter::repeat_n(b'x', 64));
            chunked.extend_from_slice(b"\r\n");
        }
        let err = read_response(&mut &chunked[..], limit).unwrap_err();
        assert!(matches!(err, ReadError::Protocol(m) if m.contains("larger than the 1000")));

        let mut endless_head = b"HTTP/1.1 200 OK\r\n".to_vec();
        endless_head.extend(std::iter::repeat_n(b'h', MAX_HEADERS + 10));
        let err = read_response(&mut &endless_head[..], limit).unwrap_err();
        assert!(matches!(err, ReadError::Protocol(m) if m.contains("headers longer")));
    }

    #[test]
    fn request_paths_that_could_inject_headers_are_refused() {
        for path in [
            "images/x/json",
            "/images/a b/json",
            "/x\r\nHost: evil",
            &format!("/{}", "a".repeat(MAX_PATH)),
        ] {
            assert!(
                matches!(check_path(path), Err(UnixHttpError::BadPath { .. })),
                "{path:?}"
            );
        }
        assert!(check_path("/images/ghcr.io/o/app:v1@sha256:ab/json").is_ok());
    }

    #[cfg(unix)]
    mod over_a_socket {
        use super::super::*;
        use std::os::unix::net::UnixListener;
        use std::thread;

        /// Accepts one connection, reads the request head, then runs `answer` on the stream.
        fn serve(
            answer: impl FnOnce(&mut std::os::unix::net::UnixStream) + Send + 'static,
        ) -> (tempfile::TempDir, PathBuf, thread::JoinHandle<String>) {
            let dir = tempfile::tempdir().unwrap();
            let socket = dir.path().join("http.sock");
            let listener = UnixListener::bind(&socket).unwrap();
            let server = thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                    head.push(byte[0]);
                }
                answer(&mut conn);
                String::from_utf8(head).unwrap()
            });
            (dir, socket, server)
        }

        #[test]
        fn sends_one_get_and_reads_the_answer_without_waiting_for_close() {
            let (_dir, socket, server) = serve(|conn| {
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    .unwrap();
                // Keep the connection open: the client must stop at Content-Length.
                thread::sleep(Duration::from_secs(2));
            });
            let started = Instant::now();
            let r = get(&socket, "/version").unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
            assert!(started.elapsed() < Duration::from_secs(1));
            let head = server.join().unwrap();
            assert!(head.starts_with("GET /version HTTP/1.1\r\n"), "{head}");
            assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        }

        #[test]
        fn a_silent_peer_times_out() {
            let (_dir, socket, _server) = serve(|_| thread::sleep(Duration::from_secs(3)));
            let started = Instant::now();
            let err =
                get_within(&socket, "/version", Duration::from_millis(200), 1024).unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(2));
            match err {
                UnixHttpError::Io { source, .. } => {
                    assert_eq!(source.kind(), io::ErrorKind::TimedOut, "{source}")
                }
                other => panic!("{other:?}"),
            }
        }

        #[test]
        fn a_missing_socket_is_a_connect_error() {
            let dir = tempfile::tempdir().unwrap();
            let socket = dir.path().join("absent.sock");
            let err = get(&socket, "/version").unwrap_err();
            assert!(
                matches!(&err, UnixHttpError::Connect { source, .. } if source.kind() == io::ErrorKind::NotFound),
                "{err:?}"
            );
            assert!(err.to_string().starts_with("cannot connect to "), "{err}");
        }
    }
}
