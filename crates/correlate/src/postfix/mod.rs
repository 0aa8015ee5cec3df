//! Postfix correlation: smtpd sessions, queue ids, deliveries, filters and notifications.

use crate::{Counters, LooseKind, LooseLine, Output};
use mailtrace_model::{
    message_key, Attempt, Event, LineNo, Message, Recipient, Status, Ts, MTA_POSTFIX,
};
use mailtrace_parse::postfix::{self, Kind, PostsuperAction, Record};
use mailtrace_parse::syslog;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;

/// Maps keyed by queue id, pid or server name: looked up several times per line, so with a
/// fast hash (still seeded at random: queue ids in forged lines cannot aim at collisions).
type Map<K, V> = HashMap<K, V, ahash::RandomState>;

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
    /// SmarterMail sessions and deliveries under way.
    #[serde(default)]
    smartermail: crate::smartermail::SmSnapshot,
    /// Transcript connections under way.
    #[serde(default)]
    transcript: crate::transcript::TrSnapshot,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    started: Ts,
    last_seen: Ts,
    client_host: String,
    client_ip: String,
    tls: Option<String>,
    /// Session-level lines (connect, TLS, lost connection...), copied into each message.
    lines: Vec<LineNo>,
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
    lines: Vec<(Event, LineNo)>,
}

struct Open {
    msg: Message,
    dirty: bool,
    /// smtpd pid and session start of the session that received it.
    session: Option<(u32, Ts)>,
    /// The first recipient as cleanup named it (`to=` of a header check line): the only trace
    /// of the recipient of a message refused after DATA, which never reaches the queue manager.
    first_to: Option<String>,
    /// `queue file size limit exceeded` warnings seen: smtpd and cleanup each log one, in
    /// either order, and the message is over after both.
    size_warnings: u8,
}

#[derive(Default)]
pub(crate) struct Server {
    pub(crate) name: String,
    /// Exim's messages of this server.
    pub(crate) exim: crate::exim::EximServer,
    /// Sendmail's messages of this server.
    pub(crate) sendmail: crate::sendmail::SendmailServer,
    /// SmarterMail's sessions, deliveries and spooled messages of this server.
    pub(crate) smartermail: crate::smartermail::SmServer,
    /// Transcript connections of this server.
    pub(crate) transcript: crate::transcript::TrServer,
    sessions: Map<u32, Session>,
    /// Boxed: a message is large, and growing the map moves every entry.
    open: Map<String, Box<Open>>,
    links: Map<String, Link>,
    agents: Map<u32, AgentLines>,
    /// The TLS session a delivery agent process has open: peer `host[addr]:port`, trust and
    /// cipher, when established. Its deliveries to that peer went over it (connections are
    /// cached and reused without a new TLS line).
    agent_tls: Map<u32, (String, String, Ts)>,
    pub(crate) noqueue_last: (Ts, u64),
}

/// Streams log lines into messages. See the crate documentation.
#[derive(Default)]
pub struct Correlator {
    pub(crate) servers: Vec<Server>,
    index: Map<String, usize>,
    pub(crate) out: Output,
    limits: Limits,
    pub(crate) last_ts: Ts,
    pub(crate) last_sweep: Ts,
    /// Scanning every queued message is the costly part of a sweep: done 16 times per
    /// `message_idle`, not every minute.
    last_message_sweep: Ts,
    pub(crate) counters: Counters,
    /// Server name for lines that name none (Exim's main log, SmarterMail, transcripts) when
    /// no `server` is given with the line.
    pub(crate) default_server: String,
    /// The line being fed.
    pub(crate) cur: Cur,
    /// Keep no timeline and no line numbers (see [`Correlator::lean`]).
    pub(crate) lean: bool,
    /// Index of the server of the last line.
    last_server: usize,
}

/// The line being fed: its number and where its text is in memory, so that an event whose
/// text is the tail of the line refers to it instead of copying it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cur {
    pub(crate) no: LineNo,
    start: usize,
    end: usize,
}

impl Cur {
    fn new(no: LineNo, line: &str) -> Cur {
        let start = line.as_ptr() as usize;
        Cur {
            no,
            start,
            end: start + line.len(),
        }
    }

    /// A timeline event; `text` is usually a tail of the current line.
    pub(crate) fn event(&self, at: Ts, kind: impl Into<Cow<'static, str>>, text: &str) -> Event {
        let begin = text.as_ptr() as usize;
        if !text.is_empty() && begin >= self.start && begin + text.len() == self.end {
            Event {
                at,
                kind: kind.into(),
                text: String::new(),
                source: Some((self.no, (begin - self.start) as u32)),
            }
        } else {
            Event::new(at, kind, text)
        }
    }
}

impl Correlator {
    /// A correlator with custom limits.
    pub fn with_limits(limits: Limits) -> Correlator {
        Correlator {
            limits,
            ..Correlator::default()
        }
    }

    /// A correlator whose messages carry no timeline ([`Message::events`]) and no line numbers
    /// ([`Message::line_nos`]): statistics over a log need only outcomes, and skipping them
    /// makes correlation about a third cheaper.
    pub fn lean(mut self) -> Correlator {
        self.lean = true;
        self
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
            srv.smartermail.restore(snap.smartermail);
            srv.transcript.restore(snap.transcript);
        }
        for msg in open {
            let Some(qid) = msg.queue_id.clone() else {
                continue;
            };
            let s = c.server(&msg.server);
            if msg.mta == mailtrace_model::MTA_EXIM {
                let open = crate::exim::Open { msg, dirty: false };
                c.servers[s].exim.open.insert(qid, Box::new(open));
                continue;
            }
            if msg.mta == mailtrace_model::MTA_SENDMAIL {
                let open = crate::sendmail::Open { msg, dirty: false };
                c.servers[s].sendmail.open.insert(qid, Box::new(open));
                continue;
            }
            if msg.mta == mailtrace_model::MTA_SMARTERMAIL {
                let open = crate::smartermail::Spooled { msg, dirty: false };
                c.servers[s].smartermail.spool.insert(qid, Box::new(open));
                continue;
            }
            let session = c.servers[s]
                .sessions
                .iter()
                .find(|(_, sess)| sess.queue_ids.contains(&qid))
                .map(|(pid, sess)| (*pid, sess.started));
            c.servers[s].open.insert(
                qid,
                Box::new(Open {
                    msg,
                    dirty: false,
                    session,
                    first_to: None,
                    size_warnings: 0,
                }),
            );
        }
        c
    }

    /// Name the server of lines that carry no host name (Exim's own main log, SmarterMail,
    /// transcripts) when no server is given with the line: `ingest --server`, else the
    /// machine's host name.
    pub fn set_default_server(&mut self, name: &str) {
        self.default_server = name.to_string();
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Number of messages in flight.
    pub fn open_messages(&self) -> usize {
        self.servers
            .iter()
            .map(|s| {
                s.open.len() + s.exim.open.len() + s.sendmail.open.len() + s.smartermail.spool.len()
            })
            .sum()
    }

    pub(crate) fn server(&mut self, name: &str) -> usize {
        // Lines mostly come from the server of the line before.
        if self
            .servers
            .get(self.last_server)
            .is_some_and(|s| s.name == name)
        {
            return self.last_server;
        }
        let i = self.server_index(name);
        self.last_server = i;
        i
    }

    fn server_index(&mut self, name: &str) -> usize {
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

    /// The time of the last line fed that had one (a line without a time gets it too).
    pub fn last_time(&self) -> Ts {
        self.last_ts
    }

    /// Feed raw line number `no`. `server` overrides the host name of the envelope.
    pub fn feed_line(
        &mut self,
        no: LineNo,
        line: &str,
        ctx: &mut syslog::Context,
        server: Option<&str>,
    ) {
        self.feed_parsed(no, &parse_line(line, ctx), server);
    }

    /// Feed raw line number `no`, parsed by [`parse_line`] (which may run on another thread:
    /// it needs no correlation state). `server` overrides the host name of the envelope.
    pub fn feed_parsed(&mut self, no: LineNo, parsed: &Parsed<'_>, server: Option<&str>) {
        self.counters.lines += 1;
        self.cur = Cur::new(no, parsed.line);
        if let Some(f) = &parsed.file {
            self.feed_file(f, server);
            return;
        }
        let Some(env) = &parsed.envelope else {
            self.counters.unparsed += 1;
            self.loose(server.unwrap_or(""), self.last_ts, LooseKind::Unparsed, no);
            return;
        };
        self.last_ts = env.ts;
        let default_host;
        let host = match server.unwrap_or(env.host) {
            // Exim's own main log names no host.
            "" => {
                default_host = self.default_server.clone();
                default_host.as_str()
            }
            h => h,
        };
        if let Some(rec) = &parsed.exim {
            self.counters.exim += 1;
            let s = self.server(host);
            self.exim_record(s, env.ts, rec, env.text);
            if env.ts.0 - self.last_sweep.0 > 60_000_000 {
                self.sweep(env.ts);
            }
            return;
        }
        if let Some(rec) = &parsed.sendmail {
            self.counters.sendmail += 1;
            let s = self.server(host);
            self.sendmail_record(s, env.ts, env.pid, rec, env.text);
            if env.ts.0 - self.last_sweep.0 > 60_000_000 {
                self.sweep(env.ts);
            }
            return;
        }
        let Some(rec) = &parsed.record else {
            self.counters.other += 1;
            self.loose(host, env.ts, LooseKind::Other, no);
            return;
        };
        self.counters.postfix += 1;
        if matches!(rec.kind, Kind::Unrecognized(_) | Kind::QueueNote(_)) {
            // Text no rule knows: counted, and listed with the unparsed lines even when it
            // also belongs to a message through its queue id.
            self.counters.unparsed += 1;
            if rec.queue_id.is_some() {
                self.loose(host, env.ts, LooseKind::Unparsed, no);
            }
        }
        let s = self.server(host);
        self.feed_postfix(s, env.ts, env.pid, rec, env.text, parsed.line);
        if env.ts.0 - self.last_sweep.0 > 60_000_000 {
            self.sweep(env.ts);
        }
    }

    pub(crate) fn loose(&mut self, server: &str, at: Ts, kind: LooseKind, no: LineNo) {
        self.out.loose.push(LooseLine {
            server: server.to_string(),
            at,
            kind,
            no,
            line: String::new(),
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
            Some(qid) => self.queue_record(s, at, pid, qid, rec, text),
            None => self.session_record(s, at, pid, rec, text, line),
        }
    }

    pub(crate) fn finish(&mut self, mut m: Message) {
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
            srv.agent_tls
                .retain(|_, t| now.0 - t.2 .0 <= limits.message_idle);
            let agents: Vec<u32> = srv
                .agents
                .iter()
                .filter(|(_, a)| now.0 - a.at.0 > limits.agent_idle)
                .map(|(p, _)| *p)
                .collect();
            let name = srv.name.clone();
            for pid in agents {
                if let Some(a) = self.servers[s].agents.remove(&pid) {
                    for (e, no) in a.lines {
                        self.loose(&name, e.at, LooseKind::Notice, no);
                    }
                }
            }
            if messages_too {
                self.exim_sweep(s, now, limits.message_idle);
            }
            self.sendmail_sweep(
                s,
                now,
                limits.session_idle,
                limits.message_idle,
                messages_too,
            );
            self.smartermail_sweep(
                s,
                now,
                Some(limits.session_idle),
                messages_too.then_some(limits.message_idle),
            );
            self.transcript_sweep(s, now, Some(limits.session_idle));
        }
    }

    /// Finished messages and loose lines so far, without the queued ones: a batch written in
    /// between two [`Correlator::checkpoint`]s (which then must follow before a commit).
    pub fn drain(&mut self) -> Output {
        // The next batch is likely as long as this one: no growing (and moving) it again.
        let messages = Vec::with_capacity(self.out.messages.capacity());
        Output {
            messages: std::mem::replace(&mut self.out.messages, messages),
            loose: std::mem::take(&mut self.out.loose),
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
            for o in srv.exim.open.values_mut().filter(|o| o.dirty) {
                o.dirty = false;
                let mut m = o.msg.clone();
                finalize(&mut m);
                self.out.messages.push(m);
            }
            for o in srv.sendmail.open.values_mut().filter(|o| o.dirty) {
                o.dirty = false;
                let mut m = o.msg.clone();
                finalize(&mut m);
                self.out.messages.push(m);
            }
            for o in srv.smartermail.spool.values_mut().filter(|o| o.dirty) {
                o.dirty = false;
                let mut m = o.msg.clone();
                finalize(&mut m);
                self.out.messages.push(m);
            }
        }
        std::mem::take(&mut self.out)
    }

    /// The state to save with a checkpoint (sessions, pending links, agent lines).
    pub fn state(&self, file: Option<i64>, year: Option<syslog::YearState>) -> CorrelatorState {
        CorrelatorState {
            servers: self
                .servers
                .iter()
                .filter(|s| {
                    !s.sessions.is_empty()
                        || !s.links.is_empty()
                        || !s.agents.is_empty()
                        || s.smartermail.in_flight()
                        || s.transcript.in_flight()
                })
                .map(|s| ServerSnapshot {
                    name: s.name.clone(),
                    smartermail: s.smartermail.snapshot(),
                    transcript: s.transcript.snapshot(),
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

    /// End of all input, with no checkpoint to follow: as [`Correlator::finish_input`], but
    /// the queued messages are moved out rather than copied.
    pub fn into_output(mut self) -> Output {
        self.close_sessions();
        // SmarterMail sessions and transcript connections that never ended: what they
        // received is written now (an ingest keeps them in its state instead, for the lines
        // a grown file adds).
        let now = self.last_ts;
        for s in 0..self.servers.len() {
            self.smartermail_sweep(s, now, None, None);
            self.transcript_sweep(s, now, None);
        }
        for srv in &mut self.servers {
            for (_, o) in srv.open.drain() {
                let mut m = o.msg;
                finalize(&mut m);
                self.out.messages.push(m);
            }
            for (_, o) in srv.exim.open.drain() {
                let mut m = o.msg;
                finalize(&mut m);
                self.out.messages.push(m);
            }
            for (_, o) in srv.sendmail.open.drain() {
                let mut m = o.msg;
                finalize(&mut m);
                self.out.messages.push(m);
            }
            for (_, o) in srv.smartermail.spool.drain() {
                let mut m = o.msg;
                finalize(&mut m);
                self.out.messages.push(m);
            }
        }
        self.out
    }

    fn close_sessions(&mut self) {
        for s in 0..self.servers.len() {
            self.sendmail_close(s);
            let pids: Vec<u32> = self.servers[s].sessions.keys().copied().collect();
            for pid in pids {
                if let Some(sess) = self.servers[s].sessions.remove(&pid) {
                    // Keep the session for a later ingest only if it still has queued mail.
                    self.close_session(s, pid, sess, None);
                }
            }
        }
    }

    /// End of all input: close sessions (their messages are written) and write every queued
    /// message as open.
    pub fn finish_input(&mut self) -> Output {
        self.close_sessions();
        self.checkpoint()
    }
}

/// A log line parsed as far as it can be without correlation state.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// The whole line.
    pub line: &'a str,
    /// Its syslog envelope; `None` when the line has none.
    pub envelope: Option<syslog::Envelope<'a>>,
    /// What Postfix logged; `None` when another program wrote the line.
    pub record: Option<Record<'a>>,
    /// What Exim logged; `None` when another program wrote the line.
    pub exim: Option<mailtrace_parse::exim::Record<'a>>,
    /// What Sendmail logged; `None` when another program wrote the line.
    pub sendmail: Option<mailtrace_parse::sendmail::Record<'a>>,
    /// A line of a per-file format (SmarterMail, transcripts; see [`crate::parse_line_as`]).
    /// Boxed: syslog lines, the many, carry none, and a parsed line is moved between threads.
    pub file: Option<Box<crate::FileLine<'a>>>,
}

/// Parse a line for [`Correlator::feed_parsed`].
pub fn parse_line<'a>(line: &'a str, ctx: &mut syslog::Context) -> Parsed<'a> {
    let envelope = syslog::parse(line, ctx);
    let exim = envelope
        .as_ref()
        .filter(|env| env.program.starts_with("exim"))
        .map(|env| {
            // Through syslog, Exim writes its own date first (`syslog_timestamp`).
            let text = match env.text.as_bytes() {
                [y, _, _, _, b'-', _, _, b'-', _, _, b' ', _, _, b':', _, _, b':', _, _, b' ', ..]
                    if y.is_ascii_digit() =>
                {
                    &env.text[20..]
                }
                _ => env.text,
            };
            mailtrace_parse::exim::parse(text)
        });
    let sendmail = match exim {
        Some(_) => None,
        None => envelope.as_ref().and_then(|env| {
            use mailtrace_parse::sendmail;
            if sendmail::is_program(env.program) {
                Some(sendmail::parse(env.text))
            } else if env.pid.is_none() && sendmail::is_queue_id(env.program) {
                // No program name: the queue id stands where it would be.
                Some(sendmail::parse_with_id(env.program, env.text))
            } else {
                None
            }
        }),
    };
    let record = match (&exim, &sendmail) {
        (None, None) => envelope
            .as_ref()
            .and_then(|env| postfix::parse(env.program, env.text)),
        _ => None,
    };
    Parsed {
        line,
        envelope,
        record,
        exim,
        sendmail,
        file: None,
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

pub(crate) fn reject_message(
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
pub(crate) fn finalize(m: &mut Message) {
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

fn is_delivery_agent(service: &str) -> bool {
    matches!(
        service,
        "smtp" | "lmtp" | "local" | "virtual" | "pipe" | "error" | "retry" | "discard" | "relay"
    )
}

mod queue;
mod session;

#[cfg(test)]
mod tests;
