//! Reading logs without a store: every message is handed to the caller once, in its final
//! state (or still queued at the end of the input). `mailtrace report --file` builds its
//! statistics this way.
//!
//! Four long-lived threads over bounded channels: a reader fills segments of whole lines, a
//! parser turns each line of a segment into its envelope and record (the parsed lines borrow the
//! segment's text, and travel with it), the calling thread correlates them in order, and the
//! caller's `message` runs on a fourth thread. Segments, their parsed lines and message batches
//! go back to the thread that filled them, so that the pipeline runs in the same memory.

use crate::reader::InputReader;
use crate::{open_input, IngestError, Input, Options, Progress, MAX_LINE};
use crossbeam_channel::{bounded, Receiver, Sender};
use mailtrace_correlate::{parse_line_as, Correlator, Format, Output, Parsed};
use mailtrace_model::{Message, Ts};
use mailtrace_parse::syslog;
use std::collections::HashMap;

/// What a scan read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanSummary {
    /// Lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Messages handed over.
    pub messages: u64,
}

/// Lines between two hand-overs of finished messages: while they are few, a batch is memory
/// the allocator just freed, not fresh pages.
const DRAIN_LINES: u64 = 256;

/// Bytes of text per segment (at most [`Options::batch_lines`] lines).
const SEGMENT_BYTES: usize = 1 << 20;

/// Segments the parser may be ahead of the correlator.
const PARSED_AHEAD: usize = 2;

/// Finished messages per batch handed to the caller's thread.
const MESSAGE_BATCH: usize = 256;

/// Whole lines of one input, read ahead.
struct Segment {
    text: String,
    /// End of each line in `text`.
    ends: Vec<usize>,
    /// Bytes of the input consumed up to the end of this segment.
    offset: u64,
}

self_cell::self_cell!(
    /// A segment with its lines parsed (they borrow its text).
    struct ParsedSegment {
        owner: Segment,
        #[covariant]
        dependent: Lines,
    }
);

/// The parsed lines of a segment, in order.
type Lines<'a> = Vec<Parsed<'a>>;

/// What the parser hands on: what the reader handed it, with segments parsed.
enum Ready {
    Start { name: String, size: Option<u64> },
    Segment(ParsedSegment),
    End,
    Failed(IngestError),
}

/// What the reader hands on.
enum Ahead {
    /// An input starts.
    Start {
        name: String,
        size: Option<u64>,
        modified: jiff::Timestamp,
        /// Its log format (detected, or as told).
        format: Format,
    },
    Segment(Segment),
    /// The current input is done.
    End,
    Failed(IngestError),
}

/// Read `inputs` in order and correlate them. `message` gets each message once (on another
/// thread): when it is finished, or at the end when it is still queued. `line` gets every line,
/// parsed, with its time (for statistics of lines that belong to no message).
///
/// # Errors
/// An input cannot be opened or read.
pub fn scan(
    inputs: &[Input],
    opts: &Options,
    progress: &mut dyn Progress,
    message: &mut (dyn FnMut(&Message) + Send),
    line: &mut dyn FnMut(&Parsed<'_>, Ts),
) -> Result<ScanSummary, IngestError> {
    let inputs = &crate::reading_order(inputs, opts.format);
    let mut correlator = Correlator::with_limits(opts.limits).lean();
    correlator.set_default_server(opts.server.as_deref().unwrap_or(&opts.local_server));
    let mut summary = ScanSummary::default();
    let (ahead_tx, ahead_rx) = bounded::<Ahead>(2);
    let (ready_tx, ready_rx) = bounded::<Ready>(PARSED_AHEAD);
    // Segments go back to the reader to be filled again, and their line buffers to the parser:
    // fresh buffers would be fresh pages (zeroed by the kernel) every time.
    let (used_tx, used_rx) = bounded::<Segment>(PARSED_AHEAD + 4);
    let (lines_tx, lines_rx) = bounded::<Lines<'static>>(PARSED_AHEAD + 2);
    let (done_tx, done_rx) = bounded::<Vec<Message>>(16);
    // Emptied batches come back (a batch is large enough that the allocator would give it
    // fresh pages each time).
    let (empty_tx, empty_rx) = bounded::<Vec<Message>>(32);
    std::thread::scope(|scope| {
        // Owned here, so that an early return drops it and blocked threads stop.
        let ready_rx = ready_rx;
        let max_lines = usize::try_from(opts.batch_lines.max(1)).unwrap_or(usize::MAX);
        let format = opts.format;
        scope.spawn(move || read_ahead(inputs, format, max_lines, &ahead_tx, &used_rx));
        scope.spawn(move || parse_ahead(opts, &ahead_rx, &ready_tx, &lines_rx));
        scope.spawn(move || {
            for mut batch in done_rx {
                batch.iter().for_each(&mut *message);
                // Freed here, off the correlating thread (the busiest one); the emptied batch
                // goes back to be filled again.
                batch.clear();
                let _ = empty_tx.try_send(batch);
            }
        });
        let mut router = Router {
            open: HashMap::new(),
            batch: Vec::with_capacity(MESSAGE_BATCH),
            done: done_tx,
            empty: empty_rx,
            handed: 0,
        };
        let mut no = 1u64;
        let mut consumed = 0u64;
        let server = opts.server.as_deref();
        for ready in &ready_rx {
            match ready {
                Ready::Start { name, size } => {
                    progress.start(&name, size);
                    consumed = 0;
                }
                Ready::Segment(mut parsed) => {
                    let offset = parsed.with_dependent(|seg, lines| {
                        for p in lines {
                            correlator.feed_parsed(no, p, server);
                            line(p, correlator.last_time());
                            if no.is_multiple_of(DRAIN_LINES) {
                                router.route(correlator.drain());
                            }
                            no += 1;
                        }
                        summary.lines += lines.len() as u64;
                        seg.offset
                    });
                    summary.bytes += offset - consumed;
                    consumed = offset;
                    progress.advance(offset, summary.lines);
                    let lines = parsed.with_dependent_mut(|_, lines| {
                        lines.clear();
                        relabel(std::mem::take(lines))
                    });
                    let _ = lines_tx.try_send(lines);
                    let _ = used_tx.try_send(parsed.into_owner());
                }
                Ready::End => progress.finish(),
                Ready::Failed(e) => return Err(e),
            }
        }
        router.route(correlator.into_output());
        summary.messages = router.finish();
        Ok(summary)
    })
}

/// Where correlated messages go: still queued ones wait here (a later state replaces an
/// earlier one), finished ones go to the caller's thread in batches.
struct Router {
    /// Boxed: growing the map moves every entry.
    open: HashMap<i64, Box<Message>>,
    batch: Vec<Message>,
    done: Sender<Vec<Message>>,
    empty: Receiver<Vec<Message>>,
    handed: u64,
}

impl Router {
    fn route(&mut self, out: Output) {
        for m in out.messages {
            if m.open {
                self.open.insert(m.id, Box::new(m));
            } else {
                self.open.remove(&m.id);
                self.hand(m);
            }
        }
    }

    fn hand(&mut self, m: Message) {
        self.handed += 1;
        self.batch.push(m);
        if self.batch.len() >= MESSAGE_BATCH {
            let next = match self.empty.try_recv() {
                Ok(used) => used,
                Err(_) => Vec::with_capacity(MESSAGE_BATCH),
            };
            let batch = std::mem::replace(&mut self.batch, next);
            // A closed channel means the caller's thread is gone (it panicked): the scope
            // reports that when it joins.
            let _ = self.done.send(batch);
        }
    }

    /// Hand over the messages still queued; returns how many messages were handed in all.
    fn finish(mut self) -> u64 {
        let open = std::mem::take(&mut self.open);
        for m in open.into_values() {
            self.hand(*m);
        }
        let _ = self.done.send(std::mem::take(&mut self.batch));
        self.handed
    }
}

/// The parser thread: the lines of each segment parsed in order, with the syslog context
/// (the year of dates without one) of the input they belong to.
fn parse_ahead(
    opts: &Options,
    ahead: &Receiver<Ahead>,
    tx: &Sender<Ready>,
    buffers: &Receiver<Lines<'static>>,
) {
    let mut ctx = None;
    let mut format = Format::Syslog;
    for a in ahead {
        let ready = match a {
            Ahead::Start {
                name,
                size,
                modified,
                format: f,
            } => {
                format = f;
                ctx = Some(match opts.year {
                    Some(y) => syslog::Context::new(y, opts.tz.clone()),
                    None => {
                        let end = modified.to_zoned(opts.tz.clone());
                        syslog::Context::ending_at(end.year(), end.month() as u8, opts.tz.clone())
                    }
                });
                Ready::Start { name, size }
            }
            Ahead::Segment(seg) => {
                let Some(ctx) = ctx.as_mut() else { continue };
                let buffer = buffers.try_recv().unwrap_or_default();
                Ready::Segment(ParsedSegment::new(seg, |seg| {
                    let mut lines = relabel(buffer);
                    lines.reserve(seg.ends.len());
                    let mut start = 0;
                    for &end in &seg.ends {
                        lines.push(parse_line_as(&seg.text[start..end], ctx, format));
                        start = end;
                    }
                    lines
                }))
            }
            Ahead::End => Ready::End,
            Ahead::Failed(e) => Ready::Failed(e),
        };
        if tx.send(ready).is_err() {
            return;
        }
    }
}

/// An emptied line buffer, for lines of another lifetime. (Collecting an empty `Vec` into
/// one of the same layout reuses its allocation.)
fn relabel<'b>(lines: Lines<'_>) -> Lines<'b> {
    debug_assert!(lines.is_empty());
    lines
        .into_iter()
        .map(|_| unreachable!("the buffer is empty"))
        .collect()
}

/// The reader thread: every input in order, in segments of whole lines.
fn read_ahead(
    inputs: &[Input],
    format: Option<Format>,
    max_lines: usize,
    tx: &Sender<Ahead>,
    used: &Receiver<Segment>,
) {
    for input in inputs {
        let name = input.name();
        let io = |source| {
            Ahead::Failed(IngestError::Io {
                path: name.clone(),
                source,
            })
        };
        let mut r = match open_input(input) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(io(e));
                return;
            }
        };
        let start = Ahead::Start {
            name: name.clone(),
            size: r.size(),
            modified: r.modified(),
            format: format.unwrap_or_else(|| r.detect_format()),
        };
        if tx.send(start).is_err() {
            return;
        }
        match read_segments(&mut r, max_lines, tx, used) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let _ = tx.send(io(e));
                return;
            }
        }
        if tx.send(Ahead::End).is_err() {
            return;
        }
    }
}

/// Send the segments of one input; `Ok(false)` when the receiver is gone.
fn read_segments(
    r: &mut InputReader,
    max_lines: usize,
    tx: &Sender<Ahead>,
    used: &Receiver<Segment>,
) -> std::io::Result<bool> {
    let mut buf = Vec::with_capacity(4096);
    let mut offset = 0u64;
    let new_segment = || match used.try_recv() {
        Ok(mut seg) => {
            seg.text.clear();
            seg.ends.clear();
            seg
        }
        Err(_) => Segment {
            text: String::with_capacity(SEGMENT_BYTES + MAX_LINE + 64),
            ends: Vec::with_capacity(SEGMENT_BYTES / 64),
            offset: 0,
        },
    };
    let mut seg = new_segment();
    loop {
        let n = r.read_lines(
            &mut seg.text,
            &mut seg.ends,
            (SEGMENT_BYTES, max_lines),
            &mut buf,
        )?;
        if n == 0 {
            break;
        }
        offset += n;
        if seg.text.len() >= SEGMENT_BYTES || seg.ends.len() >= max_lines {
            seg.offset = offset;
            let full = std::mem::replace(&mut seg, new_segment());
            if tx.send(Ahead::Segment(full)).is_err() {
                return Ok(false);
            }
        }
    }
    if !seg.ends.is_empty() {
        seg.offset = offset;
        if tx.send(Ahead::Segment(seg)).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;

    /// Messages (sorted) and lines with their times, as a scan hands them over.
    fn run(batch_lines: u64) -> (Vec<Message>, Vec<(String, Ts)>, ScanSummary) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/postfix");
        let inputs = [
            Input::Path(root.join("harness.log")),
            Input::Path(root.join("harness-2.log")),
        ];
        let opts = Options {
            year: Some(2026),
            tz: jiff::tz::TimeZone::UTC,
            batch_lines,
            ..Options::default()
        };
        let mut messages = Vec::new();
        let mut lines = Vec::new();
        let summary = scan(
            &inputs,
            &opts,
            &mut NoProgress,
            &mut |m| messages.push(m.clone()),
            &mut |p, at| lines.push((p.line.to_string(), at)),
        )
        .unwrap();
        messages.sort_by_key(|m| m.id);
        (messages, lines, summary)
    }

    #[test]
    fn segments_of_any_size_give_the_same_messages_and_lines() {
        let (messages, lines, summary) = run(30_000);
        assert!(messages.len() > 60, "{}", messages.len());
        assert_eq!(summary.messages, messages.len() as u64);
        assert_eq!(summary.lines, lines.len() as u64);
        let files: u64 = ["harness.log", "harness-2.log"]
            .iter()
            .map(|f| {
                let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../testdata/postfix")
                    .join(f);
                std::fs::metadata(p).unwrap().len()
            })
            .sum();
        assert_eq!(summary.bytes, files);
        // Many segments (7 lines each) and chunks cut anywhere: the same result.
        let (m7, l7, s7) = run(7);
        assert_eq!(lines, l7);
        assert_eq!(messages, m7);
        assert_eq!((summary.lines, summary.bytes), (s7.lines, s7.bytes));
    }

    #[test]
    fn a_line_buffer_keeps_its_memory_for_other_lines() {
        let text = String::from("a line");
        let mut lines: Lines<'_> = Vec::with_capacity(1000);
        let mut ctx = syslog::Context::new(2026, jiff::tz::TimeZone::UTC);
        lines.push(parse_line_as(&text, &mut ctx, Format::Syslog));
        lines.clear();
        let (ptr, cap) = (lines.as_ptr() as usize, lines.capacity());
        let reused: Lines<'static> = relabel(lines);
        assert_eq!((reused.as_ptr() as usize, reused.capacity()), (ptr, cap));
    }

    #[test]
    fn a_missing_input_is_an_error() {
        let inputs = [Input::Path("/nonexistent/mail.log".into())];
        let err = scan(
            &inputs,
            &Options::default(),
            &mut NoProgress,
            &mut |_| {},
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/mail.log"), "{err}");
    }
}
