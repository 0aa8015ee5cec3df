//! The CLI on the committed harness log: idempotent ingest, resume, every filter, show, export.

use crate::util::{mailtrace, ok, root};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn harness_log() -> PathBuf {
    root().join("testdata/postfix/harness.log")
}

fn loaded() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    ok(&db, &["ingest", "--quiet", harness_log().to_str().unwrap()]);
    (dir, db)
}

fn search_json(db: &Path, args: &[&str]) -> Value {
    let mut a = vec!["search", "--format", "json"];
    if !args.contains(&"--limit") {
        a.extend_from_slice(&["--limit", "1000"]);
    }
    a.extend_from_slice(args);
    serde_json::from_str(&ok(db, &a)).unwrap()
}

fn total(db: &Path, args: &[&str]) -> u64 {
    search_json(db, args)["total"].as_u64().unwrap()
}

/// Every message as (queue id or message-id, status, recipients' statuses): what a re-run must reproduce.
fn snapshot(db: &Path) -> Vec<String> {
    let out = ok(db, &["export", "--format", "json"]);
    let mut v: Vec<String> = out
        .lines()
        .map(|l| {
            let m: Value = serde_json::from_str(l).unwrap();
            let rc: Vec<String> = m["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{}={}/{}/{}",
                        r["address"], r["status"], r["dsn"], r["attempts"]
                    )
                })
                .collect();
            format!(
                "{} {} {} {} open={} {}",
                m["queue_id"],
                m["message_id"],
                m["received_at"],
                m["status"],
                m["open"],
                rc.join(",")
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn ingesting_the_same_file_twice_adds_nothing() {
    let (_d, db) = loaded();
    let before = ok(&db, &["stats"]);
    let snap = snapshot(&db);
    let again: Value = serde_json::from_str(&ok(
        &db,
        &[
            "ingest",
            "--quiet",
            "--json",
            harness_log().to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert_eq!(again["lines"], 0, "nothing new to read: {again}");
    assert_eq!(ok(&db, &["stats"]), before);
    assert_eq!(snapshot(&db), snap);
}

#[test]
fn a_growing_file_and_a_second_file_give_the_same_store_as_one_pass() {
    let (_d, one_pass) = loaded();
    let want = snapshot(&one_pass);
    let text = std::fs::read_to_string(harness_log()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let (b, c) = b.split_at(b.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parts.db");
    // The log grows between two ingests of the same file...
    let grow = dir.path().join("mail.log");
    std::fs::write(&grow, a.join("\n") + "\n").unwrap();
    ok(&db, &["ingest", "--quiet", grow.to_str().unwrap()]);
    std::fs::write(&grow, [a, b].concat().join("\n") + "\n").unwrap();
    ok(&db, &["ingest", "--quiet", grow.to_str().unwrap()]);
    // ...then the rest comes in a different file: queued messages are completed across runs.
    let rest = dir.path().join("mail.log.next");
    std::fs::write(&rest, c.join("\n") + "\n").unwrap();
    ok(&db, &["ingest", "--quiet", rest.to_str().unwrap()]);
    assert_eq!(snapshot(&db), want);
}

#[test]
fn every_search_filter_works_from_the_cli() {
    let (_d, db) = loaded();
    let all = total(&db, &[]);
    assert!(all >= 38, "{all}");
    assert_eq!(total(&db, &["--from", "s03@ok.test"]), 1);
    assert_eq!(
        total(&db, &["--from", "S03@OK.TEST"]),
        1,
        "case-insensitive"
    );
    assert_eq!(total(&db, &["--from", "@monitor.example"]), 1);
    let null = search_json(&db, &["--from", "<>"]);
    assert!(
        null["total"].as_u64().unwrap() >= 6,
        "bounce notifications and case05"
    );
    assert!(null["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["sender"] == ""));
    assert_eq!(total(&db, &["--to", "rcpt04b@ok.test"]), 1);
    assert_eq!(total(&db, &["--to", "@reject.test"]), 5);
    assert_eq!(
        total(&db, &["--subject", "  CASE 21 "]),
        1,
        "trimmed, case-insensitive"
    );
    let rejected = search_json(&db, &["--status", "rejected"]);
    assert_eq!(rejected["total"], 8);
    assert_eq!(total(&db, &["--status", "expired"]), 3);
    assert_eq!(total(&db, &["--status", "bounced,expired"]), 8);
    assert_eq!(total(&db, &["--message-id", "case16@harness.test"]), 1);
    let q = search_json(&db, &["--message-id", "<case01@harness.test>"]);
    let qid = q["messages"][0]["queue_id"].as_str().unwrap().to_string();
    assert_eq!(total(&db, &["--queue-id", &qid]), 1);
    assert_eq!(
        total(&db, &["--client", "127.0.0.1"]),
        total(&db, &["--client", "localhost"])
    );
    assert_eq!(
        total(&db, &["--relay", ":26029"]),
        2,
        "case17 and case18 went through the later.test sink"
    );
    assert_eq!(total(&db, &["--server", "mx"]), all);
    assert_eq!(total(&db, &["--server", "elsewhere"]), 0);
    assert_eq!(total(&db, &["--reason", "Sender address rejected"]), 1);
    assert_eq!(
        total(&db, &["--since", "2000-01-01", "--until", "2000-01-02"]),
        0
    );
    assert_eq!(total(&db, &["--last", "100000d"]), all);
    // Newest first and paging.
    let p1 = search_json(&db, &["--limit", "5", "--page", "1"]);
    let p2 = search_json(&db, &["--limit", "5", "--page", "2"]);
    let t = |v: &Value, i: usize| {
        v["messages"][i]["received_at"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(t(&p1, 0) >= t(&p1, 4) && t(&p1, 4) >= t(&p2, 0));
    // Bad values name the flag and fail.
    for bad in [
        &["--since", "soon"][..],
        &["--status", "lost"],
        &["--last", "3 fortnights"],
        &["--columns", "time,nope"],
        &["--to", "<>"],
    ] {
        let mut a = vec!["search"];
        a.extend_from_slice(bad);
        let out = mailtrace(&db, &a);
        assert!(!out.status.success(), "{bad:?} must fail");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

#[test]
fn table_and_columns() {
    let (_d, db) = loaded();
    let out = ok(
        &db,
        &[
            "search",
            "--subject",
            "case 25",
            "--columns",
            "queue_id,to,status,dsn,smtp_code,relay",
        ],
    );
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("QUEUE_ID") && header.contains("SMTP_CODE"),
        "{out}"
    );
    assert!(out.contains("rcpt25a@ok.test, rcpt25b@reject.test"));
    assert!(
        out.contains("2.0.0; 5.1.1") && out.contains("250; 550"),
        "{out}"
    );
    assert!(out.contains("1-1 of 1"));
}

#[test]
fn show_by_queue_id_and_message_id_with_raw_lines() {
    let (_d, db) = loaded();
    let by_mid = ok(&db, &["show", "<case17@harness.test>", "--raw"]);
    assert!(by_mid.contains("rcpt17@later.test: delivered"), "{by_mid}");
    assert!(
        by_mid.contains("2 attempts") || by_mid.contains("3 attempts"),
        "deferred then delivered: {by_mid}"
    );
    assert!(
        by_mid.contains("\nLog\n")
            && by_mid.contains("status=deferred")
            && by_mid.contains("status=sent")
    );
    let j: Value = serde_json::from_str(&ok(
        &db,
        &["show", "case17@harness.test", "--format", "json"],
    ))
    .unwrap();
    let qid = j["queue_id"].as_str().unwrap().to_string();
    let hist = j["recipients"][0]["history"].as_array().unwrap();
    assert!(hist.len() >= 2);
    assert_eq!(hist.first().unwrap()["status"], "deferred");
    assert_eq!(hist.last().unwrap()["status"], "sent");
    let timeline = j["timeline"].as_array().unwrap();
    assert!(timeline.len() >= 5);
    // Timeline texts come back from the raw log they refer to.
    assert!(
        timeline
            .iter()
            .any(|e| e.to_string().contains("client=localhost")),
        "{timeline:?}"
    );
    let raw = j["raw"].as_array().unwrap();
    assert!(raw
        .iter()
        .any(|l| l["text"].as_str().unwrap().contains("client=")));
    // The lines where the message was accepted are marked: into the queue, and by the sink.
    let marked = |kind: &str| -> Vec<&str> {
        raw.iter()
            .filter(|l| l["accepted"] == kind)
            .map(|l| l["text"].as_str().unwrap())
            .collect()
    };
    assert!(matches!(&marked("queued")[..], [l] if l.contains("qmgr") && l.contains("from=")));
    assert!(matches!(&marked("sent")[..], [l] if l.contains("status=sent")));
    assert_eq!(
        raw.iter().filter(|l| l.get("accepted").is_some()).count(),
        2,
        "deferrals are not acceptances"
    );
    let by_qid = ok(&db, &["show", &qid]);
    assert!(by_qid.contains("<case17@harness.test>"));
    // The bounced message links to its notification, and the notification back.
    let b: Value = serde_json::from_str(&ok(
        &db,
        &["show", "case09@harness.test", "--format", "json"],
    ))
    .unwrap();
    let related = b["related"].as_array().unwrap();
    assert_eq!(related.len(), 1, "{b}");
    assert!(
        b["id"].is_string(),
        "ids are strings: 63 bits do not fit a JS number"
    );
    assert_eq!(related[0]["bounce_of"], b["id"]);
    assert_eq!(related[0]["sender"], "");
    let missing = mailtrace(&db, &["show", "NOSUCHID"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn same_queue_id_on_two_servers_is_ambiguous_for_show() {
    let (_d, db) = loaded();
    // The same log as a second server: a copy with another first line, so that it is a
    // different input (the same file would be recognised and skipped).
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("mx2.log");
    let text = std::fs::read_to_string(harness_log()).unwrap();
    std::fs::write(&copy, format!("Nov 24 18:00:00 mx2 kernel: boot\n{text}")).unwrap();
    ok(
        &db,
        &[
            "ingest",
            "--quiet",
            "--server",
            "mx2",
            copy.to_str().unwrap(),
        ],
    );
    let j = search_json(&db, &["--message-id", "case01@harness.test"]);
    assert_eq!(j["total"], 2);
    let qid = j["messages"][0]["queue_id"].as_str().unwrap().to_string();
    let out = mailtrace(&db, &["show", &qid]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 messages match") && text.contains("mx2"),
        "{text}"
    );
    assert_eq!(
        total(
            &db,
            &["--server", "mx2", "--message-id", "case01@harness.test"]
        ),
        1
    );
}

#[test]
fn export_csv_is_utc_and_one_row_per_recipient() {
    let (_d, db) = loaded();
    let csv = ok(&db, &["export", "--to", "@reject.test"]);
    let mut rows = csv.lines();
    assert!(rows
        .next()
        .unwrap()
        .starts_with("received_at,server,queue_id"));
    let rows: Vec<&str> = rows.collect();
    assert!(rows.len() >= 5);
    assert!(
        rows.iter().all(|r| r.contains("T") && r.contains("Z,mx,")),
        "{csv}"
    );
    let json = ok(&db, &["export", "--format", "json", "--status", "deferred"]);
    for l in json.lines() {
        let m: Value = serde_json::from_str(l).unwrap();
        assert!(m["received_at"].as_str().unwrap().ends_with('Z'));
    }
    assert!(json.lines().count() >= 6);
}

#[test]
fn ingest_summary_agrees_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let harness = root().join("testdata/postfix/harness.log");
    let hostile = root().join("testdata/postfix/hostile.log");
    let summary: Value = serde_json::from_str(&ok(
        &db,
        &[
            "ingest",
            "--quiet",
            "--json",
            harness.to_str().unwrap(),
            hostile.to_str().unwrap(),
        ],
    ))
    .unwrap();
    let stats: Value = serde_json::from_str(&ok(&db, &["stats"])).unwrap();
    // Messages still queued after the first file stay queued when another file follows.
    assert_eq!(summary["open"], stats["open"]);
    assert_eq!(stats["open"], 6);
    assert_eq!(
        summary["messages"].as_u64().unwrap() + summary["open"].as_u64().unwrap(),
        stats["messages"].as_u64().unwrap()
    );
}
