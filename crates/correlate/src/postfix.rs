//! Postfix correlation: smtpd sessions, queue ids, deliveries, filters and notifications.

use crate::{Counters, LooseKind, LooseLine, Output};
use mailtrace_model::{message_key, Attempt, Event, Message, Recipient, Status, Ts, MTA_POSTFIX};
use mailtrace_parse::postfix::{self, Kind, PostsuperAction, Record};
use mailtrace_parse::syslog;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How long in-flight state may stay in memory, in log time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client session without a line for this long is closed (smtpd always logs `disconnect`,
    /// so this only fires when lines were lost).
    pub session_idle: i64,
    /// A queued message without a line for this long is written out as still queued and dropped
    /// from memory. Postfix retries deferred mail at least every `maximal_backoff_time` (default
    /// 4000 s) and gives up after `maximal_queue_lifetime` (default 5 days).
    pub message_idle: i64,
    /// Lines of a delivery agent process without queue id (`connect to ...: Connection refused`)
    /// wait this long for the queue id line of the same process.
    pub agent_idle: i64,
}

impl Default for Limits {
    fn default() -> Self {
        const SEC: i64 = 1_000_000;
        Limits {
            session_idle: 3600 * SEC,
            message_idle: 6 * 86_400 * SEC,
            agent_idle: 300 * SEC,
        }
    }
}

/// State that spans lines and must survive a checkpoint (besides the open messages, which the
/// store keeps as messages).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CorrelatorState {
    servers: Vec<ServerSnapshot>,
    /// Year roll-over state of the syslog context.
    pub year: Option<syslog::YearState>,
    /// Time of the last line, used for lines without an envelope.
    pub last_ts: Ts,
    /// Identity of the input `year` belongs to.
    pub file: Option<i64>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct ServerSnapshot {
    name: String,
    sessions: Vec<(u32, Session)>,
    links: Vec<(String, Link)>,
    agents: Vec<(u32, AgentLines)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    started: Ts,
    last_seen: Ts,
    client_host: String,
    client_ip: String,
    tls: Option<String>,
    /// Session-level lines (connect, TLS, lost connection...), copied into each message.
    lines: Vec<String>,
    events: Vec<Event>,
    /// Queue ids of messages received in this session that are still in memory.
    queue_ids: Vec<String>,
    /// Messages finished (or rejected) while the session was still open; written at disconnect
    /// so that they carry the whole session.
    finished: Vec<Message>,
    /// A `NOQUEUE: hold|discard` that applies to the next message of the session.
    pending_action: Option<Status>,
    had_message: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum LinkKind {
    Filter,
    Notification,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Link {
    parent: i64,
    kind: LinkKind,
    at: Ts,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct AgentLines {
    at: Ts,
    lines: Vec<(Ts, String, String)>,
}

struct Open {
    msg: Message,
    dirty: bool,
    /// smtpd pid and session start of the session that received it.
    session: Option<(u32, Ts)>,
    /// The first recipient as cleanup named it (`to=` of a header check line): the only trace
    /// of the recipient of a message refused after DATA, which never reaches the queue manager.
    first_to: Option<String>,
}

#[derive(Default)]
struct Server {
    name: String,
    sessions: HashMap<u32, Session>,
    open: HashMap<String, Open>,
    links: HashMap<String, Link>,
    agents: HashMap<u32, AgentLines>,
    noqueue_last: (Ts, u64),
}

/// Streams log lines into messages. See the crate documentation.
#[derive(Default)]
pub struct Correlator {
    servers: Vec<Server>,
    index: HashMap<String, usize>,
    out: Output,
    limits: Limits,
    last_ts: Ts,
    last_sweep: Ts,
    /// Scanning every queued message is the costly part of a sweep: done 16 times per
    /// `message_idle`, not every minute.
    last_message_sweep: Ts,
    counters: Counters,
}

impl Correlator {
    /// A correlator with custom limits.
    pub fn with_limits(limits: Limits) -> Correlator {
        Correlator {
            limits,
            ..Correlator::default()
        }
    }

    /// Resume from a checkpoint: the saved state and the store's open messages.
    pub fn restore(state: CorrelatorState, open: Vec<Message>, limits: Limits) -> Correlator {
        let mut c = Correlator::with_limits(limits);
        c.last_ts = state.last_ts;
        c.last_sweep = state.last_ts;
        c.last_message_sweep = state.last_ts;
        for snap in state.servers {
            let s = c.server(&snap.name);
            let srv = &mut c.servers[s];
            srv.sessions = snap.sessions.into_iter().collect();
            srv.links = snap.links.into_iter().collect();
            srv.agents = snap.agents.into_iter().collect();
        }
        for msg in open {
            let Some(qid) = msg.queue_id.clone() else {
                continue;
            };
            let s = c.server(&msg.server);
            let session = c.servers[s]
                .sessions
                .iter()
                .find(|(_, sess)| sess.queue_ids.contains(&qid))
                .map(|(pid, sess)| (*pid, sess.started));
            c.servers[s].open.insert(
                qid,
                Open {
                    msg,
                    dirty: false,
                    session,
                    first_to: None,
                },
            );
        }
        c
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Number of messages in flight.
    pub fn open_messages(&self) -> usize {
        self.servers.iter().map(|s| s.open.len()).sum()
    }

    fn server(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = self.servers.len();
        self.servers.push(Server {
            name: name.to_string(),
            ..Server::default()
        });
        self.index.insert(name.to_string(), i);
        i
    }

    /// Feed one raw line. `server` overrides the host name of the envelope.
    pub fn feed_line(&mut self, line: &str, ctx: &mut syslog::Context, server: Option<&str>) {
        self.counters.lines += 1;
        let Some(env) = syslog::parse(line, ctx) else {
            self.counters.unparsed += 1;
            self.loose(
                server.unwrap_or(""),
                self.last_ts,
                LooseKind::Unparsed,
                line,
            );
            return;
        };
        self.last_ts = env.ts;
        let host = server.unwrap_or(env.host);
        let Some(rec) = postfix::parse(env.program, env.text) else {
            self.counters.other += 1;
            self.loose(host, env.ts, LooseKind::Other, line);
            return;
        };
        self.counters.postfix += 1;
        if matches!(rec.kind, Kind::Unrecognized(_) | Kind::QueueNote(_)) {
            // Text no rule knows: counted, and listed with the unparsed lines even when it
            // also belongs to a message through its queue id.
            self.counters.unparsed += 1;
            if rec.queue_id.is_some() {
                self.loose(host, env.ts, LooseKind::Unparsed, line);
            }
        }
        let s = self.server(host);
        self.feed_postfix(s, env.ts, env.pid, &rec, env.text, line);
        if env.ts.0 - self.last_sweep.0 > 60_000_000 {
            self.sweep(env.ts);
        }
    }

    fn loose(&mut self, server: &str, at: Ts, kind: LooseKind, line: &str) {
        self.out.loose.push(LooseLine {
            server: server.to_string(),
            at,
            kind,
            line: line.to_string(),
        });
    }

    fn feed_postfix(
        &mut self,
        s: usize,
        at: Ts,
        pid: Option<u32>,
        rec: &Record<'_>,
        text: &str,
        line: &str,
    ) {
        match rec.queue_id {
            Some(qid) => self.queue_record(s, at, pid, qid, rec, text, line),
            None => self.session_record(s, at, pid, rec, text, line),
        }
    }

    /// Lines without queue id: sessions, NOQUEUE rejections, daemon notices.
    fn session_record(
        &mut self,
        s: usize,
        at: Ts,
        pid: Option<u32>,
        rec: &Record<'_>,
        text: &str,
        line: &str,
    ) {
        let pid = pid.unwrap_or(0);
        match &rec.kind {
            Kind::Connect { client } => {
                if let Some(old) = self.servers[s].sessions.remove(&pid) {
                    self.close_session(s, pid, old, None);
                }
                self.servers[s].sessions.insert(
                    pid,
                    Session {
                        started: at,
                        last_seen: at,
                        client_host: client.host.to_string(),
                        client_ip: client.addr.to_string(),
                        tls: None,
                        lines: vec![line.to_string()],
                        events: vec![event(at, "connect", text)],
                        queue_ids: Vec::new(),
                        finished: Vec::new(),
                        pending_action: None,
                        had_message: false,
                    },
                );
            }
            Kind::Disconnect { .. } if rec.service != "postscreen" => {
                match self.servers[s].sessions.remove(&pid) {
                    Some(sess) => self.close_session(s, pid, sess, Some((at, text, line))),
                    None => self.loose(&self.servers[s].name.clone(), at, LooseKind::Session, line),
                }
            }
            Kind::Reject {
                action,
                stage,
                client,
                reply,
                envelope,
            } => {
                let name = self.servers[s].name.clone();
                let status = match *action {
                    "reject" | "milter-reject" | "proxy-reject" => Some(Status::Rejected),
                    "hold" | "milter-hold" => Some(Status::Held),
                    "discard" | "milter-discard" => Some(Status::Discarded),
                    _ => None,
                };
                let srv = &mut self.servers[s];
                let sess = srv
                    .sessions
                    .get_mut(&pid)
                    .filter(|_| rec.service != "postscreen");
                match status {
                    Some(Status::Rejected) => {
                        let seq = if srv.noqueue_last.0 == at {
                            srv.noqueue_last.1 + 1
                        } else {
                            0
                        };
                        srv.noqueue_last = (at, seq);
                        let disc = fnv(line.as_bytes()) ^ seq;
                        let mut m = Message {
                            id: message_key(&name, "", at, disc),
                            server: name,
                            mta: MTA_POSTFIX.to_string(),
                            sender: envelope.from.map(str::to_string),
                            client_host: client.map(|c| c.host.to_string()),
                            client_ip: client.map(|c| c.addr.to_string()),
                            helo: envelope.helo.map(str::to_string),
                            proto: envelope.proto.map(str::to_string),
                            received_at: at,
                            last_seen: at,
                            status: Status::Rejected,
                            reason: Some(reply.text.to_string()),
                            ..Message::default()
                        };
                        if let Some(to) = envelope.to {
                            m.recipients.push(rejected_recipient(to, reply, at));
                        }
                        m.events
                            .push(event(at, &format!("{action} at {stage}"), text));
                        match sess {
                            Some(sess) => {
                                sess.last_seen = at;
                                if m.client_host.is_none() {
                                    m.client_host = Some(sess.client_host.clone());
                                    m.client_ip = Some(sess.client_ip.clone());
                                }
                                m.tls = sess.tls.clone();
                                m.lines = sess.lines.clone();
                                m.lines.push(line.to_string());
                                let mut events = sess.events.clone();
                                events.append(&mut m.events);
                                m.events = events;
                                sess.had_message = true;
                                sess.finished.push(m);
                            }
                            None => {
                                m.lines.push(line.to_string());
                                self.finish(m);
                            }
                        }
                    }
                    other => {
                        // hold/discard apply to the message this transaction will create;
                        // filter/redirect/reject_warning only inform.
                        match sess {
                            Some(sess) => {
                                sess.last_seen = at;
                                if other.is_some() {
                                    sess.pending_action = other;
                                }
                                sess.lines.push(line.to_string());
                                sess.events.push(event(at, action, text));
                            }
                            None => self.loose(&name, at, LooseKind::Notice, line),
                        }
                    }
                }
            }
            Kind::Disconnect { .. }
            | Kind::LostConnection { .. }
            | Kind::Tls { .. }
            | Kind::SaslFailed { .. }
            | Kind::Note(_)
                if self.servers[s].sessions.contains_key(&pid) && rec.service != "postscreen" =>
            {
                let srv = &mut self.servers[s];
                if let Some(sess) = srv.sessions.get_mut(&pid) {
                    sess.last_seen = at;
                    if let Kind::Tls {
                        details,
                        direction: "from",
                        ..
                    } = &rec.kind
                    {
                        sess.tls = Some(details.to_string());
                    }
                    let kind = match &rec.kind {
                        Kind::LostConnection { what, .. } => what,
                        Kind::Tls { .. } => "tls",
                        Kind::SaslFailed { .. } => "sasl failed",
                        _ => "note",
                    };
                    sess.events.push(event(at, kind, text));
                    sess.lines.push(line.to_string());
                }
            }
            Kind::Unrecognized(_) => {
                let name = self.servers[s].name.clone();
                self.loose(&name, at, LooseKind::Unparsed, line);
            }
            Kind::ConnectFailure { .. }
            | Kind::Note(_)
            | Kind::Tls { .. }
            | Kind::Diagnostic { .. }
                if is_delivery_agent(rec.service) =>
            {
                // Delivery agent lines without queue id precede the queue id line of the
                // same process: keep them for it.
                let agent = self.servers[s].agents.entry(pid).or_default();
                agent.at = at;
                agent.lines.push((at, text.to_string(), line.to_string()));
            }
            _ => {
                let name = self.servers[s].name.clone();
                self.loose(&name, at, LooseKind::Notice, line);
            }
        }
    }

    /// Lines with a queue id.
    #[allow(clippy::too_many_arguments)]
    fn queue_record(
        &mut self,
        s: usize,
        at: Ts,
        pid: Option<u32>,
        qid: &str,
        rec: &Record<'_>,
        text: &str,
        line: &str,
    ) {
        let pid = pid.unwrap_or(0);
        let starts_message = matches!(rec.kind, Kind::Client { .. } | Kind::Pickup { .. });
        if starts_message {
            // A queue id seen again after `removed` is a new message; if the old one never
            // logged `removed`, write it out as it is.
            if let Some(old) = self.servers[s].open.remove(qid) {
                self.finish(old.msg);
            }
        }
        let srv = &mut self.servers[s];
        if !srv.open.contains_key(qid) {
            let mut msg = Message {
                id: message_key(&srv.name, qid, at, 0),
                server: srv.name.clone(),
                mta: MTA_POSTFIX.to_string(),
                queue_id: Some(qid.to_string()),
                received_at: at,
                last_seen: at,
                open: true,
                ..Message::default()
            };
            let mut session = None;
            if let (Kind::Client { .. }, Some(sess)) = (&rec.kind, srv.sessions.get_mut(&pid)) {
                msg.lines = sess.lines.clone();
                msg.events = sess.events.clone();
                msg.received_at = sess.started.min(at);
                msg.id = message_key(&srv.name, qid, at, 0);
                msg.tls = sess.tls.clone();
                if let Some(st) = sess.pending_action.take() {
                    msg.status = st;
                }
                sess.had_message = true;
                sess.queue_ids.push(qid.to_string());
                sess.last_seen = at;
                session = Some((pid, sess.started));
            }
            if let Some(link) = srv.links.remove(qid) {
                match link.kind {
                    LinkKind::Filter => msg.parent_id = Some(link.parent),
                    LinkKind::Notification => msg.bounce_of = Some(link.parent),
                }
            }
            srv.open.insert(
                qid.to_string(),
                Open {
                    msg,
                    dirty: true,
                    session,
                    first_to: None,
                },
            );
        }
        // Delivery-agent lines of this process that came before the queue id line.
        let early = if is_delivery_agent(rec.service) {
            srv.agents.remove(&pid)
        } else {
            None
        };
        let Some(open) = srv.open.get_mut(qid) else {
            return;
        };
        open.dirty = true;
        let Open {
            msg: m, first_to, ..
        } = open;
        if let Some(early) = early {
            for (t, txt, l) in early.lines {
                m.events.push(event(t, "delivery note", &txt));
                m.lines.push(l);
            }
        }
        m.last_seen = m.last_seen.max(at);
        m.lines.push(line.to_string());
        let body = text.split_once(": ").map_or(text, |(_, b)| b);
        let mut done = false;
        let mut link: Option<(String, Link)> = None;
        let kind_label: &str = match &rec.kind {
            Kind::Client {
                client,
                sasl_method,
                sasl_username,
                ..
            } => {
                m.client_host = Some(client.host.to_string());
                m.client_ip = Some(client.addr.to_string());
                m.sasl_method = sasl_method.map(str::to_string);
                m.sasl_username = sasl_username.map(str::to_string);
                "received"
            }
            Kind::Pickup { uid, from } => {
                m.uid = *uid;
                if m.sender.is_none() {
                    m.sender = Some(from.to_string());
                }
                m.client_host.get_or_insert_with(|| "local".to_string());
                "received"
            }
            Kind::MessageId(id) => {
                m.message_id = Some(id.to_string());
                "message-id"
            }
            Kind::ResentMessageId(_) => "resent-message-id",
            Kind::Check {
                action,
                part,
                text: matched,
                envelope,
                reply,
                ..
            } => {
                if *part == "header" {
                    if let Some(subj) = header_value(matched, "subject") {
                        m.subject = Some(subj.to_string());
                    }
                }
                if m.sender.is_none() {
                    m.sender = envelope.from.map(str::to_string);
                }
                if first_to.is_none() {
                    *first_to = envelope.to.map(str::to_string);
                }
                if m.status == Status::Rejected && m.recipients.is_empty() {
                    if let (Some(to), Some(reason)) = (envelope.to, m.reason.clone()) {
                        let reply = postfix::Reply::parse(&reason);
                        reject_message(m, at, Some(to), &reason, reply.code, reply.dsn);
                    }
                }
                match *action {
                    "reject" | "milter-reject" => {
                        reject_message(
                            m,
                            at,
                            envelope.to,
                            reply.map_or(body, |r| r.text),
                            reply.and_then(|r| r.code),
                            reply.and_then(|r| r.dsn),
                        );
                        done = true;
                    }
                    "hold" | "milter-hold" => m.status = Status::Held,
                    "discard" | "milter-discard" => {
                        m.status = Status::Discarded;
                        m.reason = Some(body.to_string());
                        for r in &mut m.recipients {
                            r.status = Status::Discarded;
                        }
                        done = true;
                    }
                    _ => {}
                }
                "check"
            }
            Kind::Reject {
                action,
                reply,
                envelope,
                stage,
                ..
            } => {
                match *action {
                    "reject" | "milter-reject" | "proxy-reject" => {
                        if *stage == "RCPT" {
                            // One recipient refused in a transaction that already has a queue id.
                            if let Some(to) = envelope.to {
                                m.recipients.push(rejected_recipient(to, reply, at));
                            }
                        } else {
                            reject_message(m, at, envelope.to, reply.text, reply.code, reply.dsn);
                            done = true;
                        }
                    }
                    "hold" | "milter-hold" => m.status = Status::Held,
                    "discard" | "milter-discard" => {
                        m.status = Status::Discarded;
                        done = true;
                    }
                    _ => {}
                }
                if m.sender.is_none() {
                    m.sender = envelope.from.map(str::to_string);
                }
                "reject"
            }
            Kind::Queued { from, size, nrcpt } => {
                m.sender = Some(from.to_string());
                m.size = *size;
                m.nrcpt = *nrcpt;
                "queued"
            }
            Kind::Delivery(d) => {
                let attempt = Attempt {
                    at,
                    status: d.status,
                    agent: rec.service.to_string(),
                    dsn: d.dsn.map(str::to_string),
                    smtp_code: d.smtp_code,
                    response: Some(d.response.to_string()),
                    relay: d.relay.map(str::to_string),
                    delay_s: d.delay,
                    delays: d.delays,
                    queued_as: d.queued_as.map(str::to_string),
                };
                let idx = m
                    .recipients
                    .iter()
                    .position(|r| r.address == d.to && r.orig_to.as_deref() == d.orig_to)
                    .unwrap_or_else(|| {
                        m.recipients.push(Recipient {
                            address: d.to.to_string(),
                            orig_to: d.orig_to.map(str::to_string),
                            ..Recipient::default()
                        });
                        m.recipients.len() - 1
                    });
                let r = &mut m.recipients[idx];
                r.status = d.status.recipient_status();
                r.dsn = attempt.dsn.clone();
                r.smtp_code = attempt.smtp_code;
                r.response = attempt.response.clone();
                r.relay = attempt.relay.clone();
                r.delay_s = attempt.delay_s;
                r.last_attempt_at = Some(at);
                r.attempts.push(attempt);
                if let (Some(child), true) = (
                    d.queued_as,
                    d.relay.is_some_and(|rl| is_local_relay(rl, &srv.name)),
                ) {
                    link = Some((
                        child.to_string(),
                        Link {
                            parent: m.id,
                            kind: LinkKind::Filter,
                            at,
                        },
                    ));
                }
                "delivery"
            }
            Kind::Expired { .. } => {
                for r in &mut m.recipients {
                    if !r.status.is_final() || r.status == Status::Deferred {
                        r.status = Status::Expired;
                    }
                }
                if m.recipients.is_empty() {
                    m.status = Status::Expired;
                }
                "expired"
            }
            Kind::Removed => {
                done = true;
                "removed"
            }
            Kind::Postsuper(action) => match action {
                PostsuperAction::Removed => {
                    for r in &mut m.recipients {
                        if !r.status.is_final() {
                            r.status = Status::Removed;
                        }
                    }
                    if m.recipients.is_empty() {
                        m.status = Status::Removed;
                    }
                    done = true;
                    "postsuper removed"
                }
                PostsuperAction::Held => {
                    m.status = Status::Held;
                    "held"
                }
                PostsuperAction::Released => {
                    if m.status == Status::Held {
                        m.status = Status::Queued;
                    }
                    "released"
                }
                PostsuperAction::Requeued => "requeued",
            },
            Kind::Notification { what, child } => {
                link = Some((
                    child.to_string(),
                    Link {
                        parent: m.id,
                        kind: LinkKind::Notification,
                        at,
                    },
                ));
                what
            }
            Kind::Skipped => "skipped",
            Kind::DeliveryNote { .. } => "delivery note",
            Kind::Diagnostic { level, text: what } => {
                if what.starts_with("queue file size limit exceeded")
                    && m.status != Status::Rejected
                {
                    // The client got `552 5.3.4 Message size exceeds fixed limit` after DATA; no
                    // reject line says so, and the queue file is gone (no `removed` follows).
                    reject_message(
                        m,
                        at,
                        first_to.as_deref(),
                        "552 5.3.4 Message size exceeds fixed limit (queue file size limit exceeded)",
                        Some(552),
                        Some("5.3.4"),
                    );
                }
                level
            }
            _ => "note",
        };
        m.events.push(event(at, kind_label, body));
        if done {
            m.open = false;
        }
        if let Some((child, l)) = link {
            match srv.open.get_mut(&child) {
                Some(c) if c.msg.id != l.parent => {
                    match l.kind {
                        LinkKind::Filter => c.msg.parent_id = Some(l.parent),
                        LinkKind::Notification => c.msg.bounce_of = Some(l.parent),
                    }
                    c.dirty = true;
                }
                // A filter's child is received before the filter answers `queued as`: when it
                // is not here, the id is the remote server's, not ours.
                _ if matches!(l.kind, LinkKind::Filter) => {}
                _ => {
                    srv.links.insert(child, l);
                }
            }
        }
        if done {
            if let Some(open) = srv.open.remove(qid) {
                self.complete(s, open);
            }
        }
    }

    /// A message left the queue: write it, or keep it with its session until `disconnect`.
    fn complete(&mut self, s: usize, open: Open) {
        let srv = &mut self.servers[s];
        if let Some((pid, started)) = open.session {
            if let Some(sess) = srv.sessions.get_mut(&pid).filter(|x| x.started == started) {
                let qid = open.msg.queue_id.as_deref().unwrap_or("");
                sess.queue_ids.retain(|q| q != qid);
                sess.finished.push(open.msg);
                return;
            }
        }
        self.finish(open.msg);
    }

    /// Close a client session: its lines go to its messages, or out as a loose session.
    fn close_session(
        &mut self,
        s: usize,
        _pid: u32,
        mut sess: Session,
        last: Option<(Ts, &str, &str)>,
    ) {
        if let Some((at, text, line)) = last {
            sess.lines.push(line.to_string());
            sess.events.push(event(at, "disconnect", text));
        }
        let tail_lines: Vec<String> = match last {
            Some((_, _, l)) => vec![l.to_string()],
            None => Vec::new(),
        };
        let srv = &mut self.servers[s];
        let mut dead = Vec::new();
        for qid in &sess.queue_ids {
            if let Some(open) = srv.open.get_mut(qid) {
                if let Some((at, text, _)) = last {
                    open.msg.lines.extend(tail_lines.iter().cloned());
                    open.msg.events.push(event(at, "disconnect", text));
                }
                open.session = None;
                open.dirty = true;
                // Rejected after a queue id was assigned (size, milter): the queue file is gone
                // and no `removed` will come.
                if open.msg.status == Status::Rejected {
                    dead.push(qid.clone());
                }
            }
        }
        let dead: Vec<Message> = dead
            .iter()
            .filter_map(|q| srv.open.remove(q))
            .map(|o| o.msg)
            .collect();
        for m in dead {
            self.finish(m);
        }
        let srv = &mut self.servers[s];
        let name = srv.name.clone();
        let finished = std::mem::take(&mut sess.finished);
        for mut m in finished {
            if let Some((at, text, _)) = last {
                m.lines.extend(tail_lines.iter().cloned());
                m.events.push(event(at, "disconnect", text));
            }
            self.finish(m);
        }
        if !sess.had_message {
            for l in sess.lines {
                self.out.loose.push(LooseLine {
                    server: name.clone(),
                    at: sess.started,
                    kind: LooseKind::Session,
                    line: l,
                });
            }
        }
    }

    fn finish(&mut self, mut m: Message) {
        m.open = false;
        finalize(&mut m);
        self.counters.messages_done += 1;
        self.counters.recipients_done += m.recipients.len() as u64;
        self.out.messages.push(m);
    }

    /// Write out state idle for longer than the [`Limits`], as of log time `now`.
    pub fn sweep(&mut self, now: Ts) {
        self.last_sweep = now;
        let limits = self.limits;
        let messages_too = now.0 - self.last_message_sweep.0 > limits.message_idle / 16;
        if messages_too {
            self.last_message_sweep = now;
        }
        for s in 0..self.servers.len() {
            let stale: Vec<u32> = self.servers[s]
                .sessions
                .iter()
                .filter(|(_, x)| now.0 - x.last_seen.0 > limits.session_idle)
                .map(|(p, _)| *p)
                .collect();
            for pid in stale {
                if let Some(sess) = self.servers[s].sessions.remove(&pid) {
                    self.close_session(s, pid, sess, None);
                }
            }
            let srv = &mut self.servers[s];
            let idle: Vec<String> = if messages_too {
                srv.open
                    .iter()
                    .filter(|(_, o)| now.0 - o.msg.last_seen.0 > limits.message_idle)
                    .map(|(q, _)| q.clone())
                    .collect()
            } else {
                Vec::new()
            };
            for q in idle {
                if let Some(mut o) = srv.open.remove(&q) {
                    // Still queued as far as we know: write it as open so a later ingest resumes it.
                    finalize(&mut o.msg);
                    self.out.messages.push(o.msg);
                }
            }
            srv.links
                .retain(|_, l| now.0 - l.at.0 <= limits.message_idle);
            let agents: Vec<u32> = srv
                .agents
                .iter()
                .filter(|(_, a)| now.0 - a.at.0 > limits.agent_idle)
                .map(|(p, _)| *p)
                .collect();
            let name = srv.name.clone();
            for pid in agents {
                if let Some(a) = self.servers[s].agents.remove(&pid) {
                    for (t, _, l) in a.lines {
                        self.out.loose.push(LooseLine {
                            server: name.clone(),
                            at: t,
                            kind: LooseKind::Notice,
                            line: l,
                        });
                    }
                }
            }
        }
    }

    /// Everything to write now: finished messages, loose lines, and queued messages that changed
    /// since the last checkpoint (as `open`). Write it together with [`Correlator::state`].
    pub fn checkpoint(&mut self) -> Output {
        for srv in &mut self.servers {
            for o in srv.open.values_mut().filter(|o| o.dirty) {
                o.dirty = false;
                let mut m = o.msg.clone();
                finalize(&mut m);
                self.out.messages.push(m);
            }
        }
        std::mem::take(&mut self.out)
    }

    /// Messages finished since the last call, without touching queued ones (cheap; for
    /// intermediate flushes between checkpoints).
    pub fn take_finished(&mut self) -> Output {
        std::mem::take(&mut self.out)
    }

    /// The state to save with a checkpoint (sessions, pending links, agent lines).
    pub fn state(&self, file: Option<i64>, year: Option<syslog::YearState>) -> CorrelatorState {
        CorrelatorState {
            servers: self
                .servers
                .iter()
                .filter(|s| !s.sessions.is_empty() || !s.links.is_empty() || !s.agents.is_empty())
                .map(|s| ServerSnapshot {
                    name: s.name.clone(),
                    sessions: s.sessions.iter().map(|(k, v)| (*k, v.clone())).collect(),
                    links: s.links.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    agents: s.agents.iter().map(|(k, v)| (*k, v.clone())).collect(),
                })
                .collect(),
            year,
            last_ts: self.last_ts,
            file,
        }
    }

    /// End of all input: close sessions (their messages are written) and write every queued
    /// message as open.
    pub fn finish_input(&mut self) -> Output {
        for s in 0..self.servers.len() {
            let pids: Vec<u32> = self.servers[s].sessions.keys().copied().collect();
            for pid in pids {
                if let Some(sess) = self.servers[s].sessions.remove(&pid) {
                    // Keep the session for a later ingest only if it still has queued mail.
                    self.close_session(s, pid, sess, None);
                }
            }
        }
        self.checkpoint()
    }
}

/// A recipient the receiving server refused with `reply`.
fn rejected_recipient(to: &str, reply: &postfix::Reply<'_>, at: Ts) -> Recipient {
    Recipient {
        address: to.to_string(),
        status: Status::Rejected,
        dsn: reply.dsn.map(str::to_string),
        smtp_code: reply.code,
        response: Some(reply.text.to_string()),
        last_attempt_at: Some(at),
        ..Recipient::default()
    }
}

fn reject_message(
    m: &mut Message,
    at: Ts,
    to: Option<&str>,
    text: &str,
    code: Option<u16>,
    dsn: Option<&str>,
) {
    m.status = Status::Rejected;
    m.reason = Some(text.to_string());
    if m.recipients.is_empty() {
        if let Some(to) = to {
            m.recipients.push(Recipient {
                address: to.to_string(),
                ..Recipient::default()
            });
        }
    }
    for r in &mut m.recipients {
        r.status = Status::Rejected;
        r.response = Some(text.to_string());
        r.smtp_code = code;
        r.dsn = dsn.map(str::to_string);
        r.last_attempt_at = Some(at);
    }
}

/// Sort the timeline and compute the message status.
fn finalize(m: &mut Message) {
    m.events.sort_by_key(|e| e.at);
    if m.recipients.is_empty() {
        return;
    }
    let keep = matches!(
        m.status,
        Status::Rejected | Status::Discarded | Status::Held
    );
    let fallback = m.status;
    m.status = Status::summarize(m.recipients.iter().map(|r| r.status), fallback);
    if keep
        && m.recipients
            .iter()
            .all(|r| !r.status.is_final() || r.status == fallback)
    {
        m.status = fallback;
    }
}

fn event(at: Ts, kind: &str, text: &str) -> Event {
    Event {
        at,
        kind: kind.to_string(),
        text: text.to_string(),
    }
}

/// `Subject: hello` → `hello` (case-insensitive header name).
fn header_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let (n, v) = header.split_once(':')?;
    n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
}

fn is_delivery_agent(service: &str) -> bool {
    matches!(
        service,
        "smtp" | "lmtp" | "local" | "virtual" | "pipe" | "error" | "retry" | "discard" | "relay"
    )
}

/// Is a `relay=` value this server itself (a content filter or a second instance)?
fn is_local_relay(relay: &str, server: &str) -> bool {
    let host = relay.split('[').next().unwrap_or(relay);
    let addr = relay
        .split_once('[')
        .and_then(|(_, r)| r.split(']').next())
        .unwrap_or("");
    addr.starts_with("127.")
        || addr == "::1"
        || host == "localhost"
        || host.eq_ignore_ascii_case(server)
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests;
