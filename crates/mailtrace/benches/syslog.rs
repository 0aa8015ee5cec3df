//! Syslog receiver benchmark (`cargo bench -p mailtrace --bench syslog`): not a timed test, a
//! measurement.
//!
//! Starts the release `mailtrace serve --syslog-tcp` on loopback over a fresh store and
//! 1. sends 1,000,000 real Postfix lines (the harness log replayed with renumbered queue ids,
//!    two servers on two connections: one octet-counted, one newline-framed) as fast as the
//!    receiver takes them, and measures the sustained throughput until every line is committed,
//!    and the lag (how long after the last line was sent it was committed);
//! 2. sends at a steady rate (20,000 lines/s for 10 s) and samples the ingest lag
//!    (`mailtrace_ingest_lag_seconds`) and the time until a marker line is searchable.
//!
//! Every line must be read: the bench fails on any loss. `MAILTRACE_BENCH_LINES` sets the size
//! of phase 1; `MAILTRACE_BENCH_RATE` the rate of phase 2.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/gen.rs"]
mod gen;

struct Server {
    child: Child,
    http: SocketAddr,
    tcp: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET on loopback (no client library needed for a bench).
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|p| p.1.to_string())
        .unwrap_or_default()
}

/// The value of a sample in Prometheus text: `key` is its name with its labels as printed.
fn metric(text: &str, key: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let n: usize = std::env::var("MAILTRACE_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rate: usize = std::env::var("MAILTRACE_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work).unwrap();
    let log = work.join(format!("syslog-{n}.log"));
    if !log.exists() {
        gen::replay(&root.join("testdata/postfix/harness.log"), &log, n / 2);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    // The network form of each line: `<PRI>` and a server name per connection.
    let stream = |host: &str, counted: bool| -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + n * 12);
        for line in text.lines() {
            let (stamp, rest) = line.split_at(16);
            let msg = format!("<22>{stamp}{host} {}", rest.strip_prefix("mx ").unwrap());
            if counted {
                write!(out, "{} {msg}", msg.len()).unwrap();
            } else {
                writeln!(out, "{msg}").unwrap();
            }
        }
        out
    };
    let streams = [stream("mx1", true), stream("mx2", false)];
    let lines = 2 * text.lines().count();

    let db = work.join("syslog.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let server = start(&db);
    println!("phase 1: {lines} lines over 2 TCP connections, as fast as they are taken");
    let t0 = Instant::now();
    let senders: Vec<_> = streams
        .into_iter()
        .map(|bytes| {
            let tcp = server.tcp;
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(tcp).unwrap();
                c.write_all(&bytes).unwrap();
            })
        })
        .collect();
    // Sample the lag while the lines come in.
    let mut lags = Vec::new();
    let mut sent_at = None;
    let stored_at = loop {
        let m = get(server.http, "/metrics");
        let read = metric(&m, "mailtrace_lines_read_total{source=\"syslog\"}");
        let lag = metric(&m, "mailtrace_ingest_lag_seconds");
        lags.push(lag);
        if sent_at.is_none() && senders.iter().all(|s| s.is_finished()) {
            sent_at = Some(t0.elapsed());
        }
        if read >= lines as f64 && lag == 0.0 && sent_at.is_some() {
            break t0.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for s in senders {
        s.join().unwrap();
    }
    let m = get(server.http, "/metrics");
    let received = metric(&m, "mailtrace_syslog_received_lines_total");
    let read = metric(&m, "mailtrace_lines_read_total{source=\"syslog\"}");
    assert_eq!(received as usize, lines, "lines lost before the receiver");
    assert_eq!(read as usize, lines, "lines lost in the receiver");
    let sent_at = sent_at.unwrap();
    lags.sort_by(f64::total_cmp);
    println!(
        "  sent in {:.2} s; all committed after {:.2} s: {:.0} lines/s sustained, zero loss ({} received, {} committed)",
        sent_at.as_secs_f64(),
        stored_at.as_secs_f64(),
        lines as f64 / stored_at.as_secs_f64(),
        received,
        read
    );
    println!(
        "  lag after the last line was sent: {:.2} s; ingest lag while loaded: p50 {:.2} s, max {:.2} s",
        (stored_at - sent_at).as_secs_f64(),
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );

    println!(
        "  CPU seconds by thread: {}",
        threads_cpu(server.child.id())
    );
    println!("phase 2: {rate} lines/s for 10 s over one connection");
    let second: Vec<&str> = text.lines().collect();
    let mut c = TcpStream::connect(server.tcp).unwrap();
    let t1 = Instant::now();
    let mut lags = Vec::new();
    let mut next_sample = Duration::ZERO;
    let total = rate * 10;
    for (i, line) in second.iter().cycle().take(total).enumerate() {
        let (stamp, rest) = line.split_at(16);
        writeln!(c, "<22>{stamp}mx3 {}", rest.strip_prefix("mx ").unwrap()).unwrap();
        // Pace: line i is due at i / rate seconds.
        let due = Duration::from_secs_f64(i as f64 / rate as f64);
        if i % 1000 == 0 {
            if let Some(wait) = due.checked_sub(t1.elapsed()) {
                std::thread::sleep(wait);
            }
            if t1.elapsed() >= next_sample {
                let m = get(server.http, "/metrics");
                lags.push(metric(&m, "mailtrace_ingest_lag_seconds"));
                next_sample += Duration::from_millis(100);
            }
        }
    }
    let marker = format!(
        "<22>{} mx3 postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <marker@bench.test>: Relay access denied; from=<marker@bench.test> to=<x@y.test> proto=ESMTP helo=<bench>\n",
        jiff::Timestamp::now().strftime("%b %e %H:%M:%S")
    );
    let sent = Instant::now();
    c.write_all(marker.as_bytes()).unwrap();
    let searchable = loop {
        let r = get(server.http, "/api/v1/messages?from=marker%40bench.test");
        if r.contains("marker@bench.test") {
            break sent.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    lags.sort_by(f64::total_cmp);
    println!(
        "  ingest lag: p50 {:.3} s, p95 {:.3} s, max {:.3} s; a line was searchable {:.2} s after it was sent",
        lags[lags.len() / 2],
        lags[lags.len() * 95 / 100],
        lags[lags.len() - 1],
        searchable.as_secs_f64()
    );
    println!(
        "  CPU seconds by thread, both phases: {}",
        threads_cpu(server.child.id())
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or("VmHWM: ?");
    println!(
        "  server peak memory: {}",
        hwm.trim_start_matches("VmHWM:").trim()
    );
}

/// CPU time (user + system) of each thread name of a process, busiest first.
fn threads_cpu(pid: u32) -> String {
    let tick = 100.0; // USER_HZ
    let mut by: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let cpu = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
        *by.entry(name).or_default() += cpu / tick;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.iter()
        .map(|(n, c)| format!("{n} {c:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn start(db: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("--db")
        .arg(db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--syslog-tcp",
            "127.0.0.1:0",
            "--retention",
            "off",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut http, mut tcp) = (None, None);
    let mut line = String::new();
    while http.is_none() || tcp.is_none() {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve ended");
        if let Some(u) = line.strip_prefix("mailtrace dashboard: http://") {
            http = u.split('/').next().and_then(|a| a.parse().ok());
        } else if let Some(a) = line
            .trim()
            .strip_prefix("mailtrace syslog receiver: tcp://")
        {
            tcp = a.parse().ok();
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Server {
        child,
        http: http.unwrap(),
        tcp: tcp.unwrap(),
    }
}
