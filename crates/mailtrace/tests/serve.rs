//! `mailtrace serve`, `demo` and `hash-password` as a user runs them: real processes, real
//! HTTP on loopback.

use crate::util::{mailtrace, ok, root};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// A running `mailtrace` server, killed when dropped.
struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `mailtrace ARGS` and wait for the line with the dashboard's URL.
fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .args(args)
        .env("TZ", "UTC")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start mailtrace");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let base = loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "mailtrace ended before serving");
        if let Some(url) = line
            .strip_prefix("mailtrace dashboard: ")
            .and_then(|l| l.split_whitespace().next())
        {
            break url.trim_end_matches('/').to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Running { child, base }
}

fn status_and_body(url: &str, auth: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut res = req.call().expect("request");
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().expect("body"))
}

#[test]
fn demo_serves_the_dashboard_on_the_bundled_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let out = ok(&db, &["demo", "--no-serve"]);
    assert!(out.contains("$ mailtrace show"), "{out}");
    assert!(!out.contains("mailtrace dashboard:"));
    let demo = start(&["demo", "--listen", "127.0.0.1:0"]);
    let (status, page) = status_and_body(&format!("{}/?to=rcpt17%40later.test", demo.base), None);
    assert_eq!(status, 200);
    assert!(page.contains(">1 message<"), "{page}");
    assert!(page.contains("rcpt17@later.test"));
    let (status, api) = status_and_body(&format!("{}/api/v1/stats", demo.base), None);
    assert_eq!(status, 200);
    assert!(api.contains("\"messages\":46"), "{api}");
}

#[test]
fn serve_requires_authentication_beyond_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("s.db");
    let log = root().join("testdata/postfix/harness.log");
    ok(&db, &["ingest", "--quiet", log.to_str().unwrap()]);
    let db_s = db.to_str().unwrap();

    let refused = mailtrace(&db, &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("without authentication"), "{err}");
    let short = mailtrace(&db, &["serve", "--listen", "0.0.0.0:0", "--token", "short"]);
    assert!(String::from_utf8_lossy(&short.stderr).contains("16 characters"));

    // A users file with a hash from `hash-password`.
    let mut hp = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hp.stdin
        .take()
        .unwrap()
        .write_all(b"open sesame\n")
        .unwrap();
    let hashed = hp.wait_with_output().unwrap();
    assert!(hashed.status.success());
    let hash = String::from_utf8(hashed.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let users = dir.join("users");
    std::fs::write(&users, format!("# dashboard users\nann:{}", hash.trim())).unwrap();

    let srv = start(&[
        "--db",
        db_s,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--users",
        users.to_str().unwrap(),
    ]);
    let url = format!("{}/api/v1/messages?limit=1", srv.base);
    assert_eq!(status_and_body(&url, None).0, 401);
    // "ann:open sesame" in base64.
    let (status, body) = status_and_body(&url, Some("Basic YW5uOm9wZW4gc2VzYW1l"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"total\":46"));
    assert_eq!(status_and_body(&url, Some("Basic YW5uOndyb25n")).0, 401);

    // A missing store is an error at start, not at the first request.
    let missing = mailtrace(&dir.join("none.db"), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(missing.status.code(), Some(2));
}
