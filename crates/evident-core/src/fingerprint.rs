//! The SHA-256 fingerprint that identifies an artifact.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A validated artifact fingerprint: 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

/// Why a string is not a fingerprint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FingerprintError {
    #[error("fingerprint must be 64 hex characters (SHA-256), got {0} characters")]
    Length(usize),
    #[error("fingerprint must be hexadecimal, found {0:?}")]
    NotHex(char),
}

impl Fingerprint {
    /// Parses a fingerprint, accepting upper case and an optional `sha256:` prefix.
    pub fn parse(s: &str) -> Result<Self, FingerprintError> {
        let s = s.trim();
        let s = s.strip_prefix("sha256:").unwrap_or(s);
        if s.len() != 64 {
            return Err(FingerprintError::Length(s.chars().count()));
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(FingerprintError::NotHex(c));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// The 64-character hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first seven characters, as users abbreviate it.
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = FingerprintError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `s` could be an abbreviation of a hex id (commit sha or fingerprint): 4+ hex chars.
pub fn is_hex_prefix(s: &str, min: usize) -> bool {
    s.len() >= min && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_upper_case_and_sha256_prefix() {
        let fp = Fingerprint::parse(
            "sha256:9AF401C4350B21E3F1DF17D6AD808DA43D9646E75B6DA902CC7C492BCFB9C625",
        )
        .unwrap();
        assert_eq!(fp.short(), "9af401c");
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        assert_eq!(Fingerprint::parse("abc"), Err(FingerprintError::Length(3)));
        let bad = format!("{}z", "a".repeat(63));
        assert_eq!(Fingerprint::parse(&bad), Err(FingerprintError::NotHex('z')));
    }
}
