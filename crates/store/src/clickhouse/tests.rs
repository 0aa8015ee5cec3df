//! The store suite against a real ClickHouse server: `MAILTRACE_TEST_CLICKHOUSE` names it
//! (`scripts/test.sh` starts a private one on loopback and sets it). Without it the tests
//! skip, except in CI (`CI=true`), where they must run.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// The server's URL, or `None` (skip) outside CI.
fn server() -> Option<String> {
    match std::env::var("MAILTRACE_TEST_CLICKHOUSE") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
                "CI=true but MAILTRACE_TEST_CLICKHOUSE is not set: scripts/test.sh must start ClickHouse"
            );
            eprintln!("MAILTRACE_TEST_CLICKHOUSE is not set: skipping the ClickHouse tests");
            None
        }
    }
}

/// A fresh, migrated database on the test server.
fn fresh(url: &str) -> Location {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = format!("mailtrace_test_{}_{n}", std::process::id());
    let loc = Location::parse(&format!("{}/{name}", url.trim_end_matches('/'))).unwrap();
    runtime()
        .unwrap()
        .block_on(async {
            loc.server_client()
                .query(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .execute()
                .await
        })
        .unwrap();
    assert_eq!(
        ClickHouseStore::migrate(&loc).unwrap(),
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
        ClickHouseStore::migrate(&loc).unwrap(),
        (schema::VERSION, schema::VERSION)
    );
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
