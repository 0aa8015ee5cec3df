//! Searches: every filter, paging, totals, original recipients, pick lists.

use super::{
    ids, load, matching, sample, write_ingested, AddressPattern, Filter, Paging, Status, Store, Ts,
};

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
