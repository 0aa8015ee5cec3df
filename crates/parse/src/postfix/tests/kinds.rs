//! One real line per kind of record, with everything the parser must find in it.

use super::*;

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

pub(super) fn peer(
    host: &'static str,
    addr: &'static str,
    port: Option<&'static str>,
) -> Peer<'static> {
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
