//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Why a fingerprint could not be computed.
///
/// Every variant that concerns a file names the path, so a message such as
/// `cannot read /srv/app/secret.key: Permission denied (os error 13)` tells the
/// user what to fix without a debug flag.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// An I/O operation on a path failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done: "read", "open", "list", "stat", ...
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A symbolic link whose target does not exist.
    #[error("broken symbolic link {}: its target does not exist", path.display())]
    BrokenSymlink {
        /// The link itself.
        path: PathBuf,
    },

    /// A directory fingerprint was asked for something that is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },

    /// A file fingerprint was asked for a directory.
    #[error("{} is a directory, not a file (use the dir artifact type)", path.display())]
    IsADirectory {
        /// The path given.
        path: PathBuf,
    },

    /// A FIFO, socket or device, whose "content" is not a fixed sequence of bytes.
    #[error("{} is a {kind}, not a regular file: it cannot be fingerprinted", path.display())]
    SpecialFile {
        /// The path of the special file.
        path: PathBuf,
        /// "fifo", "socket", "block device", "character device".
        kind: &'static str,
    },

    /// An exclusion pattern that Go's `filepath.Match` would reject.
    #[error("invalid exclude pattern '{pattern}' (from {origin}): syntax error in pattern")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// Where it came from: "--exclude" or the path of a `.kosli_ignore` file.
        origin: String,
    },

    /// An unknown artifact type name.
    #[error("unknown artifact type '{0}': expected one of file, dir, docker, oci")]
    UnknownArtifactType(String),

    /// The target cannot be used for this artifact type (for example a non-UTF-8 image name).
    #[error("invalid target '{target}': {reason}")]
    InvalidTarget {
        /// The target as given (lossily converted).
        target: String,
        /// Why it is unusable.
        reason: String,
    },

    /// An OCI image layout or image tarball that cannot be read as one.
    #[error("{}: {message}", path.display())]
    Oci {
        /// The layout directory or tarball.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The Docker daemon socket could not be connected to.
    #[error("no Docker daemon at {}: {source}", socket.display())]
    DockerUnavailable {
        /// The unix socket tried.
        socket: PathBuf,
        /// The connect error.
        #[source]
        source: io::Error,
    },

    /// The daemon does not have the image.
    #[error("image '{image}' is not present in the local Docker daemon (pull it first)")]
    ImageNotFound {
        /// The image as given.
        image: String,
    },

    /// The image exists locally but has never been pushed to or pulled from a registry.
    #[error(
        "repo digest unavailable for image '{image}': has it been pushed to or pulled from a registry?{}",
        if repo_digests.is_empty() { String::new() } else { format!(" (its repo digests are for other names: {})", repo_digests.join(", ")) }
    )]
    RepoDigestUnavailable {
        /// The image as given.
        image: String,
        /// The RepoDigests the daemon reported (none of which matched).
        repo_digests: Vec<String>,
    },

    /// The daemon answered with an error status or with something that is not the expected JSON.
    #[error("Docker daemon at {}: {message}", socket.display())]
    DockerApi {
        /// The unix socket used.
        socket: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl FingerprintError {
    /// Builds an [`FingerprintError::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`FingerprintError::Oci`].
    pub(crate) fn oci(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Oci {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = FingerprintError> = std::result::Result<T, E>;
