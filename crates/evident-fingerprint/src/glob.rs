//! Ports of Go's `filepath.Glob` and of `yargevad/filepathx.Glob` (the `**` extension
//! Kosli uses), including the string quirks that decide Kosli's exclusions.
//!
//! These functions touch the filesystem exactly as the Go code does: `Glob` returns a
//! wildcard-free pattern unchanged (uncleaned) if `lstat` finds it, and lists
//! directories (following symlinks) to match wildcard elements, returning cleaned
//! joined paths. `filepathx` splits a pattern on `**`, globs each piece in turn, and
//! after each piece adds every descendant of every hit (via a `filepath.Walk`, which
//! does not follow symlinks and emits its root as given). Because literal hits keep
//! their spelling, `**/x` yields `root//x`, which never equals a walked path, while the
//! children of `x` are emitted cleaned and so do match.

use std::collections::HashSet;
use std::fs;
use std::io;

use crate::gomatch::{go_match, has_meta, BadPattern};
use crate::gopath::{bytes_path, join};

/// Why a glob failed.
#[derive(Debug)]
pub(crate) enum GlobError {
    /// The pattern is malformed.
    Bad(BadPattern),
    /// `filepathx` walks every hit and gives up on the first error (an unreadable directory).
    Io {
        op: &'static str,
        path: Vec<u8>,
        source: io::Error,
    },
}

impl From<BadPattern> for GlobError {
    fn from(e: BadPattern) -> Self {
        GlobError::Bad(e)
    }
}

/// `filepathx.Glob(pattern)`.
pub(crate) fn filepathx_glob(pattern: &[u8]) -> Result<Vec<Vec<u8>>, GlobError> {
    if !contains_double_star(pattern) {
        return go_glob(pattern);
    }
    let mut matches: Vec<Vec<u8>> = vec![Vec::new()];
    for piece in split_double_star(pattern) {
        let mut hits: Vec<Vec<u8>> = Vec::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for m in &matches {
            let mut p = m.clone();
            p.extend_from_slice(piece);
            for path in go_glob(&p)? {
                go_walk(&path, &mut |walked: &[u8]| {
                    if seen.insert(walked.to_vec()) {
                        hits.push(walked.to_vec());
                    }
                })?;
            }
        }
        matches = hits;
    }
    Ok(matches)
}

fn contains_double_star(p: &[u8]) -> bool {
    p.windows(2).any(|w| w == b"**")
}

/// Go's `strings.Split(pattern, "**")`.
fn split_double_star(p: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < p.len() {
        if p[i] == b'*' && p[i + 1] == b'*' {
            out.push(&p[start..i]);
            i += 2;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&p[start..]);
    out
}

/// Go's `filepath.Glob(pattern)` on Unix. I/O errors while listing are ignored, as in Go.
pub(crate) fn go_glob(pattern: &[u8]) -> Result<Vec<Vec<u8>>, GlobError> {
    // Check the pattern is well formed.
    go_match(pattern, b"")?;
    if !has_meta(pattern) {
        return Ok(match fs::symlink_metadata(bytes_path(pattern)) {
            Ok(_) => vec![pattern.to_vec()],
            Err(_) => Vec::new(),
        });
    }
    let split = pattern
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    let (dir, file) = pattern.split_at(split);
    let dir = clean_glob_path(dir);
    let mut matches = Vec::new();
    if !has_meta(&dir) {
        glob_dir(&dir, file, &mut matches)?;
        return Ok(matches);
    }
    // Prevent infinite recursion (Go issue 15879).
    if dir == pattern {
        return Err(GlobError::Bad(BadPattern));
    }
    for d in go_glob(&dir)? {
        glob_dir(&d, file, &mut matches)?;
    }
    Ok(matches)
}

/// Go's `cleanGlobPath` on Unix.
fn clean_glob_path(dir: &[u8]) -> Vec<u8> {
    match dir {
        b"" => b".".to_vec(),
        b"/" => dir.to_vec(),
        _ => dir[..dir.len() - 1].to_vec(),
    }
}

/// Go's unexported `glob(dir, pattern, matches)`: the entries of `dir` matching `pattern`.
fn glob_dir(dir: &[u8], pattern: &[u8], matches: &mut Vec<Vec<u8>>) -> Result<(), GlobError> {
    let path = bytes_path(dir);
    match fs::metadata(&path) {
        Ok(m) if m.is_dir() => {}
        _ => return Ok(()),
    }
    let Ok(rd) = fs::read_dir(&path) else {
        return Ok(());
    };
    let mut names: Vec<Vec<u8>> = rd
        .filter_map(|e| e.ok())
        .map(|e| crate::gopath::os_bytes(&e.file_name()))
        .collect();
    names.sort();
    for n in names {
        if go_match(pattern, &n)? {
            matches.push(join(dir, &n));
        }
    }
    Ok(())
}

/// Go's `filepath.Walk(root, fn)` where `fn` records every path and fails on any error.
/// Pre-order, lexical order, no symlink following; children are `Join`ed (cleaned).
fn go_walk(root: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<(), GlobError> {
    let meta = fs::symlink_metadata(bytes_path(root)).map_err(|source| GlobError::Io {
        op: "stat",
        path: root.to_vec(),
        source,
    })?;
    // Explicit stack instead of recursion, so deep trees cannot overflow the stack.
    let mut stack: Vec<(Vec<u8>, bool)> = vec![(root.to_vec(), meta.is_dir())];
    while let Some((path, is_dir)) = stack.pop() {
        visit(&path);
        if !is_dir {
            continue;
        }
        let rd = fs::read_dir(bytes_path(&path)).map_err(|source| GlobError::Io {
            op: "list directory",
            path: path.clone(),
            source,
        })?;
        let mut names = Vec::new();
        for e in rd {
            let e = e.map_err(|source| GlobError::Io {
                op: "list directory",
                path: path.clone(),
                source,
            })?;
            names.push(crate::gopath::os_bytes(&e.file_name()));
        }
        names.sort();
        for name in names.into_iter().rev() {
            let child = join(&path, &name);
            let m = fs::symlink_metadata(bytes_path(&child)).map_err(|source| GlobError::Io {
                op: "stat",
                path: child.clone(),
                source,
            })?;
            stack.push((child, m.is_dir()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_go_strings_split() {
        assert_eq!(split_double_star(b"a/**/b"), vec![&b"a/"[..], &b"/b"[..]]);
        assert_eq!(split_double_star(b"**"), vec![&b""[..], &b""[..]]);
        assert_eq!(split_double_star(b"a***b"), vec![&b"a"[..], &b"*b"[..]]);
        assert_eq!(split_double_star(b"x"), vec![&b"x"[..]]);
    }
}
