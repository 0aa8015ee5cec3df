//! Lines from Exim's own test suite (`../shared/corpora/exim/log`) and from fail2ban's Exim
//! samples, as Exim wrote them (after the envelope).

use super::*;

#[test]
fn message_ids_of_both_forms() {
    for id in [
        "10HmaX-0005vi-00",
        "1abcDE-000123-AB",
        "10HmaX-000000005vi-0000",
        "1abcDE-000000001Ab-0000",
    ] {
        assert!(is_message_id(id), "{id}");
    }
    for not in [
        "10HmaX-0005vi",
        "H=(test)",
        "10HmaX-0005vi-00-00",
        "10Hma!-0005vi-00",
        "Completed",
    ] {
        assert!(!is_message_id(not), "{not}");
    }
}

#[test]
fn arrivals() {
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<u64>,
    );
    let cases: &[Case] = &[
        // (text, sender, host name, helo, addr, size)
        ("10HmaX-000000005vi-0000 <= someone@some.domain U=CALLER P=local-smtp S=sss", "someone@some.domain", None, None, None, None),
        ("10HmbB-000000005vi-0000 <= x@y H=(test) [127.0.0.1] P=smtp S=sss", "x@y", Some(""), Some("test"), Some("127.0.0.1"), None),
        ("1QexIu-0006dj-PX <= a@b.example H=mail.example (helo.example) [192.0.2.7]:4711 I=[192.0.2.1]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=plain:alice S=1234 id=abc@b.example T=\"Hello \\\"you\\\" there\"", "a@b.example", Some("mail.example"), Some("helo.example"), Some("192.0.2.7"), Some(1234)),
        ("10HmaY-000000005vi-0000 <= <> R=10HmaX-000000005vi-0000 U=EXIMUSER P=local S=sss", "", None, None, None, None),
    ];
    for (text, sender, name, helo, addr, size) in cases {
        let r = parse(text);
        assert!(r.id.is_some(), "{text}");
        let Kind::Arrival(a) = r.kind else {
            panic!("{text}: {:?}", r.kind)
        };
        assert_eq!(a.sender, *sender, "{text}");
        assert_eq!(a.host.map(|h| h.name), *name, "{text}");
        assert_eq!(a.host.and_then(|h| h.helo), *helo, "{text}");
        assert_eq!(a.host.and_then(|h| h.addr), *addr, "{text}");
        assert_eq!(a.size, *size, "{text}");
    }
    let Kind::Arrival(a) = parse(cases[2].0).kind else {
        panic!()
    };
    assert_eq!(a.host.unwrap().port, Some("4711"));
    assert_eq!(a.interface, Some("[192.0.2.1]:25"));
    assert_eq!(a.proto, Some("esmtps"));
    assert_eq!(a.auth, Some("plain:alice"));
    assert_eq!(a.tls, Some("TLS1.3:TLS_AES_256_GCM_SHA384:256"));
    assert_eq!(a.message_id, Some("abc@b.example"));
    assert_eq!(a.subject.as_deref(), Some("Hello \"you\" there"));
    let Kind::Arrival(a) = parse(cases[3].0).kind else {
        panic!()
    };
    assert_eq!(a.bounce_of, Some("10HmaX-000000005vi-0000"));
    assert_eq!(a.user, Some("EXIMUSER"));
}

#[test]
fn deliveries_deferrals_and_failures() {
    // (text, outcome, address, original, router, transport, host name, addr, error)
    type Case<'a> = (
        &'a str,
        Outcome,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let cases: &[Case] = &[
        ("10HmaX-000000005vi-0000 => CALLER <CALLER@the.local.host.name> R=localuser T=local_delivery", Outcome::Delivered, "CALLER", Some("CALLER@the.local.host.name"), Some("localuser"), Some("local_delivery"), None, None, None),
        ("10HmaY-000000005vi-0000 => userx@test.ex <Userx-S@Test.Ex> R=localuser_ss T=delivery_s H=127.0.0.1 [127.0.0.1] C=\"250 OK\"", Outcome::Delivered, "userx@test.ex", Some("Userx-S@Test.Ex"), Some("localuser_ss"), Some("delivery_s"), Some("127.0.0.1"), Some("127.0.0.1"), None),
        ("10HmbN-000000005vi-0000 -> ok2 <ok2@test.ex> R=r0 T=t2", Outcome::Additional, "ok2", Some("ok2@test.ex"), Some("r0"), Some("t2"), None, None, None),
        ("10HmaY-000000005vi-0000 *> accept <accept@y> R=accept T=appendfile", Outcome::Suppressed, "accept", Some("accept@y"), Some("accept"), Some("appendfile"), None, None, None),
        ("10HmaY-000000005vi-0000 == CALLER@two.test.ex defer (-23): domain is held", Outcome::Deferred, "CALLER@two.test.ex", None, None, None, None, None, Some("domain is held")),
        ("10HmaZ-000000005vi-0000 == xxx@local.test.ex routing defer (-56): domain is in queue_domains", Outcome::Deferred, "xxx@local.test.ex", None, None, None, None, None, Some("domain is in queue_domains")),
        ("1abcDE-000000001Ab-0000 == a@tempfail.test R=smarthost T=remote_smtp defer (-44) H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:<a@tempfail.test>: 450 4.2.0 Try again", Outcome::Deferred, "a@tempfail.test", None, Some("smarthost"), Some("remote_smtp"), Some("127.0.0.1"), Some("127.0.0.1"), Some("SMTP error from remote mail server after RCPT TO:<a@tempfail.test>: 450 4.2.0 Try again")),
        ("10HmaX-000000005vi-0000 ** userx@mxt1.test.ex R=others : lowest numbered MX record points to local host", Outcome::Failed, "userx@mxt1.test.ex", None, Some("others"), None, None, None, Some("lowest numbered MX record points to local host")),
        ("10HmaY-000000005vi-0000 ** userx@bad.ex : Unrouteable address", Outcome::Failed, "userx@bad.ex", None, None, None, None, None, Some("Unrouteable address")),
        ("1abcDE-000000001Ab-0000 ** b@reject.test R=smarthost T=remote_smtp H=127.0.0.1 [127.0.0.1]:26043 X=TLS1.3:x:256 CV=no: SMTP error from remote mail server after RCPT TO:<b@reject.test>: 550 5.1.1 No such user", Outcome::Failed, "b@reject.test", None, Some("smarthost"), Some("remote_smtp"), Some("127.0.0.1"), Some("127.0.0.1"), Some("SMTP error from remote mail server after RCPT TO:<b@reject.test>: 550 5.1.1 No such user")),
        ("1abcDE-000000001Ab-0000 ** c@x.test: Unrouteable address", Outcome::Failed, "c@x.test", None, None, None, None, None, Some("Unrouteable address")),
    ];
    for (text, outcome, address, original, router, transport, name, addr, error) in cases {
        let Kind::Delivery(d) = parse(text).kind else {
            panic!("{text}")
        };
        assert_eq!(d.outcome, *outcome, "{text}");
        assert_eq!(d.address, *address, "{text}");
        assert_eq!(d.original, *original, "{text}");
        assert_eq!(d.router, *router, "{text}");
        assert_eq!(d.transport, *transport, "{text}");
        assert_eq!(d.host.map(|h| h.name), *name, "{text}");
        assert_eq!(d.host.and_then(|h| h.addr), *addr, "{text}");
        assert_eq!(d.error, *error, "{text}");
    }
    let Kind::Delivery(d) = parse(cases[1].0).kind else {
        panic!()
    };
    assert_eq!(d.confirmation, Some("250 OK"));
    let Kind::Delivery(d) = parse(cases[9].0).kind else {
        panic!()
    };
    assert_eq!(d.host.unwrap().port, Some("26043"));
    assert_eq!(d.tls, Some("TLS1.3:x:256"));
    let Kind::Delivery(d) = parse("1abcDE-000000001Ab-0000 => a@ok.test R=smarthost T=remote_smtp H=127.0.0.1 [127.0.0.1]:26041 C=\"250 2.0.0 Ok: queued as 4711\" QT=1m2s DT=0.25s").kind else { panic!() };
    assert_eq!((d.queue_time, d.delivery_time), (Some(62.0), Some(0.25)));
    assert_eq!(d.confirmation, Some("250 2.0.0 Ok: queued as 4711"));
}

/// Lines that try nothing (`not_tried`) and lines that end the retrying (`timed_out`).
#[test]
fn retry_waits_and_timeouts() {
    // (text, not_tried, timed_out)
    let cases: &[(&str, bool, bool)] = &[
        ("1xZZFv-00081e-1J == rcpt27c@tempfail.test routing defer (-52) DT=0s: retry time not reached", true, false),
        ("1xZZFv-00081m-2f == rcpt28@down.test R=static_route T=remote_smtp defer (-54) DT=0s: retry time not reached for any host for 'down.test'", true, false),
        ("10HmaX-000000005vi-0000 == userx@test.ex R=lookuphost T=smtp defer (-53): retry time not reached for any host", true, false),
        // A lookup failed now: that is news.
        ("10HmaX-000000005vi-0000 == x@test.ex R=my_main_router T=my_smtp defer (-54): some host address lookups failed and retry time not reached for other hosts or connection limit reached for 'test.ex'", false, false),
        ("1xZZFt-00081O-0x == rcpt22@expire.test R=static_route T=remote_smtp defer (-44) H=127.0.0.46 [127.0.0.46]:26046 I=[127.0.0.1]:53874 DT=0s: SMTP error from remote mail server after RCPT TO:<rcpt22@expire.test>: 452 4.2.2 Mailbox full", false, false),
        ("1xZZFu-00081V-0T == rcpt24@gone.test R=static_route T=remote_smtp defer (111): Connection refused DT=0s", false, false),
        ("1xZZFt-00081O-0x ** rcpt22@expire.test: retry timeout exceeded", false, true),
        ("10HmaX-000000005vi-0000 ** userx@domain1 R=r1 T=t1 H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:<userx@domain1>: 450 NOT RIGHT NOW: retry timeout exceeded", false, true),
        ("10HmaX-000000005vi-0000 ** userx@test.ex R=r1 T=t1 : all hosts for 'test.ex' have been failing for a long time (and retry time not reached)", false, true),
        ("1xZZFp-00080g-2u ** rcpt14@reject.test F=<s14@ok.test> P=<s14@ok.test> R=static_route T=remote_smtp H=127.0.0.43 [127.0.0.43]:26043 I=[127.0.0.1]:38834: SMTP error from remote mail server after RCPT TO:<rcpt14@reject.test>: 550 5.1.1 User unknown in virtual mailbox table DT=0s", false, false),
        ("1xZZFm-000809-0H => rcpt01@ok.test R=static_route T=remote_smtp H=127.0.0.41 [127.0.0.41]:26041 C=\"250 2.0.0 Ok\" QT=0s DT=0s", false, false),
    ];
    for (text, not_tried, timed_out) in cases {
        let Kind::Delivery(d) = parse(text).kind else {
            panic!("{text}")
        };
        assert_eq!(
            (d.not_tried(), d.timed_out()),
            (*not_tried, *timed_out),
            "{text}"
        );
    }
}

/// `T="..."` as Exim escapes it (`string_printing()` after quoting `"` and `\`) and the subject.
#[test]
fn subjects_are_unescaped() {
    let cases: &[(&str, &str)] = &[
        ("case 01: plain", "case 01: plain"),
        // The Exim harness, case 10 and 11 (an RFC 2047 `=?UTF-8?Q?...?=` header: Exim decodes
        // it, then logs the UTF-8 bytes in octal).
        (
            r#"case 10: tricky \"quoted\" \\back\\slash; from <x@y.test> for z@w.test T=\"fake\""#,
            r#"case 10: tricky "quoted" \back\slash; from <x@y.test> for z@w.test T="fake""#,
        ),
        (
            r"case 11: Gr\303\274\303\237e aus K\303\266ln",
            "case 11: Grüße aus Köln",
        ),
        (r"\342\202\254 5", "€ 5"),
        (r"tab\there\r\nnext", "tab\there\r\nnext"),
        (r"\b\v\f", "\u{8}\u{b}\u{c}"),
        // Not UTF-8 (`headers_charset = ISO-8859-1`): Latin-1, no byte lost.
        (r"K\366ln", "Köln"),
        // Octal digits stop after three: `\0601` is `0` then `1`.
        (r"\0601", "01"),
        ("", ""),
    ];
    for (logged, subject) in cases {
        assert_eq!(unescape(logged), *subject, "{logged}");
        let line = format!("1xZZFo-00080X-2G <= s@ok.test P=esmtp S=1 T=\"{logged}\" from <s@ok.test> for r@ok.test");
        let Kind::Arrival(a) = parse(&line).kind else {
            panic!("{line}")
        };
        assert_eq!(a.subject.as_deref(), Some(*subject), "{line}");
    }
    assert!(matches!(unescape("no escapes"), Cow::Borrowed(_)));
    // Not in a quoted value of a real line (Exim writes `\\`), but no panic either.
    assert_eq!(unescape(r"trailing \"), "trailing \\");
}

#[test]
fn rejections() {
    // (text, id?, stage, temporary, sender, recipient, client addr, reason)
    type Case<'a> = (
        &'a str,
        bool,
        &'a str,
        bool,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );
    let cases: &[Case] = &[
        ("H=(test) [10.0.0.2] U=CALLER F=<jules@box3.plc.example> rejected RCPT <userx@test.ex>: Sender verify failed", false, "RCPT", false, Some("jules@box3.plc.example"), Some("userx@test.ex"), Some("10.0.0.2"), "Sender verify failed"),
        ("U=CALLER F=<x@y> rejected RCPT <a@b>", false, "RCPT", false, Some("x@y"), Some("a@b"), None, ""),
        ("10HmaX-000000005vi-0000 H=(foobar) [127.0.0.1] F=<userx@test.ex> rejected after DATA: unqualified address not permitted", true, "after DATA", false, Some("userx@test.ex"), None, Some("127.0.0.1"), "unqualified address not permitted"),
        ("10HmaX-000000005vi-0000 U=CALLER F=<> temporarily rejected after DATA: cannot verify recipient in ACL for DATA", true, "after DATA", true, Some(""), None, None, "cannot verify recipient in ACL for DATA"),
        ("rejected HELO from CALLER: syntactically invalid argument(s): !@#$%^&*(", false, "HELO", false, None, None, None, "syntactically invalid argument(s): !@#$%^&*("),
        ("10HmaX-000000005vi-0000 rejected from <CALLER@myhost.test.ex> U=CALLER: message too big: read=225 max=100", true, "size", false, Some("CALLER@myhost.test.ex"), None, None, "message too big: read=225 max=100"),
        ("10HmaX-0005vi-00 F=test-local-scan@y H=(foobar) [127.0.0.1] P=esmtp rejected by local_scan(): rhubarb rhubarb", true, "local_scan()", false, Some("test-local-scan@y"), None, Some("127.0.0.1"), "rhubarb rhubarb"),
        // `SIZE=` over `message_size_limit`: refused before the MAIL ACL, the sender only in
        // the command (the Exim harness, case 38; the sender was lost once).
        ("rejected MAIL FROM:<s38@ok.test> H=(client.harness.test) [127.0.0.1]:50612 I=[127.0.0.1]:26040: message too big: size=30481 max=20480", false, "MAIL", false, Some("s38@ok.test"), None, Some("127.0.0.1"), "message too big: size=30481 max=20480"),
        ("rejected MAIL FROM:<userx@test.ex> U=CALLER: message too big: size>=2147483647 max=100", false, "MAIL", false, Some("userx@test.ex"), None, None, "message too big: size>=2147483647 max=100"),
        ("rejected MAIL FROM:<> H=[192.0.2.1]:4711: message too big: size=200 max=100", false, "MAIL", false, Some(""), None, Some("192.0.2.1"), "message too big: size=200 max=100"),
        ("H=(rhu.barb) [127.0.0.1]:10003 I=[127.0.0.1]:PORT_D rejected MAIL <deny@test.ex>", false, "MAIL", false, Some("deny@test.ex"), None, Some("127.0.0.1"), ""),
        ("U=CALLER temporarily rejected MAIL <r1@domain1>: Could not complete sender verify callout", false, "MAIL", true, Some("r1@domain1"), None, None, "Could not complete sender verify callout"),
        ("rejected MAIL command U=CALLER: too many messages in one connection", false, "MAIL", false, None, None, None, "too many messages in one connection"),
        // Over the limit without `SIZE=`, over SMTP: the client is after the sender (case 39).
        ("1xZZG0-00082L-1I rejected from <s39@ok.test> H=(client.harness.test) [127.0.0.1]:50626: message too big: read=30134 max=20480", true, "size", false, Some("s39@ok.test"), None, Some("127.0.0.1"), "message too big: read=30134 max=20480"),
    ];
    for (text, has_id, stage, temporary, sender, recipient, addr, reason) in cases {
        let r = parse(text);
        assert_eq!(r.id.is_some(), *has_id, "{text}");
        let Kind::Rejected(j) = r.kind else {
            panic!("{text}: {:?}", r.kind)
        };
        assert_eq!(j.stage, *stage, "{text}");
        assert_eq!(j.temporary, *temporary, "{text}");
        assert_eq!(j.sender, *sender, "{text}");
        assert_eq!(j.recipient, *recipient, "{text}");
        assert_eq!(j.host.and_then(|h| h.addr), *addr, "{text}");
        assert_eq!(j.reason, *reason, "{text}");
    }
}

#[test]
fn completed_frozen_auth_and_notes() {
    assert_eq!(
        parse("10HmaX-000000005vi-0000 Completed").kind,
        Kind::Completed
    );
    assert_eq!(
        parse("10HmaX-000000005vi-0000 Completed QT=1s").kind,
        Kind::Completed
    );
    assert_eq!(
        parse("10HmaX-000000005vi-0000 Frozen").kind,
        Kind::Frozen("")
    );
    assert_eq!(
        parse("10HmaX-000000005vi-0000 Frozen (delivery error message)").kind,
        Kind::Frozen("delivery error message")
    );
    assert!(matches!(
        parse("10HmaX-000000005vi-0000 frozen by ACL").kind,
        Kind::Frozen(_)
    ));
    let Kind::AuthFailed { host, authenticator, text } =
        parse("dovecot_login authenticator failed for (User) [192.0.2.37]: 535 Incorrect authentication data (set_id=test@domain.com)").kind
    else {
        panic!()
    };
    assert_eq!(
        (authenticator, host.helo, host.addr),
        ("dovecot_login", Some("User"), Some("192.0.2.37"))
    );
    assert!(text.starts_with("535 Incorrect"));
    assert!(matches!(
        parse(
            "10HmaY-000000005vi-0000 SMTP connection from CALLER lost while reading message data"
        )
        .kind,
        Kind::Connection(_)
    ));
    let r = parse("Start queue run: pid=p1234");
    assert_eq!(
        (r.id, r.kind),
        (None, Kind::Note("Start queue run: pid=p1234"))
    );
}

/// Every line of Exim's test suite logs parses (no panic), and every line with a delivery
/// flag after a message id becomes a delivery with an address.
#[test]
fn the_exim_test_suite_logs() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/exim/log");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("{} is missing", dir.display())
    };
    let (mut lines, mut deliveries, mut arrivals) = (0, 0, 0);
    for e in entries {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        for line in String::from_utf8_lossy(&bytes).lines() {
            // `1999-03-02 09:44:33 ` (the suite's fixed time) then the text.
            let Some(text) = line.get(20..) else { continue };
            lines += 1;
            let r = parse(text);
            let flag = text.split(' ').nth(1).unwrap_or("");
            match (&r.kind, r.id.is_some(), flag) {
                (Kind::Delivery(d), true, "=>" | "->" | ">>" | "*>" | "==" | "**") => {
                    assert!(!d.address.is_empty(), "{line}");
                    deliveries += 1;
                }
                (Kind::Arrival(_), true, "<=") => arrivals += 1,
                (_, true, "=>" | "->" | ">>" | "*>" | "==" | "**" | "<=") => {
                    panic!("{line}: {:?}", r.kind)
                }
                _ => {}
            }
        }
    }
    assert!(lines > 15_000, "{lines}");
    assert!(
        deliveries > 4_000 && arrivals > 2_500,
        "{deliveries} {arrivals}"
    );
}
