use super::*;
use crate::{parse_line_as, Format, Output};
use jiff::tz::TimeZone;

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora/");
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/");

fn run(path: &str) -> (Output, crate::Counters, Vec<String>) {
    let mut c = Correlator::default();
    c.set_default_server("xeams.example");
    let mut ctx = mailtrace_parse::syslog::Context::new(2024, TimeZone::UTC);
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (no, l) in (1..).zip(&lines) {
        c.feed_parsed(no, &parse_line_as(l, &mut ctx, Format::Transcript), None);
    }
    let counters = c.counters();
    let mut out = c.finish_input();
    out.messages.sort_by_key(|m| (m.received_at, m.id));
    (out, counters, lines)
}

#[test]
fn xeams_connection_is_one_delivered_attempt_with_its_transcript() {
    let (out, counters, lines) = run(&format!(
        "{CORPORA}vendor-doc-examples/xeams-transcript.log"
    ));
    assert_eq!((counters.transcript, counters.unparsed), (19, 0));
    assert!(out.loose.is_empty());
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert_eq!(m.mta, "transcript");
    assert_eq!(m.server, "xeams.example");
    assert_eq!(m.queue_id.as_deref(), Some("7054286"));
    assert_eq!(m.sender.as_deref(), Some("support@synametrics.com"));
    assert_eq!(m.status, Status::Delivered);
    assert_eq!(m.received_at.to_rfc3339(), "2024-03-21T11:39:49.056Z");
    assert_eq!(m.line_nos, (1..=19).collect::<Vec<_>>());
    let r = &m.recipients[0];
    assert_eq!(r.address, "synametrics@gmail.com");
    assert_eq!(r.status, Status::Delivered);
    assert_eq!(r.smtp_code, Some(250));
    assert_eq!(r.dsn.as_deref(), Some("2.0.0"));
    assert_eq!(r.relay.as_deref(), Some("[142.251.171.26]"));
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].tls.as_deref(), Some("TLS"));
    // The accepting 250 after DATA is the acceptance line.
    let acc = m.acceptance_lines();
    assert_eq!(acc, vec![(16, event_kind::SENT)]);
    assert!(lines[15].contains("C --> 250 2.0.0 OK  1716305989"));
    assert_eq!(m.events.len(), 19);
}

#[test]
fn bounces_deferrals_and_rejections() {
    let (out, counters, lines) = run(&format!("{TESTDATA}transcript/transcript.log"));
    assert_eq!(counters.unparsed, 0);
    let find = |a: &str| {
        out.messages
            .iter()
            .find(|m| m.recipients.iter().any(|r| r.address == a))
            .unwrap_or_else(|| panic!("{a}"))
    };
    // One delivery, two recipients: one refused (bounced), one accepted.
    let m = find("nosuchuser@example.com");
    assert_eq!(m.queue_id.as_deref(), Some("7060001"));
    assert_eq!(m.status, Status::Bounced);
    let st: Vec<_> = m
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.status, r.smtp_code, r.dsn.as_deref()))
        .collect();
    assert_eq!(
        st,
        vec![
            (
                "nosuchuser@example.com",
                Status::Bounced,
                Some(550),
                Some("5.1.1")
            ),
            (
                "sales@example.com",
                Status::Delivered,
                Some(250),
                Some("2.0.0")
            ),
        ]
    );
    assert_eq!(
        m.recipients[1].relay.as_deref(),
        Some("mx.example.com[203.0.113.25]")
    );
    assert_eq!(m.acceptance_lines().len(), 1);
    // Greylisted at RCPT: deferred.
    let m = find("reader@grey.example");
    assert_eq!(m.status, Status::Deferred);
    assert_eq!(m.recipients[0].smtp_code, Some(450));
    assert!(m.acceptance_lines().is_empty());
    // Received: one recipient rejected (a rejected record), the message queued for the
    // other; the client is the peer.
    let m = find("former.employee@synametrics.example");
    assert_eq!(m.status, Status::Rejected);
    assert_eq!(m.recipients[0].smtp_code, Some(550));
    assert_eq!(m.reason.as_deref(), Some("550 5.1.1 User unknown"));
    assert!(m.acceptance_lines().is_empty());
    let m = find("support@synametrics.example");
    assert_eq!(m.client_ip.as_deref(), Some("192.0.2.55"));
    assert_eq!(m.helo.as_deref(), Some("client.example.org"));
    assert_eq!(m.recipients.len(), 1);
    assert_eq!(m.status, Status::Queued);
    let acc = m.acceptance_lines();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].1, event_kind::QUEUED);
    assert!(lines[acc[0].0 as usize - 1].ends_with("250 2.0.0 Message accepted"));
    assert_eq!(out.messages.len(), 4);
    // The connection refused at the greeting carried no message: its lines are a session.
    let busy: Vec<_> = out
        .loose
        .iter()
        .filter(|l| lines[l.no as usize - 1].contains("7060002"))
        .collect();
    assert_eq!(busy.len(), 4);
    assert!(busy.iter().all(|l| l.kind == crate::LooseKind::Session));
}

/// A checkpoint (state through JSON) after any line gives what one pass gives.
#[test]
fn a_checkpoint_anywhere_gives_the_same_messages() {
    let path = format!("{TESTDATA}transcript/transcript.log");
    let (one_pass, _, _) = run(&path);
    let mut want = one_pass.messages;
    want.sort_by_key(|m| m.id);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for cut in [1, 5, 10, 17, 20, 25, 30, 40, 48] {
        let mut got: std::collections::BTreeMap<i64, Message> = Default::default();
        let mut ctx = mailtrace_parse::syslog::Context::new(2024, TimeZone::UTC);
        let mut c = Correlator::default();
        c.set_default_server("xeams.example");
        for (no, l) in (1..).zip(&lines[..cut]) {
            c.feed_parsed(no, &parse_line_as(l, &mut ctx, Format::Transcript), None);
        }
        let state = serde_json::to_string(&c.state(None, None)).unwrap();
        got.extend(c.checkpoint().messages.into_iter().map(|m| (m.id, m)));
        let mut c = Correlator::restore(
            serde_json::from_str(&state).unwrap(),
            Vec::new(),
            crate::Limits::default(),
        );
        c.set_default_server("xeams.example");
        for (no, l) in (cut as u64 + 1..).zip(&lines[cut..]) {
            c.feed_parsed(no, &parse_line_as(l, &mut ctx, Format::Transcript), None);
        }
        got.extend(c.finish_input().messages.into_iter().map(|m| (m.id, m)));
        let got: Vec<Message> = got.into_values().collect();
        assert_eq!(got, want, "cut at {cut}");
    }
}

fn run_lines(lines: &[&str]) -> Output {
    let mut c = Correlator::default();
    c.set_default_server("xeams.example");
    let mut ctx = mailtrace_parse::syslog::Context::new(2024, TimeZone::UTC);
    for (no, l) in (1..).zip(lines) {
        c.feed_parsed(no, &parse_line_as(l, &mut ctx, Format::Transcript), None);
    }
    let mut out = c.into_output();
    out.messages.sort_by_key(|m| m.line_nos.first().copied());
    out
}

#[test]
fn two_transactions_in_one_connection_and_a_connection_lost_in_the_data() {
    let out = run_lines(&[
        "2024-03-21 12:00:00,000 - [9] ************ New connection to: 192.0.2.25",
        "2024-03-21 12:00:00,010 - [9] C --> 220 mx.example.com ESMTP",
        "2024-03-21 12:00:00,020 - [9] S <-- MAIL FROM:<a@example.net> SIZE=100",
        "2024-03-21 12:00:00,030 - [9] C --> 250 2.1.0 Ok",
        "2024-03-21 12:00:00,040 - [9] S <-- RCPT TO:<x@example.com>",
        "2024-03-21 12:00:00,050 - [9] C --> 250 2.1.5 Ok",
        "2024-03-21 12:00:00,060 - [9] S <-- DATA",
        "2024-03-21 12:00:00,070 - [9] C --> 354 go ahead",
        "2024-03-21 12:00:00,080 - [9] C --> 250 2.0.0 Ok: queued as AAA",
        "2024-03-21 12:00:00,090 - [9] S <-- MAIL FROM:<b@example.net>",
        "2024-03-21 12:00:00,100 - [9] C --> 250 2.1.0 Ok",
        "2024-03-21 12:00:00,110 - [9] S <-- RCPT TO:<y@example.com>",
        "2024-03-21 12:00:00,120 - [9] C --> 250 2.1.5 Ok",
        "2024-03-21 12:00:00,130 - [9] S <-- DATA",
        "2024-03-21 12:00:00,140 - [9] C --> 354 go ahead",
        // The file ends in the data: nothing says it was accepted.
    ]);
    assert_eq!(out.messages.len(), 2);
    let (a, b) = (&out.messages[0], &out.messages[1]);
    assert_ne!(a.id, b.id);
    assert_eq!(a.sender.as_deref(), Some("a@example.net"));
    assert_eq!(a.size, Some(100));
    assert_eq!(a.status, Status::Delivered);
    assert_eq!(
        a.recipients[0].response.as_deref(),
        Some("250 2.0.0 Ok: queued as AAA")
    );
    assert_eq!(b.sender.as_deref(), Some("b@example.net"));
    assert_eq!(b.status, Status::Deferred);
    assert_eq!(
        b.recipients[0].response.as_deref(),
        Some("connection closed before the data was accepted")
    );
    assert!(b.acceptance_lines().is_empty());
    assert_eq!(a.acceptance_lines(), vec![(9, event_kind::SENT)]);
    // Both carry the whole connection.
    assert_eq!(a.line_nos, b.line_nos);
    assert_eq!(a.line_nos.len(), 15);
}
