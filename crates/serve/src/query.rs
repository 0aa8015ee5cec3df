//! A search request from a URL query: the filter criteria (shared with the CLI through
//! [`FilterParams`]), paging, and the caller's time zone.

use crate::api::ApiError;
use jiff::tz::TimeZone;
use mailtrace_model::Ts;
use mailtrace_query::{Filter, FilterParams, Paging};

/// Largest page the API serves.
pub const MAX_LIMIT: u32 = 1000;

/// A parsed search query.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The criteria as given.
    pub params: FilterParams,
    /// Paging.
    pub paging: Paging,
    /// Zone for dates without one and for `today`/`yesterday` (`tz`, default UTC).
    pub tz: TimeZone,
    /// Its IANA name.
    pub tz_name: String,
}

impl SearchRequest {
    /// Parse a query string. `extra` names parameters the caller handles itself (they are
    /// returned); any other unknown parameter is an error naming it.
    ///
    /// # Errors
    /// A malformed query, an unknown parameter, a bad number or zone (400, naming the field).
    pub fn parse(
        raw: Option<&str>,
        extra: &[&str],
    ) -> Result<(SearchRequest, Vec<(String, String)>), ApiError> {
        Self::parse_with(raw, extra, true)
    }

    /// [`SearchRequest::parse`] for answers without pages (exports, statistics): `limit` and
    /// `page` are unknown parameters there, not silently ignored.
    ///
    /// # Errors
    /// As [`SearchRequest::parse`].
    pub fn parse_unpaged(
        raw: Option<&str>,
        extra: &[&str],
    ) -> Result<(SearchRequest, Vec<(String, String)>), ApiError> {
        Self::parse_with(raw, extra, false)
    }

    fn parse_with(
        raw: Option<&str>,
        extra: &[&str],
        paged: bool,
    ) -> Result<(SearchRequest, Vec<(String, String)>), ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ApiError::bad_request("query", format!("malformed query: {e}")))?;
        let mut req = SearchRequest {
            params: FilterParams::default(),
            paging: Paging::default(),
            tz: TimeZone::UTC,
            tz_name: "UTC".into(),
        };
        let mut rest = Vec::new();
        for (k, v) in pairs {
            if req.params.set(&k, &v) {
                continue;
            }
            match k.as_str() {
                "limit" if paged => {
                    req.paging.limit = number(&v, "limit", 1, MAX_LIMIT)?.unwrap_or(50);
                }
                "page" if paged => req.paging.page = number(&v, "page", 1, u32::MAX)?.unwrap_or(1),
                "tz" => {
                    let v = v.trim();
                    if !v.is_empty() {
                        req.tz = TimeZone::get(v).map_err(|_| {
                            ApiError::bad_request("tz", format!("unknown time zone {v:?}"))
                        })?;
                        req.tz_name = v.to_string();
                    }
                }
                other if extra.contains(&other) => rest.push((k, v)),
                other => {
                    return Err(ApiError::bad_request(
                        other,
                        "unknown parameter (see /api/openapi.json)",
                    ))
                }
            }
        }
        Ok((req, rest))
    }

    /// The store filter.
    ///
    /// # Errors
    /// A criterion that does not parse (400, naming it).
    pub fn filter(&self) -> Result<Filter, ApiError> {
        self.params
            .build(&self.tz, Ts::from_jiff(jiff::Timestamp::now()))
            .map_err(|e| ApiError::bad_request(e.field, e.message))
    }

    /// The criteria and zone as a URL query (for links to pages, exports and the API).
    pub fn query_string(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = self.params.pairs();
        if self.tz_name != "UTC" {
            pairs.push(("tz", &self.tz_name));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

fn number(v: &str, field: &'static str, min: u32, max: u32) -> Result<Option<u32>, ApiError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::bad_request(
            field,
            format!("{v:?}: expected a whole number from {min} to {max}"),
        )),
    }
}
