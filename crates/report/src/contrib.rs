//! What each message and line adds to the statistics, as additive [`Contribution`]s.
//!
//! A report is a sum of contributions: the [`crate::Builder`] adds them up in memory, and a
//! store may keep them summed per hour, server and sender domain (rollups) and hand the sums
//! back, which gives the same report without reading the messages again. Every field is
//! additive (`max` excepted, which only grows: a message rewritten later keeps its earlier
//! deliveries), so a rewritten message is accounted by subtracting its old contributions.

use crate::reject::classify;
use mailtrace_model::{AttemptStatus, Message, Status, Ts};
use std::borrow::Cow;

/// What a contribution counts. The numbers are stored (rollups): never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Dim {
    /// A received message; `bytes`: its size.
    Received = 0,
    /// A delivery; `bytes`: the message size.
    Delivered = 1,
    Forwarded = 2,
    /// A deferral attempt.
    Deferral = 3,
    /// A message with deferrals.
    DeferredMessage = 4,
    Bounced = 5,
    Expired = 6,
    Rejected = 7,
    RejectWarning = 8,
    Held = 9,
    Discarded = 10,
    StillQueued = 11,
    /// Key: destination domain; `n` deliveries, `bytes`, `sum`/`max` delay.
    Destination = 12,
    /// Key: destination domain; `n` deferrals, `max` delay.
    DestinationDeferral = 13,
    /// Key: sender address (received messages that reached the queue).
    Sender = 14,
    /// Key: sending domain (or client host).
    SendingDomain = 15,
    /// Key: client host name.
    SendingHost = 16,
    /// Key: recipient address; `n` deliveries, `bytes`.
    Recipient = 17,
    /// Key: `host\treason`.
    DeferralReason = 18,
    /// Key: `host\treason`.
    BounceReason = 19,
    /// Key: SMTP reply code of a failure.
    SmtpCode = 20,
    /// Key: enhanced status code of a failure.
    Dsn = 21,
    /// Key: `class\tlogged reason` of a refusal.
    RejectExample = 22,
    /// Key: `client\treason`.
    RejectReason = 23,
    /// Key: client of a SASL failure.
    Sasl = 24,
    /// Key: warning text.
    Warning = 25,
    Fatal = 26,
    Panic = 27,
    /// A message received over SMTP with TLS.
    TlsReceived = 28,
    /// A message received over SMTP.
    SmtpReceived = 29,
    /// Key: fine delay bucket ([`delay_bucket`]); `n`, `sum` and `max` of the delays.
    Delay = 30,
    /// Key: coarse delay bucket (index into [`crate::DELAY_BUCKETS`], or its length).
    DelayClass = 31,
    /// A message seen at `at` (first and last time of the report).
    Seen = 32,
    /// A delivery over SMTP or LMTP.
    NetworkDelivery = 33,
    /// A delivery over SMTP or LMTP on a TLS connection.
    TlsDelivery = 34,
}

impl Dim {
    /// Every dimension.
    pub const ALL: [Dim; 35] = [
        Dim::Received,
        Dim::Delivered,
        Dim::Forwarded,
        Dim::Deferral,
        Dim::DeferredMessage,
        Dim::Bounced,
        Dim::Expired,
        Dim::Rejected,
        Dim::RejectWarning,
        Dim::Held,
        Dim::Discarded,
        Dim::StillQueued,
        Dim::Destination,
        Dim::DestinationDeferral,
        Dim::Sender,
        Dim::SendingDomain,
        Dim::SendingHost,
        Dim::Recipient,
        Dim::DeferralReason,
        Dim::BounceReason,
        Dim::SmtpCode,
        Dim::Dsn,
        Dim::RejectExample,
        Dim::RejectReason,
        Dim::Sasl,
        Dim::Warning,
        Dim::Fatal,
        Dim::Panic,
        Dim::TlsReceived,
        Dim::SmtpReceived,
        Dim::Delay,
        Dim::DelayClass,
        Dim::Seen,
        Dim::NetworkDelivery,
        Dim::TlsDelivery,
    ];

    /// The dimension stored as `n`.
    pub fn from_u8(n: u8) -> Option<Dim> {
        Dim::ALL.get(usize::from(n)).copied()
    }
}

/// One addend of the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution<'a> {
    /// When (a store sums per hour).
    pub at: Ts,
    /// What.
    pub dim: Dim,
    /// Of which value (empty for plain counters).
    pub key: Cow<'a, str>,
    /// Count.
    pub n: i64,
    /// Bytes.
    pub bytes: i64,
    /// Sum (delays).
    pub sum: f64,
    /// Maximum (delays).
    pub max: f64,
}

impl<'a> Contribution<'a> {
    fn count(at: Ts, dim: Dim, key: impl Into<Cow<'a, str>>) -> Contribution<'a> {
        Contribution {
            at,
            dim,
            key: key.into(),
            n: 1,
            bytes: 0,
            sum: 0.0,
            max: 0.0,
        }
    }

    fn bytes(mut self, b: u64) -> Self {
        self.bytes = i64::try_from(b).unwrap_or(i64::MAX);
        self
    }

    fn delay(mut self, d: f64) -> Self {
        self.sum = d;
        self.max = d;
        self
    }
}

/// Contributions to one key, summed.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Sum {
    /// Count.
    pub n: i64,
    /// Bytes.
    pub bytes: i64,
    /// Sum.
    pub sum: f64,
    /// Maximum.
    pub max: f64,
}

impl Sum {
    /// Add (`sign` 1) or take back (-1) a contribution. A maximum only grows: a message taken
    /// back when it is written again keeps its deliveries, so their maximum stays.
    pub fn add(&mut self, c: &Contribution<'_>, sign: i64) {
        self.n += sign * c.n;
        self.bytes += sign * c.bytes;
        self.sum += sign as f64 * c.sum;
        if sign > 0 {
            self.max = self.max.max(c.max);
        }
    }
}

impl Sum {
    /// Add another sum (the maximum of both maxima).
    pub fn merge(&mut self, o: &Sum) {
        self.n += o.n;
        self.bytes += o.bytes;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }
}

/// The fine delay bucket of `d` seconds: 0 up to 10 ms, then 5% wide.
pub fn delay_bucket(d: f64) -> u32 {
    if d <= 0.01 {
        0
    } else {
        ((d / 0.01).ln() / 1.05f64.ln()).ceil().clamp(1.0, 1000.0) as u32
    }
}

/// The upper bound of fine delay bucket `b`, seconds.
pub fn delay_bucket_bound(b: u32) -> f64 {
    0.01 * 1.05f64.powi(b as i32)
}

/// A reason shortened the way pflogsumm does: the remote reply without the host prefix, at
/// most 80 characters.
pub(crate) fn short_reason(text: &str) -> Cow<'_, str> {
    let t = text.trim();
    let find = |t: &str, pat: &str| memchr::memmem::find(t.as_bytes(), pat.as_bytes());
    let t = find(t, " said: ").map_or(t, |i| &t[i + 7..]);
    let t = t.trim_end_matches(')');
    let t = find(t, " (in reply to ").map_or(t, |i| &t[..i]);
    match t.char_indices().nth(80) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &t[..cut])),
        None => Cow::Borrowed(t),
    }
}

/// `a\tb` in `buf`: the key of a pair (reason by host, example by class).
fn pair<'k>(buf: &'k mut String, a: &str, b: &str) -> &'k str {
    buf.clear();
    buf.push_str(a);
    buf.push('\t');
    buf.push_str(b);
    buf
}

/// The host part of a relay (`mx.example.org[192.0.2.1]:25` → `mx.example.org`).
fn relay_host(relay: Option<&str>) -> &str {
    relay
        .map(|r| &r[..memchr::memchr(b'[', r.as_bytes()).unwrap_or(r.len())])
        .filter(|r| !r.is_empty())
        .unwrap_or("none")
}

/// The domain of an address, lower-cased (the whole address when it has none). Keys are
/// borrowed where they can be: most are counted many times and found, not inserted.
fn domain(address: &str) -> Cow<'_, str> {
    match memchr::memrchr(b'@', address.as_bytes()).map(|i| address[i + 1..].trim_end_matches('>'))
    {
        Some(d) if !d.is_empty() => lower(d),
        _ => lower(address),
    }
}

/// `s` lower-cased, borrowed when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// A number as a key (reply codes, delay buckets).
fn number(n: u32) -> Cow<'static, str> {
    static SMALL: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| (0..=1000).map(|n: u32| n.to_string()).collect());
    match SMALL.get(n as usize) {
        Some(s) => Cow::Borrowed(s.as_str()),
        None => Cow::Owned(n.to_string()),
    }
}

/// The reply code and enhanced code at the start of a reason (`554 5.7.1 ...`).
fn reply_codes(text: &str) -> (Option<u16>, Option<String>) {
    let mut words = text.split_whitespace();
    let code = words
        .next()
        .filter(|w| w.len() == 3)
        .and_then(|w| w.parse::<u16>().ok());
    let dsn = code.and(words.next()).filter(|w| {
        w.split('.').count() == 3
            && w.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    (code, dsn.map(str::to_string))
}

fn failure_codes(at: Ts, code: Option<u16>, dsn: Option<&str>, out: &mut dyn FnMut(Contribution)) {
    if let Some(c) = code {
        out(Contribution::count(at, Dim::SmtpCode, number(u32::from(c))));
    }
    if let Some(d) = dsn {
        out(Contribution::count(at, Dim::Dsn, d));
    }
}

fn reject(
    m: &Message,
    at: Ts,
    code: Option<u16>,
    dsn: Option<&str>,
    text: &str,
    key: &mut String,
    out: &mut dyn FnMut(Contribution),
) {
    out(Contribution::count(at, Dim::Rejected, ""));
    failure_codes(at, code, dsn, out);
    let class = classify(code, dsn, text);
    out(Contribution::count(
        at,
        Dim::RejectExample,
        pair(key, class.key(), text),
    ));
    let client = m
        .client_host
        .as_deref()
        .filter(|h| *h != "unknown")
        .or(m.client_ip.as_deref())
        .unwrap_or("none");
    out(Contribution::count(
        at,
        Dim::RejectReason,
        pair(key, client, &short_reason(text)),
    ));
}

/// The contributions of one message (see the crate documentation for the definitions).
pub fn contributions(m: &Message, out: &mut dyn FnMut(Contribution)) {
    // Scratch for composite keys.
    let mut key = String::new();
    let t = m.received_at;
    out(Contribution::count(t, Dim::Seen, ""));
    let size = m.size.unwrap_or(0);
    // Received: came in over SMTP (a client) or by local submission (pickup). A refusal
    // before a queue id (NOQUEUE) was never received.
    let received = m.queue_id.is_some() && (m.uid.is_some() || m.client_host.is_some());
    if received {
        out(Contribution::count(t, Dim::Received, "").bytes(size));
    }
    // Senders and sending domains: of received messages that reached the queue (pflogsumm
    // counts them at the queue manager's `from=<...>, size=N` line).
    if received && m.size.is_some() {
        let sender = match m.sender.as_deref() {
            Some("") => "<>".into(),
            Some(s) => lower(s),
            None => "(unknown)".into(),
        };
        let sdom = match m.sender.as_deref() {
            Some(s) if s.contains('@') => domain(s),
            _ => m.client_host.as_deref().unwrap_or("local").into(),
        };
        out(Contribution::count(t, Dim::Sender, sender).bytes(size));
        out(Contribution::count(t, Dim::SendingDomain, sdom).bytes(size));
        if let Some(h) = m.client_host.as_ref().filter(|h| *h != "local") {
            out(Contribution::count(t, Dim::SendingHost, lower(h)));
            out(Contribution::count(t, Dim::SmtpReceived, ""));
            if m.tls.is_some() {
                out(Contribution::count(t, Dim::TlsReceived, ""));
            }
        }
    }
    if m.open {
        out(Contribution::count(t, Dim::StillQueued, ""));
    }
    match m.status {
        Status::Held => out(Contribution::count(t, Dim::Held, "")),
        Status::Discarded => out(Contribution::count(t, Dim::Discarded, "")),
        _ => {}
    }
    let mut deferred = false;
    let mut rejected_recipients = 0;
    for r in &m.recipients {
        if r.status == Status::Expired {
            out(Contribution::count(t, Dim::Expired, ""));
        }
        if r.status == Status::Rejected && r.attempts.is_empty() {
            rejected_recipients += 1;
            let text = r.response.as_deref().or(m.reason.as_deref()).unwrap_or("");
            let at = r.last_attempt_at.unwrap_or(t);
            reject(m, at, r.smtp_code, r.dsn.as_deref(), text, &mut key, out);
        }
        for a in &r.attempts {
            let response = a.response.as_deref().unwrap_or("");
            match a.status {
                AttemptStatus::Sent
                    if memchr::memmem::find(response.as_bytes(), b"forwarded as ").is_some() =>
                {
                    out(Contribution::count(a.at, Dim::Forwarded, ""));
                }
                AttemptStatus::Sent => {
                    out(Contribution::count(a.at, Dim::Delivered, "").bytes(size));
                    if matches!(a.agent.as_str(), "smtp" | "lmtp") {
                        out(Contribution::count(a.at, Dim::NetworkDelivery, ""));
                        if a.tls.is_some() {
                            out(Contribution::count(a.at, Dim::TlsDelivery, ""));
                        }
                    }
                    let mut d =
                        Contribution::count(a.at, Dim::Destination, domain(&r.address)).bytes(size);
                    if let Some(delay) = a.delay_s {
                        d = d.delay(delay);
                        out(
                            Contribution::count(a.at, Dim::Delay, number(delay_bucket(delay)))
                                .delay(delay),
                        );
                        let class = crate::DELAY_BUCKETS
                            .iter()
                            .position(|b| delay <= *b)
                            .unwrap_or(crate::DELAY_BUCKETS.len());
                        out(Contribution::count(
                            a.at,
                            Dim::DelayClass,
                            number(class as u32),
                        ));
                    }
                    out(d);
                    out(Contribution::count(a.at, Dim::Recipient, lower(&r.address)).bytes(size));
                }
                AttemptStatus::Deferred => {
                    deferred = true;
                    out(Contribution::count(a.at, Dim::Deferral, ""));
                    let mut d =
                        Contribution::count(a.at, Dim::DestinationDeferral, domain(&r.address));
                    if let Some(delay) = a.delay_s {
                        d.max = delay;
                    }
                    out(d);
                    failure_codes(a.at, a.smtp_code, a.dsn.as_deref(), out);
                    out(Contribution::count(
                        a.at,
                        Dim::DeferralReason,
                        pair(
                            &mut key,
                            relay_host(a.relay.as_deref()),
                            &short_reason(response),
                        ),
                    ));
                }
                AttemptStatus::Bounced => {
                    out(Contribution::count(a.at, Dim::Bounced, ""));
                    failure_codes(a.at, a.smtp_code, a.dsn.as_deref(), out);
                    out(Contribution::count(
                        a.at,
                        Dim::BounceReason,
                        pair(
                            &mut key,
                            relay_host(a.relay.as_deref()),
                            &short_reason(response),
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
    if deferred {
        out(Contribution::count(t, Dim::DeferredMessage, ""));
    }
    if m.status == Status::Rejected && rejected_recipients == 0 {
        // Refused as a whole (a content check, or before any recipient).
        let text = m.reason.as_deref().unwrap_or("");
        let (code, dsn) = reply_codes(text);
        reject(m, t, code, dsn.as_deref(), text, &mut key, out);
    }
}

/// The contributions of a log line that belongs to no message: SASL failures (also counted as
/// warnings, as pflogsumm does), warnings, fatal errors, panics and `reject_warning`s.
pub fn line_contributions(line: &str, at: Ts, out: &mut dyn FnMut(Contribution)) {
    // After the syslog envelope (`... program[pid]: `).
    let Some(pos) = memchr::memchr_iter(b':', line.as_bytes())
        .find(|&i| line.as_bytes().get(i + 1) == Some(&b' '))
    else {
        return;
    };
    let body = &line[pos + 2..];
    if body.starts_with("535") && line.starts_with('[') {
        // SmarterMail's SMTP log: `[yyyy.MM.dd] HH:mm:ss [client ip][session] rsp: 535 ...`.
        let ip = line
            .get(22..)
            .and_then(|r| r.strip_prefix('['))
            .and_then(|r| r.split_once(']'))
            .map(|(ip, _)| ip);
        if let Some(ip) = ip {
            out(Contribution::count(at, Dim::Sasl, format!("unknown[{ip}]")));
        }
        return;
    }
    text_contributions(body, at, out);
}

/// [`line_contributions`] of what the program logged (the line after its syslog envelope).
pub fn text_contributions(body: &str, at: Ts, out: &mut dyn FnMut(Contribution)) {
    // Most lines are none of these: decide on the first byte.
    if !matches!(body.as_bytes().first(), Some(b'w' | b'f' | b'p' | b'N')) {
        return;
    }
    if let Some(rest) = body.strip_prefix("warning: ") {
        if rest.contains("SASL") && rest.contains("authentication failed") {
            let client = rest.split(':').next().unwrap_or("").trim().to_string();
            out(Contribution::count(at, Dim::Sasl, client));
        }
        out(Contribution::count(
            at,
            Dim::Warning,
            short_reason(&normalize(rest)).into_owned(),
        ));
    } else if let Some(rest) = body.strip_prefix("fatal: ") {
        out(Contribution::count(at, Dim::Fatal, short_reason(rest)));
    } else if let Some(rest) = body.strip_prefix("panic: ") {
        out(Contribution::count(at, Dim::Panic, short_reason(rest)));
    } else if body.contains("reject_warning: ") {
        out(Contribution::count(at, Dim::RejectWarning, ""));
    }
}

/// Warnings grouped by kind: numbers and addresses in brackets vary, their shape does not.
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_brackets = false;
    for c in s.chars() {
        match c {
            '[' => {
                in_brackets = true;
                out.push_str("[…");
            }
            ']' => {
                in_brackets = false;
                out.push(']');
            }
            _ if in_brackets => {}
            _ => out.push(c),
        }
    }
    out
}
