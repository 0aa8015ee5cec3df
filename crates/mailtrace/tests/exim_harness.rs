//! The real-Exim harness (issue 5): what mailtrace reports must match what the scenario did.

use crate::util::{check_mta_log_against_truth, harness_lock, ok, root, Mta};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Where tests/mta/exim/install.sh unpacks Exim (and its Perl tools).
const EXIM_ROOT: &str = "/opt/mailtrace-exim";

/// Is `CI` set to true? Then the tests that need a real Exim must run, never skip.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Is `path` there? If not, panics in CI and tells why it skips elsewhere; `what` says what
/// installs it.
fn have(path: &Path, what: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        !in_ci(),
        "CI=true but {} is missing: scripts/test.sh must install it ({what})",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} not installed (scripts/test.sh installs it: {what})",
        path.display()
    );
    false
}

/// What installs Exim and its tools (`exigrep`, `eximstats`: Perl scripts).
const EXIM_INSTALL: &str = "tests/mta/exim/install.sh";
/// What installs the system perl that runs them (Debian has it).
const PERL_INSTALL: &str = "apt-get install perl";

/// The committed log of a real harness run against its truth.
#[test]
fn committed_exim_harness_log_matches_its_truth() {
    let td = root().join("testdata/exim");
    let dir = tempfile::tempdir().unwrap();
    let n = check_mta_log_against_truth(
        Mta::Exim,
        dir.path(),
        &td.join("harness.log"),
        &td.join("harness.truth.jsonl"),
    );
    assert_eq!(n, 65);
}

/// Runs a real Exim on loopback now (tests/mta/exim/run.sh, about 35 s) and checks its fresh
/// log. Skips only outside CI when Exim is not installed; in CI (`CI=true`) it must run.
#[test]
fn live_exim_run_matches_its_truth() {
    let exim = Path::new(EXIM_ROOT).join("usr/sbin/exim4");
    if !have(&exim, EXIM_INSTALL) {
        return;
    }
    let _one_harness_at_a_time = harness_lock();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let status = Command::new("bash")
        .arg(root().join("tests/mta/exim/run.sh"))
        .arg(&out)
        .status()
        .expect("run the Exim harness");
    assert!(status.success(), "tests/mta/exim/run.sh failed: {status}");
    let n = check_mta_log_against_truth(
        Mta::Exim,
        dir.path(),
        &out.join("exim.log"),
        &out.join("truth.jsonl"),
    );
    assert!(n >= 60);
}

/// eximstats' "Grand total summary" (`-nvr`: volumes in bytes) and the sum of its "List of
/// errors" counts (one per `**` line).
#[derive(Debug, Default)]
struct EximStats {
    received_volume: u64,
    received: u64,
    delayed: u64,
    failed: u64,
    delivered_volume: u64,
    delivered_messages: u64,
    delivered_addresses: u64,
    rejects: u64,
    errors: u64,
}

fn eximstats(bin: &Path, log: &Path) -> EximStats {
    let out = Command::new("/usr/bin/perl")
        .arg(bin)
        .args(["-nvr", "-txt"])
        .arg(log)
        .output()
        .expect("run eximstats with perl");
    assert!(
        out.status.success(),
        "eximstats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut s = EximStats::default();
    let mut errors = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| -> u64 {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("eximstats: word {i} of {line:?}"))
        };
        match words.first().copied() {
            // Received  volume  messages  hosts  delayed pct  failed pct
            Some("Received") if words.len() == 8 => {
                (s.received_volume, s.received, s.delayed, s.failed) = (n(1), n(2), n(4), n(6));
            }
            // Delivered  volume  messages  addresses  hosts
            Some("Delivered") if words.len() == 5 => {
                (
                    s.delivered_volume,
                    s.delivered_messages,
                    s.delivered_addresses,
                ) = (n(1), n(2), n(3));
            }
            // Rejects  messages  hosts
            Some("Rejects") if words.len() == 3 => s.rejects = n(1),
            _ => {}
        }
        if line.starts_with("List of errors") {
            errors = true;
        } else if errors && line.starts_with("    ") && !line.starts_with("     ") {
            s.errors += n(0);
        }
    }
    assert!(s.received > 0 && s.rejects > 0, "eximstats said:\n{text}");
    s
}

/// eximstats (Exim's own log summariser, run with the system perl) on the committed harness
/// log against `mailtrace report --file`. Where the two define a figure differently the
/// relation is checked, and the difference explained, instead of equality.
#[test]
fn report_matches_eximstats() {
    let bin = Path::new(EXIM_ROOT).join("usr/sbin/eximstats");
    if !have(&bin, EXIM_INSTALL) || !have(Path::new("/usr/bin/perl"), PERL_INSTALL) {
        return;
    }
    let log = root().join("testdata/exim/harness.log");
    let es = eximstats(&bin, &log);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let report: Value = serde_json::from_str(&ok(
        &db,
        &[
            "report",
            "--file",
            log.to_str().unwrap(),
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let t = &report["totals"];
    let n = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("totals.{k}: {t}"));
    // mailtrace's own view of the messages, for the figures eximstats counts per message.
    ok(&db, &["ingest", "--quiet", log.to_str().unwrap()]);
    let messages: Vec<Value> = ok(&db, &["export", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let recipients = |m: &Value| m["recipients"].as_array().cloned().unwrap_or_default();
    eprintln!("eximstats: {es:?}\nmailtrace: {t}");

    // Received: eximstats counts `<=` lines. mailtrace counts, as pflogsumm does, every message
    // that came in, also the ones refused after DATA that had a queue id already
    // (`QID H=... rejected after DATA`, `QID rejected from <...>: message too big`).
    let refused_with_id = messages
        .iter()
        .filter(|m| m["status"] == "rejected" && !m["queue_id"].is_null())
        .count() as u64;
    assert_eq!(n("received"), es.received + refused_with_id, "received");
    assert_eq!(n("bytes_received"), es.received_volume, "bytes received");

    // Delivered: eximstats' addresses are `=>` and `->` lines, mailtrace counts delivered
    // recipients: the same. eximstats counts a delivery (one `=>` line, with the `->` lines
    // of the other addresses it carried) once for its messages and volume; mailtrace's volume
    // is the message size once per recipient. A delivery is its recipients delivered at the
    // same time to the same relay.
    assert_eq!(
        n("delivered"),
        es.delivered_addresses,
        "delivered addresses"
    );
    let mut deliveries = 0;
    let mut delivery_volume = 0;
    for m in &messages {
        let mut seen = std::collections::HashSet::new();
        for r in recipients(m).iter().filter(|r| r["status"] == "delivered") {
            if seen.insert((r["last_attempt_at"].to_string(), r["relay"].to_string())) {
                deliveries += 1;
                delivery_volume += m["size"].as_u64().unwrap();
            }
        }
    }
    assert_eq!(deliveries, es.delivered_messages, "deliveries");
    assert_eq!(delivery_volume, es.delivered_volume, "delivered volume");
    assert!(n("bytes_delivered") >= es.delivered_volume);

    // Delayed: messages with at least one `==` line, mailtrace's deferred messages: the same
    // (a queue run's `retry time not reached` is no deferral for mailtrace, but it only
    // follows a real one).
    assert_eq!(n("deferred"), es.delayed, "deferred messages");

    // Failed: messages with at least one `**` line. mailtrace tells a recipient that expired
    // (`** rcpt: retry timeout exceeded`) from one that bounced.
    let failed = messages
        .iter()
        .filter(|m| {
            recipients(m)
                .iter()
                .any(|r| r["status"] == "bounced" || r["status"] == "expired")
        })
        .count() as u64;
    assert_eq!(failed, es.failed, "messages with a failed recipient");
    // eximstats lists every `**` line: mailtrace's bounced attempts (a recipient frozen and
    // retried at `ignore_bounce_errors_after` bounces twice) and expired recipients.
    assert_eq!(n("bounced") + n("expired"), es.errors, "** lines");

    // Rejects: eximstats counts every line with an id-less or non-delivery flag that says
    // `rejected`, `refused` or `dropped`, which takes in the outgoing `QID H=host [ip]:port
    // Connection refused` notes of deliveries to a server that is down (its reason
    // "Unknown"). Those are deferrals of ours, not refusals of a client: mailtrace does not
    // count them as rejections.
    let text = std::fs::read_to_string(&log).unwrap();
    let connection_refused = text
        .lines()
        .filter(|l| {
            let w: Vec<&str> = l.splitn(5, ' ').collect();
            w.len() == 5
                && w[3].starts_with("H=")
                && l.ends_with(" Connection refused")
                && mailtrace_parse::exim::is_message_id(w[2])
        })
        .count() as u64;
    assert!(connection_refused > 0);
    assert_eq!(n("rejected") + connection_refused, es.rejects, "rejects");
}

/// `exigrep ID LOG` against `mailtrace show ID`: the same lines. exigrep prints every message
/// with a line that matches, and a bounce's arrival names its parent (`<= <> R=PARENT`), so
/// for a message that bounced it prints the bounce message too, which mailtrace shows as a
/// message of its own (linked by `bounce_of`).
#[test]
fn show_has_the_lines_exigrep_finds() {
    let exigrep = Path::new(EXIM_ROOT).join("usr/sbin/exigrep");
    if !have(&exigrep, EXIM_INSTALL) || !have(Path::new("/usr/bin/perl"), PERL_INSTALL) {
        return;
    }
    let log = root().join("testdata/exim/harness.log");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    ok(&db, &["ingest", "--quiet", log.to_str().unwrap()]);
    let exported: Vec<Value> = ok(&db, &["export", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let raw = |id: &str| -> BTreeSet<String> {
        let shown: Value = serde_json::from_str(&ok(&db, &["show", id, "--format", "json"]))
            .unwrap_or_else(|e| panic!("show {id}: {e}"));
        shown["raw"]
            .as_array()
            .unwrap_or_else(|| panic!("show {id}: no raw lines"))
            .iter()
            .map(|l| l["text"].as_str().unwrap().to_string())
            .collect()
    };
    for (case, id) in [
        ("delivered", "1xZZFm-000809-0H"),
        ("two recipients, -> line", "1xZZFm-000809-0N"),
        ("bounced, with its bounce", "1xZZFp-00080g-2u"),
        (
            "null sender frozen, unfrozen, bounced twice",
            "1xZZFr-000818-1z",
        ),
        ("bounce of case 19, frozen", "1xZZFs-00081E-0B"),
        ("greylisted, then delivered", "1xZZFs-00081H-1S"),
        ("connection refused until it expired", "1xZZFu-00081V-0T"),
        ("still deferred", "1xZZFu-00081b-3B"),
        ("local delivery", "1xZZFw-000826-2A"),
        ("refused after DATA for its size", "1xZZG0-00082L-1I"),
        ("refused by the DATA ACL", "1xZZG0-00082M-2c"),
    ] {
        let out = Command::new("/usr/bin/perl")
            .arg(&exigrep)
            .args(["-l", id])
            .arg(&log)
            .output()
            .expect("run exigrep with perl");
        assert!(out.status.success(), "exigrep {id} failed");
        let found: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            // Blank lines between messages, and `+++ ID has not completed +++` above a message
            // still in the queue (mailtrace's `open`).
            .filter(|l| !l.trim().is_empty() && !l.starts_with("+++ "))
            .map(str::to_string)
            .collect();
        assert!(!found.is_empty(), "{case}: exigrep found nothing for {id}");
        let m = exported
            .iter()
            .find(|m| m["queue_id"] == id)
            .unwrap_or_else(|| panic!("{case}: {id} not exported"));
        let mut shown = raw(id);
        for bounce in exported.iter().filter(|b| b["bounce_of"] == m["id"]) {
            shown.extend(raw(bounce["queue_id"].as_str().unwrap()));
        }
        assert_eq!(
            shown.iter().collect::<Vec<_>>(),
            found.iter().collect::<Vec<_>>(),
            "{case}: mailtrace show {id} (and its bounces) vs exigrep"
        );
    }
}
