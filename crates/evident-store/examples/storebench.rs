//! How fast the store indexes a history, apart from git:
//!
//! ```text
//! git -C REPO log --all --format='%H%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B%x1e' > /tmp/log
//! cargo run --release -p evident-store --example storebench -- /tmp/log
//! ```
//! Stores the first 85,000 commits of the log in batches of 5,000, as a first refresh does,
//! then loads the commit graph back, as the server does after a refresh.

use std::time::Instant;

use evident_core::api::{Commit, Signature, Visibility};
use jiff::Timestamp;

fn parse(raw: &[u8]) -> Vec<Commit> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let sig = |name: &[u8], email: &[u8], time: &[u8]| Signature {
        name: text(name),
        email: text(email),
        time: Timestamp::from_second(text(time).parse().unwrap_or(0)).unwrap(),
        offset_minutes: 0,
    };
    raw.split(|b| *b == 0x1e)
        .filter_map(|record| {
            let record = record.strip_prefix(b"\n").unwrap_or(record);
            let f: Vec<&[u8]> = record.splitn(9, |b| *b == 0).collect();
            (f.len() == 9).then(|| Commit {
                sha: text(f[0]),
                parents: text(f[1]).split_whitespace().map(String::from).collect(),
                author: sig(f[2], f[3], f[4]),
                committer: sig(f[5], f[6], f[7]),
                message: text(f[8]),
                refs: Vec::new(),
            })
        })
        .take(85_000)
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let path = std::env::args().nth(1).expect("usage: storebench LOGFILE");
    let commits = parse(&std::fs::read(path).expect("reading the log"));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = evident_store::connect(&url).await.unwrap();
    let now = Timestamp::now();
    let org = store
        .create_org("o", Visibility::Public, None, now)
        .await
        .unwrap();
    let repo = store
        .create_repo(&org, "r", "https://example.com/r", now)
        .await
        .unwrap();

    let started = Instant::now();
    for batch in commits.chunks(5_000) {
        store.insert_commits(repo.id, batch).await.unwrap();
    }
    store
        .apply_refresh(repo.id, &[], &[], &[], now)
        .await
        .unwrap();
    let stored = started.elapsed();
    let started = Instant::now();
    let graph = store.repo_graph(repo.id).await.unwrap();
    println!(
        "{} commits stored in {:.3} s; graph of {} loaded in {:.3} s",
        commits.len(),
        stored.as_secs_f64(),
        graph.len(),
        started.elapsed().as_secs_f64()
    );
    store.close().await;
}
