//! OCI image layouts and tarballs built in the test: the fingerprint is the sha256 of
//! the manifest blob that index.json points at, computed offline.

use std::fs;
use std::path::Path;

use evident_fingerprint::{digest, oci_digest, oci_digest_for_ref, ArtifactType, DigestOptions};
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The files of a one-image OCI layout, as (path, bytes), and the manifest's digest.
struct Image {
    files: Vec<(String, Vec<u8>)>,
    manifest_hex: String,
    manifest_len: usize,
}

fn image(layer: &[u8]) -> Image {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(layer))]}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha(&config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{}", sha(layer)), "size": layer.len()}]
    }))
    .unwrap();
    let manifest_hex = sha(&manifest);
    Image {
        files: vec![
            (format!("blobs/sha256/{}", sha(&config)), config),
            (format!("blobs/sha256/{}", sha(layer)), layer.to_vec()),
            (format!("blobs/sha256/{manifest_hex}"), manifest.clone()),
        ],
        manifest_len: manifest.len(),
        manifest_hex,
    }
}

fn descriptor(img: &Image, tag: &str) -> serde_json::Value {
    json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", img.manifest_hex),
        "size": img.manifest_len,
        "annotations": {
            "io.containerd.image.name": format!("docker.io/library/app:{tag}"),
            "org.opencontainers.image.ref.name": tag
        }
    })
}

/// All files of a layout holding `images`, with index.json listing `descriptors`.
fn layout(images: &[&Image], descriptors: Vec<serde_json::Value>) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".to_string(),
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": descriptors
            }))
            .unwrap(),
        ),
    ];
    for img in images {
        files.extend(img.files.iter().cloned());
    }
    files
}

fn write_dir(root: &Path, files: &[(String, Vec<u8>)]) {
    for (p, bytes) in files {
        let p = root.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
}

fn write_tar(path: &Path, files: &[(String, Vec<u8>)], prefix: &str) {
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    for (p, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}{p}"), &bytes[..])
            .unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn layout_directory_gives_the_manifest_digest() {
    let img = image(b"layer bytes");
    let tmp = tempfile::tempdir().unwrap();
    write_dir(tmp.path(), &layout(&[&img], vec![descriptor(&img, "1.0")]));
    assert_eq!(oci_digest(tmp.path()).unwrap(), img.manifest_hex);
    // The dispatcher routes "oci" here.
    let kind: ArtifactType = "oci".parse().unwrap();
    assert_eq!(
        digest(kind, tmp.path(), &DigestOptions::default()).unwrap(),
        img.manifest_hex
    );
}

#[test]
fn tarball_gives_the_same_digest_with_or_without_dot_slash_names() {
    let img = image(b"layer bytes");
    let files = layout(&[&img], vec![descriptor(&img, "1.0")]);
    let tmp = tempfile::tempdir().unwrap();
    for prefix in ["", "./"] {
        let tar = tmp.path().join(format!("img{}.tar", prefix.len()));
        write_tar(&tar, &files, prefix);
        assert_eq!(
            oci_digest(&tar).unwrap(),
            img.manifest_hex,
            "prefix {prefix:?}"
        );
    }
}

#[test]
fn docker_save_tarball_from_docker_25_uses_its_index() {
    // Docker 25+ writes an OCI layout plus the legacy manifest.json and repositories.
    let img = image(b"layer bytes");
    let mut files = layout(&[&img], vec![descriptor(&img, "1.0")]);
    files.push((
        "manifest.json".into(),
        br#"[{"Config":"blobs/sha256/x","RepoTags":["app:1.0"],"Layers":[]}]"#.to_vec(),
    ));
    files.push(("repositories".into(), br#"{"app":{"1.0":"x"}}"#.to_vec()));
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("save.tar");
    write_tar(&tar, &files, "");
    assert_eq!(oci_digest(&tar).unwrap(), img.manifest_hex);
}

#[test]
fn same_manifest_under_two_tags_is_not_ambiguous() {
    let img = image(b"layer bytes");
    let tmp = tempfile::tempdir().unwrap();
    write_dir(
        tmp.path(),
        &layout(
            &[&img],
            vec![descriptor(&img, "1.0"), descriptor(&img, "latest")],
        ),
    );
    assert_eq!(oci_digest(tmp.path()).unwrap(), img.manifest_hex);
}

#[test]
fn several_manifests_are_listed_unless_one_is_chosen_by_ref() {
    let a = image(b"layer a");
    let b = image(b"layer b");
    let tmp = tempfile::tempdir().unwrap();
    write_dir(
        tmp.path(),
        &layout(&[&a, &b], vec![descriptor(&a, "a"), descriptor(&b, "b")]),
    );
    let msg = oci_digest(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("2 different manifests"), "{msg}");
    assert!(
        msg.contains(&a.manifest_hex) && msg.contains(&b.manifest_hex),
        "{msg}"
    );
    assert!(msg.contains("docker.io/library/app:b"), "{msg}");
    assert_eq!(oci_digest_for_ref(tmp.path(), "b").unwrap(), b.manifest_hex);
    assert_eq!(
        oci_digest_for_ref(tmp.path(), "docker.io/library/app:a").unwrap(),
        a.manifest_hex
    );
    let opts = DigestOptions {
        oci_ref: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(
        digest(ArtifactType::Oci, tmp.path(), &opts).unwrap(),
        a.manifest_hex
    );
    let msg = oci_digest_for_ref(tmp.path(), "c").unwrap_err().to_string();
    assert!(
        msg.contains("no manifest in index.json is named 'c'"),
        "{msg}"
    );
}

#[test]
fn multi_platform_index_gives_the_index_digest() {
    let amd = image(b"amd64 layer");
    let index_blob = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor(&amd, "x")]
    }))
    .unwrap();
    let index_hex = sha(&index_blob);
    let mut files = layout(
        &[&amd],
        vec![json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{index_hex}"),
            "size": index_blob.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"}
        })],
    );
    files.push((format!("blobs/sha256/{index_hex}"), index_blob));
    let tmp = tempfile::tempdir().unwrap();
    write_dir(tmp.path(), &files);
    assert_eq!(oci_digest(tmp.path()).unwrap(), index_hex);
}

#[test]
fn legacy_docker_save_tarball_is_refused_with_an_explanation() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("old.tar");
    write_tar(
        &tar,
        &[
            (
                "manifest.json".into(),
                br#"[{"Config":"abc.json","RepoTags":["app:1"],"Layers":["l/layer.tar"]}]"#
                    .to_vec(),
            ),
            ("abc.json".into(), b"{}".to_vec()),
        ],
        "",
    );
    let msg = oci_digest(&tar).unwrap_err().to_string();
    assert!(msg.contains("older than 25"), "{msg}");
    assert!(msg.contains("records no manifest digest"), "{msg}");
}

#[test]
fn compressed_tarball_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let gz = tmp.path().join("img.tar.gz");
    fs::write(&gz, [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]).unwrap();
    let msg = oci_digest(&gz).unwrap_err().to_string();
    assert!(msg.contains("gzip-compressed"), "{msg}");
}

#[test]
fn corrupt_manifest_blob_is_detected() {
    let img = image(b"layer bytes");
    let tmp = tempfile::tempdir().unwrap();
    write_dir(tmp.path(), &layout(&[&img], vec![descriptor(&img, "1.0")]));
    fs::write(
        tmp.path()
            .join(format!("blobs/sha256/{}", img.manifest_hex)),
        b"tampered",
    )
    .unwrap();
    let msg = oci_digest(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("is corrupt"), "{msg}");
}

#[test]
fn not_a_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = oci_digest(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.ends_with("not an OCI image layout: no index.json"),
        "{msg}"
    );
    let junk = tmp.path().join("junk.tar");
    fs::write(&junk, vec![b'x'; 2000]).unwrap();
    assert!(oci_digest(&junk).is_err());
    fs::write(
        tmp.path().join("index.json"),
        r#"{"manifests":[{"digest":"sha512:abc"}]}"#,
    )
    .unwrap();
    let msg = oci_digest(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("is not a sha256 digest"), "{msg}");
}
