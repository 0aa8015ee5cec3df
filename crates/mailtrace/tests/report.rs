//! `mailtrace report` on the real harness log, against the scenario's ground truth and against
//! pflogsumm run on the same log.

use crate::util::{ok, read_truth, root};
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;

/// pflogsumm's "Grand Totals" as label → number (`deferred` also gives `deferrals`).
fn pflogsumm_totals(log: &std::path::Path) -> Option<HashMap<String, u64>> {
    let bin = ["/usr/sbin/pflogsumm", "/usr/bin/pflogsumm"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let out = Command::new(bin).arg(log).output().expect("run pflogsumm");
    assert!(out.status.success(), "pflogsumm failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut totals = HashMap::new();
    for line in text
        .lines()
        .skip_while(|l| !l.starts_with("Grand Totals"))
        .take(25)
    {
        let mut words = line.split_whitespace();
        let (Some(n), Some(label)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let label = match (label, words.next()) {
            ("bytes" | "reject" | "sending" | "recipient", Some(w)) => format!("{label} {w}"),
            _ => label.to_string(),
        };
        if label == "deferred" {
            let rest: String = line.split('(').nth(1).unwrap_or("").to_string();
            if let Some(d) = rest.split_whitespace().next().and_then(|d| d.parse().ok()) {
                totals.insert("deferrals".to_string(), d);
            }
        }
        totals.insert(label, n);
    }
    Some(totals)
}

#[test]
fn report_matches_pflogsumm_and_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let log = root().join("testdata/postfix/harness.log");
    ok(&db, &["ingest", "--quiet", log.to_str().unwrap()]);
    let report = |extra: &[&str]| -> Value {
        let mut args = vec!["report", "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&db, &args)).unwrap()
    };
    let r = report(&[]);
    let t = &r["totals"];
    let n = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("totals.{k}: {t}"));

    // Against the scenario's ground truth (one record per recipient, final status).
    let truth = read_truth(&root().join("testdata/postfix/harness.truth.jsonl"));
    let count = |status: &str| truth.iter().filter(|x| x.status == status).count() as u64;
    assert_eq!(
        n("bounced"),
        count("bounced"),
        "each bounced recipient once"
    );
    assert_eq!(n("expired"), count("expired"));
    assert_eq!(n("rejected"), count("rejected"), "each refusal once");
    // Delivered: the scenario's recipients plus the delivery status notifications that
    // Postfix sent back to senders (from <>, like the scenario's own null-sender case).
    let null = report(&["--from", "<>"]);
    let null_delivered = null["totals"]["delivered"].as_u64().unwrap();
    let scenario_null = truth
        .iter()
        .filter(|x| x.status == "delivered" && x.sender.is_empty())
        .count() as u64;
    assert_eq!(
        n("delivered") - null_delivered,
        count("delivered") - scenario_null
    );
    assert!(
        null_delivered > scenario_null,
        "notifications were delivered too"
    );
    assert_eq!(
        null["totals"]["received"].as_u64().unwrap(),
        truth
            .iter()
            .filter(|x| x.sender.is_empty())
            .map(|x| &x.case)
            .collect::<std::collections::HashSet<_>>()
            .len() as u64,
        "notifications are generated, not received"
    );
    let still_queued = truth.iter().filter(|x| x.status == "deferred").count() as u64;
    assert!(
        n("deferred") >= still_queued,
        "every recipient still queued was deferred"
    );
    assert_eq!(
        r["reject_classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["count"].as_u64().unwrap())
            .sum::<u64>(),
        n("rejected")
    );

    // Against pflogsumm on the same log.
    let Some(p) = pflogsumm_totals(&log) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "pflogsumm must be installed in CI (scripts/test.sh installs it)"
        );
        eprintln!("skipped the pflogsumm comparison: pflogsumm is not installed");
        return;
    };
    for k in [
        "received",
        "delivered",
        "forwarded",
        "deferred",
        "deferrals",
        "bounced",
        "held",
        "discarded",
        "senders",
        "recipients",
    ] {
        assert_eq!(n(k), p[k], "{k}: mailtrace {} vs pflogsumm {}", n(k), p[k]);
    }
    assert_eq!(n("bytes_received"), p["bytes received"]);
    assert_eq!(n("bytes_delivered"), p["bytes delivered"]);
    assert_eq!(n("reject_warnings"), p["reject warnings"]);
    assert_eq!(n("sending_domains"), p["sending hosts/domains"]);
    assert_eq!(n("recipient_domains"), p["recipient hosts/domains"]);
    // Rejected: pflogsumm counts reject lines. A message refused after DATA for its size gets
    // a 552 reply but no reject line from Postfix (only `warning: QUEUEID: queue file size
    // limit exceeded`); mailtrace counts it as refused too.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut size_refused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(": queue file size limit exceeded"))
        .filter_map(|l| l.split("warning: ").nth(1)?.split(':').next())
        .collect();
    size_refused.sort_unstable();
    size_refused.dedup();
    assert_eq!(size_refused.len(), 1, "the harness has one such case");
    assert_eq!(n("rejected"), p["rejected"] + size_refused.len() as u64);

    // The text form carries the same totals.
    let text = ok(&db, &["report"]);
    assert!(
        text.contains(&format!("{:>8}   received", n("received"))),
        "{text}"
    );
    assert!(text.contains("Per-Day Traffic Summary") && text.contains("Rejects by class"));
    // Straight from the log file, without a store: the same statistics.
    let direct: Value = serde_json::from_str(&ok(
        &db,
        &[
            "report",
            "--file",
            log.to_str().unwrap(),
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(direct["totals"], r["totals"]);
    assert_eq!(direct["reject_classes"], r["reject_classes"]);
    assert_eq!(direct["deferral_reasons"], r["deferral_reasons"]);
    assert_eq!(direct["destination_domains"], r["destination_domains"]);
    let html = ok(&db, &["report", "--format", "html"]);
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        10,
        "the charts of the statistics page"
    );
    assert!(html.contains(&format!(
        "<td>received</td><td class=\"n\">{}</td>",
        n("received")
    )));
    assert!(!html.contains("<script"), "no script in a report");
}

/// Kills the SMTP sink when the test ends.
struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn report_by_mail_arrives() {
    let sink_bin = std::path::Path::new("/usr/sbin/smtp-sink");
    if !sink_bin.exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "Postfix's smtp-sink must be installed in CI"
        );
        eprintln!("skipped: /usr/sbin/smtp-sink (Postfix) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let log = root().join("testdata/postfix/harness.log");
    ok(&db, &["ingest", "--quiet", log.to_str().unwrap()]);
    let expected: Value = serde_json::from_str(&ok(&db, &["report", "--format", "json"])).unwrap();

    // Postfix's SMTP sink on a free loopback port, appending every transaction to a file.
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let dump = spool.join("mail.dump");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(sink_bin);
    // smtp-sink refuses to run as root unless told whose privileges to take.
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root_user {
        cmd.args(["-u", "nobody"]);
    }
    cmd.arg("-D")
        .arg(&dump)
        .arg(format!("127.0.0.1:{port}"))
        .arg("5");
    let _sink = Sink(cmd.spawn().expect("start smtp-sink"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "smtp-sink did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let smtp = format!("127.0.0.1:{port}");
    ok(
        &db,
        &[
            "report",
            "--mail-to",
            "postmaster@example.test",
            "--mail-from",
            "mailtrace@example.test",
            "--smtp",
            &smtp,
        ],
    );
    // Unfold headers and undo quoted-printable soft breaks before reading.
    let read = || {
        std::fs::read_to_string(&dump)
            .unwrap_or_default()
            .replace("\r\n", "\n")
            .replace("=\n", "")
            .replace("\n ", " ")
    };
    let mut mail = read();
    while !mail.contains("</html>") {
        assert!(
            std::time::Instant::now() < deadline,
            "no mail in {}: {mail}",
            dump.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        mail = read();
    }
    let t = &expected["totals"];
    assert!(mail.contains("postmaster@example.test"), "{mail}");
    let subject = mail
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .unwrap_or("");
    assert!(
        subject.contains(&format!(
            "{} received, {} delivered",
            t["received"], t["delivered"]
        )),
        "{subject}"
    );
    assert!(mail.contains("Content-Type: text/plain") && mail.contains("Content-Type: text/html"));
    assert!(
        mail.contains(&format!(
            "{:>8}   received",
            t["received"].as_u64().unwrap()
        )),
        "text part"
    );
    assert!(
        mail.contains(&format!(
            "<td>bounced</td><td class=3D\"n\">{}</td>",
            t["bounced"]
        )) || mail.contains(&format!(
            "<td>bounced</td><td class=\"n\">{}</td>",
            t["bounced"]
        )),
        "HTML part: {mail}"
    );
}

/// Lines that belong to no message (a warn-only policy hit inside a session that then sent
/// mail, a warning) count for their time range, from a store as from the file.
#[test]
fn lines_outside_messages_count_for_their_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let harness = std::fs::read_to_string(root().join("testdata/postfix/harness.log")).unwrap();
    let mut log = String::new();
    for (i, line) in harness.lines().enumerate() {
        log.push_str(line);
        log.push('\n');
        if i == 2 {
            // Right after the first `connect from`: the session goes on to send case01.
            log.push_str("Nov 24 18:43:30 mx postfix/smtpd[12242]: NOQUEUE: reject_warning: RCPT from localhost[127.0.0.1]: 450 4.7.1 <rcpt01@ok.test>: Recipient address rejected: would be greylisted; from=<s01@ok.test> to=<rcpt01@ok.test> proto=ESMTP helo=<client.harness.test>\n");
            log.push_str("Nov 24 18:43:30 mx postfix/smtpd[12242]: warning: hostname client.harness.test does not resolve to address 127.0.0.1\n");
        }
    }
    let path = dir.path().join("mail.log");
    std::fs::write(&path, log).unwrap();
    let db = dir.path().join("r.db");
    let p = path.to_str().unwrap();
    ok(&db, &["ingest", "--quiet", "--year", "2026", p]);
    let totals = |args: &[&str]| -> Value {
        let mut a = vec!["report", "--format", "json"];
        a.extend_from_slice(args);
        serde_json::from_str(&ok(&db, &a)).unwrap()
    };
    for source in [vec![], vec!["--file", p, "--year", "2026"]] {
        let r = totals(&source);
        assert_eq!(r["totals"]["reject_warnings"], 1, "{source:?}");
        let resolve = |r: &Value| {
            r["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|w| w["value"].as_str().unwrap().contains("does not resolve"))
                .count()
        };
        assert_eq!(resolve(&r), 1, "{source:?}");
        let mut later = source.clone();
        later.extend(["--since", "2026-11-25"]);
        let r = totals(&later);
        assert_eq!(r["totals"]["reject_warnings"], 0, "{later:?}");
        assert_eq!(resolve(&r), 0, "{later:?}");
        let mut other = source.clone();
        other.extend(["--server", "elsewhere"]);
        assert_eq!(totals(&other)["totals"]["reject_warnings"], 0, "{other:?}");
    }
    if let Some(p) = pflogsumm_totals(&path) {
        assert_eq!(p["reject warnings"], 1, "pflogsumm counts it too");
    }
}
