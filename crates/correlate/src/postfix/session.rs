//! Lines without queue id: client sessions (connect … disconnect), `NOQUEUE` rejections, and
//! delivery-agent lines that wait for their queue id.

use super::*;

impl Correlator {
    /// Lines without queue id: sessions, NOQUEUE rejections, daemon notices.
    pub(super) fn session_record(
        &mut self,
        s: usize,
        at: Ts,
        pid: Option<u32>,
        rec: &Record<'_>,
        text: &str,
        line: &str,
    ) {
        let pid = pid.unwrap_or(0);
        let cur = self.cur;
        let lean = self.lean;
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
                        lines: if lean { Vec::new() } else { vec![cur.no] },
                        events: if lean {
                            Vec::new()
                        } else {
                            vec![cur.event(at, "connect", text)]
                        },
                        queue_ids: Vec::new(),
                        finished: Vec::new(),
                        pending_action: None,
                        had_message: false,
                    },
                );
            }
            Kind::Disconnect { .. } if rec.service != "postscreen" => {
                match self.servers[s].sessions.remove(&pid) {
                    Some(sess) => {
                        let last = (!lean).then(|| cur.event(at, "disconnect", text));
                        self.close_session(s, pid, sess, last)
                    }
                    None => self.loose(
                        &self.servers[s].name.clone(),
                        at,
                        LooseKind::Session,
                        cur.no,
                    ),
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
                        let disc = mailtrace_model::fnv1a(line.as_bytes()) ^ seq;
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
                        if !lean {
                            m.events
                                .push(cur.event(at, format!("{action} at {stage}"), text));
                        }
                        match sess {
                            Some(sess) => {
                                sess.last_seen = at;
                                if m.client_host.is_none() {
                                    m.client_host = Some(sess.client_host.clone());
                                    m.client_ip = Some(sess.client_ip.clone());
                                }
                                m.tls = sess.tls.clone();
                                if !lean {
                                    m.line_nos = sess.lines.clone();
                                    m.line_nos.push(cur.no);
                                    let mut events = sess.events.clone();
                                    events.append(&mut m.events);
                                    m.events = events;
                                }
                                sess.had_message = true;
                                sess.finished.push(m);
                            }
                            None => {
                                if !lean {
                                    m.line_nos.push(cur.no);
                                }
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
                                if !lean {
                                    sess.lines.push(cur.no);
                                    sess.events.push(cur.event(at, action.to_string(), text));
                                }
                            }
                            None => self.loose(&name, at, LooseKind::Notice, cur.no),
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
                    if !lean {
                        sess.events.push(cur.event(at, kind.to_string(), text));
                        sess.lines.push(cur.no);
                    }
                }
            }
            Kind::Unrecognized(_) => {
                let name = self.servers[s].name.clone();
                self.loose(&name, at, LooseKind::Unparsed, cur.no);
            }
            Kind::ConnectFailure { .. }
            | Kind::Note(_)
            | Kind::Tls { .. }
            | Kind::Diagnostic { .. }
                if is_delivery_agent(rec.service) =>
            {
                // Delivery agent lines without queue id precede the queue id line of the
                // same process: keep them for it.
                if let Kind::Tls {
                    trust,
                    direction: "to",
                    peer,
                    details,
                } = &rec.kind
                {
                    let port = peer.port.map(|p| format!(":{p}")).unwrap_or_default();
                    self.servers[s].agent_tls.insert(
                        pid,
                        (
                            format!("{}[{}]{port}", peer.host, peer.addr),
                            format!("{trust} {details}"),
                            at,
                        ),
                    );
                }
                if !lean {
                    let agent = self.servers[s].agents.entry(pid).or_default();
                    agent.at = at;
                    agent
                        .lines
                        .push((cur.event(at, "delivery note", text), cur.no));
                }
            }
            _ => {
                let name = self.servers[s].name.clone();
                self.loose(&name, at, LooseKind::Notice, cur.no);
            }
        }
    }

    /// Close a client session: its lines go to its messages, or out as a loose session.
    pub(super) fn close_session(
        &mut self,
        s: usize,
        _pid: u32,
        mut sess: Session,
        last: Option<Event>,
    ) {
        // The disconnect line, when the session ended with one.
        let last = last.map(|e| (e, self.cur.no));
        if let Some((e, no)) = &last {
            sess.lines.push(*no);
            sess.events.push(e.clone());
        }
        let srv = &mut self.servers[s];
        for qid in &sess.queue_ids {
            if let Some(open) = srv.open.get_mut(qid) {
                if let Some((e, no)) = &last {
                    open.msg.line_nos.push(*no);
                    open.msg.events.push(e.clone());
                }
                open.session = None;
                open.dirty = true;
            }
        }
        let srv = &mut self.servers[s];
        let name = srv.name.clone();
        let finished = std::mem::take(&mut sess.finished);
        for mut m in finished {
            if let Some((e, no)) = &last {
                m.line_nos.push(*no);
                m.events.push(e.clone());
            }
            self.finish(m);
        }
        if !sess.had_message {
            for no in &sess.lines {
                self.loose(&name, sess.started, LooseKind::Session, *no);
            }
        }
    }
}
