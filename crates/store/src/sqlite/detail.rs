//! Encoding of a message's line numbers and timeline (the `detail` column).
//!
//! Only the message page and a resumed ingest read it, so it is optimised for writing: a
//! length-prefixed binary layout (no escaping), then LZ4. The raw text lives once in the raw
//! log (`raw.rs`): lines are stored as numbers (delta-coded), and a timeline entry whose text is
//! the tail of a raw line as that line's number and the byte where the text starts. Version byte
//! first (version 1 held the text inline; schema 2 stores never contain it).

use mailtrace_model::{Event, LineNo, Ts};

const VERSION: u8 = 2;

/// What the column holds.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Detail {
    /// Raw line numbers.
    pub line_nos: Vec<LineNo>,
    /// The timeline.
    pub events: Vec<Event>,
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Encode into `scratch` (cleared) and return the compressed bytes.
pub(super) fn encode(line_nos: &[LineNo], events: &[Event], scratch: &mut Vec<u8>) -> Vec<u8> {
    scratch.clear();
    scratch.push(VERSION);
    put_varint(scratch, line_nos.len() as u64);
    let mut prev = 0i64;
    for &no in line_nos {
        put_varint(scratch, zigzag(no as i64 - prev));
        prev = no as i64;
    }
    put_varint(scratch, events.len() as u64);
    let mut prev_at = 0i64;
    for e in events {
        put_varint(scratch, zigzag(e.at.0.wrapping_sub(prev_at)));
        prev_at = e.at.0;
        put_bytes(scratch, e.kind.as_bytes());
        match e.source {
            Some((no, col)) => {
                scratch.push(2);
                put_varint(scratch, no);
                put_varint(scratch, u64::from(col));
            }
            None => {
                scratch.push(0);
                put_bytes(scratch, e.text.as_bytes());
            }
        }
    }
    lz4_flex::compress_prepend_size(scratch)
}

pub(super) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read from the start of `b`.
    pub(super) fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, pos: 0 }
    }

    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    pub(super) fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn string(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
}

/// Decode what [`encode`] wrote; `None` when the bytes are damaged. Events that
/// refer to a raw line come back with an empty text and their [`Event::source`].
pub(super) fn decode(blob: &[u8]) -> Option<Detail> {
    let raw = lz4_flex::decompress_size_prepended(blob).ok()?;
    let mut r = Reader { b: &raw, pos: 0 };
    if r.byte()? != VERSION {
        return None;
    }
    let mut d = Detail::default();
    let n = r.varint()? as usize;
    d.line_nos.reserve(n.min(1 << 16));
    let mut prev = 0i64;
    for _ in 0..n {
        prev = prev.checked_add(unzigzag(r.varint()?))?;
        d.line_nos.push(u64::try_from(prev).ok()?);
    }
    let n = r.varint()? as usize;
    d.events.reserve(n.min(1 << 16));
    let mut prev_at = 0i64;
    for _ in 0..n {
        prev_at = prev_at.wrapping_add(unzigzag(r.varint()?));
        let at = prev_at;
        let kind = r.string()?;
        let (text, source) = match r.byte()? {
            0 => (r.string()?, None),
            2 => {
                let no = r.varint()?;
                let col = u32::try_from(r.varint()?).ok()?;
                (String::new(), Some((no, col)))
            }
            _ => return None,
        };
        d.events.push(Event {
            at: Ts(at),
            kind: kind.into(),
            text,
            source,
        });
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_references_and_literals() {
        let line_nos = vec![7, 8, 3, 1_000_000_000_000];
        let events = vec![
            Event {
                at: Ts(-5),
                kind: "connect".into(),
                text: String::new(),
                source: Some((7, 38)),
            },
            Event {
                at: Ts(1_795_545_810_000_000),
                kind: "received".into(),
                text: String::new(),
                source: Some((1_000_000_000_000, 44)),
            },
            Event::new(Ts(7), "note", "caf\u{e9} \u{1f600}, in no line"),
            Event::new(Ts(8), "empty", ""),
        ];
        let mut scratch = Vec::new();
        let blob = encode(&line_nos, &events, &mut scratch);
        let want = Detail { line_nos, events };
        assert_eq!(decode(&blob), Some(want));
        assert_eq!(decode(&blob[..blob.len() / 2]), None, "truncated");
        assert_eq!(decode(b"garbage"), None);
    }
}
