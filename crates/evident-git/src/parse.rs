//! Streaming parser for `git log -z --format=LOG_FORMAT --date=raw` output.
//!
//! Every field ends with a NUL byte, which git never prints inside a field (it truncates a
//! message at an embedded NUL), so `|`, `: `, ` - `, quotes, newlines and empty messages
//! cannot shift fields. The parser is fed chunks as they arrive from the pipe, so parsing
//! overlaps with git's own work.

use crate::commit::{is_full_sha, Commit};

/// The `--format` for `git log -z --date=raw`: sha, parents, author name/email/date,
/// committer name/email/date, raw message; each field NUL-terminated by `%x00` or `-z`.
pub(crate) const LOG_FORMAT: &str = "%H%x00%P%x00%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%B";

const FIELDS: usize = 9;

/// The output did not have the expected shape (a git bug or a different git output format).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected git log output: {0}")]
pub struct ParseError(pub String);

/// Incremental parser: [`LogParser::feed`] bytes, receive complete commits.
#[derive(Debug, Default)]
pub(crate) struct LogParser {
    buf: Vec<u8>,
    /// Start of the current record in `buf`.
    record_start: usize,
    /// End offsets (exclusive, before the NUL) of completed fields of the current record.
    ends: Vec<usize>,
    /// Where to resume scanning for the next NUL.
    scan: usize,
}

impl LogParser {
    /// Append `chunk` and hand every commit it completes to `emit`.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(Commit),
    ) -> Result<(), ParseError> {
        self.buf.extend_from_slice(chunk);
        while let Some(offset) = memchr::memchr(0, &self.buf[self.scan..]) {
            let nul = self.scan + offset;
            self.scan = nul + 1;
            if self.ends.is_empty() && nul == self.record_start {
                // An empty "field" at a record start is the separator `-z` adds between
                // records (and after the last one): skip it.
                self.record_start = self.scan;
                continue;
            }
            self.ends.push(nul);
            if self.ends.len() == FIELDS {
                emit(self.take_record()?);
            }
        }
        self.compact();
        Ok(())
    }

    /// Flush a final record that was not NUL-terminated.
    pub(crate) fn finish(mut self, emit: &mut impl FnMut(Commit)) -> Result<(), ParseError> {
        let trailing = self.buf.len() > self.record_start;
        if trailing || !self.ends.is_empty() {
            self.ends.push(self.buf.len());
            self.scan = self.buf.len();
            if self.ends.len() != FIELDS {
                return Err(ParseError(format!(
                    "truncated record: {} of {FIELDS} fields",
                    self.ends.len()
                )));
            }
            emit(self.take_record()?);
        }
        Ok(())
    }

    fn take_record(&mut self) -> Result<Commit, ParseError> {
        let mut start = self.record_start;
        let mut f: [&[u8]; FIELDS] = [&[]; FIELDS];
        for (slot, &end) in f.iter_mut().zip(&self.ends) {
            *slot = &self.buf[start..end];
            start = end + 1;
        }
        let sha = text(f[0]);
        if !is_full_sha(&sha) {
            return Err(ParseError(format!("expected a commit sha, found {sha:?}")));
        }
        let parents: Vec<String> = text(f[1])
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect();
        if let Some(bad) = parents.iter().find(|p| !is_full_sha(p)) {
            return Err(ParseError(format!("bad parent {bad:?} of {sha}")));
        }
        let (author_time, author_offset_minutes) = raw_date(f[4]);
        let (committer_time, committer_offset_minutes) = raw_date(f[7]);
        let commit = Commit {
            sha,
            parents,
            author_name: text(f[2]),
            author_email: text(f[3]),
            author_time,
            author_offset_minutes,
            committer_name: text(f[5]),
            committer_email: text(f[6]),
            committer_time,
            committer_offset_minutes,
            message: text(f[8]),
            refs: Vec::new(),
        };
        self.record_start = self.scan;
        self.ends.clear();
        Ok(commit)
    }

    fn compact(&mut self) {
        // Keep memory bounded by one partial record: drop consumed bytes once they dominate.
        if self.record_start > 0 && self.record_start * 2 >= self.buf.len() {
            let consumed = self.record_start;
            self.buf.drain(..consumed);
            self.record_start = 0;
            self.scan -= consumed;
            for end in &mut self.ends {
                *end -= consumed;
            }
        }
    }
}

/// UTF-8 text, lossily decoded when git hands us other bytes (e.g. a Latin-1 name with no
/// `encoding` header): one odd commit must never fail a listing.
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// `--date=raw` output, `1112911993 -0700`, as (seconds, offset minutes). Malformed dates in
/// old repositories become 0 rather than an error.
fn raw_date(bytes: &[u8]) -> (i64, i32) {
    let s = std::str::from_utf8(bytes).unwrap_or("");
    let mut parts = s.split_ascii_whitespace();
    let secs = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let offset = parts.next().map(parse_offset).unwrap_or(0);
    (secs, offset)
}

fn parse_offset(tz: &str) -> i32 {
    let (sign, digits) = match tz.as_bytes().first() {
        Some(b'-') => (-1, &tz[1..]),
        Some(b'+') => (1, &tz[1..]),
        _ => (1, tz),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let hours: i32 = digits[..2].parse().unwrap_or(0);
    let minutes: i32 = digits[2..].parse().unwrap_or(0);
    sign * (hours * 60 + minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sha: char, parents: &str, name: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        for field in [
            sha.to_string().repeat(40).as_bytes(),
            parents.as_bytes(),
            name,
            b"a@example.com",
            b"1112911993 -0700",
            b"C | Pipe",
            b"c@example.com",
            b"1112912000 +0530",
        ] {
            r.extend_from_slice(field);
            r.push(0);
        }
        r.extend_from_slice(msg);
        r.push(0);
        r.push(0);
        r
    }

    fn parse_all(bytes: &[u8], chunk: usize) -> Vec<Commit> {
        let mut out = Vec::new();
        let mut p = LogParser::default();
        for c in bytes.chunks(chunk.max(1)) {
            p.feed(c, &mut |c| out.push(c)).unwrap();
        }
        p.finish(&mut |c| out.push(c)).unwrap();
        out
    }

    #[test]
    fn separators_and_empty_messages_survive_any_chunking() {
        let parent = "b".repeat(40);
        let mut bytes = record(
            'a',
            &parent,
            "Bob | Pipe: x - y, \"q\"".as_bytes(),
            b"s | t: u - v\n\nbody\n",
        );
        bytes.extend(record('b', "", b"Eve", b""));
        bytes.extend(record(
            'c',
            &format!("{parent} {parent}"),
            "Zoë 日本".as_bytes(),
            "ünï\n".as_bytes(),
        ));
        for chunk in [1, 2, 7, 64, 100_000] {
            let commits = parse_all(&bytes, chunk);
            assert_eq!(commits.len(), 3, "chunk {chunk}");
            assert_eq!(commits[0].author_name, "Bob | Pipe: x - y, \"q\"");
            assert_eq!(commits[0].message, "s | t: u - v\n\nbody\n");
            assert_eq!(commits[0].parents, vec![parent.clone()]);
            assert_eq!(commits[0].author_time, 1112911993);
            assert_eq!(commits[0].author_offset_minutes, -420);
            assert_eq!(commits[0].committer_offset_minutes, 330);
            assert_eq!(commits[0].committer_name, "C | Pipe");
            assert_eq!(commits[1].message, "");
            assert!(commits[1].parents.is_empty());
            assert_eq!(commits[2].parents.len(), 2);
            assert_eq!(commits[2].author_name, "Zoë 日本");
        }
    }

    #[test]
    fn non_utf8_is_decoded_lossily() {
        let bytes = record('a', "", b"Jos\xe9", b"caf\xe9\n");
        let commits = parse_all(&bytes, 5);
        assert_eq!(commits[0].author_name, "Jos\u{fffd}");
        assert_eq!(commits[0].message, "caf\u{fffd}\n");
    }

    #[test]
    fn last_record_without_terminator_is_kept() {
        let mut bytes = record('a', "", b"A", b"m\n");
        bytes.truncate(bytes.len() - 2);
        assert_eq!(parse_all(&bytes, 3)[0].message, "m\n");
    }

    #[test]
    fn desynchronised_output_is_an_error_not_garbage() {
        let mut p = LogParser::default();
        let err = p
            .feed(b"not-a-sha\0\0\0\0\0\0\0\0\0", &mut |_| {})
            .unwrap_err();
        assert!(err.0.contains("not-a-sha"));
    }

    #[test]
    fn malformed_dates_become_zero() {
        assert_eq!(raw_date(b"garbage"), (0, 0));
        assert_eq!(raw_date(b"12 +99999"), (12, 0));
        assert_eq!(raw_date(b"-5 -0130"), (-5, -90));
    }
}
