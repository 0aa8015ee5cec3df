//! fail2ban's Postfix lines: recognised, with the client fail2ban would ban.

use super::*;

// ---------------------------------------------------------------------------------------------
// fail2ban
// ---------------------------------------------------------------------------------------------

struct Fail2banLine<'a> {
    lineno: usize,
    line: &'a str,
    /// `host` of the `# failJSON:` comment above the line.
    host: Option<String>,
}

fn fail2ban_lines(text: &str) -> Vec<Fail2banLine<'_>> {
    let mut out = Vec::new();
    let mut host = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(json) = line.strip_prefix("# failJSON:") {
            let v: serde_json::Value =
                serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            host = v.get("host").and_then(|h| h.as_str()).map(str::to_owned);
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        out.push(Fail2banLine {
            lineno: i + 1,
            line,
            host: host.take(),
        });
    }
    out
}

#[test]
fn fail2ban_postfix_lines_are_recognised_with_their_client() {
    let text = read("fail2ban/postfix.log");
    let mut ctx = ctx();
    let mut failures = String::new();
    let (mut postfix_lines, mut hosts_checked) = (0, 0);
    for l in fail2ban_lines(&text) {
        let (program, msg) = match syslog::parse(l.line, &mut ctx) {
            Some(env) => (env.program, env.text),
            None => {
                let _ = writeln!(
                    failures,
                    "line {}: no syslog envelope\n  {}",
                    l.lineno, l.line
                );
                continue;
            }
        };
        let Some(rec) = postfix::parse(program, msg) else {
            continue;
        };
        postfix_lines += 1;
        if let Kind::Unrecognized(_) = rec.kind {
            let _ = writeln!(failures, "line {}: Unrecognized\n  {}", l.lineno, l.line);
            continue;
        }
        if let Some(host) = &l.host {
            hosts_checked += 1;
            let got = rec.client().map(|c| c.addr);
            if got != Some(host.as_str()) {
                let _ = writeln!(
                    failures,
                    "line {}: client {got:?}, fail2ban host {host:?}\n  {}\n  {:?}",
                    l.lineno, l.line, rec.kind
                );
            }
        }
    }
    println!(
        "fail2ban/postfix.log: {postfix_lines} Postfix lines, {hosts_checked} client addresses \
         checked"
    );
    // Every non-comment line of the file is Postfix's; 58 of them have a failJSON host.
    assert_eq!(postfix_lines, 63);
    assert_eq!(hosts_checked, 58);
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn fail2ban_other_logs_through_the_envelope_parser() {
    for f in files("fail2ban", ".log") {
        let text = read(&format!("fail2ban/{f}"));
        let mut ctx = ctx();
        let (mut lines, mut envelopes, mut postfix_lines) = (0, 0, 0);
        for l in fail2ban_lines(&text) {
            lines += 1;
            if let Some(env) = syslog::parse(l.line, &mut ctx) {
                envelopes += 1;
                if let Some(rec) = postfix::parse(env.program, env.text) {
                    postfix_lines += 1;
                    let _ = (rec.client(), rec.server(), rec.stage(), rec.reply());
                }
            }
        }
        println!(
            "fail2ban/{f}: {lines} lines, {envelopes} syslog envelopes, {postfix_lines} Postfix"
        );
    }
}
