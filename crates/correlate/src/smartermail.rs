//! SmarterMail correlation: SMTP sessions into received messages, delivery sessions into the
//! recipients' attempts.
//!
//! A message is received in an SMTP session (`[ip][session]` lines): `MAIL FROM`, the accepted
//! `RCPT TO`s and the `250` after `DATA` (its acceptance line), then `Data transfer succeeded,
//! writing mail to 61003.eml` names its spool number. The delivery log names each delivery by
//! that number (`[61003] Delivery started for ...`), so the delivery's attempts land on the
//! same message: one message from the client to the remote server, as for Postfix. A delivery
//! whose SMTP session is not in the input (sent from webmail, or the SMTP log not ingested
//! before the delivery log) is a message of its own.
//!
//! Every line of the session and of each delivery is kept with the message (its related
//! lines); each `RCPT TO` refused with a 4xx/5xx is a rejected record, like Postfix's
//! `NOQUEUE: reject`.

use crate::file::Reply;
use crate::{Correlator, LooseKind};
use mailtrace_model::{
    event_kind, message_key, Attempt, AttemptStatus, Event, LineNo, Message, Recipient, Status, Ts,
    MTA_SMARTERMAIL,
};
use mailtrace_parse::smartermail::{Kind, Line, Source};
use mailtrace_parse::smtp::Command;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// SmarterMail state of one server.
#[derive(Default)]
pub(crate) struct SmServer {
    /// SMTP sessions by session id.
    sessions: Map<String, Session>,
    /// Messages in the spool (received and waiting, or being delivered), by spool number
    /// (boxed: growing the map moves entries).
    pub(crate) spool: Map<String, Box<Spooled>>,
    /// Delivery sessions under way, by spool number.
    deliveries: Map<String, Delivery>,
    /// Spool numbers of messages finished lately, for stray lines after the end.
    done: Map<String, Ts>,
}

/// What of a server's SmarterMail state survives a checkpoint (the spooled messages are in
/// the store, as open messages).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct SmSnapshot {
    sessions: Vec<(String, Session)>,
    deliveries: Vec<(String, Delivery)>,
    done: Vec<(String, Ts)>,
}

impl SmServer {
    /// Sessions or deliveries under way?
    pub(crate) fn in_flight(&self) -> bool {
        !self.sessions.is_empty() || !self.deliveries.is_empty()
    }

    pub(crate) fn snapshot(&self) -> SmSnapshot {
        SmSnapshot {
            sessions: self
                .sessions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            deliveries: self
                .deliveries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            done: self.done.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }
    }

    pub(crate) fn restore(&mut self, snap: SmSnapshot) {
        self.sessions = snap.sessions.into_iter().collect();
        self.deliveries = snap.deliveries.into_iter().collect();
        self.done = snap.done.into_iter().collect();
    }
}

pub(crate) struct Spooled {
    pub(crate) msg: Message,
    pub(crate) dirty: bool,
}

/// The last client command of a session, which the next reply answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
enum Pending {
    #[default]
    None,
    StartTls,
    Auth,
    Mail,
    Rcpt(String),
    Data,
    /// `354` was answered: the next reply ends the data.
    Body,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Session {
    /// Session id and client address: with the time, what tells its messages' ids apart.
    key: String,
    ip: String,
    last_seen: Ts,
    helo: Option<String>,
    esmtp: bool,
    auth_method: Option<String>,
    auth_user: Option<String>,
    authenticated: bool,
    tls: bool,
    pending: Pending,
    /// The transaction under way: from `MAIL FROM` to the reply after the data.
    txn: Option<Txn>,
    /// Messages of the session, written when it ends (they carry all of its lines), with
    /// their acceptance lines.
    done: Vec<(Message, Option<LineNo>)>,
    /// Messages accepted into the spool during the session, and how many of its lines they
    /// had then: the lines after those join them when the session ends.
    spooled: Vec<(String, usize, Option<LineNo>)>,
    lines: Vec<LineNo>,
    events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Txn {
    msg: Message,
    accepted: bool,
    /// The `250` after the data.
    #[serde(default)]
    accept_no: Option<LineNo>,
}

/// A delivery session: its lines go to the message as they come; this is what the next line
/// needs to know.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Delivery {
    recipients: Vec<String>,
    remote: Option<String>,
    greeting: Option<String>,
    pending: Pending,
    /// Reply to each `RCPT TO`.
    rcpt_replies: Vec<(String, Reply)>,
    /// The reply that ended the data.
    data_reply: Option<Reply>,
    /// The last 4xx/5xx reply or connection failure.
    error: Option<Reply>,
    tls: bool,
    local: bool,
    removed: bool,
}

impl Delivery {
    /// A new connection: a new conversation (the recipients and the spool stay).
    fn new_connection(&mut self) {
        self.greeting = None;
        self.pending = Pending::None;
        self.rcpt_replies.clear();
        self.data_reply = None;
        self.error = None;
        self.tls = false;
    }
}

impl Correlator {
    /// A line of a SmarterMail SMTP or delivery log.
    pub(crate) fn smartermail_line(&mut self, s: usize, at: Ts, l: &Line<'_>) {
        if matches!(l.kind, Kind::Other) {
            // Counted as unparsed and listed with the unparsed lines; it still belongs to its
            // session or delivery.
            self.counters.unparsed += 1;
            let name = self.servers[s].name.clone();
            self.loose(&name, at, LooseKind::Unparsed, self.cur.no);
        }
        match l.source {
            Source::Session { ip, id } => self.sm_session(s, at, ip, id, l),
            Source::Delivery { id } => self.sm_delivery(s, at, id, l),
            Source::Service => {
                if !matches!(l.kind, Kind::Other) {
                    let name = self.servers[s].name.clone();
                    self.loose(&name, at, LooseKind::Notice, self.cur.no);
                }
            }
        }
    }

    fn sm_session(&mut self, s: usize, at: Ts, ip: &str, id: &str, l: &Line<'_>) {
        let lean = self.lean;
        let cur = self.cur;
        let name = self.servers[s].name.clone();
        let sess = self.servers[s]
            .smartermail
            .sessions
            .entry(id.to_string())
            .or_insert_with(|| Session {
                key: format!("{id}[{ip}]"),
                ip: ip.to_string(),
                ..Session::default()
            });
        sess.last_seen = at;
        sess.lines.push(cur.no);
        let mut kind = "note";
        let mut close = false;
        match l.kind {
            Kind::Cmd(c) => {
                kind = "command";
                let pending = match c {
                    Command::Helo(h) => {
                        sess.helo = Some(h.to_string());
                        sess.esmtp = l
                            .text
                            .get(5..9)
                            .is_some_and(|v| v.eq_ignore_ascii_case("EHLO"));
                        Pending::None
                    }
                    Command::StartTls => Pending::StartTls,
                    Command::Auth(m) => {
                        sess.auth_method = Some(m.to_string());
                        Pending::Auth
                    }
                    Command::MailFrom(from) => {
                        end_txn(sess);
                        sess.txn = Some(Txn {
                            msg: Message {
                                server: name.clone(),
                                mta: MTA_SMARTERMAIL.to_string(),
                                sender: Some(from.to_string()),
                                size: mailtrace_parse::smtp::mail_size(l.text),
                                received_at: at,
                                last_seen: at,
                                ..Message::default()
                            },
                            accepted: false,
                            accept_no: None,
                        });
                        Pending::Mail
                    }
                    Command::RcptTo(to) => Pending::Rcpt(to.to_string()),
                    Command::Data => Pending::Data,
                    Command::Rset | Command::Quit => {
                        end_txn(sess);
                        Pending::None
                    }
                    // An AUTH continuation keeps waiting for the verdict.
                    Command::Other(_) if sess.pending == Pending::Auth => Pending::Auth,
                    Command::Other(_) => Pending::None,
                };
                sess.pending = pending;
            }
            Kind::Rsp(r) => {
                kind = "reply";
                let code = r.code.unwrap_or(0);
                let ok = (200..400).contains(&code);
                match std::mem::take(&mut sess.pending) {
                    Pending::StartTls if code == 220 => {
                        sess.tls = true;
                        kind = "tls";
                    }
                    Pending::Auth if code == 334 => sess.pending = Pending::Auth,
                    Pending::Auth if code == 235 => {
                        sess.authenticated = true;
                        kind = "auth";
                    }
                    Pending::Auth if code >= 400 => kind = "auth failed",
                    // SmarterMail may log the verdict without the AUTH command before it.
                    Pending::None if code == 535 => kind = "auth failed",
                    Pending::Mail if code >= 400 => {
                        if let Some(mut t) = sess.txn.take() {
                            let rep = Reply::of(&r);
                            crate::postfix::reject_message(
                                &mut t.msg,
                                at,
                                None,
                                &rep.text,
                                rep.code,
                                rep.dsn.as_deref(),
                            );
                            sess.done.push((t.msg, None));
                        }
                        kind = "reject at MAIL";
                    }
                    Pending::Rcpt(to) => {
                        if let Some(t) = sess.txn.as_mut() {
                            if ok {
                                t.msg.recipients.push(Recipient {
                                    address: to,
                                    ..Recipient::default()
                                });
                            } else if code >= 400 {
                                // A rejected record of its own, as Postfix logs `NOQUEUE:
                                // reject: RCPT`: the message may still go to the others.
                                let rep = Reply::of(&r);
                                let disc = mailtrace_model::fnv1a(id.as_bytes())
                                    ^ mailtrace_model::fnv1a(to.as_bytes())
                                    ^ sess.lines.len() as u64;
                                let mut m = Message {
                                    id: message_key(&name, "", at, disc),
                                    recipients: vec![Recipient {
                                        address: to.clone(),
                                        ..Recipient::default()
                                    }],
                                    received_at: at,
                                    last_seen: at,
                                    ..t.msg.clone()
                                };
                                crate::postfix::reject_message(
                                    &mut m,
                                    at,
                                    Some(&to),
                                    &rep.text,
                                    rep.code,
                                    rep.dsn.as_deref(),
                                );
                                sess.done.push((m, None));
                                kind = "reject at RCPT";
                            }
                        }
                    }
                    Pending::Data if code == 354 => sess.pending = Pending::Body,
                    Pending::Data | Pending::Body if code >= 400 => {
                        if let Some(mut t) = sess.txn.take() {
                            let rep = Reply::of(&r);
                            crate::postfix::reject_message(
                                &mut t.msg,
                                at,
                                None,
                                &rep.text,
                                rep.code,
                                rep.dsn.as_deref(),
                            );
                            sess.done.push((t.msg, None));
                        }
                        kind = "reject after DATA";
                    }
                    Pending::Body if ok => {
                        if let Some(t) = sess.txn.as_mut() {
                            t.accepted = true;
                            t.accept_no = Some(cur.no);
                            t.msg.last_seen = at;
                        }
                        kind = event_kind::QUEUED;
                    }
                    _ => {}
                }
            }
            Kind::Authenticating(u) => {
                sess.auth_user = Some(u.to_string());
                kind = "auth";
            }
            Kind::Authenticated(u) => {
                sess.auth_user = Some(u.to_string());
                sess.authenticated = true;
                kind = "auth";
            }
            Kind::Spooled { spool, message_id } => {
                // Logged next to the `250` that ends the data, before or after it.
                let m = match sess.txn.as_mut() {
                    Some(t) => Some(&mut t.msg),
                    None => sess
                        .done
                        .last_mut()
                        .map(|(m, _)| m)
                        .filter(|m| m.status != Status::Rejected),
                };
                if let Some(m) = m {
                    m.queue_id = Some(spool.to_string());
                    m.message_id = message_id.map(str::to_string);
                }
                kind = "spooled";
            }
            Kind::Connected => kind = "connect",
            Kind::Disconnected => {
                kind = "disconnect";
                close = true;
            }
            _ => {}
        }
        if !lean {
            sess.events.push(cur.event(at, kind, l.text));
        }
        // Accepted and named: into the spool now, where a checkpoint saves it and its delivery
        // finds it, even while the session goes on.
        if sess
            .txn
            .as_ref()
            .is_some_and(|t| t.accepted && t.msg.queue_id.is_some())
        {
            if let Some(t) = sess.txn.take() {
                let mut m = t.msg;
                with_session(&mut m, sess, lean);
                crate::file::own_acceptance(&mut m, t.accept_no);
                let q = m.queue_id.clone().unwrap_or_default();
                sess.spooled
                    .push((q.clone(), sess.lines.len(), t.accept_no));
                self.sm_spool(s, q, m);
            }
        }
        if close {
            if let Some(sess) = self.servers[s].smartermail.sessions.remove(id) {
                self.sm_close_session(s, sess);
            }
        }
    }

    /// The session ended: its messages get its lines and go out (accepted ones with a spool
    /// number wait in the spool for their delivery).
    fn sm_close_session(&mut self, s: usize, mut sess: Session) {
        end_txn(&mut sess);
        let name = self.servers[s].name.clone();
        let lean = self.lean;
        let spooled_any = !sess.spooled.is_empty();
        // Messages spooled during the session get the lines that followed.
        for (q, from, own) in std::mem::take(&mut sess.spooled) {
            if let Some(open) = self.servers[s].smartermail.spool.get_mut(&q) {
                if !lean {
                    let m = &mut open.msg;
                    m.line_nos
                        .extend_from_slice(sess.lines.get(from..).unwrap_or_default());
                    let mut later: Vec<Event> =
                        sess.events.get(from..).unwrap_or_default().to_vec();
                    for e in &mut later {
                        // A later transaction's acceptance is not this message's.
                        if e.kind == event_kind::QUEUED && e.source.map(|s| s.0) != own {
                            e.kind = "reply".into();
                        }
                    }
                    m.events.extend(later);
                    m.line_nos.sort_unstable();
                    m.line_nos.dedup();
                }
                open.dirty = true;
            }
        }
        if sess.done.is_empty() {
            if !spooled_any {
                for no in &sess.lines {
                    self.loose(&name, sess.last_seen, LooseKind::Session, *no);
                }
            }
            return;
        }
        for (i, (mut m, own)) in std::mem::take(&mut sess.done).into_iter().enumerate() {
            with_session(&mut m, &sess, lean);
            crate::file::own_acceptance(&mut m, own);
            if m.id == 0 {
                let disc = mailtrace_model::fnv1a(sess.key.as_bytes()) ^ i as u64;
                m.id = message_key(&name, "", m.received_at, disc);
            }
            match m.queue_id.clone() {
                Some(q) if m.status != Status::Rejected => self.sm_spool(s, q, m),
                // Rejected; or accepted, but nothing says where it went: queued as far as the
                // logs tell.
                _ => self.finish(m),
            }
        }
    }

    /// An accepted message into the spool; a delivery already under way for its number (the
    /// delivery log came first) takes the session's part.
    fn sm_spool(&mut self, s: usize, q: String, mut m: Message) {
        let srv = &mut self.servers[s].smartermail;
        if let Some(open) = srv.spool.get_mut(&q) {
            let d = &mut open.msg;
            d.sender = m.sender.take().or(d.sender.take());
            d.client_ip = m.client_ip.take();
            d.client_host = m.client_host.take();
            d.helo = m.helo.take();
            d.proto = m.proto.take();
            d.sasl_method = m.sasl_method.take();
            d.sasl_username = m.sasl_username.take();
            d.tls = m.tls.take();
            d.size = m.size.or(d.size);
            d.message_id = m.message_id.take().or(d.message_id.take());
            d.received_at = d.received_at.min(m.received_at);
            for r in m.recipients {
                if !d.recipients.iter().any(|x| x.address == r.address) {
                    d.recipients.push(r);
                }
            }
            d.line_nos.append(&mut m.line_nos);
            // In input order, as every message's lines.
            d.line_nos.sort_unstable();
            d.line_nos.dedup();
            d.events.append(&mut m.events);
            open.dirty = true;
            return;
        }
        m.id = message_key(&m.server, &q, m.received_at, 0);
        m.open = true;
        srv.spool.insert(
            q,
            Box::new(Spooled {
                msg: m,
                dirty: true,
            }),
        );
    }

    /// Close SmarterMail sessions idle for longer than `idle` (all with `None`), write spooled
    /// messages idle for longer than `message_idle` as still queued.
    pub(crate) fn smartermail_sweep(
        &mut self,
        s: usize,
        now: Ts,
        idle: Option<i64>,
        message_idle: Option<i64>,
    ) {
        let srv = &mut self.servers[s].smartermail;
        let stale: Vec<String> = srv
            .sessions
            .iter()
            .filter(|(_, x)| idle.is_none_or(|i| now.0 - x.last_seen.0 > i))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(sess) = self.servers[s].smartermail.sessions.remove(&k) {
                self.sm_close_session(s, sess);
            }
        }
        let Some(mi) = message_idle else { return };
        let srv = &mut self.servers[s].smartermail;
        srv.done.retain(|_, t| now.0 - t.0 <= mi);
        let stale: Vec<String> = srv
            .spool
            .iter()
            .filter(|(_, o)| now.0 - o.msg.last_seen.0 > mi)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(o) = self.servers[s].smartermail.spool.remove(&k) {
                self.servers[s].smartermail.deliveries.remove(&k);
                let mut m = o.msg;
                crate::postfix::finalize(&mut m);
                self.out.messages.push(m);
            }
        }
    }
}

/// What the session tells of a message received in it: client, HELO, authentication, TLS,
/// and (unless lean) its lines and timeline so far.
fn with_session(m: &mut Message, sess: &Session, lean: bool) {
    m.client_ip = Some(sess.ip.clone());
    m.client_host = Some("unknown".to_string());
    m.helo.clone_from(&sess.helo);
    m.proto = Some(if sess.esmtp { "ESMTP" } else { "SMTP" }.to_string());
    if sess.authenticated {
        m.sasl_method.clone_from(&sess.auth_method);
        m.sasl_username.clone_from(&sess.auth_user);
    }
    if sess.tls {
        m.tls = Some("STARTTLS".to_string());
    }
    m.nrcpt = Some(m.recipients.len() as u32).filter(|n| *n > 0);
    if !lean {
        m.line_nos.clone_from(&sess.lines);
        m.events.clone_from(&sess.events);
    }
}

/// An accepted transaction ends (next `MAIL`, `RSET`, `QUIT`, disconnect): it joins the
/// session's messages; one never accepted is dropped (its rejections are records already).
fn end_txn(sess: &mut Session) {
    if let Some(t) = sess.txn.take() {
        if t.accepted && !t.msg.recipients.is_empty() {
            sess.done.push((t.msg, None));
        }
    }
}

/// The recipient `addr` of `m`, added when new.
fn recipient<'m>(m: &'m mut Message, addr: &str) -> &'m mut Recipient {
    let i = match m
        .recipients
        .iter()
        .position(|r| r.address.eq_ignore_ascii_case(addr))
    {
        Some(i) => i,
        None => {
            m.recipients.push(Recipient {
                address: addr.to_string(),
                ..Recipient::default()
            });
            m.recipients.len() - 1
        }
    };
    &mut m.recipients[i]
}

mod delivery;
#[cfg(test)]
mod tests;
