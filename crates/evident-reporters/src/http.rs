//! Shared HTTP plumbing for the reporters that use `reqwest`.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::error::{chain, ReporterError};

/// Connect timeout for every HTTP request.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout for every HTTP request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client builder with the reporters' timeouts and user agent.
pub(crate) fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("evident/", env!("CARGO_PKG_VERSION")))
}

/// Builds a client, mapping the (rare) TLS setup failure to a configuration error.
pub(crate) fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, ReporterError> {
    builder
        .build()
        .map_err(|e| ReporterError::Config(format!("cannot set up the HTTP client: {}", chain(&e))))
}

/// A network-level failure as a typed error.
pub(crate) fn unreachable(service: &'static str, url: &str, e: &reqwest::Error) -> ReporterError {
    let mut message = chain(e);
    if e.is_timeout() {
        message.push_str(" (timed out)");
    }
    ReporterError::Unreachable {
        service,
        url: url.to_string(),
        message,
    }
}

/// Parses a JSON body, naming the service and URL when it does not fit.
pub(crate) fn decode<T: DeserializeOwned>(
    service: &'static str,
    url: &str,
    body: &[u8],
) -> Result<T, ReporterError> {
    serde_json::from_slice(body).map_err(|e| ReporterError::Decode {
        service,
        url: url.to_string(),
        message: e.to_string(),
    })
}
