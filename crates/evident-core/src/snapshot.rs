//! What runs in an environment: turning a report into a state, detecting change, and diffing.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fingerprint::{Fingerprint, FingerprintError};

/// One reported instance (container, pod, task, function, file) with the artifacts it runs.
/// The shape follows Kosli's reporters so their payloads can be sent unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportedInstance {
    /// Artifact name → fingerprint.
    pub digests: BTreeMap<String, String>,
    /// When the instance started, in Unix seconds.
    #[serde(
        rename = "creationTimestamp",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_timestamp: Option<i64>,
    #[serde(rename = "podName", default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owners: Option<serde_json::Value>,
    #[serde(rename = "taskArn", default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// A container id or host name, for reporters that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// The body of an environment report: the complete list of what runs now.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentReport {
    pub artifacts: Vec<ReportedInstance>,
    /// The reporter kind (`server`, `docker`, `K8S`, `ECS`, `lambda`); informative only.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// An artifact running in an environment, aggregated over its instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningArtifact {
    pub fingerprint: Fingerprint,
    /// Every name it was reported under, sorted (the same image may come from two registries).
    pub names: Vec<String>,
    pub replicas: u32,
    /// The earliest start among its instances, or the report time when none was given.
    pub running_since: Timestamp,
}

/// Why a report was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("artifact {name:?}: {source}")]
    Fingerprint {
        name: String,
        source: FingerprintError,
    },
    #[error("artifact name must not be empty")]
    EmptyName,
    #[error("artifact name {0:?} is longer than 1024 characters")]
    NameTooLong(String),
    #[error("creationTimestamp {0} is not a valid Unix time in seconds")]
    Timestamp(i64),
    #[error("a report may list at most {0} instances")]
    TooMany(usize),
}

/// Upper bound on instances in one report, to keep a single report cheap to process.
pub const MAX_INSTANCES: usize = 100_000;

/// The state of an environment: what runs, keyed by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvState(pub BTreeMap<Fingerprint, RunningArtifact>);

impl EnvState {
    /// Aggregates a report: replicas count instances per fingerprint; names are merged.
    pub fn from_report(report: &EnvironmentReport, now: Timestamp) -> Result<Self, ReportError> {
        if report.artifacts.len() > MAX_INSTANCES {
            return Err(ReportError::TooMany(MAX_INSTANCES));
        }
        let mut acc: BTreeMap<Fingerprint, (BTreeSet<String>, u32, Timestamp)> = BTreeMap::new();
        for instance in &report.artifacts {
            let started = match instance.creation_timestamp {
                None | Some(0) => now,
                Some(s) => Timestamp::from_second(s)
                    .map_err(|_| ReportError::Timestamp(s))?
                    .min(now),
            };
            let mut seen_in_instance = BTreeSet::new();
            for (name, fp) in &instance.digests {
                if name.trim().is_empty() {
                    return Err(ReportError::EmptyName);
                }
                if name.len() > 1024 {
                    return Err(ReportError::NameTooLong(name.chars().take(40).collect()));
                }
                let fp = Fingerprint::parse(fp).map_err(|source| ReportError::Fingerprint {
                    name: name.clone(),
                    source,
                })?;
                let entry = acc
                    .entry(fp.clone())
                    .or_insert_with(|| (BTreeSet::new(), 0, started));
                entry.0.insert(name.clone());
                entry.2 = entry.2.min(started);
                // Two containers of one pod running the same image are one replica.
                if seen_in_instance.insert(fp) {
                    entry.1 += 1;
                }
            }
        }
        Ok(Self(
            acc.into_iter()
                .map(|(fingerprint, (names, replicas, running_since))| {
                    let a = RunningArtifact {
                        fingerprint: fingerprint.clone(),
                        names: names.into_iter().collect(),
                        replicas,
                        running_since,
                    };
                    (fingerprint, a)
                })
                .collect(),
        ))
    }

    /// A digest of what defines a snapshot: fingerprints, names and replica counts.
    /// Start times are left out, so a restarted pod is not a change.
    pub fn state_hash(&self) -> String {
        let mut h = Sha256::new();
        for a in self.0.values() {
            h.update(a.fingerprint.as_str());
            for n in &a.names {
                h.update([0u8]);
                h.update(n.as_bytes());
            }
            h.update([1u8]);
            h.update(a.replicas.to_le_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// How one artifact's presence changes from one state to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Started(RunningArtifact),
    Stopped(Fingerprint),
    /// Same fingerprint, new replica count or names; `running_since` carries over.
    Changed(RunningArtifact),
}

/// The changes that turn `old` into `new`; empty when nothing that defines a snapshot changed.
pub fn changes(old: &EnvState, new: &EnvState) -> Vec<Change> {
    let mut out = Vec::new();
    for (fp, a) in &new.0 {
        match old.0.get(fp) {
            None => out.push(Change::Started(a.clone())),
            Some(prev) if prev.replicas != a.replicas || prev.names != a.names => {
                out.push(Change::Changed(RunningArtifact {
                    running_since: prev.running_since,
                    ..a.clone()
                }))
            }
            Some(_) => {}
        }
    }
    for fp in old.0.keys() {
        if !new.0.contains_key(fp) {
            out.push(Change::Stopped(fp.clone()));
        }
    }
    out
}

/// Items of two snapshots compared by fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff<T> {
    pub only_a: Vec<T>,
    pub only_b: Vec<T>,
    /// Present in both with a different replica count: (in A, in B).
    pub changed: Vec<(T, T)>,
    pub unchanged: Vec<T>,
}

/// Compares two lists keyed by fingerprint.
pub fn diff<T: Clone>(
    a: &[T],
    b: &[T],
    key: impl Fn(&T) -> &Fingerprint,
    replicas: impl Fn(&T) -> u32,
) -> Diff<T> {
    let bmap: BTreeMap<&Fingerprint, &T> = b.iter().map(|x| (key(x), x)).collect();
    let amap: BTreeMap<&Fingerprint, &T> = a.iter().map(|x| (key(x), x)).collect();
    let mut d = Diff {
        only_a: vec![],
        only_b: vec![],
        changed: vec![],
        unchanged: vec![],
    };
    for x in a {
        match bmap.get(key(x)) {
            None => d.only_a.push(x.clone()),
            Some(y) if replicas(x) != replicas(y) => d.changed.push((x.clone(), (*y).clone())),
            Some(_) => d.unchanged.push(x.clone()),
        }
    }
    d.only_b = b
        .iter()
        .filter(|y| !amap.contains_key(key(y)))
        .cloned()
        .collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP1: &str = "9af401c4350b21e3f1df17d6ad808da43d9646e75b6da902cc7c492bcfb9c625";
    const FP2: &str = "eeb0cfc9ee7f69fbd9531d5b8c1e8d22a8de119e2a422344a714a868e9a8bfec";

    fn inst(name: &str, fp: &str, ts: i64) -> ReportedInstance {
        ReportedInstance {
            digests: [(name.to_string(), fp.to_string())].into(),
            creation_timestamp: Some(ts),
            ..Default::default()
        }
    }

    fn state(instances: Vec<ReportedInstance>) -> EnvState {
        let report = EnvironmentReport {
            artifacts: instances,
            kind: None,
        };
        EnvState::from_report(&report, Timestamp::from_second(2_000_000_000).unwrap()).unwrap()
    }

    #[test]
    fn replicas_count_instances_and_names_merge() {
        let s = state(vec![
            inst("runner:16d9990", FP1, 100),
            inst("runner:16d9990", FP1, 50),
            inst("ecr/runner:16d9990", FP1, 70),
        ]);
        let a = &s.0[&Fingerprint::parse(FP1).unwrap()];
        assert_eq!(a.replicas, 3);
        assert_eq!(a.names, vec!["ecr/runner:16d9990", "runner:16d9990"]);
        assert_eq!(a.running_since.as_second(), 50);
    }

    #[test]
    fn restart_is_not_a_change_but_scaling_is() {
        let before = state(vec![inst("r", FP1, 100), inst("r", FP1, 100)]);
        let restarted = state(vec![inst("r", FP1, 100), inst("r", FP1, 900)]);
        assert_eq!(before.state_hash(), restarted.state_hash());
        assert!(changes(&before, &restarted).is_empty());
        let scaled = state(vec![inst("r", FP1, 100)]);
        assert_ne!(before.state_hash(), scaled.state_hash());
        match &changes(&before, &scaled)[..] {
            [Change::Changed(a)] => assert_eq!(a.replicas, 1),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn blue_green_shows_both_versions() {
        let s = state(vec![inst("r:new", FP1, 1), inst("r:old", FP2, 1)]);
        assert_eq!(s.0.len(), 2);
    }

    #[test]
    fn bad_fingerprint_is_refused() {
        let report = EnvironmentReport {
            artifacts: vec![inst("r", "abc", 1)],
            kind: None,
        };
        assert!(EnvState::from_report(&report, Timestamp::now()).is_err());
    }
}
