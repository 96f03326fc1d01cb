//! Timeouts shared by the reporters that call an HTTP API (Kubernetes, ECS, Lambda).

use std::time::Duration;

/// Connect timeout for every HTTP request.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of each HTTP request (each attempt, for the AWS SDK, which retries).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
