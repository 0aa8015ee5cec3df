//! Which log format a file is in, told from its first lines.
//!
//! Syslog files (Postfix, Exim and Sendmail through syslog, possibly in one file) are one
//! family: their lines are dispatched one by one by program name. The other formats are one
//! per file: Exim's own main log (no host, no program), SmarterMail's SMTP and delivery logs,
//! and SMTP transcripts.
//!
//! ```
//! use mailtrace_parse::format::{detect, Format};
//! let head = b"[2018.05.07] 22:57:34 [61003] Delivery started for a@b.c at 10:57:34 PM\n";
//! assert_eq!(detect(head), Format::SmarterMailDelivery);
//! assert_eq!("transcript".parse::<Format>(), Ok(Format::Transcript));
//! ```

use crate::{smartermail, syslog, transcript};

/// A log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Syslog lines (Postfix, Exim, Sendmail...), dispatched per line by program. Also what a
    /// file no rule recognises is read as: its lines are counted as unparsed.
    #[default]
    Syslog,
    /// Exim's main log as Exim writes it (`2024-03-01 10:00:00 1abcDE-... <= ...`).
    Exim,
    /// SmarterMail's SMTP log.
    SmarterMailSmtp,
    /// SmarterMail's delivery log.
    SmarterMailDelivery,
    /// SMTP conversation transcripts (`... - [conn] S <-- COMMAND`).
    Transcript,
}

impl Format {
    /// Every format, in the order of `--format` help.
    pub const ALL: [Format; 5] = [
        Format::Syslog,
        Format::Exim,
        Format::SmarterMailSmtp,
        Format::SmarterMailDelivery,
        Format::Transcript,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Syslog => "syslog",
            Format::Exim => "exim",
            Format::SmarterMailSmtp => "smartermail-smtp",
            Format::SmarterMailDelivery => "smartermail-delivery",
            Format::Transcript => "transcript",
        }
    }

    /// Do the lines carry no server name (so one must be given or assumed)?
    pub fn hostless(self) -> bool {
        self != Format::Syslog
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown log format {s:?} (one of: {})", names.join(", "))
            })
    }
}

/// How many leading lines are looked at.
const SAMPLE_LINES: usize = 20;

/// The format of a file from its leading bytes (`head`, already decompressed): the format most
/// of its first non-empty lines have. A last line cut off by the end of `head` is not used
/// unless it is the only one. Files of no known format are [`Format::Syslog`].
pub fn detect(head: &[u8]) -> Format {
    let text = String::from_utf8_lossy(head);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.len() > 1 && !head.ends_with(b"\n") {
        lines.pop();
    }
    let mut votes = [0usize; 5];
    let mut ctx = syslog::Context::new(2000, jiff::tz::TimeZone::UTC);
    for line in lines
        .iter()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .take(SAMPLE_LINES)
    {
        if let Some(f) = line_format(line, &mut ctx) {
            votes[Format::ALL.iter().position(|x| *x == f).unwrap_or(0)] += 1;
        }
    }
    let best = (0..votes.len())
        .max_by_key(|i| (votes[*i], usize::MAX - *i))
        .unwrap_or(0);
    if votes[best] == 0 {
        Format::Syslog
    } else {
        Format::ALL[best]
    }
}

/// The format one line would be read as, if any.
fn line_format(line: &str, ctx: &mut syslog::Context) -> Option<Format> {
    if let Some(l) = smartermail::parse(line) {
        return match l.source {
            smartermail::Source::Session { .. } => Some(Format::SmarterMailSmtp),
            smartermail::Source::Delivery { .. } => Some(Format::SmarterMailDelivery),
            smartermail::Source::Service => None,
        };
    }
    if transcript::parse(line).is_some() {
        return Some(Format::Transcript);
    }
    let env = syslog::parse(line, ctx)?;
    Some(if env.host.is_empty() && env.program == "exim" {
        Format::Exim
    } else {
        Format::Syslog
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!("postfix".parse::<Format>().is_err());
    }

    #[test]
    fn detects_each_format_from_real_lines() {
        let corpora = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora/");
        let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/");
        for (path, want) in [
            (
                format!("{corpora}vendor-doc-examples/smartermail-smtp.log"),
                Format::SmarterMailSmtp,
            ),
            (
                format!("{corpora}vendor-doc-examples/smartermail-delivery.log"),
                Format::SmarterMailDelivery,
            ),
            (
                format!("{corpora}vendor-doc-examples/xeams-transcript.log"),
                Format::Transcript,
            ),
            (
                format!("{corpora}vendor-doc-examples/sendmail-realsender.log"),
                Format::Syslog,
            ),
            (format!("{corpora}exim/log/0005"), Format::Exim),
            (format!("{testdata}postfix/harness.log"), Format::Syslog),
            (format!("{testdata}exim/harness.log"), Format::Exim),
        ] {
            let bytes = std::fs::read(&path).unwrap();
            let head = &bytes[..bytes.len().min(1024)];
            assert_eq!(detect(head), want, "{path}");
        }
    }

    #[test]
    fn garbage_and_empty_heads_are_syslog() {
        assert_eq!(detect(b""), Format::Syslog);
        assert_eq!(detect(b"\x00\xff\xfe garbage\n\n"), Format::Syslog);
        // A cut-off last line is not used when whole lines came before it.
        let head =
            b"[2018.05.07] 22:54:21 [1.2.3.4][1] cmd: QUIT\n2024-03-21 11:39:49,056 - [1] S <";
        assert_eq!(detect(head), Format::SmarterMailSmtp);
    }
}
