//! Retention: what is older than the limits goes, newer data and queued messages stay.

use super::{
    sample, AddressPattern, Filter, LooseKind, LooseLine, Paging, RawLines, Store, Ts, WriteBatch,
};
use crate::{Purged, Retention};
use mailtrace_model::{Message, Status};

const DAY: i64 = 86_400;
const NOW: i64 = 1_000 * DAY;

/// One period of the log: `messages` with two raw lines each, and a loose line, at `secs`.
fn write_period(store: &mut dyn Store, secs: i64, mut messages: Vec<Message>) {
    let mut raw = RawLines::starting_at(store.next_line_no().unwrap());
    let at = Ts::from_secs(secs);
    for m in &mut messages {
        let qid = m.queue_id.clone().unwrap_or_default();
        for text in ["client=client.example.com[192.0.2.10]", "removed"] {
            m.line_nos.push(raw.next_no());
            raw.push_at(&format!("mx1 postfix/x[1]: {qid}: {text}"), at);
        }
    }
    let no = raw.next_no();
    raw.push_at("mx1 dovecot: imap-login: Login", at);
    let loose = vec![LooseLine {
        server: "mx1".into(),
        at,
        kind: LooseKind::Other,
        no,
        line: String::new(),
    }];
    store
        .write(WriteBatch {
            messages,
            loose,
            raw,
            ..WriteBatch::default()
        })
        .unwrap();
}

/// Messages and raw lines older than the limits are purged; queued messages and newer data
/// stay, searchable and reported; a second purge finds nothing.
pub fn purge_forgets_old_data(store: &mut dyn Store) {
    let old_at = NOW - 40 * DAY;
    let mid_at = NOW - 20 * DAY;
    let new_at = NOW - DAY;
    let mut queued = sample(2, "mx1", "QUEUED", old_at);
    queued.open = true;
    queued.status = Status::Deferred;
    queued.recipients[0].status = Status::Deferred;
    write_period(
        store,
        old_at,
        vec![sample(1, "mx1", "OLD1", old_at), queued],
    );
    write_period(store, mid_at, vec![sample(3, "mx1", "MID1", mid_at)]);
    write_period(store, new_at, vec![sample(4, "mx1", "NEW1", new_at)]);
    assert_eq!(store.stats().unwrap().messages, 4);

    // Messages kept 30 days, raw lines 10.
    let purged = store
        .purge(&Retention {
            messages_before: Ts::from_secs(NOW - 30 * DAY),
            raw_before: Ts::from_secs(NOW - 10 * DAY),
        })
        .unwrap();
    assert_eq!((purged.messages, purged.recipients), (1, 1), "{purged:?}");
    assert_eq!(
        purged.raw_lines,
        3 + 5,
        "old and middle periods: {purged:?}"
    );
    assert_eq!(purged.loose_lines, 2, "{purged:?}");

    assert!(store.get(1).unwrap().is_none(), "old and finished: gone");
    let q = store
        .get(2)
        .unwrap()
        .expect("still queued: kept however old");
    assert!(q.open);
    assert!(store.get(3).unwrap().is_some());
    let new = store.get(4).unwrap().expect("new: kept");
    assert_eq!(new.recipients.len(), 1);
    let st = store.stats().unwrap();
    assert_eq!((st.messages, st.recipients, st.loose), (3, 3, 1));

    // Searches see what is left; the recipient index has no dangling rows.
    let all = store.search(&Filter::default(), Paging::default()).unwrap();
    let mut ids: Vec<i64> = all.messages.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![2, 3, 4]);
    let bob = Filter {
        to: Some(AddressPattern::Exact("bob@example.org".into())),
        ..Filter::default()
    };
    assert_eq!(store.search(&bob, Paging::default()).unwrap().total, 3);

    // The raw log: old lines are gone, new ones read back; the middle message keeps its
    // timeline but not its raw lines.
    let lines = |since: i64, until: i64| {
        store
            .raw_lines_between(
                Ts::from_secs(since),
                Ts::from_secs(until),
                Paging::default(),
            )
            .unwrap()
    };
    assert!(lines(0, NOW - 10 * DAY).is_empty());
    assert_eq!(lines(NOW - 10 * DAY, NOW).len(), 3);

    // Statistics of the recent days are whole.
    let recent = Filter {
        since: Some(Ts::from_secs(NOW - 30 * DAY)),
        ..Filter::default()
    };
    let r = store.report(&recent, &jiff::tz::TimeZone::UTC, 10).unwrap();
    assert_eq!(r.totals.received, 2, "middle and new");

    // Nothing more to do.
    let again = store
        .purge(&Retention {
            messages_before: Ts::from_secs(NOW - 30 * DAY),
            raw_before: Ts::from_secs(NOW - 10 * DAY),
        })
        .unwrap();
    assert_eq!(
        Purged {
            rollup_rows: 0,
            ..again
        },
        Purged::default()
    );
}
