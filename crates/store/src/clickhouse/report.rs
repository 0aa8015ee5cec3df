//! Statistics from the `stats` sums (see `crate::rollup`): summed in the server over the
//! range's hours, without the sums of abandoned commits.

use super::conn::ch;
use crate::rollup::{dim_list, Range, Reader, LINES, TIMED};
use crate::StoreError;
use jiff::tz::TimeZone;
use mailtrace_report::{Report, Sum};

/// The report of `range`.
pub(super) async fn report(
    c: &clickhouse::Client,
    range: &Range,
    tz: &TimeZone,
    top: usize,
) -> Result<Report, StoreError> {
    let mut conds = String::from(
        "hour >= ? AND hour < ? AND (writer, seq) NOT IN (SELECT writer, seq FROM abandoned)",
    );
    if range.server.is_some() {
        conds.push_str(" AND server = ?");
    }
    if range.sdom.is_some() {
        conds.push_str(&format!(" AND (sdom = ? OR dim IN ({}))", dim_list(&LINES)));
    }
    let timed = dim_list(&TIMED);
    let mut report = Reader::new(tz, top);
    for sql in [
        format!(
            "SELECT hour, dim, key, sum(n), sum(bytes), sum(sum), max(max) FROM stats FINAL \
             WHERE {conds} AND dim IN ({timed}) GROUP BY hour, dim, key"
        ),
        format!(
            "SELECT toInt64(0), dim, key, sum(n), sum(bytes), sum(sum), max(max) FROM stats FINAL \
             WHERE {conds} AND dim NOT IN ({timed}) GROUP BY dim, key"
        ),
    ] {
        let mut q = c.query(&sql).bind(range.since).bind(range.until);
        if let Some(s) = &range.server {
            q = q.bind(s.as_str());
        }
        if let Some(d) = &range.sdom {
            q = q.bind(d.as_str());
        }
        let rows: Vec<(i64, u8, String, i64, i64, f64, f64)> = q.fetch_all().await.map_err(ch)?;
        for (hour, dim, key, n, bytes, sum, max) in rows {
            report.add(hour, dim, &key, &Sum { n, bytes, sum, max });
        }
    }
    Ok(report.finish())
}
