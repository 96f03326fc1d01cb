//! The one error type every reporter returns.

use std::path::PathBuf;

/// Why a reporter could not produce an environment report.
///
/// Every variant names the service it was talking to, so a message printed as is tells the
/// user what failed and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReporterError {
    /// The Docker socket could not be opened, or the connection broke.
    #[error("cannot reach the Docker daemon at {}: {source} (is it running, and may this user use its socket?)", path.display())]
    DockerUnreachable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The Docker daemon answered with something that is not HTTP.
    #[error("the Docker daemon at {} sent a malformed HTTP response: {message}", path.display())]
    DockerProtocol { path: PathBuf, message: String },

    /// A network error: connection refused, DNS, TLS or timeout.
    #[error("cannot reach {service} at {url}: {message}")]
    Unreachable {
        service: &'static str,
        url: String,
        message: String,
    },

    /// The service answered with an HTTP error status.
    #[error("{service} answered HTTP {status} to {url}: {message}")]
    Status {
        service: &'static str,
        url: String,
        status: u16,
        message: String,
    },

    /// An AWS API error, with AWS's error code (`AccessDeniedException`, `ClusterNotFoundException`, …).
    #[error("{service} refused the request: {code} (HTTP {status}): {message}")]
    Aws {
        service: &'static str,
        status: u16,
        code: String,
        message: String,
    },

    /// The response body was not what the API documents.
    #[error("cannot parse the {service} response from {url}: {message}")]
    Decode {
        service: &'static str,
        url: String,
        message: String,
    },

    /// The kubeconfig (or in-cluster service account) could not be used.
    #[error("kubeconfig {origin}: {message}")]
    Kubeconfig { origin: String, message: String },

    /// No usable AWS credentials.
    #[error("AWS credentials: {0}")]
    Credentials(String),

    /// An option or environment variable is invalid or missing.
    #[error("{0}")]
    Config(String),
}

/// Renders an error with its chain of causes, `outer: inner: innermost`, skipping repeats.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// Shortens a response body for an error message.
pub(crate) fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.is_empty() {
        return "(empty body)".to_string();
    }
    let mut out: String = s.chars().take(300).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}
