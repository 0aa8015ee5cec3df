//! Mail-flow statistics: the answers pflogsumm gives, computed from correlated messages.
//!
//! Stage: query (aggregation). A [`Builder`] takes messages (from a store's export, or straight
//! from the correlator when reading a log file) and the lines that belong to no message
//! (warnings, SASL failures), and [`Builder::finish`] makes a [`Report`]: grand totals, traffic
//! per month, day, hour, weekday and day of month, destination and sending domains, top senders
//! and recipients, deferral and bounce reasons, SMTP reply and enhanced codes, reject reasons in
//! a taxonomy ([`reject`]), SASL failures, warnings, and the delivery delay distribution.
//!
//! Definitions follow pflogsumm's where they exist, so that the numbers can be compared:
//! *received* counts messages that came in over SMTP or by `sendmail`/pickup; *delivered*,
//! *bounced* and *deferrals* count recipient delivery attempts with that outcome; *deferred*
//! counts messages with at least one deferral; *rejected* counts refusals (each refused
//! recipient, or the message when it was refused as a whole).

pub mod charts;
mod html;
pub mod reject;
mod text;

pub use html::render_html;
pub use reject::{classify, RejectClass};
pub use text::render_text;

use jiff::tz::TimeZone;
use mailtrace_model::{AttemptStatus, Message, Status, Ts};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Counters of one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Messages received.
    pub received: u64,
    /// Recipient deliveries.
    pub delivered: u64,
    /// Deferral attempts.
    pub deferred: u64,
    /// Bounced recipients.
    pub bounced: u64,
    /// Refusals.
    pub rejected: u64,
}

impl Traffic {
    fn add(&mut self, o: &Traffic) {
        self.received += o.received;
        self.delivered += o.delivered;
        self.deferred += o.deferred;
        self.bounced += o.bounced;
        self.rejected += o.rejected;
    }
}

/// Grand totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Messages received (over SMTP, or submitted locally).
    pub received: u64,
    /// Recipient deliveries (`status=sent`, not forwarded).
    pub delivered: u64,
    /// Deliveries that were forwarded (`forwarded as`).
    pub forwarded: u64,
    /// Messages with at least one deferral.
    pub deferred: u64,
    /// Deferral attempts.
    pub deferrals: u64,
    /// Bounced recipients (`status=bounced`).
    pub bounced: u64,
    /// Recipients that expired in the queue.
    pub expired: u64,
    /// Refusals: each refused recipient, or a message refused as a whole.
    pub rejected: u64,
    /// Share of refusals among delivered + rejected + discarded, percent.
    pub rejected_pct: f64,
    /// `reject_warning` (warn-only policy hits).
    pub reject_warnings: u64,
    /// Messages put on hold.
    pub held: u64,
    /// Messages discarded.
    pub discarded: u64,
    /// Bytes of received messages.
    pub bytes_received: u64,
    /// Bytes delivered (message size once per delivered recipient).
    pub bytes_delivered: u64,
    /// Distinct senders of received messages that reached the queue.
    pub senders: u64,
    /// Distinct sending domains (or client hosts when the sender has no domain).
    pub sending_domains: u64,
    /// Distinct sending client hosts.
    pub sending_hosts: u64,
    /// Distinct delivered recipients.
    pub recipients: u64,
    /// Distinct recipient domains delivered to.
    pub recipient_domains: u64,
    /// Messages still in the queue.
    pub still_queued: u64,
}

/// One row per period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodRow {
    /// The period (`2026-11`, `2026-11-24`, `Mon`, `13`, `00`).
    pub period: String,
    /// Its counters.
    #[serde(flatten)]
    pub traffic: Traffic,
}

/// A domain's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainRow {
    /// Domain.
    pub domain: String,
    /// Messages (deliveries for destinations, received messages for senders).
    pub messages: u64,
    /// Bytes.
    pub bytes: u64,
    /// Deferral attempts (destinations).
    pub deferred: u64,
    /// Average delivery delay, seconds (destinations).
    pub avg_delay_s: f64,
    /// Maximum delivery delay, seconds (destinations).
    pub max_delay_s: f64,
}

/// An address's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressRow {
    /// Address (`<>` for the null sender).
    pub address: String,
    /// Messages.
    pub messages: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A reason with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonRow {
    /// The next hop or client it concerns.
    pub host: String,
    /// The reason, shortened.
    pub reason: String,
    /// How often.
    pub count: u64,
}

/// A counted value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    /// Value.
    pub value: String,
    /// How often.
    pub count: u64,
}

/// One reject class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectRow {
    /// The class.
    pub class: RejectClass,
    /// Its label.
    pub label: &'static str,
    /// Refusals.
    pub count: u64,
    /// One of its reasons, as logged (the first in sort order).
    pub example: String,
}

/// Delivery delays (receipt to final delivery), seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delays {
    /// Delivered recipients with a delay.
    pub count: u64,
    /// Percentiles 50, 90, 95, 99 and the maximum.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
    /// Histogram: `(upper bound in seconds, count)`, the last bound is infinite (`null`).
    pub histogram: Vec<(Option<f64>, u64)>,
}

/// Upper bounds of the delay histogram, seconds.
pub const DELAY_BUCKETS: [f64; 9] = [
    1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0,
];

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Zone of the day/hour buckets.
    pub time_zone: String,
    /// First and last message time, RFC 3339.
    pub first: Option<String>,
    /// Last.
    pub last: Option<String>,
    /// Grand totals.
    pub totals: Totals,
    /// Per month (`YYYY-MM`).
    pub per_month: Vec<PeriodRow>,
    /// Per day (`YYYY-MM-DD`).
    pub per_day: Vec<PeriodRow>,
    /// Per hour of day (`00`..`23`), summed over the days.
    pub per_hour: Vec<PeriodRow>,
    /// Days covered (to average the hours).
    pub days: u64,
    /// Per weekday (`Mon`..`Sun`).
    pub per_weekday: Vec<PeriodRow>,
    /// Per day of month (`1`..`31`).
    pub per_day_of_month: Vec<PeriodRow>,
    /// Destination domains, most deliveries first.
    pub destination_domains: Vec<DomainRow>,
    /// Sending domains, most messages first.
    pub sending_domains: Vec<DomainRow>,
    /// Senders by messages.
    pub top_senders: Vec<AddressRow>,
    /// Senders by bytes.
    pub top_senders_by_size: Vec<AddressRow>,
    /// Recipients by deliveries.
    pub top_recipients: Vec<AddressRow>,
    /// Recipients by bytes.
    pub top_recipients_by_size: Vec<AddressRow>,
    /// Deferral reasons by next hop.
    pub deferral_reasons: Vec<ReasonRow>,
    /// Bounce reasons by next hop.
    pub bounce_reasons: Vec<ReasonRow>,
    /// SMTP reply codes of failures (deferrals, bounces, refusals).
    pub smtp_codes: Vec<Counted>,
    /// Enhanced status codes of failures.
    pub enhanced_codes: Vec<Counted>,
    /// Refusals by class, with an example.
    pub reject_classes: Vec<RejectRow>,
    /// Refusal reasons by client.
    pub reject_reasons: Vec<ReasonRow>,
    /// SASL authentication failures by client.
    pub sasl_failures: Vec<Counted>,
    /// Received messages that came over TLS, percent of those received over SMTP.
    pub tls_received_pct: Option<f64>,
    /// Warnings by text.
    pub warnings: Vec<Counted>,
    /// Fatal errors.
    pub fatal: Vec<Counted>,
    /// Panics.
    pub panics: Vec<Counted>,
    /// Delivery delays.
    pub delays: Delays,
}

#[derive(Default)]
struct DomainAcc {
    messages: u64,
    bytes: u64,
    deferred: u64,
    delay_sum: f64,
    delay_max: f64,
}

#[derive(Default)]
struct AddrAcc {
    messages: u64,
    bytes: u64,
}

/// Collects messages and lines into a [`Report`].
pub struct Builder {
    tz: TimeZone,
    top: usize,
    totals: Totals,
    first: Option<Ts>,
    last: Option<Ts>,
    per_day: BTreeMap<(i16, i8, i8), Traffic>,
    per_hour: [Traffic; 24],
    dest: HashMap<String, DomainAcc>,
    sending: HashMap<String, DomainAcc>,
    senders: HashMap<String, AddrAcc>,
    recipients: HashMap<String, AddrAcc>,
    hosts: HashSet<String>,
    deferrals: HashMap<(String, String), u64>,
    bounces: HashMap<(String, String), u64>,
    codes: HashMap<u16, u64>,
    dsns: HashMap<String, u64>,
    classes: HashMap<RejectClass, (u64, String)>,
    rejects: HashMap<(String, String), u64>,
    sasl: HashMap<String, u64>,
    warnings: HashMap<String, u64>,
    fatal: HashMap<String, u64>,
    panics: HashMap<String, u64>,
    tls_received: u64,
    smtp_received: u64,
    delays: Vec<f64>,
}

/// A reason shortened the way pflogsumm does: the remote reply without the host prefix, at
/// most 80 characters.
fn short_reason(text: &str) -> String {
    let t = text.trim();
    let t = t
        .split_once(" said: ")
        .map_or(t, |(_, r)| r)
        .trim_end_matches(')');
    let t = t.split(" (in reply to ").next().unwrap_or(t);
    let mut s: String = t.chars().take(80).collect();
    if t.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// The host part of a relay (`mx.example.org[192.0.2.1]:25` → `mx.example.org`).
fn relay_host(relay: Option<&str>) -> String {
    relay
        .map(|r| r.split('[').next().unwrap_or(r).to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "none".into())
}

fn domain(address: &str) -> String {
    mailtrace_model::domain_of(address).unwrap_or_else(|| address.to_ascii_lowercase())
}

impl Builder {
    /// A builder bucketing days and hours in `tz`, keeping `top` rows of each ranking.
    pub fn new(tz: TimeZone, top: usize) -> Builder {
        Builder {
            tz,
            top,
            totals: Totals::default(),
            first: None,
            last: None,
            per_day: BTreeMap::new(),
            per_hour: [Traffic::default(); 24],
            dest: HashMap::new(),
            sending: HashMap::new(),
            senders: HashMap::new(),
            recipients: HashMap::new(),
            hosts: HashSet::new(),
            deferrals: HashMap::new(),
            bounces: HashMap::new(),
            codes: HashMap::new(),
            dsns: HashMap::new(),
            classes: HashMap::new(),
            rejects: HashMap::new(),
            sasl: HashMap::new(),
            warnings: HashMap::new(),
            fatal: HashMap::new(),
            panics: HashMap::new(),
            tls_received: 0,
            smtp_received: 0,
            delays: Vec::new(),
        }
    }

    fn bucket(&mut self, at: Ts, f: impl Fn(&mut Traffic)) {
        let z = at.to_jiff().to_zoned(self.tz.clone());
        f(self
            .per_day
            .entry((z.year(), z.month(), z.day()))
            .or_default());
        f(&mut self.per_hour[z.hour() as usize]);
    }

    fn seen(&mut self, at: Ts) {
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    fn failure_codes(&mut self, code: Option<u16>, dsn: Option<&str>) {
        if let Some(c) = code {
            *self.codes.entry(c).or_default() += 1;
        }
        if let Some(d) = dsn {
            *self.dsns.entry(d.to_string()).or_default() += 1;
        }
    }

    fn reject(&mut self, m: &Message, at: Ts, code: Option<u16>, dsn: Option<&str>, text: &str) {
        self.totals.rejected += 1;
        self.bucket(at, |t| t.rejected += 1);
        self.failure_codes(code, dsn);
        let class = classify(code, dsn, text);
        let e = self.classes.entry(class).or_insert((0, String::new()));
        e.0 += 1;
        // The same example whatever the order messages come in.
        if e.1.is_empty() || text < e.1.as_str() {
            e.1 = text.to_string();
        }
        let client = m
            .client_host
            .clone()
            .filter(|h| h != "unknown")
            .or_else(|| m.client_ip.clone())
            .unwrap_or_else(|| "none".into());
        *self
            .rejects
            .entry((client, short_reason(text)))
            .or_default() += 1;
    }

    /// Count one message (as a store or the correlator gives it).
    pub fn add_message(&mut self, m: &Message) {
        self.seen(m.received_at);
        let size = m.size.unwrap_or(0);
        // Received: came in over SMTP (a client) or by local submission (pickup).
        // (A refusal before a queue id, `NOQUEUE`, was never received.)
        let received = m.queue_id.is_some() && (m.uid.is_some() || m.client_host.is_some());
        if received {
            self.totals.received += 1;
            self.totals.bytes_received += size;
            self.bucket(m.received_at, |t| t.received += 1);
        }
        // Senders and sending domains: of received messages that reached the queue (pflogsumm
        // counts them at the queue manager's `from=<...>, size=N` line).
        if received && m.size.is_some() {
            let sender = match m.sender.as_deref() {
                Some("") => "<>".to_string(),
                Some(s) => s.to_ascii_lowercase(),
                None => "(unknown)".to_string(),
            };
            let sdom = match m.sender.as_deref() {
                Some(s) if s.contains('@') => domain(s),
                _ => m.client_host.clone().unwrap_or_else(|| "local".into()),
            };
            let a = self.senders.entry(sender).or_default();
            a.messages += 1;
            a.bytes += size;
            let d = self.sending.entry(sdom).or_default();
            d.messages += 1;
            d.bytes += size;
            if let Some(h) = m.client_host.as_ref().filter(|h| *h != "local") {
                self.hosts.insert(h.to_ascii_lowercase());
                self.smtp_received += 1;
                if m.tls.is_some() {
                    self.tls_received += 1;
                }
            }
        }
        if m.open {
            self.totals.still_queued += 1;
        }
        match m.status {
            Status::Held => self.totals.held += 1,
            Status::Discarded => self.totals.discarded += 1,
            _ => {}
        }
        let mut deferred_here = false;
        let mut rejected_recipients = 0;
        for r in &m.recipients {
            if r.status == Status::Expired {
                self.totals.expired += 1;
            }
            if r.status == Status::Rejected && r.attempts.is_empty() {
                rejected_recipients += 1;
                let text = r.response.as_deref().or(m.reason.as_deref()).unwrap_or("");
                let at = r.last_attempt_at.unwrap_or(m.received_at);
                self.reject(m, at, r.smtp_code, r.dsn.as_deref(), text);
            }
            for a in &r.attempts {
                self.seen(a.at);
                let response = a.response.as_deref().unwrap_or("");
                let host = relay_host(a.relay.as_deref());
                match a.status {
                    AttemptStatus::Sent if response.contains("forwarded as ") => {
                        self.totals.forwarded += 1;
                    }
                    AttemptStatus::Sent => {
                        self.totals.delivered += 1;
                        self.totals.bytes_delivered += size;
                        self.bucket(a.at, |t| t.delivered += 1);
                        let d = self.dest.entry(domain(&r.address)).or_default();
                        d.messages += 1;
                        d.bytes += size;
                        if let Some(delay) = a.delay_s {
                            d.delay_sum += delay;
                            d.delay_max = d.delay_max.max(delay);
                            self.delays.push(delay);
                        }
                        let u = self
                            .recipients
                            .entry(r.address.to_ascii_lowercase())
                            .or_default();
                        u.messages += 1;
                        u.bytes += size;
                    }
                    AttemptStatus::Deferred => {
                        self.totals.deferrals += 1;
                        deferred_here = true;
                        self.bucket(a.at, |t| t.deferred += 1);
                        let d = self.dest.entry(domain(&r.address)).or_default();
                        d.deferred += 1;
                        if let Some(delay) = a.delay_s {
                            d.delay_max = d.delay_max.max(delay);
                        }
                        self.failure_codes(a.smtp_code, a.dsn.as_deref());
                        *self
                            .deferrals
                            .entry((host, short_reason(response)))
                            .or_default() += 1;
                    }
                    AttemptStatus::Bounced => {
                        self.totals.bounced += 1;
                        self.bucket(a.at, |t| t.bounced += 1);
                        self.failure_codes(a.smtp_code, a.dsn.as_deref());
                        *self
                            .bounces
                            .entry((host, short_reason(response)))
                            .or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        if deferred_here {
            self.totals.deferred += 1;
        }
        if m.status == Status::Rejected && rejected_recipients == 0 {
            // Refused as a whole (a content check, or before any recipient).
            let text = m.reason.as_deref().unwrap_or("");
            let (code, dsn) = reply_codes(text);
            self.reject(m, m.received_at, code, dsn.as_deref(), text);
        }
    }

    /// Count a line that belongs to no message: SASL failures, warnings, fatal errors, panics
    /// and `reject_warning`s are recognised from its text.
    pub fn add_line(&mut self, line: &str) {
        let Some(pos) = line.find(": ") else { return };
        let body = &line[pos + 2..];
        // Most lines are none of these: decide on the first byte.
        if !matches!(body.as_bytes().first(), Some(b'w' | b'f' | b'p' | b'N')) {
            return;
        }
        if let Some(rest) = body.strip_prefix("warning: ") {
            if rest.contains("SASL") && rest.contains("authentication failed") {
                let client = rest.split(':').next().unwrap_or("").trim().to_string();
                *self.sasl.entry(client).or_default() += 1;
            }
            *self
                .warnings
                .entry(short_reason(&normalize(rest)))
                .or_default() += 1;
        } else if let Some(rest) = body.strip_prefix("fatal: ") {
            *self.fatal.entry(short_reason(rest)).or_default() += 1;
        } else if let Some(rest) = body.strip_prefix("panic: ") {
            *self.panics.entry(short_reason(rest)).or_default() += 1;
        } else if body.contains("reject_warning: ") {
            self.totals.reject_warnings += 1;
        }
    }

    /// The report.
    pub fn finish(self) -> Report {
        let top = self.top;
        let b = self;
        let row = |period: String, traffic: Traffic| PeriodRow { period, traffic };
        let mut per_month: BTreeMap<String, Traffic> = BTreeMap::new();
        let mut weekday = [Traffic::default(); 7];
        let mut dom = [Traffic::default(); 31];
        for (&(y, m, d), t) in &b.per_day {
            per_month
                .entry(format!("{y:04}-{m:02}"))
                .or_default()
                .add(t);
            if let Ok(date) = jiff::civil::Date::new(y, m, d) {
                weekday[date.weekday().to_monday_zero_offset() as usize].add(t);
            }
            dom[(d - 1) as usize].add(t);
        }
        let mut totals = b.totals.clone();
        let base = totals.delivered + totals.rejected + totals.discarded;
        totals.rejected_pct = if base == 0 {
            0.0
        } else {
            (totals.rejected as f64 * 1000.0 / base as f64).round() / 10.0
        };
        totals.senders = b.senders.len() as u64;
        totals.sending_domains = b.sending.len() as u64;
        totals.sending_hosts = b.hosts.len() as u64;
        totals.recipients = b.recipients.len() as u64;
        totals.recipient_domains = b.dest.values().filter(|d| d.messages > 0).count() as u64;
        let domains = |m: HashMap<String, DomainAcc>| {
            let mut v: Vec<DomainRow> = m
                .into_iter()
                .map(|(domain, d)| DomainRow {
                    domain,
                    messages: d.messages,
                    bytes: d.bytes,
                    deferred: d.deferred,
                    avg_delay_s: if d.messages == 0 {
                        0.0
                    } else {
                        d.delay_sum / d.messages as f64
                    },
                    max_delay_s: d.delay_max,
                })
                .collect();
            v.sort_by(|a, b| {
                (b.messages, b.deferred)
                    .cmp(&(a.messages, a.deferred))
                    .then_with(|| a.domain.cmp(&b.domain))
            });
            v.truncate(top);
            v
        };
        let addresses = |m: &HashMap<String, AddrAcc>, by_size: bool| {
            let mut v: Vec<AddressRow> = m
                .iter()
                .map(|(a, x)| AddressRow {
                    address: a.clone(),
                    messages: x.messages,
                    bytes: x.bytes,
                })
                .collect();
            v.sort_by(|a, b| {
                let k = |r: &AddressRow| {
                    if by_size {
                        (r.bytes, r.messages)
                    } else {
                        (r.messages, r.bytes)
                    }
                };
                k(b).cmp(&k(a)).then_with(|| a.address.cmp(&b.address))
            });
            v.truncate(top);
            v
        };
        let reasons = |m: HashMap<(String, String), u64>| {
            let mut v: Vec<ReasonRow> = m
                .into_iter()
                .map(|((host, reason), count)| ReasonRow {
                    host,
                    reason,
                    count,
                })
                .collect();
            v.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| (&a.host, &a.reason).cmp(&(&b.host, &b.reason)))
            });
            v.truncate(top);
            v
        };
        let counted = |m: HashMap<String, u64>| {
            let mut v: Vec<Counted> = m
                .into_iter()
                .map(|(value, count)| Counted { value, count })
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            v.truncate(top);
            v
        };
        let mut classes: Vec<RejectRow> = b
            .classes
            .into_iter()
            .map(|(class, (count, example))| RejectRow {
                class,
                label: class.label(),
                count,
                example,
            })
            .collect();
        classes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.class.cmp(&b.class)));
        let mut delays = b.delays;
        delays.sort_by(f64::total_cmp);
        let pct = |q: f64| -> f64 {
            if delays.is_empty() {
                0.0
            } else {
                delays[((delays.len() - 1) as f64 * q).round() as usize]
            }
        };
        let mut histogram: Vec<(Option<f64>, u64)> =
            DELAY_BUCKETS.iter().map(|b| (Some(*b), 0)).collect();
        histogram.push((None, 0));
        for d in &delays {
            let i = DELAY_BUCKETS
                .iter()
                .position(|b| d <= b)
                .unwrap_or(DELAY_BUCKETS.len());
            histogram[i].1 += 1;
        }
        let ts = |t: Option<Ts>| t.map(Ts::to_rfc3339);
        Report {
            time_zone: b.tz.iana_name().unwrap_or("UTC").to_string(),
            first: ts(b.first),
            last: ts(b.last),
            totals,
            per_month: per_month.into_iter().map(|(k, t)| row(k, t)).collect(),
            per_day: b
                .per_day
                .iter()
                .map(|(&(y, m, d), t)| row(format!("{y:04}-{m:02}-{d:02}"), *t))
                .collect(),
            per_hour: b
                .per_hour
                .iter()
                .enumerate()
                .map(|(h, t)| row(format!("{h:02}"), *t))
                .collect(),
            days: b.per_day.len() as u64,
            per_weekday: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
                .iter()
                .zip(weekday)
                .map(|(d, t)| row(d.to_string(), t))
                .collect(),
            per_day_of_month: dom
                .iter()
                .enumerate()
                .map(|(d, t)| row((d + 1).to_string(), *t))
                .collect(),
            destination_domains: domains(b.dest),
            sending_domains: domains(b.sending),
            top_senders: addresses(&b.senders, false),
            top_senders_by_size: addresses(&b.senders, true),
            top_recipients: addresses(&b.recipients, false),
            top_recipients_by_size: addresses(&b.recipients, true),
            deferral_reasons: reasons(b.deferrals),
            bounce_reasons: reasons(b.bounces),
            smtp_codes: counted(
                b.codes
                    .into_iter()
                    .map(|(c, n)| (c.to_string(), n))
                    .collect(),
            ),
            enhanced_codes: counted(b.dsns),
            reject_classes: classes,
            reject_reasons: reasons(b.rejects),
            sasl_failures: counted(b.sasl),
            tls_received_pct: (b.smtp_received > 0)
                .then(|| (b.tls_received as f64 * 1000.0 / b.smtp_received as f64).round() / 10.0),
            warnings: counted(b.warnings),
            fatal: counted(b.fatal),
            panics: counted(b.panics),
            delays: Delays {
                count: delays.len() as u64,
                p50: pct(0.5),
                p90: pct(0.9),
                p95: pct(0.95),
                p99: pct(0.99),
                max: delays.last().copied().unwrap_or(0.0),
                histogram,
            },
        }
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

#[cfg(test)]
mod tests;
