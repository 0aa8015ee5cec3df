//! The real-Exim harness (issue 5): what mailtrace reports must match what the scenario did.

use crate::util::{check_mta_log_against_truth, root, Mta};
use std::path::Path;
use std::process::Command;

/// Where tests/mta/exim/install.sh unpacks Exim (and its Perl tools).
pub const EXIM_ROOT: &str = "/opt/mailtrace-exim";

/// Is `CI` set to true? Then the tests that need a real Exim must run, never skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Is `path` there? If not, panics in CI and tells why it skips elsewhere.
pub fn have(path: &Path, what: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        !in_ci(),
        "CI=true but {} is missing: scripts/test.sh must install {what} (tests/mta/exim/install.sh)",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} not installed (run scripts/test.sh to install {what})",
        path.display()
    );
    false
}

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
    if !have(&exim, "Exim") {
        return;
    }
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
