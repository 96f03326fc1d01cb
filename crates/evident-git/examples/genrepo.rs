//! Generate a large test repository with `git fast-import`: exactly N commits reachable from
//! its refs, a `main` with merged topic branches, live `feature/*` branches, lightweight and
//! annotated tags, and authors and subjects full of separators (`|`, `: `, `, `, ` - `,
//! quotes, unicode) plus empty subjects.
//!
//! ```text
//! cargo run --release -p evident-git --example genrepo -- [--tame] /tmp/r80k 85000 [live-branches]
//! ```
//! `--tame` leaves out the empty subjects, like the standard (not "hostile") repositories of
//! `peers.md`, on which the peer services answer at all.
//! The target directory must not exist; it becomes a bare repository. Keep it out of the
//! source tree (e.g. under /tmp).

use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};

const AUTHORS: &[(&str, &str)] = &[
    ("Alice Smith", "alice@example.com"),
    ("Bob | Pipe", "bob@example.com"),
    ("Carol: Colon", "carol@example.com"),
    ("Dave, Comma", "dave@example.com"),
    ("Eve - Dash", "eve@example.com"),
    ("Frank \"Quotes\" O'Neil", "frank@example.com"),
    ("Zoë Ünïcödé 日本", "zoe@example.com"),
];

const SUBJECTS: &[&str] = &[
    "fix | pipes in the parser",
    "refactor: split module - part {}",
    "Add feature, with commas, {}",
    "\"quoted\" and 'single' subject {}",
    "ünïcödé ☃ change {}",
    "",
    "plain subject number {}",
];

struct Gen<W: Write> {
    out: W,
    subjects: Vec<&'static str>,
    marks: u64,
    commits: u64,
    time: i64,
}

impl<W: Write> Gen<W> {
    fn commit(
        &mut self,
        branch: &str,
        from: Option<u64>,
        merge: Option<u64>,
    ) -> std::io::Result<u64> {
        self.marks += 1;
        self.commits += 1;
        self.time += 97;
        let n = self.commits;
        let (name, email) = AUTHORS[(n % AUTHORS.len() as u64) as usize];
        let subject =
            self.subjects[(n % self.subjects.len() as u64) as usize].replace("{}", &n.to_string());
        let message = if n.is_multiple_of(5) {
            format!("{subject}\n\nBody line with | and : and - for commit {n}.\n")
        } else {
            format!("{subject}\n")
        };
        let tz = ["+0000", "-0700", "+0530", "+0100"][(n % 4) as usize];
        writeln!(self.out, "commit {branch}")?;
        writeln!(self.out, "mark :{}", self.marks)?;
        writeln!(self.out, "author {name} <{email}> {} {tz}", self.time)?;
        writeln!(
            self.out,
            "committer {name} <{email}> {} {tz}",
            self.time + 3
        )?;
        writeln!(self.out, "data {}", message.len())?;
        self.out.write_all(message.as_bytes())?;
        if let Some(from) = from {
            writeln!(self.out, "from :{from}")?;
        }
        if let Some(m) = merge {
            writeln!(self.out, "merge :{m}")?;
        }
        let content = format!("commit {n}\n");
        writeln!(
            self.out,
            "M 100644 inline src/dir{}/file{}.txt",
            n % 37,
            n % 1009
        )?;
        writeln!(self.out, "data {}", content.len())?;
        self.out.write_all(content.as_bytes())?;
        writeln!(self.out)?;
        Ok(self.marks)
    }

    fn lightweight_tag(&mut self, name: &str, mark: u64) -> std::io::Result<()> {
        writeln!(self.out, "reset refs/tags/{name}\nfrom :{mark}\n")
    }

    fn annotated_tag(&mut self, name: &str, mark: u64) -> std::io::Result<()> {
        let msg = format!("release {name} | notes: - \"quoted\"\n");
        writeln!(self.out, "tag {name}\nfrom :{mark}")?;
        writeln!(
            self.out,
            "tagger Release Bot <bot@example.com> {} +0000",
            self.time
        )?;
        writeln!(self.out, "data {}", msg.len())?;
        self.out.write_all(msg.as_bytes())?;
        writeln!(self.out)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().collect();
    let tame = args.iter().any(|a| a == "--tame");
    args.retain(|a| a != "--tame");
    if args.len() < 3 {
        eprintln!("usage: genrepo [--tame] <new-bare-repo-dir> <commits> [live-branches]");
        std::process::exit(2);
    }
    let dir = &args[1];
    let total: u64 = args[2].parse()?;
    let live: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(40);
    if std::path::Path::new(dir).exists() {
        return Err(format!("{dir} exists").into());
    }
    let status = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main", dir])
        .status()?;
    assert!(status.success());
    let mut child = Command::new("git")
        .args(["-C", dir, "fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .spawn()?;
    let stdin = child.stdin.take().expect("stdin");
    let mut g = Gen {
        out: BufWriter::with_capacity(1 << 20, stdin),
        subjects: SUBJECTS
            .iter()
            .copied()
            .filter(|s| !tame || !s.is_empty())
            .collect(),
        marks: 0,
        commits: 0,
        time: 1_500_000_000,
    };
    // Live branches take 1..=5 commits each at the end.
    let live_commits: u64 = (0..live).map(|i| 1 + i % 5).sum();
    let budget = total
        .checked_sub(live_commits)
        .ok_or("too few commits for the live branches")?;
    let mut main = g.commit("refs/heads/main", None, None)?;
    let mut main_marks = vec![main];
    let mut topic = 0u64;
    while g.commits < budget {
        let left = budget - g.commits;
        if left >= 4 && topic.is_multiple_of(3) {
            // A topic branch of 1..=6 commits merged back with a merge commit.
            let len = (1 + topic % 6).min(left - 2);
            let mut tip = g.commit("refs/heads/scratch", Some(main), None)?;
            for _ in 1..len {
                tip = g.commit("refs/heads/scratch", Some(tip), None)?;
            }
            main = g.commit("refs/heads/main", Some(main), Some(tip))?;
        } else {
            main = g.commit("refs/heads/main", Some(main), None)?;
        }
        main_marks.push(main);
        topic += 1;
        if topic.is_multiple_of(400) {
            g.annotated_tag(&format!("v{}.{}", topic / 4000, (topic / 400) % 10), main)?;
        } else if topic.is_multiple_of(150) {
            g.lightweight_tag(&format!("build-{topic}"), main)?;
        }
    }
    for i in 0..live {
        let base = main_marks[(main_marks.len() as u64 * (i + 1) / (live + 1)) as usize];
        let branch = format!("refs/heads/feature/{i:03}");
        let mut tip = g.commit(&branch, Some(base), None)?;
        for _ in 1..(1 + i % 5) {
            tip = g.commit(&branch, Some(tip), None)?;
        }
    }
    // `scratch` only ever held merged topics: delete it.
    writeln!(
        g.out,
        "reset refs/heads/scratch\nfrom 0000000000000000000000000000000000000000\n"
    )?;
    writeln!(g.out, "done")?;
    g.out.flush()?;
    drop(g.out);
    let status = child.wait()?;
    assert!(status.success(), "fast-import failed");
    let _ = Command::new("git")
        .args(["-C", dir, "update-ref", "-d", "refs/heads/scratch"])
        .status();
    eprintln!("generated {} commits in {dir}", g.commits);
    Ok(())
}
