//! Artifact types and the dispatcher that fingerprints a target by type.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::dir::{dir_digest, DirOptions};
use crate::docker::{docker_image_digest, docker_socket_from_env};
use crate::error::{FingerprintError, Result};
use crate::file::file_digest_with_progress;
use crate::oci::{oci_digest, oci_digest_for_ref};

/// What kind of thing an artifact is, which decides how it is fingerprinted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactType {
    /// A single file: SHA-256 of its bytes.
    File,
    /// A directory tree: Kosli's directory fingerprint.
    Dir,
    /// An image in the local Docker daemon: its registry manifest digest.
    Docker,
    /// An OCI image layout directory or tarball: its manifest digest, computed offline.
    Oci,
}

impl ArtifactType {
    /// Every type, in the order they are listed to users.
    pub const ALL: [ArtifactType; 4] = [Self::File, Self::Dir, Self::Docker, Self::Oci];

    /// The name used on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Dir => "dir",
            Self::Docker => "docker",
            Self::Oci => "oci",
        }
    }
}

impl fmt::Display for ArtifactType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArtifactType {
    type Err = FingerprintError;

    /// Accepts `file`, `dir`, `docker` and `oci` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| FingerprintError::UnknownArtifactType(s.to_string()))
    }
}

/// Options for [`digest`]; each applies to one artifact type and is ignored by the others.
#[derive(Debug, Clone, Default)]
pub struct DigestOptions {
    /// For [`ArtifactType::Dir`]: exclusions and progress counters.
    pub dir: DirOptions,
    /// For [`ArtifactType::Docker`]: the daemon's unix socket; `None` means
    /// [`docker_socket_from_env`] (`DOCKER_HOST`, else `/var/run/docker.sock`).
    pub docker_socket: Option<PathBuf>,
    /// For [`ArtifactType::Oci`]: which manifest to take when the layout has several
    /// (see [`oci_digest_for_ref`]).
    pub oci_ref: Option<String>,
}

/// Fingerprints `target` as an artifact of type `kind`: a path for `file`, `dir` and
/// `oci`, an image reference for `docker`. Returns 64 lowercase hex characters.
pub fn digest(
    kind: ArtifactType,
    target: impl AsRef<OsStr>,
    opts: &DigestOptions,
) -> Result<String> {
    let target = target.as_ref();
    match kind {
        ArtifactType::File => {
            file_digest_with_progress(Path::new(target), opts.dir.progress.as_deref())
        }
        ArtifactType::Dir => dir_digest(Path::new(target), &opts.dir),
        ArtifactType::Oci => match &opts.oci_ref {
            Some(r) => oci_digest_for_ref(Path::new(target), r),
            None => oci_digest(Path::new(target)),
        },
        ArtifactType::Docker => {
            let image = target
                .to_str()
                .ok_or_else(|| FingerprintError::InvalidTarget {
                    target: target.to_string_lossy().into_owned(),
                    reason: "an image name must be UTF-8".into(),
                })?;
            let socket = match &opts.docker_socket {
                Some(s) => s.clone(),
                None => docker_socket_from_env()?,
            };
            docker_image_digest(image, socket)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_names_and_lists_them_on_error() {
        for t in ArtifactType::ALL {
            assert_eq!(t.as_str().parse::<ArtifactType>().unwrap(), t);
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!("DIR".parse::<ArtifactType>().unwrap(), ArtifactType::Dir);
        let err = "tarball".parse::<ArtifactType>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown artifact type 'tarball': expected one of file, dir, docker, oci"
        );
    }
}
