//! git's own transfer progress ("Receiving objects:  45% (4500/10000), 1.20 MiB | 2.00 MiB/s"),
//! read from its stderr so a terminal can show a real progress bar while a clone or fetch runs.

use std::fmt;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};

/// One progress report of git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferProgress {
    /// What git is doing, e.g. `Receiving objects` or `remote: Counting objects`.
    pub phase: String,
    /// Units done in this phase.
    pub done: u64,
    /// Units in all, when git knows.
    pub total: Option<u64>,
    /// What git says about bytes, e.g. `1.20 MiB | 2.00 MiB/s`.
    pub bytes: Option<String>,
}

/// Receives git's progress reports.
#[derive(Clone)]
pub struct ProgressSink(pub Arc<dyn Fn(&TransferProgress) + Send + Sync>);

impl ProgressSink {
    pub fn new(f: impl Fn(&TransferProgress) + Send + Sync + 'static) -> Self {
        ProgressSink(Arc::new(f))
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressSink")
    }
}

impl PartialEq for ProgressSink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ProgressSink {}

/// Parses one line of git progress; `None` for anything else (errors, hints), which is
/// what an error message is made of.
pub(crate) fn parse_line(line: &str) -> Option<TransferProgress> {
    let (phase, rest) = line.trim().rsplit_once(": ")?;
    let rest = rest.trim_start();
    // "45% (4500/10000), 1.20 MiB | 2.00 MiB/s" or, without a known total, "4500".
    let (counts, bytes) = match rest.split_once(", ") {
        Some((c, b)) => (c, Some(b)),
        None => (rest, None),
    };
    let (done, total) = match counts.split_once('(') {
        Some((_, inner)) => {
            let (done, total) = inner.trim_end_matches(')').split_once('/')?;
            (done.parse().ok()?, Some(total.parse().ok()?))
        }
        None => (counts.trim().parse().ok()?, None),
    };
    let bytes = bytes
        .map(|b| b.trim_end_matches(", done.").trim_end_matches(" done."))
        .filter(|b| b.contains("B"))
        .map(str::to_string);
    Some(TransferProgress {
        phase: phase.trim().to_string(),
        done,
        total,
        bytes,
    })
}

/// Reads git's stderr to the end, handing progress to `sink` and keeping the last `max`
/// bytes of everything else (the error message, if git fails).
pub(crate) async fn read_stderr<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    sink: &ProgressSink,
    max: usize,
) -> Vec<u8> {
    let mut other = Vec::new();
    let Some(mut pipe) = pipe else {
        return other;
    };
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        // git redraws a progress line with '\r' and ends it with '\n'.
        while let Some(end) = pending.iter().position(|b| *b == b'\r' || *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            take_line(&line, sink, &mut other, max);
        }
        if pending.len() > max {
            // A "line" this long is not progress; keep it for the error message.
            take_line(&std::mem::take(&mut pending), sink, &mut other, max);
        }
    }
    take_line(&pending, sink, &mut other, max);
    other
}

fn take_line(line: &[u8], sink: &ProgressSink, other: &mut Vec<u8>, max: usize) {
    let text = String::from_utf8_lossy(line);
    if text.trim().is_empty() {
        return;
    }
    match parse_line(&text) {
        Some(p) => (sink.0)(&p),
        None => {
            other.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                other.push(b'\n');
            }
            if other.len() > max {
                other.drain(..other.len() - max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn git_progress_lines_are_understood() {
        let p = parse_line("Receiving objects:  45% (4500/10000), 1.20 MiB | 2.00 MiB/s").unwrap();
        assert_eq!(
            p,
            TransferProgress {
                phase: "Receiving objects".into(),
                done: 4500,
                total: Some(10000),
                bytes: Some("1.20 MiB | 2.00 MiB/s".into()),
            }
        );
        let p = parse_line("remote: Counting objects: 100% (85361/85361), done.").unwrap();
        assert_eq!(
            (p.phase.as_str(), p.done, p.total),
            ("remote: Counting objects", 85361, Some(85361))
        );
        assert_eq!(p.bytes, None);
        let p = parse_line("Receiving objects: 100% (85361/85361), 26.80 MiB | 41.00 MiB/s, done.")
            .unwrap();
        assert_eq!(p.bytes.as_deref(), Some("26.80 MiB | 41.00 MiB/s"));
        let p = parse_line("remote: Enumerating objects: 1234, done.").unwrap();
        assert_eq!((p.done, p.total), (1234, None));
        for other in [
            "fatal: repository 'https://example.com/x' not found",
            "warning: filtering not recognized by server, ignoring",
            "error: RPC failed; curl 92 HTTP/2 stream 0 was not closed cleanly",
            "Cloning into bare repository 'x.git'...",
        ] {
            assert_eq!(parse_line(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn progress_goes_to_the_sink_and_the_rest_stays_for_errors() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            ProgressSink::new(move |p| seen.lock().unwrap().push((p.phase.clone(), p.done)))
        };
        let stderr: &[u8] = b"Cloning into bare repository 'x'...\nReceiving objects:  50% (1/2)\rReceiving objects: 100% (2/2), done.\nfatal: early EOF\n";
        let rest = read_stderr(Some(stderr), &sink, 1024).await;
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("Receiving objects".to_string(), 1),
                ("Receiving objects".to_string(), 2)
            ]
        );
        assert_eq!(
            String::from_utf8(rest).unwrap(),
            "Cloning into bare repository 'x'...\nfatal: early EOF\n"
        );
    }
}
