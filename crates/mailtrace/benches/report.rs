//! Statistics benchmark (`cargo bench -p mailtrace --bench report`): not a timed test, a
//! measurement.
//!
//! 1. `mailtrace report --file` on the generated 1,000,000-line Postfix log, and pflogsumm on
//!    the same file in the same run (five runs each, interleaved): lines/s of the fastest run
//!    and of the median one, and peak RSS, of both. The fastest run is the one the shared
//!    machine disturbed least (noise only ever adds time); the median shows how much it did.
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
    // Runs of each, interleaved so that a busy moment of the (shared) machine hits both.
    const RUNS: usize = 5;
    let pflogsumm = Path::new("/usr/sbin/pflogsumm").exists();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(measure(
            Command::new(bin)
                .args(["report", "--year", "2026", "--file"])
                .arg(&log),
        ));
        if pflogsumm {
            theirs.push(measure(Command::new("/usr/sbin/pflogsumm").arg(&log)));
        }
    }
    // Lines/s of the fastest and of the median run, and the peak RSS of the median run.
    let rates = |runs: &mut Vec<measure::Measured>| {
        runs.sort_by_key(|m| m.wall);
        let rate = |m: &measure::Measured| lines as f64 / m.wall.as_secs_f64();
        let median = &runs[runs.len() / 2];
        (
            rate(&runs[0]),
            rate(median),
            median.wall.as_secs_f64(),
            median.peak_rss_kb as f64 / 1024.0,
        )
    };
    let (best, med, wall, rss) = rates(&mut ours);
    println!(
        "mailtrace report --file: {best:>9.0} lines/s best, {med:>9.0} median ({wall:.2} s), peak RSS {rss:>6.1} MB  ({RUNS} runs)"
    );
    if pflogsumm {
        let (p_best, p_med, p_wall, p_rss) = rates(&mut theirs);
        println!(
            "pflogsumm, same file:    {p_best:>9.0} lines/s best, {p_med:>9.0} median ({p_wall:.2} s), peak RSS {p_rss:>6.1} MB  ({RUNS} runs)"
        );
        println!(
            "mailtrace is {:.1}x as fast (best runs), {:.1}x (median runs)",
            best / p_best,
            med / p_med
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
