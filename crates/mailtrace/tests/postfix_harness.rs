//! The real-Postfix harness: what mailtrace reports must match what the scenario did.

use crate::util::{check_log_against_truth, harness_lock, root};
use std::process::Command;

/// Committed logs of real harness runs against their truths: `harness.log` (also the demo's log)
/// and `harness-2.log`, a run where smtpd's `disconnect` came before cleanup's lines of the
/// message refused for size after DATA (case 16): a line order that broke correlation once.
#[test]
fn committed_harness_logs_match_their_truth() {
    let td = root().join("testdata/postfix");
    for name in ["harness", "harness-2"] {
        let dir = tempfile::tempdir().unwrap();
        let n = check_log_against_truth(
            dir.path(),
            &td.join(format!("{name}.log")),
            &td.join(format!("{name}.truth.jsonl")),
        );
        assert!(n >= 50, "{name}");
    }
}

/// Runs a real Postfix on loopback now (tests/mta/postfix/run.sh) and checks its fresh log.
/// Skips only outside CI when Postfix is not installed; in CI (`CI=true`) it must run.
#[test]
fn live_postfix_run_matches_its_truth() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let have_postfix = std::path::Path::new("/usr/sbin/postfix").exists();
    if !have_postfix {
        assert!(
            !in_ci,
            "CI=true but Postfix is not installed: .ci/run must install it"
        );
        eprintln!("SKIPPED: /usr/sbin/postfix not installed (run scripts/test.sh to install it)");
        return;
    }
    let _one_harness_at_a_time = harness_lock();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let status = Command::new("bash")
        .arg(root().join("tests/mta/postfix/run.sh"))
        .arg(&out)
        .status()
        .expect("run the Postfix harness");
    assert!(
        status.success(),
        "tests/mta/postfix/run.sh failed: {status}"
    );
    let n = check_log_against_truth(
        dir.path(),
        &out.join("postfix.log"),
        &out.join("truth.jsonl"),
    );
    assert!(n >= 50);
}
