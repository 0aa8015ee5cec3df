//! Statistics: the store's report against the report of its messages.

use super::{
    fixtures, write_ingested, AddressPattern, Filter, RawLines, Status, Store, Ts, WriteBatch,
};

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
