//! A large realistic Postfix log: the real harness log replayed with renumbered queue ids,
//! Message-IDs and shifted times (used by the benchmark and the crash test).

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Replay `src` until `want` lines are written; returns (lines, bytes).
pub fn replay(src: &Path, out: &Path, want: usize) -> (usize, u64) {
    let text = std::fs::read_to_string(src).expect("harness log");
    let lines: Vec<&str> = text.lines().filter(|l| l.len() > 16).collect();
    // Queue ids of the original, in order of appearance, so each replay gets fresh ones.
    let mut qids: HashMap<String, usize> = HashMap::new();
    for l in &lines {
        for w in l.split(|c: char| !c.is_ascii_alphanumeric()) {
            if w.len() == 11
                && w.bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                && w.bytes().any(|b| b.is_ascii_alphabetic())
            {
                let n = qids.len();
                qids.entry(w.to_string()).or_insert(n);
            }
        }
    }
    let first = parse_time(lines[0]);
    let last = parse_time(lines[lines.len() - 1]);
    let span = (last - first).max(1) + 20;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).expect("create"));
    let (mut n, mut bytes) = (0usize, 0u64);
    let mut k: u64 = 0;
    'outer: loop {
        for l in &lines {
            let t = parse_time(l) + k as i64 * span;
            let body = &l[15..];
            let mut s = String::with_capacity(l.len() + 8);
            s.push_str(&format_time(t));
            for part in split_keep(body) {
                if let Some(idx) = qids.get(part) {
                    s.push_str(&format!(
                        "{:011X}",
                        0x1_0000_0000u64 + k * qids.len() as u64 + *idx as u64
                    ));
                } else if let Some(case) = part
                    .strip_prefix("case")
                    .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
                {
                    s.push_str(&format!("case{case}x{k}"));
                } else {
                    s.push_str(part);
                }
            }
            s.push('\n');
            w.write_all(s.as_bytes()).expect("write");
            bytes += s.len() as u64;
            n += 1;
            if n >= want {
                break 'outer;
            }
        }
        k += 1;
    }
    w.flush().expect("flush");
    (n, bytes)
}

/// Split into alternating runs of alphanumerics and the rest.
fn split_keep(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut alnum = None;
    for (i, c) in s.char_indices() {
        let a = c.is_ascii_alphanumeric();
        if alnum.is_some_and(|x| x != a) {
            out.push(&s[start..i]);
            start = i;
        }
        alnum = Some(a);
    }
    out.push(&s[start..]);
    out
}

/// Seconds of a BSD timestamp within a non-leap year (enough to shift and re-format).
fn parse_time(l: &str) -> i64 {
    let m = MONTHS.iter().position(|m| l.starts_with(m)).unwrap_or(0) as i64;
    let d: i64 = l[4..6].trim().parse().unwrap_or(1);
    let h: i64 = l[7..9].parse().unwrap_or(0);
    let mi: i64 = l[10..12].parse().unwrap_or(0);
    let s: i64 = l[13..15].parse().unwrap_or(0);
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    ((CUM[m as usize] + d - 1) * 86_400) + h * 3600 + mi * 60 + s
}

fn format_time(t: i64) -> String {
    const CUM: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
    let t = t.rem_euclid(365 * 86_400);
    let day = t / 86_400;
    let m = (0..12).rev().find(|&i| CUM[i] <= day).unwrap_or(0);
    let d = day - CUM[m] + 1;
    let r = t % 86_400;
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[m],
        d,
        r / 3600,
        (r / 60) % 60,
        r % 60
    )
}
