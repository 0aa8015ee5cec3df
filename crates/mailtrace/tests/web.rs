//! The web dashboard in a real browser: `mailtrace serve` over a store of the harness log and
//! a log of hostile messages, driven by `tests/web/e2e.mjs` (playwright-core, headless
//! Chromium). Skips outside CI when Node.js or Chromium is missing; in CI (`CI=true`) it must
//! run.

use crate::util::{ok, root};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the server may take to print its URL.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `npm ci` and the browser run may take (e2e.mjs also bounds itself).
const RUN_TIMEOUT: Duration = Duration::from_secs(420);

/// A child process that is killed (and reaped) when the guard goes out of scope, whatever
/// happened in between.
struct KillOnDrop {
    child: Child,
    what: &'static str,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        eprintln!("web: {} stopped", self.what);
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn works(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What is missing to run the browser test, if anything.
fn missing() -> Option<String> {
    if !works("node") {
        return Some("Node.js (`node`) not found".into());
    }
    let chromium = chromium();
    if !chromium.exists() {
        return Some(format!(
            "{} not found (Debian package chromium)",
            chromium.display()
        ));
    }
    if !root().join("tests/web/node_modules").exists() && !works("npm") {
        return Some("tests/web/node_modules missing and no `npm` to install it".into());
    }
    None
}

/// Run `cmd` with its output in `log`, killing it after `timeout`.
fn run_logged(mut cmd: Command, log: &Path, what: &'static str, timeout: Duration) -> ExitStatus {
    let file = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut guard = KillOnDrop { child, what };
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = guard.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} still running after {timeout:?}; output so far:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start `mailtrace serve` on a free loopback port; returns the guard and the base URL.
fn serve(db: &Path) -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TZ", "UTC")
        .env_remove("MAILTRACE_TZ")
        .env_remove("MAILTRACE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start mailtrace serve");
    let stdout = child.stdout.take().unwrap();
    let guard = KillOnDrop {
        child,
        what: "mailtrace serve",
    };
    let (tx, rx) = mpsc::channel();
    // Reads the URL, then keeps draining stdout so that the server never blocks on it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("mailtrace dashboard: ") {
                let url = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(START_TIMEOUT)
        .expect("mailtrace serve printed no `mailtrace dashboard: URL` line");
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.starts_with("http://127.0.0.1:0/"),
        "unexpected dashboard URL {url:?}"
    );
    (guard, url.trim_end_matches('/').to_string())
}

#[test]
fn dashboard_in_headless_chromium() {
    if let Some(what) = missing() {
        assert!(
            !in_ci(),
            "CI=true but the browser test cannot run: {what}. scripts/test.sh installs Chromium \
             (apt-get install chromium) and the npm packages (npm ci in tests/web)"
        );
        eprintln!("skipped: {what} (scripts/test.sh installs what the dashboard test needs)");
        return;
    }
    let web = root().join("tests/web");
    let dir = tempfile::tempdir().unwrap();
    if !web.join("node_modules").exists() {
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web);
        let log = dir.path().join("npm.log");
        let status = run_logged(npm, &log, "npm ci", RUN_TIMEOUT);
        assert!(
            status.success(),
            "npm ci in tests/web failed ({status}):\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    let db = dir.path().join("web.db");
    let td = root().join("testdata/postfix");
    for log in ["harness.log", "hostile.log"] {
        ok(&db, &["ingest", "--quiet", td.join(log).to_str().unwrap()]);
    }
    let (_server, url) = serve(&db);

    let mut node = Command::new("node");
    node.arg("e2e.mjs")
        .arg(&url)
        .current_dir(&web)
        .env("CHROMIUM", chromium())
        // The live scenario ingests one more real log while its page is open.
        .env("MAILTRACE_BIN", env!("CARGO_BIN_EXE_mailtrace"))
        .env("MAILTRACE_DB", &db)
        .env("MAILTRACE_LATE_LOG", td.join("harness-2.log"));
    let log = dir.path().join("e2e.log");
    let status = run_logged(node, &log, "node e2e.mjs", RUN_TIMEOUT);
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "tests/web/e2e.mjs failed ({status}) against {url}:\n{output}"
    );
    println!("{output}");
}
