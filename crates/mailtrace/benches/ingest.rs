//! Ingest benchmark (`cargo bench -p mailtrace --bench ingest`): not a timed test, a measurement.
//!
//! Generates a large realistic Postfix log by replaying the real harness log
//! (`testdata/postfix/harness.log`) with renumbered queue ids, Message-IDs and pids and shifted
//! times, ingests it with the release `mailtrace` binary into a fresh embedded store, runs
//! pflogsumm on the same file when it is installed, and prints lines/s and peak RSS of both, then
//! search latencies (p50/p95) on the resulting store.
//!
//! `MAILTRACE_BENCH_LINES` sets the size (default 1,000,000 lines). With
//! `MAILTRACE_BENCH_CLICKHOUSE=http://HOST:8123` the same log is also ingested into a fresh
//! ClickHouse database there, and the same queries run on both stores, side by side.

#![allow(clippy::unwrap_used)]

use mailtrace_model::Status;
use mailtrace_query::{AddressPattern, Filter, Paging};
use mailtrace_store::sqlite::SqliteStore;
use mailtrace_store::Store;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "../tests/gen.rs"]
mod gen;
mod measure;

use measure::{latency, latency_n, measure};

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
    let (lines, bytes) = gen::replay(&root.join("testdata/postfix/harness.log"), &log, want);
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
    println!("-- embedded store");
    let embedded = queries(&store);
    let Ok(url) = std::env::var("MAILTRACE_BENCH_CLICKHOUSE") else {
        println!("MAILTRACE_BENCH_CLICKHOUSE not set: no ClickHouse comparison");
        return;
    };
    let url = format!(
        "{}/mailtrace_bench",
        url.trim_end_matches('/')
            .replacen("http://", "clickhouse://", 1)
    );
    let bin = env!("CARGO_BIN_EXE_mailtrace");
    let _ = Command::new("curl")
        .args(["-s", "-d", "DROP DATABASE IF EXISTS mailtrace_bench"])
        .arg(
            url.replacen("clickhouse://", "http://", 1)
                .replace("/mailtrace_bench", "/"),
        )
        .status();
    assert!(Command::new(bin)
        .args(["--store", &url, "migrate"])
        .status()
        .expect("migrate")
        .success());
    let theirs = measure(
        Command::new(bin)
            .args(["--store", &url, "ingest", "--quiet", "--json"])
            .arg(&log),
    );
    println!(
        "mailtrace ingest (ClickHouse): {:>8.0} lines/s  {:>6.2} s  peak RSS {:>6.1} MB (mailtrace only)",
        lines as f64 / theirs.wall.as_secs_f64(),
        theirs.wall.as_secs_f64(),
        theirs.peak_rss_kb as f64 / 1024.0
    );
    let loc = mailtrace_store::clickhouse::Location::parse(&url).expect("url");
    let ch = mailtrace_store::clickhouse::ClickHouseStore::open(&loc, "bench").expect("open");
    println!("-- ClickHouse store");
    let clickhouse = queries(&ch);
    assert_eq!(clickhouse, embedded, "the stores' statistics differ");
    println!("statistics of 30 days: the same on both stores");
}

/// The searches of the dashboard, timed on `store`.
fn queries(store: &dyn Store) -> mailtrace_report::Report {
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
    let month = Filter {
        since: Some(mailtrace_model::Ts(newest.0 - 30 * 86_400_000_000)),
        ..Filter::default()
    };
    let (p50, p95, _) = latency_n(5, || {
        store
            .report(&month, &jiff::tz::TimeZone::UTC, 15)
            .expect("report")
            .totals
            .received
    });
    println!("statistics of 30 days (report) p50 {p50:>8.2} ms  p95 {p95:>8.2} ms");
    store
        .report(&month, &jiff::tz::TimeZone::UTC, 15)
        .expect("report")
}
