//! Paths as Go sees them: byte strings, cleaned and joined by Go's `path/filepath` rules.
//!
//! Kosli decides what to exclude by comparing path *strings* for exact equality, so
//! reproducing its fingerprints means building exactly the strings Go builds. On Unix
//! a Go string is the raw bytes of the path; this module converts between those bytes
//! and `OsStr`/`Path` and ports `filepath.Clean` and `filepath.Join`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The raw bytes of an OS string (Unix), or its UTF-8 form elsewhere.
#[cfg(unix)]
pub(crate) fn os_bytes(s: &OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

/// The raw bytes of an OS string (Unix), or its UTF-8 form elsewhere.
#[cfg(not(unix))]
pub(crate) fn os_bytes(s: &OsStr) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}

/// The OS path whose raw bytes are `b`.
#[cfg(unix)]
pub(crate) fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(OsString::from_vec(b.to_vec()))
}

/// The OS path whose raw bytes are `b`.
#[cfg(not(unix))]
pub(crate) fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from(String::from_utf8_lossy(b).into_owned()))
}

/// The raw bytes of a path.
pub(crate) fn path_bytes(p: &Path) -> Vec<u8> {
    os_bytes(p.as_os_str())
}

/// Port of Go's `filepath.Clean` for Unix: the shortest equivalent path by purely
/// lexical processing (collapse `//`, drop `.`, resolve `..` against earlier elements).
pub(crate) fn clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let n = path.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0usize, 0usize);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        if path[r] == b'/' || (path[r] == b'.' && (r + 1 == n || path[r + 1] == b'/')) {
            // Empty element or `.`.
            r += 1;
        } else if path[r] == b'.'
            && r + 1 < n
            && path[r + 1] == b'.'
            && (r + 2 == n || path[r + 2] == b'/')
        {
            r += 2;
            if out.len() > dotdot {
                let mut w = out.len() - 1;
                while w > dotdot && out[w] != b'/' {
                    w -= 1;
                }
                out.truncate(w);
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && path[r] != b'/' {
                out.push(path[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Port of Go's two-argument `filepath.Join(a, b)` for Unix.
pub(crate) fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Vec::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => {
            let mut s = Vec::with_capacity(a.len() + 1 + b.len());
            s.extend_from_slice(a);
            s.push(b'/');
            s.extend_from_slice(b);
            clean(&s)
        }
    }
}

/// `join(parent, name)` for an already clean `parent` and a plain entry `name`
/// (no `/`, not `.` or `..`), without re-cleaning: what `filepath.WalkDir` emits.
pub(crate) fn join_clean_child(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent == b"." {
        return name.to_vec();
    }
    let mut s = Vec::with_capacity(parent.len() + 1 + name.len());
    s.extend_from_slice(parent);
    if parent != b"/" {
        s.push(b'/');
    }
    s.extend_from_slice(name);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        String::from_utf8(clean(s.as_bytes())).unwrap()
    }

    #[test]
    fn clean_matches_go_examples() {
        // Cases from Go's own path/filepath tests.
        for (input, want) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("/abc/", "/abc"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("/../abc", "/abc"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ] {
            assert_eq!(c(input), want, "Clean({input:?})");
        }
    }

    #[test]
    fn join_cleans_like_go() {
        assert_eq!(join(b"root", b"**/x"), b"root/**/x");
        assert_eq!(join(b"root/", b"/logs/"), b"root/logs");
        assert_eq!(join(b".", b"logs"), b"logs");
        assert_eq!(join(b"root", b""), b"root");
        assert_eq!(join_clean_child(b"/", b"a"), b"/a");
        assert_eq!(join_clean_child(b".", b"a"), b"a");
        assert_eq!(join_clean_child(b"r/s", b"a"), b"r/s/a");
    }
}
