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
pub mod contrib;
mod html;
pub mod reject;
mod text;

pub use contrib::{Contribution, Dim, Sum};
pub use html::render_html;
pub use reject::{classify, RejectClass};
pub use text::render_text;

use jiff::tz::TimeZone;
use mailtrace_model::{Message, Ts};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

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
    /// Deliveries over SMTP/LMTP on a TLS connection, percent of those deliveries.
    pub tls_delivered_pct: Option<f64>,
    /// Warnings by text.
    pub warnings: Vec<Counted>,
    /// Fatal errors.
    pub fatal: Vec<Counted>,
    /// Panics.
    pub panics: Vec<Counted>,
    /// Delivery delays.
    pub delays: Delays,
}

/// Collects messages and lines (or their summed [`Contribution`]s) into a [`Report`].
pub struct Builder {
    tz: TimeZone,
    top: usize,
    first: Option<Ts>,
    last: Option<Ts>,
    /// Plain counters, by [`Dim`].
    counters: [Sum; Dim::ALL.len()],
    /// Keyed sums, by [`Dim`] (keys come from logs: a seeded fast hash).
    keyed: [ahash::AHashMap<String, Sum>; Dim::ALL.len()],
    per_day: BTreeMap<(i16, i8, i8), Traffic>,
    per_hour: [Traffic; 24],
    /// The day and hour in `tz` of the last quarter hour looked up (every zone's offset is a
    /// multiple of 15 minutes, and contributions come mostly in time order).
    quarter: Option<(i64, (i16, i8, i8), usize)>,
}

impl Builder {
    /// A builder bucketing days and hours in `tz`, keeping `top` rows of each ranking.
    pub fn new(tz: TimeZone, top: usize) -> Builder {
        Builder {
            tz,
            top,
            first: None,
            last: None,
            counters: [Sum::default(); Dim::ALL.len()],
            keyed: std::array::from_fn(|_| ahash::AHashMap::new()),
            per_day: BTreeMap::new(),
            per_hour: [Traffic::default(); 24],
            quarter: None,
        }
    }

    /// Count one message (as a store or the correlator gives it).
    pub fn add_message(&mut self, m: &Message) {
        contrib::contributions(m, &mut |c| self.add(&c));
    }

    /// Count a line that belongs to no message: SASL failures, warnings, fatal errors, panics
    /// and `reject_warning`s are recognised from its text.
    pub fn add_line(&mut self, line: &str) {
        contrib::line_contributions(line, Ts(0), &mut |c| self.add(&c));
    }

    /// [`Builder::add_line`] for a line whose syslog envelope is already taken off: `text` is
    /// what the program logged.
    pub fn add_text(&mut self, text: &str) {
        contrib::text_contributions(text, Ts(0), &mut |c| self.add(&c));
    }

    /// Add a contribution (or a sum of them: a store's rollup).
    pub fn add(&mut self, c: &Contribution<'_>) {
        let traffic: Option<fn(&mut Traffic, u64)> = match c.dim {
            Dim::Received => Some(|t, n| t.received += n),
            Dim::Delivered => Some(|t, n| t.delivered += n),
            Dim::Deferral => Some(|t, n| t.deferred += n),
            Dim::Bounced => Some(|t, n| t.bounced += n),
            Dim::Rejected => Some(|t, n| t.rejected += n),
            _ => None,
        };
        let n = u64::try_from(c.n).unwrap_or(0);
        if let Some(f) = traffic.filter(|_| n > 0) {
            let (day, hour) = self.day_hour(c.at);
            f(self.per_day.entry(day).or_default(), n);
            f(&mut self.per_hour[hour], n);
        }
        if c.dim == Dim::Seen && c.n > 0 {
            self.first = Some(self.first.map_or(c.at, |f| f.min(c.at)));
            self.last = Some(self.last.map_or(c.at, |l| l.max(c.at)));
        }
        let d = c.dim as usize;
        if c.key.is_empty() {
            self.counters[d].add(c, 1);
        } else if let Some(acc) = self.keyed[d].get_mut(c.key.as_ref()) {
            acc.add(c, 1);
        } else {
            self.keyed[d]
                .entry(c.key.to_string())
                .or_default()
                .add(c, 1);
        }
    }

    /// Add what another builder (of the same zone) collected: contributions are additive, so
    /// parts of the input may be counted apart, on different threads.
    pub fn merge(&mut self, other: Builder) {
        for (acc, o) in self.counters.iter_mut().zip(&other.counters) {
            acc.merge(o);
        }
        for (mine, theirs) in self.keyed.iter_mut().zip(other.keyed) {
            for (k, o) in theirs {
                mine.entry(k).or_default().merge(&o);
            }
        }
        for (day, t) in other.per_day {
            self.per_day.entry(day).or_default().add(&t);
        }
        for (h, t) in self.per_hour.iter_mut().zip(&other.per_hour) {
            h.add(t);
        }
        self.first = self.first.into_iter().chain(other.first).min();
        self.last = self.last.into_iter().chain(other.last).max();
    }

    /// The day and hour of `at` in the report's zone.
    fn day_hour(&mut self, at: Ts) -> ((i16, i8, i8), usize) {
        let q = at.0.div_euclid(900_000_000);
        if let Some((_, day, hour)) = self.quarter.filter(|c| c.0 == q) {
            return (day, hour);
        }
        let z = at.to_jiff().to_zoned(self.tz.clone());
        let (day, hour) = ((z.year(), z.month(), z.day()), z.hour() as usize);
        self.quarter = Some((q, day, hour));
        (day, hour)
    }

    fn count(&self, d: Dim) -> u64 {
        u64::try_from(self.counters[d as usize].n).unwrap_or(0)
    }

    fn bytes(&self, d: Dim) -> u64 {
        u64::try_from(self.counters[d as usize].bytes).unwrap_or(0)
    }

    /// The keys of `d` that count, with their sums.
    fn of(&self, d: Dim) -> impl Iterator<Item = (&str, &Sum)> {
        self.keyed[d as usize]
            .iter()
            .filter(|(_, a)| a.n > 0)
            .map(|(k, a)| (k.as_str(), a))
    }

    /// The report.
    pub fn finish(self) -> Report {
        let top = self.top;
        let b = &self;
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
        let c = |d: Dim| b.count(d);
        let distinct = |d: Dim| b.of(d).count() as u64;
        let mut totals = Totals {
            received: c(Dim::Received),
            delivered: c(Dim::Delivered),
            forwarded: c(Dim::Forwarded),
            deferred: c(Dim::DeferredMessage),
            deferrals: c(Dim::Deferral),
            bounced: c(Dim::Bounced),
            expired: c(Dim::Expired),
            rejected: c(Dim::Rejected),
            rejected_pct: 0.0,
            reject_warnings: c(Dim::RejectWarning),
            held: c(Dim::Held),
            discarded: c(Dim::Discarded),
            bytes_received: b.bytes(Dim::Received),
            bytes_delivered: b.bytes(Dim::Delivered),
            senders: distinct(Dim::Sender),
            sending_domains: distinct(Dim::SendingDomain),
            sending_hosts: distinct(Dim::SendingHost),
            recipients: distinct(Dim::Recipient),
            recipient_domains: distinct(Dim::Destination),
            still_queued: c(Dim::StillQueued),
        };
        let base = totals.delivered + totals.rejected + totals.discarded;
        totals.rejected_pct = if base == 0 {
            0.0
        } else {
            (totals.rejected as f64 * 1000.0 / base as f64).round() / 10.0
        };
        let un = |v: i64| u64::try_from(v).unwrap_or(0);
        // Destinations: deliveries, and deferrals (also of domains without a delivery).
        let mut dests: HashMap<&str, DomainRow> = HashMap::new();
        for (k, a) in b.of(Dim::Destination) {
            let d = dests.entry(k).or_insert_with(|| DomainRow::named(k));
            d.messages = un(a.n);
            d.bytes = un(a.bytes);
            // To the millisecond: sums taken in another order differ in the last bits.
            d.avg_delay_s = if a.n > 0 {
                (a.sum / a.n as f64 * 1000.0).round() / 1000.0
            } else {
                0.0
            };
            d.max_delay_s = d.max_delay_s.max(a.max);
        }
        for (k, a) in b.of(Dim::DestinationDeferral) {
            let d = dests.entry(k).or_insert_with(|| DomainRow::named(k));
            d.deferred = un(a.n);
            d.max_delay_s = d.max_delay_s.max(a.max);
        }
        let rank_domains = |mut v: Vec<DomainRow>| {
            v.sort_by(|a, b| {
                (b.messages, b.deferred)
                    .cmp(&(a.messages, a.deferred))
                    .then_with(|| a.domain.cmp(&b.domain))
            });
            v.truncate(top);
            v
        };
        let sending: Vec<DomainRow> = b
            .of(Dim::SendingDomain)
            .map(|(k, a)| DomainRow {
                messages: un(a.n),
                bytes: un(a.bytes),
                ..DomainRow::named(k)
            })
            .collect();
        let addresses = |d: Dim, by_size: bool| {
            let mut v: Vec<AddressRow> = b
                .of(d)
                .map(|(k, a)| AddressRow {
                    address: k.to_string(),
                    messages: un(a.n),
                    bytes: un(a.bytes),
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
        let reasons = |d: Dim| {
            let mut v: Vec<ReasonRow> = b
                .of(d)
                .map(|(k, a)| {
                    let (host, reason) = k.split_once('\t').unwrap_or(("", k));
                    ReasonRow {
                        host: host.to_string(),
                        reason: reason.to_string(),
                        count: un(a.n),
                    }
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
        let counted = |d: Dim| {
            let mut v: Vec<Counted> = b
                .of(d)
                .map(|(k, a)| Counted {
                    value: k.to_string(),
                    count: un(a.n),
                })
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            v.truncate(top);
            v
        };
        // Reject classes, each with the first of its reasons in sort order as the example.
        let mut classes: HashMap<RejectClass, (u64, &str)> = HashMap::new();
        for (k, a) in b.of(Dim::RejectExample) {
            let (class, text) = k.split_once('\t').unwrap_or((k, ""));
            let Some(class) = RejectClass::from_key(class) else {
                continue;
            };
            let e = classes.entry(class).or_insert((0, text));
            e.0 += un(a.n);
            if text < e.1 {
                e.1 = text;
            }
        }
        let mut classes: Vec<RejectRow> = classes
            .into_iter()
            .map(|(class, (count, example))| RejectRow {
                class,
                label: class.label(),
                count,
                example: example.to_string(),
            })
            .collect();
        classes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.class.cmp(&b.class)));
        // Delays: percentiles from the 5% buckets (the maximum exact), the histogram exact.
        let mut fine: Vec<(u32, &Sum)> = b
            .of(Dim::Delay)
            .filter_map(|(k, a)| Some((k.parse().ok()?, a)))
            .collect();
        fine.sort_by_key(|(k, _)| *k);
        let count: u64 = fine.iter().map(|(_, a)| un(a.n)).sum();
        let max = fine.iter().map(|(_, a)| a.max).fold(0.0, f64::max);
        let pct = |q: f64| -> f64 {
            if count == 0 {
                return 0.0;
            }
            let rank = ((count - 1) as f64 * q).round() as u64 + 1;
            let mut seen = 0;
            for (k, a) in &fine {
                seen += un(a.n);
                if seen >= rank {
                    return contrib::delay_bucket_bound(*k).min(max);
                }
            }
            max
        };
        let mut histogram: Vec<(Option<f64>, u64)> =
            DELAY_BUCKETS.iter().map(|b| (Some(*b), 0)).collect();
        histogram.push((None, 0));
        for (k, a) in b.of(Dim::DelayClass) {
            if let Some(h) = k.parse::<usize>().ok().and_then(|i| histogram.get_mut(i)) {
                h.1 += un(a.n);
            }
        }
        let smtp = c(Dim::SmtpReceived);
        let ts = |t: Option<Ts>| t.map(Ts::to_rfc3339);
        let mut destination_domains: Vec<DomainRow> = dests.into_values().collect();
        destination_domains = rank_domains(destination_domains);
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
            destination_domains,
            sending_domains: rank_domains(sending),
            top_senders: addresses(Dim::Sender, false),
            top_senders_by_size: addresses(Dim::Sender, true),
            top_recipients: addresses(Dim::Recipient, false),
            top_recipients_by_size: addresses(Dim::Recipient, true),
            deferral_reasons: reasons(Dim::DeferralReason),
            bounce_reasons: reasons(Dim::BounceReason),
            smtp_codes: counted(Dim::SmtpCode),
            enhanced_codes: counted(Dim::Dsn),
            reject_classes: classes,
            reject_reasons: reasons(Dim::RejectReason),
            sasl_failures: counted(Dim::Sasl),
            tls_received_pct: (smtp > 0)
                .then(|| (c(Dim::TlsReceived) as f64 * 1000.0 / smtp as f64).round() / 10.0),
            tls_delivered_pct: (c(Dim::NetworkDelivery) > 0).then(|| {
                (c(Dim::TlsDelivery) as f64 * 1000.0 / c(Dim::NetworkDelivery) as f64).round()
                    / 10.0
            }),
            warnings: counted(Dim::Warning),
            fatal: counted(Dim::Fatal),
            panics: counted(Dim::Panic),
            delays: Delays {
                count,
                p50: pct(0.5),
                p90: pct(0.9),
                p95: pct(0.95),
                p99: pct(0.99),
                max,
                histogram,
            },
        }
    }
}

impl DomainRow {
    fn named(domain: &str) -> DomainRow {
        DomainRow {
            domain: domain.to_string(),
            messages: 0,
            bytes: 0,
            deferred: 0,
            avg_delay_s: 0.0,
            max_delay_s: 0.0,
        }
    }
}

#[cfg(test)]
mod tests;
