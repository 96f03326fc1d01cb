//! Errors of git operations, with enough structure for the server to map each kind to
//! its own HTTP status instead of one catch-all.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::policy::PolicyError;

/// What went wrong running git or managing a mirror.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL was refused by the [`crate::UrlPolicy`].
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The git program could not be started.
    #[error("could not run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// A file-system operation on the mirror directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A clone or fetch ran longer than [`crate::GitOptions::timeout`]; git was killed.
    #[error("git {op} timed out after {after:?} and was stopped")]
    Timeout {
        /// `clone`, `fetch`, ...
        op: &'static str,
        /// The limit that was hit.
        after: Duration,
    },
    /// The mirror grew past [`crate::GitOptions::max_size_bytes`]; git was killed.
    #[error("git {op} stopped: the repository exceeds the {limit}-byte size limit")]
    TooLarge {
        /// `clone` or `fetch`.
        op: &'static str,
        /// The limit that was hit.
        limit: u64,
    },
    /// git exited unsuccessfully.
    #[error("git {op} failed ({kind}): {stderr}")]
    Failed {
        /// The git subcommand.
        op: &'static str,
        /// A classification of git's message.
        kind: FailureKind,
        /// The exit code, if git exited normally.
        code: Option<i32>,
        /// The end of git's standard error, credentials redacted.
        stderr: String,
    },
    /// The mirror's object database could not be read (a corrupt or half-written mirror).
    #[error("could not read commits from the mirror: {0}")]
    Objects(String),
    /// git's output could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The directory for this URL holds something that is not this URL's mirror.
    #[error(
        "{dir} is not the mirror of {expected} (it belongs to {found:?}); remove it to re-clone"
    )]
    MirrorMismatch {
        /// The mirror directory.
        dir: PathBuf,
        /// The key of the URL that was asked for.
        expected: String,
        /// What the directory's marker says, if anything.
        found: Option<String>,
    },
    /// `--branch` named no branch or tag of the repository.
    #[error("no branch or tag named '{0}'")]
    UnknownRef(String),
    /// A value that must be a full commit sha was not one.
    #[error("not a full commit sha: '{0}'")]
    InvalidSha(String),
}

/// git's output did not have the expected shape (a git bug or a different output format).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected git output: {0}")]
pub struct ParseError(pub String);

/// Why git failed, read from its (C-locale) error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The repository does not exist (or is hidden from us).
    NotFound,
    /// Authentication was required or refused.
    Auth,
    /// DNS, connection or TLS trouble.
    Network,
    /// git itself refused the transport (defence in depth behind the URL policy).
    TransportRefused,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// Classify a git error message.
    pub fn classify(stderr: &str) -> FailureKind {
        let s = stderr.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
        if s.contains("transport '") && s.contains("not allowed") {
            FailureKind::TransportRefused
        } else if has(&[
            "authentication failed",
            "permission denied",
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "error: 401",
            "error: 403",
        ]) {
            FailureKind::Auth
        } else if has(&[
            "repository not found",
            "does not appear to be a git repository",
            "does not exist",
            "not found",
            "error: 404",
            "no such file or directory",
        ]) {
            FailureKind::NotFound
        } else if has(&[
            "could not resolve host",
            "connection refused",
            "connection timed out",
            "failed to connect",
            "network is unreachable",
            "ssl",
            "tls",
            "connection reset",
            "unable to access",
            "the remote end hung up",
            "early eof",
        ]) {
            FailureKind::Network
        } else {
            FailureKind::Other
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::NotFound => "repository not found",
            FailureKind::Auth => "authentication failed",
            FailureKind::Network => "network error",
            FailureKind::TransportRefused => "transport refused",
            FailureKind::Other => "error",
        })
    }
}

impl GitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        GitError::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_messages() {
        assert_eq!(
            FailureKind::classify("fatal: transport 'ext' not allowed"),
            FailureKind::TransportRefused
        );
        assert_eq!(
            FailureKind::classify("fatal: could not read Username for 'https://github.com': terminal prompts disabled"),
            FailureKind::Auth
        );
        assert_eq!(
            FailureKind::classify("fatal: '/tmp/x' does not appear to be a git repository"),
            FailureKind::NotFound
        );
        assert_eq!(
            FailureKind::classify(
                "fatal: unable to access 'https://x/': Could not resolve host: x"
            ),
            FailureKind::Network
        );
    }
}
