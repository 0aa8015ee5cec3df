//! Search criteria as text, the way front ends receive them (command-line flags, URL query
//! parameters, form fields), and their conversion into a [`Filter`].
//!
//! Every front end fills a [`FilterParams`] and calls [`FilterParams::build`], so the CLI, the
//! JSON API and the dashboard accept the same values and report the same errors, each naming
//! its field.

use crate::filter::{
    parse_duration, parse_instant, AddressPattern, Filter, FilterError, TimePreset,
};
use jiff::tz::TimeZone;
use mailtrace_model::{Status, Ts};
use serde::Serialize;

/// Search criteria as given. Empty values count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilterParams {
    /// Sender: address, `@domain` or `<>`.
    pub from: Option<String>,
    /// Recipient: address or `@domain`.
    pub to: Option<String>,
    /// Subject contains.
    pub subject: Option<String>,
    /// Statuses, comma-separated.
    pub status: Option<String>,
    /// Queue id.
    pub queue_id: Option<String>,
    /// Message-ID.
    pub message_id: Option<String>,
    /// Client host name or IP.
    pub client: Option<String>,
    /// Relay contains.
    pub relay: Option<String>,
    /// Server name.
    pub server: Option<String>,
    /// Rejection reason or response contains.
    pub reason: Option<String>,
    /// Received at or after: RFC 3339, or a date/time in the caller's zone.
    pub since: Option<String>,
    /// Received before.
    pub until: Option<String>,
    /// A relative range: `today`, `yesterday`, or a duration (`30m`, `2h`, `7d`) back from now;
    /// `custom` (or nothing) means `since`/`until`.
    pub when: Option<String>,
}

impl FilterParams {
    /// The names [`FilterParams::set`] accepts.
    pub const NAMES: [&'static str; 13] = [
        "from",
        "to",
        "subject",
        "status",
        "queue_id",
        "message_id",
        "client",
        "relay",
        "server",
        "reason",
        "since",
        "until",
        "when",
    ];

    /// Set the criterion `name` (a query parameter or form field) to `value`. A repeated
    /// `status` adds to the list. Returns false for a name that is not a criterion.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        let slot = match name {
            "from" => &mut self.from,
            "to" => &mut self.to,
            "subject" => &mut self.subject,
            "status" => {
                let v = value.trim();
                if !v.is_empty() {
                    self.status = Some(match self.status.take() {
                        Some(s) => format!("{s},{v}"),
                        None => v.to_string(),
                    });
                }
                return true;
            }
            "queue_id" => &mut self.queue_id,
            "message_id" => &mut self.message_id,
            "client" => &mut self.client,
            "relay" => &mut self.relay,
            "server" => &mut self.server,
            "reason" => &mut self.reason,
            "since" => &mut self.since,
            "until" => &mut self.until,
            "when" => &mut self.when,
            _ => return false,
        };
        *slot = Some(value.to_string());
        true
    }

    /// The criteria as `(name, value)` pairs, empty ones left out (to rebuild a URL query).
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let values = [
            &self.from,
            &self.to,
            &self.subject,
            &self.status,
            &self.queue_id,
            &self.message_id,
            &self.client,
            &self.relay,
            &self.server,
            &self.reason,
            &self.since,
            &self.until,
            &self.when,
        ];
        Self::NAMES
            .iter()
            .zip(values)
            .filter_map(|(n, v)| {
                v.as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| (*n, v))
            })
            .collect()
    }

    /// The store filter. Dates without a zone are read in `tz`; relative ranges count back
    /// from `now`.
    ///
    /// # Errors
    /// A value that does not parse, naming its field.
    pub fn build(&self, tz: &TimeZone, now: Ts) -> Result<Filter, FilterError> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let addr = |v: &Option<String>, field: &'static str| {
            given(v)
                .map(|s| {
                    s.parse::<AddressPattern>().map_err(|e| FilterError {
                        field,
                        message: e.message,
                    })
                })
                .transpose()
        };
        let mut status = Vec::new();
        for s in given(&self.status).iter().flat_map(|s| s.split(',')) {
            let s = s.trim();
            if s.is_empty() {
                continue;
            }
            status.push(s.parse::<Status>().map_err(|e| FilterError {
                field: "status",
                message: e.to_string(),
            })?);
        }
        let instant =
            |v: &Option<String>, field| given(v).map(|s| parse_instant(&s, tz, field)).transpose();
        let mut f = Filter {
            from: addr(&self.from, "from")?,
            to: addr(&self.to, "to")?,
            subject: given(&self.subject),
            status,
            queue_id: given(&self.queue_id),
            message_id: given(&self.message_id),
            client: given(&self.client),
            relay: given(&self.relay),
            server: given(&self.server),
            reason: given(&self.reason),
            since: instant(&self.since, "since")?,
            until: instant(&self.until, "until")?,
        };
        let preset = match given(&self.when).as_deref() {
            None | Some("custom") => None,
            Some("today") => Some(TimePreset::Today),
            Some("yesterday") => Some(TimePreset::Yesterday),
            Some(d) => Some(TimePreset::Last(parse_duration(d).map_err(|e| {
                FilterError {
                    field: "when",
                    message: format!(
                        "{}; or today, yesterday, custom",
                        e.message.trim_end_matches('.')
                    ),
                }
            })?)),
        };
        if let Some(p) = preset {
            // A preset is the whole time range: dates left in a form do not narrow it.
            let (s, u) = p.range(now, tz);
            f.since = Some(s);
            f.until = u;
        }
        Ok(f.normalized())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Ts {
        parse_instant("2024-03-02T10:00:00Z", &TimeZone::UTC, "x").unwrap()
    }

    #[test]
    fn builds_every_criterion() {
        let mut p = FilterParams::default();
        for (k, v) in [
            ("from", "<>"),
            ("to", "@Example.COM"),
            ("subject", " Invoice "),
            ("status", "bounced"),
            ("status", "deferred,"),
            ("queue_id", "ABC123"),
            ("message_id", "x@y"),
            ("client", "mx.example.net"),
            ("relay", "gmail"),
            ("server", "mx1"),
            ("reason", "spam"),
            ("since", "2024-03-01"),
            ("until", "2024-03-02T00:00:00Z"),
        ] {
            assert!(p.set(k, v), "{k}");
        }
        assert!(!p.set("limit", "50"));
        let f = p.build(&TimeZone::UTC, now()).unwrap();
        assert_eq!(f.from, Some(AddressPattern::Null));
        assert_eq!(f.to, Some(AddressPattern::Domain("example.com".into())));
        assert_eq!(f.subject.as_deref(), Some("Invoice"));
        assert_eq!(f.status, vec![Status::Bounced, Status::Deferred]);
        assert_eq!(f.message_id.as_deref(), Some("<x@y>"));
        assert_eq!(f.since.unwrap().to_rfc3339(), "2024-03-01T00:00:00Z");
        assert_eq!(f.until.unwrap().to_rfc3339(), "2024-03-02T00:00:00Z");
        assert_eq!(p.pairs().len(), 12, "every criterion but when");
    }

    #[test]
    fn empty_values_are_not_given() {
        let mut p = FilterParams::default();
        for n in FilterParams::NAMES {
            p.set(n, "  ");
        }
        assert_eq!(p.build(&TimeZone::UTC, now()).unwrap(), Filter::default());
        assert!(p.pairs().is_empty());
    }

    #[test]
    fn relative_ranges() {
        let p = |w: &str| FilterParams {
            when: Some(w.into()),
            ..FilterParams::default()
        };
        let f = p("7d").build(&TimeZone::UTC, now()).unwrap();
        assert_eq!(f.since.unwrap().to_rfc3339(), "2024-02-24T10:00:00Z");
        let f = p("yesterday").build(&TimeZone::UTC, now()).unwrap();
        assert_eq!(f.until.unwrap().to_rfc3339(), "2024-03-02T00:00:00Z");
        let f = p("custom").build(&TimeZone::UTC, now()).unwrap();
        assert_eq!(f.since, None);
        let mut stale = p("7d");
        stale.until = Some("2020-01-01".into());
        let f = stale.build(&TimeZone::UTC, now()).unwrap();
        assert_eq!(f.until, None, "a preset ignores dates left in the form");
    }

    #[test]
    fn errors_name_their_field() {
        for (k, v) in [
            ("from", "@"),
            ("to", "@"),
            ("status", "lost"),
            ("since", "soon"),
            ("until", "later"),
            ("when", "fortnight"),
        ] {
            let mut p = FilterParams::default();
            p.set(k, v);
            let e = p.build(&TimeZone::UTC, now()).unwrap_err();
            assert_eq!(e.field, k, "{e}");
        }
    }
}
