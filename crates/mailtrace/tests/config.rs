//! `serve --config` and `check-config`: the file, the environment and the flags, merged.

use std::path::Path;
use std::process::{Command, Output};

/// `mailtrace check-config ARGS` with extra environment variables (and none of the user's).
fn check(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailtrace"));
    c.arg("check-config").args(args).current_dir(cwd);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MAILTRACE_")) {
        c.env_remove(k);
    }
    c.envs(env.iter().copied()).output().unwrap()
}

#[test]
fn check_config_merges_file_environment_and_flags_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mailtrace.toml");
    std::fs::write(
        &conf,
        "db = \"data/m.db\"\nlisten = \"127.0.0.1:0\"\nfollow = [\"logs/mail.log\"]\nsyslog-tcp = \"127.0.0.1:0\"\nsyslog-udp = \"127.0.0.1:0\"\nretention = \"30d\"\nraw-retention = \"7d\"\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();

    // The file alone: fine (the store will be created, the log waited for).
    let out = check(&["--config", c], &[], dir.path());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("configuration OK"), "{stderr}");
    assert!(stderr.contains("will be waited for"), "{stderr}");
    let printed: toml::Value = toml::from_str(&stdout).unwrap();
    assert_eq!(
        printed["db"].as_str(),
        dir.path().join("data/m.db").to_str(),
        "relative to the file"
    );
    assert_eq!(printed["retention"].as_str(), Some("30d"));
    assert_eq!(printed["raw-retention"].as_str(), Some("7d"));
    assert_eq!(printed["syslog-tcp"].as_str(), Some("127.0.0.1:0"));

    // The environment wins over the file, a flag over the environment.
    let env = [
        ("MAILTRACE_CONFIG", c),
        ("MAILTRACE_RETENTION", "12d"),
        ("MAILTRACE_RAW_RETENTION", "2d"),
    ];
    let out = check(&["--raw-retention", "3d"], &env, dir.path());
    assert!(out.status.success());
    let printed: toml::Value = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["retention"].as_str(), Some("12d"));
    assert_eq!(printed["raw-retention"].as_str(), Some("3d"));

    // Beyond loopback without credentials: refused; with a token: fine (and masked).
    let out = check(&["--config", c, "--listen", "0.0.0.0:0"], &[], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without authentication"));
    let token = "a-long-enough-secret-token";
    let out = check(
        &["--config", c, "--listen", "0.0.0.0:0", "--token", token],
        &[],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(token));

    // An address in use, a misspelt key, a bad age: each named.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = check(&["--config", c, "--syslog-tcp", &addr], &[], dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("syslog-tcp {addr}: cannot bind"))
    );
    std::fs::write(&conf, "retension = \"30d\"\n").unwrap();
    let out = check(&["--config", c], &[], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `retension`"));
    let out = check(&["--retention", "30 parsecs"], &[], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--retention"));
}
