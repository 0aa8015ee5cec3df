//! The one test suite every [`Store`] backend must pass.
//!
//! Call [`run_all`] with a factory of empty stores from the backend's tests.

// A test suite: a panic is a failed check.
#![allow(clippy::unwrap_used)]

use crate::{Checkpoint, LooseFilter, RawLines, Store, WriteBatch};
use mailtrace_correlate::{LooseKind, LooseLine};
use mailtrace_model::{Attempt, AttemptStatus, Event, Message, Recipient, Status, Ts};
use mailtrace_query::{AddressPattern, Filter, Paging};

/// A realistic message: `queue_id` on `server`, received at `secs`, one delivered recipient.
pub fn sample(id: i64, server: &str, queue_id: &str, secs: i64) -> Message {
    Message {
        id,
        server: server.into(),
        mta: "postfix".into(),
        queue_id: Some(queue_id.into()),
        message_id: Some(format!("<{queue_id}@example.com>")),
        sender: Some("Alice@Example.com".into()),
        subject: Some(format!("Invoice {queue_id} 100%_done")),
        size: Some(1234),
        client_host: Some("client.example.com".into()),
        client_ip: Some("192.0.2.10".into()),
        received_at: Ts::from_secs(secs),
        last_seen: Ts::from_secs(secs + 1),
        status: Status::Delivered,
        recipients: vec![Recipient {
            address: "bob@example.org".into(),
            status: Status::Delivered,
            dsn: Some("2.0.0".into()),
            smtp_code: Some(250),
            response: Some("250 2.0.0 Ok: queued as XYZ".into()),
            relay: Some("mx.example.org[198.51.100.1]:25".into()),
            delay_s: Some(1.5),
            last_attempt_at: Some(Ts::from_secs(secs + 1)),
            attempts: vec![Attempt {
                at: Ts::from_secs(secs + 1),
                status: AttemptStatus::Sent,
                agent: "smtp".into(),
                ..Attempt::default()
            }],
            ..Recipient::default()
        }],
        events: vec![
            Event::new(
                Ts::from_secs(secs),
                "received",
                "client=client.example.com[192.0.2.10]",
            ),
            Event::new(Ts::from_secs(secs + 1), "note", "a text of its own"),
        ],
        lines: vec![format!("Jan  1 00:00:00 {server} postfix/smtpd[1]: {queue_id}: client=client.example.com[192.0.2.10]")],
        ..Message::default()
    }
}

fn fixtures() -> Vec<Message> {
    let mut v = Vec::new();
    v.push(sample(1, "mx1", "AAA1", 1_000));
    let mut m = sample(2, "mx1", "AAA2", 2_000);
    m.sender = Some(String::new());
    m.subject = Some("Undelivered Mail Returned to Sender".into());
    m.bounce_of = Some(1);
    v.push(m);
    let mut m = sample(3, "mx2", "AAA1", 3_000);
    m.status = Status::Bounced;
    m.recipients[0].status = Status::Bounced;
    m.recipients[0].address = "nobody@Other.test".into();
    m.recipients[0].response = Some("550 5.1.1 User unknown".into());
    m.recipients[0].smtp_code = Some(550);
    m.recipients.push(Recipient {
        address: "carol@example.org".into(),
        orig_to: Some("team@example.org".into()),
        status: Status::Delivered,
        relay: Some("mx.example.org[198.51.100.1]:25".into()),
        ..Recipient::default()
    });
    v.push(m);
    let mut m = sample(4, "mx1", "", 4_000);
    m.queue_id = None;
    m.status = Status::Rejected;
    m.reason = Some("554 5.7.1 Relay access denied".into());
    m.recipients[0].status = Status::Rejected;
    m.recipients[0].address = "x@relay.test".into();
    m.recipients[0].relay = None;
    m.client_ip = Some("203.0.113.5".into());
    v.push(m);
    let mut m = sample(5, "mx1", "AAA5", 5_000);
    m.open = true;
    m.status = Status::Deferred;
    m.recipients[0].status = Status::Deferred;
    m.parent_id = Some(1);
    v.push(m);
    v
}

fn ids(store: &dyn Store, f: Filter) -> Vec<i64> {
    store
        .search(
            &f,
            Paging {
                limit: 100,
                page: 1,
            },
        )
        .unwrap_or_else(|e| panic!("{f:?}: {e}"))
        .messages
        .iter()
        .map(|m| m.id)
        .collect()
}

/// Run every check on stores made by `make` (each check gets a fresh store).
pub fn run_all(make: &mut dyn FnMut() -> Box<dyn Store>) {
    search_filters(make().as_mut());
    round_trip_and_upsert(make().as_mut());
    checkpoints_and_state(make().as_mut());
    pending_batches(make().as_mut());
    loose_lines(make().as_mut());
    hostile_text_is_data(make().as_mut());
    facets(make().as_mut());
    raw_lines_by_time(make().as_mut());
    original_recipients(make().as_mut());
    report_matches_the_messages(make().as_mut());
}

/// Write `messages` the way an ingest does: their `lines` go to the raw log (numbered after
/// what the store holds) and they carry the numbers; an event whose text is the tail of one of
/// the lines refers to it. Returns the messages as [`Store::get`] must give them back.
pub fn write_ingested(store: &mut dyn Store, messages: Vec<Message>) -> Vec<Message> {
    let mut raw = RawLines::starting_at(store.next_line_no().unwrap());
    let mut read = Vec::new();
    let mut written = Vec::new();
    for mut m in messages {
        m.line_nos = m
            .lines
            .iter()
            .map(|l| {
                let no = raw.next_no();
                raw.push(l);
                no
            })
            .collect();
        for e in &mut m.events {
            let tail_of = m
                .line_nos
                .iter()
                .zip(&m.lines)
                .find(|(_, l)| !e.text.is_empty() && l.ends_with(e.text.as_str()));
            if let Some((no, l)) = tail_of {
                e.source = Some((*no, (l.len() - e.text.len()) as u32));
            }
        }
        read.push(m.clone());
        m.lines.clear();
        for e in m.events.iter_mut().filter(|e| e.source.is_some()) {
            e.text.clear();
        }
        written.push(m);
    }
    store
        .write(WriteBatch {
            messages: written,
            raw,
            ..WriteBatch::default()
        })
        .expect("write");
    read
}

fn load(store: &mut dyn Store) -> Vec<Message> {
    write_ingested(store, fixtures())
}

/// The ids of `messages` that `f` matches, newest first (what a search must give).
fn matching(messages: &[Message], f: &Filter) -> Vec<i64> {
    let mut want: Vec<&Message> = messages.iter().filter(|m| f.matches(m)).collect();
    want.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
    want.iter().map(|m| m.id).collect()
}

/// Every filter of the CLI, newest first, paging and totals.
pub fn search_filters(store: &mut dyn Store) {
    let loaded = load(store);
    let all = ids(store, Filter::default());
    assert_eq!(all, vec![5, 4, 3, 2, 1], "newest first");
    // Every search also agrees with `Filter::matches` (used without a store).
    let f = |f: Filter| {
        let got = ids(store, f.clone());
        assert_eq!(
            got,
            matching(&loaded, &f),
            "Filter::matches agrees with the store: {f:?}"
        );
        got
    };
    assert_eq!(
        f(Filter {
            from: Some(AddressPattern::Exact("alice@example.com".into())),
            ..Filter::default()
        }),
        vec![5, 4, 3, 1]
    );
    assert_eq!(
        f(Filter {
            from: Some(AddressPattern::Domain("example.com".into())),
            ..Filter::default()
        }),
        vec![5, 4, 3, 1]
    );
    assert_eq!(
        f(Filter {
            from: Some(AddressPattern::Null),
            ..Filter::default()
        }),
        vec![2]
    );
    assert_eq!(
        f(Filter {
            to: Some(AddressPattern::Exact("NOBODY@other.test".into())),
            ..Filter::default()
        }),
        vec![3]
    );
    assert_eq!(
        f(Filter {
            to: Some(AddressPattern::Exact("team@example.org".into())),
            ..Filter::default()
        }),
        vec![3],
        "orig_to matches"
    );
    assert_eq!(
        f(Filter {
            to: Some(AddressPattern::Domain("other.test".into())),
            ..Filter::default()
        }),
        vec![3]
    );
    // A recipient criterion with a time range, with other criteria, and paged.
    let example = || Some(AddressPattern::Domain("example.org".into()));
    assert_eq!(
        f(Filter {
            to: example(),
            ..Filter::default()
        }),
        vec![5, 3, 2, 1]
    );
    assert_eq!(
        f(Filter {
            to: example(),
            since: Some(Ts::from_secs(2_000)),
            until: Some(Ts::from_secs(5_000)),
            ..Filter::default()
        }),
        vec![3, 2]
    );
    assert_eq!(
        f(Filter {
            to: example(),
            status: vec![Status::Bounced],
            ..Filter::default()
        }),
        vec![3]
    );
    assert_eq!(
        f(Filter {
            to: Some(AddressPattern::Exact("bob@example.org".into())),
            server: Some("mx1".into()),
            since: Some(Ts::from_secs(1_500)),
            ..Filter::default()
        }),
        vec![5, 2]
    );
    let page = store
        .search(
            &Filter {
                to: example(),
                ..Filter::default()
            },
            Paging { limit: 3, page: 2 },
        )
        .unwrap();
    assert_eq!(
        (
            page.total,
            page.messages.iter().map(|m| m.id).collect::<Vec<_>>()
        ),
        (4, vec![1])
    );
    let f = |f: Filter| {
        let got = ids(store, f.clone());
        assert_eq!(got, matching(&loaded, &f), "{f:?}");
        got
    };
    assert_eq!(
        f(Filter {
            subject: Some("RETURNED to".into()),
            ..Filter::default()
        }),
        vec![2]
    );
    assert_eq!(
        f(Filter {
            subject: Some("0%_d".into()),
            ..Filter::default()
        }),
        vec![5, 4, 3, 1],
        "% and _ are literal"
    );
    assert_eq!(
        f(Filter {
            subject: Some("%".into()),
            ..Filter::default()
        })
        .len(),
        4
    );
    assert_eq!(
        f(Filter {
            status: vec![Status::Bounced],
            ..Filter::default()
        }),
        vec![3]
    );
    assert_eq!(
        f(Filter {
            status: vec![Status::Delivered],
            ..Filter::default()
        }),
        vec![3, 2, 1],
        "any recipient delivered"
    );
    assert_eq!(
        f(Filter {
            status: vec![Status::Rejected, Status::Deferred],
            ..Filter::default()
        }),
        vec![5, 4]
    );
    assert_eq!(
        f(Filter {
            queue_id: Some("AAA1".into()),
            ..Filter::default()
        }),
        vec![3, 1]
    );
    assert_eq!(
        f(Filter {
            message_id: Some("<AAA2@example.com>".into()),
            ..Filter::default()
        }),
        vec![2]
    );
    assert_eq!(
        f(Filter {
            client: Some("203.0.113.5".into()),
            ..Filter::default()
        }),
        vec![4]
    );
    assert_eq!(
        f(Filter {
            client: Some("CLIENT.example.com".into()),
            ..Filter::default()
        }),
        vec![5, 4, 3, 2, 1]
    );
    assert_eq!(
        f(Filter {
            relay: Some("198.51.100.1".into()),
            ..Filter::default()
        }),
        vec![5, 3, 2, 1]
    );
    assert_eq!(
        f(Filter {
            server: Some("mx2".into()),
            ..Filter::default()
        }),
        vec![3]
    );
    assert_eq!(
        f(Filter {
            reason: Some("relay ACCESS".into()),
            ..Filter::default()
        }),
        vec![4]
    );
    assert_eq!(
        f(Filter {
            reason: Some("user unknown".into()),
            ..Filter::default()
        }),
        vec![3]
    );
    assert_eq!(
        f(Filter {
            since: Some(Ts::from_secs(2_000)),
            until: Some(Ts::from_secs(4_000)),
            ..Filter::default()
        }),
        vec![3, 2]
    );
    assert_eq!(
        f(Filter {
            from: Some(AddressPattern::Domain("example.com".into())),
            server: Some("mx1".into()),
            status: vec![Status::Delivered],
            ..Filter::default()
        }),
        vec![1]
    );
    let page = store
        .search(&Filter::default(), Paging { limit: 2, page: 2 })
        .unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![3, 2]
    );
    assert!(
        page.messages[0].lines.is_empty(),
        "search results carry no raw lines"
    );
    let mut exported = Vec::new();
    store
        .export(
            &Filter {
                server: Some("mx1".into()),
                ..Filter::default()
            },
            &mut |m| {
                exported.push(m.id);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(exported, vec![5, 4, 2, 1]);
    assert!(store
        .search(
            &Filter {
                to: Some(AddressPattern::Null),
                ..Filter::default()
            },
            Paging::default()
        )
        .is_err());
}

/// Full documents come back unchanged; writing the same id again replaces it.
pub fn round_trip_and_upsert(store: &mut dyn Store) {
    let loaded = load(store);
    let want = loaded.iter().find(|m| m.id == 3).unwrap();
    assert_eq!(store.get(3).unwrap().as_ref(), Some(want));
    let (no, col) = want.events[0].source.unwrap();
    assert_eq!(no, want.line_nos[0]);
    assert_eq!(&want.lines[0][col as usize..], want.events[0].text);
    assert_eq!(store.get(99).unwrap(), None);
    // The raw log: lines by number, in the order asked, nothing for numbers never written.
    let (a, b) = (loaded[0].line_nos[0], loaded[4].line_nos[0]);
    assert_eq!(
        store.raw_lines(&[b, a, 10_000]).unwrap(),
        vec![
            Some(loaded[4].lines[0].clone()),
            Some(loaded[0].lines[0].clone()),
            None
        ]
    );
    assert_eq!(store.next_line_no().unwrap(), b + 1);
    let found: Vec<i64> = store.lookup("AAA1").unwrap().iter().map(|m| m.id).collect();
    assert_eq!(
        found,
        vec![3, 1],
        "queue id on two servers: two messages, newest first"
    );
    assert_eq!(
        store.lookup("AAA2@example.com").unwrap().len(),
        1,
        "message-id without brackets"
    );
    let rel: Vec<i64> = store.related(1).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(rel.len(), 2);
    assert!(rel.contains(&2) && rel.contains(&5));
    assert_eq!(
        store
            .open_messages()
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![5]
    );
    let open = &store.open_messages().unwrap()[0];
    assert_eq!(
        (
            open.line_nos.len(),
            open.lines.len(),
            open.events[0].text.as_str()
        ),
        (1, 0, ""),
        "open messages come with line numbers, without text"
    );
    assert!(open.events[0].source.is_some());
    // The deferred message completes: same id, replaced, recipients replaced.
    let mut m = fixtures().into_iter().find(|m| m.id == 5).unwrap();
    m.open = false;
    m.status = Status::Delivered;
    m.recipients[0].status = Status::Delivered;
    let read = write_ingested(store, vec![m.clone()]);
    assert_eq!(store.get(5).unwrap().as_ref(), Some(&read[0]));
    assert!(store.open_messages().unwrap().is_empty());
    let st = store.stats().unwrap();
    assert_eq!((st.messages, st.recipients, st.open), (5, 6, 0));
    assert_eq!(
        ids(
            store,
            Filter {
                status: vec![Status::Deferred],
                ..Filter::default()
            }
        ),
        Vec::<i64>::new()
    );
    // A later version with a recipient more and another address first: only the new version's
    // recipients are found, once each.
    m.recipients.insert(
        0,
        Recipient {
            address: "Late@Example.net".into(),
            status: Status::Bounced,
            ..Recipient::default()
        },
    );
    m.recipients[1].address = "renamed@example.org".into();
    write_ingested(store, vec![m.clone()]);
    assert_eq!(store.stats().unwrap().recipients, 7);
    let to = |a: &str| {
        ids(
            store,
            Filter {
                to: Some(a.parse().unwrap()),
                ..Filter::default()
            },
        )
    };
    assert_eq!(to("late@example.net"), vec![5]);
    assert_eq!(to("@example.net"), vec![5]);
    assert_eq!(to("renamed@example.org"), vec![5]);
    assert!(
        !to("bob@example.org").contains(&5),
        "the old address is gone"
    );
}

/// Checkpoints and correlator state are stored with the data.
pub fn checkpoints_and_state(store: &mut dyn Store) {
    assert!(store.checkpoints().unwrap().is_empty());
    assert_eq!(store.correlator_state().unwrap(), None);
    let cp = Checkpoint {
        ident: -42,
        ident_len: 1024,
        path: "/var/log/mail.log".into(),
        offset: 4096,
        lines: 20,
    };
    store
        .write(WriteBatch {
            checkpoint: Some(cp.clone()),
            state: Some("{\"x\":1}".into()),
            ..WriteBatch::default()
        })
        .unwrap();
    let cp2 = Checkpoint {
        offset: 8192,
        lines: 40,
        ..cp.clone()
    };
    store
        .write(WriteBatch {
            checkpoint: Some(cp2.clone()),
            state: Some("{\"x\":2}".into()),
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.checkpoints().unwrap(), vec![cp2]);
    assert_eq!(
        store.correlator_state().unwrap().as_deref(),
        Some("{\"x\":2}")
    );
}

/// Pending batches become durable with the next commit, or vanish with a rollback.
pub fn pending_batches(store: &mut dyn Store) {
    let cp = |offset| Checkpoint {
        ident: 7,
        ident_len: 1024,
        path: "mail.log".into(),
        offset,
        lines: offset / 100,
    };
    let pending = |messages| WriteBatch {
        messages,
        pending: true,
        ..WriteBatch::default()
    };
    store
        .write(pending(vec![sample(1, "mx1", "P1", 100)]))
        .unwrap();
    store
        .write(WriteBatch {
            messages: vec![sample(2, "mx1", "P2", 200)],
            checkpoint: Some(cp(1000)),
            state: Some("{\"at\":1}".into()),
            ..WriteBatch::default()
        })
        .unwrap();
    // Written, then dropped: an ingest that stopped between two commits.
    store
        .write(pending(vec![sample(3, "mx1", "P3", 300)]))
        .unwrap();
    store
        .write(pending(vec![sample(4, "mx1", "P4", 400)]))
        .unwrap();
    store.rollback().unwrap();
    assert_eq!(ids(store, Filter::default()), vec![2, 1]);
    assert_eq!(store.checkpoints().unwrap(), vec![cp(1000)]);
    assert_eq!(store.stats().unwrap().messages, 2);
    // A rollback with nothing pending changes nothing; the next commit carries its pending batch.
    store.rollback().unwrap();
    store
        .write(pending(vec![sample(5, "mx1", "P5", 500)]))
        .unwrap();
    store
        .write(WriteBatch {
            checkpoint: Some(cp(2000)),
            state: Some("{\"at\":2}".into()),
            ..WriteBatch::default()
        })
        .unwrap();
    store.rollback().unwrap();
    assert_eq!(ids(store, Filter::default()), vec![5, 2, 1]);
    assert_eq!(store.checkpoints().unwrap(), vec![cp(2000)]);
    assert_eq!(
        store.correlator_state().unwrap().as_deref(),
        Some("{\"at\":2}")
    );
}

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

/// Servers and sender domains to pick from, busiest first; the null sender has no domain.
pub fn facets(store: &mut dyn Store) {
    assert_eq!(store.facets(10).unwrap(), crate::Facets::default());
    let mut messages = vec![
        sample(1, "mx1", "A1", 1_000),
        sample(2, "mx1", "A2", 2_000),
        sample(3, "mx2", "A3", 3_000),
        sample(4, "mx1", "A4", 4_000),
        sample(5, "mx2", "A5", 5_000),
    ];
    messages[2].sender = Some("carol@Other.test".into());
    messages[3].sender = Some("dave@other.test".into());
    messages[4].sender = Some(String::new());
    write_ingested(store, messages);
    let f = store.facets(10).unwrap();
    assert_eq!(f.servers, vec![("mx1".into(), 3), ("mx2".into(), 2)]);
    assert_eq!(
        f.sender_domains,
        vec![("example.com".into(), 2), ("other.test".into(), 2)],
        "lower-cased, ties by name, <> left out"
    );
    assert_eq!(store.facets(1).unwrap().sender_domains.len(), 1);
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

/// An address matches the original recipient too; a domain matches final recipients only, in
/// the store and in `Filter::matches` alike.
pub fn original_recipients(store: &mut dyn Store) {
    let mut m = sample(1, "mx", "FWD1", 1_000);
    m.recipients[0].address = "bob@gmail.test".into();
    m.recipients[0].orig_to = Some("info@example.test".into());
    let loaded = write_ingested(store, vec![m]);
    for (to, want) in [
        ("info@example.test", vec![1]),
        ("bob@gmail.test", vec![1]),
        ("@gmail.test", vec![1]),
        ("@example.test", vec![]),
    ] {
        let f = Filter {
            to: Some(to.parse().unwrap()),
            ..Filter::default()
        };
        assert_eq!(ids(store, f.clone()), want, "{to}");
        assert_eq!(matching(&loaded, &f), want, "Filter::matches, {to}");
    }
}

/// The store's report (from aggregates it may keep) equals the report of its messages and raw
/// lines, for whole hours, a server and a sender domain, also after a queued message is
/// written again finished.
pub fn report_matches_the_messages(store: &mut dyn Store) {
    use mailtrace_model::{Attempt, AttemptStatus};
    let tz = jiff::tz::TimeZone::UTC;
    let sent = |secs: i64, delay: f64| Attempt {
        at: Ts::from_secs(secs),
        status: AttemptStatus::Sent,
        agent: "smtp".into(),
        response: Some("250 2.0.0 Ok".into()),
        relay: Some("mx.example.org[198.51.100.1]:25".into()),
        delay_s: Some(delay),
        ..Attempt::default()
    };
    let mut messages = fixtures();
    for m in &mut messages {
        m.recipients[0].attempts = vec![sent(m.received_at.0 / 1_000_000 + 1, 1.5)];
    }
    messages[4].recipients[0].attempts[0].status = AttemptStatus::Deferred;
    let mut later = messages[4].clone();
    write_ingested(store, messages);
    // A warning line and a reject_warning with their times.
    let mut raw = RawLines::starting_at(store.next_line_no().unwrap());
    raw.push_at(
        "Jan  1 00:20:00 mx1 postfix/smtpd[7]: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: x",
        Ts::from_secs(1_200),
    );
    raw.push_at(
        "Jan  1 00:20:01 mx2 postfix/smtpd[7]: NOQUEUE: reject_warning: RCPT from x[1.2.3.4]: 450 test",
        Ts::from_secs(1_201),
    );
    store
        .write(WriteBatch {
            raw,
            ..WriteBatch::default()
        })
        .unwrap();
    // The deferred message completes two hours later.
    later.open = false;
    later.status = Status::Delivered;
    later.recipients[0].status = Status::Delivered;
    later.recipients[0].attempts.push(sent(12_000, 7_000.0));
    write_ingested(store, vec![later]);
    let filters = [
        Filter::default(),
        Filter {
            since: Some(Ts::from_secs(3_600)),
            until: Some(Ts::from_secs(4 * 3_600)),
            ..Filter::default()
        },
        Filter {
            server: Some("mx1".into()),
            ..Filter::default()
        },
        Filter {
            from: Some(AddressPattern::Domain("example.com".into())),
            ..Filter::default()
        },
        Filter {
            subject: Some("invoice".into()),
            ..Filter::default()
        },
    ];
    for f in filters {
        let mut kept = store.report(&f, &tz, 10).unwrap();
        let mut read = crate::report_from_messages(store, &f, &tz, 10).unwrap();
        for r in [&mut kept, &mut read] {
            r.first = None;
            r.last = None;
        }
        assert_eq!(kept, read, "{f:?}");
    }
    let all = store.report(&Filter::default(), &tz, 10).unwrap();
    assert_eq!(
        all.totals.still_queued, 0,
        "the completed message left the queue"
    );
    assert_eq!(all.totals.deferrals, 1);
    assert_eq!(all.totals.reject_warnings, 1);
    assert_eq!(all.sasl_failures.len(), 1);
    assert_eq!(all.delays.max, 7_000.0);
}
