//! Statistics benchmark (`cargo bench -p mailtrace --bench report`): not a timed test, a
//! measurement.
//!
//! 1. `mailtrace report --file` on the generated 1,000,000-line Postfix log, and pflogsumm on
//!    the same file in the same run: lines/s and peak RSS of both.
//! 2. Statistics of the last 30 days from the store of 1,000,000 messages that
//!    `cargo bench --bench serve` builds (skipped when it does not exist yet): wall time of
//!    `mailtrace report`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

#[path = "../tests/gen.rs"]
mod gen;
mod measure;

use measure::measure;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work).unwrap();
    let lines = 1_000_000;
    let log = work.join(format!("postfix-{lines}.log"));
    if !log.exists() {
        gen::replay(&root.join("testdata/postfix/harness.log"), &log, lines);
    }
    let bin = env!("CARGO_BIN_EXE_mailtrace");
    let ours = measure(
        Command::new(bin)
            .args(["report", "--year", "2026", "--file"])
            .arg(&log),
    );
    let ours_rate = lines as f64 / ours.wall.as_secs_f64();
    println!(
        "mailtrace report --file: {ours_rate:>9.0} lines/s  {:>6.2} s  peak RSS {:>6.1} MB",
        ours.wall.as_secs_f64(),
        ours.peak_rss_kb as f64 / 1024.0
    );
    if Path::new("/usr/sbin/pflogsumm").exists() {
        let theirs = measure(Command::new("/usr/sbin/pflogsumm").arg(&log));
        let rate = lines as f64 / theirs.wall.as_secs_f64();
        println!(
            "pflogsumm, same file:    {rate:>9.0} lines/s  {:>6.2} s  peak RSS {:>6.1} MB  (mailtrace is {:.1}x)",
            theirs.wall.as_secs_f64(),
            theirs.peak_rss_kb as f64 / 1024.0,
            ours_rate / rate
        );
    } else {
        println!("pflogsumm not installed (apt-get install pflogsumm): no comparison");
    }

    let store = work.join("serve-1000000.db");
    if !store.exists() {
        println!("no 1M-message store yet (cargo bench -p mailtrace --bench serve builds it)");
        return;
    }
    let newest = Command::new(bin)
        .arg("--db")
        .arg(&store)
        .args(["search", "--limit", "1", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&newest.stdout).unwrap();
    let at: jiff::Timestamp = v["messages"][0]["received_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let since = at - jiff::SignedDuration::from_hours(30 * 24);
    let stats = measure(
        Command::new(bin)
            .arg("--db")
            .arg(&store)
            .args(["report", "--format", "json", "--since"])
            .arg(since.to_string()),
    );
    println!(
        "statistics of 30 days from the 1M-message store: {:.2} s, peak RSS {:.1} MB",
        stats.wall.as_secs_f64(),
        stats.peak_rss_kb as f64 / 1024.0
    );
}
