//! `serve`'s settings: a TOML file (`--config`), environment variables and flags, merged (a flag
//! wins over its variable, which wins over the file, which wins over the default), and
//! `check-config`.
//!
//! The file's keys are the flags' names:
//!
//! ```toml
//! db = "/var/lib/mailtrace/mailtrace.db"
//! listen = "0.0.0.0:8025"
//! users = "/etc/mailtrace/users"
//! follow = ["/var/log/mail.log"]
//! syslog-tcp = "0.0.0.0:5514"
//! retention = "30d"
//! raw-retention = "7d"
//! ```

use crate::cli::ServeArgs;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    db: Option<PathBuf>,
    tz: Option<String>,
    listen: Option<SocketAddr>,
    token: Option<String>,
    users: Option<PathBuf>,
    #[serde(default)]
    follow: Vec<PathBuf>,
    syslog_udp: Option<SocketAddr>,
    syslog_tcp: Option<SocketAddr>,
    server: Option<String>,
    log_tz: Option<String>,
    retention: Option<String>,
    raw_retention: Option<String>,
    retention_every: Option<String>,
}

/// What `serve` runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Store file (`None`: the default one).
    pub db: Option<PathBuf>,
    /// Display zone.
    pub tz: Option<String>,
    /// Web server address.
    pub listen: SocketAddr,
    /// Shared secret.
    pub token: Option<String>,
    /// Users file.
    pub users: Option<PathBuf>,
    /// Files to follow.
    pub follow: Vec<PathBuf>,
    /// Syslog over UDP.
    pub syslog_udp: Option<SocketAddr>,
    /// Syslog over TCP.
    pub syslog_tcp: Option<SocketAddr>,
    /// Server name of hostless logs.
    pub server: Option<String>,
    /// Zone of BSD timestamps.
    pub log_tz: Option<String>,
    /// Retention of messages and of raw lines (`None`: keep everything), and the pause
    /// between purges.
    pub retention: Option<(Duration, Duration, Duration)>,
}

/// Default web server address.
const LISTEN: &str = "127.0.0.1:8025";
/// Default retention (of a server that ingests).
const RETENTION: &str = "30d";
/// Default pause between purges.
const EVERY: &str = "1h";

impl Settings {
    /// Merge the file named by `--config` (or `MAILTRACE_CONFIG`), the environment and the
    /// flags (clap has merged those two already). `db` and `tz` are the global options.
    ///
    /// # Errors
    /// The file cannot be read or parsed, or a value is invalid.
    pub fn resolve(db: Option<PathBuf>, tz: Option<String>, a: &ServeArgs) -> Result<Settings> {
        let file = match &a.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let age = |flag: &str, v: &str| -> Result<Duration> {
            let us = mailtrace_query::parse_duration(v)
                .map_err(|e| anyhow::anyhow!("--{flag} {v}: {}", e.message))?;
            if us <= 0 {
                bail!("--{flag} {v}: must be more than zero");
            }
            Ok(Duration::from_micros(us.unsigned_abs()))
        };
        let live = !a.follow.is_empty()
            || !file.follow.is_empty()
            || a.syslog_udp.or(file.syslog_udp).is_some()
            || a.syslog_tcp.or(file.syslog_tcp).is_some();
        // Data someone else ingests is only purged when asked for.
        let default = if live { RETENTION } else { "off" };
        let retention = a
            .retention
            .clone()
            .or(file.retention)
            .unwrap_or_else(|| default.into());
        let retention = if matches!(retention.trim(), "off" | "0" | "never") {
            None
        } else {
            let messages = age("retention", &retention)?;
            let raw = match a.raw_retention.clone().or(file.raw_retention) {
                Some(r) => age("raw-retention", &r)?.min(messages),
                None => messages,
            };
            let every = a
                .retention_every
                .clone()
                .or(file.retention_every)
                .unwrap_or_else(|| EVERY.into());
            Some((messages, raw, age("retention-every", &every)?))
        };
        Ok(Settings {
            db: db.or(file.db),
            tz: tz.or(file.tz),
            listen: match a.listen.or(file.listen) {
                Some(l) => l,
                None => LISTEN.parse()?,
            },
            token: a.auth.token.clone().or(file.token),
            users: a.auth.users.clone().or(file.users),
            follow: if a.follow.is_empty() {
                file.follow
            } else {
                a.follow.clone()
            },
            syslog_udp: a.syslog_udp.or(file.syslog_udp),
            syslog_tcp: a.syslog_tcp.or(file.syslog_tcp),
            server: a.server.clone().or(file.server),
            log_tz: a.log_tz.clone().or(file.log_tz),
            retention,
        })
    }

    /// The settings as a configuration file (the token masked).
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "kebab-case")]
        struct Out<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            db: Option<&'a Path>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tz: Option<&'a str>,
            listen: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            users: Option<&'a Path>,
            follow: &'a [PathBuf],
            #[serde(skip_serializing_if = "Option::is_none")]
            syslog_udp: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            syslog_tcp: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            server: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            log_tz: Option<&'a str>,
            retention: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            raw_retention: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            retention_every: Option<String>,
        }
        let out = Out {
            db: self.db.as_deref(),
            tz: self.tz.as_deref(),
            listen: self.listen.to_string(),
            token: self.token.as_ref().map(|_| "********"),
            users: self.users.as_deref(),
            follow: &self.follow,
            syslog_udp: self.syslog_udp.map(|a| a.to_string()),
            syslog_tcp: self.syslog_tcp.map(|a| a.to_string()),
            server: self.server.as_deref(),
            log_tz: self.log_tz.as_deref(),
            retention: self
                .retention
                .map_or_else(|| "off".into(), |r| age_text(r.0)),
            raw_retention: self.retention.map(|r| age_text(r.1)),
            retention_every: self.retention.map(|r| age_text(r.2)),
        };
        toml::to_string(&out).unwrap_or_default()
    }
}

/// A duration as `30d`, `36h`, `90m` or `10s`.
fn age_text(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// Read and parse a configuration file; relative paths in it are relative to its directory.
fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    let mut c: FileConfig =
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let fix = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    };
    // A ClickHouse URL is not a path.
    c.db.as_mut()
        .filter(|p| !p.to_str().is_some_and(|s| s.contains("://")))
        .map(fix);
    c.users.as_mut().map(fix);
    c.follow.iter_mut().for_each(fix);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mailtrace.toml");
        std::fs::write(
            &file,
            "db = \"store/m.db\"\nlisten = \"127.0.0.1:9000\"\nfollow = [\"mail.log\"]\nsyslog-tcp = \"127.0.0.1:5514\"\nretention = \"15d\"\nraw-retention = \"60d\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            listen: Some("127.0.0.1:9001".parse().unwrap()),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(None, None, &args).unwrap();
        assert_eq!(s.db, Some(dir.path().join("store/m.db")));
        assert_eq!(s.listen.port(), 9001);
        assert_eq!(s.follow, vec![dir.path().join("mail.log")]);
        assert_eq!(s.syslog_tcp, Some("127.0.0.1:5514".parse().unwrap()));
        let (m, raw, every) = s.retention.unwrap();
        assert_eq!(m, Duration::from_secs(15 * 86_400));
        assert_eq!(raw, m, "raw lines are kept at most as long as messages");
        assert_eq!(every, Duration::from_secs(3600));
        assert!(s.to_toml().contains("retention = \"15d\""));

        std::fs::write(&file, "retention = \"15d\"\nsyslog = \"x\"\n").unwrap();
        let err = Settings::resolve(None, None, &args).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");

        let off = ServeArgs {
            retention: Some("off".into()),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(None, None, &off).unwrap();
        assert!(s.retention.is_none());
        assert_eq!(s.listen.to_string(), LISTEN);
        assert!(s.to_toml().contains("retention = \"off\""));
    }
}
