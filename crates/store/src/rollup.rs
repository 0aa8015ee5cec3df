//! Statistics kept at ingest, shared by the stores: the [`Contribution`]s of every message and
//! line, summed per hour, server and sender domain. A report over a time range, server and
//! sender domain then reads these sums instead of every message.
//!
//! A message written again (it was still queued) first takes back its old contributions. Times
//! are kept to the hour: a report from rollups counts whole hours at the ends of its range.

use crate::RawLines;
use jiff::tz::TimeZone;
use mailtrace_model::{Message, Ts};
use mailtrace_query::{AddressPattern, Filter};
use mailtrace_report::{contrib, Builder, Contribution, Dim, Report, Sum};
use std::collections::HashMap;

/// One hour in [`Ts`] units (microseconds), as rollups are keyed.
pub(crate) const HOUR: i64 = 3_600_000_000;

/// The dimensions counted over time (summed per hour when read back).
pub(crate) const TIMED: [Dim; 6] = [
    Dim::Received,
    Dim::Delivered,
    Dim::Deferral,
    Dim::Bounced,
    Dim::Rejected,
    Dim::Seen,
];

/// The dimensions of lines that belong to no message (they have no sender domain).
pub(crate) const LINES: [Dim; 5] = [
    Dim::Sasl,
    Dim::Warning,
    Dim::Fatal,
    Dim::Panic,
    Dim::RejectWarning,
];

/// `dims` as a comma-separated list of their numbers (for SQL `IN`).
pub(crate) fn dim_list(dims: &[Dim]) -> String {
    dims.iter()
        .map(|d| (*d as u8).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// One summed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key<'a> {
    pub hour: i64,
    pub server: &'a str,
    pub sdom: &'a str,
    pub dim: u8,
    pub key: &'a str,
}

/// Contributions of a batch, summed. The key (hour, server, sender domain, dimension, key) is
/// packed into bytes, so that adding to a known key allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Sums {
    map: HashMap<Vec<u8>, Sum>,
    buf: Vec<u8>,
}

fn put(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The parts of a packed key.
fn unpack(k: &[u8]) -> Option<Key<'_>> {
    let hour = i64::from_le_bytes(k.get(..8)?.try_into().ok()?);
    let dim = *k.get(8)?;
    let mut rest = &k[9..];
    let mut take = || -> Option<&str> {
        let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(rest.get(4..4 + n)?).ok()?;
        rest = &rest[4 + n..];
        Some(s)
    };
    let (server, sdom, key) = (take()?, take()?, take()?);
    Some(Key {
        hour,
        server,
        sdom,
        dim,
        key,
    })
}

impl Sums {
    fn add(&mut self, server: &str, sdom: &str, c: &Contribution<'_>, sign: i64) {
        self.buf.clear();
        self.buf
            .extend_from_slice(&(c.at.0.div_euclid(HOUR) * HOUR).to_le_bytes());
        self.buf.push(c.dim as u8);
        put(&mut self.buf, server);
        put(&mut self.buf, sdom);
        put(&mut self.buf, &c.key);
        let a = match self.map.get_mut(self.buf.as_slice()) {
            Some(a) => a,
            None => self.map.entry(self.buf.clone()).or_default(),
        };
        a.add(c, sign);
    }

    /// Add (`sign` 1) or take back (-1) a message's contributions.
    pub(crate) fn message(&mut self, m: &Message, sign: i64) {
        let sdom = m.sender_domain().unwrap_or_default();
        contrib::contributions(m, &mut |c| self.add(&m.server, &sdom, &c, sign));
    }

    /// Add the contributions of the lines read (those with a time).
    pub(crate) fn lines(&mut self, raw: &RawLines) {
        let Some(times) = raw.line_times() else {
            return;
        };
        let mut host = crate::LineHost::new();
        for (line, at) in raw.text.split(|b| *b == b'\n').zip(times) {
            let line = String::from_utf8_lossy(line);
            contrib::line_contributions(&line, *at, &mut |c| {
                let server = raw
                    .server
                    .clone()
                    .or_else(|| host.of(&line))
                    .unwrap_or_default();
                self.add(&server, "", &c, 1);
            });
        }
    }

    /// The sums that are not all zero (a message taken back and added the same).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key<'_>, &Sum)> {
        self.map
            .iter()
            .filter(|(_, a)| a.n != 0 || a.bytes != 0 || a.sum != 0.0 || a.max != 0.0)
            .filter_map(|(k, a)| Some((unpack(k)?, a)))
    }

    /// Keys summed.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// What a report from rollups selects: whole hours from `since`, before `until`, of a server
/// and a sender domain.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range {
    /// The hour of the filter's start (or `i64::MIN`).
    pub since: i64,
    /// The filter's end (or `i64::MAX`).
    pub until: i64,
    pub server: Option<String>,
    pub sdom: Option<String>,
}

impl Range {
    /// The range of `filter`, when it restricts nothing but time, server and sender domain
    /// (anything else is answered from the messages).
    pub(crate) fn of(filter: &Filter) -> Option<Range> {
        let only_rollup_criteria = Filter {
            since: None,
            until: None,
            server: None,
            from: None,
            ..filter.clone()
        } == Filter::default();
        let sdom = match &filter.from {
            None => None,
            Some(AddressPattern::Domain(d)) => Some(d.clone()),
            Some(_) => return None,
        };
        only_rollup_criteria.then(|| Range {
            since: filter
                .since
                .map_or(i64::MIN, |t| t.0.div_euclid(HOUR) * HOUR),
            until: filter.until.map_or(i64::MAX, |t| t.0),
            server: filter.server.clone(),
            sdom,
        })
    }
}

/// A report built from summed rows `(hour, dim, key, sum)`: the timed dimensions per hour, the
/// others over the whole range (their hour is ignored).
pub(crate) struct Reader {
    b: Builder,
}

impl Reader {
    pub(crate) fn new(tz: &TimeZone, top: usize) -> Reader {
        Reader {
            b: Builder::new(tz.clone(), top.max(1)),
        }
    }

    /// Add one summed row (rows of an unknown dimension are skipped).
    pub(crate) fn add(&mut self, hour: i64, dim: u8, key: &str, s: &Sum) {
        let Some(dim) = Dim::from_u8(dim) else {
            return;
        };
        self.b.add(&Contribution {
            at: Ts(hour),
            dim,
            key: key.into(),
            n: s.n,
            bytes: s.bytes,
            sum: s.sum,
            max: s.max,
        });
    }

    pub(crate) fn finish(self) -> Report {
        self.b.finish()
    }
}
