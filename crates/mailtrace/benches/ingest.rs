//! Ingest benchmark (`cargo bench -p mailtrace --bench ingest`): not a timed test, a measurement.
//!
//! Generates a large realistic Postfix log by replaying the real harness log
//! (`testdata/postfix/harness.log`) with renumbered queue ids, Message-IDs and pids and shifted
//! times, ingests it with the release `mailtrace` binary into a fresh embedded store, runs
//! pflogsumm on the same file when it is installed, and prints lines/s and peak RSS of both, then
//! search latencies (p50/p95) on the resulting store.
//!
//! `MAILTRACE_BENCH_LINES` sets the size (default 1,000,000 lines).

#![allow(clippy::unwrap_used)]

use mailtrace_model::Status;
use mailtrace_query::{AddressPattern, Filter, Paging};
use mailtrace_store::sqlite::SqliteStore;
use mailtrace_store::Store;
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let want: usize = std::env::var("MAILTRACE_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work).expect("target/bench");
    let log = work.join(format!("postfix-{want}.log"));
    let t = Instant::now();
    let (lines, bytes) = generate(&root.join("testdata/postfix/harness.log"), &log, want);
    println!(
        "generated {} ({lines} lines, {:.1} MB) in {:.1?}",
        log.display(),
        bytes as f64 / 1e6,
        t.elapsed()
    );

    let db = work.join("bench.db");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let ours = measure(
        Command::new(env!("CARGO_BIN_EXE_mailtrace"))
            .arg("--db")
            .arg(&db)
            .args(["ingest", "--quiet", "--json"])
            .arg(&log),
    );
    println!(
        "mailtrace ingest (embedded store): {:>8.0} lines/s  {:>6.2} s  peak RSS {:>6.1} MB",
        lines as f64 / ours.wall.as_secs_f64(),
        ours.wall.as_secs_f64(),
        ours.peak_rss_kb as f64 / 1024.0
    );
    if Path::new("/usr/sbin/pflogsumm").exists() {
        let theirs = measure(Command::new("/usr/sbin/pflogsumm").arg(&log));
        println!(
            "pflogsumm (report only, stores nothing): {:>8.0} lines/s  {:>6.2} s  peak RSS {:>6.1} MB",
            lines as f64 / theirs.wall.as_secs_f64(),
            theirs.wall.as_secs_f64(),
            theirs.peak_rss_kb as f64 / 1024.0
        );
    } else {
        println!("pflogsumm not installed (apt-get install pflogsumm): no comparison");
    }

    let store = SqliteStore::open(&db).expect("open bench store");
    let stats = store.stats().expect("stats");
    println!(
        "store: {} messages, {} recipients, {} still queued",
        stats.messages, stats.recipients, stats.open
    );
    let latest = store
        .search(&Filter::default(), Paging { limit: 1, page: 1 })
        .expect("search")
        .messages;
    let newest = latest.first().map(|m| m.received_at).unwrap_or_default();
    let some_qid = store
        .search(
            &Filter {
                status: vec![Status::Bounced],
                ..Filter::default()
            },
            Paging { limit: 1, page: 3 },
        )
        .expect("search")
        .messages
        .first()
        .and_then(|m| m.queue_id.clone())
        .unwrap_or_default();
    let queries: Vec<(&str, Filter)> = vec![
        (
            "recipient address",
            Filter {
                to: Some(AddressPattern::Exact("rcpt17@later.test".into())),
                ..Filter::default()
            },
        ),
        (
            "sender domain + 24 h",
            Filter {
                from: Some(AddressPattern::Domain("ok.test".into())),
                since: Some(mailtrace_model::Ts(newest.0 - 86_400_000_000)),
                ..Filter::default()
            },
        ),
        (
            "subject substring",
            Filter {
                subject: Some("two recipients".into()),
                ..Filter::default()
            },
        ),
        (
            "status bounced",
            Filter {
                status: vec![Status::Bounced],
                ..Filter::default()
            },
        ),
        (
            "queue id",
            Filter {
                queue_id: Some(some_qid.clone()),
                ..Filter::default()
            },
        ),
    ];
    for (name, f) in &queries {
        let (p50, p95, total) = latency(|| {
            store
                .search(f, Paging { limit: 50, page: 1 })
                .expect("search")
                .total
        });
        println!("search {name:<22} p50 {:>8.2} ms  p95 {:>8.2} ms  ({total} matches, first page of 50 with total)", p50, p95);
    }
    let id = store
        .lookup(&some_qid)
        .expect("lookup")
        .first()
        .map(|m| m.id)
        .unwrap_or_default();
    let (p50, p95, _) = latency(|| {
        store
            .get(id)
            .expect("get")
            .map_or(0, |m| m.lines.len() as u64)
    });
    println!("message detail (get)          p50 {p50:>8.2} ms  p95 {p95:>8.2} ms");
}

struct Measured {
    wall: Duration,
    peak_rss_kb: u64,
}

/// Run a command to completion, sampling its peak RSS (VmHWM) from /proc.
fn measure(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                peak = kb;
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "{cmd:?} failed: {st}");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Measured {
        wall: start.elapsed(),
        peak_rss_kb: peak,
    }
}

fn latency(mut f: impl FnMut() -> u64) -> (f64, f64, u64) {
    let mut v = Vec::new();
    let mut last = 0;
    for _ in 0..40 {
        let t = Instant::now();
        last = f();
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[v.len() * 95 / 100], last)
}

/// Replay `src` until `want` lines are written; returns (lines, bytes).
fn generate(src: &Path, out: &Path, want: usize) -> (usize, u64) {
    let text = std::fs::read_to_string(src).expect("harness log");
    let lines: Vec<&str> = text.lines().filter(|l| l.len() > 16).collect();
    // Queue ids of the original, in order of appearance, so each replay gets fresh ones.
    let mut qids: HashMap<String, usize> = HashMap::new();
    for l in &lines {
        for w in l.split(|c: char| !c.is_ascii_alphanumeric()) {
            if w.len() == 11
                && w.bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                && w.bytes().any(|b| b.is_ascii_alphabetic())
            {
                let n = qids.len();
                qids.entry(w.to_string()).or_insert(n);
            }
        }
    }
    let first = parse_time(lines[0]);
    let last = parse_time(lines[lines.len() - 1]);
    let span = (last - first).max(1) + 20;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).expect("create"));
    let (mut n, mut bytes) = (0usize, 0u64);
    let mut k: u64 = 0;
    'outer: loop {
        for l in &lines {
            let t = parse_time(l) + k as i64 * span;
            let body = &l[15..];
            let mut s = String::with_capacity(l.len() + 8);
            s.push_str(&format_time(t));
            for (i, part) in split_keep(body).into_iter().enumerate() {
                let _ = i;
                if let Some(idx) = qids.get(part) {
                    s.push_str(&format!(
                        "{:011X}",
                        0x1_0000_0000u64 + k * qids.len() as u64 + *idx as u64
                    ));
                } else if let Some(case) = part
                    .strip_prefix("case")
                    .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
                {
                    s.push_str(&format!("case{case}x{k}"));
                } else {
                    s.push_str(part);
                }
            }
            s.push('\n');
            w.write_all(s.as_bytes()).expect("write");
            bytes += s.len() as u64;
            n += 1;
            if n >= want {
                break 'outer;
            }
        }
        k += 1;
    }
    w.flush().expect("flush");
    (n, bytes)
}

/// Split into alternating runs of alphanumerics and the rest.
fn split_keep(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut alnum = None;
    for (i, c) in s.char_indices() {
        let a = c.is_ascii_alphanumeric();
        if alnum.is_some_and(|x| x != a) {
            out.push(&s[start..i]);
            start = i;
        }
        alnum = Some(a);
    }
    out.push(&s[start..]);
    out
}

/// Seconds of a BSD timestamp within a non-leap year (enough to shift and re-format).
fn parse_time(l: &str) -> i64 {
    let m = MONTHS.iter().position(|m| l.starts_with(m)).unwrap_or(0) as i64;
    let d: i64 = l[4..6].trim().parse().unwrap_or(1);
    let h: i64 = l[7..9].parse().unwrap_or(0);
    let mi: i64 = l[10..12].parse().unwrap_or(0);
    let s: i64 = l[13..15].parse().unwrap_or(0);
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    ((CUM[m as usize] + d - 1) * 86_400) + h * 3600 + mi * 60 + s
}

fn format_time(t: i64) -> String {
    const CUM: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
    let t = t.rem_euclid(365 * 86_400);
    let day = t / 86_400;
    let m = (0..12).rev().find(|&i| CUM[i] <= day).unwrap_or(0);
    let d = day - CUM[m] + 1;
    let r = t % 86_400;
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[m],
        d,
        r / 3600,
        (r / 60) % 60,
        r % 60
    )
}
