//! `serve`, `check-config` and `hash-password`.

use super::*;

pub(super) fn auth(a: &AuthArgs) -> Result<Auth> {
    let users = match &a.users {
        Some(p) => Auth::read_users(p)?,
        None => Vec::new(),
    };
    Ok(Auth::new(a.token.clone(), users)?)
}

/// What `serve` runs, from its settings.
pub(super) fn server_config(s: &Settings) -> Result<Config> {
    let tz = zone(s.tz.as_deref())?;
    let sources = Sources {
        follow: s.follow.clone(),
        syslog_udp: s.syslog_udp,
        syslog_tcp: s.syslog_tcp,
        ingest: Options {
            server: s.server.clone(),
            tz: match &s.log_tz {
                Some(z) => zone(Some(z))?,
                None => tz,
            },
            ..Options::default()
        },
    };
    Ok(Config {
        listen: s.listen,
        auth: auth(&AuthArgs {
            token: s.token.clone(),
            users: s.users.clone(),
        })?,
        sources,
        retention: s.retention.map(|(messages, raw, every)| RetentionPolicy {
            messages,
            raw,
            every,
        }),
    })
}

/// Serve the dashboard (and ingest live, if asked) until interrupted.
pub(super) fn serve(s: &Settings) -> Result<ExitCode> {
    let config = server_config(s)?;
    // A server that ingests creates its store.
    let open = opener(s.db.clone(), config.sources.any())?;
    mailtrace_serve::run_blocking(config, open, |b| {
        let addr = b.http;
        println!("mailtrace dashboard: http://{addr}/  (API: http://{addr}/api/v1/, Ctrl-C stops)");
        if let Some(a) = b.syslog_udp {
            println!("mailtrace syslog receiver: udp://{a}");
        }
        if let Some(a) = b.syslog_tcp {
            println!("mailtrace syslog receiver: tcp://{a}");
        }
        // Tests and scripts read the URL from a pipe.
        let _ = io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `check-config`: resolve the settings, try what `serve` would do at start (open the store,
/// read the users file, bind the addresses), print the settings and what is wrong.
pub(super) fn check_config(
    db: Option<PathBuf>,
    tz: Option<String>,
    a: &ServeArgs,
) -> Result<ExitCode> {
    let s = Settings::resolve(db, tz, a)?;
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    match server_config(&s) {
        Ok(config) => {
            if let Err(e) = mailtrace_serve::check(&config) {
                problems.push(e.to_string());
            }
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    let path = s.db.clone().unwrap_or_else(default_db);
    if clickhouse_of(s.db.as_ref()).is_err() || clickhouse_of(s.db.as_ref())?.is_some() {
        if let Err(e) = opener(s.db.clone(), false).and_then(|o| o().map_err(Into::into)) {
            problems.push(format!("store: {e:#}"));
        }
    } else if path.exists() {
        if let Err(e) = SqliteStore::open(&path) {
            problems.push(format!("store {}: {e}", path.display()));
        }
    } else if s.follow.is_empty() && s.syslog_udp.is_none() && s.syslog_tcp.is_none() {
        problems.push(format!(
            "no store at {} and nothing to ingest",
            path.display()
        ));
    } else {
        notes.push(format!("store {} will be created", path.display()));
    }
    for f in &s.follow {
        match std::fs::File::open(f) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => notes.push(format!(
                "{} does not exist yet: it will be waited for",
                f.display()
            )),
            Err(e) => problems.push(format!("cannot read {}: {e}", f.display())),
        }
    }
    let binds = [
        ("listen", Some(s.listen), false),
        ("syslog-udp", s.syslog_udp, true),
        ("syslog-tcp", s.syslog_tcp, false),
    ];
    for (what, addr, udp) in binds {
        let Some(addr) = addr else { continue };
        let bound = if udp {
            std::net::UdpSocket::bind(addr).map(drop)
        } else {
            std::net::TcpListener::bind(addr).map(drop)
        };
        if let Err(e) = bound {
            problems.push(format!("{what} {addr}: cannot bind: {e}"));
        }
    }
    print!("{}", s.to_toml());
    for n in &notes {
        eprintln!("note: {n}");
    }
    for p in &problems {
        eprintln!("error: {p}");
    }
    if problems.is_empty() {
        eprintln!("configuration OK");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

pub(super) fn hash_password() -> Result<ExitCode> {
    let mut pw = String::new();
    io::stdin().read_line(&mut pw)?;
    let pw = pw.trim_end_matches(['\r', '\n']);
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    println!("{}", mailtrace_serve::hash_password(pw)?);
    Ok(ExitCode::SUCCESS)
}
