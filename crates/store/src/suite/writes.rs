//! Writes: round trips, upserts, checkpoints with their data, pending batches.

use super::{
    fixtures, ids, load, sample, write_ingested, Checkpoint, Filter, Recipient, Status, Store,
    WriteBatch,
};

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
