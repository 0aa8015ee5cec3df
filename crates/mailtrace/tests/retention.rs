//! `mailtrace purge`: the real harness log, dated 40 days ago and again 2 days ago, then
//! purged with limits of 30 days for messages and 10 for raw lines.

use crate::util::{ok, root, value, Server};
use serde_json::Value;
use std::path::Path;

/// The harness log with its BSD dates replaced by RFC 3339 ones, `days` before `now` (the
/// log spans less than a minute of one evening).
fn dated(log: &str, now: jiff::Timestamp, days: i64) -> String {
    let day = (now - jiff::SignedDuration::from_hours(24 * days))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    log.lines()
        .map(|l| format!("{day}T{}+00:00{}\n", &l[7..15], &l[15..]))
        .collect()
}

/// (received_at, open) of every message.
fn messages(db: &Path) -> Vec<(jiff::Timestamp, bool)> {
    ok(db, &["export", "--format", "json"])
        .lines()
        .map(|l| {
            let m: Value = serde_json::from_str(l).unwrap();
            (
                m["received_at"].as_str().unwrap().parse().unwrap(),
                m["open"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// A store of the harness log dated 40 days ago and again 2 days ago: (dir, store, log).
fn old_and_new(now: jiff::Timestamp) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let log = std::fs::read_to_string(root().join("testdata/postfix/harness.log")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Two files (as rotated logs are): the raw log is stored in chunks of consecutive lines,
    // and a file's end ends a chunk, so the old lines are chunks of their own.
    let (old, new) = (dir.path().join("mail.log.1"), dir.path().join("mail.log"));
    std::fs::write(&old, dated(&log, now, 40)).unwrap();
    std::fs::write(&new, dated(&log, now, 2)).unwrap();
    let db = dir.path().join("t.db");
    let files = [old.to_str().unwrap(), new.to_str().unwrap()];
    ok(&db, &["ingest", "--quiet", files[0], files[1]]);
    (dir, db, log)
}

#[test]
fn purge_forgets_old_finished_mail_and_old_lines() {
    let now = jiff::Timestamp::now();
    let (_dir, db, log) = old_and_new(now);

    let month_ago = now - jiff::SignedDuration::from_hours(24 * 30);
    let before = messages(&db);
    let old_finished = before
        .iter()
        .filter(|(at, open)| *at < month_ago && !open)
        .count();
    let recent = before.iter().filter(|(at, _)| *at >= month_ago).count();
    assert!(old_finished > 30 && recent > 30, "{old_finished} {recent}");
    let old_lines = |db: &Path| -> usize {
        let since = (now - jiff::SignedDuration::from_hours(24 * 41)).to_string();
        let until = (now - jiff::SignedDuration::from_hours(24 * 39)).to_string();
        ok(
            db,
            &[
                "lines", "--since", &since, "--until", &until, "--limit", "1000",
            ],
        )
        .lines()
        .filter(|l| l.contains("postfix"))
        .count()
    };
    assert!(old_lines(&db) > 0, "the old period has lines of no message");

    let out = ok(
        &db,
        &["purge", "--older-than", "30d", "--raw-older-than", "10d"],
    );
    let purged: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(purged["messages"], old_finished as u64, "{out}");
    assert!(
        purged["raw_lines"].as_u64().unwrap() >= log.lines().count() as u64,
        "{out}"
    );

    let after = messages(&db);
    // Every recent message stays, and old ones only while still queued.
    assert_eq!(
        after.iter().filter(|(at, _)| *at >= month_ago).count(),
        recent
    );
    assert!(after.iter().all(|(at, open)| *at >= month_ago || *open));
    assert_eq!(after.len(), before.len() - old_finished);
    assert_eq!(old_lines(&db), 0);

    // A second purge has nothing left to do.
    let again: Value = serde_json::from_str(&ok(
        &db,
        &["purge", "--older-than", "30d", "--raw-older-than", "10d"],
    ))
    .unwrap();
    assert_eq!(
        (again["messages"].as_u64(), again["raw_lines"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn serve_purges_in_the_background_while_it_answers() {
    let now = jiff::Timestamp::now();
    let (_dir, db, log) = old_and_new(now);
    let month_ago = now - jiff::SignedDuration::from_hours(24 * 30);
    let before = messages(&db);
    let old_finished = before
        .iter()
        .filter(|(at, open)| *at < month_ago && !open)
        .count();
    assert!(old_finished > 30);

    // A server over a store filled by `ingest` purges only when told to.
    let server = Server::start(&db, &["--retention", "30d", "--raw-retention", "10d"]);
    let mut m = server.metrics();
    for _ in 0..600 {
        if value(&m, "mailtrace_retention_runs_total", &[]) >= 1.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        m = server.metrics();
    }
    assert_eq!(value(&m, "mailtrace_retention_runs_total", &[]), 1.0);
    assert_eq!(
        value(&m, "mailtrace_retention_purged_messages_total", &[]),
        old_finished as f64
    );
    assert!(
        value(&m, "mailtrace_retention_purged_raw_lines_total", &[]) >= log.lines().count() as f64
    );
    let recent: Value = serde_json::from_str(&server.get("/api/v1/messages?when=7d")).unwrap();
    assert!(recent["total"].as_u64().unwrap() > 30, "{recent}");
    server.stop();

    let after = messages(&db);
    assert!(after.iter().all(|(at, open)| *at >= month_ago || *open));
    assert_eq!(after.len(), before.len() - old_finished);

    // Without --retention (and nothing to ingest) it purges nothing.
    let server = Server::start(&db, &[]);
    let m = server.metrics();
    assert_eq!(value(&m, "mailtrace_retention_runs_total", &[]), 0.0);
    server.stop();
}
