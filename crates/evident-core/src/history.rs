//! The lines of an artifact's history, as in `evident artifact get`.

use jiff::Timestamp;

use crate::api::HistoryEntry;

/// One continuous period of an artifact in an environment with a fixed replica count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpan {
    pub environment: String,
    pub replicas: u32,
    pub from_snapshot: u64,
    pub from_at: Timestamp,
    /// The snapshot where this run was no longer in force, if any.
    pub to: Option<(u64, Timestamp)>,
}

/// Turns runs into "Started running", "Scaled down/up" and "No longer running" lines.
/// Runs of one environment are chained: a run that begins where the previous one ended is a
/// scaling (or renaming) of the same running artifact, not a new start.
pub fn runtime_lines(runs: &[RunSpan]) -> Vec<HistoryEntry> {
    let mut runs = runs.to_vec();
    runs.sort_by(|a, b| (&a.environment, a.from_snapshot).cmp(&(&b.environment, b.from_snapshot)));
    let mut out = Vec::new();
    let mut prev: Option<&RunSpan> = None;
    for run in &runs {
        let env = &run.environment;
        let continued = prev
            .filter(|p| &p.environment == env)
            .and_then(|p| p.to.map(|(n, _)| (p, n)))
            .filter(|(_, n)| *n == run.from_snapshot);
        match continued {
            Some((p, _)) if p.replicas != run.replicas => {
                let dir = if run.replicas < p.replicas {
                    "down"
                } else {
                    "up"
                };
                out.push(HistoryEntry {
                    at: run.from_at,
                    text: format!(
                        "Scaled {dir} from {} to {} in {env}#{} environment",
                        p.replicas, run.replicas, run.from_snapshot
                    ),
                });
            }
            Some(_) => {}
            None => {
                close(prev, &mut out);
                out.push(HistoryEntry {
                    at: run.from_at,
                    text: format!("Started running in {env}#{} environment", run.from_snapshot),
                });
            }
        }
        prev = Some(run);
    }
    close(prev, &mut out);
    out
}

/// Emits "No longer running" for a run that ended without a successor.
fn close(prev: Option<&RunSpan>, out: &mut Vec<HistoryEntry>) {
    if let Some(RunSpan {
        environment,
        to: Some((n, at)),
        ..
    }) = prev
    {
        out.push(HistoryEntry {
            at: *at,
            text: format!("No longer running in {environment}#{n} environment"),
        });
    }
}

/// Sorts entries by time; ties keep their given order (CI events before runtime events).
pub fn sort(entries: &mut [HistoryEntry]) {
    entries.sort_by_key(|e| e.at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn run(env: &str, replicas: u32, from: u64, to: Option<u64>) -> RunSpan {
        RunSpan {
            environment: env.into(),
            replicas,
            from_snapshot: from,
            from_at: t(from as i64),
            to: to.map(|n| (n, t(n as i64))),
        }
    }

    #[test]
    fn tutorial_history_of_runner() {
        let lines: Vec<String> = runtime_lines(&[
            run("aws-prod", 3, 65, Some(91)),
            run("aws-prod", 1, 91, Some(93)),
            run("aws-beta", 3, 83, Some(117)),
            run("aws-beta", 2, 117, Some(118)),
        ])
        .into_iter()
        .map(|e| e.text)
        .collect();
        assert_eq!(
            lines,
            vec![
                "Started running in aws-beta#83 environment",
                "Scaled down from 3 to 2 in aws-beta#117 environment",
                "No longer running in aws-beta#118 environment",
                "Started running in aws-prod#65 environment",
                "Scaled down from 3 to 1 in aws-prod#91 environment",
                "No longer running in aws-prod#93 environment",
            ]
        );
    }

    #[test]
    fn restart_after_gap_and_scale_up() {
        let lines: Vec<String> = runtime_lines(&[
            run("e", 1, 1, Some(2)),
            run("e", 1, 4, Some(5)),
            run("e", 2, 5, None),
        ])
        .into_iter()
        .map(|e| e.text)
        .collect();
        assert_eq!(
            lines,
            vec![
                "Started running in e#1 environment",
                "No longer running in e#2 environment",
                "Started running in e#4 environment",
                "Scaled up from 1 to 2 in e#5 environment",
            ]
        );
    }
}
