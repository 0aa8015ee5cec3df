use super::*;

#[test]
fn a_new_store_opened_by_many_at_once_is_made_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.db");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || SqliteStore::open(&p).map(|s| s.stats()))
            })
            .collect();
        for t in threads {
            let stats = t.join().unwrap().unwrap().unwrap();
            assert_eq!(stats.messages, 0);
        }
    }
}

#[test]
fn reports_come_from_rollups_when_they_can() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    crate::suite::report_matches_the_messages(&mut store);
    let tz = jiff::tz::TimeZone::UTC;
    let rows: i64 = store
        .conn
        .query_row("SELECT count(*) FROM rollup", [], |r| r.get(0))
        .unwrap();
    assert!(rows > 10, "{rows} rollup rows");
    let f = Filter::default();
    assert!(rollup::report(&store.conn, &f, &tz, 10).unwrap().is_some());
    let subject = Filter {
        subject: Some("x".into()),
        ..Filter::default()
    };
    assert!(rollup::report(&store.conn, &subject, &tz, 10)
        .unwrap()
        .is_none());
    // A store migrated with messages in it has no sums for them: reports read messages.
    store
        .conn
        .execute(
            "UPDATE mailtrace_meta SET value = 'partial' WHERE key = 'rollups'",
            [],
        )
        .unwrap();
    assert!(rollup::report(&store.conn, &f, &tz, 10).unwrap().is_none());
    assert_eq!(store.report(&f, &tz, 10).unwrap().totals.deferrals, 1);
}

#[test]
fn passes_the_store_suite() {
    crate::suite::run_all(&mut || Box::new(SqliteStore::open_in_memory().unwrap()));
}

#[test]
fn survives_reopen_and_refuses_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    {
        let mut s = SqliteStore::open(&p).unwrap();
        s.write(WriteBatch {
            messages: vec![crate::suite::sample(1, "mx", "AAA", 1_000)],
            ..WriteBatch::default()
        })
        .unwrap();
    }
    let s = SqliteStore::open(&p).unwrap();
    assert_eq!(s.stats().unwrap().messages, 1);
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
    let e = SqliteStore::open(&junk)
        .err()
        .expect("garbage must be refused");
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        vec![0x42u8; 8192],
        "never reset"
    );
    // A store of the development layout without a raw log (schema 1) is refused, untouched.
    drop(s);
    let conn = Connection::open(&p).unwrap();
    conn.execute(
        "UPDATE mailtrace_meta SET value = '1' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = SqliteStore::open(&p)
        .err()
        .expect("schema 1 must be refused");
    assert!(matches!(e, StoreError::TooOld { found: 1, .. }), "{e}");
    assert!(e.to_string().contains("new store"), "{e}");
}
