//! What Postfix 3.x daemons log, as typed records.
//!
//! [`parse`] takes the syslog program tag and the logged text. Every line of a Postfix daemon
//! becomes a [`Record`]; text that no rule knows stays [`Kind::Unrecognized`] so the caller can
//! count it and keep it. Nothing here allocates: records borrow from the line.

mod record;

pub use record::{Delivery, Envelope, Kind, Peer, PostsuperAction, Record, Reply};

use crate::util::{find, leading_code, rfind, rsplit2, split2, unbracket};
use mailtrace_model::AttemptStatus;
use record::remote_reply;
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
    // Tags are short: a plain scan beats setting up a vectorised search.
    let b = tag.as_bytes();
    let first = b.iter().position(|&c| c == b'/')?;
    let last = b.iter().rposition(|&c| c == b'/')?;
    let (instance, service) = (&tag[..first], &tag[last + 1..]);
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
                let (uid, from) = split2(rest, " from=").unwrap_or((rest, ""));
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
        if let Some((addr, rest)) = split2(rest, " listed by domain ") {
            let (domain, result) = split2(rest, " as ").unwrap_or((rest, ""));
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
            None => split2(rest, ": "),
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
    let (client, rest) = split2(text, ": SASL ")?;
    let (method, reason) = split2(rest, " authentication failed")?;
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
        let (c, commands) = match split2(rest, " ") {
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
            let (stage, client) = rsplit2(rest, " from ")?;
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
            let (direction, rest) = split2(rest, " ")?;
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
    let bracket = find(body, " [")? + 1;
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
    let (stage, rest) = split2(rest, " ").unwrap_or((rest, ""));
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
        let Some((key, rest)) = split2(s, "=") else {
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
            match find(inner, ">") {
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
    if find(action, " ").is_some() {
        return None;
    }
    let (part, rest) = split2(rest, " ")?;
    if part != "header" && part != "body" {
        return None;
    }
    let trailer = rfind(rest, "; from=").or_else(|| rfind(rest, "; to="))?;
    let (text, client) = rsplit2(&rest[..trailer], " from ")?;
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
        let (key, value_and_rest) = split2(s, "=")?;
        if key == "status" {
            let (word, resp) = split2(value_and_rest, " ").unwrap_or((value_and_rest, ""));
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
