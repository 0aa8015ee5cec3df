//! Helpers for the CLI tests: run the binary, read the harness truth, compare.

use serde::Deserialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Held by a test while it runs a real MTA harness (tests/mta/*/run.sh): one at a time, as
/// cargo runs the tests of this binary in parallel and each run (about 35 s, timed retries)
/// wants the machine to itself.
pub fn harness_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed run must not fail the next one.
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// Run `mailtrace --db DB ARGS...` in UTC; panics with stderr when it fails unless `may_fail`.
pub fn mailtrace(db: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("TZ", "UTC")
        .env_remove("MAILTRACE_TZ")
        .output()
        .expect("run mailtrace");
    out
}

/// Like [`mailtrace`] but the command must succeed; returns stdout.
pub fn ok(db: &Path, args: &[&str]) -> String {
    let out = mailtrace(db, args);
    assert!(
        out.status.success(),
        "mailtrace {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// One line of a harness truth file.
#[derive(Debug, Deserialize)]
pub struct Truth {
    pub case: String,
    pub message_id: String,
    pub sender: String,
    pub recipient: String,
    pub status: String,
    pub dsn: Option<String>,
    pub relay: Option<String>,
    pub subject: String,
}

pub fn read_truth(path: &Path) -> Vec<Truth> {
    std::fs::read_to_string(path)
        .expect("truth file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("truth line"))
        .collect()
}

/// The MTA that wrote a harness log, for what its truth writes in the MTA's own notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mta {
    Postfix,
    Exim,
    Sendmail,
}

impl Mta {
    /// The truth's relay in mailtrace's notation. mailtrace exports every MTA's relay as Postfix
    /// logs it, `name[addr]:port`, so that one report or `--relay` filter reads the same on
    /// mixed servers; the Exim harness's truth keeps Exim's `H=` form, `name [addr]:port`.
    fn relay(self, truth: &str) -> String {
        match self {
            Mta::Postfix => truth.to_string(),
            Mta::Exim => truth.replacen(" [", "[", 1),
            // Sendmail's `relay=[127.0.0.51] [127.0.0.51]`: a next hop named by its address.
            Mta::Sendmail => match truth.split_once("] [") {
                Some((name, addr)) => format!("{}[{addr}", name.trim_start_matches('[')),
                None => truth.to_string(),
            },
        }
    }
}

/// Ingest `log` into a fresh store in `dir`, then check every truth record against what
/// `mailtrace export --format json` reports. Returns the number of records checked.
pub fn check_log_against_truth(dir: &Path, log: &Path, truth: &Path) -> usize {
    check_mta_log_against_truth(Mta::Postfix, dir, log, truth)
}

/// Does `text` hold an enhanced status code (`5.7.1`)?
fn has_dsn(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit() && c != '.')
        .any(|w| {
            let p: Vec<&str> = w.split('.').collect();
            p.len() == 3
                && matches!(p[0], "2" | "4" | "5")
                && p[1..].iter().all(|x| (1..=3).contains(&x.len()))
        })
}

/// [`check_log_against_truth`] for a log of `mta`. Per truth record: the sender; the
/// recipient's status, dsn and relay (`null` in the truth must be `null` in the export); the
/// subject. A recipient is the envelope recipient as submitted: mailtrace's `orig_to` when
/// routing rewrote it (an alias), else its address.
pub fn check_mta_log_against_truth(mta: Mta, dir: &Path, log: &Path, truth: &Path) -> usize {
    let db = dir.join("truth.db");
    let summary: Value = serde_json::from_str(&ok(
        &db,
        &["ingest", "--quiet", "--json", log.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(
        summary["unparsed"], 0,
        "every line of a real {mta:?} log is understood: {summary}"
    );
    let exported = ok(&db, &["export", "--format", "json"]);
    let messages: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let truth = read_truth(truth);
    assert!(truth.len() >= 30, "scenario too small");
    let mut failures = Vec::new();
    for t in &truth {
        let found = if t.status == "rejected" {
            find_rejected(&messages, t)
        } else {
            messages
                .iter()
                .filter(|m| m["message_id"] == t.message_id.as_str())
                .flat_map(|m| {
                    m["recipients"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |r| (m, r))
                })
                .find(|(_, r)| envelope_recipient(r) == Some(t.recipient.as_str()))
                .map(|(m, r)| (m.clone(), Some(r.clone())))
        };
        let Some((m, r)) = found else {
            failures.push(format!("{}: {} not found", t.case, t.recipient));
            continue;
        };
        let mut diff = Vec::new();
        if m["sender"] != t.sender.as_str() {
            diff.push(format!("sender {} != {}", m["sender"], t.sender));
        }
        match &r {
            Some(r) => {
                if r["status"] != t.status.as_str() {
                    diff.push(format!("status {} != {}", r["status"], t.status));
                }
                if r["dsn"].as_str() != t.dsn.as_deref() {
                    diff.push(format!("dsn {} != {:?}", r["dsn"], t.dsn));
                }
                let relay = r["relay"].as_str().filter(|x| *x != "none");
                let want = t.relay.as_deref().map(|x| mta.relay(x));
                if relay != want.as_deref() {
                    diff.push(format!("relay {relay:?} != {want:?}"));
                }
            }
            None => {
                // Rejected before any recipient was logged (at MAIL, or after DATA by a log
                // line naming none): the message is the rejection, and its reason carries the
                // truth's enhanced status code, or none when the truth has none.
                let reason = m["reason"].as_str().unwrap_or("");
                let dsn_ok = match t.dsn.as_deref() {
                    Some(d) => reason.contains(d),
                    None => !has_dsn(reason),
                };
                if m["status"] != "rejected" || !dsn_ok {
                    diff.push(format!("rejection without recipient: {m}"));
                }
            }
        }
        // A rejection before DATA never saw the Subject, and a refusal after DATA is logged
        // without it: mailtrace reports none then, but never a wrong one.
        // Sendmail logs no subjects at all.
        let subject_ok = m["subject"] == t.subject.as_str()
            || ((t.status == "rejected" || mta == Mta::Sendmail) && m["subject"].is_null());
        if !subject_ok {
            diff.push(format!("subject {} != {:?}", m["subject"], t.subject));
        }
        if !diff.is_empty() {
            failures.push(format!("{} {}: {}", t.case, t.recipient, diff.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} truth records differ:\n{}",
        failures.len(),
        truth.len(),
        failures.join("\n")
    );
    truth.len()
}

/// The recipient as the message was submitted to: `orig_to` when routing rewrote it.
fn envelope_recipient(r: &Value) -> Option<&str> {
    r["orig_to"].as_str().or_else(|| r["address"].as_str())
}

fn find_rejected(messages: &[Value], t: &Truth) -> Option<(Value, Option<Value>)> {
    for m in messages {
        for r in m["recipients"].as_array().into_iter().flatten() {
            if envelope_recipient(r) == Some(t.recipient.as_str()) && r["status"] == "rejected" {
                return Some((m.clone(), Some(r.clone())));
            }
        }
    }
    messages
        .iter()
        .find(|m| {
            m["status"] == "rejected"
                && m["sender"] == t.sender.as_str()
                && m["recipients"].as_array().is_some_and(|a| a.is_empty())
        })
        .map(|m| (m.clone(), None))
}

/// A running `mailtrace serve`, killed when dropped (stopped with SIGTERM by [`Server::stop`]).
pub struct Server {
    pub child: Child,
    pub base: String,
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `mailtrace --db DB serve ARGS --listen 127.0.0.1:0`, once it has printed its addresses.
    pub fn start(db: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mailtrace serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let want = args.iter().filter(|a| a.starts_with("--syslog-")).count();
        let (mut base, mut udp, mut tcp) = (None, None, None);
        let mut line = String::new();
        while base.is_none() || usize::from(udp.is_some()) + usize::from(tcp.is_some()) < want {
            line.clear();
            assert!(
                out.read_line(&mut line).expect("read stdout") > 0,
                "mailtrace serve ended before listening"
            );
            if let Some(url) = line.strip_prefix("mailtrace dashboard: ") {
                base = url
                    .split_whitespace()
                    .next()
                    .map(|u| u.trim_end_matches('/').to_string());
            } else if let Some(a) = line
                .trim()
                .strip_prefix("mailtrace syslog receiver: udp://")
            {
                udp = Some(a.parse().expect("udp address"));
            } else if let Some(a) = line
                .trim()
                .strip_prefix("mailtrace syslog receiver: tcp://")
            {
                tcp = Some(a.parse().expect("tcp address"));
            }
        }
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Server {
            child,
            base: base.expect("dashboard URL"),
            udp,
            tcp,
        }
    }

    pub fn get(&self, path: &str) -> String {
        ureq::get(format!("{}{path}", self.base))
            .call()
            .expect("request")
            .body_mut()
            .read_to_string()
            .expect("body")
    }

    pub fn metrics(&self) -> prometheus_parse::Scrape {
        let text = self.get("/metrics");
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("/metrics parses as Prometheus text")
    }

    /// Wait until the server has read `lines` syslog lines.
    pub fn wait_until_read(&self, lines: u64) {
        for _ in 0..5000 {
            let m = self.metrics();
            if value(&m, "mailtrace_lines_read_total", &[("source", "syslog")]) >= lines as f64 {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the server did not read {lines} syslog lines");
    }

    /// Wait until the server has read `lines` syslog lines and committed them.
    pub fn wait_for_lines(&self, lines: u64) -> prometheus_parse::Scrape {
        let mut last = 0.0;
        for _ in 0..3000 {
            let m = self.metrics();
            let read = value(&m, "mailtrace_lines_read_total", &[("source", "syslog")]);
            let lag = value(&m, "mailtrace_ingest_lag_seconds", &[]);
            if read >= lines as f64 && lag == 0.0 {
                return m;
            }
            last = read;
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server read {last} syslog lines of {lines}");
    }

    /// SIGTERM: the server commits what it read and exits.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(st.success());
        let st = self.child.wait().unwrap();
        assert!(st.success(), "serve exited with {st} on SIGTERM");
    }
}

/// The value of a counter or gauge sample (0 when absent).
pub fn value(m: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a counter or gauge"),
        })
        .sum()
}
