//! Syslog envelopes: when, which host, which program wrote a line.
//!
//! Three layouts are recognised:
//! - traditional BSD (RFC 3164) `Mmm dd hh:mm:ss host prog[pid]: text`, optionally after `<PRI>`;
//!   it carries no year and no zone, so both come from the [`Context`];
//! - RFC 3339 timestamps in place of the BSD one (rsyslog `RSYSLOG_FileFormat`, journald exports);
//! - RFC 5424 `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`, with or without `<PRI>`.

use crate::util::{find, split2};
use jiff::tz::TimeZone;
use mailtrace_model::Ts;
use serde::{Deserialize, Serialize};

/// The envelope of one syslog line. Borrows from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// When the line was written.
    pub ts: Ts,
    /// The host name field.
    pub host: &'a str,
    /// The program tag without pid (`postfix/smtpd`, `postfix-out/smtp`).
    pub program: &'a str,
    /// The process id, when logged.
    pub pid: Option<u32>,
    /// What the program logged.
    pub text: &'a str,
}

/// What a BSD timestamp needs to become an instant: the year and the zone of the server.
///
/// The year starts from an anchor (normally the file's modification time: the newest line of a
/// file is not newer than the file) and rolls over when the month goes back (December → January).
#[derive(Debug, Clone)]
pub struct Context {
    tz: TimeZone,
    state: YearState,
    cache: Option<(i64, i64)>,
}

/// The part of a [`Context`] that must survive a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearState {
    /// Year of the last BSD line seen.
    pub year: i16,
    /// Month (1–12) of the last BSD line seen; 0 before the first line.
    pub month: u8,
    /// While no line was seen: lines dated after this month belong to the year before.
    pub anchor_month: u8,
}

impl Context {
    /// Lines are from `year`, with roll-over at year end.
    pub fn new(year: i16, tz: TimeZone) -> Context {
        Context::with_state(
            YearState {
                year,
                month: 0,
                anchor_month: 12,
            },
            tz,
        )
    }

    /// The input ends at (`year`, `month`), e.g. the file's modification time: a first line
    /// dated after `month` is from the year before.
    pub fn ending_at(year: i16, month: u8, tz: TimeZone) -> Context {
        Context::with_state(
            YearState {
                year,
                month: 0,
                anchor_month: month.clamp(1, 12),
            },
            tz,
        )
    }

    /// Resume from a saved [`YearState`].
    pub fn with_state(state: YearState, tz: TimeZone) -> Context {
        Context {
            tz,
            state,
            cache: None,
        }
    }

    /// The state to save with a checkpoint.
    pub fn state(&self) -> YearState {
        self.state
    }

    fn year_for(&mut self, month: u8) -> i16 {
        let st = &mut self.state;
        if st.month == 0 {
            if month > st.anchor_month {
                st.year -= 1;
            }
            st.month = month;
        } else if month + 6 <= st.month {
            // Went from late in the year to early: a new year began (December → January).
            st.year += 1;
            st.month = month;
        } else if month >= st.month + 6 {
            // A straggler from the previous year (e.g. a late December line after January ones).
            return st.year - 1;
        } else {
            st.month = month;
        }
        st.year
    }

    /// Seconds since the epoch of a civil time in the context's zone.
    fn local_to_utc(&mut self, y: i16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Option<i64> {
        let days = days_from_civil(i64::from(y), i64::from(mo), i64::from(d));
        let local = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
        let hour = local.div_euclid(3600);
        let offset = match self.cache {
            Some((hh, off)) if hh == hour => off,
            _ => {
                let dt = jiff::civil::DateTime::new(y, mo as i8, d as i8, h as i8, 0, 0, 0).ok()?;
                let ts = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                let off = local - i64::from(mi) * 60 - i64::from(s) - ts.as_second();
                self.cache = Some((hour, off));
                off
            }
        };
        Some(local - offset)
    }
}

/// A civil date and time as a log wrote it, in the server's local time (SmarterMail,
/// transcripts): [`Context::local`] places it in the context's zone, as BSD timestamps are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalTime {
    /// Year.
    pub year: i16,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, 1-31.
    pub day: u8,
    /// Hour, 0-23.
    pub hour: u8,
    /// Minute, 0-59.
    pub minute: u8,
    /// Second, 0-60.
    pub second: u8,
    /// Microseconds.
    pub micros: u32,
}

impl LocalTime {
    /// `YYYY<sep>MM<sep>DD` at the start of `b` (10 bytes), with the time left at zero.
    pub(crate) fn date(b: &[u8], sep: u8) -> Option<LocalTime> {
        if b.len() < 10 || b[4] != sep || b[7] != sep {
            return None;
        }
        let t = LocalTime {
            year: i16::try_from(num(&b[0..4])?).ok()?,
            month: num(&b[5..7])? as u8,
            day: num(&b[8..10])? as u8,
            ..LocalTime::default()
        };
        ((1..=12).contains(&t.month) && (1..=31).contains(&t.day)).then_some(t)
    }

    /// `hh:mm:ss` at the start of `b` (8 bytes) into `self`.
    pub(crate) fn with_time(mut self, b: &[u8]) -> Option<LocalTime> {
        if b.len() < 8 || b[2] != b':' || b[5] != b':' {
            return None;
        }
        self.hour = num(&b[0..2])? as u8;
        self.minute = num(&b[3..5])? as u8;
        self.second = num(&b[6..8])? as u8;
        (self.hour <= 23 && self.minute <= 59 && self.second <= 60).then_some(self)
    }
}

impl Context {
    /// The instant of a local time in the context's zone; `None` for a date that does not
    /// exist (30 February).
    pub fn local(&mut self, t: &LocalTime) -> Option<Ts> {
        let secs = self.local_to_utc(t.year, t.month, t.day, t.hour, t.minute, t.second.min(59))?;
        Some(Ts(secs * 1_000_000 + i64::from(t.micros)))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        // Ten digits or more overflow: such a field is not a PRI, pid or day.
        n = n.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(n)
}

/// Parse the envelope of `line`; `None` when it has none of the known layouts.
pub fn parse<'a>(line: &'a str, ctx: &mut Context) -> Option<Envelope<'a>> {
    let mut rest = line;
    if let Some(r) = rest.strip_prefix('<') {
        let end = find(r, ">")?;
        num(&r.as_bytes()[..end])?;
        rest = &r[end + 1..];
        if let Some(r5424) = rest.strip_prefix("1 ") {
            return parse_5424(r5424);
        }
    } else if let Some(r5424) = rest.strip_prefix("1 ") {
        return parse_5424(r5424);
    }
    let b = rest.as_bytes();
    let (ts, after) = if b.len() >= 15 && b[3] == b' ' && b[0].is_ascii_uppercase() {
        let month = MONTHS.iter().position(|m| b.get(..3) == Some(&m[..]))? as u8 + 1;
        // `Mar  7`, `Mar 07` and (some relays) `Mar 7`: the time starts after the day.
        let (day, t) = match (b[4], b[5]) {
            (b' ', _) => (num(&b[5..6])?, 7),
            (_, b' ') => (num(&b[4..5])?, 6),
            _ => (num(&b[4..6])?, 7),
        };
        let day = day as u8;
        let tb = b.get(t..t + 8)?;
        if b[t - 1] != b' ' || tb[2] != b':' || tb[5] != b':' {
            return None;
        }
        let h = num(&tb[0..2])? as u8;
        let mi = num(&tb[3..5])? as u8;
        let s = num(&tb[6..8])? as u8;
        if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        let mut after = &rest[t + 8..];
        // Some syslog daemons add the year or sub-seconds: `Mmm dd hh:mm:ss.mmm`.
        let mut micros = 0;
        if let Some(frac) = after.strip_prefix('.') {
            let n = find(frac, " ").unwrap_or(frac.len());
            micros = fraction_micros(&frac[..n])?;
            after = &frac[n..];
        }
        let year = ctx.year_for(month);
        let secs = ctx.local_to_utc(year, month, day, h, mi, s.min(59))?;
        (Ts(secs * 1_000_000 + micros), after.strip_prefix(' ')?)
    } else if b.len() >= 20 && b[4] == b'-' && b[10] == b'T' {
        let sp = find(rest, " ")?;
        (rfc3339(&rest[..sp])?, &rest[sp + 1..])
    } else if b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' {
        return exim_mainlog(rest, ctx);
    } else {
        return None;
    };
    let (host, after) = split2(after, " ")?;
    let (program, pid, text) = tag(after)?;
    Some(Envelope {
        ts,
        host,
        program,
        pid,
        text,
    })
}

/// `YYYY-MM-DD hh:mm:ss[.fff][ +hhmm] ...`: Exim's main log (local time unless `log_timezone`
/// added the offset), or a syslog daemon writing that date before `host prog[pid]: text`.
/// Exim's own lines get program `exim`, no host, and the pid of `[pid] ` (`log_selector = +pid`).
fn exim_mainlog<'a>(rest: &'a str, ctx: &mut Context) -> Option<Envelope<'a>> {
    let b = rest.as_bytes();
    if b[16] != b':' {
        return None;
    }
    let y = i16::try_from(num(&b[0..4])?).ok()?;
    let mo = num(&b[5..7])? as u8;
    let d = num(&b[8..10])? as u8;
    let (h, mi, sec) = (
        num(&b[11..13])? as u8,
        num(&b[14..16])? as u8,
        num(&b[17..19])? as u8,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut after = &rest[19..];
    let mut micros = 0;
    if let Some(frac) = after.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        micros = fraction_micros(&frac[..n])?;
        after = &frac[n..];
    }
    let mut after = after.strip_prefix(' ')?;
    let ab = after.as_bytes();
    let secs = if ab.len() >= 6 && matches!(ab[0], b'+' | b'-') && ab[5] == b' ' {
        let off = i64::from(num(&ab[1..3])? * 3600 + num(&ab[3..5])? * 60);
        let off = if ab[0] == b'-' { -off } else { off };
        after = &after[6..];
        let days = days_from_civil(i64::from(y), i64::from(mo), i64::from(d));
        days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec.min(59)) - off
    } else {
        ctx.local_to_utc(y, mo, d, h, mi, sec.min(59))?
    };
    let ts = Ts(secs * 1_000_000 + micros);
    // `host prog[pid]: text` after the date: a syslog daemon's line. Exim's own text can look
    // the same (`proxy session: yes`, an ACL's `logwrite`), so the tag must have a pid or be
    // a mail daemon's, and the host must look like one.
    if let Some((host, tail)) = split2(after, " ") {
        let hostlike = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            && !crate::exim::is_message_id(host);
        if let Some((program, pid, text)) = tag(tail).filter(|_| hostlike) {
            let daemon = find(program, "/").is_some()
                || matches!(
                    program,
                    "exim" | "exim4" | "sendmail" | "sm-mta" | "postfix"
                );
            if pid.is_some() || daemon {
                return Some(Envelope {
                    ts,
                    host,
                    program,
                    pid,
                    text,
                });
            }
        }
    }
    let mut pid = None;
    if let Some(p) = after.strip_prefix('[') {
        // `[pid] ` (`log_selector = +pid`); `[192.0.2.1] ...` is text.
        if let Some((n, text)) = p.split_once("] ") {
            if let Some(n) = num(n.as_bytes()) {
                pid = Some(n);
                after = text;
            }
        }
    }
    Some(Envelope {
        ts,
        host: "",
        program: "exim",
        pid,
        text: after,
    })
}

/// `prog[pid]: text` or `prog: text`.
fn tag(s: &str) -> Option<(&str, Option<u32>, &str)> {
    // One pass over the few bytes of the tag: it ends at the first `: ` (or a `:` that ends the
    // line) and has no space; the pid is in brackets from its first `[`.
    let b = s.as_bytes();
    let mut open = None;
    let mut i = 0;
    let colon = loop {
        match *b.get(i)? {
            b' ' => return None,
            b':' if b.get(i + 1).is_none_or(|&c| c == b' ') => break i,
            b'[' if open.is_none() => open = Some(i),
            _ => {}
        }
        i += 1;
    };
    let head = &s[..colon];
    let text = s.get(colon + 2..).unwrap_or("");
    if head.is_empty() {
        return None;
    }
    match open.filter(|_| head.ends_with(']')) {
        Some(o) => Some((&head[..o], Some(num(&b[o + 1..colon - 1])?), text)),
        None => Some((head, None, text)),
    }
}

fn parse_5424(s: &str) -> Option<Envelope<'_>> {
    let mut it = s.splitn(6, ' ');
    let ts = rfc3339(it.next()?)?;
    let host = it.next()?;
    let app = it.next()?;
    let procid = it.next()?;
    let _msgid = it.next()?;
    let rest = it.next().unwrap_or("");
    let text = skip_structured_data(rest)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Some(Envelope {
        ts,
        host: if host == "-" { "" } else { host },
        program: if app == "-" { "" } else { app },
        pid: num(procid.as_bytes()),
        text,
    })
}

/// Skip RFC 5424 STRUCTURED-DATA (`-` or `[id k="v"]...`, `\]` escapes inside values).
fn skip_structured_data(s: &str) -> Option<&str> {
    if let Some(r) = s.strip_prefix('-') {
        return Some(r.strip_prefix(' ').unwrap_or(r));
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        let mut in_quotes = false;
        i += 1;
        loop {
            let c = *b.get(i)?;
            match c {
                b'\\' if in_quotes => i += 1,
                b'"' => in_quotes = !in_quotes,
                b']' if !in_quotes => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    let r = &s[i.min(s.len())..];
    Some(r.strip_prefix(' ').unwrap_or(r))
}

fn fraction_micros(f: &str) -> Option<i64> {
    if f.is_empty() || f.len() > 9 {
        return None;
    }
    let n = i64::from(num(f.as_bytes())?);
    let scale = 10_i64.pow(6_u32.saturating_sub(f.len() as u32));
    Some(if f.len() > 6 {
        n / 10_i64.pow(f.len() as u32 - 6)
    } else {
        n * scale
    })
}

/// RFC 3339 `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn rfc3339(s: &str) -> Option<Ts> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') {
        return None;
    }
    let y = num(&b[0..4])? as i64;
    let mo = num(&b[5..7])? as i64;
    let d = num(&b[8..10])? as i64;
    let h = num(&b[11..13])? as i64;
    let mi = num(&b[14..16])? as i64;
    let sec = num(&b[17..19])? as i64;
    if b[13] != b':'
        || b[16] != b':'
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
        micros = fraction_micros(&f[..n])?;
        rest = &f[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' {
                return None;
            }
            let sign = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (num(&rb[1..3])? as i64 * 3600 + num(&rb[4..6])? as i64 * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec.min(59) - offset;
    Some(Ts(secs * 1_000_000 + micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(year: i16) -> Context {
        Context::new(year, TimeZone::UTC)
    }

    #[test]
    fn exim_main_log_lines() {
        let mut c = Context::new(1999, TimeZone::fixed(jiff::tz::offset(1)));
        // (line, utc seconds of 1999-03-02 09:44:33 local +1h, host, program, pid, text)
        let local = 920_367_873 - 3600;
        type Case<'a> = (&'a str, i64, &'a str, &'a str, Option<u32>, &'a str);
        let cases: &[Case] = &[
            ("1999-03-02 09:44:33 10HmaX-000000005vi-0000 <= someone@some.domain U=CALLER P=local-smtp S=sss", local, "", "exim", None, "10HmaX-000000005vi-0000 <= someone@some.domain U=CALLER P=local-smtp S=sss"),
            ("1999-03-02 09:44:33 [1234] 10HmaX-000000005vi-0000 Completed", local, "", "exim", Some(1234), "10HmaX-000000005vi-0000 Completed"),
            ("1999-03-02 09:44:33 +0000 Start queue run: pid=p1234", 920_367_873, "", "exim", None, "Start queue run: pid=p1234"),
            ("1999-03-02 09:44:33.250 -0130 10HmaX-000000005vi-0000 Frozen: x", 920_367_873 + 5400, "", "exim", None, "10HmaX-000000005vi-0000 Frozen: x"),
            ("1999-03-02 09:44:33 H=(test) [10.0.0.2] F=<a@b> rejected RCPT <c@d>: Sender verify failed", local, "", "exim", None, "H=(test) [10.0.0.2] F=<a@b> rejected RCPT <c@d>: Sender verify failed"),
            ("1999-03-02 09:44:33 mx1.fqdn.local exim[29786]: dovecot_login authenticator failed for (User) [192.0.2.37]: 535 Incorrect", local, "mx1.fqdn.local", "exim", Some(29786), "dovecot_login authenticator failed for (User) [192.0.2.37]: 535 Incorrect"),
        ];
        for (line, secs, host, program, pid, text) in cases {
            let e = parse(line, &mut c).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(e.ts.0 / 1_000_000, *secs, "{line}");
            assert_eq!(
                (e.host, e.program, e.pid, e.text),
                (*host, *program, *pid, *text),
                "{line}"
            );
        }
        assert_eq!(parse(cases[3].0, &mut c).unwrap().ts.0 % 1_000_000, 250_000);
        for bad in [
            "1999-13-02 09:44:33 x",
            "1999-03-02 25:44:33 x",
            "1999-03-02 09:44:33",
        ] {
            assert!(parse(bad, &mut c).is_none(), "{bad}");
        }
    }

    #[test]
    fn bsd_lines() {
        let mut c = utc(2024);
        let e = parse(
            "Feb  1 09:21:54 mx postfix/smtpd[14398]: connect from a[1.2.3.4]",
            &mut c,
        )
        .unwrap();
        assert_eq!(e.ts.to_rfc3339(), "2024-02-01T09:21:54Z");
        assert_eq!(
            (e.host, e.program, e.pid),
            ("mx", "postfix/smtpd", Some(14398))
        );
        assert_eq!(e.text, "connect from a[1.2.3.4]");
        let e = parse(
            "Jul 12 07:47:48 saturn postfix/submission/smtpd[8738]: x",
            &mut c,
        )
        .unwrap();
        assert_eq!(e.program, "postfix/submission/smtpd");
        let e = parse("<22>Jul 12 07:47:48 saturn postfix-out/smtp: hello", &mut c).unwrap();
        assert_eq!(
            (e.program, e.pid, e.text),
            ("postfix-out/smtp", None, "hello")
        );
    }

    #[test]
    fn unpadded_day_and_huge_numbers() {
        let mut c = utc(2024);
        let e = parse(
            "Mar 7 02:09:33 mx postfix/smtpd[1]: connect from a[1.2.3.4]",
            &mut c,
        )
        .expect("unpadded day");
        assert_eq!(e.ts.to_rfc3339(), "2024-03-07T02:09:33Z");
        assert!(parse(
            "<99999999999999999999>1 2024-05-01T10:00:00Z mx p 1 - - x",
            &mut c
        )
        .is_none());
        let e = parse("Mar  7 02:09:33 mx postfix/smtpd[99999999999]: x", &mut c);
        assert!(e.is_none());
    }

    #[test]
    fn year_rolls_over_in_january_and_anchor_applies() {
        let mut c = Context::ending_at(2025, 1, TimeZone::UTC);
        let d = parse("Dec 31 23:59:59 h p[1]: a", &mut c).unwrap();
        let j = parse("Jan  1 00:00:01 h p[1]: b", &mut c).unwrap();
        assert_eq!(d.ts.to_rfc3339(), "2024-12-31T23:59:59Z");
        assert_eq!(j.ts.to_rfc3339(), "2025-01-01T00:00:01Z");
        // A late straggler from December stays in the old year.
        let late = parse("Dec 31 23:59:58 h p[1]: c", &mut c).unwrap();
        assert_eq!(late.ts.to_rfc3339(), "2024-12-31T23:59:58Z");
    }

    #[test]
    fn zone_applies_to_bsd_times() {
        let tz = TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::fixed(jiff::tz::offset(1)));
        let mut c = Context::new(2024, tz);
        let e = parse("Jan 10 10:00:00 h p[1]: a", &mut c).unwrap();
        assert_eq!(e.ts.to_rfc3339(), "2024-01-10T09:00:00Z");
    }

    #[test]
    fn rfc3339_lines() {
        let mut c = utc(1999);
        let e = parse(
            "2020-01-30T06:26:05.404714+09:00 mail postfix/smtpd[1830]: connect from x[127.0.0.1]",
            &mut c,
        )
        .unwrap();
        assert_eq!(e.ts.to_rfc3339(), "2020-01-29T21:26:05.404714Z");
        assert_eq!(e.program, "postfix/smtpd");
    }

    #[test]
    fn rfc5424_lines() {
        let mut c = utc(1999);
        let e = parse(
            r#"<22>1 2024-05-01T10:00:00.5Z mx postfix/qmgr 77 - [meta x="a\]b"] ABC: removed"#,
            &mut c,
        )
        .unwrap();
        assert_eq!(
            (e.host, e.program, e.pid, e.text),
            ("mx", "postfix/qmgr", Some(77), "ABC: removed")
        );
        assert_eq!(e.ts.to_rfc3339(), "2024-05-01T10:00:00.5Z");
        let e = parse(
            "1 2024-05-01T10:00:00Z mx postfix/qmgr - - - ABC: removed",
            &mut c,
        )
        .unwrap();
        assert_eq!((e.pid, e.text), (None, "ABC: removed"));
    }

    #[test]
    fn garbage_is_none() {
        let mut c = utc(2024);
        for l in [
            "",
            "hello",
            "Foo 12 10:00:00 h p: x",
            "Jan 99 10:00:00 h p: x",
            "<x>1 2",
            "\u{0}\u{0}\u{0}",
            "Jan  1 10:00:00 host",
            "2024-13-01T00:00:00Z h p: x",
        ] {
            assert!(parse(l, &mut c).is_none(), "{l:?}");
        }
    }
}
