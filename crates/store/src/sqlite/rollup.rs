//! Statistics kept at ingest: the [`mailtrace_report::Contribution`]s of every message and
//! line, summed per hour, server and sender domain (`rollup`). A report over a time range,
//! server and sender domain then reads these sums instead of every message.
//!
//! A message written again (it was still queued) first takes back its old contributions. Times
//! are kept to the hour: a report from rollups counts whole hours at the ends of its range.

use crate::{RawLines, StoreError};
use jiff::tz::TimeZone;
use mailtrace_model::{Message, Ts};
use mailtrace_query::{AddressPattern, Filter};
use mailtrace_report::{contrib, Builder, Contribution, Dim, Report, Sum};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

const HOUR: i64 = 3_600_000_000;

/// The dimensions counted over time (summed per hour when read back).
const TIMED: [Dim; 6] = [
    Dim::Received,
    Dim::Delivered,
    Dim::Deferral,
    Dim::Bounced,
    Dim::Rejected,
    Dim::Seen,
];

/// The dimensions of lines that belong to no message (they have no sender domain).
const LINES: [Dim; 5] = [
    Dim::Sasl,
    Dim::Warning,
    Dim::Fatal,
    Dim::Panic,
    Dim::RejectWarning,
];

/// Contributions of a batch, summed. The key (hour, server, sender domain, dimension, key) is
/// packed into bytes, so that adding to a known key allocates nothing.
#[derive(Debug, Default)]
pub(super) struct Sums {
    map: HashMap<Vec<u8>, Sum>,
    buf: Vec<u8>,
}

fn put(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The parts of a packed key.
fn unpack(k: &[u8]) -> Option<(i64, &str, &str, u8, &str)> {
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
    Some((hour, server, sdom, dim, key))
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
    pub(super) fn message(&mut self, m: &Message, sign: i64) {
        let sdom = m.sender_domain().unwrap_or_default();
        contrib::contributions(m, &mut |c| self.add(&m.server, &sdom, &c, sign));
    }

    /// Add the contributions of the lines read (those with a time).
    pub(super) fn lines(&mut self, raw: &RawLines) {
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

    /// Add the sums to the `rollup` table (inside the write transaction).
    pub(super) fn write(&self, conn: &Connection) -> Result<(), StoreError> {
        let mut st = conn.prepare_cached(
            "INSERT INTO rollup (hour, server, sdom, dim, key, n, bytes, sum, max) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (hour, server, sdom, dim, key) DO UPDATE SET \
             n = n + excluded.n, bytes = bytes + excluded.bytes, sum = sum + excluded.sum, \
             max = max(max, excluded.max)",
        )?;
        for (k, a) in &self.map {
            if a.n == 0 && a.bytes == 0 && a.sum == 0.0 && a.max == 0.0 {
                continue;
            }
            let Some((hour, server, sdom, dim, key)) = unpack(k) else {
                continue;
            };
            st.execute(params![
                hour, server, sdom, dim, key, a.n, a.bytes, a.sum, a.max
            ])?;
        }
        Ok(())
    }
}

/// Whether the rollups cover every message (a store migrated with messages in it has none
/// for those).
fn complete(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT value FROM mailtrace_meta WHERE key = 'rollups'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .is_some_and(|v| v == "complete"))
}

/// The report of `filter` from the rollups, when it only restricts time, server and sender
/// domain and the rollups are complete; `None` otherwise.
pub(super) fn report(
    conn: &Connection,
    filter: &Filter,
    tz: &TimeZone,
    top: usize,
) -> Result<Option<Report>, StoreError> {
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
        Some(_) => return Ok(None),
    };
    if !only_rollup_criteria || !complete(conn)? {
        return Ok(None);
    }
    let since = filter
        .since
        .map_or(i64::MIN, |t| t.0.div_euclid(HOUR) * HOUR);
    let until = filter.until.map_or(i64::MAX, |t| t.0);
    let mut conds = String::from("hour >= ?1 AND hour < ?2");
    let mut args: Vec<rusqlite::types::Value> = vec![since.into(), until.into()];
    if let Some(s) = &filter.server {
        conds.push_str(&format!(" AND server = ?{}", args.len() + 1));
        args.push(s.clone().into());
    }
    if let Some(d) = &sdom {
        let lines: Vec<String> = LINES.iter().map(|d| (*d as u8).to_string()).collect();
        conds.push_str(&format!(
            " AND (sdom = ?{} OR dim IN ({}))",
            args.len() + 1,
            lines.join(",")
        ));
        args.push(d.clone().into());
    }
    let timed: Vec<String> = TIMED.iter().map(|d| (*d as u8).to_string()).collect();
    let timed = timed.join(",");
    let mut b = Builder::new(tz.clone(), top);
    let mut feed = |sql: &str| -> Result<(), StoreError> {
        let mut st = conn.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(r) = rows.next()? {
            let Some(dim) = Dim::from_u8(r.get::<_, u8>(1)?) else {
                continue;
            };
            let key: String = r.get(2)?;
            b.add(&Contribution {
                at: Ts(r.get(0)?),
                dim,
                key: key.into(),
                n: r.get(3)?,
                bytes: r.get(4)?,
                sum: r.get(5)?,
                max: r.get(6)?,
            });
        }
        Ok(())
    };
    feed(&format!(
        "SELECT hour, dim, key, sum(n), sum(bytes), sum(sum), max(max) FROM rollup \
         WHERE {conds} AND dim IN ({timed}) GROUP BY hour, dim, key"
    ))?;
    feed(&format!(
        "SELECT 0, dim, key, sum(n), sum(bytes), sum(sum), max(max) FROM rollup \
         WHERE {conds} AND dim NOT IN ({timed}) GROUP BY dim, key"
    ))?;
    Ok(Some(b.finish()))
}
