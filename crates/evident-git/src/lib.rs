//! Git for evident: which repository URLs are safe to fetch ([`UrlPolicy`]), bare mirrors
//! kept up to date incrementally ([`Mirror`]), every commit of every branch and tag exactly
//! once ([`Commit`]), and the GitHub REST API as a faster first source with git as fallback
//! ([`CommitSource`]).
//!
//! # Why the git CLI and not a git library
//! We drive the `git` program (2.39+) instead of linking gix or libgit2:
//! - Listing speed: `git log -z` with a NUL-separated `--format` streams commits as fast as
//!   git can read them, and parsing runs concurrently on another core, so a full listing
//!   costs what `git log` itself costs (see `examples/gitbench.rs`). gix would only match it.
//! - Transports: https (with the system's proxies and CA store), ssh (with the operator's
//!   keys and known_hosts), partial clone (`--filter=tree:0`, so mirrors hold commits only)
//!   and atomic, pruning fetches all come for free and behave exactly like the git users know.
//! - Build cost: no dependency at all, on a 2-core machine; gix with the network features
//!   it would need here pulls in hundreds of crates.
//! - Containment: each git runs in its own process group that we can kill on a timeout,
//!   a size limit, or when the caller gives up, with a hardened configuration (see
//!   [`GitOptions`] and the `command` module) so that nothing from a repository can execute.
//!
//! Parsing never relies on printable separators: fields are NUL-terminated, names and
//! messages that are not UTF-8 are decoded lossily, and one odd commit cannot fail a listing.

mod command;
mod commit;
mod error;
mod github;
mod host;
mod listing;
mod mirror;
mod parse;
mod policy;
mod progress;
mod source;

pub use command::GitOptions;
pub use commit::{is_full_sha, Commit, Ref};
pub use error::{FailureKind, GitError};
pub use github::{ForgeError, GithubApi};
pub use listing::LogQuery;
pub use mirror::{FetchOutcome, Mirror, RefChange, Refresh};
pub use parse::ParseError;
pub use policy::{CheckedUrl, PolicyError, Transport, UrlPolicy};
pub use progress::{ProgressSink, TransferProgress};
pub use source::{CommitSource, Listing, Via};
