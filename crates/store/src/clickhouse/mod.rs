//! The ClickHouse store: the same [`Store`] on a columnar server that many mailtrace
//! processes can write to (`--store clickhouse://HOST:8123/DATABASE`).
//!
//! The schema (`schema.rs`) is ClickHouse's own: day partitions, versions instead of updates,
//! a key table for the searches that must not scan. Without transactions, a commit is made
//! safe to repeat instead: pending batches are kept in memory until their commit, then every
//! row is inserted (retried while the server is away), and the writer's checkpoints and
//! correlator state go last. A writer killed between the two resumes from its previous state
//! and writes the same rows again (same ids and line numbers), which the replacing tables
//! fold into one.
//!
//! Several writers share a database: each has a name (its host name by default), its own
//! checkpoints and correlator state, and its own range of line numbers.
//!
//! The `clickhouse` crate is asynchronous; the store runs it on a small runtime of its own and
//! waits, so that it is a [`Store`] like the others (called from blocking threads).

mod conn;
mod read;
mod rows;
pub mod schema;
mod search;
mod write;

#[cfg(test)]
mod tests;

pub use conn::Location;

use crate::{
    Checkpoint, Facets, LooseFilter, Purged, Retention, SearchResult, Store, StoreError,
    StoreStats, TimedLine, WriteBatch,
};
use conn::ch;
use mailtrace_correlate::LooseLine;
use mailtrace_model::{LineNo, Message};
use mailtrace_query::{Filter, Paging};

/// Bits of a line number below the writer's id: 2^42 lines per writer, and numbers stay
/// below 2^52, exact in a JavaScript number.
const WRITER_SHIFT: u32 = 42;
/// Writer ids run from 1 to this.
const MAX_WRITER: u64 = 1023;

/// A ClickHouse store, as one writer (see the module documentation).
pub struct ClickHouseStore {
    rt: tokio::runtime::Runtime,
    client: clickhouse::Client,
    loc: Location,
    writer: String,
    writer_id: u64,
    /// Version of the writer's last commit (checkpoints and state carry it).
    seq: u64,
    /// Batches waiting for their commit.
    pending: Vec<WriteBatch>,
}

impl ClickHouseStore {
    /// Create the database or bring its schema up to date; returns (old, new) version.
    ///
    /// # Errors
    /// The server cannot be reached or refused a statement.
    pub fn migrate(loc: &Location) -> Result<(u32, u32), StoreError> {
        runtime()?.block_on(conn::migrate(loc))
    }

    /// Connect as the writer `writer` (registered on first use).
    ///
    /// # Errors
    /// The server cannot be reached, the schema is missing or of another version (run
    /// `mailtrace migrate`), or no writer id is free.
    pub fn open(loc: &Location, writer: &str) -> Result<ClickHouseStore, StoreError> {
        let rt = runtime()?;
        let (client, writer_id, seq) = rt.block_on(async {
            let server = conn::Server::probe(&loc.server_client()).await?;
            let client = server.client(loc);
            let version = conn::applied(&client).await.map_err(|e| StoreError::Corrupt {
                path: loc.to_string(),
                reason: format!("no mailtrace schema (run `mailtrace migrate`): {e}"),
            })?;
            if version < schema::VERSION {
                return Err(StoreError::Corrupt {
                    path: loc.to_string(),
                    reason: format!(
                        "schema version {version}, this mailtrace needs {} (run `mailtrace migrate`; server {})",
                        schema::VERSION,
                        server.version
                    ),
                });
            }
            if version > schema::VERSION {
                return Err(StoreError::TooNew {
                    path: loc.to_string(),
                    found: i64::from(version),
                    supported: i64::from(schema::VERSION),
                });
            }
            let id = register(&client, writer).await?;
            let seq: u64 = client
                .query("SELECT max(version) FROM writer_state WHERE writer = ?")
                .bind(writer)
                .fetch_one()
                .await
                .map_err(ch)?;
            Ok((client, id, seq))
        })?;
        Ok(ClickHouseStore {
            rt,
            client,
            loc: loc.clone(),
            writer: writer.to_string(),
            writer_id,
            seq,
            pending: Vec::new(),
        })
    }

    /// Where it is.
    pub fn location(&self) -> &Location {
        &self.loc
    }

    /// The first line number of this writer.
    fn first_line_no(&self) -> LineNo {
        (self.writer_id << WRITER_SHIFT) + 1
    }

    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.rt.block_on(f)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, StoreError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StoreError::Io)
}

/// The writer's id: the one it has, or a free one (from a hash of its name, the next free on
/// a collision).
async fn register(c: &clickhouse::Client, writer: &str) -> Result<u64, StoreError> {
    let taken: Vec<(String, u16)> = c
        .query("SELECT name, id FROM writers FINAL")
        .fetch_all()
        .await
        .map_err(ch)?;
    if let Some((_, id)) = taken.iter().find(|(n, _)| n == writer) {
        return Ok(u64::from(*id));
    }
    let start = mailtrace_model::fnv1a(writer.as_bytes()) % MAX_WRITER;
    let id = (0..MAX_WRITER)
        .map(|i| (start + i) % MAX_WRITER + 1)
        .find(|id| !taken.iter().any(|(_, t)| u64::from(*t) == *id))
        .ok_or(StoreError::Misuse(
            "no free writer id (1023 writers registered)",
        ))?;
    c.query("INSERT INTO writers (name, id, registered) VALUES (?, ?, now())")
        .bind(writer)
        .bind(id as u16)
        .execute()
        .await
        .map_err(ch)?;
    Ok(id)
}

impl Store for ClickHouseStore {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.pending {
            self.pending.push(batch);
            return Ok(());
        }
        let mut batches = std::mem::take(&mut self.pending);
        batches.push(batch);
        self.seq += 1;
        let seq = self.seq;
        let r = self.block_on(write::commit(&self.client, &self.writer, seq, &batches));
        if r.is_err() {
            // Not committed: a retry by the caller starts from its last commit.
            self.seq -= 1;
        }
        r
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        self.pending.clear();
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.block_on(read::checkpoints(&self.client, &self.writer))
    }

    fn correlator_state(&self) -> Result<Option<String>, StoreError> {
        self.block_on(read::state(&self.client, &self.writer))
            .map(|s| s.map(|(_, state)| state).filter(|s| !s.is_empty()))
    }

    fn next_line_no(&self) -> Result<LineNo, StoreError> {
        let first = self.first_line_no();
        let committed = self
            .block_on(read::state(&self.client, &self.writer))?
            .map_or(first, |(next, _)| next.max(first));
        // Lines of pending batches are numbered already.
        Ok(self
            .pending
            .iter()
            .map(|b| b.raw.next_no())
            .fold(committed, u64::max))
    }

    fn raw_lines(&self, nos: &[LineNo]) -> Result<Vec<Option<String>>, StoreError> {
        self.block_on(read::raw_lines(&self.client, nos))
    }

    fn raw_lines_between(
        &self,
        since: mailtrace_model::Ts,
        until: mailtrace_model::Ts,
        paging: Paging,
    ) -> Result<Vec<TimedLine>, StoreError> {
        self.block_on(read::raw_between(&self.client, since, until, Some(paging)))
    }

    fn each_raw_line_between(
        &self,
        since: mailtrace_model::Ts,
        until: mailtrace_model::Ts,
        each: &mut dyn FnMut(&TimedLine) -> bool,
    ) -> Result<(), StoreError> {
        // A page at a time, so that a day of lines is never all in memory.
        const PAGE: u32 = 50_000;
        let mut page = 1;
        loop {
            let lines = self.block_on(read::raw_between(
                &self.client,
                since,
                until,
                Some(Paging { limit: PAGE, page }),
            ))?;
            for l in &lines {
                if !each(l) {
                    return Ok(());
                }
            }
            if lines.len() < PAGE as usize {
                return Ok(());
            }
            page += 1;
        }
    }

    fn open_messages(&self) -> Result<Vec<Message>, StoreError> {
        // This writer's: the servers it wrote (others resume their own).
        self.block_on(read::open_messages(&self.client, &self.writer))
    }

    fn search(&self, filter: &Filter, paging: Paging) -> Result<SearchResult, StoreError> {
        self.block_on(search::search(&self.client, filter, paging))
    }

    fn export(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(Message) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        self.block_on(search::export(&self.client, filter, each))
    }

    fn get(&self, id: i64) -> Result<Option<Message>, StoreError> {
        self.block_on(async {
            let Some(mut m) = read::message(&self.client, id).await? else {
                return Ok(None);
            };
            let texts = read::raw_lines(&self.client, &m.line_nos).await?;
            let by_no: std::collections::HashMap<LineNo, &str> = m
                .line_nos
                .iter()
                .zip(&texts)
                .filter_map(|(no, t)| Some((*no, t.as_deref()?)))
                .collect();
            for e in &mut m.events {
                if let Some((no, col)) = e.source {
                    let line = by_no.get(&no).copied().unwrap_or_default();
                    e.text = line.get(col as usize..).unwrap_or_default().to_string();
                }
            }
            m.lines = texts.into_iter().map(Option::unwrap_or_default).collect();
            Ok(Some(m))
        })
    }

    fn lookup(&self, key: &str) -> Result<Vec<Message>, StoreError> {
        self.block_on(read::lookup(&self.client, key))
    }

    fn related(&self, id: i64) -> Result<Vec<Message>, StoreError> {
        self.block_on(read::related(&self.client, id))
    }

    fn loose_lines(
        &self,
        filter: &LooseFilter,
        paging: Paging,
    ) -> Result<Vec<LooseLine>, StoreError> {
        self.block_on(read::loose_lines(&self.client, filter, paging))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.block_on(read::stats(&self.client))
    }

    fn report(
        &self,
        filter: &Filter,
        tz: &jiff::tz::TimeZone,
        top: usize,
    ) -> Result<mailtrace_report::Report, StoreError> {
        crate::report_from_messages(self, filter, tz, top)
    }

    fn facets(&self, limit: usize) -> Result<Facets, StoreError> {
        self.block_on(search::facets(&self.client, limit))
    }

    fn purge(&mut self, r: &Retention) -> Result<Purged, StoreError> {
        if !self.pending.is_empty() {
            return Err(StoreError::Misuse(
                "purge between uncommitted batches of an ingest",
            ));
        }
        self.block_on(write::purge(&self.client, r))
    }
}
