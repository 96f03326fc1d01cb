//! Directory fingerprints, identical to Kosli's `DirSha256`.
//!
//! The algorithm (see `shared/research/kosli-cli.md` §1.2):
//!
//! 1. Exclusion patterns (from `--exclude` and the root `.kosli_ignore`) are expanded
//!    *before* the walk into the set of existing paths they match, with Go's glob
//!    semantics (see [`crate::glob`]); during the walk a path is excluded only if its
//!    Go path string is in that set (an excluded directory takes its subtree with it).
//! 2. The tree is walked depth-first, pre-order, each directory's entries in bytewise
//!    order of their names, without following symbolic links. The root is not hashed.
//! 3. For each entry the accumulator gets `hex(sha256(name))` (base name only), then:
//!    nothing more for a directory (its children follow); `hex(sha256(content))` for a
//!    file or a symlink to a file; `hex(sha256(link text))` for a symlink to a
//!    directory (not descended into). A broken symlink is an error.
//! 4. The fingerprint is `hex(sha256(accumulator))`.
//!
//! This implementation walks first, collecting only names and metadata, then hashes the
//! file contents in parallel (rayon) and assembles the accumulator in walk order, so the
//! result is deterministic and equal to the sequential algorithm.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, FileType};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{FingerprintError, Result};
use crate::file::{check_regular, hash_file, stat_error};
use crate::glob::{filepathx_glob, GlobError};
use crate::gopath::{bytes_path, clean, join, join_clean_child, os_bytes, path_bytes};
use crate::ignore;
use crate::progress::Progress;

/// Options for [`dir_digest`].
#[derive(Debug, Clone, Default)]
pub struct DirOptions {
    /// Exclusion patterns relative to the root, Kosli `--exclude` syntax: Go
    /// `filepath.Match` wildcards (`*`, `?`, `[...]`, `\`) plus `**`. See the crate docs
    /// for the exact (Kosli-compatible) semantics, quirks included.
    pub excludes: Vec<String>,
    /// Optional shared counters, updated while the fingerprint is computed, for a
    /// progress bar polled from another thread. ([`crate::digest`] also uses them for
    /// a `file` artifact.) Knowing the byte total costs one `stat` per file during
    /// the walk, which is skipped when this is `None`: on trees of many small files
    /// that is measurably faster.
    pub progress: Option<Arc<Progress>>,
}

/// The fingerprint of a directory tree, identical to Kosli's for the same tree and
/// exclusions (lowercase hex SHA-256).
///
/// * `root` is followed if it is a symbolic link. (Kosli's walk does not descend into
///   a symlinked root and so gives every such root the empty-tree fingerprint
///   `e3b0c442…`; that is a bug this crate does not reproduce.)
/// * A `.kosli_ignore` file in the root adds its rules to `opts.excludes`, and cannot
///   exclude itself (newer Kosli behaviour); an explicit exclude can.
/// * Errors name the path: unreadable files or directories, broken symlinks, paths
///   that vanish during the walk, FIFOs/sockets/devices, malformed patterns.
pub fn dir_digest(root: impl AsRef<Path>, opts: &DirOptions) -> Result<String> {
    let root = root.as_ref();
    let meta = fs::metadata(root).map_err(|e| stat_error(root, e))?;
    if !meta.is_dir() {
        return Err(FingerprintError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let progress = opts.progress.as_deref();
    let root_go = path_bytes(root);

    let ignore_file = ignore::locate(&root_go)?;
    let mut excluded = resolve_patterns(
        &root_go,
        opts.excludes.iter().map(|s| s.as_bytes().to_vec()),
        "--exclude",
    )?;
    let protected = match &ignore_file {
        Some(p) if !excluded.contains(p) => Some(p.clone()),
        _ => None,
    };
    if let Some(p) = &ignore_file {
        let rules = ignore::read_rules(p)?;
        let origin = bytes_path(p).display().to_string();
        excluded.extend(resolve_patterns(&root_go, rules, &origin)?);
    }

    let walk = walk(
        root,
        &clean(&root_go),
        &excluded,
        protected.as_deref(),
        progress,
    );
    if let Some(p) = progress {
        p.finish_walk();
    }
    let Walk { items, files } = walk?;

    let hashes = hash_all(&files, progress)?;
    let mut acc = Sha256::new();
    let mut hex_buf = [0u8; 64];
    for item in &items {
        let digest = match item {
            Item::Digest(d) => d,
            Item::File(i) => &hashes[*i],
        };
        // Infallible: the buffer is exactly twice the digest length.
        if hex::encode_to_slice(digest, &mut hex_buf).is_ok() {
            acc.update(hex_buf);
        }
    }
    Ok(hex::encode(acc.finalize()))
}

/// Expands patterns relative to `root` into the Go path strings they match.
fn resolve_patterns(
    root: &[u8],
    patterns: impl IntoIterator<Item = Vec<u8>>,
    origin: &str,
) -> Result<HashSet<Vec<u8>>> {
    let mut set = HashSet::new();
    for pattern in patterns {
        let found = filepathx_glob(&join(root, &pattern)).map_err(|e| match e {
            GlobError::Bad(_) => FingerprintError::BadPattern {
                pattern: String::from_utf8_lossy(&pattern).into_owned(),
                origin: origin.to_string(),
            },
            GlobError::Io { op, path, source } => {
                FingerprintError::io(op, bytes_path(&path), source)
            }
        })?;
        set.extend(found);
    }
    Ok(set)
}

/// One element of the accumulator, in walk order.
enum Item {
    /// A digest known at walk time (a name, or a symlink's target text).
    Digest([u8; 32]),
    /// The content digest of `files[i]`, computed after the walk.
    File(usize),
}

struct Walk {
    items: Vec<Item>,
    files: Vec<PathBuf>,
}

/// An entry found in a directory listing, not yet visited.
struct Pending {
    path: PathBuf,
    /// The path as Go's WalkDir spells it; only built when there are exclusions.
    go_path: Vec<u8>,
    name: Vec<u8>,
    file_type: FileType,
}

fn walk(
    root: &Path,
    root_go_clean: &[u8],
    excluded: &HashSet<Vec<u8>>,
    protected: Option<&[u8]>,
    progress: Option<&Progress>,
) -> Result<Walk> {
    let need_go_paths = !excluded.is_empty();
    let mut out = Walk {
        items: Vec::new(),
        files: Vec::new(),
    };
    let mut stack: Vec<Pending> = Vec::new();
    push_children(root, root_go_clean, need_go_paths, &mut stack)?;

    while let Some(entry) = stack.pop() {
        if need_go_paths
            && excluded.contains(&entry.go_path)
            && protected != Some(entry.go_path.as_slice())
        {
            // Skips a file, or a directory with its whole subtree (its children were
            // never listed).
            continue;
        }
        let name_digest = Item::Digest(Sha256::digest(&entry.name).into());
        let ft = entry.file_type;
        if ft.is_symlink() {
            let target = fs::metadata(&entry.path).map_err(|e| stat_error(&entry.path, e))?;
            out.items.push(name_digest);
            if target.is_dir() {
                let text = fs::read_link(&entry.path)
                    .map_err(|e| FingerprintError::io("read link", &entry.path, e))?;
                out.items.push(Item::Digest(
                    Sha256::digest(os_bytes(text.as_os_str())).into(),
                ));
            } else {
                check_regular(&entry.path, &target)?;
                add_file(&mut out, entry.path, target.len(), progress);
            }
        } else if ft.is_dir() {
            out.items.push(name_digest);
            push_children(&entry.path, &entry.go_path, need_go_paths, &mut stack)?;
        } else if ft.is_file() {
            // The size is only needed for the progress total; without progress the
            // extra stat per file is skipped (a vanished file still fails at open).
            let size = match progress {
                Some(_) => fs::symlink_metadata(&entry.path)
                    .map_err(|e| FingerprintError::io("stat", &entry.path, e))?
                    .len(),
                None => 0,
            };
            out.items.push(name_digest);
            add_file(&mut out, entry.path, size, progress);
        } else {
            let meta = fs::symlink_metadata(&entry.path)
                .map_err(|e| FingerprintError::io("stat", &entry.path, e))?;
            check_regular(&entry.path, &meta)?;
            // Became a regular file since it was listed: hash it like one.
            out.items.push(name_digest);
            add_file(&mut out, entry.path, meta.len(), progress);
        }
    }
    Ok(out)
}

fn add_file(out: &mut Walk, path: PathBuf, size: u64, progress: Option<&Progress>) {
    out.items.push(Item::File(out.files.len()));
    out.files.push(path);
    if let Some(p) = progress {
        p.add_file(size);
    }
}

/// Lists `dir` and pushes its entries on the stack so that they pop in bytewise
/// ascending name order.
fn push_children(
    dir: &Path,
    dir_go: &[u8],
    need_go_paths: bool,
    stack: &mut Vec<Pending>,
) -> Result<()> {
    let list_err = |e| FingerprintError::io("list directory", dir, e);
    let mut children: Vec<(Vec<u8>, OsString, FileType)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_err)? {
        let entry = entry.map_err(list_err)?;
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .map_err(|e| FingerprintError::io("stat", dir.join(&name), e))?;
        children.push((os_bytes(&name), name, file_type));
    }
    children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, os_name, file_type) in children.into_iter().rev() {
        let go_path = if need_go_paths {
            join_clean_child(dir_go, &name)
        } else {
            Vec::new()
        };
        stack.push(Pending {
            path: dir.join(os_name),
            go_path,
            name,
            file_type,
        });
    }
    Ok(())
}

/// Hashes every file in parallel; the result is indexed like `files`. On failure the
/// error of the first failing file in walk order is returned.
fn hash_all(files: &[PathBuf], progress: Option<&Progress>) -> Result<Vec<[u8; 32]>> {
    let failed = AtomicBool::new(false);
    let results: Vec<Option<Result<[u8; 32]>>> = files
        .par_iter()
        .map(|path| {
            if failed.load(Ordering::Relaxed) {
                return None;
            }
            let r = hash_file(path, progress.map(Progress::bytes_done_counter));
            match &r {
                Ok(_) => {
                    if let Some(p) = progress {
                        p.file_done();
                    }
                }
                Err(_) => failed.store(true, Ordering::Relaxed),
            }
            Some(r)
        })
        .collect();
    let mut hashes = Vec::with_capacity(results.len());
    let mut first_error = None;
    for r in results {
        match r {
            Some(Ok(h)) => hashes.push(h),
            Some(Err(e)) => {
                first_error = Some(e);
                break;
            }
            None => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None if hashes.len() == files.len() => Ok(hashes),
        // Unreachable: a skipped file implies an error was recorded.
        None => Err(FingerprintError::io(
            "hash",
            files.first().cloned().unwrap_or_default(),
            std::io::Error::other("internal error: a file was skipped without an error"),
        )),
    }
}
