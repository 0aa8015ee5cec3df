//! Issue 5: one store for every log format. `mailtrace ingest` on a directory mixing Postfix,
//! Exim, SmarterMail and transcript logs detects each file's format, reports it, and every
//! message is found by `search` with the status its log tells.

use crate::util::{mailtrace, ok, read_truth, root};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn corpora() -> PathBuf {
    root().join("../shared/corpora")
}

/// A directory as an administrator would collect it: the files under the names their
/// servers give them. SmarterMail's `*-delivery.log` sorts before `*-smtpLog.log`.
fn mixed_dir(dir: &Path) -> Vec<PathBuf> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let files = [
        (root().join("testdata/postfix/harness.log"), "mail.log"),
        (root().join("testdata/exim/harness.log"), "exim-mainlog"),
        (
            root().join("testdata/smartermail/delivery.log"),
            "2024.03.04-delivery.log",
        ),
        (
            root().join("testdata/smartermail/smtp.log"),
            "2024.03.04-smtpLog.log",
        ),
        (
            corpora().join("vendor-doc-examples/smartermail-delivery.log"),
            "2018.05.07-delivery.log",
        ),
        (
            corpora().join("vendor-doc-examples/smartermail-smtp.log"),
            "2018.05.07-smtpLog.log",
        ),
        (
            root().join("testdata/transcript/transcript.log"),
            "transcript-2024-03-21.log",
        ),
        (
            corpora().join("vendor-doc-examples/xeams-transcript.log"),
            "xeams-transcript.log",
        ),
        (
            corpora().join("vendor-doc-examples/sendmail-realsender.log"),
            "sendmail.log",
        ),
    ];
    for (from, to) in &files {
        std::fs::copy(from, logs.join(to)).unwrap();
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn search(db: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["search", "--format", "json", "--limit", "1000"];
    a.extend_from_slice(args);
    let v: Value = serde_json::from_str(&ok(db, &a)).unwrap();
    v["messages"].as_array().unwrap().clone()
}

/// The one message of `mta` matching `args` (the Postfix and Exim harnesses send the same
/// cases).
fn one_of(db: &Path, mta: &str, args: &[&str]) -> Value {
    let found: Vec<Value> = search(db, args)
        .into_iter()
        .filter(|m| m["mta"] == mta)
        .collect();
    assert_eq!(found.len(), 1, "{mta} {args:?}: {found:#?}");
    found[0].clone()
}

/// The one message matching `args`.
fn one(db: &Path, args: &[&str]) -> Value {
    let found = search(db, args);
    assert_eq!(found.len(), 1, "{args:?}: {found:#?}");
    found[0].clone()
}

fn statuses(m: &Value) -> Vec<(String, String)> {
    m["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_mixed_directory_of_every_format_is_searchable_with_correct_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let paths = mixed_dir(dir.path());
    let mut args = vec!["ingest".to_string(), "--quiet".to_string()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = mailtrace(&db, &args);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();

    // The ingest names each file's detected format, with its recognised and unparsed lines.
    let want = [
        ("2018.05.07-delivery.log", "smartermail-delivery", 20),
        ("2018.05.07-smtpLog.log", "smartermail-smtp", 16),
        ("2024.03.04-delivery.log", "smartermail-delivery", 88),
        ("2024.03.04-smtpLog.log", "smartermail-smtp", 63),
        ("exim-mainlog", "exim", 343),
        ("mail.log", "syslog", 351),
        ("sendmail.log", "syslog", 20),
        ("transcript-2024-03-21.log", "transcript", 49),
        ("xeams-transcript.log", "transcript", 19),
    ];
    for (file, format, lines) in want {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("/{file}: ")))
            .unwrap_or_else(|| panic!("{file} not reported:\n{stderr}"));
        assert!(
            line.contains(&format!(
                ": {format} (detected, plain): {lines} lines, {lines} recognised, 0 unparsed"
            )),
            "{line}"
        );
    }

    // SmarterMail: the session and both deliveries of spool 70001 are one message, although
    // its delivery log came first in the directory.
    let m = one(&db, &["--queue-id", "70001"]);
    assert_eq!(m["mta"], "smartermail");
    assert_eq!(m["status"], "delivered");
    assert_eq!(m["client_ip"], "198.51.100.23");
    assert_eq!(m["sasl_username"], "alice@example.net");
    assert_eq!(
        statuses(&m),
        [
            ("bob@example.com".into(), "delivered".into()),
            ("carol@example.org".into(), "delivered".into())
        ]
    );
    let server = m["server"].as_str().unwrap().to_string();
    assert!(!server.is_empty());
    assert_eq!(
        one(&db, &["--to", "ghost@example.com"])["status"],
        "bounced"
    );
    assert_eq!(
        one(&db, &["--to", "frank@greylist.example"])["status"],
        "deferred"
    );
    let r = one(&db, &["--to", "nobody@example.net"]);
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["mta"], "smartermail");
    let v = one(&db, &["--queue-id", "61003"]);
    assert_eq!(v["status"], "delivered");
    assert_eq!(
        v["recipients"][0]["relay"],
        "mx.google.com[74.125.69.26]:25"
    );

    // Transcripts.
    let t = one(&db, &["--to", "nosuchuser@example.com"]);
    assert_eq!(t["mta"], "transcript");
    assert_eq!(
        statuses(&t),
        [
            ("nosuchuser@example.com".into(), "bounced".into()),
            ("sales@example.com".into(), "delivered".into())
        ]
    );
    assert_eq!(
        one(&db, &["--to", "reader@grey.example"])["status"],
        "deferred"
    );
    assert_eq!(one(&db, &["--queue-id", "7054286"])["status"], "delivered");

    // Exim's main log names no host: its messages are on this machine's server, as the
    // SmarterMail and transcript ones.
    let exim_truth = read_truth(&root().join("testdata/exim/harness.truth.jsonl"));
    for status in ["delivered", "bounced", "deferred"] {
        let t = exim_truth.iter().find(|t| t.status == status).unwrap();
        let m = one_of(
            &db,
            "exim",
            &["--message-id", &t.message_id, "--from", &t.sender],
        );
        assert_eq!(m["server"], server.as_str());
        assert_eq!(m["status"], status, "{}", t.case);
    }
    // Postfix, by its syslog host.
    let pf_truth = read_truth(&root().join("testdata/postfix/harness.truth.jsonl"));
    for status in ["delivered", "bounced", "deferred"] {
        let t = pf_truth.iter().find(|t| t.status == status).unwrap();
        let m = one_of(
            &db,
            "postfix",
            &["--message-id", &t.message_id, "--from", &t.sender],
        );
        assert_ne!(m["server"], server.as_str());
        assert_eq!(m["status"], status, "{}", t.case);
    }
    // Sendmail, through syslog: sent; deferred twice then sent; user unknown, with its DSN
    // child linked; mailbox full until "Cannot send message for 4 hours".
    let sm = |qid: &str| one_of(&db, "sendmail", &["--queue-id", qid]);
    assert_eq!(sm("v4V4QL1K030027")["status"], "delivered");
    let retried = sm("v4V6w3jN001390");
    assert_eq!(retried["status"], "delivered");
    assert_eq!(retried["recipients"][0]["attempts"], 3);
    let unknown = sm("v4VEHCk6017038");
    assert_eq!(unknown["status"], "bounced");
    assert_eq!(unknown["recipients"][0]["dsn"], "5.1.1");
    assert_eq!(sm("v4VEHFk5017041")["bounce_of"], unknown["id"]);
    assert_eq!(sm("v4P7Hc6P011481")["status"], "expired");

    // One search over all of them.
    let bounced = search(&db, &["--status", "bounced"]);
    let mut mtas: Vec<&str> = bounced.iter().map(|m| m["mta"].as_str().unwrap()).collect();
    mtas.sort_unstable();
    mtas.dedup();
    assert_eq!(
        mtas,
        ["exim", "postfix", "sendmail", "smartermail", "transcript"]
    );
    let on_server = search(
        &db,
        &[
            "--server",
            &server,
            "--since",
            "2024-03-04",
            "--until",
            "2024-03-05",
        ],
    );
    assert!(on_server.iter().all(|m| m["mta"] == "smartermail"));
    assert_eq!(on_server.len(), 6);

    // show: every line of the session and of the deliveries, the acceptance lines marked.
    let id = m["id"].as_str().unwrap();
    let show: Value = serde_json::from_str(&ok(&db, &["show", id, "--format", "json"])).unwrap();
    let raw = show["raw"].as_array().unwrap();
    // The session (28 lines) and both deliveries (32 and 20 lines).
    assert_eq!(raw.len(), 28 + 32 + 20, "{show:#}");
    let accepted: Vec<(&str, &str)> = raw
        .iter()
        .filter(|l| l.get("accepted").is_some())
        .map(|l| (l["accepted"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert_eq!(accepted.len(), 3, "{accepted:?}");
    assert_eq!(accepted[0].0, "queued");
    assert!(accepted[0].1.ends_with("[71234567] rsp: 250 OK"));
    assert!(accepted[1]
        .1
        .ends_with("RSP: 250 2.0.0 Ok: queued as 4Tq1Zx0abc"));
    assert_eq!(accepted[2].0, "sent");
}

#[test]
fn exim_main_log_takes_the_server_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let log = root().join("testdata/exim/harness.log");
    ok(
        &db,
        &[
            "ingest",
            "-q",
            "--server",
            "mx-exim.test",
            log.to_str().unwrap(),
        ],
    );
    let all = search(&db, &[]);
    assert!(all.len() > 40);
    assert!(all.iter().all(|m| m["server"] == "mx-exim.test"));
}

#[test]
fn a_forced_format_that_does_not_fit_keeps_every_line_as_unparsed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let log = root().join("testdata/smartermail/smtp.log");
    let summary: Value = serde_json::from_str(&ok(
        &db,
        &[
            "ingest",
            "-q",
            "--json",
            "--format",
            "transcript",
            log.to_str().unwrap(),
        ],
    ))
    .unwrap();
    let f = &summary["files"][0];
    assert_eq!(f["format"], "transcript");
    assert_eq!(f["detected"], false);
    assert_eq!(
        (f["lines"].as_u64(), f["unparsed"].as_u64()),
        (Some(63), Some(63))
    );
    assert_eq!(f["recognised"], 0);
    let listed = ok(&db, &["lines", "--kind", "unparsed", "--limit", "1000"]);
    assert_eq!(listed.lines().count(), 63);
    assert!(listed.contains("Authenticating as mallory@example.net"));
}

#[test]
fn garbage_in_a_smartermail_file_is_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let log = dir.path().join("2024.03.04-smtpLog.log");
    let mut bytes = std::fs::read(root().join("testdata/smartermail/smtp.log")).unwrap();
    bytes.extend_from_slice(b"\x00\xff\xfe\x01binary\r\n");
    bytes.extend_from_slice(b"[2024.03.04] 09:40:00 [192.0.2.1][1] cmd: RCPT TO:<");
    bytes.extend(std::iter::repeat_n(b'a', 1 << 20));
    bytes.extend_from_slice(b">\r\n[2024.03.04] 09:40:01 [192.0.2.1][1] rsp: 250\r\n");
    std::fs::write(&log, bytes).unwrap();
    let summary: Value =
        serde_json::from_str(&ok(&db, &["ingest", "-q", "--json", log.to_str().unwrap()])).unwrap();
    let f = &summary["files"][0];
    assert_eq!(f["format"], "smartermail-smtp");
    assert_eq!(f["lines"], 66);
    // The binary line; the 1 MB line is cut (marked) but its prefix still reads.
    assert_eq!(f["unparsed"], 1);
    assert_eq!(
        one(&db, &["--queue-id", "70001"])["status"],
        "queued",
        "received, its delivery log not read"
    );
}

/// Every message as one sortable line: what a resumed ingest must reproduce.
fn snapshot(db: &Path) -> Vec<String> {
    let mut v: Vec<String> = ok(db, &["export", "--format", "json"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn grown_smartermail_logs_ingested_twice_give_the_same_store_as_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = std::fs::read_to_string(root().join("testdata/smartermail/smtp.log")).unwrap();
    let delivery =
        std::fs::read_to_string(root().join("testdata/smartermail/delivery.log")).unwrap();
    let (s_path, d_path) = (dir.path().join("smtp.log"), dir.path().join("delivery.log"));
    let args = |db: &Path| {
        ok(
            db,
            &[
                "ingest",
                "-q",
                s_path.to_str().unwrap(),
                d_path.to_str().unwrap(),
            ],
        )
    };
    let one = dir.path().join("one.db");
    std::fs::write(&s_path, &smtp).unwrap();
    std::fs::write(&d_path, &delivery).unwrap();
    args(&one);
    let want = snapshot(&one);
    assert_eq!(want.len(), 6);
    // Both files as SmarterMail had written them at time `t` (its lines up to `t`): in the
    // middle of alice's session, between her acceptance and her disconnect, in the middle of
    // a delivery, between the two deliveries of 70001.
    let until = |text: &str, t: &str| -> String {
        text.split_inclusive('\n')
            .take_while(|l| l.get(13..21).is_some_and(|hms| hms <= t))
            .collect()
    };
    for t in [
        "09:15:03", "09:15:04", "09:15:05", "09:15:06", "09:20:11", "09:45:07",
    ] {
        let two = dir.path().join(format!("two-{t}.db"));
        std::fs::write(&s_path, until(&smtp, t)).unwrap();
        std::fs::write(&d_path, until(&delivery, t)).unwrap();
        args(&two);
        std::fs::write(&s_path, &smtp).unwrap();
        std::fs::write(&d_path, &delivery).unwrap();
        args(&two);
        assert_eq!(snapshot(&two), want, "cut at {t}");
    }
}
