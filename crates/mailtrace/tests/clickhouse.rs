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

/// Wait (bounded, generously) until `server` has read `lines` lines of its followed file and
/// committed them: the count reached in an earlier scrape, nothing waiting in a later one (so
/// that a scrape taken while a read was being counted cannot pass for a commit).
fn wait_committed(server: &crate::util::Server, lines: u64) -> prometheus_parse::Scrape {
    use crate::util::value;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut reached = false;
    loop {
        let m = server.metrics();
        let read = value(&m, "mailtrace_lines_read_total", &[("source", "file")]);
        if reached
            && value(&m, "mailtrace_ingest_lag_seconds", &[]) == 0.0
            && value(&m, "mailtrace_ingest_backlog_bytes", &[]) == 0.0
        {
            return m;
        }
        reached = read >= lines as f64;
        assert!(
            std::time::Instant::now() < deadline,
            "the server read {read} of {lines} lines"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The records of a CSV text (RFC 4180: quoted fields, doubled quotes, line breaks in quotes).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// `export --format csv` as (server, queue id, received, recipient, recipient status, status)
/// rows, in the store's order.
fn exported_rows(db: &Path) -> Vec<[String; 6]> {
    let records = csv_records(&ok(db, &["export", "--format", "csv"]));
    let (header, rows) = records.split_first().expect("a CSV header");
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    let cols = [
        "server",
        "queue_id",
        "received_at",
        "recipient",
        "recipient_status",
        "status",
    ]
    .map(col);
    rows.iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{r:?}");
            cols.map(|i| r[i].clone())
        })
        .collect()
}

/// `search ARGS --format json` as (total, sorted messages without their id and server), and
/// the servers named.
fn searched(db: &Path, args: &[&str]) -> (u64, Vec<serde_json::Value>, Vec<String>) {
    let mut q = vec!["search", "--limit", "500", "--format", "json"];
    q.extend_from_slice(args);
    let v: serde_json::Value = serde_json::from_str(&ok(db, &q)).unwrap();
    let total = v["total"].as_u64().unwrap();
    let mut servers = Vec::new();
    let mut messages: Vec<serde_json::Value> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            servers.push(m["server"].as_str().unwrap().to_string());
            let recipients: Vec<serde_json::Value> = m["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| serde_json::json!([r["address"], r["status"], r["attempts"], r["dsn"]]))
                .collect();
            serde_json::json!({
                "queue_id": m["queue_id"],
                "status": m["status"],
                "received_at": m["received_at"],
                "message_id": m["message_id"],
                "sender": m["sender"],
                "open": m["open"],
                "recipients": recipients,
            })
        })
        .collect();
    assert_eq!(messages.len() as u64, total, "one page holds every message");
    messages.sort_by_key(|m| m.to_string());
    servers.sort();
    servers.dedup();
    (total, messages, servers)
}

/// Append `lines` to the file at `path`.
fn append_lines(path: &Path, lines: &[String]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(lines.concat().as_bytes()).unwrap();
    f.flush().unwrap();
}

#[test]
fn two_serve_writers_share_one_database() {
    use crate::util::{value, Server};
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "{}/mailtrace_two_writers_{}",
        url.trim_end_matches('/'),
        std::process::id()
    );
    let ch = Path::new(&db);
    ok(ch, &["migrate"]);

    // The reference: the harness log ingested alone into a store file.
    let harness = root().join("testdata/postfix/harness.log");
    let reference = dir.path().join("reference.db");
    ok(
        &reference,
        &["ingest", "--quiet", harness.to_str().unwrap()],
    );

    // Two servers' logs: the harness log as server "mx" wrote it, and as a server "mx2" (its
    // syslog host field renamed): the same queue ids, times and addresses on two servers.
    // (`serve --server` only names the server of logs whose lines name none.)
    let text = std::fs::read_to_string(&harness).unwrap();
    let mx: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    let mx2: Vec<String> = mx
        .iter()
        .map(|l| {
            // `Nov 24 18:43:30 mx postfix/...`: a 15-character timestamp, then the host.
            assert_eq!(&l[15..19], " mx ", "the host field of {l:?}");
            format!("{} mx2 {}", &l[..15], &l[19..])
        })
        .collect();
    let n = mx.len();
    assert!(n > 300, "{n} lines");
    let (log1, log2) = (dir.path().join("mx1"), dir.path().join("mx2"));
    std::fs::create_dir(&log1).unwrap();
    std::fs::create_dir(&log2).unwrap();
    let (log1, log2) = (log1.join("mail.log"), log2.join("mail.log"));
    // Four chunks, cut inside messages (their lines span chunks, so that the correlators'
    // state is committed with messages still open, and restored on restart).
    let cuts = [0, n / 4, n / 2, 3 * n / 4, n];
    let chunk = |lines: &[String], i: usize| lines[cuts[i]..cuts[i + 1]].to_vec();
    let serve = |writer: &str, log: &Path| {
        Server::start(
            ch,
            &[
                "--writer",
                writer,
                "--follow",
                log.to_str().unwrap(),
                "--retention",
                "off",
            ],
        )
    };
    let commits = |m: &prometheus_parse::Scrape| value(m, "mailtrace_ingest_commits_total", &[]);

    // The first chunk is there when the writers start; the second comes while they run.
    append_lines(&log1, &chunk(&mx, 0));
    append_lines(&log2, &chunk(&mx2, 0));
    let a = serve("mx1", &log1);
    let b = serve("mx2", &log2);
    wait_committed(&a, cuts[1] as u64);
    wait_committed(&b, cuts[1] as u64);
    append_lines(&log1, &chunk(&mx, 1));
    append_lines(&log2, &chunk(&mx2, 1));
    wait_committed(&a, cuts[2] as u64);
    let b_before = wait_committed(&b, cuts[2] as u64);
    assert!(commits(&b_before) >= 2.0, "one commit per chunk at least");

    // mx2's writer is stopped; its server goes on logging; the writer starts again under the
    // same name and resumes from its checkpoint: it reads only the lines written since.
    b.stop();
    append_lines(&log2, &chunk(&mx2, 2));
    append_lines(&log1, &chunk(&mx, 2));
    wait_committed(&a, cuts[3] as u64);
    let b = serve("mx2", &log2);
    let resumed = wait_committed(&b, (cuts[3] - cuts[2]) as u64);
    append_lines(&log1, &chunk(&mx, 3));
    append_lines(&log2, &chunk(&mx2, 3));
    let a_end = wait_committed(&a, n as u64);
    let b_end = wait_committed(&b, (n - cuts[2]) as u64);
    assert_eq!(
        value(
            &resumed,
            "mailtrace_lines_read_total",
            &[("source", "file")]
        ),
        (cuts[3] - cuts[2]) as f64,
        "the restarted writer read only the lines written while it was stopped"
    );
    assert_eq!(
        value(&b_end, "mailtrace_lines_read_total", &[("source", "file")]),
        (n - cuts[2]) as f64
    );
    assert_eq!(
        value(&a_end, "mailtrace_lines_read_total", &[("source", "file")]),
        n as f64
    );
    assert!(commits(&a_end) >= 4.0, "one commit per chunk at least");
    assert!(commits(&b_end) >= 2.0, "one commit per chunk at least");
    for m in [&a_end, &b_end] {
        assert_eq!(value(m, "mailtrace_lines_unparsed_total", &[]), 0.0);
    }
    a.stop();
    b.stop();

    // Twice the reference's counts: stats...
    let stats =
        |db: &Path| -> serde_json::Value { serde_json::from_str(&ok(db, &["stats"])).unwrap() };
    let (want, got) = (stats(&reference), stats(ch));
    assert!(want["messages"].as_u64().unwrap() > 40, "{want}");
    assert_eq!(
        got["messages"].as_u64().unwrap(),
        2 * want["messages"].as_u64().unwrap(),
        "stats: {got} for two servers, {want} for one"
    );
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(
            got[k].as_u64(),
            Some(2 * v.as_u64().unwrap()),
            "stats {k}: {got} for two servers, {want} for one"
        );
    }

    // ...each server's messages as the reference's...
    let (total, want, servers) = searched(&reference, &[]);
    assert_eq!(servers, ["mx"]);
    assert_eq!(searched(ch, &[]).0, 2 * total, "search on both servers");
    for name in ["mx", "mx2"] {
        let (got_total, got, servers) = searched(ch, &["--server", name]);
        assert_eq!(servers, [name], "search --server {name}");
        assert_eq!(got_total, total, "search --server {name}");
        assert_eq!(got, want, "search --server {name}");
    }

    // ...the report's totals...
    let totals = |db: &Path| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&ok(db, &["report", "--format", "json"])).unwrap();
        v["totals"].clone()
    };
    let (want, got) = (totals(&reference), totals(ch));
    for k in [
        "received",
        "delivered",
        "deferred",
        "deferrals",
        "bounced",
        "expired",
        "rejected",
        "still_queued",
        "bytes_received",
        "bytes_delivered",
    ] {
        let w = want[k]
            .as_u64()
            .unwrap_or_else(|| panic!("report {k}: {want}"));
        assert!(w > 0, "report {k}: {want}");
        assert_eq!(
            got[k].as_u64(),
            Some(2 * w),
            "report {k}: {got} for two servers, {want} for one"
        );
    }

    // ...and the export: every recipient row of each server once, none twice.
    let want = exported_rows(&reference);
    let got = exported_rows(ch);
    assert_eq!(got.len(), 2 * want.len(), "export rows");
    let mut keys: Vec<&[String]> = got.iter().map(|r| &r[..4]).collect();
    keys.sort();
    let dup: Vec<_> = keys
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(dup.is_empty(), "exported twice: {dup:?}");
    let of = |rows: &[[String; 6]], server: &str| {
        let mut v: Vec<[String; 5]> = rows
            .iter()
            .filter(|r| r[0] == server)
            .map(|r| [1, 2, 3, 4, 5].map(|i| r[i].clone()))
            .collect();
        v.sort();
        v
    };
    let want = of(&want, "mx");
    for name in ["mx", "mx2"] {
        assert_eq!(of(&got, name), want, "export rows of {name}");
    }
}
