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
    assert_eq!(client.map(|c| c.addr), Some("1.2.3.4"));
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

mod kinds;

use kinds::peer;

/// What [`Record::client`], [`Record::server`], [`Record::stage`] and [`Record::reply`] take
/// out of real lines: `(program, line, client, server, stage, reply text)`.
type AccessorRow = (
    &'static str,
    &'static str,
    Option<Peer<'static>>,
    Option<Peer<'static>>,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn accessors_take_lines_apart() {
    let rows: &[AccessorRow] = &[
        (
            "postfix/smtpd",
            "improper command pipelining after EHLO from unknown[2001:968:9999:20:415c:cd2:da8e:d0cf]: MAIL FROM:<>\nRCPT TO:<tom@example.net>\n",
            Some(peer("unknown", "2001:968:9999:20:415c:cd2:da8e:d0cf", None)),
            None,
            Some("EHLO"),
            None,
        ),
        (
            "postfix/smtpd",
            "bare <LF> received after CONNECT from example.net[1.2.3.4]",
            Some(peer("example.net", "1.2.3.4", None)),
            None,
            Some("CONNECT"),
            None,
        ),
        (
            "postfix/smtpd",
            "warning: Connection rate limit exceeded: 31 from spamhost.domain.org[192.0.2.123] for service smtpd",
            Some(peer("spamhost.domain.org", "192.0.2.123", None)),
            None,
            None,
            None,
        ),
        (
            "postfix/smtpd",
            "warning: hostname bad.example.com does not resolve to address 192.0.2.44: Name or service not known",
            Some(peer("bad.example.com", "192.0.2.44", None)),
            None,
            None,
            None,
        ),
        (
            "postfix/smtpd",
            "proxy-accept: END-OF-MESSAGE: 250 2.0.0 from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok: queued as DF66E940333; from=<user1@test.example.com> to=<user2@example2.com> proto=ESMTP helo=<[127.0.0.1]>",
            None,
            None,
            Some("END-OF-MESSAGE"),
            Some("250 2.0.0 from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok: queued as DF66E940333"),
        ),
        (
            "postfix/anvil",
            "statistics: max connection rate 1/2h for (127.0.0.1:2525:127.0.0.1) at Oct 26 18:13:50",
            Some(peer("", "127.0.0.1", None)),
            None,
            None,
            None,
        ),
        (
            "postfix/postscreen",
            "CONNECT from [61.238.241.86]:53024 to [89.105.204.244]:25",
            Some(peer("", "61.238.241.86", Some("53024"))),
            Some(peer("", "89.105.204.244", Some("25"))),
            None,
            None,
        ),
        (
            "postfix/postscreen",
            "NON-SMTP COMMAND from [93.174.93.51]:45284 after CONNECT: GET http://ipv4scan.com/hello/check.txt HTTP/1.1",
            Some(peer("", "93.174.93.51", Some("45284"))),
            None,
            Some("CONNECT"),
            None,
        ),
        (
            "postfix/postscreen",
            "COMMAND PIPELINING from [88.208.233.4]:42606 after .: \n",
            Some(peer("", "88.208.233.4", Some("42606"))),
            None,
            Some("."),
            None,
        ),
        (
            "postfix/smtp",
            "ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 <user@example.com>: Recipient address rejected: Greylisted for 5 minutes (in reply to RCPT TO command)",
            None,
            Some(peer("mail2.example.com", "1.74.253.23", None)),
            Some("RCPT TO"),
            Some("450 4.7.1 <user@example.com>: Recipient address rejected: Greylisted for 5 minutes"),
        ),
        (
            "postfix/smtp",
            "B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for example.com[93.184.216.34]:25",
            None,
            Some(peer("example.com", "93.184.216.34", Some("25"))),
            None,
            None,
        ),
        (
            "postfix/smtp",
            "78D6B41: conversation with mx00.gmx.com[74.208.5.4] timed out while receiving the initial server greeting",
            None,
            Some(peer("mx00.gmx.com", "74.208.5.4", None)),
            None,
            None,
        ),
        (
            "postfix/smtp",
            "SSL_connect error to mail.example.org[112.63.65.2]:25: -1",
            None,
            Some(peer("mail.example.org", "112.63.65.2", Some("25"))),
            None,
            None,
        ),
        (
            "postfix/smtp",
            "4E74613FE76: to=<redacted@gmail.com>, relay=gmail-smtp-in.l.google.com[2607:f8b0:400e:c04::1b]:25, delay=1.9, delays=0.05/0/1.1/0.71, dsn=5.7.1, status=bounced (host gmail-smtp-in.l.google.com[2607:f8b0:400e:c04::1b] said: 550-5.7.1 [2607:4100:3:25:100::2      12] Our system has detected that this 550-5.7.1 message is likely unsolicited mail. (in reply to end of DATA command))",
            None,
            Some(peer("gmail-smtp-in.l.google.com", "2607:f8b0:400e:c04::1b", Some("25"))),
            Some("end of DATA"),
            Some("550-5.7.1 [2607:4100:3:25:100::2      12] Our system has detected that this 550-5.7.1 message is likely unsolicited mail."),
        ),
        (
            "postfix/error",
            "2DC5552A34: to=<user@yahoo.com>, relay=none, delay=63495, delays=63350/144/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)",
            None,
            Some(peer("mta7.am0.yahoodns.net", "98.136.216.22", None)),
            None,
            None,
        ),
    ];
    let mut failures = String::new();
    for (program, line, client, server, stage, reply) in rows {
        let Some(rec) = parse(program, line) else {
            failures.push_str(&format!("\nnot Postfix: {program}"));
            continue;
        };
        let got = (
            rec.client(),
            rec.server(),
            rec.stage(),
            rec.reply().map(|r| r.text),
        );
        if got != (*client, *server, *stage, *reply) {
            failures.push_str(&format!(
                "\n{program} {line}\n  want {:?}\n  got  {got:?}\n",
                (client, server, stage, reply)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn anvil_keys_with_ipv6_and_bound_services() {
    for (line, addr) in [
        (
            "statistics: max connection count 1 for (smtpd:2604:8d00:0:1::3) at Oct 26 17:46:59",
            "2604:8d00:0:1::3",
        ),
        (
            "statistics: max connection rate 1/7d for (smtp:unknown) at Sep 7 07:14:19",
            "unknown",
        ),
        (
            "statistics: max connection count 1 for (127.0.0.1:2525:127.0.0.1) at Oct 26 19:46:00",
            "127.0.0.1",
        ),
        ("statistics: max cache size 1 at Oct 26 18:13:50", ""),
    ] {
        let rec = rec("postfix/anvil", line);
        assert_eq!(
            rec.client().map(|c| c.addr).unwrap_or_default(),
            addr,
            "{line}"
        );
    }
}

#[test]
fn queue_ids_short_long_and_not() {
    for (text, id) in [
        ("0F5383D: removed", Some("0F5383D")),
        (
            "ED06590130AA1C9D6D862: removed",
            Some("ED06590130AA1C9D6D862"),
        ),
        ("48rT2v1hQrz1J0N: removed", Some("48rT2v1hQrz1J0N")),
        ("44JCRG5tYPzCqt2: removed", Some("44JCRG5tYPzCqt2")),
        ("NOQUEUE: removed", None),
        ("Deleted: 1 message", None),
        ("Requeued: 1 message", None),
        ("statistics: start interval Dec  6 21:20:35", None),
        ("warning: removed", None),
        ("CAFE: removed", None),
    ] {
        assert_eq!(rec("postfix/qmgr", text).queue_id, id, "{text}");
    }
}
