//! Dashboard and API benchmark (`cargo bench -p mailtrace --bench serve`): not a timed test, a
//! measurement.
//!
//! Builds a store of at least 1,000,000 messages (the real harness log replayed with renumbered
//! queue ids and shifted times, ingested by the release binary; kept in `target/bench` and
//! reused), starts `mailtrace serve` on loopback and measures the latency of HTTP requests as a
//! browser or an API client makes them: p50 and p95 over repeated requests.
//!
//! `MAILTRACE_BENCH_MESSAGES` sets the store size (default 1,000,000 messages).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

#[path = "../tests/gen.rs"]
mod gen;

/// Messages per replay of the harness log, and its lines.
const HARNESS_MESSAGES: usize = 46;
const HARNESS_LINES: usize = 351;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let want: usize = std::env::var("MAILTRACE_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let lines = want.div_ceil(HARNESS_MESSAGES) * HARNESS_LINES;
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work).unwrap();
    let db = work.join(format!("serve-{want}.db"));
    let bin = env!("CARGO_BIN_EXE_mailtrace");
    let count = |db: &Path| -> u64 {
        let out = Command::new(bin)
            .arg("--db")
            .arg(db)
            .arg("stats")
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v["messages"].as_u64())
            .unwrap_or(0)
    };
    if !db.exists() || count(&db) < want as u64 {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
        let log = work.join(format!("postfix-{lines}.log"));
        let t = Instant::now();
        gen::replay(&root.join("testdata/postfix/harness.log"), &log, lines);
        println!(
            "generated {} ({lines} lines) in {:.1?}",
            log.display(),
            t.elapsed()
        );
        let t = Instant::now();
        let st = Command::new(bin)
            .arg("--db")
            .arg(&db)
            .args(["ingest", "--quiet", "--year", "2026"])
            .arg(&log)
            .status()
            .unwrap();
        assert!(st.success());
        println!("ingested in {:.1?}", t.elapsed());
        let _ = std::fs::remove_file(&log);
    }
    let messages = count(&db);
    println!("store {}: {messages} messages", db.display());
    assert!(messages >= want as u64, "store too small");

    let mut child = Command::new(bin)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _server = Server(child);
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(true)
        .build()
        .into();
    let fetch = |path: &str| -> String {
        agent
            .get(format!("{base}{path}"))
            .call()
            .unwrap()
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .unwrap()
    };
    let newest: serde_json::Value =
        serde_json::from_str(&fetch("/api/v1/messages?limit=1")).unwrap();
    let newest_at = newest["messages"][0]["received_at"]
        .as_str()
        .unwrap()
        .to_string();
    let since =
        newest_at.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_hours(24);
    let some: serde_json::Value =
        serde_json::from_str(&fetch("/api/v1/messages?status=bounced&limit=1&page=500")).unwrap();
    let id = some["messages"][0]["id"].as_str().unwrap().to_string();
    let cases: Vec<(&str, String)> = vec![
        (
            "API recipient address",
            "/api/v1/messages?to=rcpt17%40later.test".into(),
        ),
        (
            "API recipient @domain",
            "/api/v1/messages?to=%40reject.test".into(),
        ),
        (
            "API sender domain + 24 h",
            format!("/api/v1/messages?from=%40ok.test&since={since}"),
        ),
        (
            "API subject substring",
            "/api/v1/messages?subject=two+recipients".into(),
        ),
        (
            "API queue id",
            format!(
                "/api/v1/messages?queue_id={}",
                some["messages"][0]["queue_id"].as_str().unwrap()
            ),
        ),
        (
            "page: search by recipient",
            "/?to=rcpt17%40later.test".into(),
        ),
        ("page: newest 50, no filter", "/".into()),
        (
            "API report, 30 days",
            format!(
                "/api/v1/report?since={}",
                newest_at.parse::<jiff::Timestamp>().unwrap()
                    - jiff::SignedDuration::from_hours(30 * 24)
            ),
        ),
        (
            "page: statistics, 30 days",
            format!(
                "/stats?since={}&tz=UTC",
                newest_at.parse::<jiff::Timestamp>().unwrap()
                    - jiff::SignedDuration::from_hours(30 * 24)
            ),
        ),
        ("API message detail", format!("/api/v1/messages/{id}")),
        ("page: message", format!("/message/{id}")),
    ];
    println!("{:<30} {:>9} {:>9}  result", "request", "p50 ms", "p95 ms");
    for (name, path) in cases {
        let mut ms = Vec::new();
        let mut body = String::new();
        fetch(&path); // warm the page cache once
        for _ in 0..40 {
            let t = Instant::now();
            body = fetch(&path);
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        let what = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["total"].as_u64())
            .map_or_else(
                || format!("{} bytes", body.len()),
                |t| format!("{t} matches"),
            );
        println!("{name:<30} {:>9.2} {:>9.2}  {what}", p(0.5), p(0.95));
    }
}
