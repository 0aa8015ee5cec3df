use super::*;
use mailtrace_model::{Attempt, AttemptStatus, Recipient, Status};

fn attempt(secs: i64, status: AttemptStatus, response: &str, delay: f64) -> Attempt {
    Attempt {
        at: Ts::from_secs(secs),
        status,
        agent: "smtp".into(),
        smtp_code: response
            .split_whitespace()
            .find(|w| w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse().ok()),
        response: Some(response.into()),
        relay: Some("mx.example.org[192.0.2.1]:25".into()),
        delay_s: Some(delay),
        ..Attempt::default()
    }
}

fn received(id: i64, secs: i64, from: &str, size: u64, recipients: Vec<Recipient>) -> Message {
    Message {
        id,
        server: "mx".into(),
        mta: "postfix".into(),
        queue_id: Some(format!("Q{id}")),
        sender: Some(from.into()),
        size: Some(size),
        client_host: Some("client.example.net".into()),
        client_ip: Some("198.51.100.1".into()),
        received_at: Ts::from_secs(secs),
        last_seen: Ts::from_secs(secs),
        status: Status::Delivered,
        recipients,
        ..Message::default()
    }
}

fn rcpt(address: &str, status: Status, attempts: Vec<Attempt>) -> Recipient {
    Recipient {
        address: address.into(),
        status,
        attempts,
        ..Recipient::default()
    }
}

/// 2024-03-01 (a Friday) 10:00 UTC.
const T: i64 = 1_709_287_200;

#[test]
fn totals_follow_pflogsumm_definitions() {
    let mut b = Builder::new(TimeZone::UTC, 10);
    // Delivered to two recipients, one after a deferral.
    b.add_message(&received(
        1,
        T,
        "Alice@Example.com",
        1000,
        vec![
            rcpt("bob@example.org", Status::Delivered, vec![attempt(T + 1, AttemptStatus::Sent, "250 2.0.0 Ok", 1.0)]),
            rcpt(
                "carol@other.test",
                Status::Delivered,
                vec![
                    attempt(T + 1, AttemptStatus::Deferred, "host x said: 450 4.7.1 Greylisted, try later (in reply to RCPT TO command)", 1.0),
                    attempt(T + 400, AttemptStatus::Sent, "250 2.0.0 Ok", 400.0),
                ],
            ),
        ],
    ));
    // Bounced, forwarded.
    b.add_message(&received(
        2,
        T + 3600,
        "",
        500,
        vec![
            rcpt(
                "nobody@example.org",
                Status::Bounced,
                vec![attempt(
                    T + 3601,
                    AttemptStatus::Bounced,
                    "host x said: 550 5.1.1 User unknown (in reply to RCPT TO command)",
                    0.5,
                )],
            ),
            rcpt(
                "fwd@example.org",
                Status::Delivered,
                vec![attempt(
                    T + 3601,
                    AttemptStatus::Sent,
                    "delivered to command: forwarded as ABC",
                    0.2,
                )],
            ),
        ],
    ));
    // NOQUEUE reject (never received) and a message refused by a content check.
    b.add_message(&Message {
        id: 3,
        server: "mx".into(),
        status: Status::Rejected,
        client_host: Some("bad.example".into()),
        received_at: Ts::from_secs(T + 7200),
        recipients: vec![Recipient {
            address: "x@relay.test".into(),
            status: Status::Rejected,
            smtp_code: Some(554),
            dsn: Some("5.7.1".into()),
            response: Some("554 5.7.1 <x@relay.test>: Relay access denied".into()),
            ..Recipient::default()
        }],
        ..Message::default()
    });
    let mut refused = received(4, T + 7300, "spam@spam.test", 300, vec![]);
    refused.status = Status::Rejected;
    refused.reason = Some("5.7.1 message content rejected".into());
    b.add_message(&refused);
    b.add_line("Mar  1 10:00:00 mx postfix/smtpd[1]: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
    // The same line with its syslog envelope already taken off (as `report --file` hands it).
    b.add_text("NOQUEUE: reject_warning: RCPT from x[1.2.3.4]: 450 ...");
    let r = b.finish();
    let t = &r.totals;
    assert_eq!((t.received, t.delivered, t.forwarded), (3, 2, 1));
    assert_eq!(
        (t.deferred, t.deferrals, t.bounced, t.rejected),
        (1, 1, 1, 2)
    );
    assert_eq!(t.reject_warnings, 1);
    assert_eq!((t.bytes_received, t.bytes_delivered), (1800, 2000));
    assert_eq!((t.senders, t.recipients, t.recipient_domains), (3, 2, 2));
    assert_eq!(t.rejected_pct, 50.0, "2 of 2 delivered + 2 rejected");
    assert_eq!(r.per_day.len(), 1);
    assert_eq!(r.per_day[0].period, "2024-03-01");
    assert_eq!(r.per_day[0].traffic.received, 3);
    assert_eq!(r.per_hour[10].traffic.delivered, 2);
    assert_eq!(r.per_hour[10].traffic.deferred, 1);
    assert_eq!(r.per_hour[12].traffic.rejected, 2);
    assert_eq!(r.per_weekday[4].traffic.received, 3, "Friday");
    assert_eq!(r.per_day_of_month[0].traffic.received, 3);
    let classes: Vec<RejectClass> = r.reject_classes.iter().map(|c| c.class).collect();
    assert!(
        classes.contains(&RejectClass::RelayDenied) && classes.contains(&RejectClass::SpamContent),
        "{classes:?}"
    );
    assert_eq!(
        r.deferral_reasons[0].reason,
        "450 4.7.1 Greylisted, try later"
    );
    assert_eq!(r.deferral_reasons[0].host, "mx.example.org");
    assert_eq!(r.bounce_reasons[0].reason, "550 5.1.1 User unknown");
    assert_eq!(
        r.sasl_failures,
        vec![Counted {
            value: "unknown[192.0.2.9]".into(),
            count: 1
        }]
    );
    assert_eq!(
        r.smtp_codes[0],
        Counted {
            value: "450".into(),
            count: 1
        }
    );
    assert_eq!(r.delays.count, 2);
    assert_eq!((r.delays.p50, r.delays.max), (400.0, 400.0));
    assert_eq!(r.delays.histogram[0], (Some(1.0), 1));
    assert_eq!(
        r.destination_domains[0].domain, "other.test",
        "ties broken by deferrals"
    );
    assert_eq!(
        (
            r.destination_domains[0].deferred,
            r.destination_domains[0].max_delay_s
        ),
        (1, 400.0)
    );
    assert_eq!(r.top_senders.len(), 3);
    let text = render_text(&r);
    assert!(
        text.contains("Grand Totals") && text.contains("deferred  (1 deferrals)"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["totals"]["delivered"], 2);
    assert_eq!(json["per_day"][0]["received"], 3);
}

#[test]
fn days_and_hours_are_in_the_zone() {
    let tz = TimeZone::get("America/New_York").unwrap();
    let mut b = Builder::new(tz, 10);
    // 03:00 UTC on March 1st is the evening of February 29th in New York.
    b.add_message(&received(1, T - 7 * 3600, "a@b.c", 1, vec![]));
    let r = b.finish();
    assert_eq!(r.per_day[0].period, "2024-02-29");
    assert_eq!(r.per_hour[22].traffic.received, 1);
    assert_eq!(r.time_zone, "America/New_York");
}

#[test]
fn outputs_defuse_log_content() {
    let mut b = Builder::new(TimeZone::UTC, 10);
    b.add_message(&received(1, T, "evil\u{1b}[2J@x.test", 1, vec![]));
    b.add_message(&received(
        2,
        T,
        "<script>alert(1)</script>@x.test",
        1,
        vec![],
    ));
    let r = b.finish();
    let text = render_text(&r);
    assert!(!text.contains('\u{1b}'));
    for html in [render_html(&r, true), render_html(&r, false)] {
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@x.test"));
    }
}

/// Summing contributions per hour (what a store's rollups keep) gives the same report as
/// adding the messages, times aside (to the hour), including after a message is rewritten.
#[test]
fn hourly_sums_of_contributions_give_the_same_report() {
    let mut open = received(
        1,
        T,
        "a@example.com",
        1000,
        vec![rcpt(
            "x@later.test",
            Status::Deferred,
            vec![attempt(
                T + 10,
                AttemptStatus::Deferred,
                "host x said: 450 4.2.0 busy (in reply to RCPT TO command)",
                10.0,
            )],
        )],
    );
    open.open = true;
    open.status = Status::Deferred;
    let mut done = open.clone();
    done.open = false;
    done.status = Status::Delivered;
    done.recipients[0].status = Status::Delivered;
    done.recipients[0]
        .attempts
        .push(attempt(T + 7200, AttemptStatus::Sent, "250 ok", 7200.0));
    let others = [
        received(
            2,
            T + 60,
            "b@example.com",
            500,
            vec![rcpt(
                "y@example.org",
                Status::Delivered,
                vec![attempt(T + 61, AttemptStatus::Sent, "250 ok", 0.4)],
            )],
        ),
        received(
            3,
            T + 3700,
            "",
            200,
            vec![rcpt(
                "z@example.org",
                Status::Bounced,
                vec![attempt(
                    T + 3701,
                    AttemptStatus::Bounced,
                    "host y said: 550 5.1.1 unknown (in reply to RCPT TO command)",
                    0.3,
                )],
            )],
        ),
    ];
    let lines = [
        "Mar  1 10:00:00 mx postfix/smtpd[1]: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        "Mar  1 10:00:01 mx postfix/smtpd[1]: NOQUEUE: reject_warning: RCPT from x[1.2.3.4]: 450 test",
        "Mar  1 10:00:02 mx postfix/master[1]: fatal: bind 0.0.0.0 port 25: Address already in use",
    ];
    // Directly: the final state of every message.
    let mut direct = Builder::new(TimeZone::UTC, 10);
    for m in others.iter().chain([&done]) {
        direct.add_message(m);
    }
    for l in lines {
        direct.add_line(l);
    }
    // Rollups: the open version written first, then replaced (old contributions subtracted).
    let mut sums: std::collections::BTreeMap<(i64, Dim, String), Sum> = Default::default();
    let mut add = |c: &Contribution<'_>, sign: i64| {
        let hour = c.at.0.div_euclid(3_600_000_000) * 3_600_000_000;
        sums.entry((hour, c.dim, c.key.to_string()))
            .or_default()
            .add(c, sign);
    };
    for m in others.iter().chain([&open]) {
        contrib::contributions(m, &mut |c| add(&c, 1));
    }
    contrib::contributions(&open, &mut |c| add(&c, -1));
    contrib::contributions(&done, &mut |c| add(&c, 1));
    for l in lines {
        contrib::line_contributions(l, Ts::from_secs(T), &mut |c| add(&c, 1));
    }
    let mut rolled = Builder::new(TimeZone::UTC, 10);
    for ((hour, dim, key), s) in &sums {
        rolled.add(&Contribution {
            at: Ts(*hour),
            dim: *dim,
            key: key.as_str().into(),
            n: s.n,
            bytes: s.bytes,
            sum: s.sum,
            max: s.max,
        });
    }
    let (mut a, mut b) = (direct.finish(), rolled.finish());
    assert_eq!(
        a.totals.still_queued, 0,
        "the rewrite took the message out of the queue"
    );
    assert_eq!(a.totals.deferred, 1);
    assert_eq!(a.totals.reject_warnings, 1);
    assert_eq!(a.sasl_failures.len(), 1);
    for r in [&mut a, &mut b] {
        r.first = None;
        r.last = None;
    }
    assert_eq!(a, b);
}

#[test]
fn share_of_deliveries_over_tls() {
    let mut over_tls = attempt(T + 1, AttemptStatus::Sent, "250 ok", 0.5);
    over_tls.tls = Some("Trusted TLSv1.3 with cipher TLS_AES_256_GCM_SHA384".into());
    let mut local = attempt(T + 1, AttemptStatus::Sent, "delivered to mailbox", 0.1);
    local.agent = "local".into();
    let mut b = Builder::new(TimeZone::UTC, 10);
    b.add_message(&received(
        1,
        T,
        "a@b.c",
        10,
        vec![
            rcpt("x@tls.test", Status::Delivered, vec![over_tls]),
            rcpt(
                "y@plain.test",
                Status::Delivered,
                vec![attempt(T + 1, AttemptStatus::Sent, "250 ok", 0.5)],
            ),
            rcpt("root", Status::Delivered, vec![local]),
        ],
    ));
    let r = b.finish();
    assert_eq!(r.totals.delivered, 3);
    assert_eq!(
        r.tls_delivered_pct,
        Some(50.0),
        "local deliveries do not count"
    );
    assert_eq!(
        Builder::new(TimeZone::UTC, 1).finish().tls_delivered_pct,
        None
    );
}

#[test]
fn hours_are_averaged_over_several_days() {
    let mut b = Builder::new(TimeZone::UTC, 10);
    b.add_message(&received(1, T, "a@b.c", 1, vec![]));
    b.add_message(&received(2, T + 86_400, "a@b.c", 1, vec![]));
    b.add_message(&received(3, T + 86_400 + 60, "a@b.c", 1, vec![]));
    let text = render_text(&b.finish());
    assert!(
        text.contains("Per-Hour Traffic Daily Average (2 days)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("10 ") && l.contains(" 1.5 ")),
        "{text}"
    );
}

/// SmarterMail's authentication failures count as SASL failures of their client.
#[test]
fn smartermail_authentication_failures_are_sasl_failures() {
    let mut b = Builder::new(TimeZone::UTC, 10);
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpora/vendor-doc-examples/smartermail-smtp.log"
    ))
    .unwrap();
    for l in text.lines() {
        b.add_line(l);
    }
    let r = b.finish();
    assert_eq!(
        r.sasl_failures,
        vec![Counted {
            value: "unknown[216.15.151.93]".into(),
            count: 1
        }]
    );
}
