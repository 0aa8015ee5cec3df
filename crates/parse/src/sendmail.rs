//! Sendmail log lines (syslog programs `sm-mta`, `sendmail`, `sm-msp-queue`, `sm-mta-rx`...).
//!
//! After the syslog envelope, a line is a queue id (or `NOQUEUE`), `: `, and a text:
//!
//! - `from=<sender>, size=, class=, nrcpts=, msgid=, proto=, daemon=, relay=`: the message
//!   was taken into the queue (or, with `nrcpts=0`, a session whose recipients were all refused
//!   ended);
//! - `to=<a>,<b>, ctladdr=, delay=, xdelay=, mailer=, pri=, relay=, dsn=, stat=`: one delivery
//!   attempt of one or more recipients; `stat=Sent (reply)`, `stat=Deferred: reply`, or the
//!   reason of a permanent failure (`User unknown`, `Service unavailable`);
//! - `CHILD: DSN: why` (also `return to sender:`, `sender notify:`, `postmaster notify:`): a
//!   delivery status notification was queued as `CHILD`; `Cannot send message for 5 days` is
//!   the end of the queue lifetime (`Timeout.queuereturn`), `Warning: could not send message
//!   for past 4 hours` a delay warning;
//! - `ruleset=check_rcpt, arg1=, relay=, reject=550 ...`, `Milter: data, reject=...` and
//!   `<addr>... User unknown`: refusals in the SMTP dialogue;
//! - session lines: `AUTH=server`, `AUTH failure (MECH): ...`, `STARTTLS=server`, `lost input
//!   channel from`, `did not issue MAIL/EXPN/VRFY/ETRN during connection to`, `possible SMTP
//!   attack`, `[rejected]` EXPN/VRFY...
//!
//! Fields are `key=value` separated by `, `; a value may hold spaces and commas
//! (`ctladdr=root (0/0)`, `to=<a>,<b>`), so it runs to the next `, key=`; `stat=` and
//! `reject=` run to the end of the line. Queue ids of Sendmail 8.12 and later are eight
//! base-60 characters (time and sequence) and the process id, at least five digits
//! (`v4V4QL1K030027`, `xA32R2PQ3529566`).

use crate::util::{find, leading_code, leading_dsn, unbracket};

mod record;

pub use record::*;

/// Is `program` (the syslog tag without pid) Sendmail's? `sendmail`, `sm-mta`,
/// `sm-msp-queue`, `sm-mta-rx`, `sm-acceptingconnections` (the process title of the
/// daemon on some systems)...
pub fn is_program(program: &str) -> bool {
    // Not every `sm-` is Sendmail: `sm-notify` is NFS's status monitor.
    program == "sendmail"
        || program.starts_with("sendmail-")
        || ["sm-mta", "sm-msp", "sm-accepting", "sm-client"]
            .iter()
            .any(|p| program.starts_with(p))
}

/// Is `s` a Sendmail queue id? Eight base-60 characters and a process id of five digits or
/// more (8.12 and later: `v4V4QL1K030027`), or three letters and a process id (8.9–8.11:
/// `KAA01234`).
pub fn is_queue_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() > 24 {
        return false;
    }
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let head = &b[..b.len() - digits];
    if !head.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    // The head may end in digits too (sequence characters are base 60): split by position.
    (b.len() >= 13
        && b[..8].iter().all(u8::is_ascii_alphanumeric)
        && b[8..].iter().all(u8::is_ascii_digit))
        || (head.len() == 3 && head.iter().all(u8::is_ascii_alphabetic) && digits >= 5)
}

/// Parse the text of a Sendmail line (after the envelope).
pub fn parse(text: &str) -> Record<'_> {
    if let Some((first, rest)) = text.split_once(": ") {
        if first == "NOQUEUE" {
            return Record {
                queue_id: None,
                kind: kind(rest),
            };
        }
        if is_queue_id(first) {
            return parse_with_id(first, rest);
        }
    }
    Record {
        queue_id: None,
        kind: kind(text),
    }
}

/// A line whose queue id is known already: syslog setups that log no program name put the
/// queue id where the program would be (`May 31 06:26:22 rs336 v4V4QL1K030027: from=...`).
pub fn parse_with_id<'a>(queue_id: &'a str, body: &'a str) -> Record<'a> {
    Record {
        queue_id: Some(queue_id),
        kind: kind(body),
    }
}

fn kind(body: &str) -> Kind<'_> {
    if let Some(rest) = body.strip_prefix("from=") {
        return Kind::From(from(rest));
    }
    if let Some(rest) = body.strip_prefix("to=") {
        return Kind::To(to(rest));
    }
    if let Some(n) = notify(body) {
        return Kind::Notify(n);
    }
    if body == "done" || body.starts_with("done;") {
        return Kind::Done;
    }
    if find(body, "reject=").is_some() {
        if let Some(r) = reject(body) {
            return Kind::Rejected(r);
        }
    }
    if let Some(r) = address_refusal(body) {
        return Kind::Rejected(r);
    }
    if let Some(rest) = body.strip_prefix("AUTH failure (") {
        return Kind::AuthFailed(auth_failed(rest));
    }
    if body.starts_with("AUTH=") {
        let mut a = Auth::default();
        for (i, (k, v)) in Fields::new(body).enumerate() {
            match (i, k) {
                (0, _) => a.side = v,
                (_, "relay") => a.relay = Some(host(v)),
                (_, "authid") => a.authid = Some(v),
                (_, "mech") => a.mech = Some(v),
                _ => {}
            }
        }
        return Kind::Auth(a);
    }
    if body.starts_with("STARTTLS=") {
        let mut t = Tls::default();
        for (i, (k, v)) in Fields::new(body).enumerate() {
            match (i, k) {
                (0, _) => t.side = v,
                (_, "relay") => t.relay = Some(host(v)),
                (_, "version") => t.version = Some(v),
                (_, "verify") => t.verify = Some(v),
                (_, "cipher") => t.cipher = Some(v),
                (_, "bits") => t.bits = Some(v),
                _ => {}
            }
        }
        return Kind::Tls(t);
    }
    if let Some(rest) = body.strip_prefix("lost input channel from ") {
        let (who, after) = match rest.rsplit_once(" after ") {
            Some((w, a)) => (w, Some(a)),
            None => (rest, None),
        };
        let who = who.rsplit_once(" to ").map_or(who, |(w, _)| w);
        return Kind::LostInput {
            host: host(who),
            after,
        };
    }
    if let Some(i) = find(
        body,
        " did not issue MAIL/EXPN/VRFY/ETRN during connection to ",
    ) {
        let daemon = &body[i + " did not issue MAIL/EXPN/VRFY/ETRN during connection to ".len()..];
        return Kind::NoMail {
            host: host(&body[..i]),
            daemon,
        };
    }
    if is_session(body) {
        return Kind::Session(body);
    }
    if is_note(body) {
        return Kind::Note(body);
    }
    Kind::Unrecognized(body)
}

fn is_session(body: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "rejecting commands from ",
        "timeout waiting for input from ",
        "Null connection from ",
        "connect from ",
        "collect: ",
        "tcpwrappers ",
        "too many ",
        "STARTTLS: ",
        "STARTTLS ",
        "TLS: ",
        "AUTH: ",
        "SASL",
        "ETRN ",
        "Syntax error in mailbox address",
        "Possible SMTP RCPT flood",
        "error: ",
    ];
    const INSIDE: &[&str] = &[
        ": possible SMTP attack: ",
        "] [rejected]",
        " [rejected]",
        "Connection reset by ",
        "Connection timed out with ",
        "Broken pipe",
        "lost input channel",
        "SMTP protocol error",
        "Too many ",
        "Connection rate limit exceeded",
    ];
    PREFIXES.iter().any(|p| body.starts_with(p)) || INSIDE.iter().any(|p| find(body, p).is_some())
}

fn is_note(body: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Milter",
        "milter",
        "SMTP outgoing connect on ",
        "starting daemon",
        "stopping daemon",
        "restarting ",
        "alias database ",
        "/etc/mail/aliases",
        "/etc/aliases",
        "SYSERR",
        "clone ",
        "clone:",
        "Authentication-Warning",
        "forward ",
        "alias ",
        "grew WorkList",
        "runqueue",
        "queueup",
        "Losing ",
        "savemail",
        "discarded",
        "headers too large",
        "message size ",
        "ruleset=",
        "arg1=",
        "sender ",
        "owner ",
        "dropenvelope",
        "makeconnection",
        "buildaddr",
        "cannot ",
        "Cannot ",
        "unable to ",
        "Unable to ",
        "warning: ",
        "Warning: ",
        "WARNING: ",
        "lock ",
        "Deferring",
        "deferring",
        "DSN: ",
        "return to sender: ",
        "sender notify: ",
        "postmaster notify: ",
        "key=",
    ];
    PREFIXES.iter().any(|p| body.starts_with(p))
        || body.ends_with(" aliases, longest")
        || find(body, " aliases, longest ").is_some()
}

/// `key=value, key=value...` (see the module documentation).
struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    fn new(s: &'a str) -> Fields<'a> {
        Fields { rest: s }
    }
}

/// Length of a `key` followed by `=` at the start of `s`.
fn key_len(s: &str) -> Option<usize> {
    let n = s
        .bytes()
        .take(24)
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    (n > 0 && s.as_bytes().get(n) == Some(&b'=')).then_some(n)
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let s = self.rest.trim_start();
        if s.is_empty() {
            return None;
        }
        let n = key_len(s)?;
        let key = &s[..n];
        let v = &s[n + 1..];
        if matches!(key, "stat" | "reject") {
            self.rest = "";
            return Some((key, v));
        }
        if key == "reply" {
            // The next hop's reply (8.17: `reply=451 4.7.1 Greylisted, please try again
            // later, stat=Deferred: ...`) may hold `, ` and words with `=`: it runs to `stat=`.
            if let Some(i) = find(v, ", stat=") {
                self.rest = &v[i + 2..];
                return Some((key, &v[..i]));
            }
            self.rest = "";
            return Some((key, v));
        }
        let mut from = 0;
        while let Some(i) = find(&v[from..], ", ") {
            let at = from + i;
            if key_len(&v[at + 2..]).is_some() {
                self.rest = &v[at + 2..];
                return Some((key, &v[..at]));
            }
            from = at + 2;
        }
        self.rest = "";
        Some((key, v))
    }
}

/// `name [addr] (may be forged)`, `[addr]`, `name. [addr]`, `[IPv6:addr]`, `user@host`.
fn host(v: &str) -> Host<'_> {
    let mut h = Host::default();
    let mut v = v.trim();
    if let Some(r) = v.strip_suffix("(may be forged)") {
        h.forged = true;
        v = r.trim_end();
    }
    // `relay=[192.0.2.100], relay=[192.0.2.4]` can only come from a forged user name: the
    // caller gives the last one.
    let (name, addr) = match v.rfind(" [") {
        Some(i) if v.ends_with(']') => (&v[..i], Some(&v[i + 2..v.len() - 1])),
        _ => match v.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
            Some(a) => ("", Some(a)),
            None => (v, None),
        },
    };
    let addr = addr.map(|a| a.strip_prefix("IPv6:").unwrap_or(a));
    // `[93.184.216.34] [93.184.216.34]`: a next hop named by its address literal.
    let name = name.trim();
    let name = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(lit) if Some(lit.strip_prefix("IPv6:").unwrap_or(lit)) == addr => "",
        Some(lit) if addr.is_none() => {
            h.addr = Some(lit.strip_prefix("IPv6:").unwrap_or(lit));
            ""
        }
        _ => name,
    };
    if addr.is_none() && h.addr.is_none() {
        if let Some((user, at)) = name.rsplit_once('@') {
            if !user.is_empty() && !user.contains(' ') && !at.contains(' ') {
                h.user = Some(user);
                h.name = at;
                return h;
            }
        }
    }
    h.name = name.strip_suffix('.').unwrap_or(name);
    if addr.is_some() {
        h.addr = addr;
    }
    h
}

/// `[D+]HH:MM:SS`: seconds.
fn delay(v: &str) -> Option<f64> {
    let (days, hms) = match v.split_once('+') {
        Some((d, rest)) => (d.parse::<u32>().ok()?, rest),
        None => (0, v),
    };
    let mut parts = hms.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let n = |p: &str| -> Option<u32> {
        (!p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    Some(
        f64::from(days) * 86_400.0
            + f64::from(n(h)?) * 3600.0
            + f64::from(n(m)?) * 60.0
            + f64::from(n(s)?),
    )
}

fn from(s: &str) -> From<'_> {
    let (sender, rest) = match find(s, ", ") {
        Some(i) => (&s[..i], &s[i + 2..]),
        None => (s, ""),
    };
    let mut f = From {
        sender: unbracket(sender.trim()),
        ..From::default()
    };
    for (k, v) in Fields::new(rest) {
        match k {
            "size" => f.size = v.parse().ok(),
            "class" => f.class = v.parse().ok(),
            "nrcpts" => f.nrcpts = v.parse().ok(),
            "msgid" => f.msgid = Some(v),
            "proto" => f.proto = Some(v),
            "daemon" => f.daemon = Some(v),
            "relay" => f.relay = Some(host(v)),
            "bodytype" => f.bodytype = Some(v),
            "auth" if v != "NONE" => f.auth = Some(v),
            _ => {}
        }
    }
    f
}

fn to(s: &str) -> To<'_> {
    // The list ends at the first `, key=` (addresses are separated by `,` alone).
    let mut fields = Fields::new(s);
    let first = fields.rest;
    let end = {
        let mut from = 0;
        let mut end = first.len();
        while let Some(i) = find(&first[from..], ", ") {
            let at = from + i;
            if key_len(&first[at + 2..]).is_some() {
                end = at;
                break;
            }
            from = at + 2;
        }
        end
    };
    let mut t = To {
        to: &first[..end],
        ctladdr: None,
        delay: None,
        xdelay: None,
        mailer: None,
        pri: None,
        relay: None,
        dsn: None,
        stat: "",
        outcome: Outcome::Queued,
        response: "",
        code: None,
        queued_as: None,
    };
    fields.rest = first.get(end + 2..).unwrap_or("");
    let mut reply = None;
    for (k, v) in fields {
        match k {
            "ctladdr" => t.ctladdr = Some(v),
            "delay" => t.delay = delay(v),
            "xdelay" => t.xdelay = delay(v),
            "mailer" => t.mailer = Some(v),
            "pri" => t.pri = v.parse().ok(),
            "relay" => t.relay = Some(host(v)),
            "dsn" => t.dsn = Some(v),
            "stat" => t.stat = v.trim_end(),
            "reply" => reply = Some(v),
            _ => {}
        }
    }
    let stat = t.stat;
    t.outcome = if stat.starts_with("Sent") {
        Outcome::Sent
    } else if stat.starts_with("Deferred") {
        Outcome::Deferred
    } else if stat.eq_ignore_ascii_case("queued") {
        Outcome::Queued
    } else if stat.starts_with("Cannot send message for")
        || stat.starts_with("delivery time expired")
    {
        Outcome::Expired
    } else if t.dsn.is_some_and(|d| d.starts_with('4')) {
        Outcome::Deferred
    } else if t.dsn.is_some_and(|d| d.starts_with('2')) {
        Outcome::Sent
    } else {
        Outcome::Bounced
    };
    t.response = match t.outcome {
        Outcome::Sent => stat
            .strip_prefix("Sent")
            .map(str::trim)
            .and_then(|r| r.strip_prefix('('))
            .map(|r| r.strip_suffix(')').unwrap_or(r))
            .unwrap_or(stat),
        Outcome::Deferred => stat
            .strip_prefix("Deferred")
            .map(|r| r.trim_start_matches(':').trim())
            .unwrap_or(stat),
        _ => stat,
    };
    t.code = leading_code(t.response).or_else(|| reply.and_then(leading_code));
    if t.dsn.is_none() {
        let after = t
            .response
            .get(4..)
            .filter(|_| t.code.is_some())
            .unwrap_or("");
        t.dsn = leading_dsn(after);
    }
    if t.outcome == Outcome::Sent {
        t.queued_as = queued_as(t.response);
    }
    t
}

/// The queue id a next hop gave: `QUEUEID Message accepted for delivery` (Sendmail),
/// `Ok: queued as QUEUEID` (Postfix), `OK id=1abcDE-000123-AB` (Exim).
fn queued_as(resp: &str) -> Option<&str> {
    fn clean(w: &str) -> Option<&str> {
        let w = w.trim_end_matches([')', '.', ',', ';']);
        (!w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then_some(w)
    }
    if let Some((first, rest)) = resp.split_once(' ') {
        if rest.starts_with("Message accepted for delivery") && is_queue_id(first) {
            return Some(first);
        }
    }
    if let Some(i) = find(resp, "queued as ") {
        let w = resp[i + "queued as ".len()..]
            .split(' ')
            .next()
            .unwrap_or("");
        return clean(w);
    }
    if let Some(i) = find(resp, " id=") {
        let w = resp[i + " id=".len()..].split(' ').next().unwrap_or("");
        return clean(w);
    }
    None
}

fn notify(body: &str) -> Option<Notify<'_>> {
    let (child, rest) = body.split_once(": ")?;
    if !is_queue_id(child) {
        return None;
    }
    let kinds = [
        ("DSN: ", NotifyKind::Dsn),
        ("return to sender: ", NotifyKind::ReturnToSender),
        ("sender notify: ", NotifyKind::SenderNotify),
        ("postmaster notify: ", NotifyKind::PostmasterNotify),
    ];
    kinds.iter().find_map(|(p, k)| {
        rest.strip_prefix(p).map(|text| Notify {
            child,
            kind: *k,
            text: text.trim(),
        })
    })
}

/// The stage of a ruleset's refusal.
fn ruleset_stage(r: &str) -> &'static str {
    match r {
        "check_relay" => "CONNECT",
        "check_mail" => "MAIL",
        "check_rcpt" => "RCPT",
        "check_data" | "check_eoh" | "check_eom" | "check_compat" => "DATA",
        "check_etrn" => "ETRN",
        "check_expn" => "EXPN",
        "check_vrfy" => "VRFY",
        r if r.starts_with("tls_") || r.starts_with("srv_features") => "TLS",
        r if r.contains("helo") => "HELO",
        _ => "other",
    }
}

fn reject(body: &str) -> Option<Reject<'_>> {
    let mut r = Reject::default();
    let mut s = body;
    if let Some(m) = s.strip_prefix("Milter: ") {
        // `Milter: data, reject=...`, `Milter: from=<a>, reject=...`, `Milter: to=<a>, reject=`,
        // `Milter: connect: host=h, addr=a, reject=`, `Milter: helo=h, reject=`.
        r.milter = true;
        let what = m.split([',', ':']).next().unwrap_or("");
        r.stage = match what.split('=').next().unwrap_or("") {
            "connect" => "CONNECT",
            "helo" => "HELO",
            "from" => "MAIL",
            "to" => "RCPT",
            "data" | "eoh" | "eom" | "body" | "header" => "DATA",
            _ => "other",
        };
        if let Some(v) = what.strip_prefix("from=") {
            r.sender = Some(unbracket(v));
        }
        if let Some(v) = what.strip_prefix("to=") {
            r.recipient = Some(unbracket(v));
        }
        let i = find(m, "reject=")?;
        s = &m[i..];
    } else if let Some(m) = s.strip_prefix("milter=") {
        // `milter=NAME, action=rcpt, reject=...` (8.14+ with LogLevel 10+).
        r.milter = true;
        r.stage = "other";
        let i = find(m, "reject=")?;
        for (k, v) in Fields::new(m) {
            if k == "action" {
                r.stage = match v {
                    "connect" => "CONNECT",
                    "helo" => "HELO",
                    "mail" => "MAIL",
                    "rcpt" => "RCPT",
                    _ => "DATA",
                };
            }
        }
        s = &m[i..];
    } else if !s.starts_with("ruleset=") {
        return None;
    }
    for (k, v) in Fields::new(s) {
        match k {
            "ruleset" => r.ruleset = Some(v),
            "arg1" => r.arg1 = Some(v),
            "arg2" => r.arg2 = Some(v),
            "relay" => r.relay = Some(host(v)),
            "reject" => r.reply = v.trim_end(),
            _ => {}
        }
    }
    if let Some(rs) = r.ruleset {
        r.stage = ruleset_stage(rs);
        match r.stage {
            "RCPT" => r.recipient = r.arg1.map(unbracket),
            "MAIL" => r.sender = r.arg1.map(unbracket),
            _ => {}
        }
    }
    r.code = leading_code(r.reply);
    if r.code.is_some() {
        r.dsn = r.reply.get(4..).and_then(leading_dsn);
    }
    Some(r)
}

/// `<addr>... User unknown`: a recipient (or the sender: `Domain of sender address ... does
/// not exist`) refused in the SMTP dialogue, as `usrerr()` logs it.
fn address_refusal(body: &str) -> Option<Reject<'_>> {
    let rest = body.strip_prefix('<')?;
    let (addr, why) = rest.split_once(">... ")?;
    if addr.contains(' ') || why.is_empty() {
        return None;
    }
    let mut r = Reject {
        reply: why.trim_end(),
        ..Reject::default()
    };
    let lower = why.to_ascii_lowercase();
    if lower.contains("sender") {
        r.stage = "MAIL";
        r.sender = Some(addr);
    } else {
        r.stage = "RCPT";
        r.recipient = Some(addr);
    }
    r.code = leading_code(r.reply);
    Some(r)
}

fn auth_failed(s: &str) -> AuthFailed<'_> {
    let mut a = AuthFailed::default();
    let (mech, rest) = s.split_once("): ").unwrap_or((s.trim_end_matches(')'), ""));
    a.mech = mech;
    // The reason runs to the first `, user=` or `, relay=`; a forged user name can hold
    // `, relay=` too, so the client is the last `relay=`.
    let (reason, fields) = match (find(rest, ", user="), find(rest, ", relay=")) {
        (Some(u), Some(r)) => {
            let i = u.min(r);
            (&rest[..i], &rest[i + 2..])
        }
        (Some(i), None) | (None, Some(i)) => (&rest[..i], &rest[i + 2..]),
        (None, None) => (rest, ""),
    };
    a.reason = reason;
    for (k, v) in Fields::new(fields) {
        match k {
            "user" if a.user.is_none() => a.user = Some(v),
            "relay" => a.relay = Some(host(v)),
            _ => {}
        }
    }
    a
}

#[cfg(test)]
mod tests;
