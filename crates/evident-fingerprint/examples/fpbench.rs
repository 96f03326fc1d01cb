//! Benchmark harness: fingerprints a directory (or a file) and reports throughput.
//!
//! ```text
//! cargo run --release -p evident-fingerprint --example fpbench -- PATH [-x PATTERN]... [--threads N] [--type T] [--progress]
//! ```
//!
//! The type defaults to `dir` for a directory and `file` otherwise. `--progress`
//! passes progress counters (as a CLI progress bar would), which adds a `stat` per file.
//!
//! Prints the digest on the first line (so it can be compared with other tools), then
//! the elapsed time, file and byte counts and throughput on stderr. Compare with
//! `find PATH -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`, which reads
//! the same bytes sequentially (its digest differs: it is a different algorithm).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use evident_fingerprint::{digest, ArtifactType, DigestOptions, DirOptions, Progress};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path: Option<PathBuf> = None;
    let mut excludes = Vec::new();
    let mut threads: Option<usize> = None;
    let mut kind: Option<ArtifactType> = None;
    let mut with_progress = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-x" | "--exclude" => match args.next() {
                Some(p) => excludes.push(p),
                None => return usage("-x needs a pattern"),
            },
            "--threads" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => threads = Some(n),
                None => return usage("--threads needs a number"),
            },
            "--type" => match args.next().map(|t| t.parse::<ArtifactType>()) {
                Some(Ok(t)) => kind = Some(t),
                Some(Err(e)) => return usage(&e.to_string()),
                None => return usage("--type needs a value"),
            },
            "--progress" => with_progress = true,
            "-h" | "--help" => return usage(""),
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            _ => return usage("only one PATH"),
        }
    }
    let Some(path) = path else {
        return usage("PATH is required");
    };
    if let Some(n) = threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("fpbench: cannot set threads: {e}");
            return ExitCode::FAILURE;
        }
    }

    let kind = kind.unwrap_or(if path.is_dir() {
        ArtifactType::Dir
    } else {
        ArtifactType::File
    });
    let progress = Progress::new();
    let opts = DigestOptions {
        dir: DirOptions {
            excludes,
            progress: with_progress.then(|| progress.clone()),
        },
        ..Default::default()
    };
    let start = Instant::now();
    let result = digest(kind, &path, &opts);
    let elapsed = start.elapsed().as_secs_f64();
    match result {
        Ok(digest) => {
            println!("{digest}");
            if !matches!(kind, ArtifactType::File | ArtifactType::Dir) {
                eprintln!("elapsed {elapsed:.3} s");
                return ExitCode::SUCCESS;
            }
            // Counted after the clock stopped, so the count costs nothing measured.
            let (files, bytes) = if with_progress {
                (progress.files_done(), progress.bytes_done())
            } else {
                count(&path)
            };
            eprintln!(
                "elapsed {elapsed:.3} s, {files} files, {bytes} bytes, {:.1} MB/s, {:.0} files/s",
                bytes as f64 / 1e6 / elapsed,
                files as f64 / elapsed
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fpbench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Regular files (symlinks followed, as the digest does for files) and their bytes.
fn count(path: &std::path::Path) -> (u64, u64) {
    let Ok(meta) = std::fs::metadata(path) else {
        return (0, 0);
    };
    if !meta.is_dir() {
        return (1, meta.len());
    }
    let mut total = (0, 0);
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        let p = entry.path();
        if is_link && p.is_dir() {
            continue;
        }
        let (f, b) = count(&p);
        total = (total.0 + f, total.1 + b);
    }
    total
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("fpbench: {problem}");
    }
    eprintln!(
        "usage: fpbench PATH [-x PATTERN]... [--threads N] [--type file|dir|docker|oci] [--progress]"
    );
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
