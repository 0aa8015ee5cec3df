//! Sendmail correlation: one message per queue id and server, from `from=` to the last
//! recipient's final `to=`.
//!
//! Sendmail gives a client session its queue id when it connects and logs every line of the
//! transaction with it: `from=` once the message is in the queue (after DATA), one `to=` per
//! delivery attempt (of one or more recipients), and `CHILD: DSN: why` when it sends a
//! notification, queued under the child id. There is no line for the message leaving the
//! queue, so a message ends when each of its recipients (at least `nrcpts=` of them) has a
//! final status; a notification that comes after that is linked to the finished message all
//! the same. `Cannot send message for 5 days` ends the recipients still waiting as expired.
//!
//! Refusals in the dialogue (`ruleset=check_rcpt ... reject=`, `<addr>... User unknown`) come
//! before the session's `from=` line, which Sendmail logs with `nrcpts=0` when every recipient
//! was refused: they wait (by queue id) for it, or for the end of the session (`lost input
//! channel`, `did not issue MAIL`), and become one rejected record like Postfix's `NOQUEUE:
//! reject`, without a queue id. They are not written at a checkpoint: a refusal is complete
//! within minutes, and the end of the input writes what still waits. Lines of the session before its message (STARTTLS, AUTH, milter notes) wait the
//! same way and join the message or the refusal, or are written as a session.

use crate::postfix::{finalize, reject_message};
use crate::{Correlator, LooseKind};
use mailtrace_model::{
    event_kind, message_key, Attempt, AttemptStatus, Event, LineNo, Message, Recipient, Status, Ts,
    MTA_SENDMAIL,
};
use mailtrace_parse::sendmail::{From, Host, Kind, Notify, Outcome, Record, Reject, To};
use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// Key discriminators: a session's refusals and the message it queues share queue id and
/// (often) second; so do a finished message and deliveries logged after it.
const REFUSAL: u64 = 2;
const CONTINUATION: u64 = 1;

/// Sendmail state of one server.
#[derive(Default)]
pub(crate) struct SendmailServer {
    /// Messages in the queue, by queue id (boxed: growing the map moves entries).
    pub(crate) open: Map<String, Box<Open>>,
    /// Refusals waiting for the end of their session, by queue id.
    pub(crate) refused: Map<String, Box<Open>>,
    /// Keys of messages finished lately, by queue id, for notifications that come after.
    done: Map<String, (i64, Ts)>,
    /// Lines of sessions that have no message (yet), by queue id, or by `[pid]` for the
    /// lines a session logs before it has one (`STARTTLS=server`, `AUTH=server`).
    pre: Map<String, Pre>,
    /// The process id of the line being fed.
    pid: Option<u32>,
    /// When `done` was last pruned.
    last_done_sweep: Ts,
}

pub(crate) struct Open {
    pub(crate) msg: Message,
    pub(crate) dirty: bool,
}

/// What a session logged before its message.
#[derive(Default)]
struct Pre {
    last: Ts,
    lines: Vec<LineNo>,
    events: Vec<Event>,
    tls: Option<String>,
    sasl: Option<(String, Option<String>)>,
    client: Option<(String, Option<String>)>,
}

/// The key of a process's session lines in [`SendmailServer::pre`] (`[]` without a pid:
/// nothing is kept under it for long).
fn pid_key(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("[{p}]"),
        None => "[]".to_string(),
    }
}

fn new_message(server: &str, qid: &str, at: Ts) -> Message {
    Message {
        id: message_key(server, qid, at, 0),
        server: server.to_string(),
        mta: MTA_SENDMAIL.to_string(),
        queue_id: Some(qid.to_string()),
        received_at: at,
        last_seen: at,
        open: true,
        ..Message::default()
    }
}

/// The client of a message: `local` for a submission (`relay=user@localhost`), the name
/// (`unknown` when only an address was logged) and the address.
fn client(h: &Host<'_>) -> (String, Option<String>) {
    if h.user.is_some() {
        return ("local".to_string(), None);
    }
    let name = if h.name.is_empty() { "unknown" } else { h.name };
    (name.to_string(), h.addr.map(str::to_string))
}

/// The text of a line after its queue id.
fn body<'t>(text: &'t str, qid: &str) -> &'t str {
    text.strip_prefix(qid)
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(text)
}

/// Every recipient has its final status (and, when `nrcpts=` was logged, that many have one).
fn complete(m: &Message) -> bool {
    !m.recipients.is_empty()
        && m.recipients.iter().all(|r| r.status.is_final())
        && m.nrcpt.is_none_or(|n| m.recipients.len() >= n as usize)
}

fn recipient<'m>(m: &'m mut Message, address: &str) -> &'m mut Recipient {
    let idx = m
        .recipients
        .iter()
        .position(|r| r.address == address)
        .unwrap_or_else(|| {
            m.recipients.push(Recipient {
                address: address.to_string(),
                ..Recipient::default()
            });
            m.recipients.len() - 1
        });
    &mut m.recipients[idx]
}

impl Correlator {
    /// A line of Sendmail's.
    pub(crate) fn sendmail_record(
        &mut self,
        s: usize,
        at: Ts,
        pid: Option<u32>,
        rec: &Record<'_>,
        text: &str,
    ) {
        self.servers[s].sendmail.pid = pid;
        if matches!(rec.kind, Kind::Unrecognized(_)) {
            // Counted and listed with the unparsed lines, and still part of its message.
            self.counters.unparsed += 1;
            let name = self.servers[s].name.clone();
            self.loose(&name, at, LooseKind::Unparsed, self.cur.no);
            if let Some(qid) = rec.queue_id {
                self.sm_attach(s, at, qid, "note", body(text, qid));
            }
            return;
        }
        let Some(qid) = rec.queue_id else {
            self.sendmail_without_id(s, at, rec, text);
            return;
        };
        let body = body(text, qid);
        match &rec.kind {
            Kind::From(f) => self.sm_from(s, at, qid, f, body),
            Kind::To(t) => self.sm_to(s, at, qid, t, body),
            Kind::Notify(n) => self.sm_notify(s, at, qid, n, body),
            Kind::Done => {
                if !self.sm_attach(s, at, qid, "done", body) {
                    let name = self.servers[s].name.clone();
                    self.loose(&name, at, LooseKind::Notice, self.cur.no);
                    return;
                }
                let finished = self.servers[s]
                    .sendmail
                    .open
                    .get(qid)
                    .is_some_and(|o| complete(&o.msg));
                if finished {
                    self.sm_finish_open(s, qid);
                }
            }
            Kind::Rejected(r) => self.sm_reject(s, at, Some(qid), r, body),
            Kind::LostInput { .. } | Kind::NoMail { .. } => {
                // The end of the session: its refusals are complete.
                let kind = if matches!(rec.kind, Kind::LostInput { .. }) {
                    "lost input"
                } else {
                    "no mail"
                };
                if let Some(mut o) = self.servers[s].sendmail.refused.remove(qid) {
                    self.sm_line(&mut o.msg, at, kind, body);
                    self.sm_finish(s, o.msg);
                } else if !self.sm_attach(s, at, qid, kind, body) {
                    self.sm_session_loose(s, at, qid);
                }
            }
            Kind::Tls(t) if t.side == "server" => {
                let tls = t.describe();
                if !self.sm_attach(s, at, qid, "tls", body) {
                    let p = self.sm_pre(s, at, qid, "tls", body);
                    p.tls = Some(tls);
                }
            }
            Kind::Auth(a) if a.side == "server" => {
                let sasl = (
                    a.mech.unwrap_or("").to_string(),
                    a.authid.map(str::to_string),
                );
                if !self.sm_attach(s, at, qid, "auth", body) {
                    let p = self.sm_pre(s, at, qid, "auth", body);
                    p.sasl = Some(sasl);
                    if let Some(h) = &a.relay {
                        p.client = Some(client(h));
                    }
                }
            }
            Kind::AuthFailed(_) => {
                if !self.sm_attach(s, at, qid, "auth failed", body) {
                    self.sm_pre(s, at, qid, "auth failed", body);
                }
            }
            _ => {
                let kind = match rec.kind {
                    Kind::Tls(_) => "tls",
                    Kind::Auth(_) => "auth",
                    Kind::Session(_) => "session",
                    _ => "note",
                };
                if !self.sm_attach(s, at, qid, kind, body) {
                    self.sm_pre(s, at, qid, kind, body);
                }
            }
        }
    }

    fn sendmail_without_id(&mut self, s: usize, at: Ts, rec: &Record<'_>, text: &str) {
        let name = self.servers[s].name.clone();
        match &rec.kind {
            Kind::Rejected(r) => self.sm_reject(s, at, None, r, text),
            // Before the session has a queue id: kept with its process (the SMTP server
            // child that will log the session's `from=`).
            Kind::Tls(t) if t.side == "server" && self.servers[s].sendmail.pid.is_some() => {
                let tls = t.describe();
                let key = pid_key(self.servers[s].sendmail.pid);
                self.sm_pre(s, at, &key, "tls", text).tls = Some(tls);
            }
            Kind::Auth(a) if a.side == "server" && self.servers[s].sendmail.pid.is_some() => {
                let sasl = (
                    a.mech.unwrap_or("").to_string(),
                    a.authid.map(str::to_string),
                );
                let key = pid_key(self.servers[s].sendmail.pid);
                self.sm_pre(s, at, &key, "auth", text).sasl = Some(sasl);
            }
            Kind::Auth(_)
            | Kind::AuthFailed(_)
            | Kind::Tls(_)
            | Kind::LostInput { .. }
            | Kind::NoMail { .. }
            | Kind::Session(_) => self.loose(&name, at, LooseKind::Session, self.cur.no),
            _ => self.loose(&name, at, LooseKind::Notice, self.cur.no),
        }
    }

    /// Add the current line to a message's raw lines and timeline.
    fn sm_line(&self, m: &mut Message, at: Ts, kind: &'static str, body: &str) {
        m.last_seen = m.last_seen.max(at);
        if !self.lean {
            m.line_nos.push(self.cur.no);
            m.events.push(self.cur.event(at, kind, body));
        }
    }

    /// Add the line to the open message (or refusal) of `qid`; false when there is none.
    fn sm_attach(&mut self, s: usize, at: Ts, qid: &str, kind: &'static str, body: &str) -> bool {
        let cur = self.cur;
        let lean = self.lean;
        let srv = &mut self.servers[s].sendmail;
        let Some(o) = srv.open.get_mut(qid).or_else(|| srv.refused.get_mut(qid)) else {
            return false;
        };
        o.dirty = true;
        o.msg.last_seen = o.msg.last_seen.max(at);
        if !lean {
            o.msg.line_nos.push(cur.no);
            o.msg.events.push(cur.event(at, kind, body));
        }
        true
    }

    /// Keep the line with its session until a message or a refusal claims it.
    fn sm_pre(&mut self, s: usize, at: Ts, qid: &str, kind: &'static str, body: &str) -> &mut Pre {
        let ev = (!self.lean).then(|| self.cur.event(at, kind, body));
        let no = self.cur.no;
        let p = self.servers[s]
            .sendmail
            .pre
            .entry(qid.to_string())
            .or_default();
        p.last = at;
        p.lines.push(no);
        if let Some(ev) = ev {
            p.events.push(ev);
        }
        p
    }

    /// The session of `qid` ended without a message: its lines (and this one) are a session.
    fn sm_session_loose(&mut self, s: usize, at: Ts, qid: &str) {
        let name = self.servers[s].name.clone();
        let key = pid_key(self.servers[s].sendmail.pid);
        for k in [qid, key.as_str()] {
            if let Some(p) = self.servers[s].sendmail.pre.remove(k) {
                for no in p.lines {
                    self.loose(&name, p.last, LooseKind::Session, no);
                }
            }
        }
        self.loose(&name, at, LooseKind::Session, self.cur.no);
    }

    /// Give a new message (or refusal) the lines its session logged before it: by its queue
    /// id, and by the process (TLS and SASL stay with the process for its next messages).
    fn sm_claim_pre(&mut self, s: usize, qid: &str, m: &mut Message) {
        let key = pid_key(self.servers[s].sendmail.pid);
        if let Some(p) = self.servers[s].sendmail.pre.get_mut(&key) {
            let lines = std::mem::take(&mut p.lines);
            let events = std::mem::take(&mut p.events);
            let (tls, sasl) = (p.tls.clone(), p.sasl.clone());
            if !self.lean {
                let mut all = lines;
                all.append(&mut m.line_nos);
                m.line_nos = all;
                m.events.extend(events);
            }
            if m.tls.is_none() {
                m.tls = tls;
            }
            if let Some((mech, user)) = sasl {
                m.sasl_method = Some(mech);
                m.sasl_username = user;
            }
        }
        let Some(p) = self.servers[s].sendmail.pre.remove(qid) else {
            return;
        };
        if !self.lean {
            let mut lines = p.lines;
            lines.append(&mut m.line_nos);
            m.line_nos = lines;
            m.events.extend(p.events);
        }
        if m.tls.is_none() {
            m.tls = p.tls;
        }
        if let Some((mech, user)) = p.sasl {
            m.sasl_method = Some(mech);
            m.sasl_username = user;
        }
        if m.client_host.is_none() {
            if let Some((name, addr)) = p.client {
                m.client_host = Some(name);
                m.client_ip = addr;
            }
        }
    }

    fn sm_from(&mut self, s: usize, at: Ts, qid: &str, f: &From<'_>, body: &str) {
        let fill = |m: &mut Message| {
            m.sender = Some(f.sender.to_string());
            m.size = f.size.or(m.size);
            m.nrcpt = f.nrcpts.or(m.nrcpt);
            if let Some(id) = f.msgid {
                m.message_id = Some(id.to_string());
            }
            if let Some(p) = f.proto {
                m.proto = Some(p.to_string());
            }
            if let Some(h) = &f.relay {
                let (name, addr) = client(h);
                m.client_host = Some(name);
                m.client_ip = addr;
            }
        };
        if let Some(mut o) = self.servers[s].sendmail.refused.remove(qid) {
            // The session's summary line after its refusals.
            fill(&mut o.msg);
            if f.nrcpts == Some(0) {
                o.msg.nrcpt = None;
                self.sm_line(&mut o.msg, at, "from", body);
                self.sm_finish(s, o.msg);
                return;
            }
            // Some recipients were accepted: the refusals are a record of their own.
            o.msg.nrcpt = None;
            self.sm_finish(s, o.msg);
        }
        if f.nrcpts == Some(0) && !self.servers[s].sendmail.open.contains_key(qid) {
            // Nothing accepted, nothing refused on record: a session that carried no mail.
            self.sm_session_loose(s, at, qid);
            return;
        }
        let name = self.servers[s].name.clone();
        let lean = self.lean;
        let cur = self.cur;
        if !self.servers[s].sendmail.open.contains_key(qid) {
            let mut m = new_message(&name, qid, at);
            self.sm_claim_pre(s, qid, &mut m);
            self.servers[s].sendmail.open.insert(
                qid.to_string(),
                Box::new(Open {
                    msg: m,
                    dirty: true,
                }),
            );
        }
        let Some(o) = self.servers[s].sendmail.open.get_mut(qid) else {
            return;
        };
        o.dirty = true;
        let m = &mut o.msg;
        fill(m);
        m.last_seen = m.last_seen.max(at);
        if !lean {
            m.line_nos.push(cur.no);
            m.events.push(cur.event(at, event_kind::QUEUED, body));
        }
    }

    fn sm_to(&mut self, s: usize, at: Ts, qid: &str, t: &To<'_>, body: &str) {
        if let Some(o) = self.servers[s].sendmail.refused.remove(qid) {
            // A delivery: the message was accepted after all (its `from=` was not seen).
            self.sm_finish(s, o.msg);
        }
        let name = self.servers[s].name.clone();
        if !self.servers[s].sendmail.open.contains_key(qid) {
            // The `from=` is before the start of the log, or this is one more delivery of a
            // message that looked complete: what follows still tells the story.
            let mut m = new_message(&name, qid, at);
            if let Some(d) = self.servers[s].sendmail.done.get(qid) {
                m.id = message_key(&name, qid, at, CONTINUATION);
                m.parent_id = Some(d.0);
            }
            self.sm_claim_pre(s, qid, &mut m);
            self.servers[s].sendmail.open.insert(
                qid.to_string(),
                Box::new(Open {
                    msg: m,
                    dirty: true,
                }),
            );
        }
        let lean = self.lean;
        let cur = self.cur;
        let Some(o) = self.servers[s].sendmail.open.get_mut(qid) else {
            return;
        };
        o.dirty = true;
        let m = &mut o.msg;
        m.last_seen = m.last_seen.max(at);
        let status = match t.outcome {
            Outcome::Sent => Some(AttemptStatus::Sent),
            Outcome::Deferred => Some(AttemptStatus::Deferred),
            Outcome::Bounced => Some(AttemptStatus::Bounced),
            Outcome::Expired => Some(AttemptStatus::Expired),
            Outcome::Queued => None,
        };
        for address in t.recipients() {
            let r = recipient(m, address);
            let Some(status) = status else {
                if !r.status.is_final() {
                    r.status = Status::Queued;
                }
                continue;
            };
            r.record(Attempt {
                at,
                status,
                agent: t.mailer.unwrap_or("").to_string(),
                dsn: t.dsn.map(str::to_string),
                smtp_code: t.code,
                response: (!t.response.is_empty()).then(|| t.response.to_string()),
                relay: t.relay.as_ref().map(Host::relay),
                delay_s: t.delay,
                delays: None,
                queued_as: t.queued_as.map(str::to_string),
                tls: None,
            });
        }
        if !lean {
            m.line_nos.push(cur.no);
            let kind = status.map_or("queued again", AttemptStatus::as_str);
            m.events.push(cur.event(at, kind, body));
        }
        let id = m.id;
        let done = complete(m);
        // The submission program (`sm-msp-queue`) handed the message to the daemon on this
        // server: the daemon's copy comes from this one.
        if let Some(next) = t.queued_as.filter(|q| *q != qid) {
            if let Some(o) = self.servers[s].sendmail.open.get_mut(next) {
                if o.msg.parent_id.is_none() && o.msg.bounce_of.is_none() {
                    o.msg.parent_id = Some(id);
                    o.dirty = true;
                }
            }
        }
        if done {
            self.sm_finish_open(s, qid);
        }
    }

    fn sm_notify(&mut self, s: usize, at: Ts, qid: &str, n: &Notify<'_>, body: &str) {
        let kind: &'static str = if n.expired() {
            "expired"
        } else if n.warning() {
            "delay notification"
        } else {
            "notification"
        };
        let mut parent = None;
        let mut finished = false;
        let lean = self.lean;
        let cur = self.cur;
        if let Some(o) = self.servers[s].sendmail.open.get_mut(qid) {
            o.dirty = true;
            let m = &mut o.msg;
            m.last_seen = m.last_seen.max(at);
            if n.expired() {
                m.end_pending(Status::Expired);
                for r in &mut m.recipients {
                    if r.status == Status::Expired {
                        r.last_attempt_at = Some(at);
                    }
                }
            }
            if !lean {
                m.line_nos.push(cur.no);
                m.events.push(cur.event(at, kind, body));
            }
            parent = Some(m.id);
            finished = complete(m);
        }
        if parent.is_none() {
            parent = self.servers[s].sendmail.done.get(qid).map(|d| d.0);
        }
        if finished {
            self.sm_finish_open(s, qid);
        }
        // The notification itself: a message from `<>` queued as the child id.
        let name = self.servers[s].name.clone();
        let srv = &mut self.servers[s].sendmail;
        let o = srv.open.entry(n.child.to_string()).or_insert_with(|| {
            let mut m = new_message(&name, n.child, at);
            m.sender = Some(String::new());
            Box::new(Open {
                msg: m,
                dirty: true,
            })
        });
        o.dirty = true;
        if o.msg.bounce_of.is_none() {
            o.msg.bounce_of = parent;
        }
        o.msg.last_seen = o.msg.last_seen.max(at);
        if !lean {
            o.msg.line_nos.push(cur.no);
            o.msg.events.push(cur.event(at, event_kind::QUEUED, body));
        }
    }

    fn sm_reject(&mut self, s: usize, at: Ts, qid: Option<&str>, r: &Reject<'_>, body: &str) {
        let name = self.servers[s].name.clone();
        let kind = format!("reject at {}", r.stage);
        let refused_rcpt = |r: &Reject<'_>| {
            r.recipient.map(|to| Recipient {
                address: to.to_string(),
                status: Status::Rejected,
                dsn: r.dsn.map(str::to_string),
                smtp_code: r.code,
                response: Some(r.reply.to_string()),
                last_attempt_at: Some(at),
                ..Recipient::default()
            })
        };
        let Some(qid) = qid else {
            // No session id: a connection refused at once (`ruleset=check_relay`).
            let srv = &mut self.servers[s];
            let seq = if srv.noqueue_last.0 == at {
                srv.noqueue_last.1 + 1
            } else {
                0
            };
            srv.noqueue_last = (at, seq);
            let disc = mailtrace_model::fnv1a(body.as_bytes()) ^ seq;
            let mut m = Message {
                id: message_key(&name, "", at, disc),
                server: name,
                mta: MTA_SENDMAIL.to_string(),
                received_at: at,
                last_seen: at,
                sender: r.sender.map(str::to_string),
                ..Message::default()
            };
            self.sm_refusal_fields(&mut m, r);
            if let Some(rc) = refused_rcpt(r) {
                m.recipients.push(rc);
            }
            m.status = Status::Rejected;
            if !self.lean {
                m.line_nos.push(self.cur.no);
                m.events.push(self.cur.event(at, kind, body));
            }
            self.finish(m);
            return;
        };
        let lean = self.lean;
        let cur = self.cur;
        if let Some(o) = self.servers[s].sendmail.open.get_mut(qid) {
            // A refusal of a message already queued (a milter at the end of DATA).
            o.dirty = true;
            let m = &mut o.msg;
            m.last_seen = m.last_seen.max(at);
            match refused_rcpt(r) {
                Some(rc) if r.stage == "RCPT" => m.recipients.push(rc),
                _ => {
                    reject_message(m, at, r.recipient, r.reply, r.code, r.dsn);
                }
            }
            if !lean {
                m.line_nos.push(cur.no);
                m.events.push(cur.event(at, kind, body));
            }
            if m.status == Status::Rejected {
                self.sm_finish_open(s, qid);
            }
            return;
        }
        if !self.servers[s].sendmail.refused.contains_key(qid) {
            let mut m = new_message(&name, qid, at);
            // Not the key of the message the same session may queue in the same second.
            m.id = message_key(&name, qid, at, REFUSAL);
            // The session's id named no queue file: like Postfix's `NOQUEUE`, the refusal has
            // no queue id (so it is not counted as a message received). Its lines have it.
            m.queue_id = None;
            m.status = Status::Rejected;
            self.sm_claim_pre(s, qid, &mut m);
            self.servers[s].sendmail.refused.insert(
                qid.to_string(),
                Box::new(Open {
                    msg: m,
                    dirty: true,
                }),
            );
        }
        let Some(o) = self.servers[s].sendmail.refused.get_mut(qid) else {
            return;
        };
        o.dirty = true;
        let m = &mut o.msg;
        m.last_seen = m.last_seen.max(at);
        if m.sender.is_none() {
            m.sender = r.sender.map(str::to_string);
        }
        if m.reason.is_none() {
            m.reason = Some(r.reply.to_string());
        }
        if m.client_host.is_none() {
            if let Some(h) = &r.relay {
                let (n, a) = client(h);
                m.client_host = Some(n);
                m.client_ip = a;
            }
        }
        if let Some(rc) = refused_rcpt(r) {
            m.recipients.push(rc);
        }
        if !lean {
            m.line_nos.push(cur.no);
            m.events.push(cur.event(at, kind, body));
        }
        if r.stage == "CONNECT" {
            if let Some(o) = self.servers[s].sendmail.refused.remove(qid) {
                self.sm_finish(s, o.msg);
            }
        }
    }

    fn sm_refusal_fields(&self, m: &mut Message, r: &Reject<'_>) {
        m.reason = Some(r.reply.to_string());
        if let Some(h) = &r.relay {
            let (n, a) = client(h);
            m.client_host = Some(n);
            m.client_ip = a;
        }
    }

    fn sm_finish_open(&mut self, s: usize, qid: &str) {
        if let Some(o) = self.servers[s].sendmail.open.remove(qid) {
            self.sm_finish(s, o.msg);
        }
    }

    fn sm_finish(&mut self, s: usize, m: Message) {
        if let Some(q) = &m.queue_id {
            self.servers[s]
                .sendmail
                .done
                .insert(q.clone(), (m.id, m.last_seen));
        }
        self.finish(m);
    }

    /// Write out what waited too long, as of log time `now`: sessions and refusals after
    /// `session_idle` (their session is over), queued messages after `message_idle` (as
    /// still queued) when `messages_too`.
    pub(crate) fn sendmail_sweep(
        &mut self,
        s: usize,
        now: Ts,
        session_idle: i64,
        message_idle: i64,
        messages_too: bool,
    ) {
        let srv = &mut self.servers[s].sendmail;
        // Finished ids wait for notifications and late deliveries, which come within
        // seconds: an hour is plenty, and keeps the map small on a busy server.
        if now.0 - srv.last_done_sweep.0 > session_idle / 6 {
            srv.last_done_sweep = now;
            srv.done.retain(|_, d| now.0 - d.1 .0 <= session_idle);
        }
        if srv.pre.is_empty() && srv.refused.is_empty() && !messages_too {
            return;
        }
        let stale: Vec<String> = srv
            .pre
            .iter()
            .filter(|(_, p)| now.0 - p.last.0 > session_idle)
            .map(|(q, _)| q.clone())
            .collect();
        let name = self.servers[s].name.clone();
        for q in stale {
            if let Some(p) = self.servers[s].sendmail.pre.remove(&q) {
                for no in p.lines {
                    self.loose(&name, p.last, LooseKind::Session, no);
                }
            }
        }
        let srv = &mut self.servers[s].sendmail;
        let stale: Vec<String> = srv
            .refused
            .iter()
            .filter(|(_, o)| now.0 - o.msg.last_seen.0 > session_idle)
            .map(|(q, _)| q.clone())
            .collect();
        for q in stale {
            if let Some(o) = self.servers[s].sendmail.refused.remove(&q) {
                self.sm_finish(s, o.msg);
            }
        }
        if !messages_too {
            return;
        }
        let srv = &mut self.servers[s].sendmail;
        let stale: Vec<String> = srv
            .open
            .iter()
            .filter(|(_, o)| now.0 - o.msg.last_seen.0 > message_idle)
            .map(|(q, _)| q.clone())
            .collect();
        for q in stale {
            if let Some(o) = self.servers[s].sendmail.open.remove(&q) {
                let mut m = o.msg;
                finalize(&mut m);
                self.out.messages.push(m);
            }
        }
    }

    /// End of input: the sessions are over (refusals and session lines are written); queued
    /// messages stay open for a later ingest.
    pub(crate) fn sendmail_close(&mut self, s: usize) {
        let qids: Vec<String> = self.servers[s].sendmail.refused.keys().cloned().collect();
        for q in qids {
            if let Some(o) = self.servers[s].sendmail.refused.remove(&q) {
                self.sm_finish(s, o.msg);
            }
        }
        let name = self.servers[s].name.clone();
        let pre: Vec<Pre> = self.servers[s]
            .sendmail
            .pre
            .drain()
            .map(|(_, p)| p)
            .collect();
        for p in pre {
            for no in p.lines {
                self.loose(&name, p.last, LooseKind::Session, no);
            }
        }
    }
}

#[cfg(test)]
mod tests;
