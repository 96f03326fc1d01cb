//! The references users type: artifact references and snapshot references ("snappish").

use std::fmt;

use jiff::{Span, Timestamp};

use crate::fingerprint::is_hex_prefix;

/// Why a reference could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefError {
    #[error("empty reference")]
    Empty,
    #[error("invalid name {0:?}: use letters, digits, '.', '_' and '-' (max 100 characters)")]
    Name(String),
    #[error("{0:?} is not a commit: expected at least 7 hex characters")]
    Commit(String),
    #[error("{0:?} is not a fingerprint: expected at least 7 hex characters")]
    FingerprintPrefix(String),
    #[error("only one of '#', '~' or '@' may appear in {0:?}")]
    TooManySeparators(String),
    #[error(
        "snapshot number in {0:?} must be a non-zero integer (#1 is the first, #-1 the latest)"
    )]
    Number(String),
    #[error("invalid time in {0:?}: use @{{2022-08-24T18:00:00Z}} or @{{3.days.ago}}")]
    Time(String),
}

/// Checks a pipeline, environment or org name.
pub fn check_name(name: &str) -> Result<(), RefError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(RefError::Name(name.to_string()))
    }
}

/// How a user names an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactRef {
    /// `PIPELINE:COMMIT` — a commit sha or prefix (7+ hex).
    Commit { pipeline: String, commit: String },
    /// `PIPELINE@FINGERPRINT` — a fingerprint or prefix.
    Fingerprint { pipeline: String, prefix: String },
    /// A bare fingerprint or prefix, searched across pipelines.
    Bare { prefix: String },
}

impl ArtifactRef {
    /// Parses `runner:16d9990`, `web@4807356...` or a bare fingerprint.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        if let Some((pipeline, fp)) = s.split_once('@') {
            check_name(pipeline)?;
            let prefix = fp.strip_prefix("sha256:").unwrap_or(fp);
            if !is_hex_prefix(prefix, 7) || prefix.len() > 64 {
                return Err(RefError::FingerprintPrefix(fp.to_string()));
            }
            return Ok(Self::Fingerprint {
                pipeline: pipeline.to_string(),
                prefix: prefix.to_ascii_lowercase(),
            });
        }
        if let Some((pipeline, commit)) = s.split_once(':') {
            check_name(pipeline)?;
            if !is_hex_prefix(commit, 7) || commit.len() > 64 {
                return Err(RefError::Commit(commit.to_string()));
            }
            return Ok(Self::Commit {
                pipeline: pipeline.to_string(),
                commit: commit.to_ascii_lowercase(),
            });
        }
        let prefix = s.strip_prefix("sha256:").unwrap_or(s);
        if !is_hex_prefix(prefix, 7) || prefix.len() > 64 {
            return Err(RefError::FingerprintPrefix(s.to_string()));
        }
        Ok(Self::Bare {
            prefix: prefix.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Commit { pipeline, commit } => write!(f, "{pipeline}:{commit}"),
            Self::Fingerprint { pipeline, prefix } => write!(f, "{pipeline}@{prefix}"),
            Self::Bare { prefix } => f.write_str(prefix),
        }
    }
}

/// Which snapshot of an environment a snappish selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSelector {
    /// `ENV`, `ENV#-1`: the latest snapshot.
    Latest,
    /// `ENV#N`: snapshot number N, counting from 1.
    Number(u64),
    /// `ENV#-N`: the N-th from the end (`#-1` = latest).
    FromEnd(u64),
    /// `ENV~N`: N snapshots before the latest.
    Behind(u64),
    /// `ENV@{time}`: the snapshot in force at that instant.
    At(Timestamp),
}

impl SnapshotSelector {
    /// Resolves to a snapshot number given the latest number, or `None` if out of range.
    /// `At` needs a time lookup and is resolved by the store.
    pub fn resolve_number(&self, latest: u64) -> Option<u64> {
        let n = match *self {
            Self::Latest => latest,
            Self::Number(n) => n,
            Self::FromEnd(n) => (latest + 1).checked_sub(n)?,
            Self::Behind(n) => latest.checked_sub(n)?,
            Self::At(_) => return None,
        };
        (1..=latest).contains(&n).then_some(n)
    }
}

/// A snapshot reference: an environment and a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snappish {
    pub env: String,
    pub selector: SnapshotSelector,
}

impl Snappish {
    /// Parses `aws-prod`, `aws-prod#65`, `aws-prod#-2`, `aws-prod~1` or `aws-prod@{2022-08-24T18:00:00Z}`.
    /// `now` anchors relative times such as `@{3.days.ago}`.
    pub fn parse(s: &str, now: Timestamp) -> Result<Self, RefError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        let seps: Vec<(usize, char)> = s
            .char_indices()
            .filter(|(_, c)| matches!(c, '#' | '~' | '@'))
            .collect();
        let kinds = seps
            .iter()
            .map(|(_, c)| *c)
            .collect::<std::collections::BTreeSet<_>>();
        if kinds.len() > 1 || seps.len() > 1 && !matches!(seps[0].1, '@') {
            return Err(RefError::TooManySeparators(s.to_string()));
        }
        let Some(&(at, sep)) = seps.first() else {
            check_name(s)?;
            return Ok(Self {
                env: s.to_string(),
                selector: SnapshotSelector::Latest,
            });
        };
        let env = &s[..at];
        check_name(env)?;
        let rest = &s[at + 1..];
        let number = |r: &str| {
            r.parse::<i64>()
                .map_err(|_| RefError::Number(s.to_string()))
        };
        let selector = match sep {
            '#' => match number(rest)? {
                0 => return Err(RefError::Number(s.to_string())),
                -1 => SnapshotSelector::Latest,
                n if n < 0 => SnapshotSelector::FromEnd(n.unsigned_abs()),
                n => SnapshotSelector::Number(n as u64),
            },
            '~' => match number(rest)? {
                n if n < 0 => return Err(RefError::Number(s.to_string())),
                n => SnapshotSelector::Behind(n as u64),
            },
            _ => {
                let inner = rest
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    .ok_or_else(|| RefError::Time(s.to_string()))?;
                SnapshotSelector::At(
                    parse_instant(inner, now).ok_or(RefError::Time(s.to_string()))?,
                )
            }
        };
        Ok(Self {
            env: env.to_string(),
            selector,
        })
    }
}

impl fmt::Display for Snappish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.selector {
            SnapshotSelector::Latest => write!(f, "{}", self.env),
            SnapshotSelector::Number(n) => write!(f, "{}#{n}", self.env),
            SnapshotSelector::FromEnd(n) => write!(f, "{}#-{n}", self.env),
            SnapshotSelector::Behind(n) => write!(f, "{}~{n}", self.env),
            SnapshotSelector::At(t) => write!(f, "{}@{{{t}}}", self.env),
        }
    }
}

/// Parses an instant: RFC 3339, a UTC civil time `2022-08-24T18:00:00`, a date, `now`,
/// or a relative `N.<seconds|minutes|hours|days|weeks>.ago`.
pub fn parse_instant(s: &str, now: Timestamp) -> Option<Timestamp> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Some(now);
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    let mut parts = s.split('.');
    let (n, unit, ago) = (parts.next()?, parts.next()?, parts.next()?);
    if ago != "ago" || parts.next().is_some() {
        return None;
    }
    let n: i64 = n.parse().ok().filter(|n| *n >= 0 && *n < 100_000)?;
    let span = match unit.trim_end_matches('s') {
        "second" => Span::new().seconds(n),
        "minute" => Span::new().minutes(n),
        "hour" => Span::new().hours(n),
        "day" => Span::new().hours(n * 24),
        "week" => Span::new().hours(n * 24 * 7),
        _ => return None,
    };
    now.checked_sub(span).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2022-09-06T15:00:00Z".parse().unwrap()
    }

    fn sel(s: &str) -> SnapshotSelector {
        Snappish::parse(s, now()).unwrap().selector
    }

    #[test]
    fn snappish_forms() {
        assert_eq!(sel("aws-prod"), SnapshotSelector::Latest);
        assert_eq!(sel("aws-prod#65"), SnapshotSelector::Number(65));
        assert_eq!(sel("aws-prod#-1"), SnapshotSelector::Latest);
        assert_eq!(sel("aws-prod#-3"), SnapshotSelector::FromEnd(3));
        assert_eq!(sel("aws-prod~1"), SnapshotSelector::Behind(1));
        assert_eq!(
            sel("aws-prod@{2022-08-24T18:00:00}"),
            SnapshotSelector::At("2022-08-24T18:00:00Z".parse().unwrap())
        );
        assert_eq!(
            sel("aws-prod@{2.days.ago}"),
            SnapshotSelector::At("2022-09-04T15:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn snappish_rejects_bad_input() {
        for bad in [
            "",
            "aws-prod#0",
            "aws-prod#x",
            "a#1~2",
            "#3",
            "aws-prod@2022",
            "a~-1",
        ] {
            assert!(Snappish::parse(bad, now()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn selectors_resolve_against_latest() {
        assert_eq!(SnapshotSelector::FromEnd(1).resolve_number(177), Some(177));
        assert_eq!(SnapshotSelector::FromEnd(2).resolve_number(177), Some(176));
        assert_eq!(SnapshotSelector::Behind(1).resolve_number(177), Some(176));
        assert_eq!(SnapshotSelector::Number(178).resolve_number(177), None);
        assert_eq!(SnapshotSelector::Behind(177).resolve_number(177), None);
        assert_eq!(SnapshotSelector::Latest.resolve_number(0), None);
    }

    #[test]
    fn artifact_refs() {
        assert_eq!(
            ArtifactRef::parse("runner:16d9990").unwrap(),
            ArtifactRef::Commit {
                pipeline: "runner".into(),
                commit: "16d9990".into()
            }
        );
        assert!(matches!(
            ArtifactRef::parse("web@4807356").unwrap(),
            ArtifactRef::Fingerprint { .. }
        ));
        assert!(ArtifactRef::parse("runner:16d").is_err());
        assert!(ArtifactRef::parse("runner:xyzxyzx").is_err());
        assert!(ArtifactRef::parse("../etc:1234567").is_err());
    }
}
