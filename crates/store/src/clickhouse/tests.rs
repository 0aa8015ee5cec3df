//! The store suite against a real ClickHouse server: `MAILTRACE_TEST_CLICKHOUSE` names it
//! (`scripts/test.sh` starts a private one on loopback and sets it). Without it the tests
//! skip, except in CI (`CI=true`), where they must run.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// The URL in `var`, or `None` (skip) outside CI, where scripts/test.sh must have set it.
fn url_of(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
                "CI=true but {var} is not set: scripts/test.sh must start ClickHouse"
            );
            eprintln!("{var} is not set: skipping");
            None
        }
    }
}

/// The server's URL.
fn server() -> Option<String> {
    url_of("MAILTRACE_TEST_CLICKHOUSE")
}

/// The test cluster: a node's URL (scripts/test.sh starts two nodes and ZooKeeper).
fn cluster() -> Option<String> {
    url_of("MAILTRACE_TEST_CLICKHOUSE_CLUSTER")
}

/// The cluster's name in the nodes' configuration (tests/clickhouse/start.sh).
const CLUSTER: &str = "mailtrace_test";

/// A fresh, migrated database on the test server.
fn fresh(url: &str) -> Location {
    fresh_on(url, None)
}

/// A fresh database migrated on one server or spread over `cluster`.
fn fresh_on(url: &str, cluster: Option<&str>) -> Location {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = format!("mailtrace_test_{}_{n}", std::process::id());
    let loc = Location::parse(&format!("{}/{name}", url.trim_end_matches('/'))).unwrap();
    runtime()
        .unwrap()
        .block_on(async {
            loc.server_client()
                .query(&format!(
                    "DROP DATABASE IF EXISTS `{name}`{}",
                    cluster.map_or(String::new(), |c| format!(" ON CLUSTER {c}"))
                ))
                .execute()
                .await
        })
        .unwrap();
    assert_eq!(
        ClickHouseStore::migrate(&loc, cluster).unwrap(),
        (0, schema::VERSION)
    );
    loc
}

#[test]
fn passes_the_store_suite() {
    let Some(url) = server() else { return };
    crate::suite::run_all(&mut || Box::new(ClickHouseStore::open(&fresh(&url), "suite").unwrap()));
}

#[test]
fn migrate_is_idempotent_and_open_needs_the_schema() {
    let Some(url) = server() else { return };
    let loc = fresh(&url);
    assert_eq!(
        ClickHouseStore::migrate(&loc, None).unwrap(),
        (schema::VERSION, schema::VERSION)
    );
    // A database on one server is not made a cluster's.
    let err = ClickHouseStore::migrate(&loc, Some(CLUSTER)).unwrap_err();
    assert!(err.to_string().contains("one server"), "{err}");
    let tables: Vec<String> = runtime()
        .unwrap()
        .block_on(async {
            loc.server_client()
                .query("SELECT name FROM system.tables WHERE database = ? ORDER BY name")
                .bind(loc.database.as_str())
                .fetch_all()
                .await
        })
        .unwrap();
    let mut want: Vec<String> = schema::TABLES.iter().map(|t| t.to_string()).collect();
    want.sort();
    assert_eq!(tables, want);
    let missing = Location::parse(&format!(
        "{}/mailtrace_never_made",
        url.trim_end_matches('/')
    ))
    .unwrap();
    let err = ClickHouseStore::open(&missing, "w")
        .err()
        .expect("no schema");
    assert!(err.to_string().contains("mailtrace migrate"), "{err}");
}

#[test]
fn writers_have_their_own_line_numbers_checkpoints_and_state() {
    let Some(url) = server() else { return };
    let loc = fresh(&url);
    let mut a = ClickHouseStore::open(&loc, "mx1").unwrap();
    let mut b = ClickHouseStore::open(&loc, "mx2").unwrap();
    assert_ne!(a.next_line_no().unwrap(), b.next_line_no().unwrap());
    for (s, name) in [(&mut a, "mx1"), (&mut b, "mx2")] {
        let mut raw = crate::RawLines::starting_at(s.next_line_no().unwrap());
        raw.push(&format!(
            "Jan  1 00:00:00 {name} postfix/qmgr[1]: ABC: removed"
        ));
        s.write(WriteBatch {
            raw,
            checkpoint: Some(Checkpoint {
                ident: 7,
                ident_len: 100,
                path: format!("/var/log/{name}.log"),
                offset: 100,
                lines: 1,
            }),
            state: Some(format!("{{\"{name}\":1}}")),
            ..WriteBatch::default()
        })
        .unwrap();
    }
    // Reopened, each finds its own.
    let a = ClickHouseStore::open(&loc, "mx1").unwrap();
    let b = ClickHouseStore::open(&loc, "mx2").unwrap();
    assert_eq!(
        a.correlator_state().unwrap().as_deref(),
        Some("{\"mx1\":1}")
    );
    assert_eq!(
        b.correlator_state().unwrap().as_deref(),
        Some("{\"mx2\":1}")
    );
    assert_eq!(a.checkpoints().unwrap()[0].path, "/var/log/mx1.log");
    assert_eq!(b.checkpoints().unwrap()[0].path, "/var/log/mx2.log");
    let (na, nb) = (a.next_line_no().unwrap(), b.next_line_no().unwrap());
    assert_eq!(
        a.raw_lines(&[na - 1, nb - 1]).unwrap(),
        vec![
            Some("Jan  1 00:00:00 mx1 postfix/qmgr[1]: ABC: removed".to_string()),
            Some("Jan  1 00:00:00 mx2 postfix/qmgr[1]: ABC: removed".to_string()),
        ]
    );
    assert!(na < (1 << 52) && nb < (1 << 52), "exact in JSON numbers");
}

#[test]
fn reports_come_from_the_stats_table() {
    let Some(url) = server() else { return };
    let loc = fresh(&url);
    let mut store = ClickHouseStore::open(&loc, "suite").unwrap();
    crate::suite::report_matches_the_messages(&mut store);
    let rows: u64 = store
        .block_on(async {
            store
                .client
                .query("SELECT count() FROM stats")
                .fetch_one()
                .await
                .map_err(ch)
        })
        .unwrap();
    assert!(rows > 10, "{rows} stats rows");
    // Taken away, the report is empty: it was read from them.
    store
        .block_on(async {
            store
                .client
                .query("TRUNCATE TABLE stats")
                .execute()
                .await
                .map_err(ch)
        })
        .unwrap();
    let tz = jiff::tz::TimeZone::UTC;
    let r = store.report(&Filter::default(), &tz, 10).unwrap();
    assert_eq!(r.totals.deferrals, 0);
    assert_eq!(
        crate::report_from_messages(&store, &Filter::default(), &tz, 10)
            .unwrap()
            .totals
            .deferrals,
        1
    );
}

/// A writer killed after part of a commit was inserted (a flush of pending rows) resumes as
/// of its last commit: the queued message as it was then, and the half commit's statistics
/// left out, so that writing the same input again counts it once.
#[test]
fn a_half_commit_is_written_again_and_counted_once() {
    let Some(url) = server() else { return };
    half_commit_is_written_again_and_counted_once(fresh(&url));
}

fn half_commit_is_written_again_and_counted_once(loc: Location) {
    use crate::suite::sample;
    use mailtrace_model::Status;
    let tz = jiff::tz::TimeZone::UTC;
    let queued = || {
        let mut m = sample(1, "mx1", "AAA1", 1_000);
        m.open = true;
        m.status = Status::Deferred;
        m.recipients[0].status = Status::Deferred;
        m
    };
    let batch = |s: &ClickHouseStore, m: Vec<Message>, line: &str, pending: bool| {
        let mut raw = crate::RawLines::starting_at(s.next_line_no().unwrap());
        raw.push_at(line, m[0].last_seen);
        WriteBatch {
            raw,
            messages: m,
            pending,
            state: (!pending).then(|| "{}".to_string()),
            ..WriteBatch::default()
        }
    };
    {
        let mut s = ClickHouseStore::open(&loc, "w").unwrap();
        let b = batch(
            &s,
            vec![queued()],
            "Jan  1 00:16:40 mx1 postfix/qmgr[1]: AAA1: queued",
            false,
        );
        s.write(b).unwrap();
    }
    let finished = |s: &ClickHouseStore| {
        let mut m = s.open_messages().unwrap().pop().expect("still queued");
        m.open = false;
        m.status = Status::Delivered;
        m.recipients[0].status = Status::Delivered;
        m
    };
    let line = "Jan  1 00:20:00 mx1 postfix/qmgr[1]: AAA1: removed";
    {
        // Inserted before its commit, then the writer dies.
        let mut s = ClickHouseStore::open(&loc, "w").unwrap();
        s.flush_rows = 1;
        let b = batch(
            &s,
            vec![finished(&s), sample(2, "mx1", "AAA2", 1_100)],
            line,
            true,
        );
        s.write(b).unwrap();
        assert!(s.pending.flushed);
    }
    let mut s = ClickHouseStore::open(&loc, "w").unwrap();
    let open = s.open_messages().unwrap();
    assert_eq!(open.len(), 1, "queued as of the last commit");
    assert_eq!(open[0].status, Status::Deferred);
    let b = batch(
        &s,
        vec![finished(&s), sample(2, "mx1", "AAA2", 1_100)],
        line,
        false,
    );
    s.write(b).unwrap();
    let kept = s.report(&Filter::default(), &tz, 10).unwrap();
    let read = crate::report_from_messages(&s, &Filter::default(), &tz, 10).unwrap();
    assert_eq!(kept.totals, read.totals);
    assert_eq!(kept.totals.delivered, 2, "{:?}", kept.totals);
    assert_eq!(kept.totals.received, 2, "{:?}", kept.totals);
    assert_eq!(kept.totals.still_queued, 0, "{:?}", kept.totals);
    assert!(s.open_messages().unwrap().is_empty());
}

/// Pending batches inserted one by one before their commit count like one commit.
#[test]
fn statistics_of_a_commit_inserted_in_parts_all_count() {
    let Some(url) = server() else { return };
    commit_inserted_in_parts_counts_once(fresh(&url));
}

fn commit_inserted_in_parts_counts_once(loc: Location) {
    use crate::suite::sample;
    let tz = jiff::tz::TimeZone::UTC;
    let mut s = ClickHouseStore::open(&loc, "w").unwrap();
    s.flush_rows = 1;
    for i in 1..=3 {
        let mut raw = crate::RawLines::starting_at(s.next_line_no().unwrap());
        raw.push_at(
            "Jan  1 00:16:40 mx1 postfix/qmgr[1]: AAA1: removed",
            mailtrace_model::Ts(i),
        );
        // The same sender and hour each time: the same statistics keys in each part.
        s.write(WriteBatch {
            raw,
            messages: vec![sample(i, "mx1", &format!("AAA{i}"), 1_000)],
            pending: i < 3,
            state: (i == 3).then(|| "{}".to_string()),
            ..WriteBatch::default()
        })
        .unwrap();
    }
    let kept = s.report(&Filter::default(), &tz, 10).unwrap();
    assert_eq!(kept.totals.received, 3, "{:?}", kept.totals);
    let read = crate::report_from_messages(&s, &Filter::default(), &tz, 10).unwrap();
    assert_eq!(kept.totals, read.totals);
}

/// The same on a database spread over a cluster of two shards (`migrate --cluster`): the
/// store suite, statistics and half commits, with rows on both nodes.
#[test]
fn a_cluster_database_passes_the_store_suite() {
    let Some(url) = cluster() else { return };
    let loc = fresh_on(&url, Some(CLUSTER));
    assert_eq!(
        ClickHouseStore::migrate(&loc, Some(CLUSTER)).unwrap(),
        (schema::VERSION, schema::VERSION),
        "idempotent"
    );
    let err = ClickHouseStore::migrate(&loc, None).unwrap_err();
    assert!(err.to_string().contains("--cluster"), "{err}");
    {
        let mut store = ClickHouseStore::open(&loc, "suite").unwrap();
        assert_eq!(store.cluster.as_deref(), Some(CLUSTER));
        crate::suite::report_matches_the_messages(&mut store);
        // Rows of both shards: this node holds some of the messages, not all.
        let (local, all): (u64, u64) = store
            .block_on(async {
                store
                    .client
                    .query("SELECT (SELECT count() FROM messages_local), (SELECT count() FROM messages)")
                    .fetch_one()
                    .await
                    .map_err(ch)
            })
            .unwrap();
        assert!(
            local > 0 && local < all,
            "{local} of {all} messages on this node"
        );
    }
    crate::suite::run_all(&mut || {
        Box::new(ClickHouseStore::open(&fresh_on(&url, Some(CLUSTER)), "suite").unwrap())
    });
    half_commit_is_written_again_and_counted_once(fresh_on(&url, Some(CLUSTER)));
    commit_inserted_in_parts_counts_once(fresh_on(&url, Some(CLUSTER)));
}
