//! Table-driven tests over the real log lines in `shared/corpora/`, read in place.
//!
//! - `postfix-grok-patterns/*.yaml`: one Postfix message per case and the fields the grok patterns
//!   extract; mailtrace must extract the same values (see [`check_field`]).
//! - `fail2ban/postfix.log`: full syslog lines; every Postfix line is recognised, and the client
//!   address matches fail2ban's `host`.
//! - `postfix-youyo/*.log`: complete message flows; every line parses, queue ids and statuses match.
//! - a census of unrecognised lines per corpus file.

#![allow(clippy::unwrap_used)]

use mailtrace_model::AttemptStatus;
use mailtrace_parse::postfix::{self, Kind, PostsuperAction, Record};
use mailtrace_parse::syslog;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `shared/` sits beside the repository (`/work/main` and `/work/shared`; CI clones `../shared`).
const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora/");

fn corpus(rel: &str) -> PathBuf {
    let p = PathBuf::from(CORPORA).join(rel);
    assert!(
        p.exists(),
        "corpus {} not found: the shared folder must sit beside the repository",
        p.display()
    );
    p
}

fn read(rel: &str) -> String {
    let p = corpus(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn files(dir: &str, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(corpus(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    v.sort();
    v
}

fn ctx() -> syslog::Context {
    syslog::Context::new(2005, jiff::tz::TimeZone::UTC)
}

mod fail2ban;
mod grok;
use grok::{grok_cases, grok_program, GROK_FRAGMENTS};
mod youyo;

// ---------------------------------------------------------------------------------------------
// Census
// ---------------------------------------------------------------------------------------------

/// Lines per corpus file: how many have a syslog envelope, how many are Postfix's, and how many
/// of those no rule recognises. Postfix corpora must have none.
#[test]
fn unrecognized_census() {
    let mut report = String::new();
    let mut unrecognized_total = 0;
    let mut count = |name: &str, lines: &mut dyn Iterator<Item = (String, String)>| {
        let (mut n, mut postfix_n, mut unrec) = (0, 0, 0);
        for (program, text) in lines {
            n += 1;
            if let Some(rec) = postfix::parse(&program, &text) {
                postfix_n += 1;
                if let Kind::Unrecognized(t) = rec.kind {
                    unrec += 1;
                    let _ = writeln!(report, "    unrecognized: {program}: {t}");
                }
            }
        }
        unrecognized_total += unrec;
        let _ = writeln!(
            report,
            "{name}: {n} lines, {postfix_n} Postfix, {unrec} unrecognized"
        );
    };

    let cases = grok_cases();
    count(
        "postfix-grok-patterns/*.yaml",
        &mut cases
            .iter()
            .filter(|(f, _)| !GROK_FRAGMENTS.iter().any(|(g, _)| g == f))
            .map(|(f, c)| (grok_program(f), c.data.clone())),
    );
    let syslog_files = [
        "fail2ban",
        "postfix-youyo",
        "sendmail-fluent",
        "vendor-doc-examples",
    ];
    for dir in syslog_files {
        for f in files(dir, ".log") {
            let text = read(&format!("{dir}/{f}"));
            let mut ctx = ctx();
            let mut no_envelope = 0;
            let lines: Vec<(String, String)> = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| match syslog::parse(l, &mut ctx) {
                    Some(e) => Some((e.program.to_owned(), e.text.to_owned())),
                    None => {
                        no_envelope += 1;
                        None
                    }
                })
                .collect();
            count(
                &format!("{dir}/{f} ({no_envelope} without syslog envelope)"),
                &mut lines.into_iter(),
            );
        }
    }
    println!("{report}");
    assert_eq!(unrecognized_total, 0, "{report}");
}
