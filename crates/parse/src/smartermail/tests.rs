use super::*;

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora/");

fn lines(file: &str) -> String {
    std::fs::read_to_string(format!("{CORPORA}vendor-doc-examples/{file}")).unwrap()
}

/// A table over real lines: the line, its source and what it says.
#[test]
fn smtp_log_lines() {
    let text = lines("smartermail-smtp.log");
    let parsed: Vec<Line<'_>> = text
        .lines()
        .map(|l| parse(l).unwrap_or_else(|| panic!("unparsed: {l}")))
        .collect();
    let want: &[Kind<'_>] = &[
        Kind::Rsp(Reply::parse("220 mail.servermanagementco.com")),
        Kind::Connected,
        Kind::Cmd(Command::Helo("[192.168.0.8]")),
        Kind::Rsp(Reply::parse("250-mail.servermanagementco.com Hello [123.123.123.123]250-SIZE 31457280250-AUTH LOGIN CRAM-MD5250-8BITMIME250 OK")),
        Kind::Cmd(Command::Auth("CRAM-MD5")),
        Kind::Rsp(Reply::parse("334 PDQwNTYwMTI1My42MzY2MTMzMDQ2MTY1OTAzMTRAbWFpbC5zZXJ2ZXJtYW5hZ2VtZW50Y28uY29tPg==")),
        Kind::Authenticating("sender@servermanagementco.com"),
        Kind::Rsp(Reply::parse("235 Authentication successful")),
        Kind::Authenticated("sender@servermanagementco.com"),
        Kind::Cmd(Command::Quit),
        Kind::Rsp(Reply::parse("221 Service closing transmission channel")),
        Kind::Disconnected,
        Kind::Authenticating("sender@servermanagementco.com"),
        Kind::Rsp(Reply::parse("334 UGFzc3dvcmQ6")),
        Kind::Rsp(Reply::parse("535 Authentication failed")),
        Kind::Disconnected,
    ];
    assert_eq!(parsed.len(), want.len());
    for ((l, p), w) in text.lines().zip(&parsed).zip(want) {
        assert_eq!(p.kind, *w, "{l}");
    }
    assert_eq!(
        parsed[0].source,
        Source::Session {
            ip: "123.123.123.123",
            id: "63985015"
        }
    );
    assert_eq!(
        parsed[12].source,
        Source::Session {
            ip: "216.15.151.93",
            id: "12653114"
        }
    );
    let t = parsed[12].at;
    assert_eq!(
        (t.year, t.month, t.day, t.hour, t.minute, t.second),
        (2018, 5, 7, 23, 25, 43)
    );
}

#[test]
fn delivery_log_lines() {
    let text = lines("smartermail-delivery.log");
    let parsed: Vec<Line<'_>> = text
        .lines()
        .map(|l| parse(l).unwrap_or_else(|| panic!("unparsed: {l}")))
        .collect();
    assert_eq!(parsed.len(), 20);
    assert!(parsed
        .iter()
        .all(|l| l.source == Source::Delivery { id: "61003" }));
    let kinds: Vec<Kind<'_>> = parsed.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds[0],
        Kind::DeliveryStarted("sender@servermanagementco.com")
    );
    assert_eq!(kinds[1], Kind::RemoteFor("sender@servermanagementco.com"));
    assert_eq!(kinds[2], Kind::RemoteTo("recipient@gmail.com"));
    assert_eq!(kinds[3], Kind::Initiating("74.125.69.26"));
    assert_eq!(kinds[4], Kind::ConnectionOk("74.125.69.26:25"));
    assert_eq!(
        kinds[8],
        Kind::Cmd(Command::MailFrom("sender@servermanagementco.com"))
    );
    assert_eq!(kinds[12], Kind::Cmd(Command::Data));
    let Kind::Rsp(r) = kinds[14] else {
        panic!("{:?}", kinds[14])
    };
    assert_eq!((r.code, r.dsn), (Some(250), Some("2.0.0")));
    assert_eq!(
        kinds[17],
        Kind::Completed {
            sender: "sender@servermanagementco.com",
            rcpt: "recipient@gmail.com",
            outcome: "Delivered"
        }
    );
    assert_eq!(
        kinds[18],
        Kind::Removed {
            failed: false,
            finished: true
        }
    );
    assert_eq!(kinds[19], Kind::DeliveryFinished);
    assert!(!kinds.contains(&Kind::Other));
}

#[test]
fn spooled_and_odd_lines() {
    let l = parse("[2024.01.02] 03:04:05 [192.0.2.9][77] Data transfer succeeded, writing mail to 4242.eml (MessageID: <abc@x>)").unwrap();
    assert_eq!(
        l.kind,
        Kind::Spooled {
            spool: "4242",
            message_id: Some("<abc@x>")
        }
    );
    let l = parse("[2024.01.02] 03:04:05 SMTP service started").unwrap();
    assert_eq!((l.source, l.kind), (Source::Service, Kind::Other));
    for bad in [
        "",
        "[2024.01.02]",
        "[2024.13.02] 03:04:05 [1] x",
        "[2024.01.02] 25:04:05 [1] x",
        "[2024-01-02] 03:04:05 [1] x",
        "May 31 06:26:22 rs336 v4V4QL1K030027: from=a",
    ] {
        assert_eq!(parse(bad), None, "{bad}");
    }
}
