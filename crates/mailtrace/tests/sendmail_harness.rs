//! The real-Sendmail harness (issue 5): what mailtrace reports must match what the scenario
//! did (tests/mta/sendmail: a Debian Sendmail unpacked, never installed, on loopback).

use crate::util::{check_mta_log_against_truth, harness_lock, ok, root, Mta};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Where tests/mta/sendmail/install.sh unpacks Sendmail.
const SENDMAIL_ROOT: &str = "/opt/mailtrace-sendmail";

/// Is `CI` set to true? Then the test that needs a real Sendmail must run, never skip.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The committed log of a real harness run against its truth.
#[test]
fn committed_sendmail_harness_log_matches_its_truth() {
    let td = root().join("testdata/sendmail");
    let dir = tempfile::tempdir().unwrap();
    let n = check_mta_log_against_truth(
        Mta::Sendmail,
        dir.path(),
        &td.join("harness.log"),
        &td.join("harness.truth.jsonl"),
    );
    assert_eq!(n, 34);
}

/// The notifications of the committed run (each bounce and expiry sent one DSN from `<>` to
/// the sender, linked to the message it reports on, and delivered) and the clients.
#[test]
fn committed_sendmail_harness_notifications_and_clients() {
    let td = root().join("testdata/sendmail");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    ok(
        &db,
        &["ingest", "-q", td.join("harness.log").to_str().unwrap()],
    );
    let messages: Vec<Value> = ok(&db, &["export", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_id = |id: &Value| messages.iter().find(|m| &m["id"] == id);
    let dsns: Vec<&Value> = messages
        .iter()
        .filter(|m| !m["bounce_of"].is_null())
        .collect();
    // case05, case08, case16, case19 bounced; case06, case07, case15 were late (a warning
    // after Timeout.queuewarn), then expired (`sender notify: Cannot send message for`).
    assert_eq!(dsns.len(), 10, "{dsns:#?}");
    let mut reported: Vec<String> = Vec::new();
    for d in dsns {
        assert_eq!(d["sender"], "");
        let parent = by_id(&d["bounce_of"]).expect("the message reported on");
        // The DSN goes back to the original sender and is delivered by the ok.test sink.
        let r = &d["recipients"][0];
        assert_eq!(r["address"], parent["sender"]);
        assert_eq!(r["status"], "delivered");
        reported.push(parent["message_id"].as_str().unwrap().to_string());
    }
    reported.sort();
    let want: Vec<String> = [5, 6, 6, 7, 7, 8, 15, 15, 16, 19]
        .iter()
        .map(|n| format!("<case{n:02}@harness.test>"))
        .collect();
    assert_eq!(reported, want);

    let case = |n: u32| {
        let id = format!("<case{n:02}@harness.test>");
        messages
            .iter()
            .find(|m| m["message_id"] == id.as_str() && m["status"] != "rejected")
            .unwrap_or_else(|| panic!("{id}"))
    };
    // The STARTTLS line comes before the session has a queue id: joined by process id.
    assert_eq!(
        case(21)["tls"],
        "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
    );
    assert!(case(1)["tls"].is_null());
    // A local submission (`relay=root@localhost`) and a client on loopback.
    assert_eq!(case(20)["client"], "local");
    assert_eq!(case(1)["client"], "localhost");
    assert_eq!(case(1)["client_ip"], "127.0.0.1");
    assert_eq!(case(18)["sender"], "");
    // case 22: the submission program queued it and relayed it to the daemon, which named
    // its queue id in its reply (`Sent (ID Message accepted for delivery)`): the daemon's
    // copy comes from the submission's.
    let copies: Vec<&Value> = messages
        .iter()
        .filter(|m| m["message_id"] == "<case22@harness.test>")
        .collect();
    assert_eq!(copies.len(), 2);
    let msp = copies.iter().find(|m| m["client"] == "local").unwrap();
    let mta = copies.iter().find(|m| m["client"] == "localhost").unwrap();
    assert_eq!(mta["parent_id"], msp["id"]);
    assert_eq!(msp["recipients"][0]["relay"], "127.0.0.1[127.0.0.1]");
    assert_eq!(mta["recipients"][0]["relay"], "127.0.0.51[127.0.0.51]");
}

/// Runs a real Sendmail on loopback now (tests/mta/sendmail/run.sh, about 45 s) and checks
/// its fresh log. Skips only outside CI when Sendmail is not unpacked; in CI it must run.
#[test]
fn live_sendmail_run_matches_its_truth() {
    let sendmail = Path::new(SENDMAIL_ROOT).join("usr/libexec/sendmail/sendmail");
    if !sendmail.exists() {
        assert!(
            !in_ci(),
            "CI=true but {} is missing: scripts/test.sh must unpack it (tests/mta/sendmail/install.sh)",
            sendmail.display()
        );
        eprintln!(
            "SKIPPED: {} not unpacked (scripts/test.sh does it: tests/mta/sendmail/install.sh)",
            sendmail.display()
        );
        return;
    }
    let _one_harness_at_a_time = harness_lock();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let status = Command::new("bash")
        .arg(root().join("tests/mta/sendmail/run.sh"))
        .arg(&out)
        .status()
        .expect("run the Sendmail harness");
    assert!(
        status.success(),
        "tests/mta/sendmail/run.sh failed: {status}"
    );
    let n = check_mta_log_against_truth(
        Mta::Sendmail,
        dir.path(),
        &out.join("sendmail.log"),
        &out.join("truth.jsonl"),
    );
    assert_eq!(n, 34);
}
