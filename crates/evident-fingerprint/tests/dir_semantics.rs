//! Directory fingerprint semantics: walk order, symlinks, errors, exclusions and the
//! `.kosli_ignore` rules. Where a hex value is pinned, its source is given; elsewhere
//! the tests state equivalences between trees, or compare with `model`, a plain
//! sequential implementation of the algorithm's pseudo-code written for these tests.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{build, fp, opts, tree, E::*};
use evident_fingerprint::{dir_digest, DirOptions, FingerprintError, Progress};
use sha2::{Digest, Sha256};

fn hex_sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Reference model: recursive, sequential, in memory, no exclusions.
fn model(root: &Path) -> String {
    fn walk(dir: &Path, acc: &mut String) {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let p = dir.join(&name);
            acc.push_str(&hex_sha(name.as_bytes()));
            let lmeta = fs::symlink_metadata(&p).unwrap();
            let meta = fs::metadata(&p).unwrap();
            if lmeta.file_type().is_symlink() && meta.is_dir() {
                acc.push_str(&hex_sha(fs::read_link(&p).unwrap().as_os_str().as_bytes()));
            } else if meta.is_dir() {
                walk(&p, acc);
            } else {
                acc.push_str(&hex_sha(&fs::read(&p).unwrap()));
            }
        }
    }
    let mut acc = String::new();
    walk(root, &mut acc);
    hex_sha(acc.as_bytes())
}

// ---- walk order and structure ----

#[test]
fn entries_are_ordered_bytewise_by_name_per_directory() {
    // '.' (0x2E) < '/' is irrelevant: ordering is per directory level, so `a` (a
    // directory) comes before `a.txt`, and upper case before lower case.
    let (_t, root) = tree(
        "t",
        &[F("a.txt", "1"), F("a/z", "2"), F("B", "3"), F("a-b", "4")],
    );
    let acc = [
        hex_sha(b"B"),
        hex_sha(b"3"),
        hex_sha(b"a"),
        hex_sha(b"z"),
        hex_sha(b"2"),
        hex_sha(b"a-b"),
        hex_sha(b"4"),
        hex_sha(b"a.txt"),
        hex_sha(b"1"),
    ]
    .concat();
    assert_eq!(fp(&root, &[]), hex_sha(acc.as_bytes()));
}

#[test]
fn empty_directories_count_by_name() {
    let (_t, root) = tree("t", &[D("empty"), F("f", "x")]);
    let (_t2, root2) = tree("t", &[F("f", "x")]);
    assert_ne!(fp(&root, &[]), fp(&root2, &[]));
    assert_eq!(fp(&root, &[]), model(&root));
}

#[test]
fn deeply_nested_tree_matches_the_model() {
    let mut path = String::new();
    let mut entries = Vec::new();
    for i in 0..40 {
        path.push_str(&format!("d{i}/"));
        entries.push(format!("{path}file{i}"));
    }
    let (_t, root) = tree("t", &[]);
    for (i, e) in entries.iter().enumerate() {
        build(&root, &[F(e, &"x".repeat(i))]);
    }
    assert_eq!(fp(&root, &[]), model(&root));
}

#[test]
fn many_files_hashed_in_parallel_give_the_sequential_result() {
    let (_t, root) = tree("t", &[]);
    for i in 0..600u32 {
        let content: Vec<u8> = (0..(i * 37 % 5000)).map(|j| (j * 7 + i) as u8).collect();
        let p = root.join(format!("d{}/f{i}", i % 13));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
    let progress = Progress::new();
    let digest = dir_digest(
        &root,
        &DirOptions {
            excludes: vec![],
            progress: Some(progress.clone()),
        },
    )
    .unwrap();
    assert_eq!(digest, model(&root));
    assert!(progress.walk_finished());
    assert_eq!(progress.files_total(), 600);
    assert_eq!(progress.files_done(), 600);
    let bytes: u64 = (0..600u64).map(|i| i * 37 % 5000).sum();
    assert_eq!(progress.bytes_total(), bytes);
    assert_eq!(progress.bytes_done(), bytes);
}

#[test]
fn non_utf8_file_names_hash_their_raw_bytes() {
    let (_t, root) = tree("t", &[]);
    fs::write(root.join(OsStr::from_bytes(b"caf\xe9")), "latin-1 name").unwrap();
    fs::write(root.join("café"), "utf-8 name").unwrap();
    // Pinned from Kosli's DirSha256 code compiled with Go (Go strings are raw bytes).
    let want = "a543f7505ac5aa3151ca6db2b6d58aa8ddf7b87995b119d80389b60f4fbccfe3";
    assert_eq!(fp(&root, &[]), want);
    let acc = [
        hex_sha("café".as_bytes()),
        hex_sha(b"utf-8 name"),
        hex_sha(b"caf\xe9"),
        hex_sha(b"latin-1 name"),
    ]
    .concat();
    assert_eq!(hex_sha(acc.as_bytes()), want);
}

// ---- symbolic links ----

#[test]
fn symlink_to_file_counts_as_the_file_content_under_the_link_name() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("target.txt"), "shared").unwrap();
    let target = outside.path().join("target.txt");
    let (_t, linked) = tree("t", &[L("conf", target.to_str().unwrap())]);
    let (_t2, copied) = tree("t", &[F("conf", "shared")]);
    assert_eq!(fp(&linked, &[]), fp(&copied, &[]));
}

#[test]
fn symlink_to_dir_hashes_the_link_text_not_the_content() {
    let (_t, root) = tree("t", &[F("real/a", "1"), L("alias", "real")]);
    let before = fp(&root, &[]);
    let acc = [
        hex_sha(b"alias"),
        hex_sha(b"real"),
        hex_sha(b"real"),
        hex_sha(b"a"),
        hex_sha(b"1"),
    ]
    .concat();
    assert_eq!(before, hex_sha(acc.as_bytes()));
    // Content behind the link is not descended into: adding a file outside the walked
    // part changes the real dir only.
    let (_t2, other) = tree("t", &[F("real/a", "1"), L("alias", "./real")]);
    assert_ne!(fp(&other, &[]), before, "link text is hashed verbatim");
}

#[test]
fn broken_symlink_is_an_error_naming_the_link() {
    let (_t, root) = tree("t", &[F("ok", "1"), L("sub/dangling", "missing-target")]);
    let err = dir_digest(&root, &opts(&[])).unwrap_err();
    assert!(
        matches!(err, FingerprintError::BrokenSymlink { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("sub/dangling"), "{msg}");
    assert!(msg.contains("broken symbolic link"), "{msg}");
}

#[test]
fn excluded_broken_symlink_is_fine() {
    let (_t, root) = tree("t", &[F("ok", "1"), L("dangling", "missing-target")]);
    let (_t2, clean) = tree("t", &[F("ok", "1")]);
    assert_eq!(fp(&root, &["dangling"]), fp(&clean, &[]));
}

#[test]
fn symlink_loop_is_an_error_naming_the_link() {
    let (_t, root) = tree("t", &[L("loop", "loop")]);
    let msg = dir_digest(&root, &opts(&[])).unwrap_err().to_string();
    assert!(msg.contains("loop"), "{msg}");
}

#[test]
fn symlinked_root_is_followed() {
    let (_t, root) = tree("t", &[F("a", "1"), F("d/b", "2")]);
    let link = root.parent().unwrap().join("link");
    std::os::unix::fs::symlink(&root, &link).unwrap();
    assert_eq!(fp(&link, &[]), fp(&root, &[]));
}

// ---- errors ----

#[test]
fn root_must_exist_and_be_a_directory() {
    let (_t, root) = tree("t", &[F("file", "x")]);
    let err = dir_digest(root.join("file"), &opts(&[])).unwrap_err();
    assert!(matches!(err, FingerprintError::NotADirectory { .. }));
    assert!(
        err.to_string().ends_with("file is not a directory"),
        "{err}"
    );
    let err = dir_digest(root.join("nope"), &opts(&[])).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// True when the current user can read a file whatever its mode (root can), in which
/// case permission tests cannot observe a refusal and skip their assertion.
fn reads_despite_mode(p: &Path) -> bool {
    fs::File::open(p).is_ok()
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, root) = tree("t", &[F("a", "1"), F("secret/key", "k")]);
    let key = root.join("secret/key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o000)).unwrap();
    if reads_despite_mode(&key) {
        eprintln!("skipped: running as a user (root) that can read mode-000 files");
        return;
    }
    let msg = dir_digest(&root, &opts(&[])).unwrap_err().to_string();
    assert!(msg.contains("secret/key"), "{msg}");
    assert!(msg.contains("ermission denied"), "{msg}");
    // Excluding it makes the tree fingerprintable again.
    assert!(dir_digest(&root, &opts(&["secret/key"])).is_ok());
}

#[test]
fn unreadable_directory_is_an_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, root) = tree("t", &[F("locked/f", "1")]);
    let locked = root.join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let readable = fs::read_dir(&locked).is_ok();
    let result = dir_digest(&root, &opts(&[]));
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    if readable {
        eprintln!("skipped: running as a user (root) that can list mode-000 directories");
        return;
    }
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("locked"), "{msg}");
}

#[test]
fn fifo_is_refused_instead_of_blocking() {
    let (_t, root) = tree("t", &[F("a", "1")]);
    let fifo = root.join("pipe");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: no mkfifo command");
            return;
        }
    }
    let err = dir_digest(&root, &opts(&[])).unwrap_err();
    assert!(
        matches!(err, FingerprintError::SpecialFile { kind: "fifo", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("pipe"), "{err}");
    // Excluded, it is not touched.
    assert!(dir_digest(&root, &opts(&["pipe"])).is_ok());
}

// ---- exclusions ----

#[test]
fn pattern_spellings_are_cleaned_against_the_root() {
    let (_t, root) = tree("t", &[F("keep", "1"), F("logs/a", "2")]);
    let want = fp(&root, &["logs"]);
    for spelling in ["/logs", "./logs", "logs/", "logs//", "x/../logs"] {
        assert_eq!(fp(&root, &[spelling]), want, "{spelling}");
    }
    assert_ne!(fp(&root, &[]), want);
    // Joining cleans lexically, so a detour through the parent that comes back in
    // still matches; a path outside the root never matches a walked path.
    assert_eq!(fp(&root, &["../t/logs"]), want);
    fs::create_dir_all(root.parent().unwrap().join("elsewhere/logs")).unwrap();
    assert_eq!(fp(&root, &["../elsewhere/logs"]), fp(&root, &[]));
}

#[test]
fn star_does_not_cross_slash_and_matches_dotfiles() {
    let (_t, root) = tree(
        "t",
        &[
            F(".env", "s"),
            F("a.log", "l"),
            F("d/b.log", "l"),
            F("k", "1"),
        ],
    );
    let (_t2, want) = tree("t", &[F("d/b.log", "l"), F("k", "1")]);
    assert_eq!(fp(&root, &["*.log", ".*"]), fp(&want, &[]));
}

#[test]
fn question_mark_classes_and_escapes() {
    let (_t, root) = tree(
        "t",
        &[
            F("a1", "1"),
            F("a2", "2"),
            F("ab", "3"),
            F("*", "4"),
            F("c", "5"),
        ],
    );
    let (_t2, want) = tree("t", &[F("ab", "3"), F("c", "5")]);
    assert_eq!(fp(&root, &["a[0-9]", "\\*"]), fp(&want, &[]));
    let (_t3, want2) = tree("t", &[F("*", "4"), F("c", "5")]);
    assert_eq!(fp(&root, &["a?"]), fp(&want2, &[]));
}

#[test]
fn double_star_slash_name_excludes_deeper_matches_and_root_level_content_only() {
    // Kosli quirk (research §1.3): `**/x` expands to the literal `root//x`, which
    // never equals the walked `root/x`, but x's children are listed as `root/x/...`.
    let (_t, root) = tree("t", &[F("x/inner", "1"), F("a/x", "2"), F("y", "3")]);
    let (_t2, want) = tree("t", &[D("x"), D("a"), F("y", "3")]);
    assert_eq!(fp(&root, &["**/x"]), fp(&want, &[]));
    // Adding `x` excludes the root-level one too.
    let (_t3, want_all) = tree("t", &[D("a"), F("y", "3")]);
    assert_eq!(fp(&root, &["x", "**/x"]), fp(&want_all, &[]));
}

#[test]
fn double_star_wildcard_matches_at_the_root_too() {
    let (_t, root) = tree(
        "t",
        &[
            F("a.log", "1"),
            F("b/c.log", "2"),
            F("b/d/e.log", "3"),
            F("k", "4"),
        ],
    );
    let (_t2, want) = tree("t", &[D("b/d"), F("k", "4")]);
    assert_eq!(fp(&root, &["**/*.log"]), fp(&want, &[]));
}

#[test]
fn double_star_dot_log_needs_a_sibling_without_the_suffix() {
    // `**.log` globs `root/` + every descendant, then appends `.log` literally.
    let (_t, root) = tree(
        "t",
        &[F("app", "1"), F("app.log", "2"), F("other.log", "3")],
    );
    let (_t2, want) = tree("t", &[F("app", "1"), F("other.log", "3")]);
    assert_eq!(fp(&root, &["**.log"]), fp(&want, &[]));
}

#[test]
fn dir_slash_double_star_keeps_the_dir_name() {
    let (_t, root) = tree("t", &[F("logs/a", "1"), F("logs/sub/b", "2"), F("k", "3")]);
    let (_t2, want) = tree("t", &[D("logs"), F("k", "3")]);
    assert_eq!(fp(&root, &["logs/**"]), fp(&want, &[]));
}

#[test]
fn excluded_directory_takes_its_subtree() {
    let (_t, root) = tree("t", &[F("d/a", "1"), F("d/e/f", "2"), F("k", "3")]);
    let (_t2, want) = tree("t", &[F("k", "3")]);
    assert_eq!(fp(&root, &["d"]), fp(&want, &[]));
}

#[test]
fn patterns_only_match_paths_existing_before_the_walk() {
    let (_t, root) = tree("t", &[F("k", "1")]);
    assert_eq!(fp(&root, &["does-not-exist", "nor/*/this"]), fp(&root, &[]));
}

#[test]
fn malformed_pattern_is_an_error_naming_it() {
    let (_t, root) = tree("t", &[F("k", "1")]);
    let err = dir_digest(&root, &opts(&["["])).unwrap_err();
    assert!(
        matches!(err, FingerprintError::BadPattern { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid exclude pattern '[' (from --exclude): syntax error in pattern"
    );
}

#[test]
fn malformed_rule_in_ignore_file_names_the_file() {
    let (_t, root) = tree("t", &[F(".kosli_ignore", "ok\n[a-\n"), F("k", "1")]);
    let msg = dir_digest(&root, &opts(&[])).unwrap_err().to_string();
    assert!(msg.contains("'[a-'"), "{msg}");
    assert!(msg.contains(".kosli_ignore"), "{msg}");
}

// ---- .kosli_ignore ----

#[test]
fn ignore_file_rules_comments_and_blank_lines() {
    let (_t, root) = tree(
        "t",
        &[
            F(
                ".kosli_ignore",
                "# build output\n\n  dist  # trailing comment\r\n*.tmp\n",
            ),
            F("dist/app.js", "1"),
            F("x.tmp", "2"),
            F("src/main.rs", "3"),
        ],
    );
    let (_t2, want) = tree(
        "t",
        &[
            F(
                ".kosli_ignore",
                "# build output\n\n  dist  # trailing comment\r\n*.tmp\n",
            ),
            F("src/main.rs", "3"),
        ],
    );
    assert_eq!(fp(&root, &[]), fp(&want, &[]));
}

#[test]
fn ignore_file_cannot_hide_itself_or_an_added_file() {
    // kosli-dev/server#6785: a deployed tree adds a backdoor and an ignore file that
    // lists both. Older Kosli gave it the approved fingerprint; the ignore file is now
    // protected, so the fingerprints differ.
    for rules in [
        ".kosli_ignore\napp/backdoor.js",
        "*ignore*\napp/backdoor.js",
        ".kosli*\napp/backdoor.js",
    ] {
        let (_a, approved) = tree("approved", &[F("app/index.js", "console.log(1)")]);
        let (_d, deployed) = tree(
            "deployed",
            &[
                F("app/index.js", "console.log(1)"),
                F("app/backdoor.js", "BACKDOOR"),
                F(".kosli_ignore", rules),
            ],
        );
        assert_ne!(fp(&approved, &[]), fp(&deployed, &[]), "rules {rules:?}");
        // The backdoor itself is excluded; only the ignore file makes the difference.
        let (_e, expected) = tree(
            "e",
            &[
                F("app/index.js", "console.log(1)"),
                F(".kosli_ignore", rules),
            ],
        );
        assert_eq!(fp(&deployed, &[]), fp(&expected, &[]), "rules {rules:?}");
        // An explicit exclude of the ignore file is the (documented) migration path:
        // the file leaves the fingerprint while its rules still apply.
        assert_eq!(
            fp(&approved, &[]),
            fp(&deployed, &[".kosli_ignore"]),
            "rules {rules:?}"
        );
    }
}

#[test]
fn nested_ignore_files_are_ordinary_files() {
    let (_t, root) = tree("t", &[F("sub/.kosli_ignore", "x"), F("sub/x", "1")]);
    assert_eq!(fp(&root, &[]), model(&root));
    let (_t2, want) = tree("t", &[F("sub/x", "1")]);
    assert_eq!(fp(&root, &["sub/.kosli_ignore"]), fp(&want, &[]));
}

#[test]
fn a_directory_named_kosli_ignore_is_not_an_ignore_file() {
    let (_t, root) = tree("t", &[F(".kosli_ignore/x", "1"), F("k", "2")]);
    assert_eq!(fp(&root, &[]), model(&root));
    let (_t2, want) = tree("t", &[F("k", "2")]);
    assert_eq!(fp(&root, &[".kosli_ignore"]), fp(&want, &[]));
}
