//! Exim correlation: one message per message id, from `<=` to `Completed`.
//!
//! Exim logs one line per event with the message id, so a message is simply every line of its
//! id: the arrival (`<=`) gives sender, client, size and subject, each delivery line gives one
//! attempt of one recipient, `Completed` ends it. A bounce (`<= <> R=parent`) points at the
//! message it reports on. Refusals in the SMTP dialogue have no id (or one that never arrives):
//! each is a rejected record, like Postfix's `NOQUEUE: reject`.

use crate::postfix::{finalize, reject_message};
use crate::{Correlator, LooseKind};
use mailtrace_model::{
    message_key, Attempt, AttemptStatus, Message, Recipient, Status, Ts, MTA_EXIM,
};
use mailtrace_parse::exim::{Delivery, Host, Kind, Outcome, Record, Reject};
use mailtrace_parse::postfix::Reply;
use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// Exim state of one server.
#[derive(Default)]
pub(crate) struct EximServer {
    /// Messages in the queue, by message id (boxed: growing the map moves entries).
    pub(crate) open: Map<String, Box<Open>>,
    /// Keys of messages finished lately, by message id, for bounces that arrive after their
    /// parent completed; dropped with the idle sweep.
    done: Map<String, (i64, Ts)>,
}

pub(crate) struct Open {
    pub(crate) msg: Message,
    pub(crate) dirty: bool,
}

/// `name[addr]:port`, as Postfix logs a relay (so both read the same in a report).
fn relay(h: &Host<'_>) -> String {
    let name = if h.name.is_empty() {
        h.addr.unwrap_or("")
    } else {
        h.name
    };
    match (h.addr, h.port) {
        (Some(a), Some(p)) => format!("{name}[{a}]:{p}"),
        (Some(a), None) => format!("{name}[{a}]"),
        _ => name.to_string(),
    }
}

/// The remote reply in a confirmation or an error: the text after the last `: ` that starts
/// with a reply code, else the whole text.
fn reply(text: &str) -> Reply<'_> {
    let mut best = Reply::parse(text);
    if best.code.is_none() {
        for (i, _) in text.match_indices(": ") {
            let r = Reply::parse(&text[i + 2..]);
            if r.code.is_some() {
                best = r;
                break;
            }
        }
    }
    best
}

impl Correlator {
    /// A line of Exim's.
    pub(crate) fn exim_record(&mut self, s: usize, at: Ts, rec: &Record<'_>, text: &str) {
        let no = self.cur.no;
        let Some(id) = rec.id else {
            self.exim_without_id(s, at, rec, text);
            return;
        };
        if let Kind::Arrival(a) = &rec.kind {
            let name = self.servers[s].name.clone();
            if let Some(old) = self.servers[s].exim.open.remove(id) {
                self.exim_finish(s, old.msg);
            }
            let mut m = Message {
                id: message_key(&name, id, at, 0),
                server: name,
                mta: MTA_EXIM.to_string(),
                queue_id: Some(id.to_string()),
                sender: Some(a.sender.to_string()),
                size: a.size,
                message_id: a.message_id.map(|i| format!("<{i}>")),
                subject: a.subject.as_deref().map(str::to_string),
                proto: a.proto.map(str::to_string),
                tls: a.tls.map(str::to_string),
                received_at: at,
                last_seen: at,
                open: true,
                ..Message::default()
            };
            match &a.host {
                Some(h) => {
                    m.client_host = Some(if h.name.is_empty() {
                        "unknown".to_string()
                    } else {
                        h.name.to_string()
                    });
                    m.client_ip = h.addr.map(str::to_string);
                    m.helo = h.helo.map(str::to_string);
                }
                // Submitted on this server (`U=user P=local`).
                None => m.client_host = Some("local".to_string()),
            }
            if let Some(auth) = a.auth {
                let (method, user) = auth.split_once(':').unwrap_or((auth, ""));
                m.sasl_method = Some(method.to_string());
                m.sasl_username = (!user.is_empty()).then(|| user.to_string());
            }
            if let Some(parent) = a.bounce_of {
                let srv = &self.servers[s].exim;
                m.bounce_of = srv
                    .open
                    .get(parent)
                    .map(|o| o.msg.id)
                    .or_else(|| srv.done.get(parent).map(|d| d.0));
            }
            if !self.lean {
                m.line_nos.push(no);
                m.events.push(
                    self.cur
                        .event(at, mailtrace_model::event_kind::QUEUED, text),
                );
            }
            self.servers[s].exim.open.insert(
                id.to_string(),
                Box::new(Open {
                    msg: m,
                    dirty: true,
                }),
            );
            return;
        }
        if let Kind::Rejected(r) = &rec.kind {
            // Refused after DATA (or by local_scan, a non-SMTP ACL, a size limit): the id
            // was given, the message never arrived.
            if !self.servers[s].exim.open.contains_key(id) {
                let m = self.exim_rejected(s, at, Some(id), r, text);
                self.exim_finish(s, m);
                return;
            }
        }
        if !self.servers[s].exim.open.contains_key(id) {
            // The arrival is before the start of the log: what follows still tells the story.
            let name = self.servers[s].name.clone();
            let m = Message {
                id: message_key(&name, id, at, 0),
                server: name,
                mta: MTA_EXIM.to_string(),
                queue_id: Some(id.to_string()),
                received_at: at,
                last_seen: at,
                open: true,
                ..Message::default()
            };
            self.servers[s].exim.open.insert(
                id.to_string(),
                Box::new(Open {
                    msg: m,
                    dirty: true,
                }),
            );
        }
        let lean = self.lean;
        let cur = self.cur;
        let Some(open) = self.servers[s].exim.open.get_mut(id) else {
            return;
        };
        open.dirty = true;
        let m = &mut open.msg;
        m.last_seen = m.last_seen.max(at);
        let mut done = false;
        let kind: &'static str = match &rec.kind {
            Kind::Delivery(d) => deliver(m, at, d),
            Kind::Completed => {
                done = true;
                "completed"
            }
            Kind::Frozen(_) => {
                m.status = Status::Held;
                "frozen"
            }
            Kind::Removed => {
                m.end_pending(Status::Removed);
                "removed"
            }
            Kind::Unfrozen => {
                if m.status == Status::Held {
                    m.status = Status::Queued;
                }
                "unfrozen"
            }
            Kind::Rejected(r) => {
                reject_message(m, at, r.recipient, r.reason, None, None);
                done = true;
                "rejected"
            }
            Kind::Connection(_) => "connection",
            _ => "note",
        };
        if !lean {
            m.line_nos.push(no);
            let body = text.split_once(' ').map_or(text, |(_, b)| b);
            m.events.push(cur.event(at, kind, body));
        }
        if done {
            if let Some(o) = self.servers[s].exim.open.remove(id) {
                self.exim_finish(s, o.msg);
            }
        }
    }

    fn exim_without_id(&mut self, s: usize, at: Ts, rec: &Record<'_>, text: &str) {
        let no = self.cur.no;
        let name = self.servers[s].name.clone();
        match &rec.kind {
            Kind::Rejected(r) => {
                let m = self.exim_rejected(s, at, None, r, text);
                self.exim_finish(s, m);
            }
            Kind::Connection(_) | Kind::AuthFailed { .. } => {
                self.loose(&name, at, LooseKind::Session, no);
            }
            _ => self.loose(&name, at, LooseKind::Notice, no),
        }
    }

    /// A refusal as a rejected record.
    fn exim_rejected(
        &mut self,
        s: usize,
        at: Ts,
        id: Option<&str>,
        r: &Reject<'_>,
        text: &str,
    ) -> Message {
        let srv = &mut self.servers[s];
        let seq = if srv.noqueue_last.0 == at {
            srv.noqueue_last.1 + 1
        } else {
            0
        };
        srv.noqueue_last = (at, seq);
        let disc = match id {
            Some(_) => 0,
            None => mailtrace_model::fnv1a(text.as_bytes()) ^ seq,
        };
        let name = srv.name.clone();
        let reason = if r.reason.is_empty() {
            format!("rejected {}", r.stage)
        } else {
            r.reason.to_string()
        };
        let mut m = Message {
            id: message_key(&name, id.unwrap_or(""), at, disc),
            server: name,
            mta: MTA_EXIM.to_string(),
            queue_id: id.map(str::to_string),
            sender: r.sender.map(str::to_string),
            client_host: r.host.map(|h| {
                if h.name.is_empty() {
                    "unknown".to_string()
                } else {
                    h.name.to_string()
                }
            }),
            client_ip: r.host.and_then(|h| h.addr).map(str::to_string),
            helo: r.host.and_then(|h| h.helo).map(str::to_string),
            received_at: at,
            last_seen: at,
            ..Message::default()
        };
        let rep = reply(&reason);
        reject_message(&mut m, at, r.recipient, &reason, rep.code, rep.dsn);
        m.status = Status::Rejected;
        if !self.lean {
            m.line_nos.push(self.cur.no);
            let kind = format!("reject at {}", r.stage);
            m.events.push(self.cur.event(at, kind, text));
        }
        m
    }

    fn exim_finish(&mut self, s: usize, m: Message) {
        if let Some(q) = &m.queue_id {
            self.servers[s]
                .exim
                .done
                .insert(q.clone(), (m.id, m.last_seen));
        }
        self.finish(m);
    }

    /// Write out Exim messages idle for longer than `idle` (as still queued) and forget
    /// finished ids older than that.
    pub(crate) fn exim_sweep(&mut self, s: usize, now: Ts, idle: i64) {
        let srv = &mut self.servers[s].exim;
        srv.done.retain(|_, d| now.0 - d.1 .0 <= idle);
        let stale: Vec<String> = srv
            .open
            .iter()
            .filter(|(_, o)| now.0 - o.msg.last_seen.0 > idle)
            .map(|(q, _)| q.clone())
            .collect();
        for q in stale {
            if let Some(o) = self.servers[s].exim.open.remove(&q) {
                let mut m = o.msg;
                finalize(&mut m);
                self.out.messages.push(m);
            }
        }
    }
}

/// Record a delivery line on its message; returns the timeline kind.
fn deliver(m: &mut Message, at: Ts, d: &Delivery<'_>) -> &'static str {
    // Lines that try nothing leave the last attempt's reply and relay as they were: a queue
    // run passing a recipient whose retry time has not come (`== ...: retry time not reached`),
    // and the end of retrying (`** rcpt: retry timeout exceeded`). As attempts they would
    // blank the reply of the server that deferred it and count one deferral per queue run.
    if d.not_tried() || (d.timed_out() && d.host.is_none()) {
        let r = recipient(m, d);
        return if d.outcome == Outcome::Failed {
            r.status = Status::Expired;
            "expired"
        } else {
            r.status = Status::Deferred;
            "deferred"
        };
    }
    let status = match d.outcome {
        // Tried once more, then gave up: `...: 452 4.2.2 Mailbox full: retry timeout exceeded`.
        Outcome::Failed if d.timed_out() => AttemptStatus::Expired,
        Outcome::Deferred => AttemptStatus::Deferred,
        Outcome::Failed => AttemptStatus::Bounced,
        _ => AttemptStatus::Sent,
    };
    let text = d.confirmation.or(d.error).unwrap_or("");
    let rep = reply(text);
    let queue_time = d
        .queue_time
        .or_else(|| Some((at.0 - m.received_at.0) as f64 / 1e6).filter(|t| *t >= 0.0));
    let attempt = Attempt {
        at,
        status,
        agent: d.transport.or(d.router).unwrap_or("").to_string(),
        dsn: rep.dsn.map(str::to_string),
        smtp_code: rep.code,
        response: (!text.is_empty()).then(|| text.to_string()),
        relay: d.host.as_ref().map(relay),
        delay_s: queue_time,
        delays: None,
        queued_as: None,
        tls: d.tls.map(str::to_string),
    };
    recipient(m, d).record(attempt);
    status.as_str()
}

/// The recipient a delivery line is about, added when it is new.
///
/// The recipient is the envelope address: the one in angle brackets when routing changed it
/// (a redirection, or a local delivery that names a local part, a pipe or a file). Its
/// deliveries may name different final addresses; a full one is kept as the address.
fn recipient<'m>(m: &'m mut Message, d: &Delivery<'_>) -> &'m mut Recipient {
    let envelope = d.original.unwrap_or(d.address);
    let full = d.address.contains('@').then_some(d.address);
    let idx = m
        .recipients
        .iter()
        .position(|r| r.orig_to.as_deref().unwrap_or(&r.address) == envelope)
        .unwrap_or_else(|| {
            m.recipients.push(Recipient {
                address: envelope.to_string(),
                ..Recipient::default()
            });
            m.recipients.len() - 1
        });
    if let Some(a) = full.filter(|a| *a != envelope) {
        let r = &mut m.recipients[idx];
        r.orig_to = Some(envelope.to_string());
        r.address = a.to_string();
    }
    &mut m.recipients[idx]
}

#[cfg(test)]
mod tests;
