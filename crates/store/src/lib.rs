//! Where messages live: the [`Store`] interface and its embedded implementation.
//!
//! Stage: store. Ingestion hands a [`WriteBatch`] (the raw lines read, messages, loose lines,
//! the file checkpoint and the correlator state) to [`Store::write`], which commits it atomically: after a crash the store
//! holds exactly the data up to the last checkpoint, so resuming from it neither loses nor
//! duplicates lines. Queries take a [`mailtrace_query::Filter`].
//!
//! The raw log is stored once, as numbered lines ([`RawLines`]); messages, timeline events and
//! loose lines refer to line numbers, and reads that show lines ([`Store::get`],
//! [`Store::loose_lines`], [`Store::raw_lines`]) fill the text in.
//!
//! Backends: [`sqlite::SqliteStore`] (default, embedded, WAL). Every backend must pass
//! [`suite::run_all`].
//!
//! ```
//! use mailtrace_store::{sqlite::SqliteStore, Store};
//! let store = SqliteStore::open_in_memory().unwrap();
//! assert_eq!(store.stats().unwrap().messages, 0);
//! ```
#![deny(missing_docs)]

pub mod clickhouse;
mod rollup;
pub mod sqlite;
pub mod suite;

use mailtrace_correlate::LooseLine;
use mailtrace_model::{LineNo, Message, Ts};
use mailtrace_query::{Filter, Paging};
use serde::Serialize;

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file exists but is not a mailtrace store, or is damaged. It is never reset silently.
    #[error("{path}: not a usable mailtrace store: {reason}")]
    Corrupt {
        /// The store path.
        path: String,
        /// What was found.
        reason: String,
    },
    /// The store was written by a newer mailtrace.
    #[error("{path}: schema version {found} is newer than this mailtrace supports ({supported})")]
    TooNew {
        /// The store path.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest supported version.
        supported: i64,
    },
    /// The store was written by a development version of mailtrace whose layout this one does
    /// not read (there is no migration from it: ingest the logs into a new store).
    #[error("{path}: schema version {found} was written by a development version of mailtrace and cannot be read; ingest the logs into a new store")]
    TooOld {
        /// The store path.
        path: String,
        /// Version in the file.
        found: i64,
    },
    /// A database error.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A server-backed store failed (the server's message, or the network's).
    #[error("{0}")]
    Backend(String),
    /// A stored document could not be decoded.
    #[error("store: bad stored document: {0}")]
    Decode(#[from] serde_json::Error),
    /// Writing exported messages failed (a closed pipe, a full disk).
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
    /// A message could not be encoded for storage.
    #[error("store: cannot encode a message: {0}")]
    Encode(String),
    /// The call does not fit the store's state (a purge between uncommitted batches).
    #[error("store: {0}")]
    Misuse(&'static str),
    /// A filter the backend cannot answer.
    #[error("invalid {field}: {message}")]
    Filter {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
}

/// Where reading of one input stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// Hash of the first `ident_len` bytes of the (decompressed) content: the file's identity,
    /// which survives renames (`mail.log` → `mail.log.1` → `mail.log.2.gz`).
    pub ident: i64,
    /// How many leading bytes `ident` covers.
    pub ident_len: u32,
    /// The path it was last read from (informative).
    pub path: String,
    /// Bytes of (decompressed) content consumed.
    pub offset: u64,
    /// Lines consumed.
    pub lines: u64,
}

/// Work a backend does on a batch before [`Store::write`], on another thread (serializing
/// documents, compressing raw lines), so that a pipeline can overlap it with the write of the
/// previous batch. It leaves its results in [`WriteBatch::encoded`].
pub type Encoder = fn(&mut WriteBatch);

/// Raw lines read in a batch, numbered consecutively from `first`.
#[derive(Debug, Default, Clone)]
pub struct RawLines {
    /// Number of the first line (see [`mailtrace_model::LineNo`]).
    pub first: LineNo,
    /// The lines, each followed by `\n` (valid UTF-8: the reader decodes lossily).
    pub text: Vec<u8>,
    /// How many lines `text` holds.
    pub count: u64,
    /// The time of each line (a line without its own gets the one before it), when the reader
    /// knows them: empty, or one per line.
    pub times: Vec<Ts>,
    /// The server of every line, when the reader was told (`ingest --server`); otherwise each
    /// line's syslog host.
    pub server: Option<String>,
}

impl RawLines {
    /// Empty, numbering from `first`.
    pub fn starting_at(first: LineNo) -> RawLines {
        RawLines {
            first,
            ..RawLines::default()
        }
    }

    /// Add the next line (without its end of line), its time unknown.
    pub fn push(&mut self, line: &str) {
        self.text.extend_from_slice(line.as_bytes());
        self.text.push(b'\n');
        self.count += 1;
    }

    /// Add the next line with its time.
    pub fn push_at(&mut self, line: &str, at: Ts) {
        if self.times.len() as u64 == self.count {
            self.times.push(at);
        }
        self.push(line);
    }

    /// The times, when there is one per line.
    pub fn line_times(&self) -> Option<&[Ts]> {
        (self.times.len() as u64 == self.count && self.count > 0).then_some(&self.times[..])
    }

    /// Number the next line will get.
    pub fn next_no(&self) -> LineNo {
        self.first + self.count
    }
}

/// One atomic write.
#[derive(Default)]
pub struct WriteBatch {
    /// The raw lines this batch read (messages and loose lines refer to them by number).
    pub raw: RawLines,
    /// Messages to insert or replace (by id).
    pub messages: Vec<Message>,
    /// Lines that belong to no message.
    pub loose: Vec<LooseLine>,
    /// Where the input stands after this batch.
    pub checkpoint: Option<Checkpoint>,
    /// The correlator's state after this batch (opaque JSON).
    pub state: Option<String>,
    /// More batches follow before the next commit point: the backend may keep this one in an
    /// open transaction, durable only together with the next batch that is not `pending` (or
    /// dropped by [`Store::rollback`]). Bulk ingests commit every second or so, not every batch.
    pub pending: bool,
    /// What the backend's [`Store::encoder`] made of `messages` (opaque to everyone else).
    pub encoded: Option<Box<dyn std::any::Any + Send>>,
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("messages", &self.messages.len())
            .field("loose", &self.loose.len())
            .field("raw", &(self.raw.first, self.raw.count))
            .field("checkpoint", &self.checkpoint)
            .field("pending", &self.pending)
            .field("encoded", &self.encoded.is_some())
            .finish()
    }
}

/// A page of search results.
#[derive(Debug, Default)]
pub struct SearchResult {
    /// Messages matching the filter, in total.
    pub total: u64,
    /// The page, newest first (without raw lines and timeline; see [`Store::get`]).
    pub messages: Vec<Message>,
}

/// The syslog host of log lines.
pub struct LineHost(mailtrace_parse::syslog::Context);

impl LineHost {
    /// A reader of hosts.
    pub fn new() -> LineHost {
        LineHost(mailtrace_parse::syslog::Context::new(
            2000,
            jiff::tz::TimeZone::UTC,
        ))
    }

    /// The host of `line`, if it has a syslog envelope.
    pub fn of(&mut self, line: &str) -> Option<String> {
        mailtrace_parse::syslog::parse(line, &mut self.0).map(|e| e.host.to_string())
    }
}

impl Default for LineHost {
    fn default() -> LineHost {
        LineHost::new()
    }
}

/// A test of whether a log line comes from `server` (every line when `None`).
pub fn line_on_server(server: Option<&str>) -> impl FnMut(&str) -> bool + '_ {
    let mut host = LineHost::new();
    move |line: &str| server.is_none_or(|s| host.of(line).is_some_and(|h| h == s))
}

/// Statistics of a store by reading the matching messages and the raw log of the time range:
/// what [`Store::report`] does unless a backend has a faster way.
///
/// # Errors
/// The backend failed.
pub fn report_from_messages(
    store: &dyn Store,
    filter: &Filter,
    tz: &jiff::tz::TimeZone,
    top: usize,
) -> Result<mailtrace_report::Report, StoreError> {
    let mut b = mailtrace_report::Builder::new(tz.clone(), top.max(1));
    store.export(filter, &mut |m| {
        b.add_message(&m);
        Ok(())
    })?;
    // Warnings, SASL failures and the like, from every line logged in the time range
    // (of the server, when one is asked for), as when reading the log files themselves.
    let mut on_server = line_on_server(filter.server.as_deref());
    store.each_raw_line_between(
        filter.since.unwrap_or(Ts(i64::MIN)),
        filter.until.unwrap_or(Ts(i64::MAX)),
        &mut |l| {
            if on_server(&l.text) {
                b.add_line(&l.text);
            }
            true
        },
    )?;
    Ok(b.finish())
}

/// What is in a store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Messages (including rejections).
    pub messages: u64,
    /// Recipients.
    pub recipients: u64,
    /// Messages still queued.
    pub open: u64,
    /// Loose lines.
    pub loose: u64,
    /// Of which unparsed.
    pub unparsed: u64,
}

/// What to forget ([`Store::purge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages received before this (except those still queued), their recipients, and the
    /// statistics of the hours before it.
    pub messages_before: Ts,
    /// Raw log lines logged before this, with the loose lines among them. (Messages of that
    /// time keep their timeline; their raw lines are gone.)
    pub raw_before: Ts,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Messages.
    pub messages: u64,
    /// Their recipients.
    pub recipients: u64,
    /// Rows of hourly statistics (backends that keep them).
    pub rollup_rows: u64,
    /// Raw log lines.
    pub raw_lines: u64,
    /// Loose lines (unparsed, other programs...).
    pub loose_lines: u64,
}

/// A raw line with its number and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimedLine {
    /// Line number.
    pub no: LineNo,
    /// When it was logged.
    pub at: Ts,
    /// The line.
    pub text: String,
}

/// Values to pick from in a search form, each with its number of messages, most first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    /// Server names.
    pub servers: Vec<(String, u64)>,
    /// Sender domains.
    pub sender_domains: Vec<(String, u64)>,
}

/// Which loose lines to list.
#[derive(Debug, Clone, Default)]
pub struct LooseFilter {
    /// Kind (`unparsed`, `other`, `session`, `notice`).
    pub kind: Option<String>,
    /// Server.
    pub server: Option<String>,
    /// Substring.
    pub contains: Option<String>,
    /// At or after.
    pub since: Option<Ts>,
    /// Before.
    pub until: Option<Ts>,
}

/// A message store. Implementations: [`sqlite::SqliteStore`].
pub trait Store: Send {
    /// The backend's [`Encoder`], if it has work that can run ahead of [`Store::write`] on
    /// another thread. `write` must also accept batches that did not go through it.
    fn encoder(&self) -> Option<Encoder> {
        None
    }

    /// The shortest time the backend wants between two commits of an ingest (a commit costs
    /// it more than a batch): ingests commit at most this often.
    fn commit_spacing(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Commit a batch atomically (data, checkpoint and correlator state together), with the
    /// [`WriteBatch::pending`] batches written before it.
    ///
    /// # Errors
    /// The backend failed; nothing since the last commit is stored.
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError>;

    /// Drop what [`WriteBatch::pending`] batches wrote since the last commit (an ingest that
    /// stopped on an error: it resumes from the last commit).
    ///
    /// # Errors
    /// The backend failed.
    fn rollback(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every input checkpoint.
    ///
    /// # Errors
    /// The backend failed.
    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;

    /// The correlator state of the last write that carried one.
    ///
    /// # Errors
    /// The backend failed.
    fn correlator_state(&self) -> Result<Option<String>, StoreError>;

    /// The number the next raw line gets: one more than the last stored.
    ///
    /// # Errors
    /// The backend failed.
    fn next_line_no(&self) -> Result<LineNo, StoreError>;

    /// The text of raw lines, in the order asked (`None` for a number not stored).
    ///
    /// # Errors
    /// The backend failed.
    fn raw_lines(&self, nos: &[LineNo]) -> Result<Vec<Option<String>>, StoreError>;

    /// The raw lines logged in `[since, until)`, in the order they were read (the raw log of a
    /// day, a page at a time). Lines stored without their time are not found.
    ///
    /// # Errors
    /// The backend failed.
    fn raw_lines_between(
        &self,
        since: Ts,
        until: Ts,
        paging: Paging,
    ) -> Result<Vec<TimedLine>, StoreError>;

    /// Call `each` with the raw lines logged in `[since, until)`, in the order they were read,
    /// until it returns false.
    ///
    /// # Errors
    /// The backend failed.
    fn each_raw_line_between(
        &self,
        since: Ts,
        until: Ts,
        each: &mut dyn FnMut(&TimedLine) -> bool,
    ) -> Result<(), StoreError>;

    /// Messages still queued (with line numbers and timeline, without text), to resume
    /// correlation.
    ///
    /// # Errors
    /// The backend failed.
    fn open_messages(&self) -> Result<Vec<Message>, StoreError>;

    /// Search, newest first.
    ///
    /// # Errors
    /// The backend failed or cannot answer the filter.
    fn search(&self, filter: &Filter, paging: Paging) -> Result<SearchResult, StoreError>;

    /// Every match, newest first, without paging; `each` is called per message.
    ///
    /// # Errors
    /// The backend failed, or `each` failed.
    fn export(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(Message) -> std::io::Result<()>,
    ) -> Result<(), StoreError>;

    /// One message in full (raw lines and timeline, with their text).
    ///
    /// # Errors
    /// The backend failed.
    fn get(&self, id: i64) -> Result<Option<Message>, StoreError>;

    /// Messages whose queue id or Message-ID is `key`, newest first (without raw lines).
    ///
    /// # Errors
    /// The backend failed.
    fn lookup(&self, key: &str) -> Result<Vec<Message>, StoreError>;

    /// Messages linked to `id`: its content-filter children and its notifications.
    ///
    /// # Errors
    /// The backend failed.
    fn related(&self, id: i64) -> Result<Vec<Message>, StoreError>;

    /// Loose lines, oldest first.
    ///
    /// # Errors
    /// The backend failed.
    fn loose_lines(
        &self,
        filter: &LooseFilter,
        paging: Paging,
    ) -> Result<Vec<LooseLine>, StoreError>;

    /// Counts.
    ///
    /// # Errors
    /// The backend failed.
    fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Mail-flow statistics of the messages matching `filter` and of the lines in its time range
    /// that belong to no message, days and hours in `tz`, `top` rows per ranking: by
    /// [`report_from_messages`], or from aggregates the backend keeps.
    ///
    /// # Errors
    /// The backend failed.
    fn report(
        &self,
        filter: &Filter,
        tz: &jiff::tz::TimeZone,
        top: usize,
    ) -> Result<mailtrace_report::Report, StoreError>;

    /// The servers and the `limit` busiest sender domains.
    ///
    /// # Errors
    /// The backend failed.
    fn facets(&self, limit: usize) -> Result<Facets, StoreError>;

    /// Forget what is older than `r` says, in small steps that let writers and readers through
    /// in between (retention). Not between [`WriteBatch::pending`] batches of one connection.
    ///
    /// # Errors
    /// The backend failed, or batches are pending ([`StoreError::Misuse`]); what was deleted
    /// before stays deleted.
    fn purge(&mut self, r: &Retention) -> Result<Purged, StoreError>;
}
