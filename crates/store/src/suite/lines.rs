//! Lines: loose lines, hostile text, the raw log by time.

use super::{
    ids, sample, write_ingested, AddressPattern, Filter, LooseFilter, LooseKind, LooseLine, Paging,
    RawLines, Store, Ts, WriteBatch,
};

/// Loose lines are kept and found by kind, server, text and time.
pub fn loose_lines(store: &mut dyn Store) {
    let mut raw = RawLines::starting_at(store.next_line_no().unwrap());
    let mut l = |kind, line: &str, at| {
        let no = raw.next_no();
        raw.push(line);
        LooseLine {
            server: "mx1".into(),
            at: Ts::from_secs(at),
            kind,
            no,
            line: String::new(),
        }
    };
    let loose = vec![
        l(LooseKind::Unparsed, "\u{fffd}garbage", 10),
        l(LooseKind::Other, "dovecot: login", 20),
        l(LooseKind::Session, "connect from x", 30),
        l(LooseKind::Other, "dovecot: logout", 40),
    ];
    store
        .write(WriteBatch {
            loose,
            raw,
            ..WriteBatch::default()
        })
        .unwrap();
    let st = store.stats().unwrap();
    assert_eq!((st.loose, st.unparsed), (4, 1));
    let un = store
        .loose_lines(
            &LooseFilter {
                kind: Some("unparsed".into()),
                ..LooseFilter::default()
            },
            Paging::default(),
        )
        .unwrap();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].line, "\u{fffd}garbage");
    let found = store
        .loose_lines(
            &LooseFilter {
                contains: Some("login".into()),
                ..LooseFilter::default()
            },
            Paging::default(),
        )
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, "dovecot: login");
    // A text filter pages over the matches, oldest first.
    let second = store
        .loose_lines(
            &LooseFilter {
                contains: Some("dovecot".into()),
                ..LooseFilter::default()
            },
            Paging { limit: 1, page: 2 },
        )
        .unwrap();
    assert_eq!(
        second.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
        vec!["dovecot: logout"]
    );
    let late = store
        .loose_lines(
            &LooseFilter {
                since: Some(Ts::from_secs(15)),
                ..LooseFilter::default()
            },
            Paging::default(),
        )
        .unwrap();
    assert_eq!(late.len(), 3);
}

/// Quotes, SQL and wildcards in log content are only data.
pub fn hostile_text_is_data(store: &mut dyn Store) {
    let mut m = sample(7, "mx1", "EVIL1", 100);
    m.subject = Some("'; DROP TABLE messages; -- <script>alert(1)</script>".into());
    m.sender = Some("\"o'hara\"@example.com".into());
    m.lines[0].push_str(" '; DROP TABLE raw_chunks; --");
    let read = write_ingested(store, vec![m]);
    assert_eq!(
        ids(
            store,
            Filter {
                subject: Some("DROP TABLE".into()),
                ..Filter::default()
            }
        ),
        vec![7]
    );
    assert_eq!(
        ids(
            store,
            Filter {
                from: Some(AddressPattern::Exact("\"o'hara\"@example.com".into())),
                ..Filter::default()
            }
        ),
        vec![7]
    );
    assert_eq!(store.get(7).unwrap().as_ref(), Some(&read[0]));
}

/// The raw log of a period, in reading order, paged; lines without a time are not found.
pub fn raw_lines_by_time(store: &mut dyn Store) {
    let mut raw = RawLines::starting_at(store.next_line_no().unwrap());
    // Two "days" of 3,000 lines each (more than one chunk), then lines without times.
    for i in 0..6_000i64 {
        raw.push_at(
            &format!("line {i}"),
            Ts::from_secs(86_400 * (1 + i / 3_000) + i % 3_000),
        );
    }
    let first = raw.first;
    store
        .write(WriteBatch {
            raw,
            ..WriteBatch::default()
        })
        .unwrap();
    let mut untimed = RawLines::starting_at(store.next_line_no().unwrap());
    untimed.push("no time");
    store
        .write(WriteBatch {
            raw: untimed,
            ..WriteBatch::default()
        })
        .unwrap();
    let day = |d: i64, page: u32, limit: u32| {
        store
            .raw_lines_between(
                Ts::from_secs(86_400 * d),
                Ts::from_secs(86_400 * (d + 1)),
                Paging { limit, page },
            )
            .unwrap()
    };
    let d2 = day(2, 1, 10_000);
    assert_eq!(d2.len(), 3_000);
    assert_eq!(d2[0].text, "line 3000");
    assert_eq!(d2[0].no, first + 3_000);
    assert_eq!(d2[0].at, Ts::from_secs(2 * 86_400));
    assert!(
        d2.windows(2).all(|w| w[0].no + 1 == w[1].no),
        "in reading order"
    );
    let p = day(1, 3, 1_000);
    assert_eq!((p.len(), p[0].text.as_str()), (1_000, "line 2000"));
    assert!(day(1, 4, 1_000).is_empty(), "past the end");
    assert!(day(3, 1, 10).is_empty());
    let some = store
        .raw_lines_between(
            Ts::from_secs(86_400 + 2_990),
            Ts::from_secs(2 * 86_400 + 5),
            Paging {
                limit: 100,
                page: 1,
            },
        )
        .unwrap();
    assert_eq!(some.len(), 15, "a range across the chunk and day boundary");
}
