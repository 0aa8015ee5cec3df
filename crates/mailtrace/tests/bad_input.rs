//! Bad input never crashes an ingest, and nothing is silently dropped.

use crate::util::{mailtrace, ok, root};
use serde_json::Value;
use std::io::Write;

#[test]
fn garbage_binary_huge_and_truncated_lines_are_counted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let log = dir.path().join("bad.log");
    let real = std::fs::read_to_string(root().join("testdata/postfix/harness.log")).unwrap();
    let mut f = std::fs::File::create(&log).unwrap();
    f.write_all(
        real.lines()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    )
    .unwrap();
    f.write_all(b"\n\x00\x01\x02\xff\xfe binary garbage \x00\n")
        .unwrap();
    f.write_all(b"Nov 24 18:43:30 mx postfix/smtpd[1]: caf\xe9 latin-1 text\n")
        .unwrap();
    f.write_all(b"Nov 24 18:43:30 mx dovecot[77]: imap-login: Login: user=<a>\n")
        .unwrap();
    f.write_all(&vec![b'A'; 10 * 1024 * 1024]).unwrap();
    f.write_all(b"\nNov 24 18:43:31 mx postfix/qmgr[12233]: E920398C261: remo")
        .unwrap(); // truncated, no newline
    drop(f);
    let out = mailtrace(&db, &["ingest", "--quiet", "--json", log.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["lines"], 25, "{s}");
    assert_eq!(s["other"], 1);
    assert_eq!(
        s["unparsed"], 4,
        "garbage, latin-1 postfix text, 10 MB line, truncated line: {s}"
    );
    let unparsed = ok(&db, &["lines", "--kind", "unparsed"]);
    assert_eq!(unparsed.lines().count(), 4, "{unparsed}");
    assert!(unparsed.contains("binary garbage"));
    assert!(unparsed.contains("line cut, 10485761 bytes"));
    assert!(unparsed.contains("remo"));
    assert!(ok(&db, &["lines", "--kind", "other"]).contains("imap-login"));
    assert!(ok(&db, &["lines", "--grep", "caf"]).contains("latin-1"));
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let out = mailtrace(&db, &["ingest", "/nonexistent/mail.log"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/mail.log") && err.contains("No such file"),
        "{err}"
    );
    let out = mailtrace(&db, &["ingest", dir.path().to_str().unwrap()]);
    assert!(!out.status.success(), "a directory is not a log");
}

#[test]
fn corrupt_store_is_refused_never_reset() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("corrupt.db");
    let junk = b"this is not a database at all, but it is someone's file".repeat(200);
    std::fs::write(&db, &junk).unwrap();
    let log = root().join("testdata/postfix/harness.log");
    for args in [
        &["ingest", log.to_str().unwrap()][..],
        &["search"],
        &["stats"],
    ] {
        let out = mailtrace(&db, args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a usable mailtrace store"), "{err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), junk);
    let out = mailtrace(&dir.path().join("absent.db"), &["search"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"));
}
