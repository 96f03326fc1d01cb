//! Offline image fingerprints: the manifest digest recorded in an OCI image layout,
//! either a directory or a tarball of one (`skopeo copy … oci-archive:`, `docker save`
//! from Docker 25 on, `docker buildx build --output type=oci`).
//!
//! The fingerprint is the `sha256` digest of the descriptor in the layout's top-level
//! `index.json`: the image manifest digest for a single-platform image, or the image
//! index digest for a multi-platform one. That is the digest a registry reports for the
//! same tag, so it matches what `--artifact-type docker`/`oci` produce once the image is
//! pushed unchanged.
//!
//! Caveat: `docker save` with Docker's classic (non-containerd) image store writes a
//! manifest it generates at save time, whose digest may differ from the registry's.
//! A `docker save` tarball from before Docker 25 has only `manifest.json`, which records
//! no manifest digest at all; it is refused with an explanation.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path};

use serde::Deserialize;

use crate::error::{FingerprintError, Result};
use crate::file::hash_reader;

/// Largest `index.json` accepted (they are a few hundred bytes in practice).
const MAX_INDEX_JSON: u64 = 16 << 20;

/// Annotation keys that name a descriptor's tag or reference.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Descriptor {
    fn names(&self) -> impl Iterator<Item = &str> {
        [REF_NAME, CONTAINERD_NAME]
            .into_iter()
            .filter_map(|k| self.annotations.get(k).map(String::as_str))
    }

    fn describe(&self) -> String {
        let names: Vec<&str> = self.names().collect();
        let mut s = self.digest.clone();
        if !names.is_empty() {
            s.push_str(&format!(" ({})", names.join(", ")));
        }
        if !self.media_type.is_empty() {
            s.push_str(&format!(" [{}]", self.media_type));
        }
        s
    }
}

/// The manifest digest (64 lowercase hex, no `sha256:`) of an OCI image layout
/// directory or of an uncompressed tarball of one.
///
/// The layout's `index.json` must list exactly one manifest digest (several
/// descriptors with the same digest, as `docker save img:a img:b` writes, count as
/// one); otherwise the error lists them — use [`oci_digest_for_ref`] to choose.
/// If the manifest blob is present it is hashed and must match its digest and size.
pub fn oci_digest(path: impl AsRef<Path>) -> Result<String> {
    digest_impl(path.as_ref(), None)
}

/// Like [`oci_digest`], choosing among several manifests the one whose
/// `org.opencontainers.image.ref.name` or `io.containerd.image.name` annotation
/// equals `ref_name` (for example `latest` or `docker.io/library/alpine:3.20`).
pub fn oci_digest_for_ref(path: impl AsRef<Path>, ref_name: &str) -> Result<String> {
    digest_impl(path.as_ref(), Some(ref_name))
}

fn digest_impl(path: &Path, ref_name: Option<&str>) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| crate::file::stat_error(path, e))?;
    if meta.is_dir() {
        layout_dir(path, ref_name)
    } else {
        crate::file::check_regular(path, &meta)?;
        tarball(path, ref_name)
    }
}

fn layout_dir(dir: &Path, ref_name: Option<&str>) -> Result<String> {
    let index_path = dir.join("index.json");
    let bytes = match File::open(&index_path) {
        Ok(f) => read_limited(f, &index_path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let hint = if dir.join("manifest.json").exists() {
                " (it has a manifest.json: unpack of a docker save tarball from before Docker 25, \
                 which records no manifest digest)"
            } else {
                ""
            };
            return Err(FingerprintError::oci(
                dir,
                format!("not an OCI image layout: no index.json{hint}"),
            ));
        }
        Err(e) => return Err(FingerprintError::io("open", index_path, e)),
    };
    let chosen = select(dir, &bytes, ref_name)?;
    let blob = dir.join("blobs").join("sha256").join(&chosen.hex);
    match File::open(&blob) {
        Ok(mut f) => verify_blob(dir, &mut f, &blob, &chosen)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FingerprintError::io("open", blob, e)),
    }
    Ok(chosen.hex)
}

fn tarball(path: &Path, ref_name: Option<&str>) -> Result<String> {
    let open = || File::open(path).map_err(|e| FingerprintError::io("open", path, e));
    let mut magic = [0u8; 4];
    let n =
        read_up_to(&mut open()?, &mut magic).map_err(|e| FingerprintError::io("read", path, e))?;
    let magic = &magic[..n];
    if magic.starts_with(&[0x1f, 0x8b]) {
        return Err(FingerprintError::oci(
            path,
            "gzip-compressed tarball: decompress it first (gunzip), or pass the OCI layout directory",
        ));
    }
    if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(FingerprintError::oci(
            path,
            "zstd-compressed tarball: decompress it first (unzstd), or pass the OCI layout directory",
        ));
    }

    // Pass 1: find index.json (and note a legacy manifest.json).
    let mut index = None;
    let mut has_manifest_json = false;
    let tar_err =
        |e: io::Error| FingerprintError::oci(path, format!("not a readable tar archive: {e}"));
    let mut archive = tar::Archive::new(open()?);
    for entry in archive.entries_with_seek().map_err(tar_err)? {
        let entry = entry.map_err(tar_err)?;
        let name = entry_name(&entry).map_err(tar_err)?;
        match name.as_deref() {
            Some("index.json") => index = Some(read_limited(entry, &path.join("index.json"))?),
            Some("manifest.json") => has_manifest_json = true,
            _ => {}
        }
    }
    let Some(index) = index else {
        let message = if has_manifest_json {
            "docker save tarball without index.json (made by Docker older than 25): it records \
             no manifest digest. Fingerprint the image with --artifact-type docker, or re-save it \
             with Docker 25+ or `skopeo copy docker-daemon:IMAGE oci-archive:FILE`"
        } else {
            "not an OCI image tarball: no index.json at the top of the archive"
        };
        return Err(FingerprintError::oci(path, message));
    };
    let chosen = select(path, &index, ref_name)?;

    // Pass 2: verify the manifest blob, if the archive carries it.
    let blob_name = format!("blobs/sha256/{}", chosen.hex);
    let mut archive = tar::Archive::new(open()?);
    for entry in archive.entries_with_seek().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        if entry_name(&entry).map_err(tar_err)?.as_deref() == Some(blob_name.as_str()) {
            let shown = path.join(&blob_name);
            verify_blob(path, &mut entry, &shown, &chosen)?;
            break;
        }
    }
    Ok(chosen.hex)
}

/// The normalized name of a tar entry (`./a/b` -> `a/b`), or `None` if it has parts
/// that cannot be part of a layout (`..`, absolute, non-UTF-8).
fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> io::Result<Option<String>> {
    let path = entry.path()?;
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s),
                None => return Ok(None),
            },
            Component::CurDir => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(parts.join("/")))
}

/// The descriptor chosen from an index, with its digest's hex part.
struct Chosen {
    hex: String,
    size: Option<u64>,
}

fn select(path: &Path, index_json: &[u8], ref_name: Option<&str>) -> Result<Chosen> {
    let index: Index = serde_json::from_slice(index_json).map_err(|e| {
        FingerprintError::oci(
            path,
            format!("index.json is not a valid OCI image index: {e}"),
        )
    })?;
    if index.manifests.is_empty() {
        return Err(FingerprintError::oci(path, "index.json lists no manifests"));
    }
    let candidates: Vec<&Descriptor> = match ref_name {
        None => index.manifests.iter().collect(),
        Some(r) => index
            .manifests
            .iter()
            .filter(|d| d.names().any(|n| n == r))
            .collect(),
    };
    let list = |ds: &[&Descriptor]| {
        ds.iter()
            .map(|d| d.describe())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if candidates.is_empty() {
        let all: Vec<&Descriptor> = index.manifests.iter().collect();
        return Err(FingerprintError::oci(
            path,
            format!(
                "no manifest in index.json is named '{}'; it lists: {}",
                ref_name.unwrap_or_default(),
                list(&all)
            ),
        ));
    }
    let first = candidates[0];
    if candidates.iter().any(|d| d.digest != first.digest) {
        let mut distinct: Vec<&Descriptor> = Vec::new();
        for d in &candidates {
            if !distinct.iter().any(|x| x.digest == d.digest) {
                distinct.push(d);
            }
        }
        return Err(FingerprintError::oci(
            path,
            format!(
                "index.json lists {} different manifests, choose one by its reference name: {}",
                distinct.len(),
                list(&distinct)
            ),
        ));
    }
    let hex = first
        .digest
        .strip_prefix("sha256:")
        .filter(|h| crate::is_fingerprint(h))
        .ok_or_else(|| {
            FingerprintError::oci(
                path,
                format!(
                    "manifest digest '{}' is not a sha256 digest (sha256: and 64 lowercase hex)",
                    first.digest
                ),
            )
        })?;
    Ok(Chosen {
        hex: hex.to_string(),
        size: first.size,
    })
}

/// Checks that a manifest blob hashes to its digest and has the declared size.
fn verify_blob(layout: &Path, reader: &mut dyn Read, shown: &Path, chosen: &Chosen) -> Result<()> {
    let mut counted = CountingReader {
        inner: reader,
        n: 0,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let digest = hash_reader(&mut counted, &mut buf, None)
        .map_err(|e| FingerprintError::io("read", shown, e))?;
    let actual = hex::encode(digest);
    if actual != chosen.hex {
        return Err(FingerprintError::oci(
            layout,
            format!(
                "manifest blob {} is corrupt: its sha256 is {actual}, index.json says {}",
                shown.display(),
                chosen.hex
            ),
        ));
    }
    if let Some(size) = chosen.size {
        if size != counted.n {
            return Err(FingerprintError::oci(
                layout,
                format!(
                    "manifest blob {} has {} bytes, index.json says {size}",
                    shown.display(),
                    counted.n
                ),
            ));
        }
    }
    Ok(())
}

struct CountingReader<'a> {
    inner: &'a mut dyn Read,
    n: u64,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

fn read_limited(reader: impl Read, shown: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INDEX_JSON + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FingerprintError::io("read", shown, e))?;
    if bytes.len() as u64 > MAX_INDEX_JSON {
        return Err(FingerprintError::oci(
            shown,
            format!("larger than {MAX_INDEX_JSON} bytes: not an OCI index"),
        ));
    }
    Ok(bytes)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
