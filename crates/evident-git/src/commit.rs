//! The commit record evident indexes, and the refs that point into a repository.

use serde::{Deserialize, Serialize};

/// One commit, with every field git stores about it.
///
/// Text fields are UTF-8: git re-encodes messages and names that declare an `encoding`
/// header, and bytes that are still not UTF-8 (an old Latin-1 author) are decoded lossily
/// (U+FFFD) instead of failing the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Full object name: 40 hex digits (64 in a SHA-256 repository).
    pub sha: String,
    /// Parent object names, first parent first; empty for a root commit.
    pub parents: Vec<String>,
    /// Author name.
    pub author_name: String,
    /// Author email, without the angle brackets.
    pub author_email: String,
    /// Author time, seconds since the Unix epoch.
    pub author_time: i64,
    /// Author's UTC offset in minutes (e.g. -420 for `-0700`).
    pub author_offset_minutes: i32,
    /// Committer name.
    pub committer_name: String,
    /// Committer email, without the angle brackets.
    pub committer_email: String,
    /// Committer time, seconds since the Unix epoch.
    pub committer_time: i64,
    /// Committer's UTC offset in minutes.
    pub committer_offset_minutes: i32,
    /// The full message as git stores it (subject, blank line, body, trailing newline);
    /// empty for a commit made with `--allow-empty-message -m ''`.
    pub message: String,
    /// Full names of the branches and tags pointing at this commit (`refs/heads/main`,
    /// `refs/tags/v1.0` for a lightweight or annotated tag), sorted.
    pub refs: Vec<String>,
}

impl Commit {
    /// The subject as `git log --format=%s` shows it: the first paragraph, lines joined by spaces.
    pub fn subject(&self) -> String {
        let mut subject = String::new();
        for line in self.message.lines().skip_while(|l| l.trim().is_empty()) {
            let line = line.trim();
            if line.is_empty() {
                break;
            }
            if !subject.is_empty() {
                subject.push(' ');
            }
            subject.push_str(line);
        }
        subject
    }

    /// The first 7 hex digits of the sha, for display.
    pub fn short_sha(&self) -> &str {
        &self.sha[..self.sha.len().min(7)]
    }
}

/// A branch or tag and what it points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ref {
    /// Full ref name, e.g. `refs/heads/main` or `refs/tags/v1.0`.
    pub name: String,
    /// The object the ref resolves to after peeling tags: usually a commit.
    pub sha: String,
    /// The tag object's own name for an annotated tag (`None` for branches and lightweight tags).
    pub tag_object: Option<String>,
}

impl Ref {
    /// True for `refs/heads/*`.
    pub fn is_branch(&self) -> bool {
        self.name.starts_with("refs/heads/")
    }

    /// True for `refs/tags/*`.
    pub fn is_tag(&self) -> bool {
        self.name.starts_with("refs/tags/")
    }

    /// The name without `refs/heads/` or `refs/tags/`.
    pub fn short_name(&self) -> &str {
        self.name
            .strip_prefix("refs/heads/")
            .or_else(|| self.name.strip_prefix("refs/tags/"))
            .unwrap_or(&self.name)
    }
}

/// True for a full object name: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
pub fn is_full_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_message(message: &str) -> Commit {
        Commit {
            sha: "a".repeat(40),
            parents: vec![],
            author_name: String::new(),
            author_email: String::new(),
            author_time: 0,
            author_offset_minutes: 0,
            committer_name: String::new(),
            committer_email: String::new(),
            committer_time: 0,
            committer_offset_minutes: 0,
            message: message.to_string(),
            refs: vec![],
        }
    }

    #[test]
    fn subject_joins_the_first_paragraph() {
        assert_eq!(with_message("one\ntwo\n\nbody\n").subject(), "one two");
        assert_eq!(with_message("").subject(), "");
        assert_eq!(with_message("a | b: c - d\n").subject(), "a | b: c - d");
    }

    #[test]
    fn full_sha_is_strict() {
        assert!(is_full_sha(&"0".repeat(40)));
        assert!(is_full_sha(&"f".repeat(64)));
        assert!(!is_full_sha(&"F".repeat(40)));
        assert!(!is_full_sha("--upload-pack=x"));
        assert!(!is_full_sha(&"0".repeat(39)));
    }
}
