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

// ---------------------------------------------------------------------------------------------
// Tables over real lines (from `shared/corpora/`: postfix-grok-patterns, fail2ban, youyo).
// ---------------------------------------------------------------------------------------------

/// One line and the record it must give.
struct Row {
    program: &'static str,
    line: &'static str,
    queue_id: Option<&'static str>,
    kind: Kind<'static>,
}

fn row(
    program: &'static str,
    line: &'static str,
    queue_id: Option<&'static str>,
    kind: Kind<'static>,
) -> Row {
    Row {
        program,
        line,
        queue_id,
        kind,
    }
}

fn peer(host: &'static str, addr: &'static str, port: Option<&'static str>) -> Peer<'static> {
    Peer { host, addr, port }
}

/// Check every row; report all the rows that disagree, with their line.
fn check_rows(rows: &[Row]) {
    let mut failures = String::new();
    for r in rows {
        match parse(r.program, r.line) {
            Some(rec) if rec.queue_id == r.queue_id && rec.kind == r.kind => {}
            got => {
                failures.push_str(&format!(
                    "\n{} {}\n  want {:?} {:?}\n  got  {:?}\n",
                    r.program,
                    r.line,
                    r.queue_id,
                    r.kind,
                    got.map(|g| (g.queue_id, g.kind))
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// One representative real line per kind.
#[test]
fn one_row_per_kind() {
    let env = |from, to, proto, helo| Envelope {
        from,
        to,
        proto,
        helo,
    };
    check_rows(&[
        row(
            "postfix/smtpd",
            "connect from 061238241086.static.ctinets.com[61.238.241.86]",
            None,
            Kind::Connect {
                client: peer("061238241086.static.ctinets.com", "61.238.241.86", None),
            },
        ),
        row(
            "postfix/smtpd",
            "disconnect from unknown[unknown] commands=0/0",
            None,
            Kind::Disconnect {
                client: peer("unknown", "unknown", None),
                commands: Some("commands=0/0"),
            },
        ),
        row(
            "postfix/smtpd",
            "lost connection after DATA (7774180 bytes) from unknown[72.13.58.7]",
            None,
            Kind::LostConnection {
                what: "lost connection",
                stage: "DATA",
                client: peer("unknown", "72.13.58.7", None),
            },
        ),
        // fail2ban: `NOQUEUE:` before a session line.
        row(
            "postfix/smtpd",
            "NOQUEUE: lost connection after CONNECT from unknown[192.0.2.25]",
            None,
            Kind::LostConnection {
                what: "lost connection",
                stage: "CONNECT",
                client: peer("unknown", "192.0.2.25", None),
            },
        ),
        row(
            "postfix/smtpd",
            "4104E3D: client=061238241086.static.ctinets.com[61.238.241.86]",
            Some("4104E3D"),
            Kind::Client {
                client: peer("061238241086.static.ctinets.com", "61.238.241.86", None),
                sasl_method: None,
                sasl_username: None,
                orig_queue_id: None,
            },
        ),
        row(
            "postfix/smtpd",
            "NOQUEUE: reject: VRFY from unknown[2001:968:9999:20:88b:9b7d:2a54:2bd2]: 454 4.7.1 <aap@henk.com>: Relay access denied; to=<aap@henk.com> proto=SMTP helo=<me>",
            None,
            Kind::Reject {
                action: "reject",
                stage: "VRFY",
                client: Some(peer("unknown", "2001:968:9999:20:88b:9b7d:2a54:2bd2", None)),
                reply: Reply {
                    code: Some(454),
                    dsn: Some("4.7.1"),
                    text: "454 4.7.1 <aap@henk.com>: Relay access denied",
                },
                envelope: env(None, Some("aap@henk.com"), Some("SMTP"), Some("me")),
            },
        ),
        // postscreen: `[addr]:port` client and a `, `-separated trailer.
        row(
            "postfix/postscreen",
            "NOQUEUE: reject: RCPT from [182.98.255.184]:2413: 550 5.5.1 Protocol error; from=<lvtowxfdp@yahoo.com>, to=<tom@example.com>, proto=SMTP, helo=<mx32.usaindiamunish.net>",
            None,
            Kind::Reject {
                action: "reject",
                stage: "RCPT",
                client: Some(peer("", "182.98.255.184", Some("2413"))),
                reply: Reply {
                    code: Some(550),
                    dsn: Some("5.5.1"),
                    text: "550 5.5.1 Protocol error",
                },
                envelope: env(
                    Some("lvtowxfdp@yahoo.com"),
                    Some("tom@example.com"),
                    Some("SMTP"),
                    Some("mx32.usaindiamunish.net"),
                ),
            },
        ),
        // cleanup: a milter's reply has no SMTP code, only the enhanced status code.
        row(
            "postfix/cleanup",
            "4104E3D: milter-reject: END-OF-MESSAGE from 061238241086.static.ctinets.com[61.238.241.86]: 5.7.1 Blocked by SpamAssassin; from=<wumt5@cchfdc.com> to=<voorzitter@example.com> proto=ESMTP helo=<ecsolved.com>",
            Some("4104E3D"),
            Kind::Reject {
                action: "milter-reject",
                stage: "END-OF-MESSAGE",
                client: Some(peer("061238241086.static.ctinets.com", "61.238.241.86", None)),
                reply: Reply {
                    code: None,
                    dsn: Some("5.7.1"),
                    text: "5.7.1 Blocked by SpamAssassin",
                },
                envelope: env(
                    Some("wumt5@cchfdc.com"),
                    Some("voorzitter@example.com"),
                    Some("ESMTP"),
                    Some("ecsolved.com"),
                ),
            },
        ),
        row(
            "postfix/smtpd",
            "proxy-reject: END-OF-MESSAGE: ; from=<user1@test.example.com> to=<user2@example2.com> proto=ESMTP helo=<[192.168.0.16]>",
            None,
            Kind::Reject {
                action: "proxy-reject",
                stage: "END-OF-MESSAGE",
                client: None,
                reply: Reply::default(),
                envelope: env(
                    Some("user1@test.example.com"),
                    Some("user2@example2.com"),
                    Some("ESMTP"),
                    Some("[192.168.0.16]"),
                ),
            },
        ),
        row(
            "postfix/cleanup",
            "48rT2v1hQrz1J0N: prepend: header X-Spam-Status: Yes, score=45.1 required=10.0 tests=ADVANCE_FE from mx2.example.org[192.0.2.41]; from=<SRS0=1sN3=5P=example.org=noreply@srs.example.org> to=<recipient@example.net> proto=ESMTP helo=<mx2.example.org>: X-Spam-Status: Yes",
            Some("48rT2v1hQrz1J0N"),
            Kind::Check {
                action: "prepend",
                part: "header",
                text: "X-Spam-Status: Yes, score=45.1 required=10.0 tests=ADVANCE_FE",
                client: "mx2.example.org[192.0.2.41]",
                envelope: env(
                    Some("SRS0=1sN3=5P=example.org=noreply@srs.example.org"),
                    Some("recipient@example.net"),
                    Some("ESMTP"),
                    Some("mx2.example.org"),
                ),
                reply: Some(Reply {
                    code: None,
                    dsn: None,
                    text: "X-Spam-Status: Yes",
                }),
            },
        ),
        // fail2ban: the client's port after the address.
        row(
            "postfix/smtpd",
            "warning: unknown[192.0.2.237]:55729: SASL LOGIN authentication failed: authentication failure",
            None,
            Kind::SaslFailed {
                client: peer("unknown", "192.0.2.237", Some("55729")),
                method: "LOGIN",
                reason: "authentication failure",
            },
        ),
        row(
            "postfix/smtp",
            "Verified TLS connection established to mail.sys4.de[2001:1578:400:111::7]:25: TLSv1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)",
            None,
            Kind::Tls {
                trust: "Verified",
                direction: "to",
                peer: peer("mail.sys4.de", "2001:1578:400:111::7", Some("25")),
                details: "TLSv1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)",
            },
        ),
        // The pregreet text as YAML decodes it (CR LF), and as syslog writes it (`\r\n`).
        row(
            "postfix/postscreen",
            "PREGREET 6 after 1.2 from [216.81.72.72]:43421: RSET\r\n",
            None,
            Kind::Postscreen {
                action: "PREGREET 6 after 1.2",
                client: Some(peer("", "216.81.72.72", Some("43421"))),
                detail: "RSET\r\n",
            },
        ),
        row(
            "postfix/postscreen",
            r"PREGREET 14 after 0.08 from [192.0.2.2]:59415: EHLO ylmf-pc\r\n",
            None,
            Kind::Postscreen {
                action: "PREGREET 14 after 0.08",
                client: Some(peer("", "192.0.2.2", Some("59415"))),
                detail: r"EHLO ylmf-pc\r\n",
            },
        ),
        row(
            "postfix/postscreen",
            "DNSBL rank 3 for [111.73.45.149]:1038",
            None,
            Kind::Postscreen {
                action: "DNSBL rank 3",
                client: Some(peer("", "111.73.45.149", Some("1038"))),
                detail: "",
            },
        ),
        row(
            "postfix/postscreen",
            "PASS NEW [2607:f8b0:4003:c01::23a]:36051",
            None,
            Kind::Postscreen {
                action: "PASS NEW",
                client: Some(peer("", "2607:f8b0:4003:c01::23a", Some("36051"))),
                detail: "",
            },
        ),
        row(
            "postfix/tlsproxy",
            "CONNECT from [82.118.17.142]:51637",
            None,
            Kind::Postscreen {
                action: "CONNECT",
                client: Some(peer("", "82.118.17.142", Some("51637"))),
                detail: "",
            },
        ),
        row(
            "postfix/dnsblog",
            "addr 2607:f8b0:4003:c01::23a listed by domain list.dnswl.org as 127.0.5.1",
            None,
            Kind::DnsblHit {
                addr: "2607:f8b0:4003:c01::23a",
                domain: "list.dnswl.org",
                result: "127.0.5.1",
            },
        ),
        row(
            "postfix/pickup",
            "D2FAE20586: uid=0 from=<fail2ban>",
            Some("D2FAE20586"),
            Kind::Pickup {
                uid: Some(0),
                from: "fail2ban",
            },
        ),
        row(
            "postfix/cleanup",
            "0F5383D: message-id=<544D2523.30609@rhsoft.net>",
            Some("0F5383D"),
            Kind::MessageId("<544D2523.30609@rhsoft.net>"),
        ),
        row(
            "postfix/qmgr",
            "C6E0DDB74006: from=<test@example.com>, size=309891, nrcpt=1 (queue active)",
            Some("C6E0DDB74006"),
            Kind::Queued {
                from: "test@example.com",
                size: Some(309891),
                nrcpt: Some(1),
            },
        ),
        row("postfix/qmgr", "0F5383D: removed", Some("0F5383D"), Kind::Removed),
        row(
            "postfix/qmgr",
            "66C15648577B: from=<uvnhbl@yahoo.com.tw>, status=expired, returned to sender",
            Some("66C15648577B"),
            Kind::Expired {
                from: "uvnhbl@yahoo.com.tw",
            },
        ),
        // A 21-digit short queue id (large inode number).
        row(
            "postfix/qmgr",
            "ED06590130AA1C9D6D862: skipped, still being delivered",
            Some("ED06590130AA1C9D6D862"),
            Kind::Skipped,
        ),
        row(
            "postfix/error",
            "3E29030F8637E: to=<user@yahoo.com>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=5.1.1, status=undeliverable-but-not-cached (User unknown in virtual alias table)",
            Some("3E29030F8637E"),
            Kind::Delivery(Delivery {
                to: "user@yahoo.com",
                relay: Some("none"),
                delay: Some(0.01),
                delays: Some([0.01, 0.0, 0.0, 0.0]),
                dsn: Some("5.1.1"),
                status: AttemptStatus::Undeliverable,
                response: "User unknown in virtual alias table",
                ..Delivery::default()
            }),
        ),
        row(
            "postfix/local",
            r#"2A22C263F6: to=user@hostname.example.com, orig_to=root@localhost, relay=local, delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to command: procmail -a "$EXTENSION")"#,
            Some("2A22C263F6"),
            Kind::Delivery(Delivery {
                to: "user@hostname.example.com",
                orig_to: Some("root@localhost"),
                relay: Some("local"),
                delay: Some(0.07),
                delays: Some([0.04, 0.0, 0.0, 0.03]),
                dsn: Some("2.0.0"),
                status: AttemptStatus::Sent,
                response: r#"delivered to command: procmail -a "$EXTENSION""#,
                ..Delivery::default()
            }),
        ),
        row(
            "postfix/smtp",
            "7EE668039: to=<user@example.com>, relay=mail.example.com[1.2.3.4]:25, delay=3.6, delays=0.08/0.02/0.85/0.14, tls=dane/!requiretls:nocertmatch, dsn=2.1.5, status=sent (250 2.0.0 Ok: queued as 153053D)",
            Some("7EE668039"),
            Kind::Delivery(Delivery {
                to: "user@example.com",
                relay: Some("mail.example.com[1.2.3.4]:25"),
                delay: Some(3.6),
                delays: Some([0.08, 0.02, 0.85, 0.14]),
                dsn: Some("2.1.5"),
                status: AttemptStatus::Sent,
                response: "250 2.0.0 Ok: queued as 153053D",
                smtp_code: Some(250),
                queued_as: Some("153053D"),
                tls: Some("dane/!requiretls:nocertmatch"),
                ..Delivery::default()
            }),
        ),
        row(
            "postfix/smtp",
            "D0F29603B4: SASL authentication failed; server xyz.example.com[1.2.3.4] said: 535 5.7.8 Error: authentication failed: authentication failure",
            Some("D0F29603B4"),
            Kind::DeliveryNote {
                text: "SASL authentication failed; server xyz.example.com[1.2.3.4] said: 535 5.7.8 Error: authentication failed: authentication failure",
                smtp_code: Some(535),
            },
        ),
        row(
            "postfix/smtp",
            "40197AA: host mg2.egov.bg[213.91.191.86] refused to talk to me: 450 4.3.2 try again later",
            Some("40197AA"),
            Kind::DeliveryNote {
                text: "host mg2.egov.bg[213.91.191.86] refused to talk to me: 450 4.3.2 try again later",
                smtp_code: Some(450),
            },
        ),
        row(
            "postfix/smtp",
            "connect to aspmx.l.google.com[2a00:1450:400b:c02::1a]:25: Network is unreachable",
            None,
            Kind::ConnectFailure {
                target: "aspmx.l.google.com[2a00:1450:400b:c02::1a]:25",
                reason: "Network is unreachable",
            },
        ),
        row(
            "postfix/bounce",
            "482E4404AC8: postmaster non-delivery notification: 47335405A44",
            Some("482E4404AC8"),
            Kind::Notification {
                what: "postmaster non-delivery",
                child: "47335405A44",
            },
        ),
        row(
            "postfix/postsuper",
            "D4F2023DB: placed on hold",
            Some("D4F2023DB"),
            Kind::Postsuper(PostsuperAction::Held),
        ),
        // The queue id after the level belongs to the record.
        row(
            "postfix/cleanup",
            "warning: 9BECF3F19D: sender_canonical_maps map lookup problem for sender@example.com -- message not accepted, try again later",
            Some("9BECF3F19D"),
            Kind::Diagnostic {
                level: "warning",
                text: "sender_canonical_maps map lookup problem for sender@example.com -- message not accepted, try again later",
            },
        ),
        row(
            "postfix/anvil",
            "statistics: max connection count 1 for (smtpd:2604:8d00:0:1::3) at Oct 26 17:46:59",
            None,
            Kind::Statistics(
                "statistics: max connection count 1 for (smtpd:2604:8d00:0:1::3) at Oct 26 17:46:59",
            ),
        ),
        row(
            "postfix/verify",
            "cache lmdb:/var/lib/postfix/verify_cache full cleanup: retained=724 dropped=6 entries",
            None,
            Kind::Statistics(
                "cache lmdb:/var/lib/postfix/verify_cache full cleanup: retained=724 dropped=6 entries",
            ),
        ),
        row(
            "postfix/master",
            "daemon started -- version 2.11.0, configuration /etc/postfix",
            None,
            Kind::Lifecycle("daemon started -- version 2.11.0, configuration /etc/postfix"),
        ),
        row(
            "postfix/smtpd",
            "improper command pipelining after DATA from unknown[181.21.131.88]:",
            None,
            Kind::Note("improper command pipelining after DATA from unknown[181.21.131.88]:"),
        ),
        row(
            "postfix/postsuper",
            "Placed on hold: 67 messages",
            None,
            Kind::Note("Placed on hold: 67 messages"),
        ),
        row(
            "postfix/smtpd",
            "DF66E940333: proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as 4ABC9; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<[127.0.0.1]>",
            Some("DF66E940333"),
            Kind::QueueNote(
                "proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as 4ABC9; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<[127.0.0.1]>",
            ),
        ),
        row(
            "postfix/smtpd",
            "something no Postfix writes",
            None,
            Kind::Unrecognized("something no Postfix writes"),
        ),
    ]);
}

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
