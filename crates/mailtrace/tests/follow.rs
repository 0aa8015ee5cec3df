//! `ingest --follow`: a writer appends numbered lines while the file is rotated by rename
//! (with lines still written to the old file), then by copytruncate (with lines the follower
//! has not read yet), and the follower is stopped and restarted: every line is stored exactly
//! once.

use crate::util::ok;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn line(n: u32) -> String {
    format!(
        "Dec  5 08:{:02}:{:02} mx app[7]: line {n:06}\n",
        n / 60 % 60,
        n % 60
    )
}

fn write(f: &mut File, range: std::ops::RangeInclusive<u32>) {
    for n in range {
        f.write_all(line(n).as_bytes()).unwrap();
        if n % 50 == 0 {
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    f.flush().unwrap();
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn follow(db: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mailtrace"))
        .arg("--db")
        .arg(db)
        .args(["ingest", "--follow", "--quiet"])
        .arg(log)
        .env("TZ", "UTC")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Stop as a service manager does (SIGTERM) and wait.
fn stop(mut child: Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "follower exited with {exit}");
}

/// The numbers of the stored lines.
fn stored(db: &Path) -> Vec<u32> {
    ok(db, &["lines", "--kind", "other", "--limit", "100000"])
        .lines()
        .filter_map(|l| l.rsplit("line ").next()?.trim().parse().ok())
        .collect()
}

/// Wait (bounded) until `n` lines are stored.
fn wait_for(db: &Path, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = stored(db);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assert_each_once(mut got: Vec<u32>, n: u32) {
    got.sort_unstable();
    let want: Vec<u32> = (1..=n).collect();
    if got != want {
        let dup: Vec<_> = got
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        let missing: Vec<_> = want
            .iter()
            .filter(|n| got.binary_search(n).is_err())
            .collect();
        panic!(
            "{} lines stored for {n} written; duplicated {dup:?}, missing {missing:?}",
            got.len()
        );
    }
}

#[test]
fn rotation_and_restart_lose_and_repeat_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let log = dir.path().join("mail.log");
    let rotated = dir.path().join("mail.log.1");
    // The follower starts before the file exists.
    let child = follow(&db, &log);
    let mut f = append(&log);
    write(&mut f, 1..=300);
    assert_each_once(wait_for(&db, 300), 300);

    // Rotation by rename; the MTA writes a few more lines to the old file before it reopens.
    std::fs::rename(&log, &rotated).unwrap();
    write(&mut f, 301..=330);
    let mut f = append(&log);
    write(&mut f, 331..=600);
    assert_each_once(wait_for(&db, 600), 600);

    // copytruncate right after lines the follower may not have read yet.
    std::fs::rename(&rotated, dir.path().join("mail.log.2")).unwrap();
    write(&mut f, 601..=650);
    std::fs::copy(&log, &rotated).unwrap();
    f.set_len(0).unwrap();
    write(&mut f, 651..=900);
    assert_each_once(wait_for(&db, 900), 900);

    // Stopped, more lines meanwhile, restarted: it resumes from its checkpoint.
    stop(child);
    write(&mut f, 901..=1000);
    let child = follow(&db, &log);
    let got = wait_for(&db, 1000);
    stop(child);
    assert_each_once(got, 1000);
}

/// (queue id, status) of every finished message, sorted.
fn finished(db: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ok(db, &["export", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m["open"] == false)
        .map(|m| {
            (
                m["queue_id"].as_str().unwrap_or("-").to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn serve_follows_an_exim_main_log_in_its_own_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mainlog");
    std::fs::copy(crate::util::root().join("testdata/exim/harness.log"), &log).unwrap();
    let lines = std::fs::read_to_string(&log).unwrap().lines().count() as f64;
    let db = dir.path().join("live.db");
    let server = crate::util::Server::start(
        &db,
        &["--follow", log.to_str().unwrap(), "--retention", "off"],
    );
    let mut m = server.metrics();
    for _ in 0..600 {
        let read = crate::util::value(&m, "mailtrace_lines_read_total", &[("source", "file")]);
        if read >= lines && crate::util::value(&m, "mailtrace_ingest_lag_seconds", &[]) == 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        m = server.metrics();
    }
    let u = |name, labels: &[(&str, &str)]| crate::util::value(&m, name, labels);
    assert_eq!(
        u("mailtrace_lines_read_total", &[("source", "file")]),
        lines
    );
    assert_eq!(
        u("mailtrace_lines_unparsed_total", &[]),
        0.0,
        "read as Exim's own log"
    );
    server.stop();

    let reference = dir.path().join("file.db");
    ok(&reference, &["ingest", "--quiet", log.to_str().unwrap()]);
    let (got, want) = (finished(&db), finished(&reference));
    assert!(want.len() > 40, "{want:?}");
    assert_eq!(got, want);
}
