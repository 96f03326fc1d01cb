//! Artifact fingerprints for evident.
//!
//! A fingerprint is 64 lowercase hex characters of SHA-256. This crate computes it for
//! the four artifact types (see [`ArtifactType`] and [`digest`]):
//!
//! * **file** — [`file_digest`]: SHA-256 of the bytes, streamed in constant memory.
//! * **dir** — [`dir_digest`]: byte-for-byte the directory fingerprint of the Kosli CLI,
//!   so a team moving from Kosli keeps its fingerprints. File contents are hashed in
//!   parallel; the result does not depend on it.
//! * **oci** — [`oci_digest`]: the manifest digest recorded in an OCI image layout
//!   directory or tarball, offline.
//! * **docker** — [`docker_image_digest`]: the repo digest of an image in the local
//!   Docker daemon, over its unix socket (through [`unix_http`], which the Docker
//!   environment reporter uses too).
//!
//! # Exclusions (`dir`)
//!
//! Exclusion patterns and the root `.kosli_ignore` follow Kosli exactly, because they
//! change the fingerprint. A pattern `p` is joined to the root (`root/p`, cleaned, so
//! `/logs`, `./logs` and `logs/` are the same) and expanded *before* the walk into the
//! existing paths it matches; an entry is excluded when its path is one of them, and an
//! excluded directory takes its whole subtree with it. Wildcards are Go's
//! `filepath.Match`: `*` (never crosses `/`, matches dotfiles), `?`, `[a-z]`, `[^a]`, `\`
//! escapes; a malformed pattern such as `[` is an error. `**` (from Go's `filepathx`)
//! matches any number of directory levels, with Kosli's quirks, which are kept:
//!
//! * `**/x` does **not** exclude a root-level `x` itself, but does exclude everything
//!   under it if it is a directory; `x` deeper down is excluded. Use `x` *and* `**/x`.
//! * `**/*.log` does exclude root-level `*.log` files.
//! * `logs/**` excludes everything under `logs` but keeps the name `logs` itself.
//!
//! `.kosli_ignore` in the root holds one pattern per line; `#` starts a comment and
//! blank lines are skipped. It cannot exclude itself (a tree could otherwise hide an
//! added file); an explicit exclude can. Nested `.kosli_ignore` files are ordinary files.

mod artifact;
mod dir;
mod docker;
mod error;
mod file;
mod glob;
mod gomatch;
mod gopath;
mod ignore;
mod oci;
mod progress;
pub mod unix_http;

pub use artifact::{digest, ArtifactType, DigestOptions};
pub use dir::{dir_digest, DirOptions};
pub use docker::{
    docker_image_digest, docker_socket_from_env, docker_socket_from_host, DEFAULT_DOCKER_SOCKET,
};
pub use error::{FingerprintError, Result};
pub use file::{file_digest, file_digest_with_progress, sha256_hex};
pub use ignore::IGNORE_FILE_NAME;
pub use oci::{oci_digest, oci_digest_for_ref};
pub use progress::Progress;

/// Whether `s` is a well-formed fingerprint: exactly 64 lowercase hex characters
/// (Kosli's `^([a-f0-9]{64})$`).
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The paths a `--paths` pattern names, as Kosli's server reporter expands them (Go's
/// `filepath.Glob`: `*`, `?`, `[...]`; a pattern without wildcards names itself, whether or
/// not it exists, so a missing path is reported rather than silently dropped).
pub fn expand_paths(pattern: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = pattern.as_os_str().as_bytes();
    if !gomatch::has_meta(bytes) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let found = glob::go_glob(bytes).map_err(|e| match e {
        glob::GlobError::Bad(_) => FingerprintError::BadPattern {
            pattern: pattern.display().to_string(),
            origin: "--paths".to_string(),
        },
        glob::GlobError::Io { op, path, source } => {
            FingerprintError::io(op, gopath::bytes_path(&path), source)
        }
    })?;
    let mut paths: Vec<std::path::PathBuf> = found
        .into_iter()
        .map(|p| std::ffi::OsString::from_vec(p).into())
        .collect();
    paths.sort();
    Ok(paths)
}
