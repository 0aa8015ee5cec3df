//! SmarterMail's SMTP and delivery logs (one file per day and kind, not syslog).
//!
//! Every line starts `[yyyy.MM.dd] HH:mm:ss ` in the server's local time, then
//! - in the SMTP log, `[client ip][session id] ` and the session's text: `cmd: EHLO x`,
//!   `rsp: 250 OK`, `connected at ...`, `Authenticating as user`, `Data transfer succeeded,
//!   writing mail to 61003.eml (MessageID: <...>)`, `disconnected at ...`;
//! - in the delivery log, `[delivery id] ` (the spool id of the message) and the delivery's text:
//!   `Delivery started for sender at ...`, `Sending remote mail to: rcpt`, `Connection to
//!   ip:25 from ip:port succeeded`, the remote conversation as `CMD:`/`RSP:` lines, `Delivery for
//!   sender to rcpt has completed (Delivered)`, `Removing Spool message: ... Finished: True`.
//!
//! ```
//! use mailtrace_parse::smartermail::{self, Kind, Source};
//! let l = smartermail::parse("[2018.05.07] 22:54:21 [123.123.123.123][63985015] Authenticated as sender@servermanagementco.com").unwrap();
//! assert_eq!(l.source, Source::Session { ip: "123.123.123.123", id: "63985015" });
//! assert_eq!(l.kind, Kind::Authenticated("sender@servermanagementco.com"));
//! ```

use crate::postfix::Reply;
use crate::smtp::Command;
use crate::syslog::LocalTime;
use crate::util::{rsplit2, split2, unbracket};

/// Which SmarterMail log a line is from, and its session or delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// SMTP log: `[client ip][session id]`.
    Session {
        /// The client's address.
        ip: &'a str,
        /// Session number.
        id: &'a str,
    },
    /// Delivery log: `[delivery id]`, the message's spool number.
    Delivery {
        /// Spool number.
        id: &'a str,
    },
    /// A line of neither shape (service notices).
    Service,
}

/// One SmarterMail line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// When, in the server's local time.
    pub at: LocalTime,
    /// Session or delivery.
    pub source: Source<'a>,
    /// The text after the prefix.
    pub text: &'a str,
    /// What the text says.
    pub kind: Kind<'a>,
}

/// What a SmarterMail line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `cmd:` (SMTP log: from the client; delivery log `CMD:`: ours to the remote server).
    Cmd(Command<'a>),
    /// `rsp:` (SMTP log: our reply; delivery log `RSP:`: the remote server's).
    Rsp(Reply<'a>),
    /// `connected at ...`.
    Connected,
    /// `disconnected at ...`.
    Disconnected,
    /// `Authenticating as user`.
    Authenticating(&'a str),
    /// `Authenticated as user`.
    Authenticated(&'a str),
    /// `Data transfer succeeded, writing mail to 61003.eml (MessageID: <...>)`: the spool number
    /// (the delivery log's id) and the Message-ID.
    Spooled {
        /// Spool number (file name without `.eml`).
        spool: &'a str,
        /// The Message-ID with its brackets, when logged.
        message_id: Option<&'a str>,
    },
    /// `Delivery started for sender at 10:57:34 PM`.
    DeliveryStarted(&'a str),
    /// `Sending remote mail for sender`.
    RemoteFor(&'a str),
    /// `Sending remote mail to: rcpt`.
    RemoteTo(&'a str),
    /// `Initiating connection to ip`.
    Initiating(&'a str),
    /// `Connection to ip:port from ip:port succeeded (Id: 1)`: the remote end.
    ConnectionOk(&'a str),
    /// `Connection to ip:port ... failed ...`: the remote end and the whole text.
    ConnectionFailed(&'a str),
    /// `Delivery for sender to rcpt has completed (Outcome)` (or another ending): the
    /// recipient and the outcome word in the last parentheses.
    Completed {
        /// The sender.
        sender: &'a str,
        /// The recipient.
        rcpt: &'a str,
        /// `Delivered`, `Failed`, `Bounced`, `Deferred`... (`""` when none is given).
        outcome: &'a str,
    },
    /// `Local delivery to rcpt` (a mailbox on this server).
    LocalDelivery(&'a str),
    /// `Removing Spool message: Killed: False, Failed: False, Finished: True`.
    Removed {
        /// `Failed: True`.
        failed: bool,
        /// `Finished: True`: nothing left to try.
        finished: bool,
    },
    /// `Delivery finished for sender at ...`.
    DeliveryFinished,
    /// Text no rule knows (kept with its session or delivery).
    Other,
}

/// Parse one line; `None` when it does not start with SmarterMail's date and time.
pub fn parse(line: &str) -> Option<Line<'_>> {
    let b = line.as_bytes();
    if b.len() < 22 || b[0] != b'[' || b[11] != b']' || b[12] != b' ' {
        return None;
    }
    let at = LocalTime::date(&b[1..11], b'.')?.with_time(&b[13..21])?;
    let rest = line.get(21..)?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (source, text) = source(rest);
    Some(Line {
        at,
        source,
        text,
        kind: kind(text),
    })
}

fn source(rest: &str) -> (Source<'_>, &str) {
    let Some(r) = rest.strip_prefix('[') else {
        return (Source::Service, rest);
    };
    let Some((first, after)) = split2(r, "]") else {
        return (Source::Service, rest);
    };
    if let Some(r2) = after.strip_prefix('[') {
        if let Some((id, text)) = split2(r2, "]") {
            let text = text.strip_prefix(' ').unwrap_or(text);
            return (Source::Session { ip: first, id }, text);
        }
    }
    if !first.is_empty()
        && first
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        let text = after.strip_prefix(' ').unwrap_or(after);
        return (Source::Delivery { id: first }, text);
    }
    (Source::Service, rest)
}

/// `prefix` case-insensitively at the start of `s`: the rest.
fn after<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The text before ` at ` (`sender at 10:57:34 PM`).
fn before_at(s: &str) -> &str {
    rsplit2(s, " at ").map_or(s, |(a, _)| a).trim()
}

fn kind(text: &str) -> Kind<'_> {
    if let Some(c) = after(text, "cmd: ") {
        return Kind::Cmd(Command::parse(c));
    }
    if let Some(r) = after(text, "rsp: ") {
        return Kind::Rsp(Reply::parse(r));
    }
    if after(text, "connected at ").is_some() {
        return Kind::Connected;
    }
    if after(text, "disconnected at ").is_some() {
        return Kind::Disconnected;
    }
    if let Some(u) = text.strip_prefix("Authenticating as ") {
        return Kind::Authenticating(u.trim());
    }
    if let Some(u) = text.strip_prefix("Authenticated as ") {
        return Kind::Authenticated(u.trim());
    }
    if let Some(r) = text.strip_prefix("Data transfer succeeded, writing mail to ") {
        let (file, tail) = r.split_once(' ').unwrap_or((r, ""));
        let spool = file.strip_suffix(".eml").unwrap_or(file);
        let message_id = split2(tail, "MessageID: ")
            .map(|(_, m)| m.strip_suffix(')').unwrap_or(m).trim())
            .filter(|m| !m.is_empty());
        return Kind::Spooled { spool, message_id };
    }
    if let Some(r) = text.strip_prefix("Delivery started for ") {
        return Kind::DeliveryStarted(unbracket(before_at(r)));
    }
    if let Some(r) = text.strip_prefix("Sending remote mail for ") {
        return Kind::RemoteFor(unbracket(r.trim()));
    }
    if let Some(r) = text.strip_prefix("Sending remote mail to: ") {
        return Kind::RemoteTo(unbracket(r.trim()));
    }
    if let Some(r) = text.strip_prefix("Initiating connection to ") {
        return Kind::Initiating(r.trim());
    }
    if let Some(r) = text.strip_prefix("Connection to ") {
        let remote = r.split(' ').next().unwrap_or("");
        if text.contains(" succeeded") {
            return Kind::ConnectionOk(remote);
        }
        if text.contains("fail") || text.contains("refused") || text.contains("timed out") {
            return Kind::ConnectionFailed(remote);
        }
    }
    if let Some(r) = text.strip_prefix("Delivery for ") {
        if let Some((sender, tail)) = split2(r, " to ") {
            let (rcpt, tail) = tail.split_once(' ').unwrap_or((tail, ""));
            let outcome = rsplit2(tail, "(")
                .map_or("", |(_, o)| o.split(')').next().unwrap_or(""))
                .trim();
            return Kind::Completed {
                sender: unbracket(sender.trim()),
                rcpt: unbracket(rcpt),
                outcome,
            };
        }
    }
    if let Some(r) = text.strip_prefix("Local delivery to ") {
        return Kind::LocalDelivery(unbracket(r.trim()));
    }
    if let Some(r) = text.strip_prefix("Removing Spool message:") {
        let flag =
            |name: &str| split2(r, name).is_some_and(|(_, v)| v.trim_start().starts_with("True"));
        return Kind::Removed {
            failed: flag("Failed:"),
            finished: flag("Finished:"),
        };
    }
    if text.starts_with("Delivery finished for ") {
        return Kind::DeliveryFinished;
    }
    Kind::Other
}

#[cfg(test)]
mod tests;
