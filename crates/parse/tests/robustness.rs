//! Garbage in, no panic out: `syslog::parse` and `postfix::parse` (and the lazy accessors of a
//! [`postfix::Record`]) over random bytes, every prefix and suffix of every real corpus line, NUL
//! bytes, and 1 MB lines. Long lines must also stay fast: nothing quadratic.

#![allow(clippy::unwrap_used)]

use mailtrace_parse::{postfix, syslog};
use std::time::{Duration, Instant};

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora/");

/// Program tags: every daemon the parser knows, plus instance and service-name variants.
const TAGS: &[&str] = &[
    "postfix/smtpd",
    "postfix/submission/smtpd",
    "postfix-out/smtp",
    "postfix/smtp",
    "postfix/lmtp",
    "postfix/local",
    "postfix/virtual",
    "postfix/pipe",
    "postfix/error",
    "postfix/discard",
    "postfix/qmgr",
    "postfix/cleanup",
    "postfix/pickup",
    "postfix/bounce",
    "postfix/postsuper",
    "postfix/postscreen",
    "postfix/dnsblog",
    "postfix/anvil",
    "postfix/scache",
    "postfix/tlsmgr",
    "postfix/tlsproxy",
    "postfix/master",
    "postfix/postfix-script",
    "postfix/verify",
    "postfix/trivial-rewrite",
    "postfix/sendmail",
    "custom/smtpd",
    "postfix",
    "",
    "/",
    "postfix//",
];

/// Prefixes that steer garbage into the deeper rules.
const LEADS: &[&str] = &[
    "",
    "3F1C22E0A5F: ",
    "48rT2v1hQrz1J0N: ",
    "NOQUEUE: ",
    "NOQUEUE: reject: RCPT from ",
    "3F1C22E0A5F: to=<",
    "3F1C22E0A5F: from=<",
    "3F1C22E0A5F: client=",
    "3F1C22E0A5F: milter-reject: END-OF-MESSAGE from ",
    "3F1C22E0A5F: info: header ",
    "3F1C22E0A5F: host x[",
    "warning: ",
    "warning: 3F1C22E0A5F: ",
    "warning: unknown[",
    "connect from ",
    "disconnect from ",
    "lost connection after ",
    "Anonymous TLS connection established from ",
    "connect to ",
    "PREGREET 1 after 0 from [",
    "CONNECT from [",
    "addr ",
    "statistics: max connection rate 1/60s for (",
    "proxy-accept: ",
    "improper command pipelining after ",
    "hostname ",
];

/// Parse `text` as every program, and call every accessor of the record.
fn exercise(text: &str) {
    for tag in TAGS {
        exercise_as(tag, text);
    }
}

fn exercise_as(tag: &str, text: &str) {
    let _ = mailtrace_parse::exim::parse(text);
    let _ = mailtrace_parse::sendmail::parse(text);
    if let Some(rec) = postfix::parse(tag, text) {
        let _ = (
            rec.client(),
            rec.server(),
            rec.stage(),
            rec.reply(),
            rec.envelope(),
        );
    }
}

/// Parse `line` as a syslog line, then its text as the program it names; and as a line of
/// the per-file formats (SmarterMail, transcripts).
fn exercise_line(line: &str) {
    let _ = mailtrace_parse::smartermail::parse(line);
    let _ = mailtrace_parse::transcript::parse(line);
    let mut ctx = syslog::Context::new(2024, jiff::tz::TimeZone::UTC);
    if let Some(env) = syslog::parse(line, &mut ctx) {
        exercise_as(env.program, env.text);
    }
}

/// Regression: `syslog::num` used to overflow (and panic in debug builds) on a PRI, pid or
/// RFC 5424 PROCID of ten or more digits, found by `every_prefix_and_suffix_of_real_lines`.
#[test]
fn syslog_num_overflow_is_fixed() {
    for line in [
        "<153915476795520900002087@example.aaa>",
        "Jan  1 00:00:00 mx postfix/smtpd[99999999999]: x",
        "1 2024-01-01T00:00:00Z mx postfix/qmgr 99999999999 - - x",
    ] {
        let mut ctx = syslog::Context::new(2024, jiff::tz::TimeZone::UTC);
        let _ = syslog::parse(line, &mut ctx);
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random bytes, half of the time from the characters the rules split on.
fn garbage(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] =
        b"[]<>():;,=/ .-_0123456789abcdefABCDEFxX@\\\r\n\t\0 fromtoFROMrelaystatus";
    let len = rng.below(200);
    let mut bytes = Vec::with_capacity(len);
    for _ in 0..len {
        let b = if rng.below(2) == 0 {
            ALPHABET[rng.below(ALPHABET.len())]
        } else {
            rng.next() as u8
        };
        bytes.push(b);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3_000 {
        let g = garbage(&mut rng);
        exercise(&g);
        for lead in LEADS {
            let text = format!("{lead}{g}");
            exercise_as(TAGS[rng.below(TAGS.len())], &text);
            exercise_as("postfix/smtpd", &text);
            exercise_as("postfix/smtp", &text);
        }
        exercise_line(&g);
        exercise_line(&format!("Jan  1 00:00:00 mx postfix/smtpd[1]: {g}"));
        exercise_line(&format!(
            "<22>1 2024-01-01T00:00:00Z mx postfix/qmgr 1 - {g}"
        ));
        exercise_line(&format!("2024-01-01T00:00:00.5+01:00 {g}"));
        exercise_line(&format!("[2024.01.01] 00:00:00 [1.2.3.4][5] {g}"));
        exercise_line(&format!("[2024.01.01] 00:00:00 [5] {g}"));
        exercise_line(&format!("2024-01-01 00:00:00,000 - [ 5] {g}"));
        let _ = mailtrace_parse::format::detect(g.as_bytes());
    }
}

/// Every line of every corpus file (the `data:` of the grok cases, the lines of the logs).
fn corpus_lines() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(CORPORA)];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (is ../shared beside the repo?)", dir.display()));
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let name = path.display().to_string();
            if name.ends_with(".yaml") {
                let v: serde_yaml::Value = serde_yaml::from_str(&text).expect("grok YAML");
                if let Some(data) = v.get("data").and_then(|d| d.as_str()) {
                    out.push((name, data.to_owned()));
                }
            } else {
                // Exim's test suite (835 files) has no syslog envelope: a sample suffices.
                let limit = match (name.contains("/exim/"), name.ends_with('0')) {
                    (true, true) => 12,
                    (true, false) => 0,
                    _ => usize::MAX,
                };
                out.extend(
                    text.lines()
                        .take(limit)
                        .map(|l| (name.clone(), l.to_owned())),
                );
            }
        }
    }
    assert!(out.len() > 500, "only {} corpus lines", out.len());
    out
}

#[test]
fn every_prefix_and_suffix_of_real_lines() {
    let lines = corpus_lines();
    let n = lines.len();
    for (_file, line) in lines {
        let bounds: Vec<usize> = line
            .char_indices()
            .map(|(i, _)| i)
            .chain([line.len()])
            .collect();
        for &i in &bounds {
            let (head, tail) = (&line[..i], &line[i..]);
            exercise_line(head);
            exercise_line(tail);
            for tag in ["postfix/smtpd", "postfix/smtp"] {
                exercise_as(tag, head);
                exercise_as(tag, tail);
            }
        }
    }
    println!("{n} corpus lines cut at every char boundary");
}

#[test]
fn nul_bytes_never_panic() {
    for (_file, line) in corpus_lines().into_iter().step_by(3) {
        let bounds: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
        for &i in bounds.iter().step_by(2) {
            let inserted = format!("{}\0{}", &line[..i], &line[i..]);
            exercise_line(&inserted);
            exercise_as("postfix/smtpd", &inserted);
            let c = line[i..].chars().next().map_or(0, char::len_utf8);
            let replaced = format!("{}\0{}", &line[..i], &line[i + c..]);
            exercise_line(&replaced);
            exercise_as("postfix/smtp", &replaced);
        }
    }
    exercise(&"\0".repeat(1000));
    exercise_line(&"\0".repeat(1000));
}

/// 1 MB lines of repeated patterns, each parsed well within a second even in a debug build.
#[test]
fn one_megabyte_lines_never_panic() {
    const MB: usize = 1 << 20;
    let fill = |unit: &str| unit.repeat(MB / unit.len().max(1) + 1);
    let real = "7EE668039: to=<admin@example.com>, relay=127.0.0.1[127.0.0.1]:2525, delay=3.6, delays=0.2/0.02/0.04/3.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 153053D) ";
    let bodies = vec![
        fill("a"),
        fill("["),
        fill("]"),
        fill("[1.2.3.4]:"),
        fill(": "),
        fill(">, "),
        fill(" from unknown[1.2.3.4]"),
        fill("\0"),
        fill("é"),
        fill(real),
        format!("NOQUEUE: reject: RCPT from {}", fill("x")),
        format!("3F1C22E0A5F: to=<{}", fill("x")),
        format!("3F1C22E0A5F: to=<x>, relay={}", fill("r")),
        format!("3F1C22E0A5F: to=<a, {}", fill("x=<b, ")),
        format!("3F1C22E0A5F: from=<a, {}", fill("x=<b, ")),
        format!("3F1C22E0A5F: client=x[1.2.3.4], {}", fill("k=v, ")),
        format!(
            "NOQUEUE: reject: RCPT from x[1.2.3.4]: 550 x; {}",
            fill("from=<a> ")
        ),
        format!("3F1C22E0A5F: info: header Subject: {}", fill("; from=<")),
        format!(
            "3F1C22E0A5F: host mx[1.2.3.4] said: {}",
            fill("(in reply to ")
        ),
        format!(
            "warning: {}",
            fill("hostname x does not resolve to address ")
        ),
        format!("statistics: max connection rate 1/60s for ({}", fill("a:")),
        format!("PREGREET 1 after 0 from [1.2.3.4]:5: {}", fill("x")),
        format!("improper command pipelining after {}", fill("X after ")),
        format!("proxy-accept: {}", fill("END-OF-MESSAGE: ")),
    ];
    let mut slowest = (Duration::ZERO, String::new());
    for body in &bodies {
        let start = Instant::now();
        for tag in ["postfix/smtpd", "postfix/smtp", "postfix/postscreen"] {
            exercise_as(tag, body);
        }
        exercise_line(&format!("Jan  1 00:00:00 mx postfix/cleanup[1]: {body}"));
        for lead in [
            "[2024.01.01] 00:00:00 [1.2.3.4][5] cmd: RCPT TO:<",
            "[2024.01.01] 00:00:00 [1.2.3.4][5] rsp: 250 ",
            "[2024.01.01] 00:00:00 [5] Delivery for a to ",
            "[2024.01.01] 00:00:00 [",
            "2024-01-01 00:00:00,000 - [ 5] S <-- MAIL FROM:<",
            "2024-01-01 00:00:00,000 - [",
        ] {
            exercise_line(&format!("{lead}{body}"));
            let _ = mailtrace_parse::format::detect(format!("{lead}{body}").as_bytes());
        }
        let took = start.elapsed();
        if std::env::var_os("ROBUSTNESS_TIMES").is_some() {
            println!("{took:?} {:?}", body.chars().take(40).collect::<String>());
        }
        if took > slowest.0 {
            slowest = (took, body.chars().take(40).collect());
        }
    }
    // Printed, not asserted: tests never assert on wall-clock time (shared, noisy machines).
    // A quadratic parser shows up here and in the benchmark.
    println!("slowest 1 MB line: {:?} for {:?}...", slowest.0, slowest.1);
}
