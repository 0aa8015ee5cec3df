//! Committing batches (every row, retried while the server is away, then the writer's
//! checkpoints and state), and retention.

use super::conn::ch;
use super::rows::{
    self, AbandonedRow, CheckpointRow, KeyRow, LooseRow, MessageRow, RawRow, StatRow, StateRow,
};
use crate::rollup::Sums;
use crate::{Checkpoint, Purged, Retention, StoreError, WriteBatch};
use mailtrace_model::Message;
use std::time::Duration;

/// Tries of one insert before the commit fails (about five minutes of waiting in all).
const TRIES: u32 = 40;

/// Insert `rows` into `table`, again from the start when the server fails (the tables fold
/// repeated rows).
pub(super) async fn insert<T>(
    c: &clickhouse::Client,
    table: &str,
    rows: &[T],
) -> Result<(), StoreError>
where
    T: clickhouse::RowOwned + clickhouse::RowWrite + Sync,
{
    if rows.is_empty() {
        return Ok(());
    }
    let mut wait = Duration::from_millis(100);
    let mut tries = 0;
    loop {
        let attempt = async {
            let mut ins = c.insert::<T>(table).await?;
            for r in rows {
                ins.write(r).await?;
            }
            ins.end().await
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tries += 1;
                if tries >= TRIES || !retryable(&e) {
                    return Err(ch(e));
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(8));
            }
        }
    }
}

/// A failure that may pass: the network, a server restarting or overloaded.
fn retryable(e: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error;
    match e {
        Error::Network(_) | Error::TimedOut => true,
        // Too many parts, memory, a table being attached while the server starts.
        Error::BadResponse(msg) => [
            "Code: 252",
            "Code: 241",
            "Code: 202",
            "Code: 81",
            "Code: 60",
        ]
        .iter()
        .any(|c| msg.contains(c)),
        _ => false,
    }
}

/// Rows since the last commit past which they are inserted before it (the commit then
/// inserts the rest): this bounds a writer's memory whatever the commit interval.
pub(super) const FLUSH_ROWS: usize = 100_000;

/// Rows of the batches since the last commit, not inserted yet, with their statistics.
#[derive(Default)]
pub(super) struct Rows {
    messages: Vec<MessageRow>,
    keys: Vec<KeyRow>,
    raw: Vec<RawRow>,
    loose: Vec<LooseRow>,
    /// Contributions of the messages and lines (with those of earlier versions taken back).
    pub(super) sums: Sums,
    /// Inserts of the commit so far (statistics of each are rows of their own).
    parts: u32,
}

impl Rows {
    /// The rows of a batch's raw and loose lines (its messages go through [`Rows::message`]).
    pub(super) fn lines(&mut self, b: &WriteBatch) -> Result<(), StoreError> {
        self.sums.lines(&b.raw);
        let times = b.raw.line_times();
        let server = b.raw.server.clone().unwrap_or_default();
        let text =
            std::str::from_utf8(&b.raw.text).map_err(|e| StoreError::Encode(e.to_string()))?;
        for (i, line) in text.split_terminator('\n').enumerate() {
            let at = times.map(|t| t[i]);
            self.raw.push(RawRow {
                no: b.raw.first + i as u64,
                at: at.map_or(0, rows::datetime),
                at_us: at.map_or(0, |t| t.0),
                timed: u8::from(at.is_some()),
                server: server.clone(),
                line: line.to_string(),
            });
        }
        for l in &b.loose {
            self.loose.push(LooseRow {
                at: rows::datetime(l.at),
                at_us: l.at.0,
                no: l.no,
                server: l.server.clone(),
                kind: l.kind.as_str().to_string(),
            });
        }
        Ok(())
    }

    /// The rows of version `version` of `m`.
    pub(super) fn message(
        &mut self,
        m: &Message,
        writer: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        self.sums.message(m, 1);
        self.messages.push(
            rows::message_rows(m, writer, version, &mut self.keys)
                .map_err(|e| StoreError::Encode(e.to_string()))?,
        );
        Ok(())
    }

    /// Rows held (a message counts as four: it is larger and has keys).
    pub(super) fn len(&self) -> usize {
        self.raw.len() + self.loose.len() + 4 * self.messages.len() + self.sums.len()
    }

    /// Insert every row (statistics as part of commit `seq` of `writer`), and forget them.
    pub(super) async fn flush(
        &mut self,
        c: &clickhouse::Client,
        writer: &str,
        seq: u64,
    ) -> Result<(), StoreError> {
        insert(c, "raw_lines", &self.raw).await?;
        insert(c, "loose_lines", &self.loose).await?;
        insert(c, "message_keys", &self.keys).await?;
        insert(c, "messages", &self.messages).await?;
        let stats: Vec<StatRow> = self
            .sums
            .iter()
            .map(|(k, s)| StatRow {
                at: rows::datetime(mailtrace_model::Ts(k.hour)),
                hour: k.hour,
                dim: k.dim,
                server: k.server.to_string(),
                sdom: k.sdom.to_string(),
                key: k.key.to_string(),
                writer: writer.to_string(),
                seq,
                part: self.parts,
                n: s.n,
                bytes: s.bytes,
                sum: s.sum,
                max: s.max,
            })
            .collect();
        insert(c, "stats", &stats).await?;
        *self = Rows {
            parts: self.parts + 1,
            ..Rows::default()
        };
        Ok(())
    }
}

/// Where a writer stands after a commit.
pub(super) struct Commit<'a> {
    pub writer: &'a str,
    pub seq: u64,
    pub checkpoints: &'a [Checkpoint],
    pub state: Option<String>,
    pub next_line_no: u64,
    pub last_version: u64,
    /// Earlier commits of this writer that failed after inserting statistics.
    pub abandoned: &'a [u64],
}

/// Complete a commit whose rows are in: the abandoned commits, then the checkpoints and the
/// writer's state. Until these rows are in, a restart resumes from the previous commit and
/// writes the same rows again.
pub(super) async fn commit(c: &clickhouse::Client, w: Commit<'_>) -> Result<(), StoreError> {
    let abandoned: Vec<AbandonedRow> = w
        .abandoned
        .iter()
        .map(|seq| AbandonedRow {
            writer: w.writer.to_string(),
            seq: *seq,
        })
        .collect();
    insert(c, "abandoned", &abandoned).await?;
    let checkpoints: Vec<CheckpointRow> = w
        .checkpoints
        .iter()
        .map(|cp| CheckpointRow {
            writer: w.writer.to_string(),
            ident: cp.ident,
            ident_len: cp.ident_len,
            version: w.seq,
            path: cp.path.clone(),
            offset: cp.offset,
            lines: cp.lines,
        })
        .collect();
    insert(c, "checkpoints", &checkpoints).await?;
    let previous = super::read::state(c, w.writer).await?.unwrap_or_default();
    insert(
        c,
        "writer_state",
        &[StateRow {
            writer: w.writer.to_string(),
            version: w.seq,
            next_line_no: w.next_line_no.max(previous.next_line_no),
            last_version: w.last_version.max(previous.last_version),
            state: w.state.unwrap_or(previous.state),
        }],
    )
    .await
}

/// Retention: drop the day partitions wholly before the limits (messages still queued in
/// them are written again first, into the same day).
pub(super) async fn purge(
    c: &clickhouse::Client,
    cluster: Option<&str>,
    r: &Retention,
) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let message_days = days_before(c, cluster, "messages", r.messages_before).await?;
    for day in &message_days {
        let keep: Vec<MessageRow> = c
            .query("SELECT ?fields FROM messages FINAL WHERE toYYYYMMDD(received) = ? AND open = 1")
            .bind(*day)
            .fetch_all()
            .await
            .map_err(ch)?;
        let (n, recipients): (u64, u64) = c
            .query("SELECT count(), sum(length(rcpt)) FROM messages FINAL WHERE toYYYYMMDD(received) = ? AND open = 0")
            .bind(*day)
            .fetch_one()
            .await
            .map_err(ch)?;
        let keep_keys: Vec<(String, String, u32, i64, i64)> = if keep.is_empty() {
            Vec::new()
        } else {
            let ids: Vec<i64> = keep.iter().map(|m| m.id).collect();
            c.query("SELECT kind, key, toUInt32(received), received_us, id FROM message_keys WHERE toYYYYMMDD(received) = ? AND has(?, id)")
                .bind(*day)
                .bind(ids)
                .fetch_all()
                .await
                .map_err(ch)?
        };
        for table in ["messages", "message_keys"] {
            drop_day(c, cluster, table, *day).await?;
        }
        insert(c, "messages", &keep).await?;
        let keys: Vec<KeyRow> = keep_keys
            .into_iter()
            .map(|(kind, key, received, received_us, id)| KeyRow {
                kind: key_kind(&kind),
                key,
                received,
                received_us,
                id,
            })
            .collect();
        insert(c, "message_keys", &keys).await?;
        purged.messages += n;
        purged.recipients += recipients;
    }
    // Statistics of the same days; the raw log and loose lines of theirs.
    purged.rollup_rows += drop_days(c, cluster, "stats", r.messages_before).await?;
    purged.raw_lines += drop_days(c, cluster, "raw_lines", r.raw_before).await?;
    purged.loose_lines += drop_days(c, cluster, "loose_lines", r.raw_before).await?;
    Ok(purged)
}

/// The `'static` name of a key kind read back.
fn key_kind(k: &str) -> &'static str {
    use rows::kind::*;
    [
        ID,
        SENDER,
        SENDER_DOMAIN,
        RCPT,
        RCPT_DOMAIN,
        ORIG_TO,
        QUEUE_ID,
        MESSAGE_ID,
        CLIENT,
        PARENT,
        BOUNCE_OF,
    ]
    .into_iter()
    .find(|x| *x == k)
    .unwrap_or(ID)
}

/// Drop the days of `table` (whose time column is `at`) before `before`; returns the rows
/// they held.
async fn drop_days(
    c: &clickhouse::Client,
    cluster: Option<&str>,
    table: &str,
    before: mailtrace_model::Ts,
) -> Result<u64, StoreError> {
    let mut rows = 0;
    for day in days_before(c, cluster, table, before).await? {
        let n: u64 = c
            .query(&format!(
                "SELECT count() FROM {table} WHERE toYYYYMMDD(at) = ?"
            ))
            .bind(day)
            .fetch_one()
            .await
            .map_err(ch)?;
        drop_day(c, cluster, table, day).await?;
        rows += n;
    }
    Ok(rows)
}

/// Drop the day `day` (`YYYYMMDD`) of `table` (of its local tables on every node of a
/// cluster).
async fn drop_day(
    c: &clickhouse::Client,
    cluster: Option<&str>,
    table: &str,
    day: u32,
) -> Result<(), StoreError> {
    let sql = match cluster {
        Some(name) => format!("ALTER TABLE {table}_local ON CLUSTER {name} DROP PARTITION {day}"),
        None => format!("ALTER TABLE {table} DROP PARTITION {day}"),
    };
    c.query(&sql).execute().await.map_err(ch)
}

/// The day partitions (`YYYYMMDD`) of `table` that end before `before` (UTC days): from the
/// server's list of parts, or on a cluster, from the days of the rows on every node.
async fn days_before(
    c: &clickhouse::Client,
    cluster: Option<&str>,
    table: &str,
    before: mailtrace_model::Ts,
) -> Result<Vec<u32>, StoreError> {
    let day = before.to_jiff().to_zoned(jiff::tz::TimeZone::UTC).date();
    let limit = day.year() as u32 * 10_000 + day.month() as u32 * 100 + day.day() as u32;
    let mut days: Vec<u32> = match cluster {
        None => {
            let parts: Vec<String> = c
                .query("SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = ? AND active")
                .bind(table)
                .fetch_all()
                .await
                .map_err(ch)?;
            parts
                .iter()
                .filter_map(|p| p.trim_matches('\'').parse().ok())
                .collect()
        }
        Some(_) => {
            let column = match table {
                "messages" | "message_keys" => "received",
                _ => "at",
            };
            c.query(&format!(
                "SELECT DISTINCT toYYYYMMDD({column}) FROM {table}"
            ))
            .fetch_all()
            .await
            .map_err(ch)?
        }
    };
    days.retain(|d| *d < limit);
    days.sort_unstable();
    Ok(days)
}
