//! `show` (one message with its timeline and raw lines) and `lines`.

use super::*;

pub(super) fn show(store: &dyn Store, a: &ShowArgs, tz: &TimeZone) -> Result<ExitCode> {
    let mut found = store.lookup(&a.id)?;
    if found.is_empty() {
        if let Ok(id) = a.id.trim().parse::<i64>() {
            found.extend(store.get(id)?);
        }
    }
    match found.len() {
        0 => {
            eprintln!(
                "mailtrace: no message with queue id, Message-ID or id {:?}",
                a.id
            );
            Ok(ExitCode::from(1))
        }
        1 => {
            let m = store.get(found[0].id)?.context("message vanished")?;
            let related = store.related(m.id)?;
            let mut out = BufWriter::new(io::stdout().lock());
            match a.format {
                ShowFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &detail_json(&m, &related)?)?;
                    writeln!(out)?;
                }
                ShowFormat::Text => print_message(&mut out, &m, &related, a.raw, tz)?,
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        n => {
            let mut out = io::stdout().lock();
            writeln!(out, "{n} messages match {:?}; show one by its id:", a.id)?;
            let cols = [
                Column::Time,
                Column::Server,
                Column::QueueId,
                Column::MessageId,
                Column::From,
                Column::Status,
            ];
            let ids: Vec<String> = found.iter().map(|m| m.id.to_string()).collect();
            let t = table(&found, &cols, tz);
            let mut lines = t.lines();
            writeln!(out, "{:<20}  {}", "ID", lines.next().unwrap_or(""))?;
            for (id, l) in ids.iter().zip(lines) {
                writeln!(out, "{id:<20}  {l}")?;
            }
            Ok(ExitCode::from(1))
        }
    }
}

pub(super) fn print_message(
    out: &mut dyn Write,
    m: &Message,
    related: &[Message],
    raw: bool,
    tz: &TimeZone,
) -> io::Result<()> {
    let s = |v: &Option<String>| sanitize(v.as_deref().unwrap_or("-"));
    let zone = tz.iana_name().unwrap_or("local time");
    writeln!(
        out,
        "Message {} ({} on {})",
        m.id,
        m.mta,
        sanitize(&m.server)
    )?;
    writeln!(out, "  Queue id:    {}", s(&m.queue_id))?;
    writeln!(out, "  Message-ID:  {}", s(&m.message_id))?;
    let from = match m.sender.as_deref() {
        Some("") => "<>".to_string(),
        Some(x) => sanitize(x),
        None => "-".into(),
    };
    writeln!(out, "  From:        {from}")?;
    writeln!(out, "  Subject:     {}", s(&m.subject))?;
    if let Some(size) = m.size {
        writeln!(out, "  Size:        {size} bytes")?;
    }
    let client = match (&m.client_host, &m.client_ip) {
        (Some(h), Some(ip)) => format!("{}[{}]", sanitize(h), sanitize(ip)),
        (Some(h), None) => sanitize(h),
        _ => "-".into(),
    };
    writeln!(out, "  Client:      {client}")?;
    if let Some(u) = &m.sasl_username {
        writeln!(
            out,
            "  SASL user:   {} ({})",
            sanitize(u),
            s(&m.sasl_method)
        )?;
    }
    if let Some(t) = &m.tls {
        writeln!(out, "  TLS:         {}", sanitize(t))?;
    }
    writeln!(
        out,
        "  Received:    {} ({zone})",
        format_time(m.received_at, tz)
    )?;
    let queued = if m.open { "  (still in the queue)" } else { "" };
    writeln!(out, "  Status:      {}{queued}", m.status)?;
    if let Some(r) = &m.reason {
        writeln!(out, "  Reason:      {}", sanitize(r))?;
    }
    if let Some(p) = m.parent_id {
        writeln!(out, "  Re-injected from message {p} (content filter)")?;
    }
    if let Some(p) = m.bounce_of {
        writeln!(out, "  Notification about message {p}")?;
    }
    for r in related {
        let how = if r.parent_id == Some(m.id) {
            "content-filter copy"
        } else {
            "notification"
        };
        writeln!(
            out,
            "  Linked:      {how} {} (queue id {}, {})",
            r.id,
            s(&r.queue_id),
            r.status
        )?;
    }
    writeln!(out, "\nRecipients")?;
    for r in &m.recipients {
        let orig = r
            .orig_to
            .as_ref()
            .map(|o| format!(" (originally {})", sanitize(o)))
            .unwrap_or_default();
        writeln!(out, "  {}{orig}: {}", sanitize(&r.address), r.status)?;
        let mut parts = Vec::new();
        if let Some(d) = &r.dsn {
            parts.push(format!("dsn {}", sanitize(d)));
        }
        if let Some(c) = r.smtp_code {
            parts.push(format!("code {c}"));
        }
        if let Some(rl) = &r.relay {
            parts.push(format!("relay {}", sanitize(rl)));
        }
        if let Some(d) = r.delay_s {
            parts.push(format!("delay {d}s"));
        }
        parts.push(format!(
            "{} attempt{}",
            r.attempts.len(),
            if r.attempts.len() == 1 { "" } else { "s" }
        ));
        writeln!(out, "    {}", parts.join(", "))?;
        if let Some(resp) = &r.response {
            writeln!(out, "    response: {}", sanitize(resp))?;
        }
        if r.attempts.len() > 1 {
            for at in &r.attempts {
                writeln!(
                    out,
                    "    - {} {} {} {}",
                    format_time(at.at, tz),
                    at.status.as_str(),
                    at.dsn.as_deref().unwrap_or(""),
                    sanitize(at.response.as_deref().unwrap_or(""))
                )?;
            }
        }
    }
    writeln!(out, "\nTimeline ({zone})")?;
    for e in &m.events {
        writeln!(
            out,
            "  {}  {:<16} {}",
            format_time(e.at, tz),
            sanitize(&e.kind),
            sanitize(&e.text)
        )?;
    }
    if raw {
        writeln!(out, "\nLog")?;
        for l in &m.lines {
            writeln!(out, "  {}", sanitize(l))?;
        }
    }
    Ok(())
}

pub(super) fn lines(store: &dyn Store, a: &LinesArgs, tz: &TimeZone) -> Result<ExitCode> {
    let f = LooseFilter {
        kind: a.kind.clone(),
        server: a.server.clone(),
        contains: a.grep.clone(),
        since: instant(a.since.as_deref(), tz, "since")?,
        until: instant(a.until.as_deref(), tz, "until")?,
    };
    let rows = store.loose_lines(
        &f,
        Paging {
            limit: a.limit.max(1),
            page: a.page.max(1),
        },
    )?;
    let mut out = BufWriter::new(io::stdout().lock());
    for l in rows {
        writeln!(out, "{:<8} {}", l.kind.as_str(), sanitize(&l.line))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
