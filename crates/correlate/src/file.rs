//! Lines of the formats that are one per file (SmarterMail, transcripts): parsed with the
//! format the file was detected as, fed to their correlators.

use crate::{Correlator, LooseKind, Parsed};
use mailtrace_model::Ts;
use mailtrace_parse::format::Format;
use mailtrace_parse::{postfix, smartermail, syslog, transcript};

/// A line of a per-file format, with its instant (the log's local time in the context's zone).
#[derive(Debug, Clone, Copy)]
pub struct FileLine<'a> {
    /// When.
    pub ts: Ts,
    /// What.
    pub kind: FileKind<'a>,
}

/// Which per-file format a [`FileLine`] is of.
#[derive(Debug, Clone, Copy)]
pub enum FileKind<'a> {
    /// SmarterMail's SMTP or delivery log.
    SmarterMail(smartermail::Line<'a>),
    /// An SMTP transcript.
    Transcript(transcript::Line<'a>),
}

/// Parse a line of a file in `format` for [`Correlator::feed_parsed`]: syslog and Exim's main
/// log as [`crate::parse_line`] does (per line, by program), the others with their own parser.
/// A line that does not parse has neither envelope nor record: it is counted as unparsed.
pub fn parse_line_as<'a>(line: &'a str, ctx: &mut syslog::Context, format: Format) -> Parsed<'a> {
    let file = match format {
        Format::Syslog | Format::Exim => return crate::parse_line(line, ctx),
        Format::SmarterMailSmtp | Format::SmarterMailDelivery => {
            smartermail::parse(line).and_then(|l| {
                Some(Box::new(FileLine {
                    ts: ctx.local(&l.at)?,
                    kind: FileKind::SmarterMail(l),
                }))
            })
        }
        Format::Transcript => transcript::parse(line).and_then(|l| {
            Some(Box::new(FileLine {
                ts: ctx.local(&l.at)?,
                kind: FileKind::Transcript(l),
            }))
        }),
    };
    Parsed {
        line,
        envelope: None,
        record: None,
        exim: None,
        sendmail: None,
        file,
    }
}

impl Correlator {
    /// A parsed line of a per-file format.
    pub(crate) fn feed_file(&mut self, f: &FileLine<'_>, server: Option<&str>) {
        self.last_ts = f.ts;
        let name = match server {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => self.default_server.clone(),
        };
        let s = self.server(&name);
        match &f.kind {
            FileKind::SmarterMail(l) => {
                self.counters.smartermail += 1;
                self.smartermail_line(s, f.ts, l);
            }
            FileKind::Transcript(l) => {
                self.counters.transcript += 1;
                if matches!(l.kind, transcript::Kind::Other) {
                    self.counters.unparsed += 1;
                    self.loose(&name, f.ts, LooseKind::Unparsed, self.cur.no);
                }
                self.transcript_line(s, f.ts, l);
            }
        }
        if f.ts.0 - self.last_sweep.0 > 60_000_000 {
            self.sweep(f.ts);
        }
    }
}

/// Messages of one session or connection share its timeline, where other transactions were
/// accepted too: only the message's own acceptance line (`own`; none for a rejected record)
/// keeps its acceptance kind, the others read as the replies they are.
pub(crate) fn own_acceptance(
    m: &mut mailtrace_model::Message,
    own: Option<mailtrace_model::LineNo>,
) {
    use mailtrace_model::event_kind::{QUEUED, SENT};
    for e in &mut m.events {
        if (e.kind == QUEUED || e.kind == SENT) && e.source.map(|s| s.0) != own {
            e.kind = "reply".into();
        }
    }
}

/// An SMTP reply, owned (kept across lines).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Reply {
    pub(crate) code: Option<u16>,
    pub(crate) dsn: Option<String>,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn of(r: &postfix::Reply<'_>) -> Reply {
        Reply {
            code: r.code,
            dsn: r.dsn.map(str::to_string),
            text: r.text.to_string(),
        }
    }
}
