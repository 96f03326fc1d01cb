//! Domain types and pure logic of evident. No I/O lives here: the store, server and CLI build on it.

pub mod api;
pub mod compliance;
pub mod fingerprint;
pub mod history;
pub mod ledger;
pub mod refs;
pub mod snapshot;
pub mod time;

pub use fingerprint::Fingerprint;
pub use refs::{ArtifactRef, Snappish, SnapshotSelector};
