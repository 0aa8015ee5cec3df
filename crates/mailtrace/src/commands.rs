//! One function per command; `run` wires them to the parsed command line.

use crate::cli::ServeArgs;
use crate::cli::{
    AuthArgs, Cli, Command, DemoArgs, ExportArgs, ExportFormat, FilterArgs, IngestArgs, LinesArgs,
    ReportArgs, ReportFormat, ReportPeriod, SearchArgs, SearchFormat, ShowArgs, ShowFormat,
};
use crate::config::Settings;
use crate::progress::Bar;
use anyhow::{bail, Context, Result};
use jiff::tz::TimeZone;
use mailtrace_ingest::{Ingestor, Input, Options};
use mailtrace_model::{Message, Status, Ts};
use mailtrace_query::output::{
    detail_json, format_time, sanitize, table, write_csv, Column, MessageJson,
};
use mailtrace_query::{parse_instant, Filter, FilterParams, Paging};
use mailtrace_serve::{Auth, Config, Opener, RetentionPolicy, Sources};
use mailtrace_store::clickhouse::{ClickHouseStore, Location};
use mailtrace_store::sqlite::SqliteStore;
use mailtrace_store::{LooseFilter, Store};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod serve;
mod show;
mod stores;

use serve::{check_config, hash_password, serve};
use show::{lines, print_message, show};
use stores::{clickhouse_of, default_db, migrate, open_store, opener, WRITER};

/// The real Postfix log the demo ingests (written by `tests/mta/postfix/run.sh`).
const DEMO_LOG: &str = include_str!("../../../testdata/postfix/harness.log");

/// Run the command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(w) = &cli.writer {
        let _ = WRITER.set(w.clone());
    }
    // The configuration file may set the zone and the store of these two.
    match cli.command {
        Command::Serve(a) => return serve(&Settings::resolve(cli.db, cli.tz, &a)?),
        Command::CheckConfig(a) => return check_config(cli.db, cli.tz, &a),
        _ => {}
    }
    let tz = zone(cli.tz.as_deref())?;
    match cli.command {
        Command::Ingest(a) => {
            let mut store = open_store(cli.db, true)?;
            ingest(store.as_mut(), &a, &tz)
        }
        Command::Search(a) => search(open_store(cli.db, false)?.as_ref(), &a, &tz),
        Command::Show(a) => show(open_store(cli.db, false)?.as_ref(), &a, &tz),
        Command::Export(a) => export(open_store(cli.db, false)?.as_ref(), &a, &tz),
        Command::Lines(a) => lines(open_store(cli.db, false)?.as_ref(), &a, &tz),
        Command::Stats => {
            let s = open_store(cli.db, false)?.stats()?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge(a) => {
            let age = |s: &str| -> Result<Ts> {
                let us = mailtrace_query::parse_duration(s)
                    .map_err(|e| anyhow::anyhow!("--older-than {s}: {e}"))?;
                Ok(Ts(jiff::Timestamp::now().as_microsecond() - us))
            };
            let messages_before = age(&a.older_than)?;
            let raw_before = match &a.raw_older_than {
                Some(r) => age(r)?,
                None => messages_before,
            };
            let purged = open_store(cli.db, false)?.purge(&mailtrace_store::Retention {
                messages_before,
                raw_before,
            })?;
            println!("{}", serde_json::to_string_pretty(&purged)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(a) if !a.files.is_empty() => report(None, &a, &tz),
        Command::Report(a) => report(Some(open_store(cli.db, false)?.as_ref()), &a, &tz),
        Command::Serve(_) | Command::CheckConfig(_) => unreachable!("handled above"),
        Command::HashPassword => hash_password(),
        Command::Migrate(a) => migrate(cli.db, a.cluster.as_deref()),
        Command::Demo(a) => demo(&a, &tz),
    }
}

fn zone(name: Option<&str>) -> Result<TimeZone> {
    match name {
        None | Some("") => Ok(TimeZone::system()),
        Some(n) => TimeZone::get(n).with_context(|| format!("unknown time zone {n:?}")),
    }
}

/// Inputs of file arguments (`-` is standard input); fails before reading anything when one
/// cannot be opened.
fn inputs_of(files: &[PathBuf]) -> Result<Vec<Input>> {
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                Input::Stdin
            } else {
                Input::Path(f.clone())
            }
        })
        .collect();
    for i in &inputs {
        if let Input::Path(p) = i {
            std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
        }
    }
    Ok(inputs)
}

fn ingest(store: &mut dyn Store, a: &IngestArgs, tz: &TimeZone) -> Result<ExitCode> {
    let opts = Options {
        server: a.server.clone(),
        year: a.year,
        tz: match &a.log_tz {
            Some(z) => zone(Some(z))?,
            None => tz.clone(),
        },
        batch_lines: a.batch_lines.clamp(1, 30_000),
        commit_lines: a.batch_lines.max(1),
        format: a.format.format(),
        ..Options::default()
    };
    let summary = if a.follow {
        // A file that does not exist yet is waited for.
        if a.files.iter().any(|f| f.as_os_str() == "-") {
            bail!("--follow reads files, not standard input");
        }
        // SIGTERM or Ctrl-C: commit what was read and stop.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, stop.clone()).context("signal handler")?;
        }
        Ingestor::new(store, opts).follow(&a.files, &stop, &mut Bar::new(a.quiet))?
    } else {
        let inputs = inputs_of(&a.files)?;
        Ingestor::new(store, opts).run(&inputs, &mut Bar::new(a.quiet))?
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for f in &summary.files {
            let resumed = if f.resumed_at > 0 {
                format!(", resumed at byte {}", f.resumed_at)
            } else {
                String::new()
            };
            let how = if f.detected { "detected" } else { "given" };
            eprintln!(
                "{}: {} ({how}, {}): {} lines, {} recognised, {} unparsed, {} other programs{resumed}",
                f.input, f.format, f.compression, f.lines, f.recognised, f.unparsed, f.other
            );
        }
        println!(
            "lines: {}  messages finished: {}  recipients: {}  still queued: {}  unparsed: {}  other programs: {}",
            summary.lines, summary.messages, summary.recipients, summary.open, summary.unparsed, summary.other
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Build the store filter from the command-line criteria (the same conversion as the API's).
pub fn filter_from(a: &FilterArgs, tz: &TimeZone, now: Ts) -> Result<Filter> {
    let when = if a.today {
        Some("today".to_string())
    } else if a.yesterday {
        Some("yesterday".to_string())
    } else {
        a.last.clone()
    };
    let params = FilterParams {
        from: a.from.clone(),
        to: a.to.clone(),
        subject: a.subject.clone(),
        status: (!a.status.is_empty()).then(|| a.status.join(",")),
        queue_id: a.queue_id.clone(),
        message_id: a.message_id.clone(),
        client: a.client.clone(),
        relay: a.relay.clone(),
        server: a.server.clone(),
        reason: a.reason.clone(),
        since: a.since.clone(),
        until: a.until.clone(),
        when,
    };
    params.build(tz, now).map_err(|e| {
        let flag = match e.field {
            "when" if a.last.is_some() => "last",
            f => f,
        };
        anyhow::anyhow!("--{}: {}", flag.replace('_', "-"), e.message)
    })
}

/// An optional `--since`/`--until` value.
fn instant(v: Option<&str>, tz: &TimeZone, field: &'static str) -> Result<Option<Ts>> {
    Ok(v.map(|s| parse_instant(s, tz, field)).transpose()?)
}

fn now() -> Ts {
    Ts::from_jiff(jiff::Timestamp::now())
}

fn search(store: &dyn Store, a: &SearchArgs, tz: &TimeZone) -> Result<ExitCode> {
    let filter = filter_from(&a.filter, tz, now())?;
    let columns = match &a.columns {
        Some(c) => Column::parse_list(c).map_err(anyhow::Error::msg)?,
        None => Column::DEFAULT.to_vec(),
    };
    let paging = Paging {
        limit: a.limit.clamp(1, 10_000),
        page: a.page.max(1),
    };
    let res = store.search(&filter, paging)?;
    let mut out = BufWriter::new(io::stdout().lock());
    match a.format {
        SearchFormat::Table => {
            out.write_all(table(&res.messages, &columns, tz).as_bytes())?;
            let first = paging.offset() + 1;
            let last = paging.offset() + res.messages.len() as u64;
            let zone = tz.iana_name().unwrap_or("local time");
            if res.messages.is_empty() {
                writeln!(out, "no messages match ({} in total)", res.total)?;
            } else {
                writeln!(
                    out,
                    "{first}-{last} of {} (page {}, times in {zone})",
                    res.total, paging.page
                )?;
            }
        }
        SearchFormat::Json => {
            let v = serde_json::json!({
                "total": res.total,
                "page": paging.page,
                "limit": paging.limit,
                "messages": res.messages.iter().map(MessageJson::new).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        SearchFormat::Csv => write_csv(&mut out, &res.messages)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn export(store: &dyn Store, a: &ExportArgs, tz: &TimeZone) -> Result<ExitCode> {
    let filter = filter_from(&a.filter, tz, now())?;
    let sink: Box<dyn Write> = match &a.output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    match a.format {
        ExportFormat::Csv => {
            // Stream in chunks so a large export needs little memory.
            let mut chunk: Vec<Message> = Vec::new();
            let mut first = true;
            let flush = |chunk: &mut Vec<Message>,
                         out: &mut BufWriter<Box<dyn Write>>,
                         first: &mut bool|
             -> io::Result<()> {
                let mut buf = Vec::new();
                write_csv(&mut buf, chunk.iter())?;
                let body = if *first {
                    &buf[..]
                } else {
                    skip_first_line(&buf)
                };
                *first = false;
                chunk.clear();
                out.write_all(body)
            };
            store.export(&filter, &mut |m| {
                chunk.push(m);
                if chunk.len() >= 1000 {
                    flush(&mut chunk, &mut out, &mut first)?;
                }
                Ok(())
            })?;
            if first || !chunk.is_empty() {
                flush(&mut chunk, &mut out, &mut first)?;
            }
        }
        ExportFormat::Json => {
            store.export(&filter, &mut |m| {
                serde_json::to_writer(&mut out, &MessageJson::new(&m))?;
                out.write_all(b"\n")
            })?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Statistics of the matching messages and of the lines of their time range that belong to no
/// message (warnings, SASL failures): from the store, or straight from log files (`--file`).
fn report(store: Option<&dyn Store>, a: &ReportArgs, tz: &TimeZone) -> Result<ExitCode> {
    let mut filter = filter_from(&a.filter, tz, now())?;
    let mut label = String::from("all messages");
    if let Some(p) = a.period {
        let today = mailtrace_query::TimePreset::Today.range(now(), tz).0;
        let days = match p {
            ReportPeriod::Day => 1,
            ReportPeriod::Week => 7,
        };
        let start = today.to_jiff().to_zoned(tz.clone()) - jiff::Span::new().days(days);
        filter.since = Some(Ts::from_jiff(start.timestamp()));
        filter.until = Some(today);
        label = format!(
            "{} to {}",
            start.strftime("%Y-%m-%d"),
            (today.to_jiff().to_zoned(tz.clone()) - jiff::Span::new().days(1)).strftime("%Y-%m-%d")
        );
    } else if filter.since.is_some() || filter.until.is_some() {
        label = format!(
            "{} to {}",
            filter
                .since
                .map_or("the beginning".into(), |t| format_time(t, tz)),
            filter.until.map_or("now".into(), |t| format_time(t, tz))
        );
    }
    let r = match store {
        Some(store) => store.report(&filter, tz, a.top)?,
        None => report_files(&a.files, a.year, &filter, tz, a.top)?,
    };
    if !a.mail_to.is_empty() {
        send_report(&r, &label, a)?;
        eprintln!(
            "mailtrace: report sent to {} via {}",
            a.mail_to.join(", "),
            a.smtp
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    match a.format {
        ReportFormat::Text => out.write_all(mailtrace_report::render_text(&r).as_bytes())?,
        ReportFormat::Html => out.write_all(mailtrace_report::render_html(&r, true).as_bytes())?,
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &r)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Statistics of log files, without a store: messages straight from the correlator.
fn report_files(
    files: &[PathBuf],
    year: Option<i16>,
    filter: &Filter,
    tz: &TimeZone,
    top: usize,
) -> Result<mailtrace_report::Report> {
    let inputs = inputs_of(files)?;
    let opts = Options {
        year,
        tz: tz.clone(),
        ..Options::default()
    };
    // Messages are counted on the scan's message thread, lines on the correlating one.
    let mut b = mailtrace_report::Builder::new(tz.clone(), top.max(1));
    let mut lines = mailtrace_report::Builder::new(tz.clone(), top.max(1));
    let mut on_server = mailtrace_store::line_on_server(filter.server.as_deref());
    mailtrace_ingest::scan(
        &inputs,
        &opts,
        &mut Bar::new(!io::IsTerminal::is_terminal(&io::stderr())),
        &mut |m| {
            if filter.matches(m) {
                b.add_message(m);
            }
        },
        &mut |p, at| {
            // As from a store: the lines of the time range (and server) only.
            let in_range =
                filter.since.is_none_or(|s| at >= s) && filter.until.is_none_or(|u| at < u);
            if in_range && on_server(p.line) {
                match &p.envelope {
                    // The parser found where the text starts.
                    Some(env) => lines.add_text(env.text),
                    None => lines.add_line(p.line),
                }
            }
        },
    )?;
    b.merge(lines);
    Ok(b.finish())
}

/// Mail the report: a plain-text and an HTML part (tables, no charts: mail clients rarely show
/// SVG), through a plain SMTP server.
fn send_report(r: &mailtrace_report::Report, label: &str, a: &ReportArgs) -> Result<()> {
    use lettre::message::{header::ContentType, MultiPart, SinglePart};
    let t = &r.totals;
    let subject = format!(
        "mailtrace report, {label}: {} received, {} delivered, {} bounced, {} rejected",
        t.received, t.delivered, t.bounced, t.rejected
    );
    let mut msg = lettre::Message::builder()
        .from(a.mail_from.parse().context("--mail-from")?)
        .subject(subject);
    for to in &a.mail_to {
        msg = msg.to(to.parse().with_context(|| format!("--mail-to {to}"))?);
    }
    let email = msg.multipart(
        MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(mailtrace_report::render_text(r)),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(mailtrace_report::render_html(r, false)),
            ),
    )?;
    let (host, port) = a
        .smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--smtp {:?}: expected HOST:PORT", a.smtp))?;
    let transport = lettre::SmtpTransport::builder_dangerous(host)
        .port(port)
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    lettre::Transport::send(&transport, &email)
        .with_context(|| format!("sending the report through {}", a.smtp))?;
    Ok(())
}

fn skip_first_line(buf: &[u8]) -> &[u8] {
    match buf.iter().position(|b| *b == b'\n') {
        Some(i) => &buf[i + 1..],
        None => &[],
    }
}

fn demo(a: &DemoArgs, tz: &TimeZone) -> Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("mail.log");
    std::fs::write(&log, DEMO_LOG)?;
    let db = dir.path().join("demo.db");
    let mut store = SqliteStore::open(&db)?;
    println!(
        "Ingesting a real Postfix log (written by tests/mta/postfix/run.sh) into {}\n",
        db.display()
    );
    let summary = Ingestor::new(&mut store, Options::default())
        .run(&[Input::Path(log)], &mut Bar::new(true))?;
    println!(
        "lines: {}  messages finished: {}  recipients: {}  still queued: {}  unparsed: {}\n",
        summary.lines, summary.messages, summary.recipients, summary.open, summary.unparsed
    );
    println!("$ mailtrace search --limit 20 --columns time,queue_id,from,to,status,dsn,subject");
    let res = store.search(&Filter::default(), Paging { limit: 20, page: 1 })?;
    let cols = [
        Column::Time,
        Column::QueueId,
        Column::From,
        Column::To,
        Column::Status,
        Column::Dsn,
        Column::Subject,
    ];
    print!("{}", table(&res.messages, &cols, tz));
    println!("20 of {} messages\n", res.total);
    let bounced = store.search(
        &Filter {
            status: vec![Status::Bounced],
            ..Filter::default()
        },
        Paging { limit: 1, page: 1 },
    )?;
    if let Some(m) = bounced.messages.first() {
        let key = m.queue_id.clone().unwrap_or_else(|| m.id.to_string());
        println!("$ mailtrace show {key} --raw");
        let full = store.get(m.id)?.context("message vanished")?;
        let related = store.related(m.id)?;
        print_message(&mut io::stdout().lock(), &full, &related, true, tz)?;
    }
    drop(store);
    if a.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    let settings = |listen| Settings {
        db: Some(db.clone()),
        tz: None,
        listen,
        token: None,
        users: None,
        follow: Vec::new(),
        syslog_udp: None,
        syslog_tcp: None,
        server: None,
        log_tz: None,
        retention: None,
    };
    match serve(&settings(a.listen)) {
        // Another program has the port: any free one will do for a demo.
        Err(e)
            if e.downcast_ref::<mailtrace_serve::ServeError>().is_some_and(|e| {
                matches!(e, mailtrace_serve::ServeError::Io(io) if io.kind() == io::ErrorKind::AddrInUse)
            }) =>
        {
            eprintln!("mailtrace: {} is in use, taking a free port", a.listen);
            serve(&settings(SocketAddr::new(a.listen.ip(), 0)))
        }
        other => other,
    }
}
