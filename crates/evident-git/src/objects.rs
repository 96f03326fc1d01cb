//! Decoding commits straight out of a mirror's object database (read with gix-odb), on every
//! core.
//!
//! A listing costs what decoding commit objects costs, and most of that is zlib inflating
//! them (~70 % in a profile of git.git). `git log` does it on one core. Here the ids come
//! first, either in `git log`'s order from `git rev-list` (cheap with a commit-graph: ~0.1 s
//! for 85,000 commits) or, for a fresh clone listed in any order, straight from the object
//! headers ([`Objects::all_commits`]); then several threads decode consecutive chunks of
//! them at once and hand them back in order.
//!
//! The commit text is parsed here, as leniently as git parses it, so fields come out as
//! `git log` prints them: names and messages in a declared `encoding` other than UTF-8 are
//! re-encoded, bytes that still are not UTF-8 are decoded lossily (U+FFFD), a message ends
//! at an embedded NUL, and a malformed signature gives empty fields and time 0 instead of
//! failing the listing.

use std::path::Path;
use std::sync::Arc;

use gix_hash::ObjectId;
use gix_object::Find;

use crate::commit::Commit;
use crate::error::GitError;

/// Most commits decoded by one thread at a time: big enough that handing chunks around is
/// free, small enough that the first ones reach the caller quickly.
const CHUNK: usize = 1024;
/// Fewest commits worth a thread of their own.
const MIN_CHUNK: usize = 16;
/// Largest object we inflate: a hostile repository could pack a commit that inflates to
/// gigabytes (a zip bomb) well within the mirror's size limit. Real commits are kilobytes.
const MAX_OBJECT_BYTES: usize = 64 << 20;

/// A mirror's object database (packs, loose objects, alternates), shareable across threads.
pub(crate) struct Objects {
    store: Arc<gix_odb::Store>,
}

impl Objects {
    /// The hash of a repository whose object names are `sha_len` hex digits long (40, or 64
    /// in a SHA-256 repository).
    pub(crate) fn hash_kind(sha_len: usize) -> gix_hash::Kind {
        match sha_len {
            64 => gix_hash::Kind::Sha256,
            _ => gix_hash::Kind::Sha1,
        }
    }

    /// Open the object database of the bare repository in `dir`.
    pub(crate) fn open(dir: &Path, kind: gix_hash::Kind) -> Result<Self, GitError> {
        let store = gix_odb::Store::at_opts(
            dir.join("objects"),
            kind,
            &mut std::iter::empty(),
            gix_odb::store::init::Options {
                alloc_limit_bytes: Some(MAX_OBJECT_BYTES),
                ..Default::default()
            },
        )
        .map_err(|e| odb_error(&e))?;
        Ok(Objects {
            store: Arc::new(store),
        })
    }

    /// Every commit the database holds (packs, then loose objects), each once, in no
    /// particular order. Only the object headers are read, not the objects.
    pub(crate) fn all_commits(&self) -> Result<Vec<ObjectId>, GitError> {
        use gix_odb::Header;
        let odb = self.store.to_handle_arc();
        let mut ids = Vec::new();
        for id in odb.iter().map_err(|e| odb_error(&e))? {
            let id = id.map_err(|e| odb_error(&e))?;
            let header = odb.try_header(&id).map_err(|e| odb_error(&e))?;
            if header.is_some_and(|h| h.kind() == gix_object::Kind::Commit) {
                ids.push(id);
            }
        }
        // An object in two packs (or packed and loose) is listed twice.
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Decode the commits `ids` with up to `workers` threads and hand them to `emit` in
    /// order, one chunk at a time, until it returns false.
    pub(crate) fn decode(
        &self,
        ids: &[ObjectId],
        workers: usize,
        mut emit: impl FnMut(Vec<Commit>) -> bool,
    ) -> Result<(), GitError> {
        let workers = workers.max(1);
        let chunk = ids.len().div_ceil(workers).clamp(MIN_CHUNK, CHUNK);
        for wave in ids.chunks(chunk * workers) {
            let parts: Vec<Result<Vec<Commit>, GitError>> = if wave.len() <= chunk {
                vec![self.decode_chunk(wave)]
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = wave
                        .chunks(chunk)
                        .map(|part| s.spawn(move || self.decode_chunk(part)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
                        .collect()
                })
            };
            for part in parts {
                if !emit(part?) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn decode_chunk(&self, ids: &[ObjectId]) -> Result<Vec<Commit>, GitError> {
        let odb = gix_odb::Cache::from(self.store.to_handle_arc());
        let mut buf = Vec::new();
        ids.iter()
            .map(|id| {
                let data = odb
                    .try_find(id, &mut buf)
                    .map_err(|e| odb_error(&e))?
                    .filter(|d| d.kind == gix_object::Kind::Commit)
                    .ok_or_else(|| odb_error(&format!("{id} is not a commit it holds")))?;
                Ok(parse_commit(&id.to_string(), data.data))
            })
            .collect()
    }
}

/// Parse a raw commit object the way git's pretty-printer reads one: header lines up to the
/// first empty line (continuation lines of multi-line headers such as `gpgsig` start with a
/// space and are skipped), then the message.
fn parse_commit(sha: &str, raw: &[u8]) -> Commit {
    let (header, message) = match memchr::memmem::find(raw, b"\n\n") {
        Some(end) => (&raw[..end], &raw[end + 2..]),
        None => (raw, &b""[..]),
    };
    let mut parents = Vec::new();
    let (mut author, mut committer, mut encoding) = (None, None, None);
    for line in header.split(|&b| b == b'\n') {
        if let Some(p) = line.strip_prefix(b"parent ") {
            parents.push(String::from_utf8_lossy(p).into_owned());
        } else if let Some(a) = line.strip_prefix(b"author ") {
            author.get_or_insert(a);
        } else if let Some(c) = line.strip_prefix(b"committer ") {
            committer.get_or_insert(c);
        } else if let Some(e) = line.strip_prefix(b"encoding ") {
            encoding = std::str::from_utf8(e)
                .ok()
                .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
                .filter(|e| *e != encoding_rs::UTF_8);
        }
    }
    let text = |bytes: &[u8]| decode_text(bytes, encoding);
    let author = author.map(Ident::parse).unwrap_or_default();
    let committer = committer.map(Ident::parse).unwrap_or_default();
    let message = match memchr::memchr(0, message) {
        Some(nul) => &message[..nul],
        None => message,
    };
    Commit {
        sha: sha.to_string(),
        parents,
        author_name: text(author.name),
        author_email: text(author.email),
        author_time: author.time,
        author_offset_minutes: author.offset_minutes,
        committer_name: text(committer.name),
        committer_email: text(committer.email),
        committer_time: committer.time,
        committer_offset_minutes: committer.offset_minutes,
        message: text(message),
        refs: Vec::new(),
    }
}

/// An `author`/`committer` line: `Name <email> 1112911993 -0700`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Ident<'a> {
    name: &'a [u8],
    email: &'a [u8],
    time: i64,
    offset_minutes: i32,
}

impl<'a> Ident<'a> {
    /// Split like git's `split_ident_line`: the name ends at the first `<` (trailing spaces
    /// dropped), the email runs to the next `>`, and the date and zone follow. Without the
    /// brackets git shows nothing at all; a date or zone it cannot read becomes 0.
    fn parse(line: &'a [u8]) -> Ident<'a> {
        let Some(lt) = memchr::memchr(b'<', line) else {
            return Ident::default();
        };
        let Some(gt) = memchr::memchr(b'>', &line[lt + 1..]).map(|i| lt + 1 + i) else {
            return Ident::default();
        };
        let name = line[..lt].trim_ascii_end();
        let email = &line[lt + 1..gt];
        let mut rest = line[gt + 1..]
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let time = rest
            .next()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse().ok());
        let offset_minutes = match time {
            Some(_) => rest.next().map(parse_zone).unwrap_or(0),
            None => 0,
        };
        Ident {
            name,
            email,
            time: time.unwrap_or(0),
            offset_minutes,
        }
    }
}

/// `+0530` as minutes east of UTC; anything else is 0.
fn parse_zone(zone: &[u8]) -> i32 {
    let (sign, digits) = match zone.split_first() {
        Some((b'-', d)) => (-1, d),
        Some((b'+', d)) => (1, d),
        _ => (1, zone),
    };
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    let n = |i: usize| i32::from(digits[i] - b'0');
    sign * ((n(0) * 10 + n(1)) * 60 + n(2) * 10 + n(3))
}

/// UTF-8 text from commit bytes: re-encoded from the commit's declared `encoding` if it has
/// one we know, else (or if that fails, as git keeps the bytes when iconv does) lossily.
fn decode_text(bytes: &[u8], encoding: Option<&'static encoding_rs::Encoding>) -> String {
    if let Some(enc) = encoding {
        if let Some(s) = enc.decode_without_bom_handling_and_without_replacement(bytes) {
            return s.into_owned();
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The error a caller may see: what went wrong, not where the mirror lives on disk.
fn odb_error(e: &dyn std::fmt::Display) -> GitError {
    GitError::Objects(e.to_string())
}

fn panicked() -> GitError {
    GitError::Objects("a commit decoding thread panicked".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents_split_as_git_does() {
        let i = Ident::parse(b"A U Thor  <a@x.org> 1112911993 -0700");
        assert_eq!(
            i,
            Ident {
                name: b"A U Thor",
                email: b"a@x.org",
                time: 1112911993,
                offset_minutes: -420
            }
        );
        assert_eq!(Ident::parse(b"No Brackets 123 +0000"), Ident::default());
        let odd = Ident::parse(b"C <c@x> notatime +0100");
        assert_eq!(
            (odd.name, odd.email, odd.time, odd.offset_minutes),
            (&b"C"[..], &b"c@x"[..], 0, 0)
        );
        assert_eq!(Ident::parse(b"<> 5 +0530").offset_minutes, 330);
    }

    #[test]
    fn headers_end_at_the_first_empty_line() {
        let raw = b"tree t\nparent p1\nparent p2\nauthor A <a> 1 +0000\ncommitter C <c> 2 +0000\ngpgsig -----BEGIN\n line\n -----END\n\nsubject\n\nparent not-a-header\n";
        let c = parse_commit("s", raw);
        assert_eq!(c.parents, ["p1", "p2"]);
        assert_eq!((c.author_time, c.committer_time), (1, 2));
        assert_eq!(c.message, "subject\n\nparent not-a-header\n");
        let bare = parse_commit("s", b"tree t\nauthor A <a> 1 +0000");
        assert_eq!(
            (bare.author_name.as_str(), bare.message.as_str()),
            ("A", "")
        );
    }
}
