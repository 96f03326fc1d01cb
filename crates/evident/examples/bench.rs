//! Ledger benchmarks against a real `evident server` process over HTTP on loopback.
//!
//!   cargo build --release -p evident && cargo run --release -p evident --example bench
//!
//! Figures, each beside its baseline from the same run:
//! 1. unchanged environment reports per second vs `GET /healthz` per second (same server,
//!    same client, same concurrency): the cost of a heartbeat over the cost of HTTP itself;
//! 2. growth of the database file after the heartbeats (it should not grow);
//! 3. `env get` and `env diff` latency on an environment with many snapshots, vs `/healthz`.
//!
//! Options (env vars): BENCH_HEARTBEATS (100000), BENCH_SNAPSHOTS (100000), BENCH_ARTIFACTS (50),
//! BENCH_CONCURRENCY (32), EVIDENT_BIN (target/release/evident next to this example).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evident_client::Client;
use evident_core::api::{EnvironmentRequest, Visibility};
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};

const TOKEN: &str = "evd_be0c4be0c4be0c4b_benchbenchbenchbenchbenchbenchbench";

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn evident_bin() -> PathBuf {
    if let Ok(p) = std::env::var("EVIDENT_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("evident"))
        .expect("target dir")
}

fn report(artifacts: u64, bump: Option<u64>) -> EnvironmentReport {
    let artifacts = (0..artifacts)
        .flat_map(|a| {
            // Report n toggles the replicas of artifact n % artifacts between 1 and 2, so
            // consecutive reports always differ in exactly one artifact.
            let replicas = match bump {
                Some(n) => 1 + (n / artifacts + u64::from(a <= n % artifacts)) % 2,
                None => 1,
            };
            (0..replicas).map(move |_| ReportedInstance {
                digests: [(
                    format!("registry.example/service-{a}:1.0"),
                    format!("{a:064x}"),
                )]
                .into(),
                creation_timestamp: Some(1_700_000_000),
                ..Default::default()
            })
        })
        .collect();
    EnvironmentReport {
        artifacts,
        kind: Some("K8S".into()),
    }
}

/// Runs `total` requests from `concurrency` tasks; returns requests per second.
async fn load<F, Fut>(total: u64, concurrency: u64, make: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, make) = (next.clone(), make.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    make(n).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Sequential latencies in milliseconds: (mean, p50, p99).
async fn latency<F, Fut>(count: u64, f: F) -> (f64, f64, f64)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::new();
    for n in 0..count {
        let t = Instant::now();
        f(n).await;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    (
        mean,
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn start_server(db: &str, port: u16) -> Child {
    Command::new(evident_bin())
        .args(["server", "--db", db, "--bind", &format!("127.0.0.1:{port}")])
        .env("EVIDENT_BOOTSTRAP_TOKEN", TOKEN)
        .env("EVIDENT_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start evident server (build it with cargo build --release first)")
}

async fn wait_ready(http: &reqwest::Client, host: &str) {
    for _ in 0..400 {
        if http
            .get(format!("{host}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server did not start");
}

fn stop(mut child: Child) {
    // SIGINT lets SQLite checkpoint and close cleanly, so the file size is the real size.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn file_size(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let heartbeats = knob("BENCH_HEARTBEATS", 100_000);
    let snapshots = knob("BENCH_SNAPSHOTS", 100_000);
    let artifacts = knob("BENCH_ARTIFACTS", 50);
    let concurrency = knob("BENCH_CONCURRENCY", 32);
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("bench.db");
    let db = format!("sqlite://{}", db_path.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()
        .unwrap();

    let server = start_server(&db, port);
    wait_ready(&http, &host).await;
    let client = Client::new(&host, Some(TOKEN.into())).unwrap();
    client
        .create_org("bench", Visibility::Public)
        .await
        .unwrap();
    for env in ["heartbeat", "history"] {
        let req = EnvironmentRequest {
            kind: "k8s".into(),
            description: String::new(),
        };
        client.put_environment("bench", env, &req).await.unwrap();
    }
    let body = Arc::new(serde_json::to_vec(&report(artifacts, None)).unwrap());
    let url = Arc::new(format!("{host}/api/v1/orgs/bench/envs/heartbeat/report"));
    client
        .report_environment("bench", "heartbeat", &report(artifacts, None))
        .await
        .unwrap();
    println!("evident ledger benchmark: {artifacts} artifacts per report, {concurrency} concurrent clients, SQLite, loopback HTTP");

    // 1. Baseline: the cheapest request the server answers.
    let (h, u) = (http.clone(), host.clone());
    let health = load(heartbeats.min(50_000), concurrency, move |_| {
        let (h, u) = (h.clone(), u.clone());
        async move {
            h.get(format!("{u}/healthz"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
    })
    .await;
    println!("GET /healthz (baseline):             {health:>9.0} req/s");

    stop(server);
    let size_before = file_size(&db_path);
    let server = start_server(&db, port);
    wait_ready(&http, &host).await;

    // 2. Unchanged reports: the common case of every reporter reporting every minute.
    let (h, b, u) = (http.clone(), body.clone(), url.clone());
    let ingest = load(heartbeats, concurrency, move |_| {
        let (h, b, u) = (h.clone(), b.clone(), u.clone());
        async move {
            let r = h
                .put(u.as_str())
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(b.as_ref().clone())
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap();
        }
    })
    .await;
    println!("PUT unchanged report ({heartbeats} reports):  {ingest:>9.0} reports/s  ({:.2}x of /healthz)", ingest / health);
    let env = client.environment("bench", "heartbeat").await.unwrap();
    assert_eq!(
        env.latest_snapshot,
        Some(1),
        "heartbeats must not create snapshots"
    );
    stop(server);
    let size_after = file_size(&db_path);
    println!(
        "database file after {heartbeats} unchanged reports: {size_before} -> {size_after} bytes (+{} bytes)",
        size_after.saturating_sub(size_before)
    );

    // 3. An environment with many snapshots, each a change of one artifact's replicas.
    let server = start_server(&db, port);
    wait_ready(&http, &host).await;
    let c = Arc::new(client.clone());
    let started = Instant::now();
    let (cc, art) = (c.clone(), artifacts);
    // One writer: reports of one environment are ordered, as a reporter sends them.
    let rate = load(snapshots, 1, move |n| {
        let cc = cc.clone();
        async move {
            let r = cc
                .report_environment("bench", "history", &report(art, Some(n)))
                .await
                .unwrap();
            assert!(r.created, "report {n} should have changed the environment");
        }
    })
    .await;
    println!(
        "created {snapshots} snapshots in {:.1} s ({rate:.0} changes/s)",
        started.elapsed().as_secs_f64()
    );
    let (hm, hp50, hp99) = latency(500, |_| {
        let h = http.clone();
        let u = host.clone();
        async move {
            h.get(format!("{u}/healthz"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
    })
    .await;
    println!("latency GET /healthz (baseline):         mean {hm:.2} ms, p50 {hp50:.2} ms, p99 {hp99:.2} ms");
    let pick = |n: u64| 1 + (n.wrapping_mul(2654435761) % snapshots);
    let (m, p50, p99) = latency(500, |n| {
        let c = c.clone();
        async move {
            let s = c
                .snapshot("bench", &format!("history#{}", pick(n)))
                .await
                .unwrap();
            assert_eq!(s.artifacts.len() as u64, artifacts);
        }
    })
    .await;
    println!(
        "latency env get history#N (random N):    mean {m:.2} ms, p50 {p50:.2} ms, p99 {p99:.2} ms"
    );
    let (m, p50, p99) = latency(500, |_| {
        let c = c.clone();
        async move {
            c.snapshot("bench", "history").await.unwrap();
        }
    })
    .await;
    println!(
        "latency env get history (latest):        mean {m:.2} ms, p50 {p50:.2} ms, p99 {p99:.2} ms"
    );
    let (m, p50, p99) = latency(500, |n| {
        let c = c.clone();
        async move {
            let (a, b) = (pick(n), pick(n + 7919));
            c.diff(
                "bench",
                &format!("history#{a}"),
                &format!("history#{b}"),
                false,
            )
            .await
            .unwrap();
        }
    })
    .await;
    println!(
        "latency env diff history#A history#B:    mean {m:.2} ms, p50 {p50:.2} ms, p99 {p99:.2} ms"
    );
    stop(server);
    println!(
        "database file with {snapshots} snapshots x {artifacts} artifacts: {} bytes",
        file_size(&db_path)
    );
}
