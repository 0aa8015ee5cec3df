//! Exim correlation over Exim's own test-suite logs (`../shared/corpora/exim/log`).

use crate::{Correlator, Output};
use mailtrace_model::{AttemptStatus, Message, Status};
use mailtrace_parse::syslog;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/exim/log")
}

/// Every message of one log (message ids repeat across the suite's files: one correlator each).
fn run(text: &str) -> (Output, crate::Counters) {
    let mut c = Correlator::default();
    let mut ctx = syslog::Context::new(1999, jiff::tz::TimeZone::UTC);
    let mut out = Output::default();
    for (no, line) in (1..).zip(text.lines()) {
        c.feed_line(no, line, &mut ctx, Some("mx"));
        let mut o = c.drain();
        out.messages.append(&mut o.messages);
        out.loose.append(&mut o.loose);
    }
    let mut o = c.finish_input();
    out.messages.append(&mut o.messages);
    out.loose.append(&mut o.loose);
    (out, c.counters())
}

fn file(name: &str) -> String {
    String::from_utf8_lossy(&std::fs::read(corpus().join(name)).unwrap()).into_owned()
}

fn by_id<'a>(out: &'a Output, id: &str) -> Vec<&'a Message> {
    out.messages
        .iter()
        .filter(|m| m.queue_id.as_deref() == Some(id))
        .collect()
}

#[test]
fn every_completed_message_of_the_suite_ends_final() {
    let (mut files, mut lines, mut exim, mut unparsed, mut completed) = (0, 0, 0, 0, 0);
    // The suite's logs also hold what is not a log line: blank lines, `******** SERVER
    // ********` markers, its test servers' SMTP dialogues, continuation lines.
    let mut undated = 0;
    for e in std::fs::read_dir(corpus()).unwrap() {
        let path = e.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let (out, counters) = run(&text);
        undated += text
            .lines()
            .filter(|l| {
                !l.as_bytes()
                    .get(..4)
                    .is_some_and(|y| y.iter().all(u8::is_ascii_digit))
            })
            .count() as u64;
        files += 1;
        lines += counters.lines;
        exim += counters.exim;
        unparsed += counters.unparsed;
        // Ids whose last line in the file is `Completed`.
        let mut last: std::collections::HashMap<&str, &str> = Default::default();
        for l in text.lines() {
            let mut w = l.splitn(5, ' ').skip(2);
            if let (Some(id), Some(rest)) = (w.next(), w.next()) {
                if mailtrace_parse::exim::is_message_id(id) {
                    last.insert(id, rest);
                }
            }
        }
        for (id, rest) in last {
            if rest != "Completed" {
                continue;
            }
            completed += 1;
            let ms = by_id(&out, id);
            let m = ms
                .iter()
                .rev()
                .find(|m| !m.open)
                .unwrap_or_else(|| panic!("{}: {id} not finished: {ms:?}", path.display()));
            assert!(
                m.status.is_final() || m.recipients.is_empty(),
                "{}: {id} ends {:?}",
                path.display(),
                m.status
            );
        }
    }
    eprintln!("exim corpus: {files} files, {lines} lines, {exim} Exim lines, {unparsed} unparsed ({undated} not log lines), {completed} completed messages");
    assert!(files > 800 && completed > 2000, "{files} {completed}");
    assert_eq!(unparsed, undated, "only what is not a log line is unparsed");
    assert_eq!(exim + unparsed, lines, "every dated line is Exim's");
}

#[test]
fn deferred_and_delivered_recipients_of_one_message() {
    let (out, _) = run(&file("0107"));
    let m = by_id(&out, "10HmaX-000000005vi-0000")[0];
    assert_eq!(m.sender.as_deref(), Some("CALLER@test.ex"));
    assert_eq!(m.client_host.as_deref(), Some("local"));
    let status = |a: &str| {
        m.recipients
            .iter()
            .find(|r| r.address == a)
            .unwrap_or_else(|| panic!("{a}: {:?}", m.recipients))
            .status
    };
    assert_eq!(
        status("userz@test.ex"),
        Status::Delivered,
        "local part + <address>"
    );
    assert_eq!(status("userx@test.ex"), Status::Deferred);
    let x = m
        .recipients
        .iter()
        .find(|r| r.address == "userx@test.ex")
        .unwrap();
    assert_eq!(x.attempts[0].status, AttemptStatus::Deferred);
    assert!(x
        .response
        .as_deref()
        .unwrap()
        .starts_with("mailbox TESTSUITE"));
    assert_eq!(x.attempts[0].agent, "appendfile");
}

#[test]
fn bounce_points_at_the_refused_message() {
    let (out, _) = run(&file("0021"));
    let parent = by_id(&out, "10HmaY-000000005vi-0000")[0];
    assert_eq!(parent.status, Status::Rejected);
    assert_eq!(parent.sender.as_deref(), Some("userx@test1"));
    assert!(parent
        .reason
        .as_deref()
        .unwrap()
        .contains("don't like sender"));
    let bounce = by_id(&out, "10HmbD-000000005vi-0000")[0];
    assert_eq!(bounce.sender.as_deref(), Some(""));
    assert_eq!(bounce.bounce_of, Some(parent.id));
    assert_eq!(bounce.status, Status::Delivered);
    // `rejected connection` without an id: a rejected record of its own.
    assert!(out.messages.iter().any(|m| m.queue_id.is_none()
        && m.status == Status::Rejected
        && m.client_ip.as_deref() == Some("10.9.8.7")));
}

#[test]
fn remote_delivery_has_relay_reply_and_timeline() {
    let text = "1999-03-02 09:44:33 10HmaX-000000005vi-0000 <= list@test.ex H=(helo.example) [192.0.2.9] P=esmtp S=321 id=abc@test.ex T=\"Hello\"\n\
1999-03-02 09:44:34 10HmaX-000000005vi-0000 => one@remote <list@test.ex> R=all T=smtp H=127.0.0.1 [127.0.0.1] C=\"250 OK\"\n\
1999-03-02 09:44:34 10HmaX-000000005vi-0000 Completed\n";
    let (out, _) = run(text);
    let m = by_id(&out, "10HmaX-000000005vi-0000")[0];
    assert!(!m.open);
    assert_eq!(m.status, Status::Delivered);
    assert_eq!(m.message_id.as_deref(), Some("<abc@test.ex>"));
    assert_eq!(m.subject.as_deref(), Some("Hello"));
    assert_eq!(
        (
            m.client_host.as_deref(),
            m.client_ip.as_deref(),
            m.helo.as_deref()
        ),
        (Some("unknown"), Some("192.0.2.9"), Some("helo.example"))
    );
    let r = &m.recipients[0];
    assert_eq!(
        (r.address.as_str(), r.orig_to.as_deref()),
        ("one@remote", Some("list@test.ex"))
    );
    assert_eq!(r.relay.as_deref(), Some("127.0.0.1[127.0.0.1]"));
    assert_eq!(r.smtp_code, Some(250));
    assert_eq!(r.delay_s, Some(1.0));
    assert_eq!(m.line_nos, vec![1, 2, 3]);
    let kinds: Vec<&str> = m.events.iter().map(|e| e.kind.as_ref()).collect();
    assert_eq!(kinds, ["queued", "sent", "completed"]);
}

/// Lines of the Exim harness (`testdata/exim/harness.log`, case 22), in one run.
const EXPIRY: &str = "2026-12-04 19:47:41 1xZZFt-00081O-0x <= s22@ok.test H=(client.harness.test) [127.0.0.1]:35844 I=[127.0.0.1]:26040 P=esmtp S=496 id=case22@harness.test T=\"case 22: 452 until the retry rule times out\" from <s22@ok.test> for rcpt22@expire.test
2026-12-04 19:47:41 1xZZFt-00081O-0x == rcpt22@expire.test R=static_route T=remote_smtp defer (-44) H=127.0.0.46 [127.0.0.46]:26046 I=[127.0.0.1]:40018 DT=0s: SMTP error from remote mail server after RCPT TO:<rcpt22@expire.test>: 452 4.2.2 Mailbox full
2026-12-04 19:47:43 1xZZFt-00081O-0x == rcpt22@expire.test routing defer (-52) DT=0s: retry time not reached
2026-12-04 19:48:03 1xZZFt-00081O-0x == rcpt22@expire.test R=static_route T=remote_smtp defer (-44) H=127.0.0.46 [127.0.0.46]:26046 I=[127.0.0.1]:60034 DT=0s: SMTP error from remote mail server after RCPT TO:<rcpt22@expire.test>: 452 4.2.2 Mailbox full
2026-12-04 19:48:03 1xZZFt-00081O-0x ** rcpt22@expire.test: retry timeout exceeded
2026-12-04 19:48:04 1xZZFt-00081O-0x Completed QT=22s
";

/// A queue run's `retry time not reached` tries nothing: it is no attempt and leaves the reply
/// and relay of the server that deferred the recipient (the harness's cases 25-29 and 47 were
/// exported with neither once).
#[test]
fn retry_time_not_reached_is_no_attempt() {
    let text: String = EXPIRY.lines().take(3).map(|l| format!("{l}\n")).collect();
    let text = text
        + "2026-12-04 19:47:44 1xZZFt-00081O-0x == rcpt22@expire.test R=static_route T=remote_smtp defer (-54) DT=0s: retry time not reached for any host for 'expire.test'\n";
    let (out, _) = run(&text);
    let m = by_id(&out, "1xZZFt-00081O-0x")[0];
    assert!(m.open);
    assert_eq!(m.status, Status::Deferred);
    let r = &m.recipients[0];
    assert_eq!(r.status, Status::Deferred);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.dsn.as_deref(), Some("4.2.2"));
    assert_eq!(r.smtp_code, Some(452));
    assert_eq!(r.relay.as_deref(), Some("127.0.0.46[127.0.0.46]:26046"));
    let kinds: Vec<&str> = m.events.iter().map(|e| e.kind.as_ref()).collect();
    assert_eq!(kinds, ["queued", "deferred", "deferred", "deferred"]);
}

/// `** rcpt: retry timeout exceeded` ends the retrying: the recipient expired (not bounced),
/// with the reply and relay of its last attempt, as Postfix's `status=expired`.
#[test]
fn retry_timeout_expires_with_the_last_reply() {
    let (out, _) = run(EXPIRY);
    let m = by_id(&out, "1xZZFt-00081O-0x")[0];
    assert!(!m.open);
    assert_eq!(m.status, Status::Expired);
    assert_eq!(
        m.subject.as_deref(),
        Some("case 22: 452 until the retry rule times out")
    );
    let r = &m.recipients[0];
    assert_eq!(r.status, Status::Expired);
    let tried: Vec<AttemptStatus> = r.attempts.iter().map(|a| a.status).collect();
    assert_eq!(tried, [AttemptStatus::Deferred, AttemptStatus::Deferred]);
    assert_eq!(r.dsn.as_deref(), Some("4.2.2"));
    assert_eq!(r.relay.as_deref(), Some("127.0.0.46[127.0.0.46]:26046"));
    assert!(r
        .response
        .as_deref()
        .unwrap()
        .ends_with("452 4.2.2 Mailbox full"));

    // Tried once more and gave up on the same line: that try is the last attempt, expired.
    let (out, _) = run("1999-03-02 09:44:33 10HmaX-000000005vi-0000 <= a@test.ex U=CALLER P=local S=10\n\
1999-03-02 09:44:34 10HmaX-000000005vi-0000 ** userx@domain1 R=r1 T=t1 H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:<userx@domain1>: 450 4.2.0 NOT RIGHT NOW: retry timeout exceeded\n\
1999-03-02 09:44:34 10HmaX-000000005vi-0000 Completed\n");
    let r = &by_id(&out, "10HmaX-000000005vi-0000")[0].recipients[0];
    assert_eq!(r.status, Status::Expired);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].status, AttemptStatus::Expired);
    assert_eq!((r.smtp_code, r.dsn.as_deref()), (Some(450), Some("4.2.0")));
}

/// `rejected MAIL FROM:<sender> H=...: message too big` (a `SIZE=` over the limit) is a
/// rejection of that sender from that client (the harness's case 38 had no sender once).
#[test]
fn size_refused_at_mail_keeps_sender_and_client() {
    let (out, _) = run("2026-12-04 19:47:47 rejected MAIL FROM:<s38@ok.test> H=(client.harness.test) [127.0.0.1]:50612 I=[127.0.0.1]:26040: message too big: size=30481 max=20480\n");
    let m = &out.messages[0];
    assert_eq!(m.status, Status::Rejected);
    assert_eq!(m.sender.as_deref(), Some("s38@ok.test"));
    assert_eq!(m.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(m.helo.as_deref(), Some("client.harness.test"));
    assert_eq!(
        m.reason.as_deref(),
        Some("message too big: size=30481 max=20480")
    );
    assert!(m.recipients.is_empty());
}

/// The subject is decoded from Exim's octal escapes (the harness's case 11).
#[test]
fn subject_is_decoded() {
    let (out, _) = run("2026-12-04 19:47:36 1xZZFo-00080X-2G <= s11@ok.test H=(client.harness.test) [127.0.0.1]:35756 I=[127.0.0.1]:26040 P=esmtp S=495 id=case11@harness.test T=\"case 11: Gr\\303\\274\\303\\237e aus K\\303\\266ln\" from <s11@ok.test> for rcpt11@ok.test\n");
    let m = by_id(&out, "1xZZFo-00080X-2G")[0];
    assert_eq!(m.subject.as_deref(), Some("case 11: Grüße aus Köln"));
}
