//! Helpers shared by the integration tests: build a directory tree from a list.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use evident_fingerprint::{dir_digest, DirOptions};
use tempfile::TempDir;

/// One entry of a test tree, by path relative to the root.
pub enum E<'a> {
    /// A file with this content.
    F(&'a str, &'a str),
    /// An (empty unless other entries go inside) directory.
    D(&'a str),
    /// A symbolic link with this target text.
    L(&'a str, &'a str),
}

/// Creates the entries under `root` (parents are created as needed).
pub fn build(root: &Path, entries: &[E<'_>]) {
    for e in entries {
        match e {
            E::F(p, content) => {
                let p = root.join(p);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, content).unwrap();
            }
            E::D(p) => fs::create_dir_all(root.join(p)).unwrap(),
            E::L(p, target) => {
                let p = root.join(p);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(target, p).unwrap();
            }
        }
    }
}

/// A new temporary directory holding a tree; the tree's root is `<tmp>/<name>`.
pub fn tree(name: &str, entries: &[E<'_>]) -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(name);
    fs::create_dir_all(&root).unwrap();
    build(&root, entries);
    (tmp, root)
}

/// The fingerprint of `root` with these excludes; panics on error.
pub fn fp(root: &Path, excludes: &[&str]) -> String {
    dir_digest(root, &opts(excludes)).unwrap()
}

pub fn opts(excludes: &[&str]) -> DirOptions {
    DirOptions {
        excludes: excludes.iter().map(|s| s.to_string()).collect(),
        progress: None,
    }
}
