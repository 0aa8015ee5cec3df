//! Forgetting old data ([`crate::Store::purge`]): messages with their documents, recipients
//! and statistics, and the raw log with its loose lines, each in transactions of at most
//! [`BATCH`] rows, so that an ingest or a search waits for one short transaction at most.

use super::SqliteStore;
use crate::{Purged, Retention, StoreError};
use rusqlite::params;

/// Rows deleted per transaction.
const BATCH: usize = 2_000;

/// One hour in [`mailtrace_model::Ts`] units (microseconds), as rollups are keyed.
const HOUR: i64 = 3_600_000_000;

impl SqliteStore {
    pub(super) fn purge_old(&mut self, r: &Retention) -> Result<Purged, StoreError> {
        if self.in_tx {
            return Err(StoreError::Misuse(
                "purge while batches are pending: commit them first",
            ));
        }
        let mut purged = Purged::default();
        // Messages, oldest first: finished ones only (a message still queued is current,
        // however old).
        loop {
            let n = self.in_transaction(|conn| {
                let old: Vec<(i64, i64, i64)> = conn
                    .prepare_cached(
                        "SELECT rowid, id, received_at FROM messages \
                         WHERE received_at < ?1 AND open = 0 ORDER BY received_at LIMIT ?2",
                    )?
                    .query_map(params![r.messages_before.0, BATCH as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let mut recipients = 0;
                let mut del_doc = conn.prepare_cached("DELETE FROM message_docs WHERE id = ?1")?;
                let mut del_msg = conn.prepare_cached("DELETE FROM messages WHERE rowid = ?1")?;
                let mut del_rcpt = conn.prepare_cached(
                    "DELETE FROM recipients WHERE received_at = ?1 AND message = ?2",
                )?;
                for (rowid, id, at) in &old {
                    del_doc.execute([rowid])?;
                    del_msg.execute([rowid])?;
                    recipients += del_rcpt.execute([at, id])? as u64;
                }
                Ok((old.len() as u64, recipients))
            })?;
            purged.messages += n.0;
            purged.recipients += n.1;
            if n.0 < BATCH as u64 {
                break;
            }
        }
        // Statistics of whole hours before the limit.
        let hour = r.messages_before.0.div_euclid(HOUR) * HOUR;
        purged.rollup_rows = self.in_transaction(|conn| {
            Ok(conn.execute("DELETE FROM rollup WHERE hour < ?1", [hour])? as u64)
        })?;
        // The raw log: chunks whose newest line is older than the limit, and the loose lines
        // (which point into it) of that time.
        loop {
            let n = self.in_transaction(|conn| {
                let chunks: Vec<(i64, i64)> = conn
                    .prepare_cached(
                        "SELECT first, count FROM raw_chunks \
                         WHERE max_at IS NOT NULL AND max_at < ?1 ORDER BY max_at LIMIT ?2",
                    )?
                    .query_map(params![r.raw_before.0, (BATCH / 10) as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let mut del = conn.prepare_cached("DELETE FROM raw_chunks WHERE first = ?1")?;
                let mut lines = 0;
                for (first, count) in &chunks {
                    del.execute([first])?;
                    lines += *count as u64;
                }
                Ok((chunks.len(), lines))
            })?;
            purged.raw_lines += n.1;
            if n.0 < BATCH / 10 {
                break;
            }
        }
        loop {
            let n = self.in_transaction(|conn| {
                Ok(conn.execute(
                    "DELETE FROM loose_lines WHERE id IN \
                     (SELECT id FROM loose_lines WHERE at < ?1 ORDER BY at LIMIT ?2)",
                    params![r.raw_before.0, BATCH as i64],
                )? as u64)
            })?;
            purged.loose_lines += n;
            if n < BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }

    /// Run `f` in its own immediate transaction.
    fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&self.conn) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}
