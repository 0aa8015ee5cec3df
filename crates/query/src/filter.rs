//! Search filters.

use jiff::tz::TimeZone;
use mailtrace_model::{Status, Ts};
use std::str::FromStr;

/// Why a filter value was refused. Names the field, so front ends can point at it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {field}: {message}")]
pub struct FilterError {
    /// The filter field (`since`, `from`, `status`...).
    pub field: &'static str,
    /// What is wrong with the value.
    pub message: String,
}

impl FilterError {
    fn new(field: &'static str, message: impl Into<String>) -> FilterError {
        FilterError {
            field,
            message: message.into(),
        }
    }
}

/// A sender or recipient to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPattern {
    /// One address, compared case-insensitively.
    Exact(String),
    /// Every address of a domain (`@example.com`), lower-case.
    Domain(String),
    /// The null sender `<>` (bounces and other notifications).
    Null,
}

impl FromStr for AddressPattern {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "<>" {
            return Ok(AddressPattern::Null);
        }
        let s = s
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .unwrap_or(s);
        if let Some(d) = s.strip_prefix('@') {
            if d.is_empty() || d.contains('@') {
                return Err(FilterError::new(
                    "address",
                    format!("{s:?} is not a domain"),
                ));
            }
            return Ok(AddressPattern::Domain(d.to_ascii_lowercase()));
        }
        if s.is_empty() {
            return Err(FilterError::new(
                "address",
                "empty (use <> for the null sender)",
            ));
        }
        Ok(AddressPattern::Exact(s.to_ascii_lowercase()))
    }
}

/// What to search for. Empty fields match everything; set fields must all match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Received at or after.
    pub since: Option<Ts>,
    /// Received before.
    pub until: Option<Ts>,
    /// Envelope sender.
    pub from: Option<AddressPattern>,
    /// Any envelope recipient: an address also matches an original recipient (`orig_to`),
    /// a domain matches the final recipients' domains.
    pub to: Option<AddressPattern>,
    /// Case-insensitive substring of the subject.
    pub subject: Option<String>,
    /// Message status or any recipient's status is one of these.
    pub status: Vec<Status>,
    /// Queue id (exact).
    pub queue_id: Option<String>,
    /// Message-ID header, with or without angle brackets.
    pub message_id: Option<String>,
    /// Client host name or IP address (exact, case-insensitive).
    pub client: Option<String>,
    /// Substring of any recipient's relay.
    pub relay: Option<String>,
    /// Server name (exact).
    pub server: Option<String>,
    /// Case-insensitive substring of the rejection reason or a recipient's response.
    pub reason: Option<String>,
}

impl Filter {
    /// Trim the text fields and drop empty ones (a search form sends empty strings).
    pub fn normalized(mut self) -> Filter {
        for f in [
            &mut self.subject,
            &mut self.queue_id,
            &mut self.message_id,
            &mut self.client,
            &mut self.relay,
            &mut self.server,
            &mut self.reason,
        ] {
            if let Some(v) = f.take() {
                let v = v.trim();
                if !v.is_empty() {
                    *f = Some(v.to_string());
                }
            }
        }
        if let Some(id) = self.message_id.take() {
            let id = id.trim_start_matches('<').trim_end_matches('>');
            self.message_id = Some(format!("<{id}>"));
        }
        self
    }
}

impl Filter {
    /// Whether `m` matches, with the same meaning as a store's search (for messages that are
    /// not in a store: `report --file`).
    pub fn matches(&self, m: &mailtrace_model::Message) -> bool {
        let contains = |hay: &str, needle: &str| {
            hay.to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase())
        };
        let address = |p: &AddressPattern, a: &str| match p {
            AddressPattern::Exact(x) => a.eq_ignore_ascii_case(x),
            AddressPattern::Domain(d) => mailtrace_model::domain_of(a).is_some_and(|ad| ad == *d),
            AddressPattern::Null => a.is_empty(),
        };
        if self.since.is_some_and(|t| m.received_at < t)
            || self.until.is_some_and(|t| m.received_at >= t)
        {
            return false;
        }
        if let Some(p) = &self.from {
            if !m.sender.as_deref().is_some_and(|s| address(p, s)) {
                return false;
            }
        }
        if let Some(p) = &self.to {
            // An address also matches the original recipient; a domain, the recipient only.
            let exact = matches!(p, AddressPattern::Exact(_));
            if matches!(p, AddressPattern::Null)
                || !m.recipients.iter().any(|r| {
                    address(p, &r.address)
                        || (exact && r.orig_to.as_deref().is_some_and(|o| address(p, o)))
                })
            {
                return false;
            }
        }
        if let Some(s) = &self.subject {
            if !m.subject.as_deref().is_some_and(|x| contains(x, s)) {
                return false;
            }
        }
        if !self.status.is_empty()
            && !self
                .status
                .iter()
                .any(|s| m.status == *s || m.recipients.iter().any(|r| r.status == *s))
        {
            return false;
        }
        if self
            .queue_id
            .as_ref()
            .is_some_and(|q| m.queue_id.as_ref() != Some(q))
            || self
                .message_id
                .as_ref()
                .is_some_and(|q| m.message_id.as_ref() != Some(q))
            || self.server.as_ref().is_some_and(|q| m.server != *q)
        {
            return false;
        }
        if let Some(c) = &self.client {
            let ip = m.client_ip.as_deref() == Some(c.as_str());
            let host = m
                .client_host
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(c));
            if !ip && !host {
                return false;
            }
        }
        if let Some(r) = &self.relay {
            if !m
                .recipients
                .iter()
                .any(|x| x.relay.as_deref().is_some_and(|rl| contains(rl, r)))
            {
                return false;
            }
        }
        if let Some(r) = &self.reason {
            let in_reason = m.reason.as_deref().is_some_and(|x| contains(x, r));
            let in_response = m
                .recipients
                .iter()
                .any(|x| x.response.as_deref().is_some_and(|rs| contains(rs, r)));
            if !in_reason && !in_response {
                return false;
            }
        }
        true
    }
}

/// Which page of results, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Results per page.
    pub limit: u32,
    /// Page number, from 1.
    pub page: u32,
}

impl Default for Paging {
    fn default() -> Self {
        Paging { limit: 50, page: 1 }
    }
}

impl Paging {
    /// Rows to skip.
    pub fn offset(self) -> u64 {
        u64::from(self.page.max(1) - 1) * u64::from(self.limit)
    }
}

/// Relative time ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePreset {
    /// Since local midnight.
    Today,
    /// The previous local day.
    Yesterday,
    /// The last so many microseconds.
    Last(i64),
}

impl TimePreset {
    /// The `[since, until)` range of the preset at `now` in zone `tz`.
    pub fn range(self, now: Ts, tz: &TimeZone) -> (Ts, Option<Ts>) {
        let zoned = now.to_jiff().to_zoned(tz.clone());
        let midnight = zoned
            .start_of_day()
            .map(|z| Ts::from_jiff(z.timestamp()))
            .unwrap_or(now);
        match self {
            TimePreset::Today => (midnight, None),
            TimePreset::Yesterday => {
                let prev = zoned
                    .yesterday()
                    .and_then(|z| z.start_of_day())
                    .map(|z| Ts::from_jiff(z.timestamp()))
                    .unwrap_or(Ts(midnight.0 - 86_400_000_000));
                (prev, Some(midnight))
            }
            TimePreset::Last(micros) => (Ts(now.0 - micros), None),
        }
    }
}

/// `90s`, `30m`, `2h`, `7d`, `2w` → microseconds.
///
/// # Errors
/// A value without a known unit or a number.
pub fn parse_duration(s: &str) -> Result<i64, FilterError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| {
        FilterError::new(
            "last",
            format!("{s:?}: expected a number and a unit, like 2h or 7d"),
        )
    })?;
    let secs = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => {
            return Err(FilterError::new(
                "last",
                format!("unknown unit {other:?} (use s, m, h, d or w)"),
            ))
        }
    };
    Ok(n.saturating_mul(secs).saturating_mul(1_000_000))
}

/// An instant: RFC 3339 (`2024-03-01T10:00:00Z`), or a local date or date-time in `tz`
/// (`2024-03-01`, `2024-03-01 10:00`, `2024-03-01T10:00:00`).
///
/// # Errors
/// Anything else, naming `field`.
pub fn parse_instant(s: &str, tz: &TimeZone, field: &'static str) -> Result<Ts, FilterError> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(Ts::from_jiff(t));
    }
    let civil = s
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            s.parse::<jiff::civil::Date>()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| {
            FilterError::new(
                field,
                format!("{s:?}: expected RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]]"),
            )
        })?;
    let ts = tz
        .to_ambiguous_timestamp(civil)
        .compatible()
        .map_err(|e| FilterError::new(field, e.to_string()))?;
    Ok(Ts::from_jiff(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_patterns() {
        assert_eq!("<>".parse::<AddressPattern>(), Ok(AddressPattern::Null));
        assert_eq!(
            "@Ex.COM".parse::<AddressPattern>(),
            Ok(AddressPattern::Domain("ex.com".into()))
        );
        assert_eq!(
            "<A@b.c>".parse::<AddressPattern>(),
            Ok(AddressPattern::Exact("a@b.c".into()))
        );
        assert!("@".parse::<AddressPattern>().is_err());
        assert!("".parse::<AddressPattern>().is_err());
    }

    #[test]
    fn durations_and_instants() {
        assert_eq!(parse_duration("2h"), Ok(7_200_000_000));
        assert_eq!(parse_duration("7d"), Ok(604_800_000_000));
        assert!(parse_duration("7 parsecs").is_err());
        let utc = TimeZone::UTC;
        assert_eq!(
            parse_instant("2024-03-01", &utc, "since").map(|t| t.to_rfc3339()),
            Ok("2024-03-01T00:00:00Z".into())
        );
        assert_eq!(
            parse_instant("2024-03-01T10:00:00+01:00", &utc, "since").map(|t| t.to_rfc3339()),
            Ok("2024-03-01T09:00:00Z".into())
        );
        let e = parse_instant("yesterdayish", &utc, "until").unwrap_err();
        assert_eq!(e.field, "until");
    }

    #[test]
    fn presets() {
        let now = parse_instant("2024-03-02T10:00:00Z", &TimeZone::UTC, "x").unwrap();
        let (s, u) = TimePreset::Yesterday.range(now, &TimeZone::UTC);
        assert_eq!(s.to_rfc3339(), "2024-03-01T00:00:00Z");
        assert_eq!(
            u.map(|u| u.to_rfc3339()),
            Some("2024-03-02T00:00:00Z".into())
        );
        let (s, _) = TimePreset::Last(3_600_000_000).range(now, &TimeZone::UTC);
        assert_eq!(s.to_rfc3339(), "2024-03-02T09:00:00Z");
    }

    #[test]
    fn normalized_trims_and_brackets() {
        let f = Filter {
            subject: Some("  hi ".into()),
            reason: Some("   ".into()),
            message_id: Some("x@y".into()),
            ..Filter::default()
        }
        .normalized();
        assert_eq!(f.subject.as_deref(), Some("hi"));
        assert_eq!(f.reason, None);
        assert_eq!(f.message_id.as_deref(), Some("<x@y>"));
    }
}
