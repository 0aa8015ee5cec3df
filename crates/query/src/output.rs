//! Rendering messages: stable JSON, formula-safe CSV, and a terminal table.
//!
//! JSON field names are part of the interface (documented in the README): a message has
//! `id, server, mta, queue_id, message_id, sender, subject, size, client, client_ip, received_at,
//! status, recipients[]`; a recipient has `address, orig_to, status, dsn, smtp_code, response,
//! relay, delay_s, attempts, last_attempt_at`. Times are RFC 3339 in UTC.

use jiff::tz::TimeZone;
use mailtrace_model::{LineNo, Message, Recipient, Ts};
use serde::Serialize;
use std::fmt::Write as _;
use std::io;

/// A column of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// When the message was received.
    Time,
    /// Server name.
    Server,
    /// Queue id.
    QueueId,
    /// Message-ID header.
    MessageId,
    /// Envelope sender.
    From,
    /// Envelope recipients.
    To,
    /// Subject.
    Subject,
    /// Size in bytes.
    Size,
    /// Message status.
    Status,
    /// Delay of the last attempt per recipient, seconds.
    Delay,
    /// Relay per recipient.
    Relay,
    /// Enhanced status code per recipient.
    Dsn,
    /// SMTP reply code per recipient.
    SmtpCode,
    /// Response per recipient (or the rejection reason).
    Response,
    /// Client host and address.
    Client,
}

impl Column {
    /// Every column with its name.
    pub const ALL: [(Column, &'static str); 15] = [
        (Column::Time, "time"),
        (Column::Server, "server"),
        (Column::QueueId, "queue_id"),
        (Column::MessageId, "message_id"),
        (Column::From, "from"),
        (Column::To, "to"),
        (Column::Subject, "subject"),
        (Column::Size, "size"),
        (Column::Status, "status"),
        (Column::Delay, "delay"),
        (Column::Relay, "relay"),
        (Column::Dsn, "dsn"),
        (Column::SmtpCode, "smtp_code"),
        (Column::Response, "response"),
        (Column::Client, "client"),
    ];

    /// Columns shown when none are asked for.
    pub const DEFAULT: [Column; 7] = [
        Column::Time,
        Column::Server,
        Column::QueueId,
        Column::From,
        Column::To,
        Column::Status,
        Column::Subject,
    ];

    /// The column's name.
    pub fn name(self) -> &'static str {
        Column::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("", |(_, n)| n)
    }

    /// Parse `time,from,to,status`.
    ///
    /// # Errors
    /// An unknown column name, listing the known ones.
    pub fn parse_list(s: &str) -> Result<Vec<Column>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                let c = if c == "code" { "smtp_code" } else { c };
                Column::ALL
                    .iter()
                    .find(|(_, n)| *n == c)
                    .map(|(col, _)| *col)
                    .ok_or_else(|| {
                        let known: Vec<_> = Column::ALL.iter().map(|(_, n)| *n).collect();
                        format!("unknown column {c:?} (known: {})", known.join(", "))
                    })
            })
            .collect()
    }

    /// The cell of this column for `m`, times in `tz`.
    pub fn cell(self, m: &Message, tz: &TimeZone) -> String {
        let per_rcpt = |f: &dyn Fn(&Recipient) -> Option<String>| -> String {
            let v: Vec<String> = m
                .recipients
                .iter()
                .map(|r| f(r).unwrap_or_default())
                .collect();
            if v.iter().all(String::is_empty) {
                String::new()
            } else {
                v.join("; ")
            }
        };
        match self {
            Column::Time => format_time(m.received_at, tz),
            Column::Server => m.server.clone(),
            Column::QueueId => m.queue_id.clone().unwrap_or_default(),
            Column::MessageId => m.message_id.clone().unwrap_or_default(),
            Column::From => match m.sender.as_deref() {
                Some("") => "<>".to_string(),
                Some(s) => s.to_string(),
                None => String::new(),
            },
            Column::To => m
                .recipients
                .iter()
                .map(|r| r.address.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Column::Subject => m.subject.clone().unwrap_or_default(),
            Column::Size => m.size.map(|s| s.to_string()).unwrap_or_default(),
            Column::Status => m.status.to_string(),
            Column::Delay => per_rcpt(&|r| r.delay_s.map(|d| d.to_string())),
            Column::Relay => per_rcpt(&|r| r.relay.clone()),
            Column::Dsn => per_rcpt(&|r| r.dsn.clone()),
            Column::SmtpCode => per_rcpt(&|r| r.smtp_code.map(|c| c.to_string())),
            Column::Response => {
                let r = per_rcpt(&|r| r.response.clone());
                if r.is_empty() {
                    m.reason.clone().unwrap_or_default()
                } else {
                    r
                }
            }
            Column::Client => match (&m.client_host, &m.client_ip) {
                (Some(h), Some(ip)) => format!("{h}[{ip}]"),
                (Some(h), None) => h.clone(),
                _ => String::new(),
            },
        }
    }
}

/// `2024-03-01 10:00:00` in `tz`.
pub fn format_time(t: Ts, tz: &TimeZone) -> String {
    t.to_jiff()
        .to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// JSON view of a message (see the module documentation for the field names).
#[derive(Debug, Serialize)]
pub struct MessageJson<'a> {
    /// Stable id, as a string: ids use 63 bits, more than a JavaScript number holds exactly.
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    /// Server.
    pub server: &'a str,
    /// MTA.
    pub mta: &'a str,
    /// Queue id.
    pub queue_id: Option<&'a str>,
    /// Message-ID.
    pub message_id: Option<&'a str>,
    /// Envelope sender (`""` for `<>`).
    pub sender: Option<&'a str>,
    /// Subject.
    pub subject: Option<&'a str>,
    /// Size.
    pub size: Option<u64>,
    /// Client host name.
    pub client: Option<&'a str>,
    /// Client IP.
    pub client_ip: Option<&'a str>,
    /// SASL user name.
    pub sasl_username: Option<&'a str>,
    /// TLS of the receiving connection.
    pub tls: Option<&'a str>,
    /// Received at, UTC.
    pub received_at: String,
    /// Status.
    pub status: &'static str,
    /// Still in the queue.
    pub open: bool,
    /// Rejection/hold reason.
    pub reason: Option<&'a str>,
    /// Content-filter parent (id as a string).
    #[serde(serialize_with = "opt_id_string")]
    pub parent_id: Option<i64>,
    /// Message a notification reports on (id as a string).
    #[serde(serialize_with = "opt_id_string")]
    pub bounce_of: Option<i64>,
    /// Recipients.
    pub recipients: Vec<RecipientJson<'a>>,
}

/// JSON view of a recipient.
#[derive(Debug, Serialize)]
pub struct RecipientJson<'a> {
    /// Address.
    pub address: &'a str,
    /// Original address.
    pub orig_to: Option<&'a str>,
    /// Status.
    pub status: &'static str,
    /// Enhanced status code.
    pub dsn: Option<&'a str>,
    /// SMTP reply code.
    pub smtp_code: Option<u16>,
    /// Response.
    pub response: Option<&'a str>,
    /// Relay.
    pub relay: Option<&'a str>,
    /// Delay in seconds.
    pub delay_s: Option<f64>,
    /// Number of delivery attempts.
    pub attempts: usize,
    /// Last attempt, UTC.
    pub last_attempt_at: Option<String>,
}

impl<'a> MessageJson<'a> {
    /// The view of `m`.
    pub fn new(m: &'a Message) -> MessageJson<'a> {
        MessageJson {
            id: m.id,
            server: &m.server,
            mta: &m.mta,
            queue_id: m.queue_id.as_deref(),
            message_id: m.message_id.as_deref(),
            sender: m.sender.as_deref(),
            subject: m.subject.as_deref(),
            size: m.size,
            client: m.client_host.as_deref(),
            client_ip: m.client_ip.as_deref(),
            sasl_username: m.sasl_username.as_deref(),
            tls: m.tls.as_deref(),
            received_at: m.received_at.to_rfc3339(),
            status: m.status.as_str(),
            open: m.open,
            reason: m.reason.as_deref(),
            parent_id: m.parent_id,
            bounce_of: m.bounce_of,
            recipients: m
                .recipients
                .iter()
                .map(|r| RecipientJson {
                    address: &r.address,
                    orig_to: r.orig_to.as_deref(),
                    status: r.status.as_str(),
                    dsn: r.dsn.as_deref(),
                    smtp_code: r.smtp_code,
                    response: r.response.as_deref(),
                    relay: r.relay.as_deref(),
                    delay_s: r.delay_s,
                    attempts: r.attempts.len(),
                    last_attempt_at: r.last_attempt_at.map(Ts::to_rfc3339),
                })
                .collect(),
        }
    }
}

fn id_string<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn opt_id_string<S: serde::Serializer>(id: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

/// One raw log line of a message, as the detail views show it.
#[derive(Debug, Serialize)]
pub struct RawLineJson<'a> {
    /// Line number in the store.
    pub no: LineNo,
    /// The line.
    pub text: &'a str,
    /// Where the message was accepted on this line: `queued` (this server took it into its
    /// queue) or `sent` (the next hop accepted it); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<&'static str>,
}

/// The raw lines of a message (as filled in by a store's `get`), acceptance lines marked.
pub fn raw_lines(m: &Message) -> Vec<RawLineJson<'_>> {
    let accepted = m.acceptance_lines();
    m.line_nos
        .iter()
        .zip(&m.lines)
        .map(|(no, text)| RawLineJson {
            no: *no,
            text,
            accepted: accepted.iter().find(|(n, _)| n == no).map(|(_, k)| *k),
        })
        .collect()
}

/// JSON view of one delivery attempt (times in RFC 3339).
#[derive(Debug, Serialize)]
pub struct AttemptJson<'a> {
    /// When.
    pub at: String,
    /// `sent`, `deferred`, `bounced`, `expired`...
    pub status: &'static str,
    /// Delivery agent (`smtp`, `lmtp`, `local`...).
    pub agent: &'a str,
    /// Enhanced status code.
    pub dsn: Option<&'a str>,
    /// SMTP reply code.
    pub smtp_code: Option<u16>,
    /// Response text.
    pub response: Option<&'a str>,
    /// Relay.
    pub relay: Option<&'a str>,
    /// Delay, seconds.
    pub delay_s: Option<f64>,
    /// Postfix `delays=a/b/c/d`.
    pub delays: Option<[f64; 4]>,
    /// Queue id at the next hop.
    pub queued_as: Option<&'a str>,
    /// TLS of the connection to the next hop.
    pub tls: Option<&'a str>,
}

/// JSON view of a timeline event (time in RFC 3339).
#[derive(Debug, Serialize)]
pub struct EventJson<'a> {
    /// When.
    pub at: String,
    /// Kind.
    pub kind: &'a str,
    /// Text.
    pub text: &'a str,
    /// The raw line it comes from.
    pub line: Option<LineNo>,
}

/// The full JSON view of one message: [`MessageJson`] plus every attempt per recipient
/// (`recipients[].history`), the `timeline`, the `raw` lines and the `related` messages.
pub fn detail_json(m: &Message, related: &[Message]) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(MessageJson::new(m))?;
    if let Some(rcpts) = v["recipients"].as_array_mut() {
        for (j, r) in rcpts.iter_mut().zip(&m.recipients) {
            let history: Vec<AttemptJson> = r
                .attempts
                .iter()
                .map(|a| AttemptJson {
                    at: a.at.to_rfc3339(),
                    status: a.status.as_str(),
                    agent: &a.agent,
                    dsn: a.dsn.as_deref(),
                    smtp_code: a.smtp_code,
                    response: a.response.as_deref(),
                    relay: a.relay.as_deref(),
                    delay_s: a.delay_s,
                    delays: a.delays,
                    queued_as: a.queued_as.as_deref(),
                    tls: a.tls.as_deref(),
                })
                .collect();
            j["history"] = serde_json::to_value(history)?;
        }
    }
    let timeline: Vec<EventJson> = m
        .events
        .iter()
        .map(|e| EventJson {
            at: e.at.to_rfc3339(),
            kind: &e.kind,
            text: &e.text,
            line: e.source.map(|(no, _)| no),
        })
        .collect();
    v["timeline"] = serde_json::to_value(timeline)?;
    v["raw"] = serde_json::to_value(raw_lines(m))?;
    v["related"] = serde_json::to_value(related.iter().map(MessageJson::new).collect::<Vec<_>>())?;
    Ok(v)
}

/// Make a CSV cell safe for spreadsheets: a cell starting with `=`, `+`, `-`, `@`, tab or CR
/// would be run as a formula (CSV injection), so it gets a leading `'`.
pub fn defuse_csv(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Write messages as CSV, one row per recipient (a message without recipients gets one row),
/// times in UTC.
///
/// # Errors
/// Write errors.
pub fn write_csv<'m>(
    out: impl io::Write,
    messages: impl IntoIterator<Item = &'m Message>,
) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let header = [
        "received_at",
        "server",
        "queue_id",
        "message_id",
        "sender",
        "subject",
        "size",
        "client",
        "client_ip",
        "status",
        "recipient",
        "orig_to",
        "recipient_status",
        "dsn",
        "smtp_code",
        "response",
        "relay",
        "delay_s",
        "attempts",
        "last_attempt_at",
    ];
    w.write_record(header)?;
    let empty = Recipient::default();
    for m in messages {
        let rcpts: Vec<&Recipient> = if m.recipients.is_empty() {
            vec![&empty]
        } else {
            m.recipients.iter().collect()
        };
        for r in rcpts {
            let has = !r.address.is_empty();
            let row: [String; 20] = [
                m.received_at.to_rfc3339(),
                m.server.clone(),
                m.queue_id.clone().unwrap_or_default(),
                m.message_id.clone().unwrap_or_default(),
                match m.sender.as_deref() {
                    Some("") => "<>".into(),
                    s => s.unwrap_or_default().to_string(),
                },
                m.subject.clone().unwrap_or_default(),
                m.size.map(|s| s.to_string()).unwrap_or_default(),
                m.client_host.clone().unwrap_or_default(),
                m.client_ip.clone().unwrap_or_default(),
                m.status.to_string(),
                r.address.clone(),
                r.orig_to.clone().unwrap_or_default(),
                if has {
                    r.status.to_string()
                } else {
                    String::new()
                },
                r.dsn.clone().unwrap_or_default(),
                r.smtp_code.map(|c| c.to_string()).unwrap_or_default(),
                r.response
                    .clone()
                    .or_else(|| m.reason.clone())
                    .unwrap_or_default(),
                r.relay.clone().unwrap_or_default(),
                r.delay_s.map(|d| d.to_string()).unwrap_or_default(),
                if has {
                    r.attempts.len().to_string()
                } else {
                    String::new()
                },
                r.last_attempt_at.map(Ts::to_rfc3339).unwrap_or_default(),
            ];
            w.write_record(row.iter().map(|c| defuse_csv(c).into_owned()))?;
        }
    }
    w.flush()
}

/// Render a plain-text table with the given columns (control characters from the logs are
/// replaced so a hostile subject cannot drive the terminal).
pub fn table(messages: &[Message], columns: &[Column], tz: &TimeZone) -> String {
    const MAX: usize = 48;
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            columns
                .iter()
                .map(|c| clip(&sanitize(&c.cell(m, tz)), MAX))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.name().len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, cells: &mut dyn Iterator<Item = String>| {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect();
        let _ = writeln!(s, "{}", parts.join("  ").trim_end());
    };
    line(&mut s, &mut columns.iter().map(|c| c.name().to_uppercase()));
    for r in rows {
        line(&mut s, &mut r.into_iter());
    }
    s
}

/// Replace control characters (ESC, CR, ...) with `?`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailtrace_model::Status;

    fn msg() -> Message {
        Message {
            id: 1,
            server: "mx".into(),
            queue_id: Some("ABC".into()),
            sender: Some(String::new()),
            subject: Some("=HYPERLINK(\"http://evil\")".into()),
            status: Status::Bounced,
            recipients: vec![Recipient {
                address: "@a@b".into(),
                status: Status::Bounced,
                smtp_code: Some(550),
                ..Recipient::default()
            }],
            ..Message::default()
        }
    }

    #[test]
    fn csv_defuses_formulas_and_uses_utc() {
        let mut buf = Vec::new();
        write_csv(&mut buf, [&msg()]).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.contains("'=HYPERLINK"), "{s}");
        assert!(s.contains("'@a@b"));
        assert!(s.contains("1970-01-01T00:00:00Z"));
        assert!(s.contains(",<>,"));
    }

    #[test]
    fn columns_parse_and_render() {
        let cols = Column::parse_list("time, from,to,code").unwrap();
        assert_eq!(
            cols,
            vec![Column::Time, Column::From, Column::To, Column::SmtpCode]
        );
        assert!(Column::parse_list("time,bogus")
            .unwrap_err()
            .contains("bogus"));
        let t = table(&[msg()], &cols, &TimeZone::UTC);
        assert!(t.starts_with("TIME"));
        assert!(t.contains("<>") && t.contains("550"));
    }

    #[test]
    fn json_names_are_stable() {
        let m = msg();
        let v = serde_json::to_value(MessageJson::new(&m)).unwrap();
        for k in [
            "server",
            "queue_id",
            "message_id",
            "sender",
            "subject",
            "size",
            "client",
            "received_at",
            "status",
            "recipients",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let r = &v["recipients"][0];
        for k in [
            "address",
            "orig_to",
            "status",
            "dsn",
            "smtp_code",
            "response",
            "relay",
            "delay_s",
            "attempts",
            "last_attempt_at",
        ] {
            assert!(r.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn sanitize_strips_escapes() {
        assert_eq!(sanitize("a\u{1b}[31mb\r"), "a?[31mb?");
    }
}
