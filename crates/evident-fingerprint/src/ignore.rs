//! The `.kosli_ignore` file at the root of a directory artifact.
//!
//! Behaviour follows the newer Kosli CLI (kosli-dev/server#6785): the root ignore file
//! is located through a directory listing, its rules are read from that exact path,
//! and that path is *protected*: its own rules cannot exclude it (otherwise a tree could
//! hide an added file by listing both the file and the ignore file). An explicit
//! `--exclude` that names the ignore file still excludes it. Nested `.kosli_ignore`
//! files are ordinary files.

use std::fs;
use std::io::{self, BufRead, BufReader};

use crate::error::{FingerprintError, Result};
use crate::gopath::{bytes_path, join, os_bytes};

/// The name of the ignore file.
pub const IGNORE_FILE_NAME: &str = ".kosli_ignore";

/// Returns the Go path string of the root's ignore file as the walk will emit it, or
/// `None` when there is none. Port of Kosli's `ignoreFilePathInTree`: an exact
/// `.kosli_ignore` wins over a case-folded spelling, and directories are not counted.
pub(crate) fn locate(root: &[u8]) -> Result<Option<Vec<u8>>> {
    let candidate = join(root, IGNORE_FILE_NAME.as_bytes());
    if let Err(e) = fs::symlink_metadata(bytes_path(&candidate)) {
        if e.kind() == io::ErrorKind::NotFound {
            return Ok(None);
        }
        return Err(FingerprintError::io("stat", bytes_path(&candidate), e));
    }
    let root_path = bytes_path(root);
    let list_err = |e| FingerprintError::io("list directory", &root_path, e);
    let mut names = Vec::new();
    for entry in fs::read_dir(&root_path).map_err(list_err)? {
        let entry = entry.map_err(list_err)?;
        let is_dir = entry.file_type().map_err(list_err)?.is_dir();
        if !is_dir {
            names.push(os_bytes(&entry.file_name()));
        }
    }
    names.sort();
    if names.iter().any(|n| n == IGNORE_FILE_NAME.as_bytes()) {
        return Ok(Some(join(root, IGNORE_FILE_NAME.as_bytes())));
    }
    Ok(names
        .iter()
        .find(|n| equal_fold_ignore_name(n))
        .map(|n| join(root, n)))
}

/// Go's `strings.EqualFold(name, ".kosli_ignore")`. Besides ASCII case, Unicode simple
/// folding adds the Kelvin sign (U+212A) for `k` and the long s (U+017F) for `s`.
fn equal_fold_ignore_name(name: &[u8]) -> bool {
    let Ok(name) = std::str::from_utf8(name) else {
        return false;
    };
    let mut got = name.chars();
    for want in IGNORE_FILE_NAME.chars() {
        let Some(c) = got.next() else {
            return false;
        };
        let ok = c.eq_ignore_ascii_case(&want)
            || (want == 'k' && c == '\u{212A}')
            || (want == 's' && c == '\u{017F}');
        if !ok {
            return false;
        }
    }
    got.next().is_none()
}

/// Reads the rules of an ignore file (port of Kosli's `excludePathsFromFile`): one per
/// line, a trailing `\r` dropped, everything from the first `#` a comment, whitespace
/// trimmed, blank lines skipped. A missing file has no rules; a path that turns out to
/// be a directory (a symlink to one) yields none either, as in Go.
pub(crate) fn read_rules(path: &[u8]) -> Result<Vec<Vec<u8>>> {
    let p = bytes_path(path);
    let file = match fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FingerprintError::io("open", p, e)),
    };
    let mut reader = BufReader::new(file);
    let mut rules = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            // Go's bufio.Scanner stops silently on a read error (EISDIR for a directory).
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => break,
            Err(e) => return Err(FingerprintError::io("read", p, e)),
        }
        if let Some(rule) = parse_line(&line) {
            rules.push(rule);
        }
    }
    Ok(rules)
}

/// One line of an ignore file to a rule, or `None` for a blank or comment line.
fn parse_line(line: &[u8]) -> Option<Vec<u8>> {
    let mut line = line.strip_suffix(b"\n").unwrap_or(line);
    line = line.strip_suffix(b"\r").unwrap_or(line);
    let before_comment = match line.iter().position(|&b| b == b'#') {
        Some(i) => &line[..i],
        None => line,
    };
    let trimmed = go_trim_space(before_comment);
    (!trimmed.is_empty()).then(|| trimmed.to_vec())
}

/// Go's `strings.TrimSpace`: strips Unicode white space from both ends; invalid UTF-8
/// bytes are not space.
fn go_trim_space(mut s: &[u8]) -> &[u8] {
    while let Some((c, n)) = first_char(s) {
        if !c.is_whitespace() {
            break;
        }
        s = &s[n..];
    }
    while let Some((c, n)) = last_char(s) {
        if !c.is_whitespace() {
            break;
        }
        s = &s[..s.len() - n];
    }
    s
}

fn first_char(s: &[u8]) -> Option<(char, usize)> {
    let (r, n) = crate::gomatch::decode_rune(s);
    if n == 0 || (r == 0xFFFD && n == 1) {
        return None;
    }
    char::from_u32(r).map(|c| (c, n))
}

fn last_char(s: &[u8]) -> Option<(char, usize)> {
    (1..=s.len().min(4)).find_map(|n| {
        let tail = &s[s.len() - n..];
        std::str::from_utf8(tail)
            .ok()
            .and_then(|t| t.chars().next().filter(|c| c.len_utf8() == n))
            .map(|c| (c, n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<String> {
        parse_line(s.as_bytes()).map(|r| String::from_utf8(r).unwrap())
    }

    #[test]
    fn lines_are_trimmed_and_comments_dropped() {
        assert_eq!(rule("logs\n"), Some("logs".into()));
        assert_eq!(rule("logs\r\n"), Some("logs".into()));
        assert_eq!(
            rule("  */logs # end of line comment"),
            Some("*/logs".into())
        );
        assert_eq!(rule("# whole line"), None);
        assert_eq!(rule("   \t"), None);
        assert_eq!(rule("\u{a0}x\u{a0}"), Some("x".into()));
        assert_eq!(rule("a#b#c"), Some("a".into()));
    }

    #[test]
    fn folded_names() {
        assert!(equal_fold_ignore_name(b".KOSLI_IGNORE"));
        assert!(equal_fold_ignore_name(".\u{212A}osli_ignore".as_bytes()));
        assert!(!equal_fold_ignore_name(b".kosli_ignore2"));
        assert!(!equal_fold_ignore_name(b".kosli-ignore"));
    }
}
