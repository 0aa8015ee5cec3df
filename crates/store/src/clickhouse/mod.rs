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
mod report;
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
use std::collections::HashMap;
use std::sync::Mutex;

/// Bits of a line number below the writer's id: 2^42 lines per writer, and numbers stay
/// below 2^52, exact in a JavaScript number.
const WRITER_SHIFT: u32 = 42;
/// Writer ids run from 1 to this.
const MAX_WRITER: u64 = 1023;

/// The shortest time between two commits of a writer.
const COMMIT_SPACING: std::time::Duration = std::time::Duration::from_secs(2);

/// Bits of a message version below the line number its batch ended at.
const VERSION_SHIFT: u32 = 12;

/// A queued message not written for this long (log time) is forgotten by the correlator
/// (its `message_idle`, with a day to spare): so is its entry in `queued`.
const QUEUED_IDLE: i64 = 7 * 86_400 * 1_000_000;

/// A ClickHouse store, as one writer (see the module documentation).
pub struct ClickHouseStore {
    /// Its own runtime (`None` only while dropped).
    rt: Option<tokio::runtime::Runtime>,
    client: clickhouse::Client,
    loc: Location,
    /// The cluster the database is spread over (`migrate --cluster`), if any.
    cluster: Option<String>,
    writer: String,
    writer_id: u64,
    /// Version of the writer's last commit (checkpoints and state carry it).
    seq: u64,
    /// The newest message version committed.
    last_version: u64,
    /// What the batches since the last commit wrote.
    pending: Pending,
    /// The last version written of each message still queued, whose statistics are taken
    /// back when it is written again (as of the last commit: changes after it are staged).
    queued: Mutex<HashMap<i64, Message>>,
    /// Commits that failed after inserting statistics, listed with the next commit.
    abandoned: Vec<u64>,
    /// Rows past which pending batches are inserted before their commit.
    flush_rows: usize,
}

/// The batches since the last commit.
#[derive(Default)]
struct Pending {
    /// A batch was written.
    any: bool,
    /// Rows not inserted yet.
    rows: write::Rows,
    /// Rows were inserted already (a failure abandons the commit).
    flushed: bool,
    checkpoints: Vec<Checkpoint>,
    state: Option<String>,
    /// The line number after the last raw line (0 when none).
    next_no: LineNo,
    /// The newest message version given.
    last_version: u64,
    /// Messages written: `Some` while queued (the version written), `None` when finished.
    staged: HashMap<i64, Option<Message>>,
}

impl ClickHouseStore {
    /// Create the database or bring its schema up to date, on one server or spread over the
    /// nodes of `cluster` (replicated tables behind `Distributed` ones, see
    /// [`schema`]); returns (old, new) version.
    ///
    /// # Errors
    /// The server cannot be reached or refused a statement.
    pub fn migrate(loc: &Location, cluster: Option<&str>) -> Result<(u32, u32), StoreError> {
        runtime()?.block_on(conn::migrate(loc, cluster))
    }

    /// Connect as the writer `writer` (registered on first use).
    ///
    /// # Errors
    /// The server cannot be reached, the schema is missing or of another version (run
    /// `mailtrace migrate`), or no writer id is free.
    pub fn open(loc: &Location, writer: &str) -> Result<ClickHouseStore, StoreError> {
        let rt = runtime()?;
        let (client, cluster, writer_id, seq, last_version) = rt.block_on(async {
            let root = loc.server_client();
            let server = conn::Server::probe(&root).await?;
            let cluster = conn::cluster_of(&root, &loc.database).await?;
            let client = server.client(loc, cluster.as_deref());
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
            let committed: u64 = client
                .query("SELECT max(version) FROM writer_state WHERE writer = ?")
                .bind(writer)
                .fetch_one()
                .await
                .map_err(ch)?;
            // Statistics of commits after the last one that completed do not count; their
            // numbers are not used again.
            let used: u64 = client
                .query("SELECT max(seq) FROM stats WHERE writer = ?")
                .bind(writer)
                .fetch_one()
                .await
                .map_err(ch)?;
            let abandoned: Vec<rows::AbandonedRow> = (committed + 1..=used)
                .map(|seq| rows::AbandonedRow {
                    writer: writer.to_string(),
                    seq,
                })
                .collect();
            write::insert(&client, "abandoned", &abandoned).await?;
            let last_version = read::state(&client, writer)
                .await?
                .map_or(0, |s| s.last_version);
            Ok((client, cluster, id, committed.max(used), last_version))
        })?;
        Ok(ClickHouseStore {
            rt: Some(rt),
            client,
            loc: loc.clone(),
            writer: writer.to_string(),
            cluster,
            writer_id,
            seq,
            last_version,
            pending: Pending::default(),
            queued: Mutex::new(HashMap::new()),
            abandoned: Vec::new(),
            flush_rows: write::FLUSH_ROWS,
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
        run_on(&self.rt, f)
    }
}

/// Run `f` on the store's runtime `rt` (a function of the field, so that other fields can be
/// borrowed meanwhile).
fn run_on<T>(
    rt: &Option<tokio::runtime::Runtime>,
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match rt {
        Some(rt) => rt.block_on(f),
        None => Err(StoreError::Misuse("the store is being dropped")),
    }
}

impl Drop for ClickHouseStore {
    fn drop(&mut self) {
        // Without waiting: a store may be dropped by an async task (serve's pool), where a
        // runtime must not block.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
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
    fn commit_spacing(&self) -> std::time::Duration {
        // Each commit is an insert into every table (a new part in each); ClickHouse wants
        // few large inserts, and several writers share the server.
        COMMIT_SPACING
    }

    fn write(&mut self, mut batch: WriteBatch) -> Result<(), StoreError> {
        let p = &mut self.pending;
        p.any = true;
        p.checkpoints.extend(batch.checkpoint.take());
        if batch.state.is_some() {
            p.state = batch.state.take();
        }
        // The version: where the batch ends in the input, so the same for the same input
        // however it was cut into commits, and growing.
        let end = if batch.raw.count > 0 {
            p.next_no = p.next_no.max(batch.raw.next_no());
            batch.raw.next_no()
        } else {
            0
        };
        let version = (end << VERSION_SHIFT).max(p.last_version.max(self.last_version) + 1);
        p.rows.lines(&batch)?;
        // The last of each message in the batch (the earlier ones never were).
        let mut last: HashMap<i64, usize> = HashMap::with_capacity(batch.messages.len());
        for (i, m) in batch.messages.iter().enumerate() {
            last.insert(m.id, i);
        }
        let queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        for (i, mut m) in std::mem::take(&mut batch.messages).into_iter().enumerate() {
            if last.get(&m.id) != Some(&i) {
                continue;
            }
            let previous = match p.staged.get(&m.id) {
                Some(staged) => staged.as_ref(),
                None => queued.get(&m.id),
            };
            if let Some(old) = previous {
                p.rows.sums.message(old, -1);
            }
            p.rows.message(&m, &self.writer, version)?;
            p.last_version = version;
            m.lines = Vec::new();
            p.staged.insert(m.id, m.open.then_some(m));
        }
        drop(queued);
        let seq = self.seq + 1;
        if batch.pending {
            if p.rows.len() >= self.flush_rows {
                p.flushed = true;
                return run_on(&self.rt, p.rows.flush(&self.client, &self.writer, seq));
            }
            return Ok(());
        }
        let p = std::mem::take(&mut self.pending);
        let Pending {
            mut rows,
            checkpoints,
            state,
            next_no,
            last_version,
            staged,
            ..
        } = p;
        let r = self.block_on(async {
            rows.flush(&self.client, &self.writer, seq).await?;
            write::commit(
                &self.client,
                write::Commit {
                    writer: &self.writer,
                    seq,
                    checkpoints: &checkpoints,
                    state,
                    next_line_no: next_no,
                    last_version,
                    abandoned: &self.abandoned,
                },
            )
            .await
        });
        // The number is used either way: statistics of a failed commit may be in.
        self.seq = seq;
        if let Err(e) = r {
            // Not committed: a retry by the caller starts from its last commit.
            self.abandoned.push(seq);
            return Err(e);
        }
        self.abandoned.clear();
        self.last_version = self.last_version.max(last_version);
        let queued = self.queued.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut newest = 0;
        for (id, m) in staged {
            match m {
                Some(m) => {
                    newest = newest.max(m.last_seen.0);
                    queued.insert(id, m);
                }
                None => {
                    queued.remove(&id);
                }
            }
        }
        if newest > 0 {
            queued.retain(|_, m| newest - m.last_seen.0 <= QUEUED_IDLE);
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        let p = std::mem::take(&mut self.pending);
        if p.flushed {
            self.seq += 1;
            self.abandoned.push(self.seq);
        }
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.block_on(read::checkpoints(&self.client, &self.writer))
    }

    fn correlator_state(&self) -> Result<Option<String>, StoreError> {
        self.block_on(read::state(&self.client, &self.writer))
            .map(|s| s.map(|s| s.state).filter(|s| !s.is_empty()))
    }

    fn next_line_no(&self) -> Result<LineNo, StoreError> {
        let first = self.first_line_no();
        let committed = self
            .block_on(read::state(&self.client, &self.writer))?
            .map_or(first, |s| s.next_line_no.max(first));
        // Lines of pending batches are numbered already.
        Ok(committed.max(self.pending.next_no))
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
        let open = self.block_on(read::open_messages(
            &self.client,
            &self.writer,
            self.last_version,
        ))?;
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        for m in &open {
            queued.insert(m.id, m.clone());
        }
        Ok(open)
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
        match crate::rollup::Range::of(filter) {
            Some(range) => self.block_on(report::report(&self.client, &range, tz, top)),
            None => crate::report_from_messages(self, filter, tz, top),
        }
    }

    fn facets(&self, limit: usize) -> Result<Facets, StoreError> {
        self.block_on(search::facets(&self.client, limit))
    }

    fn purge(&mut self, r: &Retention) -> Result<Purged, StoreError> {
        if self.pending.any {
            return Err(StoreError::Misuse(
                "purge between uncommitted batches of an ingest",
            ));
        }
        self.block_on(write::purge(&self.client, self.cluster.as_deref(), r))
    }
}
