//! The hash chain that makes the event ledger tamper-evident.

use sha2::{Digest, Sha256};

/// The hash before an org's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Hash of one event, chained to the previous one. Fields are length-prefixed so no two
/// different events can produce the same input.
pub fn event_hash(prev: &str, seq: i64, kind: &str, at_ms: i64, payload: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev.as_bytes(), kind.as_bytes(), payload.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(seq.to_le_bytes());
    h.update(at_ms.to_le_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_field_changes_the_hash() {
        let base = event_hash(GENESIS, 1, "artifact", 5, "{}");
        assert_ne!(base, event_hash(GENESIS, 2, "artifact", 5, "{}"));
        assert_ne!(base, event_hash(GENESIS, 1, "artifacts", 5, "{}"));
        assert_ne!(base, event_hash(GENESIS, 1, "artifact", 6, "{}"));
        assert_ne!(base, event_hash(GENESIS, 1, "artifact", 5, "{ }"));
    }
}
