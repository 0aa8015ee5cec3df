//! What the benches share: timing a command with its peak memory, and latency percentiles.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall time and peak RSS of a command.
pub struct Measured {
    pub wall: Duration,
    pub peak_rss_kb: u64,
}

/// Run a command to completion, sampling its peak RSS (VmHWM) from /proc.
pub fn measure(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                peak = kb;
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "{cmd:?} failed: {st}");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Measured {
        wall: start.elapsed(),
        peak_rss_kb: peak,
    }
}

/// p50 and p95 in milliseconds of 40 runs of `f`, and its last result.
pub fn latency(f: impl FnMut() -> u64) -> (f64, f64, u64) {
    latency_n(40, f)
}

/// [`latency`] over `n` runs (for slow queries).
#[allow(dead_code)] // not every bench uses it
pub fn latency_n(n: usize, mut f: impl FnMut() -> u64) -> (f64, f64, u64) {
    let mut v = Vec::new();
    let mut last = 0;
    for _ in 0..n {
        let t = Instant::now();
        last = f();
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[v.len() * 95 / 100], last)
}
