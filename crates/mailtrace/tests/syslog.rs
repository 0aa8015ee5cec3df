//! `mailtrace serve --syslog-udp/--syslog-tcp`: real Postfix lines sent by `logger` (util-linux)
//! and by a fast TCP sender, on loopback; what is stored is checked against an ingest of the
//! same lines from a file, and `/metrics` (parsed with a Prometheus text-format parser) against
//! the store.

use crate::gen;
use crate::util::{ok, root, value, Server};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

/// `export --format json`, one object per message.
fn export(db: &Path) -> Vec<serde_json::Value> {
    ok(db, &["export", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Finished messages by (queue id or "-", status, sender), counted.
fn finished(messages: &[serde_json::Value]) -> BTreeMap<(String, String, String), u32> {
    let mut out = BTreeMap::new();
    for m in messages.iter().filter(|m| m["open"] == false) {
        let key = (
            m["queue_id"].as_str().unwrap_or("-").to_string(),
            m["status"].as_str().unwrap().to_string(),
            m["sender"].as_str().unwrap_or("?").to_string(),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

/// `prog[pid]: text` of a syslog file line (after time and host).
fn tag_and_text(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.get(16..)?; // "Nov 24 18:43:30 "
    let (_host, rest) = rest.split_once(' ')?;
    let (tag, text) = rest.split_once(": ")?;
    let (prog, pid) = tag.strip_suffix(']')?.split_once('[')?;
    Some((prog, pid, text))
}

#[test]
fn postfix_lines_sent_by_logger_over_tcp_and_udp_become_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let server = Server::start(
        &db,
        &[
            "--syslog-udp",
            "127.0.0.1:0",
            "--syslog-tcp",
            "127.0.0.1:0",
            "--retention",
            "off",
        ],
    );
    let (udp, tcp) = (server.udp.unwrap(), server.tcp.unwrap());

    // The real Postfix log of the harness, line by line through `logger --tcp` (RFC 5424, the
    // default for remote logging), in order.
    let log = root().join("testdata/postfix/harness.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut sent = 0u64;
    for line in text.lines() {
        let Some((prog, pid, msg)) = tag_and_text(line) else {
            continue;
        };
        let st = Command::new("logger")
            .args(["--tcp", "--server", "127.0.0.1", "--port"])
            .arg(tcp.port().to_string())
            .args(["-p", "mail.info", "-t", prog, &format!("--id={pid}"), "--"])
            .arg(msg)
            .status()
            .expect("logger (util-linux) runs");
        assert!(st.success(), "logger --tcp failed on {line}");
        sent += 1;
        // Each `logger` opens a connection of its own, and lines of different connections
        // (different senders) keep no order between them: wait for this one to be read.
        server.wait_until_read(sent);
    }
    // Rejections through `logger --udp`, in both syslog formats.
    let rejects = [
        (
            "--rfc3164",
            "<nobody@ok.test>: Recipient address rejected: User unknown in local recipient table",
        ),
        ("--rfc5424", "<spam@elsewhere.test>: Relay access denied"),
    ];
    for (i, (format, reason)) in rejects.iter().enumerate() {
        let code = if reason.contains("Relay") {
            "554 5.7.1"
        } else {
            "550 5.1.1"
        };
        let msg = format!(
            "NOQUEUE: reject: RCPT from unknown[192.0.2.{i}]: {code} {reason}; from=<udp{i}@sender.test> to=<x@ok.test> proto=ESMTP helo=<udp.test>"
        );
        let st = Command::new("logger")
            .args(["--udp", format, "--server", "127.0.0.1", "--port"])
            .arg(udp.port().to_string())
            .args([
                "-p",
                "mail.info",
                "-t",
                "postfix/smtpd",
                "--id=777",
                "--",
                &msg,
            ])
            .status()
            .unwrap();
        assert!(st.success());
        sent += 1;
    }
    let m = server.wait_for_lines(sent);
    assert_eq!(
        value(&m, "mailtrace_syslog_received_lines_total", &[]),
        sent as f64
    );
    assert_eq!(value(&m, "mailtrace_syslog_udp_dropped_total", &[]), 0.0);
    assert_eq!(value(&m, "mailtrace_lines_unparsed_total", &[]), 0.0);

    // Searchable while the server runs: the UDP rejections...
    let found: serde_json::Value =
        serde_json::from_str(&server.get("/api/v1/messages?from=%40sender.test&when=1h")).unwrap();
    let senders: Vec<&str> = found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders.len(), 2, "{found}");
    assert!(senders.contains(&"udp0@sender.test") && senders.contains(&"udp1@sender.test"));
    // ... and the harness' messages, on this machine (logger names it in the header).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let case01: serde_json::Value =
        serde_json::from_str(&server.get("/api/v1/messages?message_id=case01%40harness.test"))
            .unwrap();
    assert_eq!(case01["messages"][0]["status"], "delivered", "{case01}");
    assert_eq!(case01["messages"][0]["server"], host.trim(), "{case01}");

    // /metrics counts what the store holds: finished messages by status, rejects by code.
    let live = export(&db);
    let mut by_status: BTreeMap<String, f64> = BTreeMap::new();
    for msg in live.iter().filter(|m| m["open"] == false) {
        *by_status
            .entry(msg["status"].as_str().unwrap().into())
            .or_default() += 1.0;
    }
    assert!(by_status.len() >= 4, "{by_status:?}");
    for (status, n) in &by_status {
        assert_eq!(
            value(&m, "mailtrace_messages_total", &[("status", status)]),
            *n,
            "mailtrace_messages_total{{status={status:?}}}"
        );
    }
    // As the Postfix exporter counts them: `NOQUEUE: reject: RCPT` lines by reply code.
    let mut rcpt_rejects: BTreeMap<&str, f64> = BTreeMap::new();
    for l in text.lines() {
        if let Some((_, rest)) = l.split_once("NOQUEUE: reject: RCPT from ") {
            let code = rest.split_once(": ").unwrap().1.get(..3).unwrap();
            *rcpt_rejects.entry(code).or_default() += 1.0;
        }
    }
    *rcpt_rejects.entry("550").or_default() += 1.0; // the two sent with UDP
    *rcpt_rejects.entry("554").or_default() += 1.0;
    for (code, n) in &rcpt_rejects {
        assert_eq!(
            value(
                &m,
                "postfix_smtpd_messages_rejected_total",
                &[("code", code)]
            ),
            *n,
            "postfix_smtpd_messages_rejected_total{{code={code:?}}}"
        );
    }
    assert_eq!(
        value(&m, "postfix_smtpd_messages_rejected_total", &[]),
        rcpt_rejects.values().sum::<f64>()
    );
    assert_eq!(
        value(&m, "mailtrace_store_messages", &[]),
        live.len() as f64
    );
    let health: serde_json::Value = serde_json::from_str(&server.get("/healthz")).unwrap();
    assert_eq!(health["status"], "ok");
    server.stop();

    // The same log ingested from the file gives the same finished messages (queue id, status,
    // sender).
    let reference = dir.path().join("file.db");
    ok(&reference, &["ingest", "--quiet", log.to_str().unwrap()]);
    let want = finished(&export(&reference));
    let mut got = finished(&export(&db));
    for i in 0..2 {
        let key = (
            "-".to_string(),
            "rejected".to_string(),
            format!("udp{i}@sender.test"),
        );
        assert_eq!(got.remove(&key), Some(1));
    }
    assert_eq!(got, want);
}

#[test]
fn a_million_lines_over_tcp_are_all_stored_and_the_same_queue_id_on_two_servers_is_two_messages() {
    const LINES: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mx.log");
    gen::replay(
        &root().join("testdata/postfix/harness.log"),
        &log,
        LINES / 2,
    );
    let text = std::fs::read_to_string(&log).unwrap();

    let db = dir.path().join("live.db");
    let server = Server::start(&db, &["--syslog-tcp", "127.0.0.1:0", "--retention", "off"]);
    let tcp = server.tcp.unwrap();
    // Two servers, each on its own connection, as fast as the receiver takes them: `mx1` with
    // octet counting, `mx2` with line feeds.
    let senders: Vec<_> = [("mx1", true), ("mx2", false)]
        .into_iter()
        .map(|(host, counted)| {
            let text = text.clone();
            std::thread::spawn(move || {
                let mut conn = std::io::BufWriter::with_capacity(
                    1 << 16,
                    TcpStream::connect(tcp).expect("connect"),
                );
                let mut n = 0u64;
                for line in text.lines() {
                    let (stamp, rest) = line.split_at(16);
                    let rest = rest.strip_prefix("mx ").expect("host mx");
                    let msg = format!("<22>{stamp}{host} {rest}");
                    if counted {
                        write!(conn, "{} {msg}", msg.len()).unwrap();
                    } else {
                        writeln!(conn, "{msg}").unwrap();
                    }
                    n += 1;
                }
                conn.flush().unwrap();
                n
            })
        })
        .collect();
    let sent: u64 = senders.into_iter().map(|s| s.join().unwrap()).sum();
    assert_eq!(sent, LINES as u64);
    let m = server.wait_for_lines(sent);
    assert_eq!(
        value(&m, "mailtrace_syslog_received_lines_total", &[]),
        sent as f64
    );
    assert_eq!(
        value(&m, "mailtrace_syslog_tcp_connections_total", &[]),
        2.0
    );
    server.stop();

    // Every line is stored: each server's messages are those of the file ingested alone.
    let reference = dir.path().join("file.db");
    ok(
        &reference,
        &[
            "ingest",
            "--quiet",
            "--server",
            "mx1",
            log.to_str().unwrap(),
        ],
    );
    let want: serde_json::Value = serde_json::from_str(&ok(&reference, &["stats"])).unwrap();
    let stats: serde_json::Value = serde_json::from_str(&ok(&db, &["stats"])).unwrap();
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    assert!(n(&want, "messages") > 10_000, "{want}");
    assert_eq!(
        n(&stats, "messages"),
        2 * n(&want, "messages"),
        "{stats} vs {want}"
    );
    assert_eq!(
        n(&stats, "recipients"),
        2 * n(&want, "recipients"),
        "{stats} vs {want}"
    );
    assert_eq!(
        n(&stats, "unparsed"),
        2 * n(&want, "unparsed"),
        "{stats} vs {want}"
    );

    // One queue id, two servers: two messages.
    let search = |db: &Path, args: &[&str]| -> Vec<serde_json::Value> {
        let mut a = vec!["search", "--format", "json"];
        a.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&ok(db, &a)).unwrap();
        v["messages"].as_array().unwrap().clone()
    };
    let first = search(&reference, &["--limit", "1", "--status", "delivered"]);
    let qid = first[0]["queue_id"].as_str().unwrap();
    let both = search(&db, &["--queue-id", qid]);
    let mut servers: Vec<&str> = both.iter().map(|m| m["server"].as_str().unwrap()).collect();
    servers.sort_unstable();
    assert_eq!(servers, ["mx1", "mx2"], "{both:?}");
    assert!(both.iter().all(|m| m["status"] == "delivered"), "{both:?}");
}
