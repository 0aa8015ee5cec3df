//! Following growing log files, as `tail -F` does: lines are read as they are written and
//! committed with each file's checkpoint at least once a second, so that they are searchable
//! within about a second and a restart resumes where the last commit ended.
//!
//! Rotation loses nothing:
//! - **rename** (`mail.log` → `mail.log.1`, a new `mail.log`): the old file is read to its end
//!   through the open handle (the MTA may write to it until it reopens), then the new one from
//!   its start;
//! - **copytruncate** (copied to `mail.log.1`, then truncated): the lines written between the
//!   last read and the truncation are read from the copy (recognised by its first bytes),
//!   then the truncated file from its start;
//! - a file that does not exist yet is waited for;
//! - at start, rotated files next to a followed one (`mail.log.1`, `mail.log.2.gz`, ...) that
//!   were never read to their end are read first, oldest first; files read before are
//!   skipped by their checkpoints.
//!
//! Lines of the syslog receiver ([`crate::Listener`]) come in as one more source: they have no
//! checkpoint (a syslog sender does not resend), and are committed at the same pace.

use crate::{
    batch, commit, ingest_one, line_text, Chunk, FileReport, IngestError, Input, Progress, Reading,
    MAX_LINE,
};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use mailtrace_correlate::parse_line_as;
use mailtrace_parse::format::Format;
use mailtrace_parse::syslog;
use mailtrace_store::{Checkpoint, RawLines};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pause between two looks at files that had nothing new.
const POLL: Duration = Duration::from_millis(200);

/// Least pause between two commits while lines trickle in.
const QUIET: Duration = Duration::from_millis(250);

/// Lines of one file per round, so that a busy file does not starve the others.
const ROUND_LINES: usize = 20_000;

/// Bytes of a file's start that name it (as [`crate::InputReader::identity`] does).
const IDENT_LEN: usize = 1024;

/// What a live ingest reads.
pub struct Live<'a> {
    /// Files to follow.
    pub files: &'a [PathBuf],
    /// Lines of the syslog receiver.
    pub syslog: Option<&'a Receiver<Chunk>>,
    /// Where to count what was read (for metrics).
    pub stats: &'a LiveStats,
}

/// What a live ingest has done so far (read at any time, for metrics and health).
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Lines read from followed files.
    pub file_lines: AtomicU64,
    /// Bytes read from followed files.
    pub file_bytes: AtomicU64,
    /// Lines taken from the syslog receiver.
    pub syslog_lines: AtomicU64,
    /// Lines no rule understood.
    pub unparsed: AtomicU64,
    /// Lines of programs that are not mail servers.
    pub other: AtomicU64,
    /// Messages the correlator holds (still queued, or waiting for their last lines).
    pub open_messages: AtomicU64,
    /// Commits the store has written.
    pub commits: AtomicU64,
    /// When the store wrote the last commit (Unix time, milliseconds; 0: none yet).
    pub last_commit_ms: AtomicI64,
    /// Bytes written to followed files and not read yet.
    pub backlog_bytes: AtomicU64,
    /// Set once reading has started (rotated files imported, following).
    pub following: AtomicBool,
    /// When the lines not committed yet arrived.
    pending: Mutex<Pending>,
}

/// When the oldest line not committed yet arrived: of those read since the last commit was
/// handed to the store, and of each commit the store has not written yet.
#[derive(Debug, Default)]
struct Pending {
    reading: Option<Instant>,
    in_flight: std::collections::VecDeque<Option<Instant>>,
}

/// The counters of [`LiveStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Lines read from followed files.
    pub file_lines: u64,
    /// Bytes read from followed files.
    pub file_bytes: u64,
    /// Lines taken from the syslog receiver.
    pub syslog_lines: u64,
    /// Lines no rule understood.
    pub unparsed: u64,
    /// Lines of programs that are not mail servers.
    pub other: u64,
    /// Messages the correlator holds.
    pub open_messages: u64,
    /// Commits the store has written.
    pub commits: u64,
    /// When the store wrote the last commit (Unix time, milliseconds).
    pub last_commit_ms: i64,
    /// Bytes written to followed files and not read yet.
    pub backlog_bytes: u64,
}

impl LiveStats {
    /// The counters now. Read before [`LiveStats::lag`], a lag of zero means that every
    /// line counted is committed.
    pub fn counts(&self) -> LiveCounts {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        LiveCounts {
            file_lines: get(&self.file_lines),
            file_bytes: get(&self.file_bytes),
            syslog_lines: get(&self.syslog_lines),
            unparsed: get(&self.unparsed),
            other: get(&self.other),
            open_messages: get(&self.open_messages),
            commits: get(&self.commits),
            last_commit_ms: self.last_commit_ms.load(Ordering::SeqCst),
            backlog_bytes: get(&self.backlog_bytes),
        }
    }

    /// How long the oldest line read but not committed yet has waited (zero when all is
    /// committed): the ingest lag.
    pub fn lag(&self) -> Duration {
        let p = self.pending();
        p.in_flight
            .iter()
            .chain([&p.reading])
            .flatten()
            .min()
            .map_or(Duration::ZERO, Instant::elapsed)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending_since(&self, t: Instant) {
        let mut p = self.pending();
        if p.reading.is_none_or(|o| t < o) {
            p.reading = Some(t);
        }
    }

    /// A commit of what was read goes to the store.
    fn commit_sent(&self) {
        let mut p = self.pending();
        let oldest = p.reading.take();
        p.in_flight.push_back(oldest);
    }

    /// The store has written a commit.
    pub(crate) fn committed(&self) {
        // Counted before the lag drops: whoever sees no lag sees this commit counted.
        let mut p = self.pending();
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.last_commit_ms
            .store(jiff::Timestamp::now().as_millisecond(), Ordering::Relaxed);
        p.in_flight.pop_front();
    }
}

/// Read the rotated files of `live.files`, then follow them and take syslog lines until `stop`
/// is set; the last batch commits what was read.
pub(crate) fn run(
    r: Reading<'_>,
    live: &Live<'_>,
    stop: &AtomicBool,
    progress: &mut dyn Progress,
) -> Result<Vec<FileReport>, IngestError> {
    let paths = live.files;
    let stats = live.stats;
    let mut reports = Vec::new();
    for path in paths {
        for old in rotated(path) {
            reports.push(ingest_one(
                &Input::Path(old),
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
    }
    let server = r.opts.server.as_deref();
    let mut tails: Vec<Tail> = paths.iter().map(|p| Tail::new(p.clone(), r.opts)).collect();
    let mut network = Network {
        // BSD timestamps of received lines are recent: their year is this one.
        ctx: Tail::new(PathBuf::new(), r.opts).ctx,
        waiting: None,
        lines: 0,
    };
    let mut last_commit = Instant::now();
    let mut uncommitted = false;
    stats.following.store(true, Ordering::Relaxed);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut read_any = false;
        if let Some(rx) = live.syslog {
            let mut raw = RawLines::starting_at(*r.next_no);
            let correlator = &mut *r.correlator;
            let ctx = &mut network.ctx;
            let mut n = 0;
            while n < ROUND_LINES {
                let Some(chunk) = network.waiting.take().or_else(|| rx.try_recv().ok()) else {
                    break;
                };
                stats.pending_since(chunk.received);
                for text in &chunk.lines {
                    correlator.feed_parsed(
                        raw.next_no(),
                        &parse_line_as(text, ctx, Format::Syslog),
                        server,
                    );
                    raw.push_at(text, correlator.last_time());
                }
                n += chunk.lines.len();
            }
            if n > 0 {
                read_any = true;
                uncommitted = true;
                network.lines += n as u64;
                stats.syslog_lines.fetch_add(n as u64, Ordering::Relaxed);
                *r.next_no = raw.next_no();
                if r.tx.send(batch(r.correlator.drain(), raw)).is_err() {
                    return Ok(reports); // the writer failed; the caller reports why
                }
            }
        }
        let mut backlog = 0;
        for t in &mut tails {
            let mut raw = RawLines {
                server: t.raw_server.clone(),
                ..RawLines::starting_at(*r.next_no)
            };
            t.detect(r.opts, r.checkpoints).map_err(|e| t.error(e))?;
            let (ctx, format) = (&mut t.ctx, t.format);
            let correlator = &mut *r.correlator;
            let mut feed = |text: &str| {
                correlator.feed_parsed(raw.next_no(), &parse_line_as(text, ctx, format), server);
                raw.push_at(text, correlator.last_time());
            };
            let (lines, bytes) = (t.src.read_lines, t.src.read_bytes);
            let n = t
                .src
                .advance(r.checkpoints, &mut feed)
                .map_err(|e| t.error(e))?;
            backlog += t.src.backlog();
            if n > 0 {
                stats.pending_since(Instant::now());
                stats
                    .file_lines
                    .fetch_add(t.src.read_lines - lines, Ordering::Relaxed);
                stats
                    .file_bytes
                    .fetch_add(t.src.read_bytes - bytes, Ordering::Relaxed);
                read_any = true;
                uncommitted = true;
                *r.next_no = raw.next_no();
                let mut b = batch(r.correlator.drain(), raw);
                b.checkpoint = t.src.checkpoint();
                // Files left behind by a rotation, read to their end: their last checkpoint
                // goes with the lines (a restart skips them).
                let mut batches = vec![b];
                for c in t.src.finished.drain(..) {
                    let mut b = batch(Default::default(), RawLines::starting_at(*r.next_no));
                    b.checkpoint = Some(c);
                    batches.push(b);
                }
                for b in batches {
                    if r.tx.send(b).is_err() {
                        return Ok(reports); // the writer failed; the caller reports why
                    }
                }
            }
        }
        stats.backlog_bytes.store(backlog, Ordering::Relaxed);
        let c = r.correlator.counters();
        stats.unparsed.store(c.unparsed, Ordering::Relaxed);
        stats.other.store(c.other, Ordering::Relaxed);
        let spacing = r.opts.commit_spacing;
        let due = last_commit.elapsed()
            >= r.opts
                .commit_interval
                .min(Duration::from_secs(1))
                .max(spacing);
        // Idle: commit what was read, but not more often than every QUIET (each commit is a
        // transaction with the correlator's state) or than the store wants.
        let quiet = !read_any && last_commit.elapsed() >= QUIET.max(spacing);
        if uncommitted && (due || quiet || stopping) {
            let state = serde_json::to_string(&r.correlator.state(None, None))?;
            let out = r.correlator.checkpoint();
            let b = commit(batch(out, RawLines::starting_at(*r.next_no)), None, state);
            // Before the writer can have written it.
            stats.commit_sent();
            if r.tx.send(b).is_err() {
                return Ok(reports);
            }
            stats
                .open_messages
                .store(r.correlator.open_messages() as u64, Ordering::Relaxed);
            uncommitted = false;
            last_commit = Instant::now();
        }
        if stopping {
            break;
        }
        if !read_any {
            // Wait for the next syslog lines, or look at the files again.
            match live.syslog.map(|rx| rx.recv_timeout(POLL)) {
                Some(Ok(chunk)) => network.waiting = Some(chunk),
                Some(Err(RecvTimeoutError::Timeout)) => {}
                Some(Err(RecvTimeoutError::Disconnected)) | None => std::thread::sleep(POLL),
            }
        }
    }
    if live.syslog.is_some() {
        reports.push(FileReport {
            input: "syslog".into(),
            format: Format::Syslog.name().to_string(),
            lines: network.lines,
            ..FileReport::default()
        });
    }
    for t in tails {
        reports.push(FileReport {
            input: t.src.name.clone(),
            format: t.format.name().to_string(),
            lines: t.src.read_lines,
            bytes: t.src.read_bytes,
            ..FileReport::default()
        });
    }
    Ok(reports)
}

/// The rotated files of `path` that exist, oldest first: `path.N.gz` / `path.N` for N down to
/// 1 (logrotate's names).
fn rotated(path: &Path) -> Vec<PathBuf> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().into_string().ok()?;
            let rest = f.strip_prefix(name)?.strip_prefix('.')?;
            let n = rest.strip_suffix(".gz").unwrap_or(rest).parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    found.into_iter().map(|(_, p)| p).collect()
}

/// The syslog receiver's side of the loop.
struct Network {
    ctx: syslog::Context,
    /// A chunk taken while waiting, read in the next round.
    waiting: Option<Chunk>,
    lines: u64,
}

/// One followed path.
struct Tail {
    src: Source,
    ctx: syslog::Context,
    format: Format,
    /// The format is still to be detected.
    detect: bool,
    raw_server: Option<String>,
}

/// The server of the raw lines of a format: the given one, else this machine's for formats
/// whose lines name none, else the lines' own.
fn raw_server(opts: &crate::Options, format: Format) -> Option<String> {
    match (&opts.server, format.hostless()) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => Some(opts.local_server.clone()),
        (None, false) => None,
    }
}

impl Tail {
    fn new(path: PathBuf, opts: &crate::Options) -> Tail {
        let format = opts.format.unwrap_or(Format::Syslog);
        let now = jiff::Timestamp::now().to_zoned(opts.tz.clone());
        Tail {
            src: Source::new(path),
            ctx: match opts.year {
                Some(y) => syslog::Context::new(y, opts.tz.clone()),
                None => syslog::Context::ending_at(now.year(), now.month() as u8, opts.tz.clone()),
            },
            format,
            detect: opts.format.is_none(),
            raw_server: raw_server(opts, format),
        }
    }

    /// Without a given format: the file's, from its first lines, once it has one.
    fn detect(&mut self, opts: &crate::Options, known: &[Checkpoint]) -> io::Result<()> {
        if !self.detect || (self.src.file.is_none() && !self.src.open(known)?) {
            return Ok(());
        }
        if let Some(f) = &self.src.file {
            let head = head_of(f)?;
            if head.contains(&b'\n') {
                self.format = mailtrace_parse::format::detect(&head);
                self.raw_server = raw_server(opts, self.format);
                self.detect = false;
            }
        }
        Ok(())
    }

    fn error(&self, source: io::Error) -> IngestError {
        IngestError::Io {
            path: self.src.name.clone(),
            source,
        }
    }
}

/// The file behind a followed path, read up to its last complete line.
struct Source {
    path: PathBuf,
    name: String,
    file: Option<File>,
    /// Device and inode of the open file.
    id: (u64, u64),
    /// Identity (hash and length of its first bytes), once it has a complete line.
    ident: Option<(i64, u32)>,
    /// Bytes of complete lines consumed, from the file's start.
    offset: u64,
    /// Lines consumed, from the file's start.
    lines: u64,
    /// Read but not consumed: the start of a line still being written.
    buf: Vec<u8>,
    /// Skipping the rest of a line longer than [`MAX_LINE`].
    skipping: bool,
    /// Where files left behind by a rotation ended (to commit).
    finished: Vec<Checkpoint>,
    /// In this run.
    read_lines: u64,
    read_bytes: u64,
}

impl Source {
    fn new(path: PathBuf) -> Source {
        Source {
            name: path.display().to_string(),
            path,
            file: None,
            id: (0, 0),
            ident: None,
            offset: 0,
            lines: 0,
            buf: Vec::with_capacity(64 * 1024),
            skipping: false,
            finished: Vec::new(),
            read_lines: 0,
            read_bytes: 0,
        }
    }

    /// Where this file stands, for the commit (`None` while it has no identity).
    fn checkpoint(&self) -> Option<Checkpoint> {
        let (ident, ident_len) = self.ident?;
        Some(Checkpoint {
            ident,
            ident_len,
            path: self.name.clone(),
            offset: self.offset,
            lines: self.lines,
        })
    }

    /// Read what is new: complete lines to `feed` (at most [`ROUND_LINES`]), following
    /// rotation. Returns the lines read.
    fn advance(&mut self, known: &[Checkpoint], feed: &mut dyn FnMut(&str)) -> io::Result<usize> {
        if self.file.is_none() && !self.open(known)? {
            return Ok(0);
        }
        let n = self.read(ROUND_LINES, feed)?;
        if n == ROUND_LINES {
            return Ok(n);
        }
        // At the end of the file: has the path moved on?
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // Renamed away and not recreated yet: the MTA still writes to the open file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(n),
            Err(e) => return Err(e),
        };
        if (meta.dev(), meta.ino()) != self.id {
            // Rotated by rename: the old file's last lines, then the new file.
            let mut m = n + self.read(usize::MAX, feed)?;
            m += self.flush_partial(feed);
            self.finished.extend(self.checkpoint());
            self.close();
            if self.open(known)? {
                m += self.read(ROUND_LINES, feed)?;
            }
            return Ok(m);
        }
        if meta.len() < self.offset || !self.same_start()? {
            // Copied and truncated (and perhaps written again past where we were): the lines
            // after ours are in the copy.
            let mut m = n + self.read_copy(feed)?;
            self.finished.extend(self.checkpoint());
            self.close();
            if self.open(&[])? {
                m += self.read(ROUND_LINES, feed)?;
            }
            return Ok(m);
        }
        Ok(n)
    }

    /// Bytes of the open file not read yet.
    fn backlog(&self) -> u64 {
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len().saturating_sub(self.offset))
    }

    /// Open the file at the path, resuming from its checkpoint; `false` when there is none.
    fn open(&mut self, known: &[Checkpoint]) -> io::Result<bool> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let meta = f.metadata()?;
        self.id = (meta.dev(), meta.ino());
        self.buf.clear();
        self.skipping = false;
        self.ident = None;
        self.offset = 0;
        self.lines = 0;
        let head = head_of(&f)?;
        if let Some(c) = known.iter().find(|c| {
            let l = c.ident_len as usize;
            l > 0 && l <= head.len() && hash(&head[..l]) == c.ident
        }) {
            if c.offset <= meta.len() {
                self.ident = Some((c.ident, c.ident_len));
                self.offset = c.offset;
                self.lines = c.lines;
            }
        }
        f.seek(SeekFrom::Start(self.offset))?;
        self.file = Some(f);
        Ok(true)
    }

    fn close(&mut self) {
        self.file = None;
        self.buf.clear();
        self.skipping = false;
    }

    /// Complete lines from the open file, at most `max`.
    fn read(&mut self, max: usize, feed: &mut dyn FnMut(&str)) -> io::Result<usize> {
        let Some(mut f) = self.file.as_ref() else {
            return Ok(0);
        };
        let mut n = 0;
        let mut start = 0;
        loop {
            // Complete lines in the buffer.
            while n < max {
                let Some(i) = memchr::memchr(b'\n', &self.buf[start..]) else {
                    break;
                };
                let end = start + i;
                let mut line = &self.buf[start..end];
                if let Some(l) = line.strip_suffix(b"\r") {
                    line = l;
                }
                if std::mem::take(&mut self.skipping) {
                    // The rest of a cut line.
                } else {
                    feed(&line_text(line));
                    n += 1;
                    self.lines += 1;
                    self.read_lines += 1;
                }
                self.offset += (end + 1 - start) as u64;
                self.read_bytes += (end + 1 - start) as u64;
                start = end + 1;
            }
            self.buf.drain(..start);
            start = 0;
            if n >= max {
                return Ok(n);
            }
            if self.buf.len() > MAX_LINE {
                // A line too long to keep: its start, marked, and the rest skipped.
                let cut = self.buf.len();
                let mut text = line_text(&self.buf[..MAX_LINE]).into_owned();
                text.push_str(&format!(" [mailtrace: line cut, over {cut} bytes]"));
                feed(&text);
                n += 1;
                self.lines += 1;
                self.read_lines += 1;
                self.offset += cut as u64;
                self.read_bytes += cut as u64;
                self.buf.clear();
                self.skipping = true;
            }
            let have = self.buf.len();
            self.buf.resize(have + 64 * 1024, 0);
            let got = loop {
                match f.read(&mut self.buf[have..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    r => break r,
                }
            };
            self.buf.truncate(have + got.as_ref().map_or(0, |g| *g));
            let got = got?;
            if self.ident.is_none() && (self.offset > 0 || self.buf.contains(&b'\n')) {
                self.ident = Some(identity(f)?);
            }
            if got == 0 {
                return Ok(n);
            }
        }
    }

    /// Does the open file still start as it did? (After a copytruncate it starts anew.)
    fn same_start(&self) -> io::Result<bool> {
        let (Some(f), Some((ident, ident_len))) = (self.file.as_ref(), self.ident) else {
            return Ok(true);
        };
        let mut head = vec![0u8; ident_len as usize];
        let n = std::os::unix::fs::FileExt::read_at(f, &mut head, 0)?;
        Ok(n == head.len() && hash(&head) == ident)
    }

    /// A last line without a line end, at the end of a file the MTA no longer writes to.
    fn flush_partial(&mut self, feed: &mut dyn FnMut(&str)) -> usize {
        if self.buf.is_empty() || self.skipping {
            return 0;
        }
        feed(&line_text(&self.buf));
        self.offset += self.buf.len() as u64;
        self.read_bytes += self.buf.len() as u64;
        self.lines += 1;
        self.read_lines += 1;
        self.buf.clear();
        1
    }

    /// After a copytruncate: the lines of the copy (`path.1`, the same first bytes) after the
    /// ones already read.
    fn read_copy(&mut self, feed: &mut dyn FnMut(&str)) -> io::Result<usize> {
        let Some((ident, ident_len)) = self.ident else {
            return Ok(0);
        };
        let mut copy = self.path.clone().into_os_string();
        copy.push(".1");
        let Ok(mut f) = File::open(&copy) else {
            return Ok(0);
        };
        let head = head_of(&f)?;
        let l = ident_len as usize;
        if l > head.len() || hash(&head[..l]) != ident {
            return Ok(0);
        }
        f.seek(SeekFrom::Start(self.offset))?;
        self.file = Some(f);
        self.buf.clear();
        self.skipping = false;
        let n = self.read(usize::MAX, feed)?;
        Ok(n + self.flush_partial(feed))
    }
}

/// The first [`IDENT_LEN`] bytes of `f` (or all of it), leaving its position unchanged.
fn head_of(mut f: &File) -> io::Result<Vec<u8>> {
    let pos = f.stream_position()?;
    f.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(IDENT_LEN);
    f.take(IDENT_LEN as u64).read_to_end(&mut head)?;
    f.seek(SeekFrom::Start(pos))?;
    Ok(head)
}

/// Identity of an open file from its first bytes, as far as they go.
fn identity(f: &File) -> io::Result<(i64, u32)> {
    let head = head_of(f)?;
    Ok((hash(&head), head.len() as u32))
}

fn hash(bytes: &[u8]) -> i64 {
    mailtrace_model::fnv1a(bytes) as i64
}
