//! Pulling fingerprints out of the image references and IDs that runtimes report.

use evident_core::fingerprint::Fingerprint;

/// The fingerprint in a digest-pinned reference: `repo@sha256:<hex>` → `<hex>`.
pub(crate) fn pinned_digest(reference: &str) -> Option<String> {
    let (_, digest) = reference.rsplit_once("@sha256:")?;
    fingerprint(digest)
}

/// A 64-hex SHA-256, with or without `sha256:`, as a lowercase fingerprint.
pub(crate) fn fingerprint(s: &str) -> Option<String> {
    Fingerprint::parse(s).ok().map(|f| f.as_str().to_string())
}

/// The fingerprint in a Kubernetes container status `imageID`.
///
/// Runtimes report it as `docker-pullable://repo@sha256:<hex>` (dockershim),
/// `docker://sha256:<hex>` (dockershim, an image that was never pulled: that is the image ID,
/// not a registry digest), `repo@sha256:<hex>` (containerd, CRI-O) or `sha256:<hex>`
/// (containerd, an image loaded locally).
pub(crate) fn k8s_image_id_digest(image_id: &str) -> Option<String> {
    let s = image_id
        .strip_prefix("docker-pullable://")
        .or_else(|| image_id.strip_prefix("docker://"))
        .unwrap_or(image_id);
    match s.rsplit_once("@sha256:") {
        Some((_, digest)) => fingerprint(digest),
        None => fingerprint(s),
    }
}

/// Whether a runtime reported an image ID (`sha256:<hex>` or bare hex) where a name belongs.
pub(crate) fn is_image_id(name: &str) -> bool {
    name.starts_with("sha256:") || (name.len() == 64 && fingerprint(name).is_some())
}

/// The repository of an image reference, without tag or digest, normalised so that
/// `nginx`, `library/nginx`, `docker.io/library/nginx:1.25` and `nginx@sha256:…` compare equal.
pub(crate) fn repository(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    // A tag is a `:` after the last `/`; a `:` before it is a registry port.
    let without_tag = match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
    };
    let mut repo = without_tag;
    for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = repo.strip_prefix(prefix) {
            repo = rest;
        }
    }
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    repo.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31";

    #[test]
    fn image_id_formats() {
        for id in [
            format!("docker-pullable://nginx@sha256:{HEX}"),
            format!("docker://sha256:{HEX}"),
            format!("docker.io/library/nginx@sha256:{HEX}"),
            format!("sha256:{HEX}"),
            format!("localhost:5000/app@sha256:{}", HEX.to_uppercase()),
        ] {
            assert_eq!(k8s_image_id_digest(&id).as_deref(), Some(HEX), "{id}");
        }
        assert_eq!(k8s_image_id_digest(""), None);
        assert_eq!(k8s_image_id_digest("docker://sha256:abc"), None);
    }

    #[test]
    fn pinned_and_ids() {
        assert_eq!(
            pinned_digest(&format!("r/app:1@sha256:{HEX}")).as_deref(),
            Some(HEX)
        );
        assert_eq!(pinned_digest("r/app:1"), None);
        assert!(is_image_id(&format!("sha256:{HEX}")));
        assert!(is_image_id(HEX));
        assert!(!is_image_id("nginx:1.25"));
    }

    #[test]
    fn repositories_normalise() {
        assert_eq!(repository("nginx"), "nginx");
        assert_eq!(repository("nginx:1.25"), "nginx");
        assert_eq!(repository("docker.io/library/nginx:1.25"), "nginx");
        assert_eq!(repository(&format!("nginx@sha256:{HEX}")), "nginx");
        assert_eq!(
            repository("localhost:5000/team/app:v2"),
            "localhost:5000/team/app"
        );
        assert_eq!(
            repository("localhost:5000/team/app"),
            "localhost:5000/team/app"
        );
    }
}
