//! One line of an SMTP dialogue, as logs that record the conversation write it (SmarterMail's
//! `cmd:`/`rsp:` lines, `S <--`/`C -->` transcripts): a client command or a server reply.

use crate::postfix::Reply;
use crate::util::{leading_code, unbracket};

/// A client command, its verb upper-cased for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `HELO name` / `EHLO name`.
    Helo(&'a str),
    /// `MAIL FROM:<addr> [params]`: the sender without brackets (`""` for `<>`).
    MailFrom(&'a str),
    /// `RCPT TO:<addr> [params]`: the recipient without brackets.
    RcptTo(&'a str),
    /// `DATA` (or `BDAT`).
    Data,
    /// `STARTTLS`.
    StartTls,
    /// `AUTH method [initial response]`: the method.
    Auth(&'a str),
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
    /// Anything else (`NOOP`, `VRFY`, an AUTH continuation, garbage): the whole text.
    Other(&'a str),
}

impl<'a> Command<'a> {
    /// Read a command line.
    pub fn parse(text: &'a str) -> Command<'a> {
        let t = text.trim();
        let (verb, arg) = t.split_once(' ').unwrap_or((t, ""));
        let arg = arg.trim();
        let is = |v: &str| verb.eq_ignore_ascii_case(v);
        if is("HELO") || is("EHLO") {
            Command::Helo(arg)
        } else if is("MAIL") || is("RCPT") {
            // `MAIL FROM:<a> SIZE=1`, `MAIL FROM: <a>`, `RCPT TO:<b> NOTIFY=...`.
            let Some((kw, addr)) = arg.split_once(':') else {
                return Command::Other(t);
            };
            let want = if is("MAIL") { "FROM" } else { "TO" };
            if !kw.trim().eq_ignore_ascii_case(want) {
                return Command::Other(t);
            }
            let addr = addr.trim_start();
            let addr = match addr.strip_prefix('<').and_then(|a| a.split_once('>')) {
                Some((inner, _)) => inner,
                None => addr.split(' ').next().unwrap_or(""),
            };
            if is("MAIL") {
                Command::MailFrom(addr)
            } else {
                Command::RcptTo(unbracket(addr))
            }
        } else if is("DATA") || is("BDAT") {
            Command::Data
        } else if is("STARTTLS") {
            Command::StartTls
        } else if is("AUTH") {
            Command::Auth(arg.split(' ').next().unwrap_or(""))
        } else if is("RSET") {
            Command::Rset
        } else if is("QUIT") {
            Command::Quit
        } else {
            Command::Other(t)
        }
    }
}

/// The `SIZE=` parameter of a `MAIL FROM` command line (RFC 1870): the message size the
/// client announced.
pub fn mail_size(line: &str) -> Option<u64> {
    line.split_whitespace().find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.eq_ignore_ascii_case("SIZE").then(|| v.parse().ok())?
    })
}

/// One line of a dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Smtp<'a> {
    /// What the client sent.
    Command(Command<'a>),
    /// What the server answered (one line of it; multi-line replies are logged line by line or
    /// run together).
    Reply(Reply<'a>),
}

impl<'a> Smtp<'a> {
    /// A reply when the text starts with a reply code, else a command: for transcripts whose
    /// arrows say who wrote the line but not in the same way for every product.
    pub fn guess(text: &'a str) -> Smtp<'a> {
        if leading_code(text.trim()).is_some() {
            Smtp::Reply(Reply::parse(text))
        } else {
            Smtp::Command(Command::parse(text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        for (line, want) in [
            ("EHLO mail.example.com", Command::Helo("mail.example.com")),
            ("helo [192.168.0.8]", Command::Helo("[192.168.0.8]")),
            (
                "MAIL FROM:<sender@servermanagementco.com> SIZE=943",
                Command::MailFrom("sender@servermanagementco.com"),
            ),
            ("MAIL FROM:<>", Command::MailFrom("")),
            ("mail from: <a@b.c>", Command::MailFrom("a@b.c")),
            (
                "RCPT TO:<recipient@gmail.com>",
                Command::RcptTo("recipient@gmail.com"),
            ),
            ("RCPT TO:x@y NOTIFY=NEVER", Command::RcptTo("x@y")),
            ("RCPT FROM:<x@y>", Command::Other("RCPT FROM:<x@y>")),
            ("DATA", Command::Data),
            ("AUTH CRAM-MD5", Command::Auth("CRAM-MD5")),
            ("AUTH LOGIN dXNlcg==", Command::Auth("LOGIN")),
            ("STARTTLS", Command::StartTls),
            ("QUIT", Command::Quit),
            ("", Command::Other("")),
            ("MAIL", Command::Other("MAIL")),
        ] {
            assert_eq!(Command::parse(line), want, "{line}");
        }
    }

    #[test]
    fn size_parameter() {
        assert_eq!(mail_size("MAIL FROM:<a@b> SIZE=943"), Some(943));
        assert_eq!(
            mail_size("cmd: MAIL FROM:<a@b> BODY=8BITMIME size=12"),
            Some(12)
        );
        assert_eq!(mail_size("MAIL FROM:<a@b>"), None);
        assert_eq!(mail_size("MAIL FROM:<a@b> SIZE=x"), None);
    }

    #[test]
    fn guess_tells_replies_from_commands() {
        let Smtp::Reply(r) = Smtp::guess("550 5.1.1 <x@y>: no such user") else {
            panic!("reply")
        };
        assert_eq!((r.code, r.dsn), (Some(550), Some("5.1.1")));
        assert_eq!(
            Smtp::guess("250-SIZE 157286400"),
            Smtp::Reply(Reply::parse("250-SIZE 157286400"))
        );
        assert_eq!(Smtp::guess("DATA"), Smtp::Command(Command::Data));
    }
}
