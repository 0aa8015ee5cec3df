//! Ingestion: log files in, committed batches out.
//!
//! Stage: ingest. [`Ingestor`] reads each input ([`Input::Path`], plain or gzip, or
//! [`Input::Stdin`]) line by line, feeds the correlator, and hands batches to a writer thread over
//! a bounded channel. Each batch carries the input's [`Checkpoint`] and the correlator state, and
//! the store commits them together: a killed ingest resumes where the last batch ended, and the
//! same file ingested twice adds nothing.
//!
//! Bad input never stops an ingest: lines that are not UTF-8 are decoded lossily, lines longer
//! than [`MAX_LINE`] are cut (and marked), and everything unparsed is stored as a loose line.
#![deny(missing_docs)]

mod follow;
mod listen;
mod reader;
mod scan;

pub use follow::{Live, LiveCounts, LiveStats};
pub use listen::{Chunk, Framer, ListenStats, Listener};

pub use reader::{line_text, open_input, InputReader, MAX_LINE};
pub use scan::{scan, ScanSummary};

use jiff::tz::TimeZone;
use mailtrace_correlate::{parse_line_as, Correlator, CorrelatorState, Limits, Output};
use mailtrace_model::LineNo;
pub use mailtrace_parse::format::Format;
use mailtrace_parse::syslog;
use mailtrace_store::{Checkpoint, RawLines, Store, StoreError, WriteBatch};
use serde::Serialize;
use std::path::PathBuf;

/// Errors of an ingest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// An input could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The input.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store refused a batch.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The saved correlator state could not be read.
    #[error("saved correlator state is unreadable: {0}")]
    State(#[from] serde_json::Error),
}

/// One input.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file, plain or gzip (detected from its first bytes).
    Path(PathBuf),
    /// Standard input.
    Stdin,
}

impl Input {
    /// How to show it.
    pub fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
        }
    }
}

/// How to ingest.
#[derive(Debug, Clone)]
pub struct Options {
    /// Server name for every line (instead of the syslog host field).
    pub server: Option<String>,
    /// Year of the first BSD-timestamp line (instead of inferring it from the file time).
    pub year: Option<i16>,
    /// Zone of BSD timestamps (they carry none).
    pub tz: TimeZone,
    /// Lines per batch handed to the store (bounds the memory in flight).
    pub batch_lines: u64,
    /// A commit (with checkpoint and correlator state) after at most this many lines...
    pub commit_lines: u64,
    /// ...or this much time, whichever comes first. Fewer commits write hot index pages less
    /// often; a killed ingest resumes from the last one.
    pub commit_interval: std::time::Duration,
    /// Never commit more often than this (the store's [`Store::commit_spacing`], set by the
    /// ingest).
    pub commit_spacing: std::time::Duration,
    /// Correlation memory limits.
    pub limits: Limits,
    /// The log format of every input; `None` detects it per input from its first lines.
    pub format: Option<Format>,
    /// Server name of lines that name none (Exim's own main log, SmarterMail, transcripts)
    /// when [`Options::server`] is not given: by default this machine's host name.
    pub local_server: String,
}

/// This machine's host name (`localhost` when it cannot be read): the server of logs whose
/// lines name none, read on the server that wrote them.
pub fn local_host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server: None,
            year: None,
            tz: TimeZone::system(),
            batch_lines: 30_000,
            commit_lines: 2_000_000,
            commit_interval: std::time::Duration::from_secs(1),
            commit_spacing: std::time::Duration::ZERO,
            limits: Limits::default(),
            format: None,
            local_server: local_host_name(),
        }
    }
}

/// What happened to one input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileReport {
    /// The input.
    pub input: String,
    /// Log format: detected from the first lines, or given (see [`Format`]).
    pub format: String,
    /// Whether the log format was detected (`false`: given with [`Options::format`]).
    pub detected: bool,
    /// `plain` or `gzip`.
    pub compression: String,
    /// Lines read in this run.
    pub lines: u64,
    /// Bytes read in this run.
    pub bytes: u64,
    /// Bytes skipped because an earlier run read them.
    pub resumed_at: u64,
    /// Lines of this run that no rule understood (kept as unparsed lines).
    pub unparsed: u64,
    /// Lines of this run written by programs that are not mail servers (syslog files).
    pub other: u64,
    /// Lines of this run understood: `lines - unparsed - other`.
    pub recognised: u64,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Per input.
    pub files: Vec<FileReport>,
    /// Lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Messages finished in this run (delivered, bounced, rejected...; notifications included).
    pub messages: u64,
    /// Recipients in finished messages.
    pub recipients: u64,
    /// Messages still queued at the end, in the whole store.
    pub open: u64,
    /// Lines not understood (kept as loose lines).
    pub unparsed: u64,
    /// Lines of other programs (kept as loose lines).
    pub other: u64,
}

/// Progress callbacks (a progress bar on a terminal).
pub trait Progress {
    /// A new input starts; `len` is its size when known.
    fn start(&mut self, name: &str, len: Option<u64>);
    /// Bytes consumed of the current input so far.
    fn advance(&mut self, pos: u64, lines: u64);
    /// The input is done.
    fn finish(&mut self);
}

/// No progress display.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: Option<u64>) {}
    fn advance(&mut self, _: u64, _: u64) {}
    fn finish(&mut self) {}
}

/// Reads inputs into a store. See the crate documentation.
pub struct Ingestor<'s> {
    store: &'s mut dyn Store,
    opts: Options,
}

impl<'s> Ingestor<'s> {
    /// An ingestor writing to `store`.
    pub fn new(store: &'s mut dyn Store, opts: Options) -> Ingestor<'s> {
        Ingestor { store, opts }
    }

    /// Ingest `inputs` in order.
    ///
    /// # Errors
    /// An input cannot be opened or read, or the store fails. Batches committed before the
    /// error stay committed (with their checkpoints), so running again resumes.
    pub fn run(
        self,
        inputs: &[Input],
        progress: &mut dyn Progress,
    ) -> Result<Summary, IngestError> {
        self.pipeline(None, None, |r| {
            let mut files = Vec::new();
            for input in &reading_order(inputs, r.opts.format) {
                files.push(ingest_one(
                    input,
                    r.opts,
                    r.checkpoints,
                    r.saved_file,
                    r.saved_year,
                    r.correlator,
                    r.next_no,
                    r.tx,
                    progress,
                )?);
            }
            let out = r.correlator.finish_input();
            let state = serde_json::to_string(&r.correlator.state(None, None))?;
            let _ = r.tx.send(commit(
                batch(out, RawLines::starting_at(*r.next_no)),
                None,
                state,
            ));
            Ok(files)
        })
    }

    /// Follow `paths` as they grow (`tail -F`) until `stop` is set: see [`follow`].
    ///
    /// # Errors
    /// A file cannot be read (a missing one is waited for), or the store fails. What was
    /// committed stays, and a restart resumes from it.
    pub fn follow(
        self,
        paths: &[std::path::PathBuf],
        stop: &std::sync::atomic::AtomicBool,
        progress: &mut dyn Progress,
    ) -> Result<Summary, IngestError> {
        let live = Live {
            files: paths,
            syslog: None,
            stats: &LiveStats::default(),
        };
        self.live(&live, stop, progress, &mut |_| {})
    }

    /// Follow files and take syslog lines until `stop` is set (see [`follow`]); `on_write`
    /// sees every batch before the store writes it (on the writer thread).
    ///
    /// # Errors
    /// As [`Ingestor::follow`].
    pub fn live(
        self,
        live: &Live<'_>,
        stop: &std::sync::atomic::AtomicBool,
        progress: &mut dyn Progress,
        on_write: &mut (dyn FnMut(&WriteBatch) + Send),
    ) -> Result<Summary, IngestError> {
        self.pipeline(Some(on_write), Some(live.stats), |r| {
            follow::run(r, live, stop, progress)
        })
    }

    /// The store's side of an ingest: `read` correlates and sends batches on one thread while
    /// the store's encoder and writer run on two more (bounded channels between them); each
    /// batch is committed with its checkpoint.
    fn pipeline(
        self,
        mut on_write: Option<&mut (dyn FnMut(&WriteBatch) + Send)>,
        live: Option<&LiveStats>,
        read: impl FnOnce(Reading<'_>) -> Result<Vec<FileReport>, IngestError>,
    ) -> Result<Summary, IngestError> {
        let Ingestor { store, mut opts } = self;
        opts.commit_spacing = store.commit_spacing();
        let checkpoints = store.checkpoints()?;
        let state: CorrelatorState = match store.correlator_state()? {
            Some(s) => serde_json::from_str(&s)?,
            None => CorrelatorState::default(),
        };
        let saved_file = state.file;
        let saved_year = state.year;
        let mut correlator = Correlator::restore(state, store.open_messages()?, opts.limits);
        correlator.set_default_server(opts.server.as_deref().unwrap_or(&opts.local_server));
        let mut next_no = store.next_line_no()?;
        let before = correlator.counters();
        let (tx, rx) = crossbeam_channel::bounded::<WriteBatch>(1);
        let (tx_enc, rx_enc) = crossbeam_channel::bounded::<WriteBatch>(1);
        let encoder = store.encoder();
        let mut summary = Summary::default();
        let written = std::thread::scope(|scope| -> Result<(u64, u64), IngestError> {
            let spawn_err = |source| IngestError::Io {
                path: "ingest thread".into(),
                source,
            };
            std::thread::Builder::new()
                .name("store-encoder".into())
                .spawn_scoped(scope, move || {
                    for mut batch in rx {
                        if let Some(encode) = encoder {
                            encode(&mut batch);
                        }
                        if tx_enc.send(batch).is_err() {
                            break; // the writer failed
                        }
                    }
                })
                .map_err(spawn_err)?;
            let writer = std::thread::Builder::new()
                .name("store-writer".into())
                .spawn_scoped(scope, move || -> Result<(u64, u64), StoreError> {
                    let mut finished = 0u64;
                    let mut pending = false;
                    for batch in rx_enc {
                        finished += batch.messages.iter().filter(|m| !m.open).count() as u64;
                        pending = batch.pending;
                        if let Some(f) = on_write.as_mut() {
                            f(&batch);
                        }
                        let commits = !batch.pending;
                        store.write(batch)?;
                        if let (true, Some(live)) = (commits, live) {
                            live.committed();
                        }
                    }
                    if pending {
                        // The reader stopped on an error: keep the store at the last commit.
                        store.rollback()?;
                    }
                    // Still queued: messages of this run and of earlier ones (the correlator
                    // keeps only the recently active ones in memory).
                    Ok((finished, store.stats()?.open))
                })
                .map_err(spawn_err)?;
            let read = read(Reading {
                opts: &opts,
                checkpoints: &checkpoints,
                saved_file,
                saved_year,
                correlator: &mut correlator,
                next_no: &mut next_no,
                tx: &tx,
            });
            drop(tx);
            let w = writer.join().unwrap_or_else(|_| {
                Err(StoreError::Encode(
                    "the store writer thread panicked".into(),
                ))
            });
            for report in read? {
                summary.lines += report.lines;
                summary.bytes += report.bytes;
                summary.files.push(report);
            }
            Ok(w?)
        })?;
        let c = correlator.counters();
        summary.messages = written.0;
        summary.open = written.1;
        summary.recipients = c.recipients_done - before.recipients_done;
        summary.unparsed = c.unparsed - before.unparsed;
        summary.other = c.other - before.other;
        Ok(summary)
    }
}

/// What the reading side of [`Ingestor::pipeline`] works with.
struct Reading<'a> {
    opts: &'a Options,
    checkpoints: &'a [Checkpoint],
    saved_file: Option<i64>,
    saved_year: Option<syslog::YearState>,
    correlator: &'a mut Correlator,
    next_no: &'a mut LineNo,
    tx: &'a crossbeam_channel::Sender<WriteBatch>,
}

/// The inputs in the order to read them: SmarterMail's logs first, by the date of their first
/// line and each day's SMTP log before its delivery log, then the others as given.
///
/// A delivery joins the message its SMTP session received (by spool number) only when the
/// session was read first, and `*-delivery.log` sorts before `*-smtpLog.log` of the same day;
/// and reading them before the other files keeps log time going forward for them, so that the
/// idle sweep does not write out a received message waiting for its delivery because a newer
/// file came in between.
pub(crate) fn reading_order(inputs: &[Input], format: Option<Format>) -> Vec<Input> {
    if format.is_some() {
        return inputs.to_vec();
    }
    let mut smartermail: Vec<((String, bool), Input)> = Vec::new();
    let mut rest = Vec::new();
    for i in inputs {
        let r = match i {
            Input::Path(_) => open_input(i).ok(),
            Input::Stdin => None,
        };
        let f = r.as_ref().map(InputReader::detect_format);
        match (f, r) {
            (Some(f @ (Format::SmarterMailSmtp | Format::SmarterMailDelivery)), Some(r)) => {
                // `[yyyy.MM.dd] HH:mm:ss`: sorts as text.
                let first = String::from_utf8_lossy(r.head().get(..21).unwrap_or_default());
                let key = (first.into_owned(), f == Format::SmarterMailDelivery);
                smartermail.push((key, i.clone()));
            }
            _ => rest.push(i.clone()),
        }
    }
    smartermail.sort_by(|a, b| a.0.cmp(&b.0));
    smartermail
        .into_iter()
        .map(|(_, i)| i)
        .chain(rest)
        .collect()
}

/// What correlation produced since the last batch, with the raw lines read meanwhile: part of
/// the next commit (`pending`) until [`commit`] gives it a checkpoint and the state.
fn batch(out: Output, raw: RawLines) -> WriteBatch {
    WriteBatch {
        raw,
        messages: out.messages,
        loose: out.loose,
        pending: true,
        ..WriteBatch::default()
    }
}

/// A batch that commits, with where the input stands and the state to resume from.
fn commit(mut b: WriteBatch, checkpoint: Option<Checkpoint>, state: String) -> WriteBatch {
    b.checkpoint = checkpoint;
    b.state = Some(state);
    b.pending = false;
    b
}

#[allow(clippy::too_many_arguments)]
fn ingest_one(
    input: &Input,
    opts: &Options,
    checkpoints: &[Checkpoint],
    saved_file: Option<i64>,
    saved_year: Option<syslog::YearState>,
    correlator: &mut Correlator,
    next_no: &mut LineNo,
    tx: &crossbeam_channel::Sender<WriteBatch>,
    progress: &mut dyn Progress,
) -> Result<FileReport, IngestError> {
    let name = input.name();
    let io = |source| IngestError::Io {
        path: name.clone(),
        source,
    };
    let mut r = open_input(input).map_err(io)?;
    let (ident, ident_len) = r.identity(checkpoints);
    let known = checkpoints
        .iter()
        .find(|c| c.ident == ident && c.ident_len == ident_len);
    let resume = known.map_or(0, |c| c.offset);
    let format = opts.format.unwrap_or_else(|| r.detect_format());
    let mut report = FileReport {
        input: name.clone(),
        format: format.name().to_string(),
        detected: opts.format.is_none(),
        compression: r.format().to_string(),
        resumed_at: resume,
        ..FileReport::default()
    };
    let before = correlator.counters();
    if ident_len == 0 {
        return Ok(report);
    }
    let mut ctx = match (
        opts.year,
        saved_file == Some(ident) && resume > 0,
        saved_year,
    ) {
        (Some(y), _, _) => syslog::Context::new(y, opts.tz.clone()),
        (None, true, Some(ys)) => syslog::Context::with_state(ys, opts.tz.clone()),
        _ => {
            let end = r.modified().to_zoned(opts.tz.clone());
            syslog::Context::ending_at(end.year(), end.month() as u8, opts.tz.clone())
        }
    };
    r.skip(resume).map_err(io)?;
    progress.start(&name, r.size());
    let mut offset = resume;
    let mut lines_total = known.map_or(0, |c| c.lines);
    let mut since_batch = 0u64;
    let mut since_commit = 0u64;
    let mut last_commit = std::time::Instant::now();
    let mut buf = Vec::with_capacity(4096);
    let server = opts.server.as_deref();
    // Lines of these formats name no server: it is the given or the local one for all.
    let raw_server = match (&opts.server, format.hostless()) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => Some(opts.local_server.clone()),
        (None, false) => None,
    };
    let raw_from = |first| RawLines {
        server: raw_server.clone(),
        ..RawLines::starting_at(first)
    };
    let mut raw = raw_from(*next_no);
    let send = |correlator: &mut Correlator,
                raw: RawLines,
                offset: u64,
                lines: u64,
                ctx: &syslog::Context|
     -> Result<bool, IngestError> {
        let out = correlator.checkpoint();
        let state = serde_json::to_string(&correlator.state(Some(ident), Some(ctx.state())))?;
        let checkpoint = Checkpoint {
            ident,
            ident_len,
            path: name.clone(),
            offset,
            lines,
        };
        Ok(tx
            .send(commit(batch(out, raw), Some(checkpoint), state))
            .is_ok())
    };
    loop {
        let n = r.next_line(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        report.bytes += n as u64;
        report.lines += 1;
        lines_total += 1;
        let text = line_text(&buf);
        correlator.feed_parsed(
            raw.next_no(),
            &parse_line_as(&text, &mut ctx, format),
            server,
        );
        raw.push_at(&text, correlator.last_time());
        since_batch += 1;
        if since_batch >= opts.batch_lines {
            since_commit += since_batch;
            since_batch = 0;
            progress.advance(offset, report.lines);
            let next = raw_from(raw.next_no());
            let raw = std::mem::replace(&mut raw, next);
            let sent = if since_commit >= opts.commit_lines
                || last_commit.elapsed() >= opts.commit_interval.max(opts.commit_spacing)
            {
                since_commit = 0;
                last_commit = std::time::Instant::now();
                send(correlator, raw, offset, lines_total, &ctx)?
            } else {
                tx.send(batch(correlator.drain(), raw)).is_ok()
            };
            if !sent {
                break; // the writer failed; its error is reported by the caller
            }
        }
    }
    *next_no = raw.next_no();
    send(correlator, raw, offset, lines_total, &ctx)?;
    progress.advance(offset, report.lines);
    progress.finish();
    let after = correlator.counters();
    report.unparsed = after.unparsed - before.unparsed;
    report.other = after.other - before.other;
    report.recognised = report.lines.saturating_sub(report.unparsed + report.other);
    Ok(report)
}
