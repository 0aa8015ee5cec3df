//! Committing batches (every row, retried while the server is away, then the writer's
//! checkpoints and state), and retention.

use super::conn::ch;
use super::rows::{self, CheckpointRow, KeyRow, LooseRow, MessageRow, RawRow, StateRow};
use crate::{Purged, Retention, StoreError, WriteBatch};
use std::time::Duration;

/// Tries of one insert before the commit fails (about five minutes of waiting in all).
const TRIES: u32 = 40;

/// Insert `rows` into `table`, again from the start when the server fails (the tables fold
/// repeated rows).
async fn insert<T>(c: &clickhouse::Client, table: &str, rows: &[T]) -> Result<(), StoreError>
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

/// Commit `batches` (pending ones and their commit) as `writer`, version `seq`.
pub(super) async fn commit(
    c: &clickhouse::Client,
    writer: &str,
    seq: u64,
    batches: &[WriteBatch],
) -> Result<(), StoreError> {
    let mut messages: Vec<MessageRow> = Vec::new();
    let mut keys: Vec<KeyRow> = Vec::new();
    let mut raw: Vec<RawRow> = Vec::new();
    let mut loose: Vec<LooseRow> = Vec::new();
    let mut next_no = 0;
    // Versions grow with commits, and within one by position: the last write of a message wins.
    let mut position = 0u64;
    for b in batches {
        for m in &b.messages {
            position += 1;
            let version = (seq << 24) | position.min((1 << 24) - 1);
            messages.push(
                rows::message_rows(m, writer, version, &mut keys)
                    .map_err(|e| StoreError::Encode(e.to_string()))?,
            );
        }
        let times = b.raw.line_times();
        let server = b.raw.server.clone().unwrap_or_default();
        let text =
            std::str::from_utf8(&b.raw.text).map_err(|e| StoreError::Encode(e.to_string()))?;
        for (i, line) in text.split_terminator('\n').enumerate() {
            let at = times.map(|t| t[i]);
            raw.push(RawRow {
                no: b.raw.first + i as u64,
                at: at.map_or(0, rows::datetime),
                at_us: at.map_or(0, |t| t.0),
                timed: u8::from(at.is_some()),
                server: server.clone(),
                line: line.to_string(),
            });
        }
        if b.raw.count > 0 {
            next_no = next_no.max(b.raw.next_no());
        }
        for l in &b.loose {
            loose.push(LooseRow {
                at: rows::datetime(l.at),
                at_us: l.at.0,
                no: l.no,
                server: l.server.clone(),
                kind: l.kind.as_str().to_string(),
            });
        }
    }
    insert(c, "raw_lines", &raw).await?;
    insert(c, "loose_lines", &loose).await?;
    insert(c, "message_keys", &keys).await?;
    insert(c, "messages", &messages).await?;
    // Last: where the writer stands. Until these rows are in, a restart resumes from the
    // previous commit and writes the same rows again.
    let checkpoints: Vec<CheckpointRow> = batches
        .iter()
        .filter_map(|b| b.checkpoint.as_ref())
        .map(|cp| CheckpointRow {
            writer: writer.to_string(),
            ident: cp.ident,
            ident_len: cp.ident_len,
            version: seq,
            path: cp.path.clone(),
            offset: cp.offset,
            lines: cp.lines,
        })
        .collect();
    insert(c, "checkpoints", &checkpoints).await?;
    let state = batches.iter().rev().find_map(|b| b.state.clone());
    if state.is_some() || next_no > 0 {
        let previous = super::read::state(c, writer).await?;
        let (prev_no, prev_state) = previous.unwrap_or_default();
        insert(
            c,
            "writer_state",
            &[StateRow {
                writer: writer.to_string(),
                version: seq,
                next_line_no: next_no.max(prev_no),
                state: state.unwrap_or(prev_state),
            }],
        )
        .await?;
    }
    Ok(())
}

/// Retention: drop the day partitions wholly before the limits (messages still queued in
/// them are written again first, into the same day).
pub(super) async fn purge(c: &clickhouse::Client, r: &Retention) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let message_days = days_before(c, "messages", r.messages_before).await?;
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
            c.query(&format!("ALTER TABLE {table} DROP PARTITION {day}"))
                .execute()
                .await
                .map_err(ch)?;
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
    for day in days_before(c, "raw_lines", r.raw_before).await? {
        let n: u64 = c
            .query("SELECT count() FROM raw_lines WHERE toYYYYMMDD(at) = ?")
            .bind(day)
            .fetch_one()
            .await
            .map_err(ch)?;
        c.query(&format!("ALTER TABLE raw_lines DROP PARTITION {day}"))
            .execute()
            .await
            .map_err(ch)?;
        purged.raw_lines += n;
    }
    for day in days_before(c, "loose_lines", r.raw_before).await? {
        let n: u64 = c
            .query("SELECT count() FROM loose_lines WHERE toYYYYMMDD(at) = ?")
            .bind(day)
            .fetch_one()
            .await
            .map_err(ch)?;
        c.query(&format!("ALTER TABLE loose_lines DROP PARTITION {day}"))
            .execute()
            .await
            .map_err(ch)?;
        purged.loose_lines += n;
    }
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

/// The day partitions (`YYYYMMDD`) of `table` that end before `before` (UTC days).
async fn days_before(
    c: &clickhouse::Client,
    table: &str,
    before: mailtrace_model::Ts,
) -> Result<Vec<u32>, StoreError> {
    let day = before.to_jiff().to_zoned(jiff::tz::TimeZone::UTC).date();
    let limit = day.year() as u32 * 10_000 + day.month() as u32 * 100 + day.day() as u32;
    let parts: Vec<String> = c
        .query("SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = ? AND active")
        .bind(table)
        .fetch_all()
        .await
        .map_err(ch)?;
    let mut days: Vec<u32> = parts
        .iter()
        .filter_map(|p| p.trim_matches('\'').parse().ok())
        .filter(|d| *d < limit)
        .collect();
    days.sort_unstable();
    Ok(days)
}
