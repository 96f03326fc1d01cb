//! Shared progress counters, so a caller can draw a progress bar from another thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Progress counters of a running [`crate::dir_digest`] (or
/// [`crate::file_digest_with_progress`]). All counters only grow. The totals are final
/// once [`Progress::walk_finished`] is true; until then they are still growing.
#[derive(Debug, Default)]
pub struct Progress {
    files_total: AtomicU64,
    bytes_total: AtomicU64,
    files_done: AtomicU64,
    bytes_done: AtomicU64,
    walk_finished: AtomicBool,
}

impl Progress {
    /// New zeroed counters, ready to be shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Files found so far whose content will be hashed.
    pub fn files_total(&self) -> u64 {
        self.files_total.load(Ordering::Relaxed)
    }
    /// Sum of the sizes of those files.
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total.load(Ordering::Relaxed)
    }
    /// Files hashed so far.
    pub fn files_done(&self) -> u64 {
        self.files_done.load(Ordering::Relaxed)
    }
    /// Bytes hashed so far.
    pub fn bytes_done(&self) -> u64 {
        self.bytes_done.load(Ordering::Relaxed)
    }
    /// Whether the walk is over (the totals are final).
    pub fn walk_finished(&self) -> bool {
        self.walk_finished.load(Ordering::Relaxed)
    }

    pub(crate) fn add_file(&self, size: u64) {
        self.files_total.fetch_add(1, Ordering::Relaxed);
        self.bytes_total.fetch_add(size, Ordering::Relaxed);
    }

    pub(crate) fn finish_walk(&self) {
        self.walk_finished.store(true, Ordering::Relaxed);
    }

    pub(crate) fn file_done(&self) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bytes_done_counter(&self) -> &AtomicU64 {
        &self.bytes_done
    }
}
