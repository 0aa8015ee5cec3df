//! Encoding of a message's raw lines and timeline (the `detail` column).
//!
//! Only the message page reads it, so it is optimised for writing: a length-prefixed binary
//! layout (no escaping), where a timeline entry whose text is the tail of one of the raw lines
//! (nearly all of them: the text a daemon logged) is stored as a reference into that line, then
//! LZ4. Version byte first, so the layout can change.

use mailtrace_model::{Event, Ts};

const VERSION: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
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

/// Encode into `scratch` (cleared) and return the compressed bytes.
pub(super) fn encode(lines: &[String], events: &[Event], scratch: &mut Vec<u8>) -> Vec<u8> {
    scratch.clear();
    scratch.push(VERSION);
    put_varint(scratch, lines.len() as u64);
    for l in lines {
        put_bytes(scratch, l.as_bytes());
    }
    put_varint(scratch, events.len() as u64);
    let mut hint = 0;
    for e in events {
        // zigzag, so times before 1970 stay small
        put_varint(scratch, ((e.at.0 << 1) ^ (e.at.0 >> 63)) as u64);
        put_bytes(scratch, e.kind.as_bytes());
        let found = (0..lines.len())
            .map(|k| (hint + k) % lines.len())
            .find(|&j| !e.text.is_empty() && lines[j].ends_with(e.text.as_str()));
        match found {
            Some(j) => {
                hint = j;
                scratch.push(1);
                put_varint(scratch, j as u64);
                put_varint(scratch, (lines[j].len() - e.text.len()) as u64);
            }
            None => {
                scratch.push(0);
                put_bytes(scratch, e.text.as_bytes());
            }
        }
    }
    lz4_flex::compress_prepend_size(scratch)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    fn varint(&mut self) -> Option<u64> {
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

/// Decode what [`encode`] wrote; `None` when the bytes are damaged.
pub(super) fn decode(blob: &[u8]) -> Option<(Vec<String>, Vec<Event>)> {
    let raw = lz4_flex::decompress_size_prepended(blob).ok()?;
    let mut r = Reader { b: &raw, pos: 0 };
    if r.byte()? != VERSION {
        return None;
    }
    let n = r.varint()? as usize;
    let mut lines = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        lines.push(r.string()?);
    }
    let n = r.varint()? as usize;
    let mut events = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let z = r.varint()?;
        let at = Ts(((z >> 1) as i64) ^ -((z & 1) as i64));
        let kind = r.string()?;
        let text = match r.byte()? {
            0 => r.string()?,
            1 => {
                let line: &String = lines.get(usize::try_from(r.varint()?).ok()?)?;
                line.get(usize::try_from(r.varint()?).ok()?..)?.to_string()
            }
            _ => return None,
        };
        events.push(Event { at, kind, text });
    }
    Some((lines, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_references_and_literals() {
        let lines = vec![
            "Nov 24 18:43:30 mx postfix/smtpd[1]: connect from localhost[127.0.0.1]".to_string(),
            "Nov 24 18:43:30 mx postfix/smtpd[1]: E92: client=localhost[127.0.0.1]".to_string(),
            "caf\u{e9} \u{1f600}".to_string(),
        ];
        let ev = |at, kind: &str, text: &str| Event {
            at: Ts(at),
            kind: kind.into(),
            text: text.into(),
        };
        let events = vec![
            ev(-5, "connect", "connect from localhost[127.0.0.1]"),
            ev(
                1_795_545_810_000_000,
                "received",
                "client=localhost[127.0.0.1]",
            ),
            ev(7, "note", "not in any line"),
            ev(8, "empty", ""),
        ];
        let mut scratch = Vec::new();
        let blob = encode(&lines, &events, &mut scratch);
        assert_eq!(decode(&blob), Some((lines, events)));
        assert_eq!(decode(&blob[..blob.len() / 2]), None, "truncated");
        assert_eq!(decode(b"garbage"), None);
    }
}
