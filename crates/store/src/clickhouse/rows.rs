//! The rows of the ClickHouse tables, as the `clickhouse` crate reads and writes them
//! (RowBinary: field order is column order), and how messages become rows.

use clickhouse::Row;
use mailtrace_model::{Message, Status, Ts};
use serde::{Deserialize, Serialize};

/// A `DateTime('UTC')` from a time (seconds, clamped to the type's range).
pub(super) fn datetime(t: Ts) -> u32 {
    (t.0.div_euclid(1_000_000)).clamp(0, i64::from(u32::MAX)) as u32
}

/// One bit per status, for "the message's or any recipient's status is one of".
pub(super) fn status_bit(s: Status) -> u16 {
    1 << (s as u8)
}

/// A version of a message.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct MessageRow {
    pub id: i64,
    pub version: u64,
    pub received: u32,
    pub received_us: i64,
    pub last_seen_us: i64,
    pub writer: String,
    pub server: String,
    pub mta: String,
    pub queue_id: String,
    pub message_id: String,
    pub sender: Option<String>,
    pub sender_domain: String,
    pub subject: String,
    pub client_host: String,
    pub client_ip: String,
    pub status: String,
    pub statuses: u16,
    pub open: u8,
    pub reason: String,
    pub size: Option<u64>,
    pub parent_id: Option<i64>,
    pub bounce_of: Option<i64>,
    pub rcpt: Vec<String>,
    pub rcpt_domain: Vec<String>,
    pub orig_to: Vec<String>,
    pub relay: Vec<String>,
    pub response: Vec<String>,
    pub doc: String,
}

/// A searchable value of a message.
#[derive(Debug, Row, Serialize)]
pub(super) struct KeyRow {
    pub kind: &'static str,
    pub key: String,
    pub received: u32,
    pub received_us: i64,
    pub id: i64,
}

/// Kinds of [`KeyRow`].
pub(super) mod kind {
    pub const ID: &str = "id";
    pub const SENDER: &str = "sender";
    pub const SENDER_DOMAIN: &str = "sender_domain";
    pub const RCPT: &str = "rcpt";
    pub const RCPT_DOMAIN: &str = "rcpt_domain";
    pub const ORIG_TO: &str = "orig_to";
    pub const QUEUE_ID: &str = "queue_id";
    pub const MESSAGE_ID: &str = "message_id";
    pub const CLIENT: &str = "client";
    pub const PARENT: &str = "parent";
    pub const BOUNCE_OF: &str = "bounce_of";
}

/// A raw log line.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct RawRow {
    pub no: u64,
    pub at: u32,
    pub at_us: i64,
    pub timed: u8,
    pub server: String,
    pub line: String,
}

/// A line of no message.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct LooseRow {
    pub at: u32,
    pub at_us: i64,
    pub no: u64,
    pub server: String,
    pub kind: String,
}

/// Where an input of a writer stands.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct CheckpointRow {
    pub writer: String,
    pub ident: i64,
    pub ident_len: u32,
    pub version: u64,
    pub path: String,
    pub offset: u64,
    pub lines: u64,
}

/// A writer's correlator state, next line number and newest message version.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct StateRow {
    pub writer: String,
    pub version: u64,
    pub next_line_no: u64,
    pub last_version: u64,
    pub state: String,
}

/// What [`StateRow`] says of a writer, read back.
#[derive(Debug, Default, Row, Deserialize)]
pub(super) struct WriterState {
    pub next_line_no: u64,
    pub last_version: u64,
    pub state: String,
}

/// Sums of a commit of a writer, for statistics (`crate::rollup`).
#[derive(Debug, Row, Serialize)]
pub(super) struct StatRow {
    pub at: u32,
    pub hour: i64,
    pub dim: u8,
    pub server: String,
    pub sdom: String,
    pub key: String,
    pub writer: String,
    pub seq: u64,
    pub part: u32,
    pub n: i64,
    pub bytes: i64,
    pub sum: f64,
    pub max: f64,
}

/// A commit that failed after some of its statistics were inserted: they do not count.
#[derive(Debug, Row, Serialize)]
pub(super) struct AbandonedRow {
    pub writer: String,
    pub seq: u64,
}

/// The rows of one version of a message: itself and its searchable values.
pub(super) fn message_rows(
    m: &Message,
    writer: &str,
    version: u64,
    keys: &mut Vec<KeyRow>,
) -> Result<MessageRow, serde_json::Error> {
    let received = datetime(m.received_at);
    let mut key = |kind: &'static str, value: String| {
        if !value.is_empty() {
            keys.push(KeyRow {
                kind,
                key: value,
                received,
                received_us: m.received_at.0,
                id: m.id,
            });
        }
    };
    key(kind::ID, m.id.to_string());
    let sender = m.sender.as_deref().map(str::to_ascii_lowercase);
    if let Some(s) = &sender {
        key(kind::SENDER, s.clone());
    }
    let sender_domain = m.sender_domain().unwrap_or_default();
    key(kind::SENDER_DOMAIN, sender_domain.clone());
    key(kind::QUEUE_ID, m.queue_id.clone().unwrap_or_default());
    key(kind::MESSAGE_ID, m.message_id.clone().unwrap_or_default());
    key(
        kind::CLIENT,
        m.client_host.as_deref().unwrap_or("").to_ascii_lowercase(),
    );
    key(kind::CLIENT, m.client_ip.clone().unwrap_or_default());
    if let Some(p) = m.parent_id {
        key(kind::PARENT, p.to_string());
    }
    if let Some(b) = m.bounce_of {
        key(kind::BOUNCE_OF, b.to_string());
    }
    let mut rcpt = Vec::with_capacity(m.recipients.len());
    let mut rcpt_domain = Vec::new();
    let mut orig_to = Vec::new();
    for r in &m.recipients {
        let a = r.address.to_ascii_lowercase();
        if let Some((_, d)) = a.rsplit_once('@') {
            if !rcpt_domain.iter().any(|x: &String| x == d) {
                rcpt_domain.push(d.to_string());
                key(kind::RCPT_DOMAIN, d.to_string());
            }
        }
        key(kind::RCPT, a.clone());
        rcpt.push(a);
        if let Some(o) = &r.orig_to {
            let o = o.to_ascii_lowercase();
            key(kind::ORIG_TO, o.clone());
            orig_to.push(o);
        }
    }
    // The document: everything but the raw lines' text (in `raw_lines`).
    let doc = if m.lines.is_empty() {
        serde_json::to_string(m)?
    } else {
        let mut copy = m.clone();
        copy.lines.clear();
        serde_json::to_string(&copy)?
    };
    Ok(MessageRow {
        id: m.id,
        version,
        received,
        received_us: m.received_at.0,
        last_seen_us: m.last_seen.0,
        writer: writer.to_string(),
        server: m.server.clone(),
        mta: m.mta.clone(),
        queue_id: m.queue_id.clone().unwrap_or_default(),
        message_id: m.message_id.clone().unwrap_or_default(),
        sender,
        sender_domain,
        subject: m.subject.clone().unwrap_or_default(),
        client_host: m.client_host.as_deref().unwrap_or("").to_ascii_lowercase(),
        client_ip: m.client_ip.clone().unwrap_or_default(),
        status: m.status.as_str().to_string(),
        statuses: m
            .recipients
            .iter()
            .fold(status_bit(m.status), |acc, r| acc | status_bit(r.status)),
        open: u8::from(m.open),
        reason: m.reason.clone().unwrap_or_default(),
        size: m.size,
        parent_id: m.parent_id,
        bounce_of: m.bounce_of,
        rcpt,
        rcpt_domain,
        orig_to,
        relay: m
            .recipients
            .iter()
            .filter_map(|r| r.relay.clone())
            .collect(),
        response: m
            .recipients
            .iter()
            .filter_map(|r| r.response.clone())
            .collect(),
        doc,
    })
}

/// A message from its document.
pub(super) fn message_of(doc: &str) -> Result<Message, crate::StoreError> {
    Ok(serde_json::from_str(doc)?)
}
