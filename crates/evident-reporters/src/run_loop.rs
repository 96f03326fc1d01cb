//! Reporting on a schedule: collect and send every interval, back off on errors, stop on request.

use std::fmt::Display;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use evident_core::snapshot::EnvironmentReport;

/// The shortest interval accepted; a zero interval would spin.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// When to report and how to back off.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopConfig {
    /// The pause after a successful report (at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// The pause after the first failure; it doubles with each failure in a row.
    pub initial_backoff: Duration,
    /// The longest pause after failures.
    pub max_backoff: Duration,
    /// From 0 to 1: each backoff pause is shortened by a random fraction up to this, so that
    /// many reporters that failed together do not retry together.
    pub jitter: f64,
}

impl LoopConfig {
    /// Reports every `interval`; backs off from 5 s up to 5 min, with 50 % jitter.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            jitter: 0.5,
        }
    }

    /// The pause after `failures` failures in a row (at least one), before jitter.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }

    fn jittered(&self, d: Duration) -> Duration {
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        d.mul_f64(1.0 - jitter * random_fraction())
    }
}

/// What a loop did, returned when it stops.
#[derive(Debug, Clone, Default)]
pub struct LoopSummary {
    /// The last report that was collected and sent successfully.
    pub last_report: Option<EnvironmentReport>,
    /// How many reports were sent.
    pub reports_sent: u64,
    /// How many attempts failed, at collecting or at sending.
    pub failures: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// Collects and sends a report now and then every `config.interval`, until `shutdown` completes.
///
/// A failed collection or send is logged, and the next attempt comes after an exponential,
/// jittered backoff ([`LoopConfig::backoff`]); the first success goes back to the interval.
/// The last successful report is kept and returned in the [`LoopSummary`]. `shutdown` is
/// watched all along, including during a collection or send, which is then abandoned.
pub async fn run_loop<C, CF, CE, S, SF, SE>(
    config: &LoopConfig,
    mut collect: C,
    mut send: S,
    shutdown: impl Future<Output = ()>,
) -> LoopSummary
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<EnvironmentReport, CE>>,
    CE: Display,
    S: FnMut(EnvironmentReport) -> SF,
    SF: Future<Output = Result<(), SE>>,
    SE: Display,
{
    let interval = config.interval.max(MIN_INTERVAL);
    let mut summary = LoopSummary::default();
    let mut failures_in_row: u32 = 0;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let attempt = async {
            let report = collect()
                .await
                .map_err(|e| format!("collecting the report failed: {e}"))?;
            send(report.clone())
                .await
                .map_err(|e| format!("sending the report failed: {e}"))?;
            Ok::<_, String>(report)
        };
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => return summary,
            outcome = attempt => outcome,
        };
        let pause = match outcome {
            Ok(report) => {
                tracing::debug!(instances = report.artifacts.len(), "report sent");
                summary.reports_sent += 1;
                summary.last_report = Some(report);
                failures_in_row = 0;
                interval
            }
            Err(message) => {
                failures_in_row = failures_in_row.saturating_add(1);
                summary.failures += 1;
                let pause = config.jittered(config.backoff(failures_in_row));
                tracing::warn!(
                    "{message}; retrying in {}s ({failures_in_row} failure(s) in a row)",
                    pause.as_secs()
                );
                summary.last_error = Some(message);
                pause
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return summary,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// A random number in [0, 1), from the standard library's randomly keyed hasher.
fn random_fraction() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = LoopConfig::new(Duration::from_secs(60));
        let secs: Vec<u64> = (1..=9).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let c = LoopConfig::new(Duration::from_secs(60));
        for _ in 0..200 {
            let d = c.jittered(Duration::from_secs(100));
            assert!(
                d <= Duration::from_secs(100) && d >= Duration::from_secs(50),
                "{d:?}"
            );
        }
        let none = LoopConfig {
            jitter: f64::NAN,
            ..c
        };
        assert_eq!(
            none.jittered(Duration::from_secs(7)),
            Duration::from_secs(7)
        );
    }
}
