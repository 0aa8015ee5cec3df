//! SMTP transcripts: each connection is one message (one per `MAIL FROM` when a connection
//! carries several), with the whole conversation as its lines and timeline.
//!
//! A connection we opened (`New connection to: ip`) is a delivery: every recipient gets one
//! attempt whose outcome is the remote server's reply (its refusal of the `RCPT TO`, else its
//! reply to the data). A connection we accepted (`New connection from: ip`) is a received
//! message: accepted recipients are queued, refused ones rejected records. Either way the `250`
//! that ends the data is the acceptance line (timeline kind `sent` for a delivery, `queued` for
//! a received message), which the dashboard highlights.

use crate::file::Reply;
use crate::{Correlator, LooseKind};
use mailtrace_model::{
    event_kind, message_key, Attempt, AttemptStatus, Event, LineNo, Message, Recipient, Status, Ts,
    MTA_TRANSCRIPT,
};
use mailtrace_parse::smtp::{Command, Smtp};
use mailtrace_parse::transcript::{Kind, Line};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// Transcript state of one server: connections under way by id.
#[derive(Default)]
pub(crate) struct TrServer {
    conns: Map<String, Conn>,
}

/// Transcript connections under way, saved with a checkpoint.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct TrSnapshot {
    conns: Vec<(String, Conn)>,
}

impl TrServer {
    /// Connections under way?
    pub(crate) fn in_flight(&self) -> bool {
        !self.conns.is_empty()
    }

    pub(crate) fn snapshot(&self) -> TrSnapshot {
        TrSnapshot {
            conns: self
                .conns
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    pub(crate) fn restore(&mut self, snap: TrSnapshot) {
        self.conns = snap.conns.into_iter().collect();
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
enum Pending {
    #[default]
    None,
    StartTls,
    Mail,
    Rcpt(String),
    Data,
    Body,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Conn {
    id: String,
    peer: String,
    outgoing: bool,
    tls: bool,
    started: Ts,
    last_seen: Ts,
    helo: Option<String>,
    greeting: Option<String>,
    pending: Pending,
    txn: Option<Txn>,
    /// Messages of the connection, with their acceptance lines.
    done: Vec<(Message, Option<LineNo>)>,
    lines: Vec<LineNo>,
    events: Vec<Event>,
    /// The last reply of 4xx/5xx.
    error: Option<Reply>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Txn {
    msg: Message,
    rcpts: Vec<(String, Reply)>,
    data: Option<Reply>,
    /// The `250` after the data.
    #[serde(default)]
    accept_no: Option<LineNo>,
}

impl Correlator {
    /// A transcript line.
    pub(crate) fn transcript_line(&mut self, s: usize, at: Ts, l: &Line<'_>) {
        let lean = self.lean;
        let cur = self.cur;
        let name = self.servers[s].name.clone();
        if let Kind::Open {
            peer,
            outgoing,
            secure,
        } = l.kind
        {
            // A connection id seen again starts a new connection.
            if let Some(old) = self.servers[s].transcript.conns.remove(l.conn) {
                self.tr_close(s, old);
            }
            let conn = Conn {
                id: l.conn.to_string(),
                peer: peer.to_string(),
                outgoing,
                tls: secure,
                started: at,
                ..Conn::default()
            };
            self.servers[s]
                .transcript
                .conns
                .insert(l.conn.to_string(), conn);
        }
        let conn = self.servers[s]
            .transcript
            .conns
            .entry(l.conn.to_string())
            .or_insert_with(|| Conn {
                // The file starts in the middle of the connection.
                id: l.conn.to_string(),
                outgoing: true,
                started: at,
                ..Conn::default()
            });
        conn.last_seen = at;
        conn.lines.push(cur.no);
        let mut kind = "note";
        let mut close = false;
        match l.kind {
            Kind::Open { .. } => kind = "connect",
            Kind::Closed => {
                kind = "disconnect";
                close = true;
            }
            Kind::Dialogue(Smtp::Command(c)) => {
                kind = "command";
                conn.pending = match c {
                    Command::Helo(h) => {
                        conn.helo = Some(h.to_string());
                        Pending::None
                    }
                    Command::StartTls => Pending::StartTls,
                    Command::MailFrom(from) => {
                        end_txn(conn);
                        conn.txn = Some(Txn {
                            msg: Message {
                                server: name.clone(),
                                mta: MTA_TRANSCRIPT.to_string(),
                                queue_id: Some(conn.id.clone()),
                                sender: Some(from.to_string()),
                                size: mailtrace_parse::smtp::mail_size(l.text),
                                received_at: conn.started,
                                last_seen: at,
                                ..Message::default()
                            },
                            rcpts: Vec::new(),
                            data: None,
                            accept_no: None,
                        });
                        Pending::Mail
                    }
                    Command::RcptTo(to) => Pending::Rcpt(to.to_string()),
                    Command::Data => Pending::Data,
                    Command::Rset | Command::Quit => {
                        end_txn(conn);
                        Pending::None
                    }
                    _ => Pending::None,
                };
            }
            Kind::Dialogue(Smtp::Reply(r)) => {
                kind = "reply";
                let code = r.code.unwrap_or(0);
                let rep = Reply::of(&r);
                if conn.greeting.is_none() && code == 220 && conn.pending == Pending::None {
                    conn.greeting = r
                        .text
                        .get(4..)
                        .and_then(|t| t.split_whitespace().next())
                        .map(str::to_string);
                }
                if code >= 400 {
                    conn.error = Some(rep.clone());
                }
                // Continuation lines of a multi-line reply (`250-...`) answer nothing yet.
                let last_line = r.text.as_bytes().get(3) != Some(&b'-');
                if last_line {
                    match std::mem::take(&mut conn.pending) {
                        Pending::StartTls if code == 220 => conn.tls = true,
                        Pending::Mail if code >= 400 => {
                            if let Some(t) = conn.txn.as_mut() {
                                t.data = Some(rep);
                            }
                        }
                        Pending::Rcpt(to) => {
                            if let Some(t) = conn.txn.as_mut() {
                                t.rcpts.push((to, rep));
                            }
                        }
                        Pending::Data if code == 354 => conn.pending = Pending::Body,
                        Pending::Data | Pending::Body => {
                            if (200..300).contains(&code) {
                                kind = if conn.outgoing {
                                    event_kind::SENT
                                } else {
                                    event_kind::QUEUED
                                };
                            }
                            if let Some(t) = conn.txn.as_mut() {
                                if (200..300).contains(&code) {
                                    t.accept_no = Some(cur.no);
                                }
                                t.data = Some(rep);
                                t.msg.last_seen = at;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Kind::Other => {}
        }
        if !lean {
            conn.events.push(cur.event(at, kind, l.text));
        }
        if close {
            if let Some(c) = self.servers[s].transcript.conns.remove(l.conn) {
                self.tr_close(s, c);
            }
        }
    }

    /// The connection ended: its transactions become messages with all of its lines.
    fn tr_close(&mut self, s: usize, mut conn: Conn) {
        end_txn(&mut conn);
        let name = self.servers[s].name.clone();
        if conn.done.is_empty() {
            for no in &conn.lines {
                self.loose(&name, conn.last_seen, LooseKind::Session, *no);
            }
            return;
        }
        let n = conn.done.len();
        for (i, (mut m, own)) in std::mem::take(&mut conn.done).into_iter().enumerate() {
            let disc = mailtrace_model::fnv1a(conn.peer.as_bytes()) ^ i as u64;
            m.id = message_key(&name, &conn.id, m.received_at, disc);
            if !conn.outgoing {
                m.client_ip = Some(conn.peer.clone()).filter(|p| !p.is_empty());
                m.client_host = Some("unknown".to_string());
                m.helo.clone_from(&conn.helo);
                m.tls = conn.tls.then(|| "TLS".to_string());
            }
            if !self.lean {
                m.line_nos.clone_from(&conn.lines);
                m.events = if i + 1 == n {
                    std::mem::take(&mut conn.events)
                } else {
                    conn.events.clone()
                };
                crate::file::own_acceptance(&mut m, own);
            }
            self.finish(m);
        }
    }

    /// Close transcript connections idle for longer than `idle` (all with `None`).
    pub(crate) fn transcript_sweep(&mut self, s: usize, now: Ts, idle: Option<i64>) {
        let stale: Vec<String> = self.servers[s]
            .transcript
            .conns
            .iter()
            .filter(|(_, c)| idle.is_none_or(|i| now.0 - c.last_seen.0 > i))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(c) = self.servers[s].transcript.conns.remove(&k) {
                self.tr_close(s, c);
            }
        }
    }
}

/// A transaction ends: it becomes a message when it named a recipient.
fn end_txn(conn: &mut Conn) {
    let Some(t) = conn.txn.take() else { return };
    if t.rcpts.is_empty() {
        if let Some(r) = t.data.filter(|r| r.code.unwrap_or(0) >= 400) {
            // Refused at MAIL FROM.
            let mut m = t.msg;
            let at = m.last_seen;
            crate::postfix::reject_message(&mut m, at, None, &r.text, r.code, r.dsn.as_deref());
            conn.done.push((m, None));
        }
        return;
    }
    let mut m = t.msg;
    let at = m.last_seen;
    let relay = relay(conn.greeting.as_deref(), &conn.peer);
    for (to, rr) in &t.rcpts {
        let rcode = rr.code.unwrap_or(0);
        if !conn.outgoing {
            if rcode >= 400 {
                // A refused recipient is a rejected record of its own, as Postfix logs
                // `NOQUEUE: reject: RCPT`: the message may still go to the others.
                let mut r = Message {
                    recipients: Vec::new(),
                    ..m.clone()
                };
                crate::postfix::reject_message(
                    &mut r,
                    at,
                    Some(to),
                    &rr.text,
                    rr.code,
                    rr.dsn.as_deref(),
                );
                conn.done.push((r, None));
                continue;
            }
            // Accepted: queued once the data was taken, else refused with the data.
            let mut r = Recipient {
                address: to.clone(),
                ..Recipient::default()
            };
            let refusal = match t.data.as_ref() {
                Some(d) if d.code.unwrap_or(0) >= 400 => Some(d),
                Some(_) => None,
                None => Some(conn.error.as_ref().unwrap_or(rr)),
            };
            if let Some(rep) = refusal {
                r.status = Status::Rejected;
                r.smtp_code = rep.code;
                r.dsn.clone_from(&rep.dsn);
                r.response = Some(rep.text.clone());
                r.last_attempt_at = Some(at);
            }
            m.recipients.push(r);
            continue;
        }
        // Delivered by us: the refusal of the recipient, else the reply to the data, else the
        // connection ended first.
        let rep = if rcode >= 400 {
            Some(rr.clone())
        } else {
            t.data.clone().or_else(|| conn.error.clone())
        };
        let status = match rep.as_ref().and_then(|r| r.code) {
            Some(c) if c >= 500 => AttemptStatus::Bounced,
            Some(c) if c >= 400 => AttemptStatus::Deferred,
            Some(_) => AttemptStatus::Sent,
            None => AttemptStatus::Deferred,
        };
        let response = rep
            .as_ref()
            .map(|r| r.text.clone())
            .or_else(|| Some("connection closed before the data was accepted".to_string()));
        let attempt = Attempt {
            at,
            status,
            agent: "smtp".to_string(),
            dsn: rep.as_ref().and_then(|r| r.dsn.clone()),
            smtp_code: rep.as_ref().and_then(|r| r.code),
            response,
            relay: Some(relay.clone()),
            delay_s: Some((at.0 - m.received_at.0) as f64 / 1e6),
            tls: conn.tls.then(|| "TLS".to_string()),
            ..Attempt::default()
        };
        let mut r = Recipient {
            address: to.clone(),
            ..Recipient::default()
        };
        r.record(attempt);
        m.recipients.push(r);
    }
    if m.recipients.is_empty() {
        return;
    }
    if !conn.outgoing && m.recipients.iter().all(|r| r.status == Status::Rejected) {
        m.status = Status::Rejected;
        m.reason = m.recipients.first().and_then(|r| r.response.clone());
    }
    m.nrcpt = Some(m.recipients.len() as u32);
    let own = t.accept_no;
    conn.done.push((m, own));
}

/// `greeting[ip]` as Postfix writes a relay.
fn relay(greeting: Option<&str>, peer: &str) -> String {
    format!("{}[{peer}]", greeting.unwrap_or(""))
}

#[cfg(test)]
mod tests;
