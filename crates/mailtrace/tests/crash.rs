//! `kill -9` in the middle of an ingest, then the same ingest again: the store ends identical to
//! an uninterrupted run (no duplicates, no gaps), because each batch commits with its checkpoint.
//! The same for `ingest --follow`, killed while it reads and started again.

use crate::gen;
use crate::util::{mailtrace, ok, root};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn stats(db: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(db, &["stats"])).unwrap()
}

fn export(db: &Path) -> Vec<String> {
    let mut v: Vec<String> = ok(db, &["export", "--format", "json"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn kill_dash_nine_mid_ingest_then_resume_gives_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let (lines, _) = gen::replay(&root().join("testdata/postfix/harness.log"), &log, 150_000);
    let log_s = log.to_str().unwrap();

    let reference = dir.path().join("reference.db");
    ok(&reference, &["ingest", "--quiet", log_s]);

    let crashed = dir.path().join("crashed.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args([
            "--db",
            crashed.to_str().unwrap(),
            "ingest",
            "--quiet",
            "--batch-lines",
            "2000",
            log_s,
        ])
        .env("TZ", "UTC")
        .spawn()
        .unwrap();
    // Wait for the first committed batches, then kill without warning.
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < 6000, "the ingest never committed anything");
        if let Some(st) = child.try_wait().unwrap() {
            panic!("ingest finished ({st}) before it could be killed; use a bigger log");
        }
        if crashed.exists() && stats(&crashed)["messages"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    let partial = stats(&crashed);
    let reference_stats = stats(&reference);
    assert!(
        partial["messages"].as_u64() < reference_stats["messages"].as_u64(),
        "the kill landed mid-ingest: {partial} vs {reference_stats}"
    );

    let resumed: serde_json::Value =
        serde_json::from_str(&ok(&crashed, &["ingest", "--quiet", "--json", log_s])).unwrap();
    assert!(
        resumed["files"][0]["resumed_at"].as_u64().unwrap() > 0,
        "resumed from the checkpoint: {resumed}"
    );
    assert!(resumed["lines"].as_u64().unwrap() < lines as u64);
    assert_eq!(
        stats(&crashed),
        reference_stats,
        "same counts, loose lines included"
    );
    assert_eq!(
        export(&crashed),
        export(&reference),
        "same messages, statuses and recipients"
    );
}

/// The last line appended to the followed log: once it is stored, everything before it is.
const END_MARK: &str = "crash test: end of the log";

/// `mailtrace --db DB ingest --follow --quiet --json --year 2025 LOG`, its summary on a pipe.
/// (The year is given: the replayed log's dates do not depend on when the test runs.)
fn follow(db: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("--db")
        .arg(db)
        .args(["ingest", "--follow", "--quiet", "--json", "--year", "2025"])
        .arg(log)
        .env("TZ", "UTC")
        .env_remove("MAILTRACE_TZ")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `stats`, or `None` while the store does not exist yet.
fn try_stats(db: &Path) -> Option<serde_json::Value> {
    let out = mailtrace(db, &["stats"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Has the follower committed [`END_MARK`]?
fn read_to_the_end(db: &Path) -> bool {
    let out = mailtrace(db, &["lines", "--kind", "other", "--grep", END_MARK]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains(END_MARK)
}

/// How long a follower may take to commit the whole log before the test fails (a bound for
/// slow machines, not a measure).
const SETTLE: Duration = Duration::from_secs(300);

/// Wait (bounded by [`SETTLE`]) until the follower has committed the whole log and its stats
/// no longer change between two looks; returns them.
fn wait_until_settled(db: &Path, child: &mut Child, what: &str) -> serde_json::Value {
    let deadline = Instant::now() + SETTLE;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the {what} follower exited ({st}) while following");
        }
        let now = try_stats(db);
        if let Some(st) = now.as_ref().filter(|&st| last.as_ref() == Some(st)) {
            if read_to_the_end(db) {
                return st.clone();
            }
        }
        last = now;
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!(
        "the {what} follower did not commit the whole log within {SETTLE:?} (stats {last:?}, \
         end mark stored: {})",
        read_to_the_end(db)
    );
}

/// Stop as a service manager does (SIGTERM): it commits and exits; returns its `--json`
/// summary.
fn stop(child: Child) -> serde_json::Value {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM failed");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "follower exited with {}", out.status);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ingest --follow` killed with SIGKILL while it reads a large log, then started again on the
/// same store: the store ends identical to an uninterrupted `--follow` run on the same log
/// (no duplicates, no gaps, the same correlation across the restart).
#[test]
fn kill_dash_nine_mid_follow_then_resume_gives_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    // Big enough that the first commit (after a second of reading) comes long before the end.
    let (lines, _) = gen::replay(&root().join("testdata/postfix/harness.log"), &log, 200_000);
    // A line of another program, at the time of the last one, marks the end.
    let text = std::fs::read_to_string(&log).unwrap();
    let last_time = text.lines().last().unwrap()[..15].to_string();
    drop(text);
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "{last_time} mx crashtest[1]: {END_MARK}").unwrap();
    drop(f);
    let lines = lines as u64 + 1;

    // The reference, an uninterrupted run, reads alongside the one to kill.
    let reference = dir.path().join("reference.db");
    let mut reference_child = follow(&reference, &log);

    // Killed without warning once it has committed some messages.
    let crashed = dir.path().join("crashed.db");
    let mut child = follow(&crashed, &log);
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < 6000, "the follower never committed anything");
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the follower exited ({st}) before it could be killed");
        }
        if try_stats(&crashed).is_some_and(|s| s["messages"].as_u64().unwrap_or(0) > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not stopped");
    let partial = stats(&crashed);

    // Started again on the same store: it resumes from its last commit.
    let mut child = follow(&crashed, &log);

    let reference_stats = wait_until_settled(&reference, &mut reference_child, "reference");
    let summary = stop(reference_child);
    assert_eq!(summary["lines"].as_u64(), Some(lines), "{summary}");
    assert_eq!(
        stats(&reference),
        reference_stats,
        "SIGTERM committed nothing more"
    );
    assert!(reference_stats["messages"].as_u64().unwrap() > 10_000);
    assert!(
        partial["messages"].as_u64() < reference_stats["messages"].as_u64(),
        "the kill landed mid-read: {partial} vs {reference_stats}; use a bigger log"
    );

    let resumed_stats = wait_until_settled(&crashed, &mut child, "resumed");
    let summary = stop(child);
    let read = summary["lines"].as_u64().unwrap();
    assert!(
        read > 0 && read < lines,
        "resumed from the checkpoint, not from the start: {read} of {lines} lines read"
    );
    assert_eq!(
        resumed_stats, reference_stats,
        "same counts (messages, recipients, open, loose, unparsed)"
    );
    assert_eq!(stats(&crashed), reference_stats, "after SIGTERM");
    assert_eq!(
        export(&crashed),
        export(&reference),
        "same messages, statuses and recipients"
    );
}
