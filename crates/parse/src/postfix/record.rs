//! The records of [`super::parse`]: one Postfix log line as typed, borrowed data, and the
//! accessors that find a client, reply or envelope in any kind of line.

use super::split_trailer;
use crate::util::{
    find, host_addr, is_ip, leading_code, leading_dsn, peer_prefix, rfind, rsplit2, split2,
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
                let end = find(s, ":").unwrap_or(s.len());
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
    let (stage, rest) = split2(rest, ":")?;
    let (reply, envelope) = split_trailer(rest.trim_start());
    Some((stage, Reply::parse(reply), envelope))
}

/// `... after STAGE from host[addr]` (smtpd's `improper command pipelining`, `too many errors`,
/// `bare <LF> received`, `lost connection`): the stage's first word.
fn after_stage(text: &str) -> Option<&str> {
    let (_, rest) = split2(text, " after ")?;
    let (stage, _) = split2(rest, " from ")?;
    stage.split(' ').next().filter(|s| !s.is_empty())
}

/// `... (in reply to RCPT TO command)` → `RCPT TO`.
fn in_reply_to(text: &str) -> Option<&str> {
    let (_, rest) = rsplit2(text, "(in reply to ")?;
    let end = find(rest, " command)")?;
    Some(&rest[..end])
}

/// Drop a trailing `(in reply to ... command)`.
fn strip_in_reply(text: &str) -> &str {
    match rfind(text, " (in reply to ") {
        Some(i) if text.ends_with(" command)") => &text[..i],
        _ => text,
    }
}

/// The reply inside `host X said: REPLY (in reply to ...)` or `host X refused to talk to me: REPLY`.
pub(super) fn remote_reply(text: &str) -> Option<Reply<'_>> {
    let (_, r) = split2(text, " said: ").or_else(|| split2(text, " refused to talk to me: "))?;
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
        if let Some((host, rest)) = split2(rest, " does not resolve to address ") {
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
    if let Some((addr, _)) = split2(text, ": ") {
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
    let (_, rest) = split2(text, " for (")?;
    let key = &rest[..find(rest, ")")?];
    let (first, rest) = split2(key, ":")?;
    let addr = if find(first, ".").is_some() || first.starts_with('[') {
        split2(rest, ":")?.1
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
    pub(super) fn prefix(s: &'a str) -> Option<(Peer<'a>, &'a str)> {
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
