//! Reading one input: gzip detection, identity, resume offset, bounded lines.

use crate::Input;
use mailtrace_store::Checkpoint;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

/// Longest line kept whole. Longer lines are cut here and marked; the rest is skipped (but
/// counted in the offset), so a 10 MB line of garbage costs no more memory than this.
pub const MAX_LINE: usize = 64 * 1024;

/// How many leading bytes identify an input.
const IDENT_LEN: usize = 1024;

/// The text of a line: valid UTF-8 as it is (checked on the fast path, the common case),
/// anything else with U+FFFD in place of the bad bytes.
pub fn line_text(buf: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(buf) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(buf),
    }
}

/// An open input.
pub struct InputReader {
    inner: Box<dyn BufRead + Send>,
    /// Leading bytes (decompressed), read for the identity.
    head: Vec<u8>,
    gzip: bool,
    plain_file: Option<File>,
    len: Option<u64>,
    modified: jiff::Timestamp,
}

/// Open an input (a missing or unreadable file is an error).
///
/// # Errors
/// The file cannot be opened or read.
pub fn open_input(input: &Input) -> io::Result<InputReader> {
    let (mut raw, len, modified, file): (
        Box<dyn Read + Send>,
        Option<u64>,
        jiff::Timestamp,
        Option<File>,
    ) = match input {
        Input::Path(p) => {
            let f = File::open(p)?;
            let meta = f.metadata()?;
            if meta.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "is a directory",
                ));
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok())
                .unwrap_or_else(jiff::Timestamp::now);
            let clone = f.try_clone()?;
            (Box::new(f), Some(meta.len()), modified, Some(clone))
        }
        Input::Stdin => (Box::new(io::stdin()), None, jiff::Timestamp::now(), None),
    };
    let mut magic = [0u8; 2];
    let got = read_full(&mut raw, &mut magic)?;
    let prefix = io::Cursor::new(magic[..got].to_vec());
    let gzip = got == 2 && magic == [0x1f, 0x8b];
    let stream: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(prefix.chain(raw)))
    } else {
        Box::new(prefix.chain(raw))
    };
    let mut stream = BufReader::with_capacity(1 << 20, stream);
    let mut head = vec![0u8; IDENT_LEN];
    let n = read_full(&mut stream, &mut head)?;
    head.truncate(n);
    let inner: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(
        1 << 20,
        io::Cursor::new(head.clone()).chain(stream),
    ));
    Ok(InputReader {
        inner,
        head,
        gzip,
        plain_file: if gzip { None } else { file },
        len,
        modified,
    })
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn hash(bytes: &[u8]) -> i64 {
    mailtrace_model::fnv1a(bytes) as i64
}

impl InputReader {
    /// `gzip` or `plain`.
    pub fn format(&self) -> &'static str {
        if self.gzip {
            "gzip"
        } else {
            "plain"
        }
    }

    /// The leading bytes (decompressed, at most 1 KB): what the log format is detected from.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The log format of the input, detected from its first lines.
    pub fn detect_format(&self) -> mailtrace_parse::format::Format {
        mailtrace_parse::format::detect(&self.head)
    }

    /// Size on disk, for progress (compressed size for gzip: progress then is approximate).
    pub fn size(&self) -> Option<u64> {
        if self.gzip {
            None
        } else {
            self.len
        }
    }

    /// When the file was last written (now for stdin): the newest line is not newer.
    pub fn modified(&self) -> jiff::Timestamp {
        self.modified
    }

    /// The identity `(hash, length)` of this input: that of a known checkpoint whose leading
    /// bytes it starts with (a file that grew, or was renamed or compressed by logrotate), or the
    /// hash of its own leading bytes.
    pub fn identity(&self, known: &[Checkpoint]) -> (i64, u32) {
        for c in known {
            let l = c.ident_len as usize;
            if l > 0 && l <= self.head.len() && hash(&self.head[..l]) == c.ident {
                return (c.ident, c.ident_len);
            }
        }
        (hash(&self.head), self.head.len() as u32)
    }

    /// Skip `n` bytes already ingested.
    ///
    /// # Errors
    /// Read errors.
    pub fn skip(&mut self, n: u64) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        if let Some(f) = self.plain_file.as_mut() {
            if n as usize >= self.head.len() {
                // Seek instead of reading what an earlier run already read.
                f.seek(SeekFrom::Start(n))?;
                let f = f.try_clone()?;
                self.inner = Box::new(BufReader::with_capacity(1 << 20, f));
                return Ok(());
            }
        }
        io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        Ok(())
    }

    /// Append whole lines, as [`InputReader::next_line`] gives them, to `text` (and the end of
    /// each to `ends`) until `text` holds `bytes` or `ends` holds `lines`; returns the bytes
    /// consumed, 0 at the end of input. Lines inside the read buffer are copied once, straight
    /// from it; `buf` serves the rest (a line across two reads, a cut one, the last one).
    ///
    /// # Errors
    /// Read errors.
    pub fn read_lines(
        &mut self,
        text: &mut String,
        ends: &mut Vec<usize>,
        (bytes, lines): (usize, usize),
        buf: &mut Vec<u8>,
    ) -> io::Result<u64> {
        let mut consumed = 0u64;
        while text.len() < bytes && ends.len() < lines {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            let mut used = 0;
            for nl in memchr::memchr_iter(b'\n', chunk) {
                let line = &chunk[used..nl];
                if line.len() > MAX_LINE {
                    break;
                }
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                text.push_str(&line_text(line));
                ends.push(text.len());
                used = nl + 1;
                if text.len() >= bytes || ends.len() >= lines {
                    break;
                }
            }
            if used > 0 {
                self.inner.consume(used);
                consumed += used as u64;
                continue;
            }
            let n = self.next_line(buf)?;
            if n == 0 {
                break;
            }
            consumed += n as u64;
            text.push_str(&line_text(buf));
            ends.push(text.len());
        }
        Ok(consumed)
    }

    /// Read the next line into `buf` (without the line end, cut at [`MAX_LINE`]); returns the
    /// bytes consumed including the line end, 0 at the end of input.
    ///
    /// # Errors
    /// Read errors.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        let mut consumed = 0usize;
        let mut cut = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = MAX_LINE.saturating_sub(buf.len());
            let keep = take.min(room);
            buf.extend_from_slice(&chunk[..keep]);
            cut |= keep < take && !(done && keep + 1 == take);
            self.inner.consume(take);
            consumed += take;
            if done {
                break;
            }
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if cut {
            buf.extend_from_slice(format!(" [mailtrace: line cut, {consumed} bytes]").as_bytes());
        }
        Ok(consumed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(path: &std::path::Path) -> Vec<String> {
        let mut r = open_input(&Input::Path(path.to_path_buf())).unwrap();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while r.next_line(&mut buf).unwrap() > 0 {
            out.push(String::from_utf8_lossy(&buf).into_owned());
        }
        out
    }

    #[test]
    fn plain_and_gzip_read_the_same_with_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let text = "a line\r\nsecond\nno newline at end";
        let plain = dir.path().join("mail.log");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("mail.log.1.gz");
        let mut e =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
        assert_eq!(
            lines_of(&plain),
            vec!["a line", "second", "no newline at end"]
        );
        assert_eq!(lines_of(&gz), lines_of(&plain));
        let a = open_input(&Input::Path(plain)).unwrap();
        let b = open_input(&Input::Path(gz)).unwrap();
        assert_eq!(a.identity(&[]), b.identity(&[]));
        assert_eq!(b.format(), "gzip");
    }

    #[test]
    fn huge_lines_are_cut_and_offsets_stay_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.log");
        let mut data = vec![b'x'; 10 * 1024 * 1024];
        data.push(b'\n');
        data.extend_from_slice(b"after\n");
        std::fs::write(&p, &data).unwrap();
        let mut r = open_input(&Input::Path(p)).unwrap();
        let mut buf = Vec::new();
        assert_eq!(r.next_line(&mut buf).unwrap(), 10 * 1024 * 1024 + 1);
        assert!(buf.len() < MAX_LINE + 100);
        assert!(String::from_utf8_lossy(&buf).ends_with("line cut, 10485761 bytes]"));
        assert_eq!(r.next_line(&mut buf).unwrap(), 6);
        assert_eq!(buf, b"after");
        assert_eq!(r.next_line(&mut buf).unwrap(), 0);
    }

    #[test]
    fn read_lines_gives_the_lines_of_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mixed.log");
        let mut data = Vec::new();
        // Lines across the 1 MB read buffer, CRLF, bad UTF-8, a line over MAX_LINE, an empty
        // line, and a last line without newline.
        for i in 0..40_000u32 {
            data.extend_from_slice(
                format!("line {i} {}\n", "y".repeat((i % 97) as usize)).as_bytes(),
            );
            if i % 5000 == 0 {
                data.extend_from_slice(b"crlf\r\n\xff\xfe bad\n\n");
                data.extend(std::iter::repeat_n(b'z', MAX_LINE + 10));
                data.push(b'\n');
            }
        }
        data.extend_from_slice(b"last");
        std::fs::write(&p, &data).unwrap();
        let expected = lines_of(&p);
        let mut r = open_input(&Input::Path(p)).unwrap();
        let (mut text, mut ends, mut buf) = (String::new(), Vec::new(), Vec::new());
        let mut got = Vec::new();
        let mut total = 0;
        loop {
            text.clear();
            ends.clear();
            let n = r
                .read_lines(&mut text, &mut ends, (70_000, 1000), &mut buf)
                .unwrap();
            if n == 0 {
                break;
            }
            total += n;
            let mut start = 0;
            for &e in &ends {
                got.push(text[start..e].to_string());
                start = e;
            }
        }
        assert_eq!(total, data.len() as u64);
        assert_eq!(got.len(), expected.len());
        assert_eq!(got, expected);
    }

    #[test]
    fn grown_file_keeps_its_identity_and_skip_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.log");
        std::fs::write(&p, "one\n").unwrap();
        let r = open_input(&Input::Path(p.clone())).unwrap();
        let (ident, len) = r.identity(&[]);
        std::fs::write(&p, "one\ntwo\n").unwrap();
        let cp = Checkpoint {
            ident,
            ident_len: len,
            path: String::new(),
            offset: 4,
            lines: 1,
        };
        let mut r = open_input(&Input::Path(p)).unwrap();
        assert_eq!(r.identity(std::slice::from_ref(&cp)), (ident, len));
        r.skip(4).unwrap();
        let mut buf = Vec::new();
        r.next_line(&mut buf).unwrap();
        assert_eq!(buf, b"two");
    }
}
