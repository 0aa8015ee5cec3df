//! Pure parsers for mail server log lines.
//!
//! Stage: parse. Input is one decoded log line; output is a typed, borrowed record. No clock, no
//! I/O, no globals: the syslog year and time zone come in a [`syslog::Context`].
//!
//! - [`syslog`]: the envelope (`Mmm dd hh:mm:ss host prog[pid]: text`, RFC 3339 timestamps as written
//!   by rsyslog's high-precision format, RFC 5424 with or without `<PRI>`).
//! - [`postfix`]: the text Postfix daemons log, into [`postfix::Record`].
//! - [`exim`]: Exim's main log.
//! - [`sendmail`]: Sendmail's syslog lines, into [`sendmail::Record`].
//! - [`smartermail`]: SmarterMail's SMTP and delivery logs; [`transcript`]: SMTP conversation
//!   transcripts; [`smtp`]: their command and reply lines.
//! - [`format`](mod@format): which of these a file is, from its first lines.
//!
//! ```
//! use mailtrace_parse::{syslog, postfix};
//! let mut ctx = syslog::Context::new(2024, jiff::tz::TimeZone::UTC);
//! let env = syslog::parse("Mar  1 10:00:00 mx postfix/qmgr[7]: 0F5383D: removed", &mut ctx).unwrap();
//! assert_eq!(env.host, "mx");
//! let rec = postfix::parse(env.program, env.text).unwrap();
//! assert_eq!(rec.queue_id, Some("0F5383D"));
//! assert!(matches!(rec.kind, postfix::Kind::Removed));
//! ```
#![deny(missing_docs)]

pub mod exim;
pub mod format;
pub mod postfix;
pub mod sendmail;
pub mod smartermail;
pub mod smtp;
pub mod syslog;
pub mod transcript;
mod util;
