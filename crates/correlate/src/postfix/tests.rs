use super::*;
use mailtrace_model::AttemptStatus;

fn run(lines: &[&str]) -> (Output, Correlator) {
    let mut c = Correlator::default();
    let mut ctx = syslog::Context::new(2024, jiff::tz::TimeZone::UTC);
    for (no, l) in (1..).zip(lines) {
        c.feed_line(no, l, &mut ctx, None);
    }
    let out = c.finish_input();
    (out, c)
}

const SESSION: &[&str] = &[
    "Jan 30 06:26:05 mail postfix/smtpd[1830]: connect from example.com[192.0.2.1]",
    "Jan 30 06:26:05 mail postfix/smtpd[1830]: Anonymous TLS connection established from example.com[192.0.2.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
    "Jan 30 06:26:05 mail postfix/smtpd[1830]: C6E0DDB74006: client=example.com[192.0.2.1], sasl_method=PLAIN, sasl_username=alice",
    "Jan 30 06:26:05 mail postfix/cleanup[1894]: C6E0DDB74006: info: header Subject: Hello there from example.com[192.0.2.1]; from=<test@example.com> to=<a@example.org> proto=ESMTP helo=<example.com>",
    "Jan 30 06:26:05 mail postfix/cleanup[1894]: C6E0DDB74006: message-id=<A40C@example.com>",
    "Jan 30 06:26:05 mail postfix/qmgr[18719]: C6E0DDB74006: from=<test@example.com>, size=309891, nrcpt=2 (queue active)",
    "Jan 30 06:26:05 mail postfix/smtpd[1830]: disconnect from example.com[192.0.2.1] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6",
    "Jan 30 06:26:06 mail postfix/smtp[1900]: connect to mx.example.org[198.51.100.7]:25: Connection refused",
    "Jan 30 06:26:06 mail postfix/smtp[1900]: C6E0DDB74006: to=<a@example.org>, relay=mx2.example.org[198.51.100.8]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 99AA)",
    "Jan 30 06:26:06 mail postfix/smtp[1900]: C6E0DDB74006: to=<b@example.org>, relay=mx2.example.org[198.51.100.8]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=4.2.2, status=deferred (host mx2.example.org[198.51.100.8] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command))",
];

#[test]
fn message_with_session_and_two_recipients() {
    let (out, c) = run(SESSION);
    assert_eq!(out.messages.len(), 1, "{:?}", out.messages);
    let m = &out.messages[0];
    assert!(m.open, "deferred recipient keeps it queued");
    assert_eq!(m.queue_id.as_deref(), Some("C6E0DDB74006"));
    assert_eq!(m.message_id.as_deref(), Some("<A40C@example.com>"));
    assert_eq!(m.subject.as_deref(), Some("Hello there"));
    assert_eq!(m.sender.as_deref(), Some("test@example.com"));
    assert_eq!(m.client_ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(m.sasl_username.as_deref(), Some("alice"));
    assert!(m.tls.as_deref().unwrap_or("").starts_with("TLSv1.3"));
    assert_eq!(m.size, Some(309_891));
    assert_eq!(m.status, Status::Deferred);
    let a = &m.recipients[0];
    assert_eq!(
        (a.status, a.smtp_code, a.dsn.as_deref()),
        (Status::Delivered, Some(250), Some("2.0.0"))
    );
    let b = &m.recipients[1];
    assert_eq!((b.status, b.smtp_code), (Status::Deferred, Some(452)));
    // Every line of the session and the delivery agent's connect failure is attached.
    assert_eq!(m.line_nos, (1..=SESSION.len() as u64).collect::<Vec<_>>());
    // Events refer to the tail of their line instead of copying it.
    let connect = m.events.iter().find(|e| e.kind == "connect").unwrap();
    assert_eq!(connect.text, "");
    let (no, col) = connect.source.unwrap();
    assert_eq!(
        &SESSION[no as usize - 1][col as usize..],
        "connect from example.com[192.0.2.1]"
    );
    assert!(out.loose.is_empty(), "{:?}", out.loose);
    assert_eq!(c.open_messages(), 1);
}

#[test]
fn deferred_then_delivered_keeps_every_attempt_and_resumes_after_restore() {
    let (out, c) = run(SESSION);
    let state = c.state(None, None);
    let mut c = Correlator::restore(state, out.messages, Limits::default());
    let mut ctx = syslog::Context::new(2024, jiff::tz::TimeZone::UTC);
    for (no, l) in (100..).zip([
        "Jan 30 07:00:00 mail postfix/smtp[1901]: C6E0DDB74006: to=<b@example.org>, relay=mx2.example.org[198.51.100.8]:25, delay=2000, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 ok)",
        "Jan 30 07:00:00 mail postfix/qmgr[18719]: C6E0DDB74006: removed",
    ]) {
        c.feed_line(no, l, &mut ctx, None);
    }
    let out = c.finish_input();
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert!(!m.open);
    assert_eq!(m.status, Status::Delivered);
    let b = &m.recipients[1];
    assert_eq!(b.attempts.len(), 2);
    assert_eq!(b.attempts[0].status, AttemptStatus::Deferred);
    assert_eq!(b.attempts[1].status, AttemptStatus::Sent);
}

#[test]
fn noqueue_reject_becomes_a_rejected_record_with_the_session() {
    let (out, _) = run(&[
        "Jul 12 07:47:47 saturn postfix/smtpd[8738]: connect from foo[192.0.2.9]",
        "Jul 12 07:47:48 saturn postfix/smtpd[8738]: NOQUEUE: reject: RCPT from foo[192.0.2.9]: 554 5.7.1 <smtp@example.com>: Relay access denied; from=<john@example.com> to=<smtp@example.org> proto=SMTP helo=<x>",
        "Jul 12 07:47:49 saturn postfix/smtpd[8738]: disconnect from foo[192.0.2.9] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
    ]);
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert_eq!(m.status, Status::Rejected);
    assert_eq!(m.queue_id, None);
    assert_eq!(m.recipients[0].address, "smtp@example.org");
    assert_eq!(m.recipients[0].smtp_code, Some(554));
    assert_eq!(m.line_nos.len(), 3);
}

#[test]
fn bounce_links_notification_to_original_and_queue_id_reuse_is_a_new_message() {
    let (out, _) = run(&[
        "Jan 30 06:00:00 mail postfix/pickup[1]: AAAA1: uid=0 from=<root>",
        "Jan 30 06:00:00 mail postfix/qmgr[2]: AAAA1: from=<root@mail>, size=10, nrcpt=1 (queue active)",
        "Jan 30 06:00:01 mail postfix/smtp[3]: AAAA1: to=<x@example.net>, relay=mx.example.net[192.0.2.3]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.3] said: 550 5.1.1 no such user (in reply to RCPT TO command))",
        "Jan 30 06:00:01 mail postfix/bounce[4]: AAAA1: sender non-delivery notification: BBBB2",
        "Jan 30 06:00:01 mail postfix/cleanup[5]: BBBB2: message-id=<x@mail>",
        "Jan 30 06:00:01 mail postfix/qmgr[2]: BBBB2: from=<>, size=20, nrcpt=1 (queue active)",
        "Jan 30 06:00:01 mail postfix/qmgr[2]: AAAA1: removed",
        "Jan 30 06:00:02 mail postfix/local[6]: BBBB2: to=<root@mail>, relay=local, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)",
        "Jan 30 06:00:02 mail postfix/qmgr[2]: BBBB2: removed",
        "Jan 30 06:00:03 mail postfix/pickup[1]: AAAA1: uid=0 from=<root>",
        "Jan 30 06:00:03 mail postfix/qmgr[2]: AAAA1: removed",
    ]);
    assert_eq!(out.messages.len(), 3);
    let orig = &out.messages[0];
    let dsn = &out.messages[1];
    assert_eq!(orig.status, Status::Bounced);
    assert_eq!(dsn.bounce_of, Some(orig.id));
    assert_eq!(dsn.sender.as_deref(), Some(""));
    assert_ne!(out.messages[2].id, orig.id);
}

#[test]
fn garbage_and_other_programs_are_kept_as_loose_lines() {
    let (out, c) = run(&[
        "\u{0}\u{1}garbage",
        "Jan 30 06:00:00 mail dovecot[1]: imap-login: Login",
        "Jan 30 06:00:00 mail postfix/smtpd[1]: something new",
    ]);
    assert_eq!(
        out.loose.iter().map(|l| l.no).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(c.counters().unparsed, 2);
    assert_eq!(c.counters().other, 1);
}

/// Case 16 of the Postfix harness: too big, no SIZE declared, refused after DATA. Postfix logs no
/// reject line, only `queue file size limit exceeded` warnings, and the smtpd warning may come
/// before or after cleanup's header line (the only line naming the recipient).
#[test]
fn size_refusal_after_data_is_a_rejection_in_either_line_order() {
    let connect = "Nov 24 18:43:33 mx postfix/smtpd[12242]: connect from localhost[127.0.0.1]";
    let client =
        "Nov 24 18:43:33 mx postfix/smtpd[12242]: 41A9798C2F2: client=localhost[127.0.0.1]";
    let smtpd_warn = "Nov 24 18:43:33 mx postfix/smtpd[12242]: warning: 41A9798C2F2: queue file size limit exceeded";
    let header = "Nov 24 18:43:33 mx postfix/cleanup[12247]: 41A9798C2F2: info: header Subject: case 16: too big, no SIZE, rejected after DATA from localhost[127.0.0.1]; from=<s16@ok.test> to=<rcpt16@ok.test> proto=ESMTP helo=<client.harness.test>";
    let mid =
        "Nov 24 18:43:33 mx postfix/cleanup[12247]: 41A9798C2F2: message-id=<case16@harness.test>";
    let cleanup_warn = "Nov 24 18:43:33 mx postfix/cleanup[12247]: warning: 41A9798C2F2: queue file size limit exceeded";
    let disconnect = "Nov 24 18:43:33 mx postfix/smtpd[12242]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5";
    for order in [
        [
            connect,
            client,
            smtpd_warn,
            header,
            mid,
            cleanup_warn,
            disconnect,
        ],
        [
            connect,
            client,
            header,
            mid,
            cleanup_warn,
            smtpd_warn,
            disconnect,
        ],
        // Seen in a real run: the session ends before cleanup logs anything.
        [
            connect,
            client,
            smtpd_warn,
            disconnect,
            header,
            mid,
            cleanup_warn,
        ],
    ] {
        let (out, c) = run(&order);
        assert_eq!(out.messages.len(), 1, "{order:?}");
        let m = &out.messages[0];
        assert!(!m.open, "no `removed` will come");
        assert_eq!(m.status, Status::Rejected);
        assert_eq!(m.recipients.len(), 1, "{order:?}");
        let r = &m.recipients[0];
        assert_eq!(
            (r.address.as_str(), r.status, r.dsn.as_deref(), r.smtp_code),
            ("rcpt16@ok.test", Status::Rejected, Some("5.3.4"), Some(552))
        );
        assert_eq!(m.line_nos.len(), 7);
        assert_eq!(c.open_messages(), 0);
    }
}

/// A content filter (amavis on 127.0.0.1:10024) re-injects the message through a second smtpd
/// (127.0.0.1:10025); the filter's `250 ... queued as NEWID` links the parent to the child.
#[test]
fn content_filter_reinjection_links_parent_and_child() {
    let (out, _) = run(&[
        "Mar  3 10:00:00 mx postfix/smtpd[100]: connect from mail.example.org[198.51.100.20]",
        "Mar  3 10:00:00 mx postfix/smtpd[100]: 1A2B3C4D5E: client=mail.example.org[198.51.100.20]",
        "Mar  3 10:00:00 mx postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.org>",
        "Mar  3 10:00:00 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<a@example.org>, size=900, nrcpt=1 (queue active)",
        "Mar  3 10:00:00 mx postfix/smtpd[100]: disconnect from mail.example.org[198.51.100.20] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
        "Mar  3 10:00:01 mx postfix/smtpd[200]: connect from localhost[127.0.0.1]",
        "Mar  3 10:00:01 mx postfix/smtpd[200]: 6F7E8D9C0B: client=localhost[127.0.0.1]",
        "Mar  3 10:00:01 mx postfix/cleanup[101]: 6F7E8D9C0B: message-id=<m1@example.org>",
        "Mar  3 10:00:01 mx postfix/qmgr[102]: 6F7E8D9C0B: from=<a@example.org>, size=1400, nrcpt=1 (queue active)",
        "Mar  3 10:00:01 mx postfix/smtpd[200]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
        "Mar  3 10:00:01 mx postfix/smtp[103]: 1A2B3C4D5E: to=<b@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.2, delays=0.1/0/0/1.1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6F7E8D9C0B)",
        "Mar  3 10:00:01 mx postfix/qmgr[102]: 1A2B3C4D5E: removed",
        "Mar  3 10:00:02 mx postfix/lmtp[104]: 6F7E8D9C0B: to=<b@example.com>, relay=mx[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <b@example.com> Saved)",
        "Mar  3 10:00:02 mx postfix/qmgr[102]: 6F7E8D9C0B: removed",
    ]);
    assert_eq!(out.messages.len(), 2);
    let parent = out
        .messages
        .iter()
        .find(|m| m.queue_id.as_deref() == Some("1A2B3C4D5E"))
        .unwrap();
    let child = out
        .messages
        .iter()
        .find(|m| m.queue_id.as_deref() == Some("6F7E8D9C0B"))
        .unwrap();
    assert_eq!(child.parent_id, Some(parent.id));
    assert_eq!(
        parent.recipients[0].attempts[0].queued_as.as_deref(),
        Some("6F7E8D9C0B")
    );
    assert_eq!(
        child.recipients[0].relay.as_deref(),
        Some("mx[private/dovecot-lmtp]")
    );
    assert_eq!(
        (parent.status, child.status),
        (Status::Delivered, Status::Delivered)
    );
}

/// A remote server's `queued as` is its own queue id: no link to a local message.
#[test]
fn remote_queued_as_does_not_link() {
    let (out, _) = run(&[
        "Mar  3 10:00:00 mx postfix/pickup[1]: 0A0A0A0A0A: uid=0 from=<root>",
        "Mar  3 10:00:00 mx postfix/qmgr[2]: 0A0A0A0A0A: from=<root@mx>, size=10, nrcpt=1 (queue active)",
        "Mar  3 10:00:00 mx postfix/pickup[1]: 0B0B0B0B0B: uid=0 from=<root>",
        "Mar  3 10:00:00 mx postfix/qmgr[2]: 0B0B0B0B0B: from=<root@mx>, size=10, nrcpt=1 (queue active)",
        "Mar  3 10:00:01 mx postfix/smtp[3]: 0A0A0A0A0A: to=<x@example.net>, relay=mx.example.net[192.0.2.3]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 0B0B0B0B0B)",
        "Mar  3 10:00:01 mx postfix/qmgr[2]: 0A0A0A0A0A: removed",
    ]);
    let other = out
        .messages
        .iter()
        .find(|m| m.queue_id.as_deref() == Some("0B0B0B0B0B"))
        .unwrap();
    assert_eq!(other.parent_id, None);
}

/// `postsuper -h` / `-H` / `-d`: held, released, then deleted by the administrator.
#[test]
fn postsuper_hold_release_and_delete() {
    let base = [
        "Mar  3 10:00:00 mx postfix/pickup[1]: 0C0C0C0C0C: uid=0 from=<root>",
        "Mar  3 10:00:00 mx postfix/qmgr[2]: 0C0C0C0C0C: from=<root@mx>, size=10, nrcpt=1 (queue active)",
        "Mar  3 10:00:01 mx postfix/smtp[3]: 0C0C0C0C0C: to=<x@example.net>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.3]:25: Connection refused)",
        "Mar  3 10:05:00 mx postfix/postsuper[9]: 0C0C0C0C0C: placed on hold",
    ];
    let (out, _) = run(&base);
    assert_eq!(
        out.messages[0].status,
        Status::Held,
        "on hold, whatever its recipients wait for"
    );
    assert_eq!(out.messages[0].recipients[0].status, Status::Deferred);
    assert!(out.messages[0].events.iter().any(|e| e.kind == "held"));
    let mut all = base.to_vec();
    all.push("Mar  3 10:06:00 mx postfix/postsuper[9]: 0C0C0C0C0C: released from hold");
    let (out, _) = run(&all);
    assert_eq!(
        out.messages[0].status,
        Status::Deferred,
        "released: back to its recipients' status"
    );
    all.push("Mar  3 10:07:00 mx postfix/postsuper[9]: 0C0C0C0C0C: removed");
    let (out, c) = run(&all);
    let m = &out.messages[0];
    assert!(!m.open);
    assert_eq!(m.recipients[0].status, Status::Removed);
    assert_eq!(m.status, Status::Removed);
    assert_eq!(c.open_messages(), 0);
}

#[test]
fn deliveries_over_a_tls_session_carry_it() {
    // The TLS line as Postfix logs it (postfix-grok-patterns smtp_0035), then deliveries of
    // the same process: two over that (cached) connection, one to another relay.
    let (out, _) = run(&[
        "Jan 30 06:26:05 mail postfix/pickup[1]: 1A2B3C4D5E: uid=0 from=<root>",
        "Jan 30 06:26:05 mail postfix/qmgr[2]: 1A2B3C4D5E: from=<root@mail.example>, size=300, nrcpt=3 (queue active)",
        "Jan 30 06:26:06 mail postfix/smtp[1900]: Untrusted TLS connection established to gmail-smtp-in.l.google.com[74.125.128.27]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256",
        "Jan 30 06:26:06 mail postfix/smtp[1900]: 1A2B3C4D5E: to=<a@gmail.com>, relay=gmail-smtp-in.l.google.com[74.125.128.27]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK 1 - gsmtp)",
        "Jan 30 06:26:06 mail postfix/smtp[1900]: 1A2B3C4D5E: to=<b@gmail.com>, relay=gmail-smtp-in.l.google.com[74.125.128.27]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK 2 - gsmtp)",
        "Jan 30 06:26:07 mail postfix/smtp[1900]: 1A2B3C4D5E: to=<c@plain.example>, relay=mx.plain.example[192.0.2.9]:25, delay=2, delays=0/0/1/1, dsn=2.0.0, status=sent (250 ok)",
        "Jan 30 06:26:07 mail postfix/qmgr[2]: 1A2B3C4D5E: removed",
    ]);
    let m = out
        .messages
        .iter()
        .find(|m| m.queue_id.as_deref() == Some("1A2B3C4D5E"))
        .unwrap();
    let tls: Vec<Option<&str>> = m
        .recipients
        .iter()
        .map(|r| r.attempts[0].tls.as_deref())
        .collect();
    assert!(
        tls[0].is_some_and(|t| t.starts_with("Untrusted TLSv1.3")),
        "{tls:?}"
    );
    assert_eq!(tls[0], tls[1], "the cached connection");
    assert_eq!(tls[2], None, "another relay, no TLS logged");
}

#[test]
fn lean_gives_the_same_messages_without_timeline() {
    let log = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/postfix/harness.log"
    ))
    .unwrap();
    // The lean one ends with `into_output`, which moves the queued messages out.
    let feed = |mut c: Correlator, consume: bool| {
        let mut ctx = syslog::Context::new(2026, jiff::tz::TimeZone::UTC);
        let mut messages = Vec::new();
        for (no, l) in (1..).zip(log.lines()) {
            c.feed_line(no, l, &mut ctx, None);
            messages.append(&mut c.drain().messages);
        }
        let mut end = if consume {
            c.into_output()
        } else {
            c.finish_input()
        };
        messages.append(&mut end.messages);
        messages
    };
    let full = feed(Correlator::default(), false);
    let lean = feed(Correlator::default().lean(), true);
    assert!(lean.iter().any(|m| m.open), "some still queued at the end");
    assert!(full.len() > 30, "{}", full.len());
    assert!(full
        .iter()
        .any(|m| !m.events.is_empty() && !m.line_nos.is_empty()));
    assert!(lean
        .iter()
        .all(|m| m.events.is_empty() && m.line_nos.is_empty()));
    let mut lean = lean;
    lean.sort_by_key(|m| (m.id, m.open));
    let mut stripped: Vec<Message> = full
        .into_iter()
        .map(|mut m| {
            m.events.clear();
            m.line_nos.clear();
            m
        })
        .collect();
    stripped.sort_by_key(|m| (m.id, m.open));
    assert_eq!(stripped.len(), lean.len());
    for (a, b) in stripped.iter().zip(&lean) {
        assert_eq!(a, b);
    }
}
