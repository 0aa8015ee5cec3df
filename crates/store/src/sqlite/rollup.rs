//! The embedded store's statistics kept at ingest (`crate::rollup`): the sums of a commit added
//! to the `rollup` table per (hour, server, sender domain, dimension, key).

use crate::rollup::{dim_list, Range, Reader, Sums, LINES, TIMED};
use crate::StoreError;
use jiff::tz::TimeZone;
use mailtrace_query::Filter;
use mailtrace_report::{Report, Sum};
use rusqlite::{params, Connection, OptionalExtension};

/// Add the sums to the `rollup` table (inside the write transaction).
pub(super) fn write(sums: &Sums, conn: &Connection) -> Result<(), StoreError> {
    let mut st = conn.prepare_cached(
        "INSERT INTO rollup (hour, server, sdom, dim, key, n, bytes, sum, max) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (hour, server, sdom, dim, key) DO UPDATE SET \
         n = n + excluded.n, bytes = bytes + excluded.bytes, sum = sum + excluded.sum, \
         max = max(max, excluded.max)",
    )?;
    for (k, a) in sums.iter() {
        st.execute(params![
            k.hour, k.server, k.sdom, k.dim, k.key, a.n, a.bytes, a.sum, a.max
        ])?;
    }
    Ok(())
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
    let Some(range) = Range::of(filter) else {
        return Ok(None);
    };
    if !complete(conn)? {
        return Ok(None);
    }
    let mut conds = String::from("hour >= ?1 AND hour < ?2");
    let mut args: Vec<rusqlite::types::Value> = vec![range.since.into(), range.until.into()];
    if let Some(s) = &range.server {
        conds.push_str(&format!(" AND server = ?{}", args.len() + 1));
        args.push(s.clone().into());
    }
    if let Some(d) = &range.sdom {
        conds.push_str(&format!(
            " AND (sdom = ?{} OR dim IN ({}))",
            args.len() + 1,
            dim_list(&LINES)
        ));
        args.push(d.clone().into());
    }
    let timed = dim_list(&TIMED);
    let mut report = Reader::new(tz, top);
    let mut feed = |sql: &str| -> Result<(), StoreError> {
        let mut st = conn.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(r) = rows.next()? {
            let key: String = r.get(2)?;
            let sum = Sum {
                n: r.get(3)?,
                bytes: r.get(4)?,
                sum: r.get(5)?,
                max: r.get(6)?,
            };
            report.add(r.get(0)?, r.get(1)?, &key, &sum);
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
    Ok(Some(report.finish()))
}
