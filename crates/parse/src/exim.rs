//! Exim main log lines (`/var/log/exim4/mainlog`, or the same text through syslog).
//!
//! After the envelope (see [`crate::syslog`]: Exim's own `YYYY-MM-DD hh:mm:ss [pid]` prefix or a
//! syslog header with program `exim`), a line is an optional message id and a text:
//!
//! - `<=` arrival, `=>` delivery, `->` additional address of the same delivery, `>>` cutthrough
//!   delivery, `*>` suppressed delivery, `==` deferral, `**` failure, `Completed`, `Frozen`;
//! - rejections (`rejected RCPT <a>: why`, `rejected after DATA: why`, `rejected EHLO ...`,
//!   `temporarily rejected ...`), with or without a message id;
//! - connection notes (`SMTP connection from ...`, `... authenticator failed for ...`).
//!
//! Fields are `K=value`; a value is a word or a `"quoted string"`; `H=` takes the host name, an
//! optional `(helo)` and an optional `[address]:port` that follow it. Message ids have two
//! forms: `1abcDE-000123-AB` (before Exim 4.97) and `1abcDE-00000001Ab-0000`.

use crate::util::find;
use std::borrow::Cow;

/// One Exim log line, after its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// The message id the line is about.
    pub id: Option<&'a str>,
    /// What the line says.
    pub kind: Kind<'a>,
}

/// What an Exim line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    /// `<=`: the message arrived.
    Arrival(Arrival<'a>),
    /// `=>`, `->`, `>>`, `*>`, `==` or `**`: one recipient's delivery attempt.
    Delivery(Delivery<'a>),
    /// `Completed`: every recipient is done; the message left the queue.
    Completed,
    /// `Frozen` (with the reason in brackets, if any), or `frozen by ACL`.
    Frozen(&'a str),
    /// `Unfrozen by ...`.
    Unfrozen,
    /// `removed by USER`: an administrator deleted it from the queue (`exim -Mrm`).
    Removed,
    /// A refusal: a recipient, a message after DATA, a HELO, a connection.
    Rejected(Reject<'a>),
    /// `... authenticator failed for HOST: 535 ...`.
    AuthFailed {
        /// The client.
        host: Host<'a>,
        /// The authenticator (`plain_server`, `dovecot_login`).
        authenticator: &'a str,
        /// The reply.
        text: &'a str,
    },
    /// `SMTP connection from ...`, `SMTP connection lost ...`, `no MAIL in SMTP connection ...`.
    Connection(&'a str),
    /// Anything else (queue runs, `Spool file is locked`, `retry time not reached`...).
    Note(&'a str),
}

/// A client or server: `name (helo) [addr]:port`, any part may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Host<'a> {
    /// The name (empty when only an address was logged).
    pub name: &'a str,
    /// The HELO name, when it differs from the name (in brackets).
    pub helo: Option<&'a str>,
    /// The IP address.
    pub addr: Option<&'a str>,
    /// The port.
    pub port: Option<&'a str>,
}

/// `<= sender fields...`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arrival<'a> {
    /// The envelope sender; empty for `<>`.
    pub sender: &'a str,
    /// `H=`: the sending host.
    pub host: Option<Host<'a>>,
    /// `I=`: the interface it came in on.
    pub interface: Option<&'a str>,
    /// `P=`: the protocol (`esmtp`, `esmtps`, `local`...).
    pub proto: Option<&'a str>,
    /// `S=`: the size in bytes.
    pub size: Option<u64>,
    /// `id=`: the Message-ID header (without angle brackets as Exim logs it).
    pub message_id: Option<&'a str>,
    /// `R=`: for a bounce, the id of the message it reports on.
    pub bounce_of: Option<&'a str>,
    /// `T=`: the subject, decoded (see [`unescape`]).
    pub subject: Option<Cow<'a, str>>,
    /// `U=`: the local user that submitted it.
    pub user: Option<&'a str>,
    /// `A=`: the authenticator and, after `:`, the user.
    pub auth: Option<&'a str>,
    /// `X=`: the TLS cipher.
    pub tls: Option<&'a str>,
}

/// What a delivery line says of its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `=>`: delivered.
    Delivered,
    /// `->`: delivered, another address of the same delivery.
    Additional,
    /// `>>`: delivered while the client was still connected (cutthrough).
    Cutthrough,
    /// `*>`: delivery suppressed (`-N`, or a fake transport).
    Suppressed,
    /// `==`: deferred.
    Deferred,
    /// `**`: failed: the sender gets a bounce.
    Failed,
}

/// `=> address <original> fields...` and the other delivery lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<'a> {
    /// Which kind of delivery line.
    pub outcome: Outcome,
    /// The address delivered to (after routing: a pipe, file or local part for local ones).
    pub address: &'a str,
    /// The address as the message had it, when routing changed it (`<...>` after the address).
    pub original: Option<&'a str>,
    /// `R=`: the router.
    pub router: Option<&'a str>,
    /// `T=`: the transport.
    pub transport: Option<&'a str>,
    /// `H=`: the host delivered to or tried.
    pub host: Option<Host<'a>>,
    /// `C="..."`: the remote server's confirmation.
    pub confirmation: Option<&'a str>,
    /// `X=`: the TLS cipher of the delivery.
    pub tls: Option<&'a str>,
    /// `DT=`: the time the delivery took, seconds.
    pub delivery_time: Option<f64>,
    /// `QT=`: the time the message spent on the queue, seconds.
    pub queue_time: Option<f64>,
    /// For `==` and `**`: the error text.
    pub error: Option<&'a str>,
}

impl Delivery<'_> {
    /// A `==` line for a recipient Exim did not try: the retry time of its routing, its local
    /// transport or every host has not come yet (`routing defer (-52): retry time not
    /// reached`, `defer (-54): retry time not reached for any host for 'example.com'`). Queue
    /// runs log one per deferred recipient; no server was asked, so nothing new is known.
    pub fn not_tried(&self) -> bool {
        self.outcome == Outcome::Deferred
            && self.host.is_none()
            && self.error.is_some_and(|e| {
                e == "retry time not reached"
                    || e.starts_with("retry time not reached for any host")
            })
    }

    /// A `**` line with which Exim gives up after the retry rule's cutoff: `retry timeout
    /// exceeded` (after the last error when it tried once more: `...: 452 4.2.2 Mailbox full:
    /// retry timeout exceeded`), or `all hosts for 'x' have been failing for a long time (and
    /// retry time not reached)`. The recipient expired rather than bounced.
    pub fn timed_out(&self) -> bool {
        self.outcome == Outcome::Failed
            && self.error.is_some_and(|e| {
                e.ends_with("retry timeout exceeded")
                    || e.ends_with("have been failing for a long time (and retry time not reached)")
            })
    }
}

/// A refusal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reject<'a> {
    /// What was refused: `RCPT`, `after DATA`, `MAIL`, `HELO`, `EHLO`, `connection`, `AUTH`,
    /// `non-SMTP ACL`, `local_scan()`, `size`...
    pub stage: &'a str,
    /// `temporarily rejected` (4xx) rather than rejected (5xx).
    pub temporary: bool,
    /// `H=`: the client.
    pub host: Option<Host<'a>>,
    /// `F=<...>`: the envelope sender; empty for `<>`.
    pub sender: Option<&'a str>,
    /// `U=`: the local user.
    pub user: Option<&'a str>,
    /// The refused recipient (`rejected RCPT <a>`).
    pub recipient: Option<&'a str>,
    /// Why (the text after `: `), empty when not logged.
    pub reason: &'a str,
}

/// Is `s` an Exim message id (`1abcDE-000123-AB` or `1abcDE-00000001Ab-0000`)?
pub fn is_message_id(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let alnum = |p: &str| p.bytes().all(|b| b.is_ascii_alphanumeric());
    a.len() == 6
        && matches!((b.len(), c.len()), (6, 2) | (11, 4))
        && alnum(a)
        && alnum(b)
        && alnum(c)
}

/// Parse the text of an Exim line (after the envelope).
pub fn parse(text: &str) -> Record<'_> {
    let (id, body) = match text.split_once(' ') {
        Some((first, rest)) if is_message_id(first) => (Some(first), rest),
        _ if is_message_id(text) => (Some(text), ""),
        _ => (None, text),
    };
    Record {
        id,
        kind: kind(body),
    }
}

fn kind(body: &str) -> Kind<'_> {
    let flag = body.get(..3);
    let outcome = match flag {
        Some("=> ") => Some(Outcome::Delivered),
        Some("-> ") => Some(Outcome::Additional),
        Some(">> ") => Some(Outcome::Cutthrough),
        Some("*> ") => Some(Outcome::Suppressed),
        Some("== ") => Some(Outcome::Deferred),
        Some("** ") => Some(Outcome::Failed),
        _ => None,
    };
    if let Some(o) = outcome {
        return Kind::Delivery(delivery(o, &body[3..]));
    }
    if let Some(rest) = body.strip_prefix("<= ") {
        return Kind::Arrival(arrival(rest));
    }
    if body == "Completed" || body.starts_with("Completed ") {
        return Kind::Completed;
    }
    if let Some(rest) = body.strip_prefix("Frozen") {
        let reason = rest.trim().trim_start_matches('(').trim_end_matches(')');
        return Kind::Frozen(reason);
    }
    if body.starts_with("frozen by ") {
        return Kind::Frozen(body);
    }
    if body.starts_with("Unfrozen by ") {
        return Kind::Unfrozen;
    }
    if body.starts_with("removed by ") {
        return Kind::Removed;
    }
    if let Some(r) = reject(body) {
        return Kind::Rejected(r);
    }
    if let Some(k) = auth_failed(body) {
        return k;
    }
    if body.starts_with("SMTP ")
        || body.starts_with("no MAIL in SMTP connection")
        || body.starts_with("unexpected disconnection")
        || body.contains(" SMTP connection ")
    {
        return Kind::Connection(body);
    }
    Kind::Note(body)
}

/// One `K=value` of a line, or another word.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token<'a> {
    Field(&'a str, &'a str),
    Host(Host<'a>),
    Word(&'a str),
}

/// The tokens of `s` up to a `: ` that ends the fields (returned as the rest, if any).
fn tokens(mut s: &str) -> (Vec<Token<'_>>, Option<&str>) {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(' ');
        if s.is_empty() {
            return (out, None);
        }
        if let Some(rest) = s.strip_prefix(": ").or_else(|| (s == ":").then_some("")) {
            return (out, Some(rest));
        }
        if let Some((key, after)) = field_key(s) {
            if key == "H" {
                let (host, rest) = host(after);
                out.push(Token::Host(host));
                s = rest;
                continue;
            }
            let (value, rest) = value(after);
            out.push(Token::Field(key, value));
            s = rest;
            continue;
        }
        let end = s.find(' ').unwrap_or(s.len());
        let word = &s[..end];
        if let Some(w) = word.strip_suffix(':') {
            out.push(Token::Word(w));
            return (out, Some(s[end..].trim_start_matches(' ')));
        }
        out.push(Token::Word(word));
        s = &s[end..];
    }
}

/// `KEY=` at the start of `s`: a short name of letters and digits (`H`, `QT`, `M8S`, `id`).
fn field_key(s: &str) -> Option<(&str, &str)> {
    let eq = s.bytes().take(5).position(|b| b == b'=')?;
    let key = &s[..eq];
    (eq > 0
        && key.bytes().all(|b| b.is_ascii_alphanumeric())
        && key.as_bytes()[0].is_ascii_alphabetic())
    .then(|| (key, &s[eq + 1..]))
}

/// A field value: a `"quoted string"` (backslash escapes kept) or a word.
fn value(s: &str) -> (&str, &str) {
    if let Some(q) = s.strip_prefix('"') {
        let b = q.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return (&q[..i], &q[i + 1..]),
                _ => i += 1,
            }
        }
        return (q, "");
    }
    let end = s.find(' ').unwrap_or(s.len());
    // `H=host [addr]: error` style endings belong to the caller.
    let end = match s[..end].strip_suffix(':') {
        Some(v) if s[end..].is_empty() || s.as_bytes().get(end) == Some(&b' ') => v.len(),
        _ => end,
    };
    (&s[..end], &s[end..])
}

/// `name (helo) [addr]:port` (each part optional, in that order).
fn host(s: &str) -> (Host<'_>, &str) {
    let mut h = Host::default();
    let mut rest = s;
    if !rest.starts_with('(') && !rest.starts_with('[') {
        let end = rest.find(' ').unwrap_or(rest.len());
        h.name = rest[..end].trim_end_matches(':');
        if rest[..end].ends_with(':') {
            return (h, &rest[end - 1..]);
        }
        rest = &rest[end..];
    }
    let after_space = rest.trim_start_matches(' ');
    if let Some(p) = after_space.strip_prefix('(') {
        if let Some(close) = p.find(')') {
            h.helo = Some(&p[..close]);
            rest = &p[close + 1..];
        }
    }
    let after_space = rest.trim_start_matches(' ');
    if let Some(p) = after_space.strip_prefix('[') {
        if let Some(close) = p.find(']') {
            h.addr = Some(&p[..close]);
            rest = &p[close + 1..];
            if let Some(port) = rest.strip_prefix(':') {
                let n = port.bytes().take_while(u8::is_ascii_digit).count();
                if n > 0 {
                    h.port = Some(&port[..n]);
                    rest = &port[n..];
                }
            }
        }
    }
    (h, rest)
}

/// A quoted value as it was before Exim escaped it for the log: the subject (`T="..."`) has
/// `"` and `\` backslash-quoted, and every non-printing byte written C-style
/// (`string_printing()`): `\n`, `\t`, `\r`, `\b`, `\v`, `\f`, or three octal digits.
/// Bytes above 127 are non-printing unless `print_topbitchars` is set, so a UTF-8 subject
/// comes as `Gr\303\274\303\237e` (Exim has already decoded RFC 2047 `=?UTF-8?Q?...?=`
/// words into `headers_charset` by then). The bytes are read as UTF-8, or as Latin-1 when they
/// are not UTF-8 (a `headers_charset` of ISO-8859-1), so that no byte is lost.
pub fn unescape(v: &str) -> Cow<'_, str> {
    if !v.contains('\\') {
        return Cow::Borrowed(v);
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let digits = b[i + 1..]
            .iter()
            .take(3)
            .take_while(|c| (b'0'..=b'7').contains(*c))
            .count();
        if digits > 0 {
            let n = b[i + 1..i + 1 + digits]
                .iter()
                .fold(0u32, |n, c| n * 8 + u32::from(c - b'0'));
            // `\777` cannot come from a byte; keep the low eight bits as C does.
            out.push((n & 0xff) as u8);
            i += 1 + digits;
            continue;
        }
        out.push(match b[i + 1] {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 0x08,
            b'v' => 0x0b,
            b'f' => 0x0c,
            c => c,
        });
        i += 2;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(e.into_bytes().iter().map(|&c| char::from(c)).collect()),
    }
}

/// `1m2s`, `0s`, `1.234s`, `2h`, `1d3h`: seconds.
fn duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = match c {
            'w' => 604_800.0,
            'd' => 86_400.0,
            'h' => 3_600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += num.parse::<f64>().ok()? * unit;
        num.clear();
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()?;
    }
    Some(total)
}

fn arrival(s: &str) -> Arrival<'_> {
    let (sender, rest) = s.split_once(' ').unwrap_or((s, ""));
    let mut a = Arrival {
        sender: if sender == "<>" { "" } else { sender },
        ..Arrival::default()
    };
    for t in tokens(rest).0 {
        match t {
            Token::Host(h) => a.host = Some(h),
            Token::Field("I", v) => a.interface = Some(v),
            Token::Field("P", v) => a.proto = Some(v),
            Token::Field("S", v) => a.size = v.parse().ok(),
            Token::Field("id", v) => a.message_id = Some(v),
            Token::Field("R", v) => a.bounce_of = Some(v),
            Token::Field("T", v) => a.subject = Some(unescape(v)),
            Token::Field("U", v) => a.user = Some(v),
            Token::Field("A", v) => a.auth = Some(v),
            Token::Field("X", v) => a.tls = Some(v),
            _ => {}
        }
    }
    a
}

fn delivery(outcome: Outcome, s: &str) -> Delivery<'_> {
    let mut d = Delivery {
        outcome,
        address: "",
        original: None,
        router: None,
        transport: None,
        host: None,
        confirmation: None,
        tls: None,
        delivery_time: None,
        queue_time: None,
        error: None,
    };
    // The address: up to a space, or a `: ` when the error follows at once.
    let end = s.find(' ').unwrap_or(s.len());
    let (addr, mut rest) = (&s[..end], &s[end..]);
    match addr.strip_suffix(':') {
        Some(a) if rest.is_empty() || rest.starts_with(' ') => {
            d.address = a;
            d.error = Some(rest.trim_start());
            return d;
        }
        _ => d.address = addr,
    }
    let trimmed = rest.trim_start();
    if let Some(p) = trimmed.strip_prefix('<') {
        if let Some(close) = p.find('>') {
            d.original = Some(&p[..close]);
            rest = &p[close + 1..];
        }
    }
    // A deferral: `defer (errno)`, then maybe the host tried, then `: reason` (also
    // `routing defer (errno): reason`).
    let mut deferral = None;
    if outcome == Outcome::Deferred {
        if let Some(i) = find(rest, "defer (") {
            let after = &rest[i + "defer (".len()..];
            let close = after.find(')').unwrap_or(after.len());
            deferral = Some(tokens(&after[(close + 1).min(after.len())..]));
            rest = &rest[..i];
        }
    }
    let (mut toks, mut tail) = tokens(rest);
    if let Some((more, t)) = deferral {
        toks.extend(more);
        tail = t;
    }
    for t in toks {
        match t {
            Token::Host(h) => d.host = Some(h),
            Token::Field("R", v) => d.router = Some(v),
            Token::Field("T", v) => d.transport = Some(v),
            Token::Field("C", v) => d.confirmation = Some(v),
            Token::Field("X", v) => d.tls = Some(v),
            Token::Field("DT", v) => d.delivery_time = duration(v),
            Token::Field("QT", v) => d.queue_time = duration(v),
            _ => {}
        }
    }
    if d.error.is_none() {
        d.error = tail.map(str::trim);
    }
    d
}

fn reject(body: &str) -> Option<Reject<'_>> {
    let (i, temporary) = match find(body, "temporarily rejected ") {
        Some(i) => (i, true),
        None => (
            find(body, "rejected ").filter(|&i| i == 0 || body.as_bytes()[i - 1] == b' ')?,
            false,
        ),
    };
    let head = &body[..i];
    let after = &body[i..];
    let after = after
        .strip_prefix("temporarily rejected ")
        .or_else(|| after.strip_prefix("rejected "))?;
    let mut r = Reject {
        temporary,
        ..Reject::default()
    };
    for t in tokens(head).0 {
        match t {
            Token::Host(h) => r.host = Some(h),
            Token::Field("F", v) => {
                r.sender = Some(v.trim_start_matches('<').trim_end_matches('>'))
            }
            Token::Field("U", v) => r.user = Some(v),
            _ => {}
        }
    }
    let (what, reason) = match after.split_once(": ") {
        Some((w, why)) => (w, why),
        None => (after.trim_end_matches(':'), ""),
    };
    r.reason = reason;
    if let Some(rcpt) = what.strip_prefix("RCPT ") {
        r.stage = "RCPT";
        r.recipient = Some(rcpt.trim().trim_start_matches('<').trim_end_matches('>'));
    } else if let Some(stage) = what.strip_prefix("by ") {
        r.stage = stage;
    } else if let Some(from) = what.strip_prefix("from ") {
        // `rejected from <sender> U=user: message too big`, or `H=client` over SMTP: the
        // message was read to the end (no `SIZE=` declared) and was over the limit.
        r.stage = "size";
        let (sender, rest) = from.split_once(' ').unwrap_or((from, ""));
        r.sender = Some(sender.trim_start_matches('<').trim_end_matches('>'));
        fields(&mut r, rest);
    } else if let Some(mail) = what.strip_prefix("MAIL ") {
        // `rejected MAIL FROM:<sender> H=client: message too big: size=N max=M` (a `SIZE=`
        // over the limit, before any ACL: the sender is only in the command),
        // `H=client rejected MAIL <sender>: why` (the MAIL ACL), `rejected MAIL command ...`.
        r.stage = "MAIL";
        let mail = mail.strip_prefix("FROM:").unwrap_or(mail);
        if let Some(addr) = mail.strip_prefix('<') {
            let (sender, rest) = addr.split_once('>').unwrap_or((addr, ""));
            r.sender = r.sender.or(Some(sender));
            fields(&mut r, rest);
        } else {
            fields(&mut r, mail);
        }
    } else {
        // `after DATA`, `MAIL <...>`, `EHLO from ...`, `connection`, `during MIME ACL checks`.
        let stage = what.split(" from ").next().unwrap_or(what);
        r.stage = match stage.split_once(' ') {
            Some(("EHLO" | "HELO" | "AUTH" | "VRFY" | "EXPN", _)) => {
                stage.split(' ').next().unwrap_or(stage)
            }
            _ => stage.trim(),
        };
        if r.host.is_none() {
            if let Some(from) = what.split_once(" from ").map(|(_, f)| f) {
                r.host = Some(host(from.trim_start_matches(' ')).0);
            }
        }
    }
    Some(r)
}

/// `H=` and `U=` among the words after a refused command, when they were not before it.
fn fields<'a>(r: &mut Reject<'a>, s: &'a str) {
    for t in tokens(s).0 {
        match t {
            Token::Host(h) => r.host = r.host.or(Some(h)),
            Token::Field("U", v) => r.user = r.user.or(Some(v)),
            _ => {}
        }
    }
}

fn auth_failed(body: &str) -> Option<Kind<'_>> {
    let i = find(body, " authenticator failed for ")?;
    let authenticator = &body[..i];
    if authenticator.contains(' ') {
        return None;
    }
    let rest = &body[i + " authenticator failed for ".len()..];
    let (h, rest) = host(rest);
    let text = rest.trim_start_matches(':').trim();
    Some(Kind::AuthFailed {
        host: h,
        authenticator,
        text,
    })
}

#[cfg(test)]
mod tests;
