//! The records of [`super::parse`]: one Sendmail log line as typed, borrowed data.

use crate::util::unbracket;

/// One Sendmail log line, after its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// The queue id the line is about (`None` for `NOQUEUE` and lines without one).
    pub queue_id: Option<&'a str>,
    /// What the line says.
    pub kind: Kind<'a>,
}

/// What a Sendmail line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    /// `from=`: the message is in the queue (or a session ended, with `nrcpts=0`).
    From(From<'a>),
    /// `to=`: a delivery attempt of the recipients listed.
    To(To<'a>),
    /// `CHILD: DSN: text`: a notification to the sender was queued as `CHILD`.
    Notify(Notify<'a>),
    /// `done; delay=..., ntries=N`: the queue run is done with the message.
    Done,
    /// A refusal in the SMTP dialogue.
    Rejected(Reject<'a>),
    /// `AUTH=server, relay=, authid=, mech=, bits=` (or `AUTH=client`): a SASL login.
    Auth(Auth<'a>),
    /// `AUTH failure (MECH): reason, user=, relay=`.
    AuthFailed(AuthFailed<'a>),
    /// `STARTTLS=server, relay=, version=, verify=, cipher=, bits=` (or `STARTTLS=client`).
    Tls(Tls<'a>),
    /// `lost input channel from HOST to DAEMON after STAGE`: the client went away.
    LostInput {
        /// The client.
        host: Host<'a>,
        /// The SMTP stage (`rcpt`, `mail`, `data`...), when logged.
        after: Option<&'a str>,
    },
    /// `HOST did not issue MAIL/EXPN/VRFY/ETRN during connection to DAEMON`.
    NoMail {
        /// The client.
        host: Host<'a>,
        /// The daemon (`MTA`, `MSA`, `MTA-v4`...).
        daemon: &'a str,
    },
    /// Another line about a client session (`possible SMTP attack`, `EXPN root [rejected]`,
    /// `rejecting commands from ... due to pre-greeting traffic`, timeouts, `connect from`).
    Session(&'a str),
    /// A known daemon or queue note (`Milter: ...`, `SMTP outgoing connect on`, `starting
    /// daemon`, `alias database ... rebuilt`, `SYSERR`...).
    Note(&'a str),
    /// A text no rule knows.
    Unrecognized(&'a str),
}

/// A client or server as Sendmail logs it: `name [addr] (may be forged)`, `[addr]`,
/// `name. [addr]`, `[IPv6:addr]`, or `user@host` for a local submission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Host<'a> {
    /// The host name, without its trailing dot; empty when only an address was logged.
    pub name: &'a str,
    /// The IP address, without brackets and `IPv6:`.
    pub addr: Option<&'a str>,
    /// `(may be forged)`: the name does not resolve back to the address.
    pub forged: bool,
    /// For `relay=user@host` (a local submission): the user.
    pub user: Option<&'a str>,
}

impl Host<'_> {
    /// `name[addr]`, as Postfix logs a peer (so that every MTA's relays read the same): the
    /// address stands for a missing name.
    pub fn relay(&self) -> String {
        let name = if self.name.is_empty() {
            self.addr.unwrap_or("")
        } else {
            self.name
        };
        match self.addr {
            Some(a) => format!("{name}[{a}]"),
            None => name.to_string(),
        }
    }
}

/// `from=<sender>, size=, class=, nrcpts=, msgid=, proto=, daemon=, relay=`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct From<'a> {
    /// The envelope sender without angle brackets; empty for `<>`.
    pub sender: &'a str,
    /// `size=`: bytes.
    pub size: Option<u64>,
    /// `class=`: the precedence class.
    pub class: Option<i32>,
    /// `nrcpts=`: recipients accepted (0: every recipient was refused).
    pub nrcpts: Option<u32>,
    /// `msgid=`: the Message-ID header, with its angle brackets as logged.
    pub msgid: Option<&'a str>,
    /// `proto=`: `SMTP`, `ESMTP`, `ESMTPSA`...
    pub proto: Option<&'a str>,
    /// `daemon=`: the listener (`MTA`, `MSA`, `MTA-v4`).
    pub daemon: Option<&'a str>,
    /// `relay=`: the client, or `user@host` for a local submission.
    pub relay: Option<Host<'a>>,
    /// `bodytype=`: `8BITMIME`, `7BIT`.
    pub bodytype: Option<&'a str>,
    /// `auth=`: the SASL identity the client authenticated as (`NONE` is dropped).
    pub auth: Option<&'a str>,
}

/// What a `to=` line says of its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `stat=Sent`: delivered.
    Sent,
    /// `stat=Deferred`: will be tried again.
    Deferred,
    /// `stat=queued`: queued without an attempt (`DeliveryMode=queue`, or a busy system).
    Queued,
    /// Any other `stat=`: a permanent failure; the sender gets a DSN.
    Bounced,
    /// `stat=Cannot send message for 5 days`: given up at the end of the queue lifetime.
    Expired,
}

/// `to=<a>,<b>, ctladdr=, delay=, xdelay=, mailer=, pri=, relay=, dsn=, stat=`.
#[derive(Debug, Clone, PartialEq)]
pub struct To<'a> {
    /// The recipient list as logged (`<a@x>,<b@x>`); see [`To::recipients`].
    pub to: &'a str,
    /// `ctladdr=`: the controlling user (`root (0/0)`) of a local delivery.
    pub ctladdr: Option<&'a str>,
    /// `delay=`: seconds since the message arrived.
    pub delay: Option<f64>,
    /// `xdelay=`: seconds this attempt took.
    pub xdelay: Option<f64>,
    /// `mailer=`: `esmtp`, `relay`, `local`, `smtp`, `prog`...
    pub mailer: Option<&'a str>,
    /// `pri=`: the queue priority.
    pub pri: Option<u64>,
    /// `relay=`: the next hop.
    pub relay: Option<Host<'a>>,
    /// `dsn=`: the enhanced status code.
    pub dsn: Option<&'a str>,
    /// `stat=`: the whole status text.
    pub stat: &'a str,
    /// What `stat=` means.
    pub outcome: Outcome,
    /// The reply: inside `Sent (...)`, after `Deferred: `, or the failure text.
    pub response: &'a str,
    /// The SMTP reply code, when the response starts with one (`Deferred: 451 4.7.1 ...`)
    /// or a `reply=` field gives it.
    pub code: Option<u16>,
    /// The queue id the next hop gave the message (`Sent (v4VKx... Message accepted for
    /// delivery)`, `Sent (Ok: queued as 4F8F43F4B)`).
    pub queued_as: Option<&'a str>,
}

impl<'a> To<'a> {
    /// The recipients of the line, without angle brackets.
    pub fn recipients(&self) -> impl Iterator<Item = &'a str> {
        self.to
            .split(',')
            .map(|a| unbracket(a.trim()))
            .filter(|a| !a.is_empty())
    }
}

/// Why a notification was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    /// `DSN:` a delivery status notification.
    Dsn,
    /// `return to sender:` the message itself went back.
    ReturnToSender,
    /// `sender notify:` a notification after an earlier warning.
    SenderNotify,
    /// `postmaster notify:` a copy for the postmaster.
    PostmasterNotify,
}

/// `CHILD: DSN: text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify<'a> {
    /// The queue id of the notification message.
    pub child: &'a str,
    /// Which notification.
    pub kind: NotifyKind,
    /// Why: the failure (`User unknown`), `Cannot send message for 5 days`, `Warning: could
    /// not send message for past 4 hours`, `Return receipt`.
    pub text: &'a str,
}

impl Notify<'_> {
    /// The message stayed in the queue for its whole lifetime: the recipients still waiting
    /// expired (`Cannot send message for 4 hours`, `delivery time expired` of DELIVERBY).
    pub fn expired(&self) -> bool {
        self.text.starts_with("Cannot send message for")
            || self.text.starts_with("delivery time expired")
    }

    /// Only a warning that the message is late; it stays in the queue.
    pub fn warning(&self) -> bool {
        self.text.starts_with("Warning:") || self.text.starts_with("Postmaster warning:")
    }
}

/// A refusal in the SMTP dialogue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reject<'a> {
    /// What was refused: `CONNECT`, `HELO`, `MAIL`, `RCPT`, `DATA`, `TLS`, `ETRN`, `EXPN`,
    /// `VRFY`, or `other`.
    pub stage: &'static str,
    /// `ruleset=`: the ruleset that refused (`check_rcpt`, `check_relay`); `None` for milter
    /// refusals and `<addr>...` lines.
    pub ruleset: Option<&'a str>,
    /// `Milter: ...`: a milter refused.
    pub milter: bool,
    /// `arg1=`.
    pub arg1: Option<&'a str>,
    /// `arg2=`.
    pub arg2: Option<&'a str>,
    /// `relay=`: the client.
    pub relay: Option<Host<'a>>,
    /// The refused recipient (without brackets).
    pub recipient: Option<&'a str>,
    /// The sender (without brackets), when the refusal is about it.
    pub sender: Option<&'a str>,
    /// The reply (`reject=` text, `550 5.7.1 <a>... Relaying denied`), or the text after
    /// `<addr>... `.
    pub reply: &'a str,
    /// The reply code.
    pub code: Option<u16>,
    /// The enhanced status code.
    pub dsn: Option<&'a str>,
}

/// `AUTH=server, relay=, authid=, mech=, bits=`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Auth<'a> {
    /// `server` (a client logged in) or `client` (this server logged in to a next hop).
    pub side: &'a str,
    /// `relay=`: the peer.
    pub relay: Option<Host<'a>>,
    /// `authid=`: the user.
    pub authid: Option<&'a str>,
    /// `mech=`: `PLAIN`, `LOGIN`...
    pub mech: Option<&'a str>,
}

/// `AUTH failure (MECH): reason, user=, relay=`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthFailed<'a> {
    /// The SASL mechanism.
    pub mech: &'a str,
    /// The reason as the SASL library gave it.
    pub reason: &'a str,
    /// `user=`, when logged (`AuthFailLogUser`).
    pub user: Option<&'a str>,
    /// `relay=`: the client (the last one, when the user name carried a forged one).
    pub relay: Option<Host<'a>>,
}

/// `STARTTLS=server, relay=, version=, verify=, cipher=, bits=`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tls<'a> {
    /// `server` (from a client) or `client` (to a next hop).
    pub side: &'a str,
    /// `relay=`: the peer.
    pub relay: Option<Host<'a>>,
    /// `version=`: `TLSv1.3`.
    pub version: Option<&'a str>,
    /// `verify=`: `OK`, `NO`, `FAIL`, `NONE`.
    pub verify: Option<&'a str>,
    /// `cipher=`.
    pub cipher: Option<&'a str>,
    /// `bits=`: `256/256`.
    pub bits: Option<&'a str>,
}

impl Tls<'_> {
    /// `TLSv1.3 with cipher X (256/256 bits)`, as Postfix words it.
    pub fn describe(&self) -> String {
        let mut s = self.version.unwrap_or("TLS").to_string();
        if let Some(c) = self.cipher {
            s.push_str(" with cipher ");
            s.push_str(c);
        }
        if let Some(b) = self.bits {
            s.push_str(&format!(" ({b} bits)"));
        }
        s
    }
}
