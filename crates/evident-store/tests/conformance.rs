//! Behaviour every Store backend must show. Runs against SQLite here; the PostgreSQL backend
//! will run the same functions.

use std::collections::BTreeMap;

use evident_core::api::{EnvironmentRequest, Visibility};
use evident_core::snapshot::{EnvState, RunningArtifact};
use evident_core::Fingerprint;
use evident_store::{Store, KEYFRAME_EVERY};
use jiff::Timestamp;

async fn sqlite() -> (std::sync::Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    (evident_store::connect(&url).await.unwrap(), dir)
}

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn fp(n: u64) -> Fingerprint {
    Fingerprint::parse(&format!("{n:064x}")).unwrap()
}

/// Reading any snapshot returns exactly the state that was reported for it, including across
/// keyframes and for artifacts that stop and start again.
#[tokio::test]
async fn every_snapshot_reads_back_as_reported() {
    let (store, _dir) = sqlite().await;
    let t0 = Timestamp::from_second(1_600_000_000).unwrap();
    let org = store
        .create_org("o", Visibility::Public, None, t0)
        .await
        .unwrap();
    let env = store
        .put_environment(
            &org,
            "e",
            &EnvironmentRequest {
                kind: "k8s".into(),
                description: String::new(),
            },
            t0,
        )
        .await
        .unwrap();
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    let mut state: BTreeMap<u64, u32> = BTreeMap::new();
    let mut expected = vec![BTreeMap::new()]; // index = snapshot number
    let total = KEYFRAME_EVERY * 3 + 17;
    let mut step = 0;
    while (expected.len() as u64) <= total {
        step += 1;
        // Mutate: start, stop or scale a random artifact out of 12.
        let a = rng.next(12);
        match rng.next(3) {
            0 => {
                state.insert(a, 1 + rng.next(3) as u32);
            }
            1 => {
                state.remove(&a);
            }
            _ => {
                if let Some(r) = state.get_mut(&a) {
                    *r = 1 + (*r % 4);
                }
            }
        }
        let now = t0 + jiff::SignedDuration::from_secs(step * 60);
        let env_state = EnvState(
            state
                .iter()
                .map(|(a, r)| {
                    let art = RunningArtifact {
                        fingerprint: fp(*a),
                        names: vec![format!("app-{a}")],
                        replicas: *r,
                        running_since: now,
                    };
                    (fp(*a), art)
                })
                .collect(),
        );
        let outcome = store
            .report_environment(&org, "e", &env_state, now)
            .await
            .unwrap();
        if outcome.created {
            assert_eq!(outcome.snapshot, expected.len() as u64);
            expected.push(state.clone());
        } else {
            assert_eq!(
                &state,
                expected.last().unwrap(),
                "a heartbeat must mean no change"
            );
        }
    }
    for (n, want) in expected.iter().enumerate().skip(1) {
        let runs = store.runs_at(env.id, n as u64).await.unwrap();
        let got: BTreeMap<u64, u32> = runs
            .iter()
            .map(|r| {
                (
                    u64::from_str_radix(&r.fingerprint.as_str()[48..], 16).unwrap(),
                    r.replicas,
                )
            })
            .collect();
        assert_eq!(&got, want, "snapshot #{n}");
    }
}

#[tokio::test]
async fn ledger_chains_every_write() {
    let (store, _dir) = sqlite().await;
    let t0 = Timestamp::from_second(1_600_000_000).unwrap();
    let org = store
        .create_org("o", Visibility::Public, None, t0)
        .await
        .unwrap();
    let req = evident_core::api::PipelineRequest::default();
    store.put_pipeline(&org, "p", &req, t0).await.unwrap();
    store.put_pipeline(&org, "q", &req, t0).await.unwrap();
    let events = store.events(org.id, 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let mut prev = evident_core::ledger::GENESIS.to_string();
    for e in &events {
        let h = evident_core::ledger::event_hash(
            &prev,
            e.seq,
            &e.kind,
            evident_core::time::to_millis(e.at),
            &e.payload,
        );
        assert_eq!(h, e.hash, "event {} does not chain", e.seq);
        prev = h;
    }
}
