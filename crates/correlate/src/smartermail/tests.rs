use super::*;
use crate::{parse_line_as, Format, Output};
use jiff::tz::TimeZone;
use mailtrace_model::Status;

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora/");
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/");

/// Feed files in order (lines numbered from 1 across them) and end the input.
fn run(files: &[(String, Format)], tz: TimeZone) -> (Output, crate::Counters, Vec<String>) {
    let mut c = Correlator::default();
    c.set_default_server("mail.example.net");
    let mut ctx = mailtrace_parse::syslog::Context::new(2024, tz);
    let mut all = Vec::new();
    let mut no = 0;
    for (path, format) in files {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            no += 1;
            all.push(line.to_string());
            c.feed_parsed(no, &parse_line_as(line, &mut ctx, *format), None);
        }
    }
    let counters = c.counters();
    let mut out = c.finish_input();
    out.messages.sort_by_key(|m| (m.received_at, m.id));
    (out, counters, all)
}

fn vendor(file: &str) -> String {
    format!("{CORPORA}vendor-doc-examples/{file}")
}

#[test]
fn vendor_smtp_log_has_no_message_and_keeps_both_auth_sessions() {
    let (out, counters, lines) = run(
        &[(vendor("smartermail-smtp.log"), Format::SmarterMailSmtp)],
        TimeZone::UTC,
    );
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    assert_eq!(counters.smartermail, 16);
    assert_eq!(counters.unparsed, 0);
    // Both sessions (the authentication that succeeded and the one that failed) are session
    // lines, every one of them.
    assert_eq!(out.loose.len(), lines.len());
    assert!(out.loose.iter().all(|l| l.kind == LooseKind::Session));
    assert!(out.loose.iter().all(|l| l.server == "mail.example.net"));
}

#[test]
fn vendor_delivery_log_is_one_delivered_message_with_its_conversation() {
    let (out, counters, _) = run(
        &[(
            vendor("smartermail-delivery.log"),
            Format::SmarterMailDelivery,
        )],
        TimeZone::UTC,
    );
    assert_eq!(counters.unparsed, 0);
    assert!(out.loose.is_empty(), "{:?}", out.loose);
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert_eq!(m.mta, "smartermail");
    assert_eq!(m.server, "mail.example.net");
    assert_eq!(m.queue_id.as_deref(), Some("61003"));
    assert_eq!(m.sender.as_deref(), Some("sender@servermanagementco.com"));
    assert_eq!(m.status, Status::Delivered);
    assert!(!m.open);
    assert_eq!(m.received_at.to_rfc3339(), "2018-05-07T22:57:34Z");
    assert_eq!(m.size, Some(943));
    // The related view: every line of the delivery.
    assert_eq!(m.line_nos, (1..=20).collect::<Vec<_>>());
    let r = &m.recipients[0];
    assert_eq!(m.recipients.len(), 1);
    assert_eq!(r.address, "recipient@gmail.com");
    assert_eq!(r.status, Status::Delivered);
    assert_eq!(r.smtp_code, Some(250));
    assert_eq!(r.dsn.as_deref(), Some("2.0.0"));
    assert_eq!(
        r.response.as_deref(),
        Some("250 2.0.0 OK 1525751864 m203-v6si8908464itm.99 - gsmtp")
    );
    assert_eq!(r.relay.as_deref(), Some("mx.google.com[74.125.69.26]:25"));
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].agent, "smtp");
    // The 250 after DATA (line 15) is the acceptance line.
    assert_eq!(m.acceptance_lines(), vec![(15, event_kind::SENT)]);
}

#[test]
fn local_times_are_in_the_log_zone() {
    let tz = TimeZone::get("America/Chicago").unwrap();
    let (out, _, _) = run(
        &[(
            vendor("smartermail-delivery.log"),
            Format::SmarterMailDelivery,
        )],
        tz,
    );
    // 22:57:34 CDT (UTC-5 in May).
    assert_eq!(
        out.messages[0].received_at.to_rfc3339(),
        "2018-05-08T03:57:34Z"
    );
}

fn testdata_run() -> (Output, crate::Counters, Vec<String>) {
    run(
        &[
            (
                format!("{TESTDATA}smartermail/smtp.log"),
                Format::SmarterMailSmtp,
            ),
            (
                format!("{TESTDATA}smartermail/delivery.log"),
                Format::SmarterMailDelivery,
            ),
        ],
        TimeZone::UTC,
    )
}

#[test]
fn sessions_and_deliveries_make_one_message_per_spool_number() {
    let (out, counters, lines) = testdata_run();
    assert_eq!(counters.unparsed, 0);
    let by_rcpt = |a: &str| {
        out.messages
            .iter()
            .filter(|m| m.recipients.iter().any(|r| r.address == a))
            .collect::<Vec<_>>()
    };
    // Received from alice (authenticated, STARTTLS), delivered to bob at once and to carol
    // after a 452 deferral: one message, spool 70001.
    let m = by_rcpt("bob@example.com");
    assert_eq!(m.len(), 1);
    let m = m[0];
    assert_eq!(m.queue_id.as_deref(), Some("70001"));
    assert_eq!(
        m.message_id.as_deref(),
        Some("<20240304091503.A1@client.example.org>")
    );
    assert_eq!(m.client_ip.as_deref(), Some("198.51.100.23"));
    assert_eq!(m.helo.as_deref(), Some("client.example.org"));
    assert_eq!(m.sasl_username.as_deref(), Some("alice@example.net"));
    assert_eq!(m.sasl_method.as_deref(), Some("LOGIN"));
    assert_eq!(m.tls.as_deref(), Some("STARTTLS"));
    assert_eq!(m.size, Some(2048));
    assert_eq!(m.status, Status::Delivered);
    assert!(!m.open);
    let carol = m
        .recipients
        .iter()
        .find(|r| r.address == "carol@example.org")
        .unwrap();
    assert_eq!(carol.status, Status::Delivered);
    assert_eq!(carol.attempts.len(), 2);
    assert_eq!(carol.attempts[0].status, AttemptStatus::Deferred);
    assert_eq!(carol.attempts[0].smtp_code, Some(452));
    assert_eq!(carol.attempts[0].dsn.as_deref(), Some("4.2.2"));
    assert_eq!(
        carol.attempts[0].relay.as_deref(),
        Some("mx.example.org[198.51.100.80]:25")
    );
    assert_eq!(carol.attempts[1].status, AttemptStatus::Sent);
    // Every line of the session and of both deliveries, and nothing else.
    let session = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("[71234567]") || l.contains("[70001]"))
        .map(|(i, _)| i as u64 + 1)
        .collect::<Vec<_>>();
    assert_eq!(m.line_nos, session);
    // Accepted into the spool (the 250 after DATA in the SMTP log), then by bob's and carol's
    // servers.
    let acc = m.acceptance_lines();
    assert_eq!(acc.len(), 3, "{acc:?}");
    assert_eq!(acc[0].1, event_kind::QUEUED);
    assert!(lines[acc[0].0 as usize - 1].ends_with("rsp: 250 OK"));
    assert!(lines[acc[1].0 as usize - 1].contains("queued as 4Tq1Zx0abc"));
    assert!(lines[acc[2].0 as usize - 1].contains("queued as 9Zz8Yy7xx"));

    // The recipient refused at RCPT in the same session is a rejected record.
    let nobody = by_rcpt("nobody@example.net");
    assert_eq!(nobody.len(), 1);
    assert_eq!(nobody[0].status, Status::Rejected);
    assert_eq!(nobody[0].sender.as_deref(), Some("alice@example.net"));
    assert_eq!(nobody[0].recipients[0].smtp_code, Some(550));
    assert_eq!(
        nobody[0].reason.as_deref(),
        Some("550 <nobody@example.net> No such user here")
    );
    assert_eq!(nobody[0].line_nos, m.line_nos[..nobody[0].line_nos.len()]);
    assert!(nobody[0].acceptance_lines().is_empty());

    // Relay refused: rejected at RCPT, 5.7.1.
    let relay = by_rcpt("someone@elsewhere.example");
    assert_eq!(relay.len(), 1);
    assert_eq!(relay[0].status, Status::Rejected);
    assert_eq!(relay[0].recipients[0].dsn.as_deref(), Some("5.7.1"));
    assert_eq!(relay[0].client_ip.as_deref(), Some("203.0.113.66"));

    // Refused after DATA.
    let spam = by_rcpt("bob@example.net");
    assert_eq!(spam.len(), 1);
    assert_eq!(spam[0].status, Status::Rejected);
    assert_eq!(spam[0].recipients[0].smtp_code, Some(554));
    assert!(spam[0].acceptance_lines().is_empty());

    // Sent from webmail (no SMTP session), bounced with 550 5.1.1.
    let ghost = by_rcpt("ghost@example.com");
    assert_eq!(ghost.len(), 1);
    assert_eq!(ghost[0].status, Status::Bounced);
    assert_eq!(ghost[0].sender.as_deref(), Some("dave@example.net"));
    assert_eq!(ghost[0].client_ip, None);
    assert_eq!(ghost[0].recipients[0].dsn.as_deref(), Some("5.1.1"));
    assert!(!ghost[0].open);

    // Greylisted after DATA: deferred, still in the spool at the end of the input.
    let frank = by_rcpt("frank@greylist.example");
    assert_eq!(frank.len(), 1);
    assert_eq!(frank[0].status, Status::Deferred);
    assert!(frank[0].open);
    assert_eq!(frank[0].recipients[0].smtp_code, Some(451));

    assert_eq!(out.messages.len(), 6, "{:#?}", out.messages);
    // The authentication failure (mallory) is a session without mail.
    let mallory: Vec<_> = out
        .loose
        .iter()
        .filter(|l| lines[l.no as usize - 1].contains("[71234575]"))
        .collect();
    assert_eq!(mallory.len(), 10);
    assert!(mallory.iter().all(|l| l.kind == LooseKind::Session));
}

#[test]
fn a_delivery_read_before_its_session_still_gives_one_message() {
    // The first delivery of 70001 (bob delivered, carol deferred: still in the spool) read
    // before the SMTP log: the session's part joins the spooled message.
    let delivery = std::fs::read_to_string(format!("{TESTDATA}smartermail/delivery.log")).unwrap();
    let smtp = std::fs::read_to_string(format!("{TESTDATA}smartermail/smtp.log")).unwrap();
    let mut c = Correlator::default();
    let mut ctx = mailtrace_parse::syslog::Context::new(2024, TimeZone::UTC);
    let first: Vec<&str> = delivery.lines().take(32).collect();
    assert!(first[31].starts_with("[2024.03.04] 09:15:07 [70001] Delivery finished"));
    let mut no = 0;
    for l in &first {
        no += 1;
        c.feed_parsed(
            no,
            &parse_line_as(l, &mut ctx, Format::SmarterMailDelivery),
            None,
        );
    }
    for l in smtp.lines() {
        no += 1;
        c.feed_parsed(
            no,
            &parse_line_as(l, &mut ctx, Format::SmarterMailSmtp),
            None,
        );
    }
    let out = c.finish_input();
    let m: Vec<_> = out
        .messages
        .iter()
        .filter(|m| m.queue_id.as_deref() == Some("70001"))
        .collect();
    assert_eq!(m.len(), 1);
    let m = m[0];
    assert!(m.open);
    assert_eq!(m.status, Status::Deferred);
    assert_eq!(m.client_ip.as_deref(), Some("198.51.100.23"));
    assert_eq!(m.sasl_username.as_deref(), Some("alice@example.net"));
    assert_eq!(m.recipients.len(), 2);
    assert_eq!(m.recipients[0].status, Status::Delivered);
    assert_eq!(m.recipients[1].status, Status::Deferred);
    // The delivery's lines and the session's, in input order.
    assert_eq!(m.line_nos.len(), 28 + 32);
    assert_eq!(m.line_nos[..32], (1..=32).collect::<Vec<_>>());
    assert_eq!(m.line_nos[32], 33);
}

#[test]
fn garbage_and_cut_lines_never_panic_and_are_unparsed() {
    let mut c = Correlator::default();
    let mut ctx = mailtrace_parse::syslog::Context::new(2024, TimeZone::UTC);
    let long = format!(
        "[2024.03.04] 09:15:02 [1.2.3.4][1] cmd: RCPT TO:<{}",
        "x".repeat(1 << 20)
    );
    let lines = [
        "\u{0}\u{1}garbage",
        "[2024.03.04] 09:15:02 [1.2.3.4][1] rsp:",
        "[2024.03.04] 09:15:02 [1.2.3.4][1] cmd: DATA",
        "[2024.03.04] 09:15:02 [1.2.3.4][1] rsp: 250",
        "[2024.03.04] 09:15:02 [1.2.3.4][1] Data transfer succeeded, writing mail to",
        "[2024.03.04] 09:15:02 [9] Delivery for x",
        "[2024.03.04] 09:15:02 [9] RSP: 250",
        "[2024.03.04] 09:15:02 [9] Delivery finished for",
        "[2024.02.30] 09:15:02 [9] CMD: DATA",
        "[2024.03.04] 09:15:02 [",
        long.as_str(),
    ];
    for (no, l) in (1..).zip(lines) {
        for f in [Format::SmarterMailSmtp, Format::SmarterMailDelivery] {
            c.feed_parsed(no, &parse_line_as(l, &mut ctx, f), None);
        }
    }
    let out = c.finish_input();
    // The garbage, the impossible date and the cut prefix: unparsed, twice each.
    let unparsed = out
        .loose
        .iter()
        .filter(|l| l.kind == LooseKind::Unparsed)
        .count();
    assert!(unparsed >= 6, "{:?}", out.loose);
}

/// Feed the test logs with a checkpoint after line `cut`: the state through JSON, the open
/// messages as a store keeps them (the last version of each id), a new correlator restored
/// from both. What comes out must be what one pass gives.
fn with_checkpoint_at(cut: usize) -> Vec<Message> {
    let lines: Vec<(String, Format)> = [
        ("smartermail/smtp.log", Format::SmarterMailSmtp),
        ("smartermail/delivery.log", Format::SmarterMailDelivery),
    ]
    .iter()
    .flat_map(|(f, fmt)| {
        std::fs::read_to_string(format!("{TESTDATA}{f}"))
            .unwrap()
            .lines()
            .map(|l| (l.to_string(), *fmt))
            .collect::<Vec<_>>()
    })
    .collect();
    let mut store: std::collections::BTreeMap<i64, Message> = Default::default();
    let keep = |store: &mut std::collections::BTreeMap<i64, Message>, out: Output| {
        for m in out.messages {
            store.insert(m.id, m);
        }
    };
    let mut ctx = mailtrace_parse::syslog::Context::new(2024, TimeZone::UTC);
    let mut c = Correlator::default();
    c.set_default_server("mail.example.net");
    for (no, (l, f)) in (1..).zip(&lines[..cut]) {
        c.feed_parsed(no, &parse_line_as(l, &mut ctx, *f), None);
    }
    let state = serde_json::to_string(&c.state(None, None)).unwrap();
    keep(&mut store, c.checkpoint());
    let open: Vec<Message> = store.values().filter(|m| m.open).cloned().collect();
    let mut c = Correlator::restore(
        serde_json::from_str(&state).unwrap(),
        open,
        crate::Limits::default(),
    );
    c.set_default_server("mail.example.net");
    for (no, (l, f)) in (cut as u64 + 1..).zip(&lines[cut..]) {
        c.feed_parsed(no, &parse_line_as(l, &mut ctx, *f), None);
    }
    keep(&mut store, c.finish_input());
    store.into_values().collect()
}

#[test]
fn a_checkpoint_anywhere_gives_the_same_messages() {
    let (one_pass, _, _) = testdata_run();
    let mut want: Vec<Message> = one_pass.messages;
    want.sort_by_key(|m| m.id);
    for cut in [5, 20, 30, 38, 40, 63, 64, 80, 100, 120, 150] {
        let got = with_checkpoint_at(cut);
        assert_eq!(got.len(), want.len(), "cut at {cut}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "cut at {cut}");
        }
    }
}

#[test]
fn two_messages_in_one_session_are_two_spooled_messages() {
    let mut c = Correlator::default();
    c.set_default_server("mail.example.net");
    let mut ctx = mailtrace_parse::syslog::Context::new(2024, TimeZone::UTC);
    let p = "[2024.03.04] 10:00:00 [192.0.2.7][42]";
    let lines = [
        format!("{p} connected at 3/4/2024 10:00:00 AM"),
        format!("{p} cmd: HELO client"),
        format!("{p} rsp: 250 mail.example.net"),
        format!("{p} cmd: MAIL FROM:<a@example.org>"),
        format!("{p} rsp: 250 OK"),
        format!("{p} cmd: RCPT TO:<x@example.net>"),
        format!("{p} rsp: 250 OK"),
        format!("{p} cmd: DATA"),
        format!("{p} rsp: 354 Start mail input"),
        format!("{p} rsp: 250 OK"),
        format!("{p} Data transfer succeeded, writing mail to 801.eml (MessageID: <1@a>)"),
        format!("{p} cmd: RSET"),
        format!("{p} rsp: 250 OK"),
        format!("{p} cmd: MAIL FROM:<b@example.org>"),
        format!("{p} rsp: 250 OK"),
        format!("{p} cmd: RCPT TO:<y@example.net>"),
        format!("{p} rsp: 250 OK"),
        format!("{p} cmd: DATA"),
        format!("{p} rsp: 354 Start mail input"),
        format!("{p} Data transfer succeeded, writing mail to 802.eml (MessageID: <2@b>)"),
        format!("{p} rsp: 250 OK"),
        format!("{p} cmd: QUIT"),
        format!("{p} disconnected at 3/4/2024 10:00:01 AM"),
    ];
    for (no, l) in (1..).zip(&lines) {
        c.feed_parsed(
            no,
            &parse_line_as(l, &mut ctx, Format::SmarterMailSmtp),
            None,
        );
    }
    let mut out = c.into_output();
    out.messages.sort_by_key(|m| m.queue_id.clone());
    let q: Vec<_> = out
        .messages
        .iter()
        .map(|m| {
            (
                m.queue_id.as_deref().unwrap_or(""),
                m.sender.as_deref().unwrap_or(""),
                m.message_id.as_deref().unwrap_or(""),
                m.recipients[0].address.as_str(),
                m.status,
                m.open,
                m.proto.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        q,
        vec![
            (
                "801",
                "a@example.org",
                "<1@a>",
                "x@example.net",
                Status::Queued,
                true,
                "SMTP"
            ),
            (
                "802",
                "b@example.org",
                "<2@b>",
                "y@example.net",
                Status::Queued,
                true,
                "SMTP"
            ),
        ]
    );
    // Each has the whole session, and its own acceptance line only.
    for m in &out.messages {
        assert_eq!(m.line_nos, (1..=23).collect::<Vec<_>>());
    }
    assert_eq!(
        out.messages[0].acceptance_lines(),
        vec![(10, event_kind::QUEUED)]
    );
    assert_eq!(
        out.messages[1].acceptance_lines(),
        vec![(21, event_kind::QUEUED)]
    );
}
