//! What Postfix 3.x daemons log, as typed records.
//!
//! [`parse`] takes the syslog program tag and the logged text. Every line of a Postfix daemon
//! becomes a [`Record`]; text that no rule knows stays [`Kind::Unrecognized`] so the caller can
//! count it and keep it. Nothing here allocates: records borrow from the line.

use crate::util::{
    find, host_addr, is_ip, leading_code, leading_dsn, peer_prefix, rsplit2, split2, unbracket,
};
use mailtrace_model::AttemptStatus;

/// One Postfix log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// The instance name (`postfix`, `postfix-out`): the `syslog_name` prefix.
    pub instance: &'a str,
    /// The daemon (`smtpd`, `qmgr`, `smtp`, ...): the last component of the program tag.
    pub service: &'a str,
    /// The queue id the line is about, when it names one.
    pub queue_id: Option<&'a str>,
    /// What the line says.
    pub kind: Kind<'a>,
}

/// Daemons on the client side of SMTP: the `host[addr]` they name is a server, not a client.
const CLIENT_SIDE: &[&str] = &["smtp", "lmtp"];

impl<'a> Record<'a> {
    fn client_side(&self) -> bool {
        CLIENT_SIDE.contains(&self.service)
    }

    /// The SMTP client the line is about, wherever the line names one: smtpd sessions and
    /// rejects, SASL failures, `improper command pipelining`/`too many errors` notes, warnings
    /// such as `non-SMTP command from host[addr]` or `hostname H does not resolve to address A`,
    /// postscreen and tlsproxy events, cleanup checks, dnsblog hits and anvil statistics (the
    /// last three give the address only).
    pub fn client(&self) -> Option<Peer<'a>> {
        match &self.kind {
            Kind::Connect { client }
            | Kind::Disconnect { client, .. }
            | Kind::LostConnection { client, .. }
            | Kind::Client { client, .. }
            | Kind::SaslFailed { client, .. } => Some(*client),
            Kind::Reject { client, .. } | Kind::Postscreen { client, .. } => *client,
            Kind::Check { client, .. } => Peer::parse(client),
            Kind::Tls {
                direction: "from",
                peer,
                ..
            } => Some(*peer),
            Kind::DnsblHit { addr, .. } => Some(Peer {
                addr,
                ..Peer::default()
            }),
            Kind::Statistics(text) => anvil_client(text),
            Kind::Note(text) | Kind::QueueNote(text) | Kind::Diagnostic { text, .. }
                if !self.client_side() =>
            {
                text_client(text)
            }
            _ => None,
        }
    }

    /// The SMTP/LMTP server the line is about: the next hop of a delivery (`relay=host[addr]:port`),
    /// the host named by a delivery note (`host X said`, `lost connection with X`, `conversation
    /// with X timed out`, `server X said`), a connect or TLS failure, an outgoing TLS session; and
    /// the local address a postscreen `CONNECT from [client]:port to [server]:port` names.
    pub fn server(&self) -> Option<Peer<'a>> {
        match &self.kind {
            // `relay=none` when the connection failed: the response names the host.
            Kind::Delivery(d) => d
                .relay
                .and_then(Peer::parse)
                .or_else(|| Peer::after(d.response, &["host ", "with ", "connect to ", "server "])),
            Kind::Tls {
                direction: "to",
                peer,
                ..
            } => Some(*peer),
            Kind::ConnectFailure { target, .. } => Peer::prefix(target).map(|(p, _)| p),
            Kind::Postscreen { detail, .. } => detail
                .strip_prefix("to ")
                .and_then(Peer::prefix)
                .map(|(p, _)| p),
            Kind::DeliveryNote { text, .. }
            | Kind::Note(text)
            | Kind::QueueNote(text)
            | Kind::Diagnostic { text, .. }
                if self.client_side() =>
            {
                Peer::after(text, &["host ", "with ", "server ", " for ", " to "])
            }
            _ => None,
        }
    }

    /// The SMTP command or state the line refers to: the stage of a reject or lost connection
    /// (`RCPT`, `END-OF-MESSAGE`, `DATA`), `after STAGE` of smtpd notes and postscreen events, and
    /// `in reply to STAGE command` of a remote reply (`RCPT TO`, `end of DATA`).
    pub fn stage(&self) -> Option<&'a str> {
        match &self.kind {
            Kind::Reject { stage, .. } | Kind::LostConnection { stage, .. } => Some(stage),
            Kind::Postscreen { detail, .. } => {
                let s = detail.strip_prefix("after ")?;
                let end = s.find(':').unwrap_or(s.len());
                Some(s[..end].trim()).filter(|s| !s.is_empty())
            }
            Kind::Note(text) | Kind::QueueNote(text) => match proxy_note(text) {
                Some((stage, _, _)) => Some(stage),
                None => after_stage(text),
            },
            Kind::Delivery(d) => in_reply_to(d.response),
            Kind::DeliveryNote { text, .. } => in_reply_to(text),
            _ => None,
        }
    }

    /// The SMTP reply the line reports: what a reject told the client, what the remote server
    /// replied to a delivery (`host X said: 450 ...` without the `(in reply to ...)` tail), a
    /// header/body check's reply, or a before-queue filter's `proxy-accept` reply.
    pub fn reply(&self) -> Option<Reply<'a>> {
        match &self.kind {
            Kind::Reject { reply, .. } => Some(*reply),
            Kind::Check { reply, .. } => *reply,
            Kind::Delivery(d) => remote_reply(d.response).or_else(|| {
                leading_code(d.response).map(|_| Reply::parse(strip_in_reply(d.response)))
            }),
            Kind::DeliveryNote { text, .. } => remote_reply(text),
            Kind::Note(text) | Kind::QueueNote(text) => proxy_note(text).map(|(_, r, _)| r),
            _ => None,
        }
    }

    /// The envelope a line's trailer names (`from=<> to=<> proto= helo=<>`): rejects, checks and
    /// `proxy-accept` notes.
    pub fn envelope(&self) -> Option<Envelope<'a>> {
        match &self.kind {
            Kind::Reject { envelope, .. } | Kind::Check { envelope, .. } => Some(*envelope),
            Kind::Note(text) | Kind::QueueNote(text) => proxy_note(text).map(|(_, _, e)| e),
            _ => None,
        }
    }
}

/// `proxy-accept: STAGE: REPLY; from=<> to=<> ...`.
fn proxy_note(text: &str) -> Option<(&str, Reply<'_>, Envelope<'_>)> {
    let rest = text.strip_prefix("proxy-accept: ")?;
    let (stage, rest) = rest.split_once(':')?;
    let (reply, envelope) = split_trailer(rest.trim_start());
    Some((stage, Reply::parse(reply), envelope))
}

/// `... after STAGE from host[addr]` (smtpd's `improper command pipelining`, `too many errors`,
/// `bare <LF> received`, `lost connection`): the stage's first word.
fn after_stage(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once(" after ")?;
    let (stage, _) = rest.split_once(" from ")?;
    stage.split(' ').next().filter(|s| !s.is_empty())
}

/// `... (in reply to RCPT TO command)` → `RCPT TO`.
fn in_reply_to(text: &str) -> Option<&str> {
    let (_, rest) = text.rsplit_once("(in reply to ")?;
    let end = rest.find(" command)")?;
    Some(&rest[..end])
}

/// Drop a trailing `(in reply to ... command)`.
fn strip_in_reply(text: &str) -> &str {
    match text.rfind(" (in reply to ") {
        Some(i) if text.ends_with(" command)") => &text[..i],
        _ => text,
    }
}

/// The reply inside `host X said: REPLY (in reply to ...)` or `host X refused to talk to me: REPLY`.
fn remote_reply(text: &str) -> Option<Reply<'_>> {
    let (_, r) = text
        .split_once(" said: ")
        .or_else(|| text.split_once(" refused to talk to me: "))?;
    Some(Reply::parse(strip_in_reply(r)))
}

/// The client named in a warning or note: `... from host[addr]...`, `host[addr]: ...` at the start,
/// `hostname H does not resolve to address A`, `A: hostname H verification failed`.
fn text_client(text: &str) -> Option<Peer<'_>> {
    if let Some((p, rest)) = Peer::prefix(text) {
        if rest.is_empty() || rest.starts_with(':') {
            return Some(p);
        }
    }
    if let Some(rest) = text.strip_prefix("hostname ") {
        if let Some((host, rest)) = rest.split_once(" does not resolve to address ") {
            // IPv6 addresses contain `:`, but not `: `.
            let end = rest.find([' ']).unwrap_or(rest.len());
            let addr = rest[..end].trim_end_matches(':');
            return is_ip(addr).then_some(Peer {
                host,
                addr,
                port: None,
            });
        }
    }
    if let Some((addr, _)) = text.split_once(": ") {
        if is_ip(addr) {
            return Some(Peer {
                addr,
                ..Peer::default()
            });
        }
    }
    Peer::after(text, &[" from "])
}

/// anvil: `statistics: max connection rate 1/60s for (smtpd:1.2.3.4) at ...`. The key is
/// `service:addr`; an inet service bound to one address is itself `addr:port`.
fn anvil_client(text: &str) -> Option<Peer<'_>> {
    let (_, rest) = text.split_once(" for (")?;
    let key = &rest[..rest.find(')')?];
    let (first, rest) = key.split_once(':')?;
    let addr = if first.contains('.') || first.starts_with('[') {
        rest.split_once(':')?.1
    } else {
        rest
    };
    (!addr.is_empty()).then_some(Peer {
        addr,
        ..Peer::default()
    })
}

/// A remote client or server: `host[addr]` or `host[addr]:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Peer<'a> {
    /// Host name (`unknown` when reverse DNS failed; empty for postscreen's `[addr]:port`).
    pub host: &'a str,
    /// IP address (or a socket name such as `private/dovecot-lmtp`).
    pub addr: &'a str,
    /// Port, when logged.
    pub port: Option<&'a str>,
}

impl<'a> Peer<'a> {
    /// Parse exactly `host[addr]` or `host[addr]:port`.
    pub fn parse(s: &'a str) -> Option<Peer<'a>> {
        let (host, addr, port) = host_addr(s)?;
        Some(Peer { host, addr, port })
    }

    /// A `host[addr]` or `host[addr]:port` at the start of `s`, and the text after it.
    fn prefix(s: &'a str) -> Option<(Peer<'a>, &'a str)> {
        let ((host, addr, port), rest) = peer_prefix(s)?;
        Some((Peer { host, addr, port }, rest))
    }

    /// The earliest peer in `text` that directly follows one of `markers`.
    fn after(text: &'a str, markers: &[&str]) -> Option<Peer<'a>> {
        markers
            .iter()
            .filter_map(|m| {
                text.match_indices(m)
                    .find_map(|(i, _)| Peer::prefix(&text[i + m.len()..]).map(|(p, _)| (i, p)))
            })
            .min_by_key(|(i, _)| *i)
            .map(|(_, p)| p)
    }
}

/// An SMTP reply: `550 5.1.1 <x>: Recipient address rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reply<'a> {
    /// The 3-digit reply code, when present.
    pub code: Option<u16>,
    /// The enhanced status code, when present.
    pub dsn: Option<&'a str>,
    /// The whole reply text, code included.
    pub text: &'a str,
}

impl<'a> Reply<'a> {
    /// Pull the reply code and enhanced status code out of a reply text.
    pub fn parse(text: &'a str) -> Reply<'a> {
        let text = text.trim();
        let code = leading_code(text);
        let after = if code.is_some() {
            text[3..].trim_start_matches(['-', ' '])
        } else {
            text
        };
        Reply {
            code,
            dsn: leading_dsn(after),
            text,
        }
    }
}

/// The `from=<> to=<> proto= helo=<>` trailer of smtpd and cleanup lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Envelope<'a> {
    /// Envelope sender (`Some("")` for `<>`).
    pub from: Option<&'a str>,
    /// Envelope recipient.
    pub to: Option<&'a str>,
    /// `SMTP`/`ESMTP`.
    pub proto: Option<&'a str>,
    /// The client's HELO name.
    pub helo: Option<&'a str>,
}

/// One delivery attempt as a delivery agent (smtp, lmtp, local, virtual, pipe, error, ...) logs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delivery<'a> {
    /// Recipient.
    pub to: &'a str,
    /// Original recipient, before aliasing or rewriting.
    pub orig_to: Option<&'a str>,
    /// Next hop (`host[addr]:port`, `local`, `dovecot`, `none`).
    pub relay: Option<&'a str>,
    /// Total delay in seconds.
    pub delay: Option<f64>,
    /// `delays=a/b/c/d`.
    pub delays: Option<[f64; 4]>,
    /// Enhanced status code.
    pub dsn: Option<&'a str>,
    /// Outcome.
    pub status: AttemptStatus,
    /// The text in parentheses after the status (remote reply or local reason).
    pub response: &'a str,
    /// SMTP reply code found in the response.
    pub smtp_code: Option<u16>,
    /// `queued as NEWID` at the end of a `250` reply.
    pub queued_as: Option<&'a str>,
    /// The `tls=` field (Postfix 3.9+ TLS policy summary), when logged.
    pub tls: Option<&'a str>,
}

/// What a Postfix line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    /// smtpd: `connect from host[addr]`.
    Connect {
        /// The client.
        client: Peer<'a>,
    },
    /// smtpd: `disconnect from host[addr] ehlo=1 mail=1 ... commands=5`.
    Disconnect {
        /// The client.
        client: Peer<'a>,
        /// The command counts, as logged.
        commands: Option<&'a str>,
    },
    /// smtpd: `lost connection after STAGE from ...` or `timeout after STAGE from ...`.
    LostConnection {
        /// `lost connection` or `timeout`.
        what: &'a str,
        /// The SMTP stage (`DATA`, `CONNECT`, `STARTTLS`...), without the `(N bytes)` that may
        /// follow `DATA`/`BDAT`.
        stage: &'a str,
        /// The client.
        client: Peer<'a>,
    },
    /// smtpd: `QUEUEID: client=host[addr], sasl_method=..., sasl_username=...`.
    Client {
        /// The client.
        client: Peer<'a>,
        /// SASL method of an authenticated client.
        sasl_method: Option<&'a str>,
        /// SASL user name of an authenticated client.
        sasl_username: Option<&'a str>,
        /// Queue id of the original message (`smtpd_client_port_logging`/XCLIENT forwarding).
        orig_queue_id: Option<&'a str>,
    },
    /// smtpd/postscreen/cleanup: `NOQUEUE: reject: RCPT from host[addr]: 550 ...; from=<> to=<>`
    /// (also `filter`, `hold`, `discard`, `redirect`, `reject_warning`, `milter-reject`, `proxy-reject`).
    Reject {
        /// `reject`, `filter`, `hold`, `discard`, `milter-reject`, ...
        action: &'a str,
        /// `RCPT`, `MAIL`, `DATA`, `END-OF-MESSAGE`, `CONNECT`, ...
        stage: &'a str,
        /// The client, when logged.
        client: Option<Peer<'a>>,
        /// The reply the client got (or the action's reason).
        reply: Reply<'a>,
        /// The envelope of the transaction.
        envelope: Envelope<'a>,
    },
    /// cleanup: a header or body check fired (`info`, `warning`, `reject`, `hold`, `discard`,
    /// `redirect`, `prepend`, `replace`, `filter`, `milter-header-...`).
    Check {
        /// The action.
        action: &'a str,
        /// `header` or `body`.
        part: &'a str,
        /// The matched text (`Subject: hello`).
        text: &'a str,
        /// The client as logged (`host[addr]` or `local`).
        client: &'a str,
        /// The envelope.
        envelope: Envelope<'a>,
        /// Optional text after the trailer (the reject reply or hold reason).
        reply: Option<Reply<'a>>,
    },
    /// smtpd: `warning: host[addr]: SASL LOGIN authentication failed: ...`.
    SaslFailed {
        /// The client.
        client: Peer<'a>,
        /// SASL method.
        method: &'a str,
        /// Reason text.
        reason: &'a str,
    },
    /// smtpd/smtp/tlsproxy: `Anonymous TLS connection established from ...: TLSv1.3 with cipher ...`.
    Tls {
        /// `Anonymous`, `Untrusted`, `Trusted`, `Verified`.
        trust: &'a str,
        /// `from` (a client) or `to` (a server).
        direction: &'a str,
        /// The peer.
        peer: Peer<'a>,
        /// Protocol and cipher.
        details: &'a str,
    },
    /// postscreen: `CONNECT`, `PASS NEW`, `PASS OLD`, `DNSBL rank N`, `PREGREET`, `HANGUP`,
    /// `DISCONNECT`, `COMMAND ... LIMIT`, `COMMAND PIPELINING`, `NON-SMTP COMMAND`,
    /// `BARE NEWLINE`, allow/deny list hits (`WHITELISTED`, `ALLOWLIST VETO`, ...). tlsproxy's
    /// `CONNECT from [addr]:port` and `DISCONNECT [addr]:port` are logged the same way.
    Postscreen {
        /// Everything before the client, without the `from`/`for` that joins them: the upper-case
        /// event name and its numbers (`PASS NEW`, `DNSBL rank 3`, `PREGREET 11 after 0.06`,
        /// `HANGUP after 63`, `COMMAND TIME LIMIT`). The event is the leading upper-case words.
        action: &'a str,
        /// The client.
        client: Option<Peer<'a>>,
        /// Anything after the client (`after CONNECT`, `to [addr]:25`, `in tests after SMTP
        /// handshake`, the pregreet text), without the `: ` that may introduce it.
        detail: &'a str,
    },
    /// dnsblog: `addr 1.2.3.4 listed by domain zen.spamhaus.org as 127.0.0.2`.
    DnsblHit {
        /// The listed address.
        addr: &'a str,
        /// The DNSBL domain.
        domain: &'a str,
        /// The A record returned.
        result: &'a str,
    },
    /// pickup: `QUEUEID: uid=0 from=<root>`.
    Pickup {
        /// Submitting uid.
        uid: Option<u32>,
        /// Envelope sender.
        from: &'a str,
    },
    /// cleanup: `QUEUEID: message-id=<...>`.
    MessageId(&'a str),
    /// cleanup: `QUEUEID: resent-message-id=<...>`.
    ResentMessageId(&'a str),
    /// qmgr: `QUEUEID: from=<x>, size=N, nrcpt=N (queue active)`.
    Queued {
        /// Envelope sender.
        from: &'a str,
        /// Size in bytes.
        size: Option<u64>,
        /// Number of recipients.
        nrcpt: Option<u32>,
    },
    /// qmgr: `QUEUEID: removed` (the message left the queue).
    Removed,
    /// qmgr: `QUEUEID: from=<x>, status=expired, returned to sender`.
    Expired {
        /// Envelope sender.
        from: &'a str,
    },
    /// qmgr: `QUEUEID: skipped, still being delivered`.
    Skipped,
    /// A delivery agent: `QUEUEID: to=<..>, relay=.., delay=.., dsn=.., status=.. (...)`.
    Delivery(Delivery<'a>),
    /// A delivery agent note about a queued message that is not a per-recipient status:
    /// `host X said: ...`, `host X refused to talk to me: ...`, `lost connection with X while ...`,
    /// `conversation with X timed out`, `SASL authentication failed; server X said: ...`,
    /// `enabling PIX workarounds: ... for X`. [`Record::server`], [`Record::reply`] and
    /// [`Record::stage`] take it apart.
    DeliveryNote {
        /// The text.
        text: &'a str,
        /// SMTP reply code, when the remote said one.
        smtp_code: Option<u16>,
    },
    /// smtp/lmtp without queue id: `connect to host[addr]:25: Connection refused`,
    /// `connect to private/dovecot-lmtp: No such file or directory`. (`certificate verification
    /// failed for X` is a [`Kind::Note`]: with opportunistic TLS the delivery goes on.)
    ConnectFailure {
        /// What could not be reached.
        target: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// bounce: `QUEUEID: sender non-delivery notification: NEWID` (also `postmaster non-delivery`,
    /// `sender delay`, `sender delivery status`, `sender success`).
    Notification {
        /// `sender non-delivery`, `sender delay`, ...
        what: &'a str,
        /// Queue id of the notification message.
        child: &'a str,
    },
    /// postsuper: an administrator acted on a queued message.
    Postsuper(PostsuperAction),
    /// `warning:`, `error:`, `fatal:`, `panic:` lines without a more specific meaning. With
    /// `warning: QUEUEID: ...` the record carries the queue id and `text` is what follows it.
    Diagnostic {
        /// `warning`, `error`, `fatal`, `panic`.
        level: &'a str,
        /// The rest.
        text: &'a str,
    },
    /// anvil/scache/qmgr `statistics: ...` and cache cleanup lines.
    Statistics(&'a str),
    /// master and postfix-script life cycle: `daemon started`, `reload`, `terminating on signal`.
    Lifecycle(&'a str),
    /// Known informational lines without queue id: smtpd's `improper command pipelining after X
    /// from Y`, `too many errors after X from Y`, `bare <LF> received`, `SSL_accept error from Y`,
    /// `setting up TLS connection from Y`, `discarding EHLO keywords`, `proxy-accept`; smtp's
    /// `SSL_connect error to X`, `certificate verification failed for X`, `Host offered
    /// STARTTLS`; postsuper's `Deleted: N messages` summaries. [`Record::client`],
    /// [`Record::server`], [`Record::stage`] and [`Record::reply`] take them apart.
    Note(&'a str),
    /// A line about a queued message, from a daemon other than a delivery agent, whose text no rule
    /// above describes (`proxy-accept: END-OF-MESSAGE: 250 ...` with a queue id, ...); it still
    /// belongs to the message.
    QueueNote(&'a str),
    /// A Postfix line that no rule knows.
    Unrecognized(&'a str),
}

/// What `postsuper` did to a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostsuperAction {
    /// `removed` (deleted with `postsuper -d`).
    Removed,
    /// `requeued` (`postsuper -r`).
    Requeued,
    /// `placed on hold` (`postsuper -h`).
    Held,
    /// `released from hold` (`postsuper -H`).
    Released,
}

/// Postfix daemons whose tag may come without the `postfix` prefix (custom `syslog_name`).
const SERVICES: &[&str] = &[
    "smtpd",
    "smtp",
    "lmtp",
    "local",
    "virtual",
    "pipe",
    "error",
    "retry",
    "discard",
    "qmgr",
    "nqmgr",
    "oqmgr",
    "cleanup",
    "pickup",
    "bounce",
    "defer",
    "trace",
    "postsuper",
    "postscreen",
    "dnsblog",
    "anvil",
    "scache",
    "tlsmgr",
    "tlsproxy",
    "master",
    "postfix-script",
    "postdrop",
    "sendmail",
    "postmap",
    "postlog",
    "postlogd",
    "postqueue",
    "verify",
    "trivial-rewrite",
    "showq",
    "flush",
    "proxymap",
    "spawn",
    "qmqpd",
    "postmulti",
    "postconf",
    "postalias",
    "relay",
];

/// Is this program tag a Postfix daemon? Returns `(instance, service)`.
pub fn program(tag: &str) -> Option<(&str, &str)> {
    let (instance, _) = tag.split_once('/')?;
    let service = tag.rsplit('/').next()?;
    (instance.starts_with("postfix") || SERVICES.contains(&service)).then_some((instance, service))
}

/// Parse what a Postfix daemon logged. `None` when `program` is not a Postfix daemon.
pub fn parse<'a>(program_tag: &'a str, text: &'a str) -> Option<Record<'a>> {
    let (instance, service) = program(program_tag)?;
    let (mut queue_id, body) = match split_queue_id(text) {
        Some((q, b)) => (Some(q), b),
        None => (None, text),
    };
    let kind = match queue_id {
        Some(qid) => queue_line(service, qid, body),
        None => match diagnostic(body) {
            // `warning: QUEUEID: sender_canonical_maps map lookup problem ...` is about a message.
            Some((level, rest)) => match split_queue_id(rest).filter(|(q, _)| *q != "NOQUEUE") {
                Some((qid, text)) => {
                    queue_id = Some(qid);
                    Kind::Diagnostic { level, text }
                }
                None => other_line(service, body),
            },
            None => other_line(service, body),
        },
    };
    Some(Record {
        instance,
        service,
        queue_id: queue_id.filter(|q| *q != "NOQUEUE"),
        kind,
    })
}

/// `QUEUEID: rest`; short ids are upper-case hex, long ids (`enable_long_queue_ids`) use an
/// alphabet without vowels, so words such as `warning:` are never taken for queue ids.
fn split_queue_id(text: &str) -> Option<(&str, &str)> {
    let colon = memchr::memchr(b':', text.as_bytes().get(..24.min(text.len()))?)?;
    let id = &text[..colon];
    let rest = text[colon + 1..]
        .strip_prefix(' ')
        .unwrap_or(&text[colon + 1..]);
    if id == "NOQUEUE" {
        return Some((id, rest));
    }
    let b = id.as_bytes();
    // Short ids: 5 hex digits of microseconds, then the inode number in hex (up to 16 digits).
    let short = || {
        (5..=21).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
    };
    let long = || {
        (10..=23).contains(&b.len())
            && b.iter().any(u8::is_ascii_digit)
            && b.iter().all(|&c| {
                c.is_ascii_alphanumeric() && !matches!(c | 0x20, b'a' | b'e' | b'i' | b'o' | b'u')
            })
    };
    (short() || long()).then_some((id, rest))
}

fn queue_line<'a>(service: &'a str, qid: &'a str, body: &'a str) -> Kind<'a> {
    if let Some(k) = reject_like(body) {
        return k;
    }
    if qid == "NOQUEUE" {
        // `NOQUEUE: lost connection after CONNECT from ...`, `NOQUEUE: client=...`.
        return other_line(service, body);
    }
    if let Some(rest) = body.strip_prefix("to=") {
        if let Some(d) = delivery(rest) {
            return Kind::Delivery(d);
        }
    }
    match service {
        "smtpd" | "submission" | "smtps" => {
            if let Some(rest) = body.strip_prefix("client=") {
                return client_line(rest).unwrap_or(Kind::QueueNote(body));
            }
        }
        "cleanup" => {
            if let Some(id) = body.strip_prefix("message-id=") {
                return Kind::MessageId(id);
            }
            if let Some(id) = body.strip_prefix("resent-message-id=") {
                return Kind::ResentMessageId(id);
            }
            if let Some(k) = check_line(body) {
                return k;
            }
        }
        "pickup" => {
            if let Some(rest) = body.strip_prefix("uid=") {
                let (uid, from) = rest.split_once(" from=").unwrap_or((rest, ""));
                return Kind::Pickup {
                    uid: uid.parse().ok(),
                    from: unbracket(from),
                };
            }
        }
        "postsuper" => {
            let action = match body {
                "removed" => Some(PostsuperAction::Removed),
                "requeued" => Some(PostsuperAction::Requeued),
                "placed on hold" => Some(PostsuperAction::Held),
                "released from hold" => Some(PostsuperAction::Released),
                _ => None,
            };
            if let Some(a) = action {
                return Kind::Postsuper(a);
            }
        }
        _ => {}
    }
    if body == "removed" {
        return Kind::Removed;
    }
    if body.starts_with("skipped, still being delivered") {
        return Kind::Skipped;
    }
    if let Some(rest) = body.strip_prefix("from=") {
        let (from, tail) = address_value(rest);
        if tail.starts_with("status=expired") {
            return Kind::Expired { from };
        }
        let mut size = None;
        let mut nrcpt = None;
        let mut rest = tail;
        while !rest.is_empty() {
            let (kv, r) = split2(rest, ", ").unwrap_or((rest, ""));
            if let Some(v) = kv.strip_prefix("size=") {
                size = v.parse().ok();
            } else if let Some(v) = kv.strip_prefix("nrcpt=") {
                nrcpt = v.split(' ').next().and_then(|n| n.parse().ok());
            }
            rest = r;
        }
        return Kind::Queued { from, size, nrcpt };
    }
    if let Some((what, child)) = rsplit2(body, " notification: ") {
        return Kind::Notification {
            what,
            child: child.trim(),
        };
    }
    if let Some((level, text)) = diagnostic(body) {
        return Kind::Diagnostic { level, text };
    }
    if DELIVERY_AGENTS.contains(&service) {
        return Kind::DeliveryNote {
            text: body,
            smtp_code: remote_reply(body).and_then(|r| r.code),
        };
    }
    Kind::QueueNote(body)
}

/// Daemons whose queue-id lines without `to=` are notes about a delivery attempt.
const DELIVERY_AGENTS: &[&str] = &[
    "smtp", "lmtp", "local", "virtual", "pipe", "error", "retry", "discard", "relay",
];

fn other_line<'a>(service: &'a str, body: &'a str) -> Kind<'a> {
    if let Some(k) = smtpd_session_line(body) {
        return k;
    }
    if let Some(rest) = body.strip_prefix("client=") {
        // `NOQUEUE: client=host[addr]` (before-queue proxy).
        if let Some(k) = client_line(rest) {
            return k;
        }
    }
    if service == "postscreen" || service == "tlsproxy" {
        if let Some(k) = postscreen_line(body) {
            return k;
        }
    }
    if let Some(rest) = body.strip_prefix("addr ") {
        if let Some((addr, rest)) = rest.split_once(" listed by domain ") {
            let (domain, result) = rest.split_once(" as ").unwrap_or((rest, ""));
            return Kind::DnsblHit {
                addr,
                domain,
                result,
            };
        }
    }
    if let Some(rest) = body.strip_prefix("connect to ") {
        // `connect to host[addr]:port: reason`, `connect to private/x: reason`.
        let split = match Peer::prefix(rest) {
            Some((_, after)) => after
                .strip_prefix(':')
                .map(|r| (&rest[..rest.len() - after.len()], r.trim_start())),
            None => rest.split_once(": "),
        };
        if let Some((target, reason)) = split {
            return Kind::ConnectFailure { target, reason };
        }
    }
    if let Some((level, text)) = diagnostic(body) {
        if let Some(k) = sasl_failure(text) {
            return k;
        }
        return Kind::Diagnostic { level, text };
    }
    if body.starts_with("statistics: ") || body.starts_with("cache ") && body.contains(" cleanup: ")
    {
        return Kind::Statistics(body);
    }
    const LIFECYCLE: &[&str] = &[
        "daemon started",
        "reload ",
        "terminating on signal",
        "starting the Postfix mail system",
        "stopping the Postfix mail system",
        "refreshing the Postfix mail system",
        "waiting on ",
        "master daemon",
        "Postfix is running",
        "Postfix is using",
    ];
    if LIFECYCLE.iter().any(|p| body.starts_with(p)) {
        return Kind::Lifecycle(body);
    }
    const NOTES: &[&str] = &[
        "improper command pipelining",
        "too many errors after",
        "SSL_accept error",
        "SSL_connect error",
        "bare <LF> received",
        "discarding EHLO keywords",
        "certificate verification failed",
        "proxy-accept: ",
        "Deleted: ",
        "Requeued: ",
        "Placed on hold: ",
        "Released from hold: ",
        "host ",
        "server certificate verification",
        "mapping DSN status",
        "verify ",
        "connect from ",
        "setting up TLS connection",
        "TLS library problem",
        "Host offered STARTTLS",
        "dnsblog_query",
        "disconnect: ",
        "message file too big",
        "key-exchange",
        "ALL TESTS",
    ];
    if NOTES.iter().any(|p| body.starts_with(p)) {
        return Kind::Note(body);
    }
    if matches!(
        service,
        "tls_features" | "tlsmgr" | "postfix-script" | "master"
    ) {
        return Kind::Lifecycle(body);
    }
    Kind::Unrecognized(body)
}

/// `warning: ...`, `error: ...`, `fatal: ...`, `panic: ...`.
fn diagnostic(body: &str) -> Option<(&str, &str)> {
    for level in ["warning", "error", "fatal", "panic"] {
        if let Some(rest) = body.strip_prefix(level).and_then(|r| r.strip_prefix(": ")) {
            return Some((level, rest));
        }
    }
    None
}

/// `host[addr]: SASL LOGIN authentication failed: reason`.
fn sasl_failure(text: &str) -> Option<Kind<'_>> {
    let (client, rest) = text.split_once(": SASL ")?;
    let (method, reason) = rest.split_once(" authentication failed")?;
    Some(Kind::SaslFailed {
        client: Peer::parse(client)?,
        method,
        reason: reason.trim_start_matches(':').trim(),
    })
}

fn smtpd_session_line(body: &str) -> Option<Kind<'_>> {
    if let Some(rest) = body.strip_prefix("connect from ") {
        return Some(Kind::Connect {
            client: Peer::parse(rest)?,
        });
    }
    if let Some(rest) = body.strip_prefix("disconnect from ") {
        let (c, commands) = match rest.split_once(' ') {
            Some((c, cmds)) => (c, Some(cmds)),
            None => (rest, None),
        };
        return Some(Kind::Disconnect {
            client: Peer::parse(c)?,
            commands,
        });
    }
    for what in ["lost connection", "timeout"] {
        if let Some(rest) = body
            .strip_prefix(what)
            .and_then(|r| r.strip_prefix(" after "))
        {
            // `DATA (1234 bytes)`: the stage is the first word.
            let (stage, client) = rest.rsplit_once(" from ")?;
            let stage = stage.split(' ').next().unwrap_or(stage);
            return Some(Kind::LostConnection {
                what,
                stage,
                client: Peer::prefix(client)?.0,
            });
        }
    }
    for trust in ["Anonymous", "Untrusted", "Trusted", "Verified"] {
        if let Some(rest) = body
            .strip_prefix(trust)
            .and_then(|r| r.strip_prefix(" TLS connection established "))
        {
            let (direction, rest) = rest.split_once(' ')?;
            let (peer, details) = Peer::prefix(rest)?;
            return Some(Kind::Tls {
                trust,
                direction,
                peer,
                details: details.trim_start_matches(':').trim_start(),
            });
        }
    }
    reject_like(body)
}

/// postscreen's (and tlsproxy's) upper-case event lines: `PASS NEW [addr]:port`,
/// `PREGREET 11 after 0.1 from [addr]:port: EHLO x\r\n`, `DNSBL rank 3 for [addr]:port`,
/// `COMMAND TIME LIMIT from [addr]:port after CONNECT`, `CONNECT from [addr]:port to [addr]:port`.
fn postscreen_line(body: &str) -> Option<Kind<'_>> {
    // The action is the run of words before the client `[addr]:port` (or `from [addr]:port`).
    let bracket = body.find(" [")? + 1;
    let head = body[..bracket].trim_end();
    let head = head
        .strip_suffix(" from")
        .or_else(|| head.strip_suffix(" for"))
        .unwrap_or(head);
    let first = head.split(' ').next().unwrap_or(head);
    if first.is_empty()
        || !first
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        return None;
    }
    let (client, detail) = Peer::prefix(&body[bracket..])?;
    let detail = detail.strip_prefix(':').unwrap_or(detail);
    Some(Kind::Postscreen {
        action: head,
        client: Some(client),
        detail: detail.strip_prefix(' ').unwrap_or(detail),
    })
}

/// `client=host[addr], sasl_method=PLAIN, sasl_username=u, orig_queue_id=..., orig_client=...`.
fn client_line(rest: &str) -> Option<Kind<'_>> {
    let (first, mut tail) = split2(rest, ", ").unwrap_or((rest, ""));
    let client = Peer::parse(first)?;
    let mut sasl_method = None;
    let mut sasl_username = None;
    let mut orig_queue_id = None;
    while !tail.is_empty() {
        let (p, t) = split2(tail, ", ").unwrap_or((tail, ""));
        tail = t;
        if let Some(v) = p.strip_prefix("sasl_method=") {
            sasl_method = Some(v);
        } else if let Some(v) = p.strip_prefix("sasl_username=") {
            sasl_username = Some(v);
        } else if let Some(v) = p.strip_prefix("orig_queue_id=") {
            orig_queue_id = Some(v);
        }
    }
    Some(Kind::Client {
        client,
        sasl_method,
        sasl_username,
        orig_queue_id,
    })
}

const REJECT_ACTIONS: &[&str] = &[
    "reject",
    "reject_warning",
    "filter",
    "hold",
    "discard",
    "redirect",
    "milter-reject",
    "milter-discard",
    "milter-hold",
    "proxy-reject",
    "bcc",
];

/// `ACTION: STAGE from host[addr]: REPLY; from=<> to=<> proto= helo=<>` (smtpd, postscreen,
/// cleanup milter) and `proxy-reject: END-OF-MESSAGE: REPLY; from=...`.
fn reject_like(body: &str) -> Option<Kind<'_>> {
    // Every action is a short word without `:`: look no further than its length.
    let head = &body.as_bytes()[..body.len().min(16)];
    let colon = memchr::memchr(b':', head)?;
    let action = &body[..colon];
    let rest = body[colon + 1..].strip_prefix(' ')?;
    if !REJECT_ACTIONS.contains(&action) {
        return None;
    }
    let (stage, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if stage == "header"
        || stage == "body"
        || !stage
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b':')
    {
        return None;
    }
    let stage = stage.trim_end_matches(':');
    let (client, rest) = match rest.strip_prefix("from ") {
        Some(r) => {
            let (c, r) = split2(r, ": ").unwrap_or((r, ""));
            (Peer::parse(c), r)
        }
        None => (None, rest),
    };
    let (reply, envelope) = split_trailer(rest);
    Some(Kind::Reject {
        action,
        stage,
        client,
        reply: Reply::parse(reply),
        envelope,
    })
}

/// Split `REPLY; from=<a> to=<b> proto=ESMTP helo=<h>` at the last trailer.
fn split_trailer(s: &str) -> (&str, Envelope<'_>) {
    let start = ["; from=", "; to=", "; proto="]
        .iter()
        .filter_map(|k| s.rfind(k))
        .min();
    match start {
        Some(i) => (&s[..i], parse_envelope(&s[i + 2..]).0),
        None => (s, Envelope::default()),
    }
}

/// Parse `from=<a> to=<b> proto=ESMTP helo=<h>` (space or `, ` separated); returns the rest after
/// the trailer (cleanup's `: reply`).
fn parse_envelope(mut s: &str) -> (Envelope<'_>, &str) {
    let mut env = Envelope::default();
    loop {
        s = s.trim_start_matches([' ', ',']);
        let Some((key, rest)) = s.split_once('=') else {
            break;
        };
        let slot = match key {
            "from" => &mut env.from,
            "to" => &mut env.to,
            "proto" => &mut env.proto,
            "helo" => &mut env.helo,
            _ => break,
        };
        let (value, tail) = if let Some(inner) = rest.strip_prefix('<') {
            match inner.find('>') {
                Some(i) => {
                    // The value ends at the last `>` before the next separator.
                    let end = inner[i..]
                        .find([' ', ',', ':'])
                        .map_or(inner.len(), |j| i + j);
                    let close = inner[..end].rfind('>').unwrap_or(i);
                    (&inner[..close], &inner[close + 1..])
                }
                None => (inner, ""),
            }
        } else {
            let end = rest.find([' ', ',']).unwrap_or(rest.len());
            let end = if rest[..end].ends_with(':') {
                end - 1
            } else {
                end
            };
            (&rest[..end], &rest[end..])
        };
        *slot = Some(value);
        s = tail;
    }
    let rest = s.trim_start().strip_prefix(':').map_or(s, str::trim);
    (env, rest)
}

/// cleanup: `ACTION: header|body TEXT from CLIENT; from=<> to=<> proto= helo=<>[: REPLY]`.
fn check_line(body: &str) -> Option<Kind<'_>> {
    let colon = memchr::memchr(b':', body.as_bytes())?;
    let action = &body[..colon];
    let rest = body[colon + 1..].strip_prefix(' ')?;
    if action.contains(' ') {
        return None;
    }
    let (part, rest) = rest.split_once(' ')?;
    if part != "header" && part != "body" {
        return None;
    }
    let trailer = rest.rfind("; from=").or_else(|| rest.rfind("; to="))?;
    let (text, client) = rest[..trailer].rsplit_once(" from ")?;
    let (envelope, after) = parse_envelope(&rest[trailer + 2..]);
    Some(Kind::Check {
        action,
        part,
        text,
        client,
        envelope,
        reply: (!after.is_empty()).then(|| Reply::parse(after)),
    })
}

/// Value of `key=<addr>` or `key=addr` up to `, `; returns (value, rest after the separator).
fn address_value(s: &str) -> (&str, &str) {
    if let Some(r) = s.strip_prefix('<') {
        if let Some(i) = find(r, ">, ").or_else(|| r.strip_suffix('>').map(str::len)) {
            return (&r[..i], r.get(i + 3..).unwrap_or(""));
        }
    }
    match split2(s, ", ") {
        Some((v, r)) => (v, r),
        None => (s, ""),
    }
}

/// `to=<..>, orig_to=<..>, relay=.., delay=.., delays=a/b/c/d, dsn=.., status=word (response)`.
fn delivery(rest: &str) -> Option<Delivery<'_>> {
    let (to, mut s) = address_value(rest);
    let mut d = Delivery {
        to,
        ..Delivery::default()
    };
    let mut status = None;
    // A delivery logs at most ten fields; more is not a delivery line (and would make this
    // loop quadratic on hostile input).
    for _ in 0..24 {
        if s.is_empty() {
            break;
        }
        let (key, value_and_rest) = s.split_once('=')?;
        if key == "status" {
            let (word, resp) = value_and_rest
                .split_once(' ')
                .unwrap_or((value_and_rest, ""));
            let word = word.split('-').next().unwrap_or(word);
            status = AttemptStatus::from_postfix(word);
            let resp = resp.trim();
            d.response = resp
                .strip_prefix('(')
                .map(|r| r.strip_suffix(')').unwrap_or(r))
                .unwrap_or(resp);
            break;
        }
        let (value, tail) = address_value(value_and_rest);
        match key {
            "orig_to" => d.orig_to = Some(value),
            "relay" => d.relay = Some(value),
            "delay" => d.delay = value.parse().ok(),
            "delays" => {
                let mut it = value.split('/').map(|p| p.parse::<f64>().ok());
                if let (Some(Some(a)), Some(Some(b)), Some(Some(c)), Some(Some(e))) =
                    (it.next(), it.next(), it.next(), it.next())
                {
                    d.delays = Some([a, b, c, e]);
                }
            }
            "dsn" => d.dsn = Some(value),
            "tls" => d.tls = Some(value),
            _ => {}
        }
        s = tail;
    }
    d.status = status?;
    d.smtp_code = leading_code(d.response)
        .or_else(|| split2(d.response, " said: ").and_then(|(_, r)| leading_code(r)));
    d.queued_as = rsplit2(d.response, "queued as ").and_then(|(_, id)| {
        let id = id.trim_end_matches([')', '.', ' ']);
        let end = id
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(id.len());
        (end > 0).then(|| &id[..end])
    });
    Some(d)
}

#[cfg(test)]
mod tests;
