//! Lines with a queue id: a message's life from `client=`/`uid=` to `removed`.

use super::*;

impl Correlator {
    /// Lines with a queue id.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn queue_record(
        &mut self,
        s: usize,
        at: Ts,
        pid: Option<u32>,
        qid: &str,
        rec: &Record<'_>,
        text: &str,
    ) {
        let pid = pid.unwrap_or(0);
        let cur = self.cur;
        let lean = self.lean;
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
                msg.line_nos = sess.lines.clone();
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
                Box::new(Open {
                    msg,
                    dirty: true,
                    session,
                    first_to: None,
                    size_warnings: 0,
                }),
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
            msg: m,
            first_to,
            size_warnings,
            ..
        } = &mut **open;
        if let Some(early) = early.filter(|_| !lean) {
            for (e, no) in early.lines {
                m.events.push(e);
                m.line_nos.push(no);
            }
        }
        m.last_seen = m.last_seen.max(at);
        if !lean {
            m.line_nos.push(cur.no);
        }
        let body = || text.split_once(": ").map_or(text, |(_, b)| b);
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
                            reply.map_or_else(body, |r| r.text),
                            reply.and_then(|r| r.code),
                            reply.and_then(|r| r.dsn),
                        );
                        done = true;
                    }
                    "hold" | "milter-hold" => m.status = Status::Held,
                    "discard" | "milter-discard" => {
                        m.status = Status::Discarded;
                        m.reason = Some(body().to_string());
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
                    // Over the TLS session this process has open to that relay, if any.
                    tls: srv
                        .agent_tls
                        .get(&pid)
                        .filter(|(peer, _, _)| d.relay == Some(peer.as_str()))
                        .map(|(_, tls, _)| tls.clone()),
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
                m.recipients[idx].record(attempt);
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
                // The timeline names the outcome: sent, deferred, bounced...
                d.status.as_str()
            }
            Kind::Expired { .. } => {
                m.end_pending(Status::Expired);
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
                if what.starts_with("queue file size limit exceeded") {
                    // The client got `552 5.3.4 Message size exceeds fixed limit` after DATA; no
                    // reject line says so, the queue file is gone and no `removed` follows. smtpd
                    // and cleanup both warn, in either order: the second warning ends it.
                    *size_warnings += 1;
                    if m.status != Status::Rejected {
                        reject_message(
                            m,
                            at,
                            first_to.as_deref(),
                            "552 5.3.4 Message size exceeds fixed limit (queue file size limit exceeded)",
                            Some(552),
                            Some("5.3.4"),
                        );
                    }
                    done = *size_warnings >= 2;
                }
                level
            }
            _ => "note",
        };
        if !lean {
            m.events.push(cur.event(at, kind_label.to_string(), body()));
        }
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
                self.complete(s, *open);
            }
        }
    }

    /// A message left the queue: write it, or keep it with its session until `disconnect`.
    pub(super) fn complete(&mut self, s: usize, open: Open) {
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
}

/// `Subject: hello` → `hello` (case-insensitive header name).
fn header_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let (n, v) = header.split_once(':')?;
    n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
}

/// Is a `relay=` value this server itself (a content filter or a second instance)?
fn is_local_relay(relay: &str, server: &str) -> bool {
    let (host, addr) = match memchr::memchr(b'[', relay.as_bytes()) {
        Some(i) => {
            let r = &relay[i + 1..];
            (
                &relay[..i],
                &r[..memchr::memchr(b']', r.as_bytes()).unwrap_or(r.len())],
            )
        }
        None => (relay, ""),
    };
    addr.starts_with("127.")
        || addr == "::1"
        || host == "localhost"
        || host.eq_ignore_ascii_case(server)
}
