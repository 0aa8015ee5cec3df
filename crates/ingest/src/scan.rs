//! Reading logs without a store: every message is handed to the caller once, in its final
//! state (or still queued at the end of the input). `mailtrace report --file` builds its
//! statistics this way.

use crate::{line_text, open_input, IngestError, Input, Options, Progress};
use mailtrace_correlate::{Correlator, Output};
use mailtrace_model::Message;
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

/// Lines between two hand-overs of finished messages.
const DRAIN_LINES: u64 = 256;

/// Read `inputs` in order and correlate them. `message` gets each message once: when it is
/// finished, or at the end when it is still queued. `line` gets every line with its time (for
/// statistics of lines that belong to no message).
///
/// # Errors
/// An input cannot be opened or read.
pub fn scan(
    inputs: &[Input],
    opts: &Options,
    progress: &mut dyn Progress,
    message: &mut dyn FnMut(Message),
    line: &mut dyn FnMut(&str, mailtrace_model::Ts),
) -> Result<ScanSummary, IngestError> {
    let mut correlator = Correlator::with_limits(opts.limits).lean();
    // Messages still queued, by id: a later state replaces an earlier one.
    let mut open: HashMap<i64, Message> = HashMap::new();
    let mut summary = ScanSummary::default();
    let mut route = |out: Output, open: &mut HashMap<i64, Message>, summary: &mut ScanSummary| {
        for m in out.messages {
            if m.open {
                open.insert(m.id, m);
            } else {
                open.remove(&m.id);
                summary.messages += 1;
                message(m);
            }
        }
    };
    let server = opts.server.as_deref();
    let mut no = 1u64;
    for input in inputs {
        let name = input.name();
        let io = |source| IngestError::Io {
            path: name.clone(),
            source,
        };
        let mut r = open_input(input).map_err(io)?;
        let mut ctx = match opts.year {
            Some(y) => syslog::Context::new(y, opts.tz.clone()),
            None => {
                let end = r.modified().to_zoned(opts.tz.clone());
                syslog::Context::ending_at(end.year(), end.month() as u8, opts.tz.clone())
            }
        };
        progress.start(&name, r.size());
        let mut buf = Vec::with_capacity(4096);
        let mut since = 0u64;
        let mut offset = 0u64;
        loop {
            let n = r.next_line(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            offset += n as u64;
            summary.bytes += n as u64;
            summary.lines += 1;
            let text = line_text(&buf);
            correlator.feed_line(no, &text, &mut ctx, server);
            line(&text, correlator.last_time());
            no += 1;
            since += 1;
            // Hand finished messages on while they are few: a long batch of them would be
            // fresh memory each time.
            if since.is_multiple_of(DRAIN_LINES) {
                route(correlator.drain(), &mut open, &mut summary);
            }
            if since >= opts.batch_lines {
                since = 0;
                progress.advance(offset, summary.lines);
            }
        }
        progress.advance(offset, summary.lines);
        progress.finish();
    }
    route(correlator.finish_input(), &mut open, &mut summary);
    route(correlator.checkpoint(), &mut open, &mut summary);
    for (_, m) in open {
        summary.messages += 1;
        message(m);
    }
    Ok(summary)
}
