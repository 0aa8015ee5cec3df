//! Domain types of mailtrace, shared by every pipeline stage.
//!
//! Stage: none (no I/O). Parsers produce format-specific records; the correlator turns them into
//! the types here; stores persist them; queries and the CLI read them back.
//!
//! - [`Message`]: one message as one server handled it (`server`, `queue_id`, first seen), or one
//!   rejected attempt that never got a queue id (`NOQUEUE: reject`).
//! - [`Recipient`]: one envelope recipient with every [`Attempt`] and a final [`Status`].
//! - [`Event`]: one entry of a message's chronological timeline.
//! - [`Ts`]: a UTC instant in microseconds.
//!
//! ```
//! use mailtrace_model::{Status, Ts};
//! assert_eq!("bounced".parse::<Status>().unwrap(), Status::Bounced);
//! assert_eq!(Ts::from_secs(0).to_rfc3339(), "1970-01-01T00:00:00Z");
//! ```
#![deny(missing_docs)]

mod status;
mod time;

pub use status::{AttemptStatus, ParseStatusError, Status};
pub use time::Ts;

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The mail transfer agent that wrote the lines a message was built from.
pub const MTA_POSTFIX: &str = "postfix";
/// Exim.
pub const MTA_EXIM: &str = "exim";
/// Sendmail.
pub const MTA_SENDMAIL: &str = "sendmail";
/// SmarterMail (its SMTP and delivery logs).
pub const MTA_SMARTERMAIL: &str = "smartermail";
/// A server known only from its SMTP conversation transcripts.
pub const MTA_TRANSCRIPT: &str = "transcript";

/// One message as one server handled it.
///
/// Identified by `(server, queue_id, received_at)`: Postfix reuses queue ids, so a queue id seen
/// again after `removed` is a new message. A `NOQUEUE` rejection is a message without queue id
/// whose only recipient has [`Status::Rejected`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Stable identifier derived from the natural key (see [`message_key`]).
    pub id: i64,
    /// The host name of the mail server that logged the message.
    pub server: String,
    /// Which MTA logged it (`postfix`, ...).
    pub mta: String,
    /// Queue id on that server; `None` for a rejection before a queue file existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The `Message-ID` header, with its angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Envelope sender; `Some("")` is the null sender `<>`, `None` means not seen in the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The `Subject:` header when the MTA logged it (Postfix: `header_checks` INFO/WARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Size in bytes as the queue manager reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Number of recipients announced by the queue manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nrcpt: Option<u32>,
    /// Client host name as the receiving server resolved it (`unknown` when it could not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_host: Option<String>,
    /// Client IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// HELO/EHLO name of the client, when logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// Protocol (`SMTP`, `ESMTP`), when logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// SASL method of an authenticated submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_method: Option<String>,
    /// SASL user name of an authenticated submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_username: Option<String>,
    /// TLS of the receiving connection (`TLSv1.3 with cipher ...`), when logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Local submission through `sendmail`/`pickup`: the submitting uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// When the server first logged the message.
    pub received_at: Ts,
    /// When the server last logged anything about it.
    pub last_seen: Ts,
    /// Summary status over the recipients (see [`Status::summarize`]).
    pub status: Status,
    /// The envelope recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<Recipient>,
    /// For a message re-injected by a content filter: the message it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    /// For a bounce, delay or success notification: the message it reports on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_of: Option<i64>,
    /// Why the message was rejected, held or discarded as a whole (cleanup checks, NOQUEUE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Chronological timeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Raw log lines of the message, in input order: the text of [`Message::line_nos`], filled
    /// in when a store reads the message for display ([`Message::line_nos`] is what the
    /// pipeline carries: the text is stored once, in the store's raw log).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// Numbers of the message's raw lines (see [`LineNo`]), in input order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line_nos: Vec<LineNo>,
    /// The message is still in the queue: a later ingest may add to it.
    #[serde(default)]
    pub open: bool,
}

impl Recipient {
    /// Add a delivery attempt: it becomes the recipient's last state (status, codes, response,
    /// relay, delay).
    pub fn record(&mut self, attempt: Attempt) {
        self.status = attempt.status.recipient_status();
        self.dsn = attempt.dsn.clone();
        self.smtp_code = attempt.smtp_code;
        self.response = attempt.response.clone();
        self.relay = attempt.relay.clone();
        self.delay_s = attempt.delay_s;
        self.last_attempt_at = Some(attempt.at);
        self.attempts.push(attempt);
    }
}

impl Message {
    /// The queue ended the message as `status` (expired, removed): so do its recipients still
    /// pending or deferred, or the message itself when it has none.
    pub fn end_pending(&mut self, status: Status) {
        for r in &mut self.recipients {
            if !r.status.is_final() || r.status == Status::Deferred {
                r.status = status;
            }
        }
        if self.recipients.is_empty() {
            self.status = status;
        }
    }

    /// The sender's domain, lower-cased, or `None` for the null sender and unknown senders.
    pub fn sender_domain(&self) -> Option<String> {
        self.sender.as_deref().and_then(domain_of)
    }

    /// Recompute [`Message::status`] from the recipients and the message-level state.
    pub fn refresh_status(&mut self) {
        self.status = Status::summarize(self.recipients.iter().map(|r| r.status), self.status);
    }
}

/// One envelope recipient of a [`Message`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    /// The recipient address as delivered (after rewriting).
    pub address: String,
    /// The original recipient address, when the MTA rewrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orig_to: Option<String>,
    /// Final (or current, while queued) status.
    pub status: Status,
    /// Enhanced status code of the last attempt (`2.0.0`, `4.4.1`, `5.1.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// SMTP reply code of the last attempt, pulled out of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_code: Option<u16>,
    /// Response text of the last attempt (the remote reply or the local reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Next hop of the last attempt, as logged (`mx.example.com[192.0.2.1]:25`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// Total delay in seconds reported by the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_s: Option<f64>,
    /// When the last attempt was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<Ts>,
    /// Every delivery attempt, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

/// One delivery attempt of one recipient.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When the attempt was logged.
    pub at: Ts,
    /// Outcome as the delivery agent logged it.
    pub status: AttemptStatus,
    /// Delivery agent (`smtp`, `lmtp`, `local`, `virtual`, `pipe`, `error`, ...).
    pub agent: String,
    /// Enhanced status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// SMTP reply code pulled out of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_code: Option<u16>,
    /// Response text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// Total delay in seconds (`delay=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_s: Option<f64>,
    /// Postfix's `delays=a/b/c/d`: before queue manager, in queue manager, connection setup, transmission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delays: Option<[f64; 4]>,
    /// The queue id the next hop gave the message (`250 ... queued as NEWID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_as: Option<String>,
    /// TLS of the connection to the next hop (`Trusted TLSv1.3 with cipher ...`), when the
    /// delivery agent logged one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
}

/// Number of a raw log line in a store: every line read gets the next number, so numbers
/// follow the order of ingestion (from 1).
pub type LineNo = u64;

/// One entry of a message's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened.
    pub at: Ts,
    /// Short machine-readable kind (`received`, `message-id`, `queued`, `sent`, `deferred`, ...).
    pub kind: Cow<'static, str>,
    /// Human-readable description. Empty while [`Event::source`] names the raw line it is the
    /// tail of (the pipeline does not copy it); a store fills it in when it reads the event.
    pub text: String,
    /// The raw line the text comes from: its number and the byte where the text starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<(LineNo, u32)>,
}

/// Timeline kinds that every MTA's correlator uses for the same moments, so front ends can
/// point at them (the dashboard highlights their lines).
pub mod event_kind {
    /// The server took the message into its queue (Postfix: the `qmgr` `from=` line).
    pub const QUEUED: &str = "queued";
    /// A next hop (a remote server, a mailbox, a content filter) accepted the message for a
    /// recipient (Postfix: `status=sent`).
    pub const SENT: &str = "sent";
}

impl Message {
    /// The raw lines (numbers) where the message was accepted: by this server into its queue
    /// ([`event_kind::QUEUED`]) and by a next hop ([`event_kind::SENT`]), in timeline order.
    /// A message queued again after a deferral is logged as queued again: only the first
    /// counts.
    pub fn acceptance_lines(&self) -> Vec<(LineNo, &'static str)> {
        let mut queued = false;
        self.events
            .iter()
            .filter_map(|e| {
                let kind = match e.kind.as_ref() {
                    event_kind::QUEUED if !queued => {
                        queued = true;
                        event_kind::QUEUED
                    }
                    event_kind::SENT => event_kind::SENT,
                    _ => return None,
                };
                e.source.map(|(no, _)| (no, kind))
            })
            .collect()
    }
}

impl Event {
    /// An event with its own text.
    pub fn new(at: Ts, kind: impl Into<Cow<'static, str>>, text: impl Into<String>) -> Event {
        Event {
            at,
            kind: kind.into(),
            text: text.into(),
            source: None,
        }
    }
}

/// The domain part of an address, lower-cased; `None` without `@`.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, d) = address.rsplit_once('@')?;
    let d = d.trim_end_matches('>');
    (!d.is_empty()).then(|| d.to_ascii_lowercase())
}

/// FNV-1a, 64 bits: the one small, stable hash of mailtrace (ids, input identities). Not
/// for security; chosen because its value never changes between builds or platforms.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_more(0xcbf2_9ce4_8422_2325, bytes)
}

fn fnv1a_more(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Stable 63-bit identifier of a message from its natural key.
///
/// FNV-1a over the key parts, so the same input always gives the same id: re-ingesting
/// the same lines after a crash updates the same rows instead of adding duplicates.
pub fn message_key(server: &str, queue_id: &str, first_seen: Ts, discriminator: u64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    // Each part ends with a separator byte, so ("ab", "c") and ("a", "bc") differ.
    let mut feed = |bytes: &[u8]| h = fnv1a_more(fnv1a_more(h, bytes), &[0xff]);
    feed(server.as_bytes());
    feed(queue_id.as_bytes());
    feed(&first_seen.0.to_le_bytes());
    feed(&discriminator.to_le_bytes());
    // Keep it positive so it reads well in URLs and SQL.
    (h >> 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lowercased_and_needs_an_at() {
        assert_eq!(domain_of("a@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain_of("postmaster"), None);
        assert_eq!(domain_of(""), None);
    }

    #[test]
    fn message_key_is_stable_and_distinguishes_reuse() {
        let a = message_key("mx", "ABC", Ts(1), 0);
        assert_eq!(a, message_key("mx", "ABC", Ts(1), 0));
        assert_ne!(a, message_key("mx", "ABC", Ts(2), 0));
        assert_ne!(a, message_key("mx2", "ABC", Ts(1), 0));
        assert!(a >= 0);
    }

    #[test]
    fn message_round_trips_through_json() {
        let m = Message {
            id: 7,
            server: "mx".into(),
            sender: Some(String::new()),
            recipients: vec![Recipient {
                address: "a@b".into(),
                status: Status::Deferred,
                ..Default::default()
            }],
            ..Default::default()
        };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&s).unwrap(), m);
    }
}
