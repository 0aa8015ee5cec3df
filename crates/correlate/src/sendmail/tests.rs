//! Sendmail correlation over the real lines of `../shared/corpora/`: a hosted sender's
//! documented log (`vendor-doc-examples/sendmail-realsender.log`), fluent-plugin-sendmail's
//! sample with the records it expects (`sendmail-fluent/`), and fail2ban's samples
//! (`fail2ban/sendmail-*.log`).

use crate::{Correlator, Counters, LooseKind, Output};
use mailtrace_model::{AttemptStatus, Message, Status, MTA_SENDMAIL};
use mailtrace_parse::syslog;
use std::path::{Path, PathBuf};

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
}

/// Feed the log lines of a corpus file (fail2ban's `# failJSON` annotations and blank lines
/// are not log lines) through one correlator, to the end of input.
fn run(file: &str, year: i16) -> (Output, Counters) {
    let text = std::fs::read_to_string(corpora().join(file)).unwrap();
    let mut c = Correlator::default();
    let mut ctx = syslog::Context::new(year, jiff::tz::TimeZone::UTC);
    let mut out = Output::default();
    let lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for (no, line) in (1..).zip(lines) {
        c.feed_line(no, line, &mut ctx, None);
        let mut o = c.drain();
        out.messages.append(&mut o.messages);
        out.loose.append(&mut o.loose);
    }
    let counters = c.counters();
    let mut o = c.into_output();
    out.messages.append(&mut o.messages);
    out.loose.append(&mut o.loose);
    (out, counters)
}

fn by_qid<'a>(out: &'a Output, qid: &str) -> &'a Message {
    let ms: Vec<&Message> = out
        .messages
        .iter()
        .filter(|m| m.queue_id.as_deref() == Some(qid))
        .collect();
    assert_eq!(ms.len(), 1, "{qid}: {ms:#?}");
    ms[0]
}

fn by_rcpt<'a>(out: &'a Output, rcpt: &str) -> &'a Message {
    let ms: Vec<&Message> = out
        .messages
        .iter()
        .filter(|m| m.recipients.iter().any(|r| r.address == rcpt))
        .collect();
    assert_eq!(ms.len(), 1, "{rcpt}: {ms:#?}");
    ms[0]
}

fn statuses(m: &Message) -> Vec<AttemptStatus> {
    m.recipients[0].attempts.iter().map(|a| a.status).collect()
}

#[test]
fn realsender_statuses() {
    let (out, counters) = run("vendor-doc-examples/sendmail-realsender.log", 2017);
    assert_eq!(
        (counters.lines, counters.sendmail, counters.unparsed),
        (20, 20, 0)
    );
    assert!(out.loose.is_empty(), "{:?}", out.loose);
    for m in &out.messages {
        assert_eq!((m.mta.as_str(), m.server.as_str()), (MTA_SENDMAIL, "rs336"));
    }
    let to = "recipient@yourcustomer.com";

    // Sent at once.
    let m = by_qid(&out, "v4V4QL1K030027");
    assert_eq!(m.sender.as_deref(), Some("sender@yourcompany.com"));
    assert_eq!((m.status, m.open), (Status::Delivered, false));
    assert_eq!(m.recipients.len(), 1);
    let r = &m.recipients[0];
    assert_eq!((r.address.as_str(), r.dsn.as_deref()), (to, Some("2.0.0")));
    assert_eq!(r.response.as_deref(), Some("Message accepted for delivery"));
    assert_eq!(m.line_nos, vec![1, 2]);
    assert_eq!(m.acceptance_lines(), vec![(1, "queued"), (2, "sent")]);

    // Deferred twice (421, too busy), then sent.
    let m = by_qid(&out, "v4V6w3jN001390");
    assert_eq!((m.status, m.open), (Status::Delivered, false));
    use AttemptStatus::{Deferred, Sent};
    assert_eq!(statuses(m), vec![Deferred, Deferred, Sent]);
    assert_eq!(m.recipients[0].attempts[0].smtp_code, Some(421));

    // Greylisted twice (451 4.7.1), then sent.
    let m = by_qid(&out, "v4V80L9Z004176");
    assert_eq!((m.status, m.open), (Status::Delivered, false));
    assert_eq!(statuses(m), vec![Deferred, Deferred, Sent]);
    let first = &m.recipients[0].attempts[0];
    assert_eq!(
        (first.smtp_code, first.dsn.as_deref()),
        (Some(451), Some("4.7.1"))
    );
    assert!(first
        .response
        .as_deref()
        .unwrap()
        .contains("Greylisting in effect"));

    // User unknown, and the DSN it sent back, queued as a child.
    let m = by_qid(&out, "v4VEHCk6017038");
    assert_eq!((m.status, m.open), (Status::Bounced, false));
    let r = &m.recipients[0];
    assert_eq!(
        (r.dsn.as_deref(), r.response.as_deref()),
        (Some("5.1.1"), Some("User unknown"))
    );
    let dsn = by_qid(&out, "v4VEHFk5017041");
    assert_eq!(dsn.bounce_of, Some(m.id));
    assert_eq!(dsn.sender.as_deref(), Some(""));
    assert_eq!(dsn.line_nos, vec![13]);

    // Service unavailable, and its DSN.
    let m = by_qid(&out, "v4PAhZw1019212");
    assert_eq!((m.status, m.open), (Status::Bounced, false));
    assert_eq!(m.recipients[0].dsn.as_deref(), Some("5.0.0"));
    assert_eq!(by_qid(&out, "v4PAhcw0019217").bounce_of, Some(m.id));

    // Mailbox full twice, then `Cannot send message for 4 hours`: expired, with the last
    // reply kept, and the notification linked.
    let m = by_qid(&out, "v4P7Hc6P011481");
    assert_eq!((m.status, m.open), (Status::Expired, false));
    let r = &m.recipients[0];
    assert_eq!(r.status, Status::Expired);
    assert_eq!(statuses(m), vec![Deferred, Deferred]);
    assert_eq!(r.smtp_code, Some(452));
    assert!(r.response.as_deref().unwrap().ends_with("mailbox full"));
    assert_eq!(m.line_nos, vec![17, 18, 19, 20]);
    assert_eq!(by_qid(&out, "v4PBPko0020848").bounce_of, Some(m.id));

    assert_eq!(out.messages.len(), 9, "6 messages and 3 notifications");
}

/// fluent-plugin-sendmail's records (`expected.json`): each recipient's attempts and final
/// status, the sender's fields, the relays.
#[test]
fn fluent_matches_expected() {
    let (out, counters) = run("sendmail-fluent/sendmail.log", 2016);
    assert_eq!(
        (counters.lines, counters.sendmail, counters.unparsed),
        (10, 10, 0)
    );
    let m = by_qid(&out, "u31FFPtp032300");
    assert_eq!(m.server, "mta001");
    assert_eq!(m.sender.as_deref(), Some("grandeur09@gmail.com"));
    assert_eq!((m.size, m.nrcpt), (Some(5938), Some(7)));
    assert_eq!(
        m.message_id.as_deref(),
        Some("<201604011515.u31FFIAj012911@gmail.com>")
    );
    assert_eq!(m.client_ip.as_deref(), Some("64.233.187.27"));
    assert_eq!(m.proto.as_deref(), Some("ESMTP"));
    assert_eq!(m.line_nos.len(), 10, "the milter note before from= too");
    // deferred2 is still deferred at the end of the log: the message is still queued.
    assert_eq!((m.status, m.open), (Status::Deferred, true));

    let expected =
        std::fs::read_to_string(corpora().join("sendmail-fluent/expected.json")).unwrap();
    // Per recipient: (time, status) of every record, in log time.
    let mut want: std::collections::BTreeMap<String, Vec<(i64, String)>> = Default::default();
    for rec in expected.lines() {
        let e: serde_json::Value = serde_json::from_str(rec).unwrap();
        for to in e["to"].as_array().unwrap() {
            let addr = mailtrace_parse::sendmail::To {
                to: to.as_str().unwrap(),
                ..dummy_to()
            }
            .recipients()
            .next()
            .unwrap()
            .to_string();
            want.entry(addr).or_default().push((
                e["time"].as_i64().unwrap(),
                e["status_canonical"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert_eq!(want.len(), 7);
    assert_eq!(m.recipients.len(), 7);
    for (addr, mut recs) in want {
        recs.sort();
        let r = m
            .recipients
            .iter()
            .find(|r| r.address == addr)
            .unwrap_or_else(|| panic!("{addr}: {:?}", m.recipients));
        assert_eq!(r.attempts.len(), recs.len(), "{addr}");
        let last = match recs.last().unwrap().1.as_str() {
            "sent" | "sent_local" => Status::Delivered,
            "deferred" => Status::Deferred,
            other => panic!("{other}"),
        };
        // The log is not in time order (a line of Apr 3 before lines of Apr 2): the final
        // status is the one of the newest attempt.
        let newest = r.attempts.iter().max_by_key(|a| a.at).unwrap();
        assert_eq!(newest.status.recipient_status(), last, "{addr}");
        for ((t, _), a) in recs.iter().zip({
            let mut at: Vec<_> = r.attempts.iter().map(|a| a.at.0 / 1_000_000).collect();
            at.sort();
            at
        }) {
            // expected.json's times are the syslog times read in the plugin's zone (UTC+9).
            assert_eq!(a - t, 9 * 3600, "{addr}");
        }
    }
    let local = m
        .recipients
        .iter()
        .find(|r| r.address == "root@localhost.localdomain")
        .unwrap();
    assert_eq!(local.attempts[0].agent, "local");
    assert_eq!(local.relay, None);
    let sent1 = m
        .recipients
        .iter()
        .find(|r| r.address == "sent1@example.com")
        .unwrap();
    assert_eq!(sent1.relay.as_deref(), Some("93.184.216.34[93.184.216.34]"));
    assert_eq!(
        sent1.response.as_deref(),
        Some("ok:  Message 40279894 accepted")
    );
    let d2 = m
        .recipients
        .iter()
        .find(|r| r.address == "deferred2@example.com")
        .unwrap();
    assert_eq!(
        (d2.status, d2.smtp_code, d2.dsn.as_deref()),
        (Status::Deferred, Some(451), Some("4.3.5"))
    );
    assert_eq!(d2.delay_s, Some(86_415.0));
}

fn dummy_to() -> mailtrace_parse::sendmail::To<'static> {
    match mailtrace_parse::sendmail::parse("u31FFPtp032300: to=<x>, stat=Sent").kind {
        mailtrace_parse::sendmail::Kind::To(t) => t,
        k => panic!("{k:?}"),
    }
}

/// fail2ban's samples: refusals, SASL failures, scanners. Nothing panics, every line is
/// Sendmail's or counted as unparsed, and the refusals become rejected records.
#[test]
fn fail2ban_samples() {
    let (auth, c) = run("fail2ban/sendmail-auth.log", 2005);
    eprintln!(
        "fail2ban/sendmail-auth.log: {} lines, {} Sendmail, {} unparsed: {:.1}% recognised",
        c.lines,
        c.sendmail,
        c.unparsed,
        100.0 * (c.lines - c.unparsed) as f64 / c.lines as f64
    );
    assert_eq!((c.lines, c.sendmail, c.unparsed), (13, 13, 0));
    // SASL failures and AUTH floods are sessions without mail.
    assert!(auth.messages.is_empty(), "{:#?}", auth.messages);
    assert_eq!(auth.loose.len(), 13);
    assert!(auth.loose.iter().all(|l| l.kind == LooseKind::Session));

    let (out, c) = run("fail2ban/sendmail-reject.log", 2005);
    eprintln!(
        "fail2ban/sendmail-reject.log: {} lines, {} Sendmail, {} unparsed: {:.1}% recognised",
        c.lines,
        c.sendmail,
        c.unparsed,
        100.0 * (c.lines - c.unparsed) as f64 / c.lines as f64
    );
    // Four lines carry `<mail.notice>` (BSD syslogd -v) before the host: the syslog
    // envelope is not read from them.
    assert_eq!((c.lines, c.sendmail, c.unparsed), (45, 41, 4));
    assert_eq!(
        out.loose
            .iter()
            .filter(|l| l.kind == LooseKind::Unparsed)
            .count(),
        4
    );

    // A recipient refused for the sender's domain.
    let m = by_rcpt(&out, "camila.pinto@camilopinto.pt");
    assert_eq!((m.status, m.open), (Status::Rejected, false));
    assert_eq!(m.client_ip.as_deref(), Some("2.180.185.27"));
    let r = &m.recipients[0];
    assert_eq!(r.address, "camila.pinto@camilopinto.pt");
    assert_eq!(
        (r.status, r.smtp_code, r.dsn.as_deref()),
        (Status::Rejected, Some(553), Some("5.1.8"))
    );

    // `<addr>... No such user here`, then the session's `from=... nrcpts=0`: one record
    // with the sender.
    let m = by_rcpt(&out, "davaojk25@domain.com");
    assert_eq!((m.status, m.open), (Status::Rejected, false));
    assert_eq!(m.sender.as_deref(), Some("davaojk25@domain.com"));
    assert_eq!(
        m.client_host.as_deref(),
        Some("163.23.32.95.dsl-dynamic.vsi.ru")
    );
    assert_eq!(m.recipients[0].address, "davaojk25@domain.com");
    assert_eq!(m.line_nos.len(), 2);
    // Two refusals of one session (ids repeat in fail2ban's sample: 026252 three times).
    let m = by_rcpt(&out, "anto@domain.com");
    let rcpts: Vec<&str> = m.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        rcpts,
        vec!["artem@domain.com", "anto@domain.com", "anton@domain.com"]
    );
    // `from=... nrcpts=0` without a refusal on record: a session that carried no mail.
    assert!(out
        .messages
        .iter()
        .all(|m| m.sender.as_deref() != Some("anton@domain.com")));
    // Refusals have no queue id (no queue file), like Postfix's NOQUEUE.
    assert!(out.messages.iter().all(|m| m.queue_id.is_none()));

    // Connections refused by check_relay.
    let relay: Vec<&Message> = out
        .messages
        .iter()
        .filter(|m| {
            m.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("421 4.3.2"))
        })
        .collect();
    assert_eq!(relay.len(), 4);
    assert!(relay.iter().all(|m| m.status == Status::Rejected
        && m.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("421 4.3.2"))));
    assert!(relay
        .iter()
        .any(|m| m.client_ip.as_deref() == Some("217.21.54.82")));

    let rejected = out
        .messages
        .iter()
        .filter(|m| m.status == Status::Rejected)
        .count();
    assert_eq!(rejected, out.messages.len(), "{:#?}", out.messages);
    assert!(out.messages.iter().all(|m| !m.open));
}

/// A line without a program name (the realsender sample's syslog) is read as Sendmail's
/// only when a queue id stands in the program's place.
#[test]
fn program_less_lines_need_a_queue_id() {
    let mut ctx = syslog::Context::new(2017, jiff::tz::TimeZone::UTC);
    let p = crate::parse_line(
        "May 31 06:26:22 rs336 v4V4QL1K030027: from=sender@yourcompany.com",
        &mut ctx,
    );
    assert_eq!(p.sendmail.and_then(|r| r.queue_id), Some("v4V4QL1K030027"));
    let p = crate::parse_line("May 31 06:26:22 rs336 dovecot: imap-login: x", &mut ctx);
    assert!(p.sendmail.is_none());
    let p = crate::parse_line(
        "Feb 24 14:00:00 server sendmail[26592]: u0CB32qX026592: [192.0.2.1]: possible SMTP attack: command=AUTH, count=5",
        &mut ctx,
    );
    assert!(p.sendmail.is_some() && p.record.is_none());
}

/// The committed run of the real-Sendmail harness (`testdata/sendmail/harness.log`): every
/// line is Sendmail's and understood; what belongs to no message is a session or a notice.
#[test]
fn harness_run_lines_and_sessions() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sendmail/harness.log"),
    )
    .unwrap();
    let mut c = Correlator::default();
    let mut ctx = syslog::Context::new(2026, jiff::tz::TimeZone::UTC);
    for (no, line) in (1..).zip(text.lines()) {
        c.feed_line(no, line, &mut ctx, None);
    }
    let counters = c.counters();
    let out = c.into_output();
    assert_eq!(counters.lines, text.lines().count() as u64);
    assert_eq!((counters.sendmail, counters.unparsed), (counters.lines, 0));
    assert!(out.messages.iter().all(|m| !m.open), "the queue was empty");
    // The harness's two port probes ("did not issue MAIL") and the submission program's
    // STARTTLS=client are sessions; `starting daemon` is a notice. The STARTTLS=server lines
    // joined their messages.
    let kinds: Vec<LooseKind> = out.loose.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == LooseKind::Session).count(),
        3,
        "{:?}",
        out.loose
    );
    assert_eq!(kinds.iter().filter(|k| **k == LooseKind::Notice).count(), 1);
    assert_eq!(kinds.len(), 4);

    // case 11: one recipient refused, one accepted in the same transaction and second: the
    // refusal and the message are two records with their own keys.
    let refused = by_rcpt(&out, "rcpt11b@blocked.test");
    let queued = by_rcpt(&out, "rcpt11a@ok.test");
    assert_ne!(refused.id, queued.id);
    assert_eq!(
        (refused.status, refused.queue_id.as_deref()),
        (Status::Rejected, None)
    );
    assert_eq!(queued.status, Status::Delivered);
    assert_eq!(queued.queue_id.as_deref(), Some("6B583mht020093"));
    assert_eq!(refused.recipients[0].address, "rcpt11b@blocked.test");
    assert_eq!(refused.sender.as_deref(), Some("s11@sender.test"));
    assert_eq!(refused.line_nos, vec![32]);
    assert_eq!(queued.recipients[0].address, "rcpt11a@ok.test");
    assert_eq!(queued.message_id.as_deref(), Some("<case11@harness.test>"));
    assert_eq!(queued.line_nos, vec![33, 45]);
}

/// An ingest stopped in the middle (checkpoint, store, restore) ends as one run does: the
/// messages still queued at the checkpoint come back from the store and go on.
#[test]
fn resumed_after_a_checkpoint_like_one_run() {
    let text =
        std::fs::read_to_string(corpora().join("vendor-doc-examples/sendmail-realsender.log"))
            .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (one, _) = run("vendor-doc-examples/sendmail-realsender.log", 2017);
    for cut in [3, 9, 13, 18] {
        let mut ctx = syslog::Context::new(2017, jiff::tz::TimeZone::UTC);
        let mut c = Correlator::default();
        // The store: messages by id, the last write wins.
        let mut store: std::collections::BTreeMap<i64, Message> = Default::default();
        for (no, line) in (1..).zip(&lines[..cut]) {
            c.feed_line(no, line, &mut ctx, None);
        }
        for m in c.checkpoint().messages {
            store.insert(m.id, m);
        }
        let state = c.state(None, Some(ctx.state()));
        let open: Vec<Message> = store.values().filter(|m| m.open).cloned().collect();
        assert!(!open.is_empty(), "cut {cut}: something is still queued");
        let mut c = Correlator::restore(state, open, crate::Limits::default());
        for (no, line) in (cut as u64 + 1..).zip(&lines[cut..]) {
            c.feed_line(no, line, &mut ctx, None);
        }
        for m in c.into_output().messages {
            store.insert(m.id, m);
        }
        let mut got: Vec<&Message> = store.values().collect();
        let mut want: Vec<&Message> = one.messages.iter().collect();
        got.sort_by_key(|m| m.id);
        want.sort_by_key(|m| m.id);
        assert_eq!(got, want, "cut after line {cut}");
    }
}
