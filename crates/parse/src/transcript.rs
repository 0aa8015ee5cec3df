//! SMTP conversation transcripts, one line per command or reply, grouped by connection (Xeams
//! and similar servers):
//!
//! ```text
//! 2024-03-21 11:39:49,056 - [   7054286] ************ New (secure) connection to: 142.251.171.26
//! 2024-03-21 11:39:49,056 - [   7054286] S <-- EHLO mail.synametrics.com
//! 2024-03-21 11:39:49,170 - [   7054286] C --> 250-mx.google.com at your service
//! 2024-03-21 11:39:49,898 - [   7054286] ~~~~~~~~~~~~ Connection Terminated ( 842)
//! ```
//!
//! The time is the server's local time with milliseconds. Which side wrote a dialogue line is
//! told by its content (a reply starts with its code), not by the arrow: products draw them
//! differently for connections they open and connections they accept.
//!
//! ```
//! use mailtrace_parse::{smtp::{Command, Smtp}, transcript::{self, Kind}};
//! let l = transcript::parse("2024-03-21 11:39:49,194 - [   7054286] S <-- RCPT TO:<synametrics@gmail.com>").unwrap();
//! assert_eq!(l.conn, "7054286");
//! assert_eq!(l.kind, Kind::Dialogue(Smtp::Command(Command::RcptTo("synametrics@gmail.com"))));
//! ```

use crate::smtp::Smtp;
use crate::syslog::LocalTime;
use crate::util::split2;

/// One transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// When, in the server's local time.
    pub at: LocalTime,
    /// The connection id (trimmed).
    pub conn: &'a str,
    /// The text after `[conn] `.
    pub text: &'a str,
    /// What it says.
    pub kind: Kind<'a>,
}

/// What a transcript line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `New (secure) connection to: ip` (we deliver) or `... from: ip` (we receive).
    Open {
        /// The peer's address.
        peer: &'a str,
        /// We opened it (a delivery); `false` when a client connected to us.
        outgoing: bool,
        /// `(secure)`: TLS from the start.
        secure: bool,
    },
    /// A command or a reply.
    Dialogue(Smtp<'a>),
    /// `Connection Terminated`.
    Closed,
    /// Anything else.
    Other,
}

/// Parse one line; `None` when it has not the transcript's date, time and connection id.
pub fn parse(line: &str) -> Option<Line<'_>> {
    let b = line.as_bytes();
    if b.len() < 25 || b[10] != b' ' {
        return None;
    }
    let mut at = LocalTime::date(b, b'-')?.with_time(&b[11..19])?;
    let mut rest = &line[19..];
    if let Some(frac) = rest.strip_prefix([',', '.']) {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 6 {
            return None;
        }
        let digits: u32 = frac[..n].parse().ok()?;
        at.micros = digits * 10u32.pow(6 - n as u32);
        rest = &frac[n..];
    }
    let rest = rest.strip_prefix(" - [")?;
    let (conn, text) = split2(rest, "]")?;
    let conn = conn.trim();
    if conn.is_empty() {
        return None;
    }
    let text = text.strip_prefix(' ').unwrap_or(text);
    Some(Line {
        at,
        conn,
        text,
        kind: kind(text),
    })
}

fn kind(text: &str) -> Kind<'_> {
    for arrow in ["S <-- ", "C --> ", "S --> ", "C <-- "] {
        if let Some(t) = text.strip_prefix(arrow) {
            return Kind::Dialogue(Smtp::guess(t));
        }
    }
    let t = text.trim_start_matches(['*', '~', ' ']);
    if let Some(r) = t.strip_prefix("New ") {
        let secure = r.starts_with("(secure)");
        for (word, outgoing) in [("connection to:", true), ("connection from:", false)] {
            if let Some((_, peer)) = split2(r, word) {
                let peer = peer.split_whitespace().next().unwrap_or("");
                return Kind::Open {
                    peer,
                    outgoing,
                    secure,
                };
            }
        }
    }
    if t.starts_with("Connection Terminated") || t.starts_with("Connection closed") {
        return Kind::Closed;
    }
    Kind::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::Command;

    /// Every line of the vendor example, what it must read as.
    #[test]
    fn xeams_example_lines() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/corpora/vendor-doc-examples/xeams-transcript.log"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<Line<'_>> = text
            .lines()
            .map(|l| parse(l).unwrap_or_else(|| panic!("unparsed: {l}")))
            .collect();
        assert_eq!(lines.len(), 19);
        assert!(lines.iter().all(|l| l.conn == "7054286"));
        assert_eq!(
            lines[0].kind,
            Kind::Open {
                peer: "142.251.171.26",
                outgoing: true,
                secure: true
            }
        );
        assert_eq!(
            (lines[0].at.hour, lines[0].at.minute, lines[0].at.micros),
            (11, 39, 56_000)
        );
        assert_eq!(
            lines[9].kind,
            Kind::Dialogue(Smtp::Command(Command::MailFrom("support@synametrics.com")))
        );
        let Kind::Dialogue(Smtp::Reply(r)) = lines[15].kind else {
            panic!("{:?}", lines[15]);
        };
        assert_eq!((r.code, r.dsn), (Some(250), Some("2.0.0")));
        assert_eq!(lines[18].kind, Kind::Closed);
        let other = lines.iter().filter(|l| l.kind == Kind::Other).count();
        assert_eq!(other, 0);
    }

    #[test]
    fn not_transcripts() {
        for l in [
            "",
            "2024-03-21 11:39:49 mx postfix/smtp[1]: x",
            "2024-03-21 11:39:49,056 - [] S <-- EHLO",
            "2024-03-21 11:39:49,05x - [1] S <-- EHLO",
            "2024-13-21 11:39:49,056 - [1] S <-- EHLO",
            "[2018.05.07] 22:57:34 [61003] CMD: DATA",
        ] {
            assert_eq!(parse(l), None, "{l}");
        }
        let l = parse("2024-03-21 11:39:49.5 - [ab] ************ New connection from: 192.0.2.7")
            .unwrap();
        assert_eq!(
            l.kind,
            Kind::Open {
                peer: "192.0.2.7",
                outgoing: false,
                secure: false
            }
        );
        assert_eq!(l.at.micros, 500_000);
    }
}
