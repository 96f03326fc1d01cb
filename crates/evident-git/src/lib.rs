//! Git for evident: which repository URLs are safe to fetch ([`UrlPolicy`]), bare mirrors
//! kept up to date incrementally ([`Mirror`]), every commit of every branch and tag exactly
//! once ([`Commit`]), and the GitHub REST API as a faster first source with git as fallback
//! ([`CommitSource`]).
//!
//! # The git CLI for transport, gix for reading
//! Clones, fetches, refs and maintenance drive the `git` program (2.39+):
//! - Transports: https (with the system's proxies and CA store), ssh (with the operator's
//!   keys and known_hosts), partial clone (`--filter=tree:0`, so mirrors hold commits only)
//!   and atomic, pruning fetches all come for free and behave exactly like the git users know.
//! - Containment: each git runs in its own process group that we can kill on a timeout,
//!   a size limit, or when the caller gives up, with a hardened configuration (see
//!   [`GitOptions`] and the `command` module) so that nothing from a repository can execute.
//!
//! Commits are read from the mirror's object database in-process with gix (object reading
//! only, no network features): `git log` decodes commits on one core, while here the
//! commit-graph gives the ordered ids and several threads decode them at once (see
//! `objects`). Names and messages that are not UTF-8 are decoded lossily, and one odd
//! commit cannot fail a listing.

mod command;
mod commit;
mod error;
mod github;
mod host;
mod listing;
mod mirror;
mod objects;
mod policy;
mod progress;
mod source;

pub use command::GitOptions;
pub use commit::{is_full_sha, Commit, Ref};
pub use error::{FailureKind, GitError, ParseError};
pub use github::{ForgeError, GithubApi};
pub use listing::LogQuery;
pub use mirror::{FetchOutcome, Mirror, RefChange, Refresh};
pub use policy::{CheckedUrl, PolicyError, Transport, UrlPolicy};
pub use progress::{ProgressSink, TransferProgress};
pub use source::{CommitSource, Listing, Via};
