//! The reporting loop, on tokio's paused clock: time only moves when every task waits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use evident_reporters::{run_loop, LoopConfig, ReporterError};
use tokio::time::Instant;

fn config(jitter: f64) -> LoopConfig {
    LoopConfig {
        interval: Duration::from_secs(60),
        initial_backoff: Duration::from_secs(5),
        max_backoff: Duration::from_secs(300),
        jitter,
    }
}

/// A report with `n` instances, so reports can be told apart.
fn report(n: usize) -> EnvironmentReport {
    EnvironmentReport {
        artifacts: vec![ReportedInstance::default(); n],
        kind: Some("docker".into()),
    }
}

/// Seconds since `start` of each recorded instant.
fn offsets(start: Instant, at: &Mutex<Vec<Instant>>) -> Vec<u64> {
    at.lock()
        .unwrap()
        .iter()
        .map(|t| (*t - start).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn backs_off_exponentially_then_returns_to_the_interval() {
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let summary = run_loop(
        &config(0.0),
        move || {
            let c = c.clone();
            async move {
                let mut v = c.lock().unwrap();
                v.push(Instant::now());
                if v.len() <= 3 {
                    Err(ReporterError::Config("daemon down".into()))
                } else {
                    Ok(report(v.len()))
                }
            }
        },
        |_r| async { Ok::<(), String>(()) },
        tokio::time::sleep(Duration::from_secs(200)),
    )
    .await;
    // Failures at 0, 5, 15; success at 35; then every 60 s until the shutdown at 200.
    assert_eq!(offsets(start, &calls), [0, 5, 15, 35, 95, 155]);
    assert_eq!(summary.reports_sent, 3);
    assert_eq!(summary.failures, 3);
    assert_eq!(summary.last_report.unwrap().artifacts.len(), 6);
    assert_eq!(
        summary.last_error.as_deref(),
        Some("collecting the report failed: daemon down")
    );
    assert_eq!(Instant::now() - start, Duration::from_secs(200));
}

#[tokio::test(start_paused = true)]
async fn backoff_is_capped() {
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let cfg = LoopConfig {
        max_backoff: Duration::from_secs(20),
        ..config(0.0)
    };
    let summary = run_loop(
        &cfg,
        move || {
            c.lock().unwrap().push(Instant::now());
            async { Err::<EnvironmentReport, _>("no cluster") }
        },
        |_r| async { Ok::<(), String>(()) },
        tokio::time::sleep(Duration::from_secs(100)),
    )
    .await;
    assert_eq!(offsets(start, &calls), [0, 5, 15, 35, 55, 75, 95]);
    assert_eq!(summary.failures, 7);
    assert!(summary.last_report.is_none());
}

#[tokio::test(start_paused = true)]
async fn keeps_the_last_report_that_was_sent() {
    let n = Arc::new(Mutex::new(0usize));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let (n2, sent2) = (n.clone(), sent.clone());
    let summary = run_loop(
        &config(0.0),
        move || {
            let n = n2.clone();
            async move {
                let mut n = n.lock().unwrap();
                *n += 1;
                Ok::<_, ReporterError>(report(*n))
            }
        },
        move |r: EnvironmentReport| {
            let sent = sent2.clone();
            async move {
                // The server is down for the second and third reports.
                let size = r.artifacts.len();
                if size == 2 || size == 3 {
                    return Err(format!("server answered 503 to report {size}"));
                }
                sent.lock().unwrap().push(size);
                Ok(())
            }
        },
        // Sends at 0 (ok), 60 (fail), 65 (fail), 75 (ok), 135 (ok); stop at 150.
        tokio::time::sleep(Duration::from_secs(150)),
    )
    .await;
    assert_eq!(*sent.lock().unwrap(), [1, 4, 5]);
    assert_eq!(summary.reports_sent, 3);
    assert_eq!(summary.failures, 2);
    assert_eq!(summary.last_report.unwrap().artifacts.len(), 5);
    assert_eq!(
        summary.last_error.as_deref(),
        Some("sending the report failed: server answered 503 to report 3")
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_interrupts_a_hung_collection() {
    let start = Instant::now();
    let summary = run_loop(
        &config(0.5),
        std::future::pending::<Result<EnvironmentReport, ReporterError>>,
        |_r| async { Ok::<(), String>(()) },
        tokio::time::sleep(Duration::from_secs(10)),
    )
    .await;
    assert_eq!(Instant::now() - start, Duration::from_secs(10));
    assert_eq!((summary.reports_sent, summary.failures), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn jitter_shortens_backoff_within_bounds() {
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    run_loop(
        &config(0.5),
        move || {
            c.lock().unwrap().push(Instant::now());
            async { Err::<EnvironmentReport, _>("down") }
        },
        |_r| async { Ok::<(), String>(()) },
        tokio::time::sleep(Duration::from_secs(2000)),
    )
    .await;
    let times: Vec<Duration> = calls.lock().unwrap().iter().map(|t| *t - start).collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 8, "{gaps:?}");
    for (i, gap) in gaps.iter().enumerate() {
        let full = config(0.0).backoff(i as u32 + 1);
        assert!(
            *gap <= full && *gap >= full / 2,
            "gap {i} = {gap:?}, backoff {full:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_zero_interval_does_not_spin() {
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let cfg = LoopConfig {
        interval: Duration::ZERO,
        ..config(0.0)
    };
    let summary = run_loop(
        &cfg,
        move || {
            c.lock().unwrap().push(Instant::now());
            async { Ok::<_, ReporterError>(report(1)) }
        },
        |_r| async { Ok::<(), String>(()) },
        tokio::time::sleep(Duration::from_millis(3500)),
    )
    .await;
    assert_eq!(offsets(start, &calls), [0, 1, 2, 3]);
    assert_eq!(summary.reports_sent, 4);
}
