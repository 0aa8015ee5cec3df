//! The delivery log: each delivery's remote conversation into attempts of the recipients of
//! the message it delivers (found by spool number).

use super::*;

impl Correlator {
    pub(super) fn sm_delivery(&mut self, s: usize, at: Ts, id: &str, l: &Line<'_>) {
        let lean = self.lean;
        let cur = self.cur;
        let name = self.servers[s].name.clone();
        let srv = &mut self.servers[s].smartermail;
        if !srv.spool.contains_key(id) {
            if srv.done.contains_key(id) && !matches!(l.kind, Kind::DeliveryStarted(_)) {
                // A stray line after the message ended.
                self.loose(&name, at, LooseKind::Notice, cur.no);
                return;
            }
            // Sent without an SMTP session in the input (webmail, or the SMTP log not read).
            let m = Message {
                id: message_key(&name, id, at, 0),
                server: name.clone(),
                mta: MTA_SMARTERMAIL.to_string(),
                queue_id: Some(id.to_string()),
                received_at: at,
                last_seen: at,
                open: true,
                ..Message::default()
            };
            srv.spool.insert(
                id.to_string(),
                Box::new(Spooled {
                    msg: m,
                    dirty: true,
                }),
            );
        }
        let d = srv.deliveries.entry(id.to_string()).or_default();
        let Some(open) = srv.spool.get_mut(id) else {
            return;
        };
        open.dirty = true;
        let m = &mut open.msg;
        m.last_seen = m.last_seen.max(at);
        let mut kind: &'static str = "note";
        let mut finished = false;
        match l.kind {
            Kind::DeliveryStarted(sender) => {
                *d = Delivery::default();
                if m.sender.is_none() {
                    m.sender = Some(sender.to_string());
                }
                kind = "delivery";
            }
            Kind::RemoteFor(_) => kind = "delivery",
            Kind::RemoteTo(rcpt) | Kind::LocalDelivery(rcpt) => {
                d.local = matches!(l.kind, Kind::LocalDelivery(_));
                if !d.recipients.iter().any(|r| r == rcpt) {
                    d.recipients.push(rcpt.to_string());
                }
                recipient(m, rcpt);
                kind = "delivery";
            }
            Kind::Initiating(ip) => {
                d.new_connection();
                d.remote = Some(ip.to_string());
                kind = "connection";
            }
            Kind::ConnectionOk(remote) => {
                if d.greeting.is_some() {
                    d.new_connection();
                }
                d.remote = Some(remote.to_string());
                kind = "connection";
            }
            Kind::ConnectionFailed(remote) => {
                d.remote = Some(remote.to_string());
                d.error = Some(Reply {
                    code: None,
                    dsn: None,
                    text: l.text.to_string(),
                });
                kind = "connection";
            }
            Kind::Cmd(c) => {
                kind = "command";
                d.pending = match c {
                    Command::StartTls => Pending::StartTls,
                    Command::RcptTo(to) => Pending::Rcpt(to.to_string()),
                    Command::Data => Pending::Data,
                    Command::MailFrom(_) => {
                        if m.size.is_none() {
                            m.size = mailtrace_parse::smtp::mail_size(l.text);
                        }
                        Pending::Mail
                    }
                    _ => Pending::None,
                };
            }
            Kind::Rsp(r) => {
                kind = "reply";
                let code = r.code.unwrap_or(0);
                let rep = Reply::of(&r);
                if d.greeting.is_none() && code == 220 && d.pending == Pending::None {
                    d.greeting = r
                        .text
                        .get(4..)
                        .and_then(|t| t.split_whitespace().next())
                        .map(str::to_string);
                }
                if code >= 400 {
                    d.error = Some(rep.clone());
                }
                match std::mem::take(&mut d.pending) {
                    Pending::StartTls if code == 220 => d.tls = true,
                    Pending::Rcpt(to) => d.rcpt_replies.push((to, rep)),
                    Pending::Data if code == 354 => d.pending = Pending::Body,
                    Pending::Data | Pending::Body => {
                        if (200..300).contains(&code) {
                            // The remote server took the message: its acceptance line.
                            kind = event_kind::SENT;
                        }
                        d.data_reply = Some(rep);
                    }
                    _ => {}
                }
            }
            Kind::Completed { rcpt, outcome, .. } => {
                let relay = d.remote.as_deref().map(|r| relay(d.greeting.as_deref(), r));
                let (status, rep) = outcome_of(d, rcpt, outcome);
                let attempt = Attempt {
                    at,
                    status,
                    agent: if d.local || d.remote.is_none() {
                        "local"
                    } else {
                        "smtp"
                    }
                    .to_string(),
                    dsn: rep.as_ref().and_then(|r| r.dsn.clone()),
                    smtp_code: rep.as_ref().and_then(|r| r.code),
                    response: rep.map(|r| r.text),
                    relay,
                    delay_s: Some((at.0 - m.received_at.0) as f64 / 1e6).filter(|t| *t >= 0.0),
                    tls: d.tls.then(|| "STARTTLS".to_string()),
                    ..Attempt::default()
                };
                recipient(m, rcpt).record(attempt);
                kind = status.recipient_status().as_str();
            }
            Kind::Removed { failed, finished } => {
                d.removed = finished || failed;
                if failed {
                    m.end_pending(Status::Bounced);
                }
                kind = "removed";
            }
            Kind::DeliveryFinished => {
                kind = "delivery";
                finished = d.removed
                    || (!m.recipients.is_empty()
                        && m.recipients.iter().all(|r| r.status.is_final()));
            }
            _ => {}
        }
        if !lean {
            m.line_nos.push(cur.no);
            m.events.push(cur.event(at, kind, l.text));
        }
        if finished || matches!(l.kind, Kind::DeliveryFinished) {
            srv.deliveries.remove(id);
        }
        if finished {
            if let Some(o) = srv.spool.remove(id) {
                srv.done.insert(id.to_string(), at);
                self.finish(o.msg);
            }
        }
    }
}

/// `greeting[ip]:port` as Postfix writes a relay (the name the remote server gave itself in its
/// greeting: SmarterMail logs no DNS name).
fn relay(greeting: Option<&str>, remote: &str) -> String {
    let (ip, port) = match remote.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') || ip.starts_with('[') => (ip, Some(port)),
        _ => (remote, None),
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let name = greeting.unwrap_or("");
    match port {
        Some(p) => format!("{name}[{ip}]:{p}"),
        None => format!("{name}[{ip}]"),
    }
}

/// The attempt's outcome: SmarterMail's word for it, else what the conversation says; and the
/// reply that tells why (the recipient's refusal, else the end of the data, else the last
/// error).
fn outcome_of(d: &Delivery, rcpt: &str, outcome: &str) -> (AttemptStatus, Option<Reply>) {
    let rcpt_reply = d
        .rcpt_replies
        .iter()
        .rev()
        .find(|(to, _)| to.eq_ignore_ascii_case(rcpt))
        .map(|(_, r)| r.clone());
    let failed_rcpt = rcpt_reply.clone().filter(|r| r.code.unwrap_or(0) >= 400);
    let rep = failed_rcpt
        .or_else(|| d.data_reply.clone())
        .or_else(|| d.error.clone())
        .or(rcpt_reply);
    let from_reply = |r: &Option<Reply>| match r.as_ref().and_then(|r| r.code) {
        Some(c) if c >= 500 => AttemptStatus::Bounced,
        Some(c) if c >= 400 => AttemptStatus::Deferred,
        Some(_) => AttemptStatus::Sent,
        None if r.is_some() => AttemptStatus::Deferred,
        None => AttemptStatus::Sent,
    };
    let word = outcome.to_ascii_lowercase();
    let status = match word.as_str() {
        "delivered" | "success" | "sent" | "succeeded" => AttemptStatus::Sent,
        "failed" | "bounced" | "undeliverable" | "rejected" | "permanent failure" => {
            AttemptStatus::Bounced
        }
        "deferred" | "retry" | "delayed" | "greylisted" | "temporary failure" => {
            AttemptStatus::Deferred
        }
        _ => from_reply(&rep),
    };
    (status, rep)
}
