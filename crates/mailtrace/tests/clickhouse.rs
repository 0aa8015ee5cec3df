//! The same answers from both stores: the real Postfix harness log ingested into a store file
//! and into a ClickHouse database (`MAILTRACE_TEST_CLICKHOUSE`, started by scripts/test.sh),
//! then searches, details, raw lines, exports and reports compared.

use crate::util::{mailtrace, ok, root};
use std::path::Path;

/// The ClickHouse server, or `None` (skip) outside CI.
fn server() -> Option<String> {
    match std::env::var("MAILTRACE_TEST_CLICKHOUSE") {
        Ok(url) if !url.is_empty() => Some(url.replacen("http://", "clickhouse://", 1)),
        _ => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
                "CI=true but MAILTRACE_TEST_CLICKHOUSE is not set: scripts/test.sh must start ClickHouse"
            );
            eprintln!("MAILTRACE_TEST_CLICKHOUSE is not set: skipping");
            None
        }
    }
}

#[test]
fn the_harness_log_gives_the_same_answers_on_both_stores() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.db");
    let db = format!(
        "{}/mailtrace_cli_{}",
        url.trim_end_matches('/'),
        std::process::id()
    );
    let ch = Path::new(&db);
    let log = root().join("testdata/postfix/harness.log");
    let log = log.to_str().unwrap();
    let migrated = ok(ch, &["migrate"]);
    assert!(migrated.contains("schema version"), "{migrated}");
    assert!(ok(ch, &["migrate"]).contains("up to date"));
    ok(&file, &["ingest", "--quiet", log]);
    ok(ch, &["ingest", "--quiet", log]);
    // Ingesting again adds nothing (checkpoints).
    ok(ch, &["ingest", "--quiet", log]);

    let queries: &[&[&str]] = &[
        &["stats"],
        &["search", "--limit", "100"],
        &["search", "--limit", "5", "--page", "3"],
        &[
            "search",
            "--from",
            "@ok.test",
            "--status",
            "bounced,deferred",
        ],
        &["search", "--from", "<>"],
        &["search", "--to", "rcpt01@ok.test"],
        &["search", "--to", "@reject.test"],
        &["search", "--subject", "DELIVERED"],
        &["search", "--queue-id", "E920398C261"],
        &["search", "--message-id", "case01@harness.test"],
        &["search", "--client", "LOCALHOST"],
        &["search", "--relay", "127.0.0.1"],
        &["search", "--reason", "user unknown"],
        &[
            "search",
            "--server",
            "mx",
            "--since",
            "2026-11-24T18:43:40Z",
            "--until",
            "2026-11-24T18:44:00Z",
        ],
        &["show", "E920398C261", "--raw"],
        &["show", "CD75B98C2A3", "--format", "json"],
        &["export", "--format", "json"],
        &["export", "--format", "csv"],
        &["lines"],
        &["lines", "--kind", "session"],
        &["report", "--format", "json"],
    ];
    for q in queries {
        let a = mailtrace(&file, q);
        let b = mailtrace(ch, q);
        assert!(a.status.success() && b.status.success(), "{q:?}");
        let (a, b) = (
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&b.stdout),
        );
        if q.contains(&"--format") && q.contains(&"json") && q[0] == "show" {
            // Line numbers differ (a ClickHouse writer numbers in a range of its own): the
            // same lines in the same order.
            assert_eq!(
                line_numbers_from_one(&a),
                line_numbers_from_one(&b),
                "{q:?}"
            );
        } else if q[0] == "report" {
            // The store file reports from hourly sums: its first and last are whole hours.
            let strip = |s: &str| {
                let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
                let o = v.as_object_mut().unwrap();
                o.remove("first");
                o.remove("last");
                v
            };
            assert_eq!(strip(&a), strip(&b), "{q:?}");
        } else {
            assert_eq!(a, b, "{q:?}");
        }
    }
}

/// A message as JSON with its line numbers (`no`, `line`) counted from 1.
fn line_numbers_from_one(s: &str) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, f: &mut dyn FnMut(&mut serde_json::Value)) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if (k == "no" || k == "line") && x.is_u64() {
                        f(x);
                    } else {
                        walk(x, f);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
    let mut min = u64::MAX;
    walk(&mut v, &mut |x| min = min.min(x.as_u64().unwrap()));
    walk(&mut v, &mut |x| *x = (x.as_u64().unwrap() - min + 1).into());
    v
}

/// `tests/clickhouse/NAME.sh ARGS` (start or stop a private server).
fn script(name: &str, args: &[&str], ports: (&str, &str)) {
    let st = std::process::Command::new(root().join(format!("tests/clickhouse/{name}.sh")))
        .args(args)
        .env("CH_HTTP_PORT", ports.0)
        .env("CH_TCP_PORT", ports.1)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "tests/clickhouse/{name}.sh {args:?}");
}

/// A server of the test's own, stopped (and its data removed) when dropped.
struct OwnServer(tempfile::TempDir);

impl Drop for OwnServer {
    fn drop(&mut self) {
        let d = self.0.path().to_str().unwrap().to_string();
        script("stop", &[&d, "--kill"], ("18124", "19001"));
    }
}

#[test]
fn an_ingest_survives_a_clickhouse_restart_and_loses_nothing() {
    if server().is_none() {
        return;
    }
    let ports = ("18124", "19001");
    let own = OwnServer(tempfile::tempdir().unwrap());
    let d = own.0.path().to_str().unwrap().to_string();
    script("start", &[&d], ports);
    let store = "clickhouse://127.0.0.1:18124/restart";
    let ch = Path::new(store);
    ok(ch, &["migrate"]);

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    crate::gen::replay(&root().join("testdata/postfix/harness.log"), &log, 100_000);
    let log_s = log.to_str().unwrap();
    let file = dir.path().join("reference.db");
    ok(&file, &["ingest", "--quiet", "--year", "2026", log_s]);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args([
            "--store",
            store,
            "ingest",
            "--quiet",
            "--year",
            "2026",
            "--batch-lines",
            "2000",
            log_s,
        ])
        .env("TZ", "UTC")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once something is committed, kill the server without warning and start it again.
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < 6000, "the ingest never committed anything");
        if let Some(st) = child.try_wait().unwrap() {
            panic!("ingest finished ({st}) before the restart; use a bigger log");
        }
        let out = mailtrace(ch, &["stats"]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if v["messages"].as_u64().unwrap_or(0) > 0 {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    script("stop", &[&d, "--kill"], ports);
    std::thread::sleep(std::time::Duration::from_millis(500));
    script("start", &[&d], ports);
    let st = child.wait().unwrap();
    assert!(
        st.success(),
        "the ingest waited for the server and finished: {st}"
    );

    assert_eq!(ok(ch, &["stats"]), ok(&file, &["stats"]));
    let sorted = |db: &Path| {
        let mut v: Vec<String> = ok(db, &["export", "--format", "json"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(sorted(ch), sorted(&file));
}
