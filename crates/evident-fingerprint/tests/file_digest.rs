//! File fingerprints: SHA-256 of the bytes, streamed, symlinks followed.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use evident_fingerprint::{file_digest, sha256_hex, FingerprintError};

/// The digest `sha256sum` (or `openssl dgst`) prints for `path`, or None if neither
/// tool is installed.
fn external_sha256(path: &Path) -> Option<String> {
    if let Ok(out) = Command::new("sha256sum").arg(path).output() {
        if out.status.success() {
            return String::from_utf8(out.stdout)
                .ok()?
                .split_whitespace()
                .next()
                .map(str::to_string);
        }
    }
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8(out.stdout)
        .ok()?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

#[test]
fn large_file_matches_sha256sum() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.bin");
    let mut f = fs::File::create(&path).unwrap();
    // 64 MiB of xorshift noise, written in 1 MiB blocks.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..64 {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        f.write_all(&block).unwrap();
    }
    // Plus an odd tail so the last read is a partial buffer.
    f.write_all(b"tail").unwrap();
    drop(f);
    let Some(want) = external_sha256(&path) else {
        eprintln!("skipped: neither sha256sum nor openssl is installed");
        return;
    };
    assert_eq!(file_digest(&path).unwrap(), want);
}

#[test]
fn symlink_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("real"), "hello world!").unwrap();
    std::os::unix::fs::symlink("real", tmp.path().join("link")).unwrap();
    assert_eq!(
        file_digest(tmp.path().join("link")).unwrap(),
        "7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9"
    );
}

#[test]
fn helpers_agree() {
    assert_eq!(
        sha256_hex("hello world!"),
        "7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9"
    );
}

#[test]
fn errors_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let err = file_digest(tmp.path()).unwrap_err();
    assert!(
        matches!(err, FingerprintError::IsADirectory { .. }),
        "{err:?}"
    );

    let missing = tmp.path().join("missing.txt");
    let msg = file_digest(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("missing.txt") && msg.starts_with("cannot stat"),
        "{msg}"
    );

    std::os::unix::fs::symlink("nowhere", tmp.path().join("dangling")).unwrap();
    let err = file_digest(tmp.path().join("dangling")).unwrap_err();
    assert!(
        matches!(err, FingerprintError::BrokenSymlink { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("dangling"));
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("secret.key");
    fs::write(&p, "k").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads any file whatever its mode, so the refusal cannot be observed then.
    if fs::File::open(&p).is_ok() {
        eprintln!("skipped: running as a user (root) that can read mode-000 files");
        return;
    }
    let msg = file_digest(&p).unwrap_err().to_string();
    assert!(
        msg.contains("secret.key") && msg.contains("ermission denied"),
        "{msg}"
    );
}

#[test]
fn fifo_is_refused_instead_of_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("pipe");
    match Command::new("mkfifo").arg(&p).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: no mkfifo command");
            return;
        }
    }
    let err = file_digest(&p).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a fifo, not a regular file: it cannot be fingerprinted",
            p.display()
        )
    );
}

#[test]
fn progress_reports_the_file_size_before_and_the_bytes_while_hashing() {
    use evident_fingerprint::{
        digest, file_digest_with_progress, ArtifactType, DigestOptions, DirOptions, Progress,
    };
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("f");
    fs::write(&p, vec![7u8; 3 << 20]).unwrap();
    let progress = Progress::new();
    let d = file_digest_with_progress(&p, Some(&progress)).unwrap();
    assert_eq!(d, file_digest(&p).unwrap());
    assert!(progress.walk_finished());
    assert_eq!((progress.files_total(), progress.files_done()), (1, 1));
    assert_eq!(
        (progress.bytes_total(), progress.bytes_done()),
        (3 << 20, 3 << 20)
    );
    // The dispatcher passes the dir options' counters on for a file artifact too.
    let progress = Progress::new();
    let opts = DigestOptions {
        dir: DirOptions {
            excludes: vec![],
            progress: Some(progress.clone()),
        },
        ..Default::default()
    };
    assert_eq!(digest(ArtifactType::File, &p, &opts).unwrap(), d);
    assert_eq!(progress.bytes_done(), 3 << 20);
}
