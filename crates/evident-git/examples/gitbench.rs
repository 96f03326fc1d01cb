//! Benchmark evident-git against plain git on one repository.
//!
//! ```text
//! cargo run --release -p evident-git --example genrepo -- /tmp/r85k 85000
//! cargo run --release -p evident-git --example gitbench -- /tmp/r85k [runs]
//! ```
//! The source is first copied (`git clone --mirror`, hard links) to a scratch upstream under
//! /tmp so the incremental step can add commits without touching it. Then it times:
//! first ingest (our commits-only mirror vs plain `git clone --bare`), a full listing (ours
//! vs `git log` with the same NUL-separated format, output read and discarded), and a
//! refresh after 10 new upstream commits.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use evident_git::{GitOptions, LogQuery, Mirror, UrlPolicy};

const FORMAT: &str = "--format=%H%x00%P%x00%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%B";

fn git(args: &[&str]) -> String {
    let out = Command::new("git").args(args).output().expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Run git and read its whole stdout, as a consumer of `git log` would; returns bytes read.
fn git_piped(args: &[&str]) -> usize {
    let mut child = Command::new("git")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("git");
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    let mut out = child.stdout.take().unwrap();
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(child.wait().unwrap().success());
    total
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let v = f();
    (start.elapsed(), v)
}

/// CPU seconds used by this process and its reaped children (`/proc/self/stat`, 100 Hz).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14..=17, i.e. 11..=14 after the name.
    (11..=14)
        .filter_map(|i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum::<f64>()
        / 100.0
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "min {:>7.3}s  median {:>7.3}s",
        v[0].as_secs_f64(),
        v[v.len() / 2].as_secs_f64()
    )
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn add_commits(repo: &Path, n: usize) {
    let mut child = Command::new("git")
        .args(["-C", &repo.display().to_string(), "fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let t = 2_000_000_000i64;
    for i in 0..n {
        let msg = format!("bench | new: commit - {i}\n");
        write!(
            stdin,
            "commit refs/heads/main\ncommitter Bench <b@example.com> {} +0000\ndata {}\n{msg}",
            t + i as i64,
            msg.len()
        )
        .unwrap();
        if i == 0 {
            writeln!(stdin, "from refs/heads/main^0").unwrap();
        }
        writeln!(stdin).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let source = PathBuf::from(args.get(1).ok_or("usage: gitbench <repo> [runs]")?);
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let work = std::env::temp_dir().join(format!("gitbench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let upstream = work.join("upstream.git");
    git(&[
        "clone",
        "-q",
        "--mirror",
        &source.display().to_string(),
        &upstream.display().to_string(),
    ]);
    git(&[
        "-C",
        &upstream.display().to_string(),
        "config",
        "uploadpack.allowFilter",
        "true",
    ]);
    let expected: usize = git(&[
        "-C",
        &upstream.display().to_string(),
        "rev-list",
        "--branches",
        "--tags",
        "--count",
    ])
    .parse()?;
    let url_text = format!("file://{}", upstream.display());
    let url = UrlPolicy {
        allow_file: true,
        ..UrlPolicy::default()
    }
    .check(&url_text)?;
    let opts = GitOptions::default();
    println!(
        "repository: {} ({expected} commits on branches and tags)",
        source.display()
    );

    // First ingest.
    let root = work.join("mirrors");
    let (ours, mirror) = {
        let start = Instant::now();
        let m = Mirror::open_or_clone(&root, &url, &opts).await?;
        let n = m.list_commits(&LogQuery::default()).await?.len();
        assert_eq!(n, expected);
        (start.elapsed(), m)
    };
    let plain = work.join("plain.git");
    let (clone_full, _) = time(|| {
        git(&[
            "clone",
            "-q",
            "--bare",
            "--",
            &url_text,
            &plain.display().to_string(),
        ])
    });
    let (log_full, _) = time(|| {
        git_piped(&[
            "-C",
            &plain.display().to_string(),
            "log",
            "--all",
            "-z",
            "--date=raw",
            FORMAT,
        ])
    });
    println!(
        "first ingest: evident clone(commits only)+list {:.3}s | git clone --bare {:.3}s + git log {:.3}s = {:.3}s",
        ours.as_secs_f64(),
        clone_full.as_secs_f64(),
        log_full.as_secs_f64(),
        (clone_full + log_full).as_secs_f64()
    );
    println!(
        "mirror size: evident {:.1} MB | plain bare clone {:.1} MB",
        dir_mb(mirror.dir()),
        dir_mb(&plain)
    );

    // Full listing, alternating runs.
    let dir = mirror.dir().display().to_string();
    let up = upstream.display().to_string();
    let single = Mirror::open(
        &root,
        &url,
        &GitOptions {
            list_workers: 1,
            ..opts.clone()
        },
    )
    .await?
    .expect("mirror exists");
    // Wall time and CPU time (ours: this process and its git children) of each variant.
    let mut t: [Vec<(Duration, f64)>; 5] = Default::default();
    let short = "--format=%H%x00%an%x00%ad%x00%s";
    let mut bytes = 0;
    for _ in 0..runs {
        for (i, m) in [&mirror, &single].into_iter().enumerate() {
            let (start, c0) = (Instant::now(), cpu_seconds());
            let n = m.list_commits(&LogQuery::default()).await?.len();
            t[i].push((start.elapsed(), cpu_seconds() - c0));
            assert_eq!(n, expected);
        }
        let variants: [(usize, Vec<&str>); 3] = [
            (
                2,
                vec![
                    "-C",
                    &dir,
                    "log",
                    "--branches",
                    "--tags",
                    "-z",
                    "--date=raw",
                    FORMAT,
                ],
            ),
            (3, vec!["-C", &dir, "log", "--all", short]),
            (4, vec!["-C", &up, "log", "--all", short]),
        ];
        for (i, args) in variants {
            let (start, c0) = (Instant::now(), cpu_seconds());
            let b = git_piped(&args);
            t[i].push((start.elapsed(), cpu_seconds() - c0));
            if i == 2 {
                bytes = b;
            }
        }
    }
    println!(
        "full listing ({runs} runs, {expected} commits, {:.1} MB of git output):",
        bytes as f64 / 1e6
    );
    let labels = [
        "evident list_commits, decoded on all cores",
        "evident list_commits, one decoding thread ",
        "git log -z, same 9 fields, on the mirror  ",
        "git log --all --format=%H%x00%an%x00%ad%x00%s, mirror",
        "git log --all --format=%H%x00%an%x00%ad%x00%s, source",
    ];
    for (label, runs) in labels.iter().zip(t) {
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.1).collect();
        cpu.sort_by(f64::total_cmp);
        let wall = runs.into_iter().map(|r| r.0).collect();
        println!(
            "  {label} {}  cpu median {:.2}s",
            stats(wall),
            cpu[cpu.len() / 2]
        );
    }

    // Incremental refresh after 10 new upstream commits.
    let mut t_refresh = vec![];
    for _ in 0..runs.min(3) {
        let known: Vec<String> = mirror.refs().await?.into_iter().map(|r| r.sha).collect();
        add_commits(&upstream, 10);
        let start = Instant::now();
        let refresh = mirror.refresh(&known).await?;
        t_refresh.push(start.elapsed());
        assert_eq!(refresh.new_commits.len(), 10);
        assert!(refresh.removed.is_empty());
    }
    let (fetch_only, _) = {
        add_commits(&upstream, 10);
        time(|| {
            git(&[
                "-C",
                &plain.display().to_string(),
                "fetch",
                "-q",
                "--",
                &url_text,
                "+refs/heads/*:refs/heads/*",
            ])
        })
    };
    println!(
        "refresh with 10 new commits: evident Mirror::refresh {} | plain git fetch alone {:.3}s",
        stats(t_refresh),
        fetch_only.as_secs_f64()
    );
    println!("peak RSS of this process: {:.1} MB", peak_rss_mb());
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

fn dir_mb(dir: &Path) -> f64 {
    let out = Command::new("du")
        .args(["-sk", &dir.display().to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}
