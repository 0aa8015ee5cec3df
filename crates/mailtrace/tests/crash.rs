//! `kill -9` in the middle of an ingest, then the same ingest again: the store ends identical to
//! an uninterrupted run (no duplicates, no gaps), because each batch commits with its checkpoint.

use crate::gen;
use crate::util::{ok, root};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

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
