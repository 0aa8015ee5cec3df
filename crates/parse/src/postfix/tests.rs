use super::*;

fn rec(program: &'static str, text: &'static str) -> Record<'static> {
    parse(program, text).unwrap_or_else(|| panic!("not postfix: {program}"))
}

#[test]
fn delivery_lines() {
    let r = rec(
        "postfix/smtp",
        "7EE668039: to=<admin@example.com>, orig_to=<a@b>, relay=127.0.0.1[127.0.0.1]:2525, delay=3.6, delays=0.2/0.02/0.04/3.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 153053D)",
    );
    assert_eq!(r.queue_id, Some("7EE668039"));
    let Kind::Delivery(d) = r.kind else {
        panic!("{:?}", r.kind)
    };
    assert_eq!(d.to, "admin@example.com");
    assert_eq!(d.orig_to, Some("a@b"));
    assert_eq!(d.relay, Some("127.0.0.1[127.0.0.1]:2525"));
    assert_eq!(d.delay, Some(3.6));
    assert_eq!(d.delays, Some([0.2, 0.02, 0.04, 3.3]));
    assert_eq!(d.dsn, Some("2.0.0"));
    assert_eq!(d.status, AttemptStatus::Sent);
    assert_eq!(d.response, "250 2.0.0 Ok: queued as 153053D");
    assert_eq!(d.smtp_code, Some(250));
    assert_eq!(d.queued_as, Some("153053D"));
}

#[test]
fn deferred_with_remote_reply() {
    let r = rec("postfix-out/smtp", "A0E85200BD: to=<w@lists.example.org>, relay=open.example.nl[10.49.140.10]:25, delay=2.3, delays=0.25/0.05/2/0.04, dsn=4.2.0, status=deferred (host open.example.nl[10.49.140.10] said: 450 4.2.0 <w@lists.example.org>: Recipient address rejected: Greylisted (in reply to RCPT TO command))");
    assert_eq!(r.instance, "postfix-out");
    let Kind::Delivery(d) = r.kind else { panic!() };
    assert_eq!(d.status, AttemptStatus::Deferred);
    assert_eq!(d.smtp_code, Some(450));
    assert_eq!(d.queued_as, None);
}

#[test]
fn noqueue_reject() {
    let r = rec("postfix/smtpd", "NOQUEUE: reject: RCPT from 1-2-3-4-example.com[1.2.3.4]: 554 5.7.1 <smtp@example.com>: Relay access denied; from=<john@example.com> to=<smtp@example.org> proto=SMTP helo=<198.51.100.17>");
    assert_eq!(r.queue_id, None);
    let Kind::Reject {
        action,
        stage,
        client,
        reply,
        envelope,
    } = r.kind
    else {
        panic!()
    };
    assert_eq!((action, stage), ("reject", "RCPT"));
    assert_eq!(client.unwrap().addr, "1.2.3.4");
    assert_eq!(reply.code, Some(554));
    assert_eq!(reply.dsn, Some("5.7.1"));
    assert_eq!(envelope.from, Some("john@example.com"));
    assert_eq!(envelope.to, Some("smtp@example.org"));
    assert_eq!(envelope.helo, Some("198.51.100.17"));
}

#[test]
fn header_check_subject_with_tricky_text() {
    let r = rec("postfix/cleanup", "D95341E50350: info: header Subject: hi from me; from=<x> from localhost[127.0.0.1]; from=<from@example.com> to=<to@example.com> proto=ESMTP helo=<localhost>");
    let Kind::Check {
        action,
        part,
        text,
        client,
        envelope,
        reply,
    } = r.kind
    else {
        panic!("{:?}", r.kind)
    };
    assert_eq!((action, part), ("info", "header"));
    assert_eq!(text, "Subject: hi from me; from=<x>");
    assert_eq!(client, "localhost[127.0.0.1]");
    assert_eq!(envelope.to, Some("to@example.com"));
    assert_eq!(reply, None);
}

#[test]
fn qmgr_lines() {
    let r = rec(
        "postfix/qmgr",
        "0F5383D: from=<owner@postfix.org>, size=5360, nrcpt=1 (queue active)",
    );
    assert_eq!(
        r.kind,
        Kind::Queued {
            from: "owner@postfix.org",
            size: Some(5360),
            nrcpt: Some(1)
        }
    );
    let r = rec(
        "postfix/qmgr",
        "585BC3F: from=<>, status=expired, returned to sender",
    );
    assert_eq!(r.kind, Kind::Expired { from: "" });
}

#[test]
fn words_are_not_queue_ids() {
    let r = rec(
        "postfix/smtpd",
        "warning: hostname x does not resolve to address 1.2.3.4",
    );
    assert_eq!(r.queue_id, None);
    assert!(matches!(
        r.kind,
        Kind::Diagnostic {
            level: "warning",
            ..
        }
    ));
    let r = rec(
        "postfix/smtpd",
        "warning: unknown[1.2.3.4]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    );
    assert!(
        matches!(
            r.kind,
            Kind::SaslFailed {
                method: "LOGIN",
                ..
            }
        ),
        "{:?}",
        r.kind
    );
    assert!(parse("dovecot", "imap-login: x").is_none());
}
