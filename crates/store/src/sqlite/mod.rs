//! The embedded store: one SQLite file (bundled SQLite, WAL journal, versioned schema).
//!
//! Searchable fields are columns with indexes; the rest of a message is a JSON document
//! (`doc`), and its line numbers and timeline a second one (`detail`) that only the message
//! page reads. Recipients have their own indexed table. The raw log is stored once, in
//! compressed chunks (`raw.rs`).

mod detail;
mod raw;
mod retention;
mod rollup;
mod schema;
mod search;
mod write;

use crate::{Checkpoint, LooseFilter, SearchResult, Store, StoreError, StoreStats, WriteBatch};
use mailtrace_correlate::{LooseKind, LooseLine};
use mailtrace_model::{LineNo, Message, Ts};
use mailtrace_query::{Filter, Paging};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use write::{encode_batch, Encoded};

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    /// The file, for the checkpointer's connection (`None` in memory).
    path: Option<std::path::PathBuf>,
    /// Started by the first write, so read-only uses never checkpoint.
    checkpointer: Option<Checkpointer>,
    /// A transaction is open: pending batches were written and not yet committed.
    in_tx: bool,
}

/// Copies the WAL back into the database file on its own connection and thread, so that a
/// bulk ingest does not stop for it (a checkpoint writes and syncs up to 128 MB).
struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
    wal: std::path::PathBuf,
}

/// Wake the checkpointer beyond this much WAL.
const WAL_CHECKPOINT: u64 = 64 << 20;
/// Beyond this much WAL the writer itself checkpoints and restarts the WAL (bounds its size).
const WAL_RESTART: u64 = 256 << 20;

impl Checkpointer {
    fn start(path: &Path) -> Option<Checkpointer> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).ok()?;
        let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                for () in rx {
                    // PASSIVE: copies what it can without blocking the writer or readers.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Some(Checkpointer {
            wake,
            thread,
            wal: wal.into(),
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(c) = self.checkpointer.take() {
            drop(c.wake);
            let _ = c.thread.join();
            // Leave a small WAL behind: most of it was copied already.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

impl SqliteStore {
    /// Open or create the store at `path`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the file is not a mailtrace store (never reset),
    /// [`StoreError::TooNew`] for a newer schema, or a database error.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(corrupt)?;
        let mut store = Self::setup(conn, &shown)?;
        store.path = Some(path.to_path_buf());
        Ok(store)
    }

    /// A store in memory (tests, the demo).
    ///
    /// # Errors
    /// A database error.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::setup(Connection::open_in_memory()?, ":memory:")
    }

    fn setup(conn: Connection, shown: &str) -> Result<SqliteStore, StoreError> {
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: shown.to_string(),
            reason: e.to_string(),
        };
        // Another process may be creating the same store right now: wait for it.
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // The first statement reads the header: a file that is not SQLite fails here.
        // Larger pages suit rows that carry documents (only takes effect on a new file).
        // Switching to WAL needs the database to itself, and SQLite answers "busy" at once
        // rather than waiting: retry for a while when another process is opening it too.
        let started = std::time::Instant::now();
        loop {
            let r = conn
                .pragma_update(None, "page_size", 8192)
                .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"));
            match r {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && started.elapsed() < std::time::Duration::from_secs(30) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(corrupt(e)),
            }
        }
        // Checkpoint the WAL every 128 MB rather than every 4 MB: bulk ingests rewrite hot index
        // pages far less often.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 32 MB of page cache: as fast as 64 MB for a bulk ingest (measured), and keeps its peak
        // memory under 300 MB.
        conn.pragma_update(None, "cache_size", -32_768)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        schema::migrate(&conn, shown)?;
        Ok(SqliteStore {
            conn,
            path: None,
            checkpointer: None,
            in_tx: false,
        })
    }

    fn decode(doc: &[u8]) -> Result<Message, StoreError> {
        let json = lz4_flex::decompress_size_prepended(doc).map_err(|e| StoreError::Corrupt {
            path: "message document".into(),
            reason: e.to_string(),
        })?;
        Ok(serde_json::from_slice(&json)?)
    }

    fn messages_where(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Message>, StoreError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(params, |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for doc in rows {
            out.push(Self::decode(&doc?)?);
        }
        Ok(out)
    }
}

/// The key of a recipient: its lower-case address reversed, so that a domain is a prefix.
pub(super) fn reversed_address(address: &str) -> String {
    address
        .chars()
        .rev()
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The bit of a status in the `statuses` column.
pub(super) fn status_bit(s: mailtrace_model::Status) -> i64 {
    1 << (s as u8)
}

/// Line numbers and timeline of a message from its `detail` column.
fn decode_detail(blob: &[u8], m: &mut Message) -> Result<(), StoreError> {
    let d = detail::decode(blob).ok_or_else(|| StoreError::Corrupt {
        path: "message detail".into(),
        reason: "undecodable line numbers or timeline".into(),
    })?;
    m.line_nos = d.line_nos;
    m.events = d.events;
    Ok(())
}

impl Store for SqliteStore {
    fn encoder(&self) -> Option<crate::Encoder> {
        Some(encode_batch)
    }

    fn write(&mut self, mut batch: WriteBatch) -> Result<(), StoreError> {
        if let Some(path) = self.path.take() {
            self.checkpointer = Checkpointer::start(&path);
            if self.checkpointer.is_some() {
                self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            }
        }
        if !batch.encoded.as_ref().is_some_and(|e| e.is::<Encoded>()) {
            encode_batch(&mut batch);
        }
        let encoded = match batch.encoded.take().map(|e| e.downcast::<Encoded>()) {
            Some(Ok(e)) => *e,
            _ => Encoded {
                docs: Vec::new(),
                chunks: Ok(Vec::new()),
                sums: crate::rollup::Sums::default(),
            },
        };
        if !self.in_tx {
            self.conn.execute_batch("BEGIN")?;
            self.in_tx = true;
        }
        let pending = batch.pending;
        match self.write_rows(batch, encoded) {
            Ok(()) if pending => return Ok(()),
            Ok(()) => {
                self.conn.execute_batch("COMMIT")?;
                self.in_tx = false;
            }
            Err(e) => {
                self.rollback()?;
                return Err(e);
            }
        }
        if let Some(c) = &self.checkpointer {
            let wal = std::fs::metadata(&c.wal).map_or(0, |m| m.len());
            if wal > WAL_RESTART {
                self.conn
                    .query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
            } else if wal > WAL_CHECKPOINT {
                let _ = c.wake.try_send(());
            }
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        if self.in_tx {
            self.in_tx = false;
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT ident, ident_len, path, offset, lines FROM checkpoints ORDER BY updated_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Checkpoint {
                ident: r.get(0)?,
                ident_len: r.get(1)?,
                path: r.get(2)?,
                offset: r.get::<_, i64>(3)? as u64,
                lines: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn correlator_state(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT state FROM correlator WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn open_messages(&self) -> Result<Vec<Message>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT d.doc, d.detail FROM messages m JOIN message_docs d ON d.id = m.rowid WHERE m.open = 1 ORDER BY m.received_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (doc, detail) = row?;
            let mut m = Self::decode(&doc)?;
            decode_detail(&detail, &mut m)?;
            out.push(m);
        }
        Ok(out)
    }

    fn search(&self, filter: &Filter, paging: Paging) -> Result<SearchResult, StoreError> {
        let q = search::build(filter)?;
        let total: i64 = {
            let (sql, params) = q.count();
            let mut st = self.conn.prepare_cached(&sql)?;
            st.query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?
        };
        let (rows, mut params) = q.rows();
        params.push(rusqlite::types::Value::Integer(i64::from(paging.limit)));
        params.push(rusqlite::types::Value::Integer(paging.offset() as i64));
        // Page on the small (id, time) rows first, then fetch the documents of that page only.
        let sql = format!(
            "SELECT d.doc FROM ({rows} ORDER BY t DESC, id DESC LIMIT ? OFFSET ?) AS p \
             JOIN messages m2 ON m2.id = p.id JOIN message_docs d ON d.id = m2.rowid \
             ORDER BY p.t DESC, p.id DESC"
        );
        let messages = self.messages_where(&sql, rusqlite::params_from_iter(params.iter()))?;
        Ok(SearchResult {
            total: total as u64,
            messages,
        })
    }

    fn export(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(Message) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let q = search::build(filter)?;
        let (sql, params) = if q.recipients.is_none() {
            // In time order straight from the index.
            (
                format!(
                    "SELECT d.doc FROM messages m JOIN message_docs d ON d.id = m.rowid {} \
                     ORDER BY m.received_at DESC, m.id DESC",
                    q.sql
                ),
                q.params,
            )
        } else {
            let (rows, params) = q.rows();
            (
                format!(
                    "SELECT d.doc FROM ({rows}) AS p JOIN messages m2 ON m2.id = p.id \
                     JOIN message_docs d ON d.id = m2.rowid ORDER BY p.t DESC, p.id DESC"
                ),
                params,
            )
        };
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(r) = rows.next()? {
            let doc: Vec<u8> = r.get(0)?;
            each(Self::decode(&doc)?)?;
        }
        Ok(())
    }

    fn get(&self, id: i64) -> Result<Option<Message>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT d.doc, d.detail FROM messages m JOIN message_docs d ON d.id = m.rowid WHERE m.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((doc, detail)) = row else {
            return Ok(None);
        };
        let mut m = Self::decode(&doc)?;
        decode_detail(&detail, &mut m)?;
        let mut reader = raw::Reader::new(&self.conn);
        for &no in &m.line_nos {
            let text = reader.line(no)?.unwrap_or_default();
            m.lines.push(text.to_string());
        }
        for e in &mut m.events {
            if let Some((no, col)) = e.source {
                let text = reader.line(no)?.unwrap_or_default();
                e.text = text.get(col as usize..).unwrap_or_default().to_string();
            }
        }
        Ok(Some(m))
    }

    fn lookup(&self, key: &str) -> Result<Vec<Message>, StoreError> {
        let key = key.trim();
        let bracketed = format!("<{}>", key.trim_start_matches('<').trim_end_matches('>'));
        self.messages_where(
            "SELECT d.doc FROM messages m JOIN message_docs d ON d.id = m.rowid WHERE m.queue_id = ?1 UNION ALL \
             SELECT d.doc FROM messages m JOIN message_docs d ON d.id = m.rowid WHERE m.message_id = ?2 AND (m.queue_id IS NULL OR m.queue_id <> ?1)",
            params![key, bracketed],
        )
        .map(|mut v| {
            v.sort_by_key(|m| std::cmp::Reverse(m.received_at));
            v
        })
    }

    fn related(&self, id: i64) -> Result<Vec<Message>, StoreError> {
        self.messages_where(
            "SELECT d.doc FROM messages m JOIN message_docs d ON d.id = m.rowid WHERE m.parent_id = ?1 UNION ALL \
             SELECT d.doc FROM messages m JOIN message_docs d ON d.id = m.rowid WHERE m.bounce_of = ?1",
            [id],
        )
    }

    fn loose_lines(&self, f: &LooseFilter, paging: Paging) -> Result<Vec<LooseLine>, StoreError> {
        let mut sql = String::from("SELECT server, at, kind, line_no FROM loose_lines WHERE 1=1");
        let mut p: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(k) = &f.kind {
            sql.push_str(" AND kind = ?");
            p.push(k.clone().into());
        }
        if let Some(s) = &f.server {
            sql.push_str(" AND server = ?");
            p.push(s.clone().into());
        }
        if let Some(t) = f.since {
            sql.push_str(" AND at >= ?");
            p.push(t.0.into());
        }
        if let Some(t) = f.until {
            sql.push_str(" AND at < ?");
            p.push(t.0.into());
        }
        sql.push_str(" ORDER BY at, id");
        // The text is in the raw log: a substring filter reads it line by line, so paging
        // happens here rather than in SQL.
        if f.contains.is_none() {
            sql.push_str(" LIMIT ? OFFSET ?");
            p.push(i64::from(paging.limit).into());
            p.push((paging.offset() as i64).into());
        }
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(p.iter()))?;
        let mut reader = raw::Reader::new(&self.conn);
        let mut skip = if f.contains.is_some() {
            paging.offset()
        } else {
            0
        };
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            if out.len() >= paging.limit as usize {
                break;
            }
            let no = r.get::<_, i64>(3)? as LineNo;
            let line = reader.line(no)?.unwrap_or_default();
            if f.contains.as_deref().is_some_and(|c| !line.contains(c)) {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let kind: String = r.get(2)?;
            out.push(LooseLine {
                server: r.get(0)?,
                at: Ts(r.get(1)?),
                kind: match kind.as_str() {
                    "other" => LooseKind::Other,
                    "session" => LooseKind::Session,
                    "notice" => LooseKind::Notice,
                    _ => LooseKind::Unparsed,
                },
                no,
                line: line.to_string(),
            });
        }
        Ok(out)
    }

    fn next_line_no(&self) -> Result<LineNo, StoreError> {
        raw::next_no(&self.conn)
    }

    fn raw_lines(&self, nos: &[LineNo]) -> Result<Vec<Option<String>>, StoreError> {
        let mut reader = raw::Reader::new(&self.conn);
        nos.iter()
            .map(|&no| Ok(reader.line(no)?.map(str::to_string)))
            .collect()
    }

    fn purge(&mut self, r: &crate::Retention) -> Result<crate::Purged, StoreError> {
        self.purge_old(r)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let one = |sql: &str| -> Result<u64, StoreError> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(StoreStats {
            messages: one("SELECT count(*) FROM messages")?,
            recipients: one("SELECT count(*) FROM recipients")?,
            open: one("SELECT count(*) FROM messages WHERE open = 1")?,
            loose: one("SELECT count(*) FROM loose_lines")?,
            unparsed: one("SELECT count(*) FROM loose_lines WHERE kind = 'unparsed'")?,
        })
    }

    fn raw_lines_between(
        &self,
        since: Ts,
        until: Ts,
        paging: Paging,
    ) -> Result<Vec<crate::TimedLine>, StoreError> {
        Ok(raw::between(
            &self.conn,
            since,
            until,
            paging.offset(),
            paging.limit as usize,
        )?
        .into_iter()
        .map(|(no, at, text)| crate::TimedLine { no, at, text })
        .collect())
    }

    fn each_raw_line_between(
        &self,
        since: Ts,
        until: Ts,
        each: &mut dyn FnMut(&crate::TimedLine) -> bool,
    ) -> Result<(), StoreError> {
        raw::each_between(&self.conn, since, until, &mut |no, at, text| {
            each(&crate::TimedLine {
                no,
                at,
                text: text.to_string(),
            })
        })
    }

    fn report(
        &self,
        filter: &Filter,
        tz: &jiff::tz::TimeZone,
        top: usize,
    ) -> Result<mailtrace_report::Report, StoreError> {
        match rollup::report(&self.conn, filter, tz, top.max(1))? {
            Some(r) => Ok(r),
            None => crate::report_from_messages(self, filter, tz, top),
        }
    }

    fn facets(&self, limit: usize) -> Result<crate::Facets, StoreError> {
        let counted = |sql: &str, limit: usize| -> Result<Vec<(String, u64)>, StoreError> {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        Ok(crate::Facets {
            servers: counted(
                "SELECT server, count(*) AS n FROM messages GROUP BY server ORDER BY n DESC, server LIMIT ?1",
                1000,
            )?,
            sender_domains: counted(
                "SELECT sender_domain, count(*) AS n FROM messages WHERE sender_domain IS NOT NULL \
                 GROUP BY sender_domain ORDER BY n DESC, sender_domain LIMIT ?1",
                limit,
            )?,
        })
    }
}

#[cfg(test)]
mod tests;
