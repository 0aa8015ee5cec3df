//! The raw log: every line read, stored once, in zstd-compressed chunks of consecutive line
//! numbers (`raw_chunks`, keyed by the number of the chunk's first line).
//!
//! Chunks are small enough (at most [`CHUNK_LINES`] lines or [`CHUNK_BYTES`]) that showing one
//! message, whose lines may be spread over days of log, decompresses little; large enough that
//! zstd finds the repetition of log lines (a log shrinks about tenfold).

use crate::{RawLines, StoreError};
use mailtrace_model::{LineNo, Ts};
use rusqlite::{Connection, OptionalExtension};

/// Lines per chunk at most.
pub(super) const CHUNK_LINES: u64 = 1024;
/// Uncompressed bytes per chunk at most (a chunk ends after the line that crosses it).
pub(super) const CHUNK_BYTES: usize = 256 << 10;
/// zstd level: the fastest, which still compresses logs about tenfold.
const LEVEL: i32 = 1;

/// One compressed chunk.
pub(super) struct Chunk {
    pub first: LineNo,
    pub count: u64,
    pub data: Vec<u8>,
    /// Earliest and latest line time, when the lines' times are known.
    pub span: Option<(i64, i64)>,
    /// The lines' times (see [`encode_times`]), empty when unknown.
    pub times: Vec<u8>,
}

/// Line times as zigzag varint deltas, one per line.
pub(super) fn encode_times(times: &[Ts]) -> Vec<u8> {
    let mut out = Vec::with_capacity(times.len() * 2);
    let mut prev = 0i64;
    for t in times {
        super::detail::put_varint(&mut out, super::detail::zigzag(t.0.wrapping_sub(prev)));
        prev = t.0;
    }
    out
}

/// The `n` line times of [`encode_times`].
pub(super) fn decode_times(blob: &[u8], n: usize) -> Option<Vec<i64>> {
    let mut r = super::detail::Reader::new(blob);
    let mut out = Vec::with_capacity(n);
    let mut prev = 0i64;
    for _ in 0..n {
        prev = prev.wrapping_add(super::detail::unzigzag(r.varint()?));
        out.push(prev);
    }
    Some(out)
}

/// Cut `raw` into chunks and compress them.
pub(super) fn compress(raw: &RawLines) -> Result<Vec<Chunk>, String> {
    let mut z = zstd::bulk::Compressor::new(LEVEL).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let times = raw.line_times();
    let chunk = |first: LineNo, count: u64, data: Vec<u8>| {
        let lo = (first - raw.first) as usize;
        let t = times.map(|t| &t[lo..lo + count as usize]);
        Chunk {
            first,
            count,
            data,
            span: t
                .and_then(|t| Some((t.iter().map(|x| x.0).min()?, t.iter().map(|x| x.0).max()?))),
            times: t.map(encode_times).unwrap_or_default(),
        }
    };
    let (mut start, mut first, mut count) = (0usize, raw.first, 0u64);
    for end in memchr::memchr_iter(b'\n', &raw.text) {
        count += 1;
        if count == CHUNK_LINES || end + 1 - start >= CHUNK_BYTES {
            let data = z
                .compress(&raw.text[start..=end])
                .map_err(|e| e.to_string())?;
            out.push(chunk(first, count, data));
            (start, first, count) = (end + 1, first + count, 0);
        }
    }
    if count > 0 {
        let data = z.compress(&raw.text[start..]).map_err(|e| e.to_string())?;
        out.push(chunk(first, count, data));
    }
    if first + count != raw.next_no() {
        return Err(format!(
            "raw lines miscounted: {} lines announced, {} found",
            raw.count,
            first + count - raw.first
        ));
    }
    Ok(out)
}

/// Call `each` with the lines whose time is in `[since, until)`, in line order, until it
/// returns false: the chunks whose time span meets the range (found by the `raw_chunks_span`
/// index) are decompressed and their lines' times compared.
pub(super) fn each_between(
    conn: &Connection,
    since: Ts,
    until: Ts,
    each: &mut dyn FnMut(LineNo, Ts, &str) -> bool,
) -> Result<(), StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT first, count, data, times FROM raw_chunks \
         WHERE max_at >= ?1 AND min_at < ?2 ORDER BY first",
    )?;
    let mut rows = st.query([since.0, until.0])?;
    while let Some(r) = rows.next()? {
        let (first, count): (i64, i64) = (r.get(0)?, r.get(1)?);
        let data: Vec<u8> = r.get(2)?;
        let times: Vec<u8> = r.get(3)?;
        let times = decode_times(&times, count as usize)
            .ok_or_else(|| corrupt("undecodable line times".into()))?;
        let text = zstd::stream::decode_all(data.as_slice()).map_err(|e| corrupt(e.to_string()))?;
        for (i, (line, at)) in text.split(|b| *b == b'\n').zip(times).enumerate() {
            if at < since.0 || at >= until.0 {
                continue;
            }
            let line = String::from_utf8_lossy(line);
            if !each(first as LineNo + i as LineNo, Ts(at), &line) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The lines of [`each_between`], skipping `skip` and returning at most `limit`.
pub(super) fn between(
    conn: &Connection,
    since: Ts,
    until: Ts,
    skip: u64,
    limit: usize,
) -> Result<Vec<(LineNo, Ts, String)>, StoreError> {
    let mut out = Vec::new();
    let mut skip = skip;
    each_between(conn, since, until, &mut |no, at, line| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        if out.len() == limit {
            return false;
        }
        out.push((no, at, line.to_string()));
        true
    })?;
    Ok(out)
}

/// Reads lines by number, keeping the last chunk it decompressed (lines are mostly asked for
/// in order).
pub(super) struct Reader<'c> {
    conn: &'c Connection,
    chunk: Option<Loaded>,
}

struct Loaded {
    first: LineNo,
    text: Vec<u8>,
    /// Byte where each line starts, and one past the last line's `\n`.
    starts: Vec<usize>,
}

impl<'c> Reader<'c> {
    pub(super) fn new(conn: &'c Connection) -> Reader<'c> {
        Reader { conn, chunk: None }
    }

    /// The text of line `no`; `None` when no chunk holds it.
    pub(super) fn line(&mut self, no: LineNo) -> Result<Option<&str>, StoreError> {
        let cached = self
            .chunk
            .as_ref()
            .is_some_and(|c| no >= c.first && no - c.first + 1 < c.starts.len() as u64);
        if !cached {
            self.chunk = self.load(no)?;
        }
        let Some(c) = &self.chunk else {
            return Ok(None);
        };
        let Some(i) = no
            .checked_sub(c.first)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| i + 1 < c.starts.len())
        else {
            return Ok(None);
        };
        let bytes = &c.text[c.starts[i]..c.starts[i + 1] - 1];
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }

    fn load(&self, no: LineNo) -> Result<Option<Loaded>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT first, data FROM raw_chunks WHERE first <= ?1 ORDER BY first DESC LIMIT 1",
            )?
            .query_row([i64::try_from(no).unwrap_or(i64::MAX)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((first, data)) = row else {
            return Ok(None);
        };
        let text = zstd::stream::decode_all(data.as_slice()).map_err(|e| corrupt(e.to_string()))?;
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', &text).map(|i| i + 1));
        Ok(Some(Loaded {
            first: first as LineNo,
            text,
            starts,
        }))
    }
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        path: "raw log chunk".into(),
        reason,
    }
}

/// The number the next line gets.
pub(super) fn next_no(conn: &Connection) -> Result<LineNo, StoreError> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT first + count FROM raw_chunks ORDER BY first DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(last.map_or(1, |n| n as LineNo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_line_once() {
        let mut raw = RawLines::starting_at(10);
        for i in 0..2500 {
            raw.push(&format!("line {i} caf\u{e9}"));
        }
        raw.push(&"x".repeat(300 << 10));
        raw.push("");
        raw.push("after the long one");
        let chunks = compress(&raw).unwrap();
        let counts: Vec<u64> = chunks.iter().map(|c| c.count).collect();
        assert_eq!(counts, vec![1024, 1024, 453, 2]);
        let mut next = 10;
        for c in &chunks {
            assert_eq!(c.first, next);
            next += c.count;
        }
        assert_eq!(next, raw.next_no());
    }

    #[test]
    fn miscounted_lines_are_refused() {
        let raw = RawLines {
            first: 1,
            text: b"a\nb\n".to_vec(),
            count: 3,
            times: Vec::new(),
            server: None,
        };
        assert!(compress(&raw).is_err());
    }
}
