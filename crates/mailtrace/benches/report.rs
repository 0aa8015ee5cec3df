//! Statistics benchmark (`cargo bench -p mailtrace --bench report`): not a timed test, a
//! measurement.
//!
//! 1. `mailtrace report --file` on the generated 1,000,000-line Postfix log, and pflogsumm on
//!    the same file in the same run (three runs each, interleaved; medians): lines/s and peak
//!    RSS of both.
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
    // Three runs of each, interleaved so that a busy moment of the (shared) machine hits both;
    // the medians are compared.
    let pflogsumm = Path::new("/usr/sbin/pflogsumm").exists();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(measure(
            Command::new(bin)
                .args(["report", "--year", "2026", "--file"])
                .arg(&log),
        ));
        if pflogsumm {
            theirs.push(measure(Command::new("/usr/sbin/pflogsumm").arg(&log)));
        }
    }
    let median = |runs: &mut Vec<measure::Measured>| {
        runs.sort_by_key(|m| m.wall);
        let m = &runs[runs.len() / 2];
        (
            lines as f64 / m.wall.as_secs_f64(),
            m.wall.as_secs_f64(),
            m.peak_rss_kb as f64 / 1024.0,
        )
    };
    let (ours_rate, wall, rss) = median(&mut ours);
    println!(
        "mailtrace report --file: {ours_rate:>9.0} lines/s  {wall:>6.2} s  peak RSS {rss:>6.1} MB  (median of 3)"
    );
    if pflogsumm {
        let (rate, wall, rss) = median(&mut theirs);
        println!(
            "pflogsumm, same file:    {rate:>9.0} lines/s  {wall:>6.2} s  peak RSS {rss:>6.1} MB  (median of 3; mailtrace is {:.1}x)",
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
