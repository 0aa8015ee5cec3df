//! Correlation: parsed log records in, messages out.
//!
//! Stage: correlate. A [`Correlator`] is fed one line at a time (with its parsed envelope) and keeps
//! the state that spans lines: client sessions by process id, messages by queue id, pending
//! links between messages. Finished messages, unattached lines and (on [`Correlator::checkpoint`])
//! the messages that changed while still queued come out as an [`Output`] batch for the store.
//!
//! Syslog lines (Postfix, Exim) are dispatched per line by program ([`parse_line`]); the formats
//! that are one per file (Exim's own main log, SmarterMail's SMTP and delivery logs, SMTP
//! transcripts) are parsed with the [`Format`] their file was detected as ([`parse_line_as`],
//! [`detect`]). Every format gives the same [`mailtrace_model::Message`]s, with `mta` and `server`.
//!
//! Memory is bounded by what is in flight: sessions idle for an hour and messages idle for
//! [`Limits::message_idle`] of log time are written out and dropped.
//!
//! ```
//! use mailtrace_correlate::Correlator;
//! use mailtrace_parse::syslog;
//! let mut c = Correlator::default();
//! let mut ctx = syslog::Context::new(2024, jiff::tz::TimeZone::UTC);
//! // Lines are numbered: messages keep the numbers (the store keeps the text once).
//! for (no, line) in (1..).zip([
//!     "Mar  1 10:00:00 mx postfix/pickup[1]: 3F2A1B: uid=0 from=<root>",
//!     "Mar  1 10:00:00 mx postfix/qmgr[2]: 3F2A1B: from=<root@mx>, size=300, nrcpt=1 (queue active)",
//!     "Mar  1 10:00:01 mx postfix/local[3]: 3F2A1B: to=<root@mx>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
//!     "Mar  1 10:00:01 mx postfix/qmgr[2]: 3F2A1B: removed",
//! ]) {
//!     c.feed_line(no, line, &mut ctx, None);
//! }
//! let out = c.checkpoint();
//! assert_eq!(out.messages.len(), 1);
//! assert_eq!(out.messages[0].line_nos, vec![1, 2, 3, 4]);
//! assert_eq!(out.messages[0].recipients[0].status, mailtrace_model::Status::Delivered);
//! ```
#![deny(missing_docs)]

mod exim;
mod file;
mod postfix;
mod sendmail;
mod smartermail;
mod transcript;

pub use file::{parse_line_as, FileKind, FileLine};
pub use mailtrace_parse::format::{detect, Format};
pub use postfix::{parse_line, Correlator, CorrelatorState, Limits, Parsed};

use mailtrace_model::{LineNo, Message, Ts};
use serde::{Deserialize, Serialize};

/// What correlation hands to the store.
#[derive(Debug, Default)]
pub struct Output {
    /// Finished messages, and messages still queued that changed since the last checkpoint
    /// (`open == true`); the store upserts them by id.
    pub messages: Vec<Message>,
    /// Lines that belong to no message: sessions without mail, daemon notices, unparsed lines.
    pub loose: Vec<LooseLine>,
}

impl Output {
    /// Nothing to write?
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.loose.is_empty()
    }
}

/// A raw line that is not part of any message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LooseLine {
    /// Server name (empty when the line had no readable envelope).
    pub server: String,
    /// When it was logged (the previous line's time when it had none).
    pub at: Ts,
    /// Why it is loose.
    pub kind: LooseKind,
    /// The raw line's number in the store's raw log.
    pub no: LineNo,
    /// The raw line: empty in the pipeline (the text is in the raw log under `no`), filled in
    /// when a store reads the line back.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub line: String,
}

/// Why a line belongs to no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LooseKind {
    /// Not understood: no syslog envelope, or a Postfix text no rule knows.
    Unparsed,
    /// A line of a program that is not a supported MTA (dovecot, opendkim, ...).
    Other,
    /// A client session that carried no message (scanners, auth failures, lost connections).
    Session,
    /// A daemon notice that concerns no message (statistics, warnings, start/stop, postscreen).
    Notice,
}

impl LooseKind {
    /// The lower-case name used in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            LooseKind::Unparsed => "unparsed",
            LooseKind::Other => "other",
            LooseKind::Session => "session",
            LooseKind::Notice => "notice",
        }
    }
}

/// Counters of one correlator, by stage outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Lines fed.
    pub lines: u64,
    /// Lines of Postfix daemons.
    pub postfix: u64,
    /// Lines of Exim.
    pub exim: u64,
    /// Lines of SmarterMail's SMTP and delivery logs.
    pub smartermail: u64,
    /// Lines of SMTP transcripts.
    pub transcript: u64,
    /// Lines of Sendmail.
    #[serde(default)]
    pub sendmail: u64,
    /// Lines without envelope or with Postfix text no rule knows.
    pub unparsed: u64,
    /// Lines of other programs.
    pub other: u64,
    /// Messages written out as finished.
    pub messages_done: u64,
    /// Recipients in finished messages.
    pub recipients_done: u64,
}
