//! postfix-youyo: complete message flows, traditional and RFC 3339 timestamps.

use super::*;

// ---------------------------------------------------------------------------------------------
// postfix-youyo
// ---------------------------------------------------------------------------------------------

/// `QUEUEID: ...` with an upper-case hex id, found independently of the parser.
fn leading_hex_id(text: &str) -> Option<&str> {
    let (id, _) = text.split_once(": ")?;
    (id.len() >= 5
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
    .then_some(id)
}

#[test]
fn youyo_flows_parse_completely() {
    for f in files("postfix-youyo", ".log") {
        let text = read(&format!("postfix-youyo/{f}"));
        let mut ctx = ctx();
        let mut failures = String::new();
        let (mut lines, mut deliveries, mut removed) = (0, 0, 0);
        let mut queue_ids = std::collections::BTreeSet::new();
        let mut queued_as = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            lines += 1;
            let mut fail = |what: String| {
                let _ = writeln!(failures, "{f}:{}: {what}\n  {line}", i + 1);
            };
            let Some(env) = syslog::parse(line, &mut ctx) else {
                fail("no syslog envelope".into());
                continue;
            };
            let Some(rec) = postfix::parse(env.program, env.text) else {
                fail(format!("{} is not a Postfix program", env.program));
                continue;
            };
            if rec.queue_id != leading_hex_id(env.text) {
                fail(format!("queue id {:?}", rec.queue_id));
            }
            queue_ids.extend(rec.queue_id);
            match &rec.kind {
                Kind::Unrecognized(_) => fail("Unrecognized".into()),
                Kind::Delivery(d) => {
                    deliveries += 1;
                    if d.status != AttemptStatus::Sent
                        || d.dsn != Some("2.0.0")
                        || d.smtp_code != Some(250)
                    {
                        fail(format!("delivery {d:?}"));
                    }
                    if rec.server().map(|s| s.port) != Some(Some("25")) {
                        fail(format!("relay {:?}", d.relay));
                    }
                    queued_as.extend(d.queued_as);
                }
                Kind::Removed => removed += 1,
                _ => {}
            }
        }
        assert!(failures.is_empty(), "{failures}");
        println!("postfix-youyo/{f}: {lines} lines, {deliveries} deliveries, {removed} removed");
        assert_eq!(lines, 22, "{f}");
        assert_eq!(deliveries, 4, "{f}");
        assert_eq!(removed, 3, "{f}");
        assert_eq!(
            queue_ids.into_iter().collect::<Vec<_>>(),
            ["3D74ADB7400B", "6526CDB7400B", "C6E0DDB74006"],
            "{f}"
        );
        assert_eq!(queued_as, ["71111424269E"], "{f}");
    }
}
