//! Statistics: the page `/stats` (totals and server-drawn SVG charts) and `GET /api/v1/report`.

use crate::api::ApiError;
use crate::pages::html;
use crate::query::SearchRequest;
use crate::Shared;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mailtrace_report::charts::{report_charts, Chart};
use mailtrace_report::Report;

/// Rows per ranking.
const TOP: usize = 15;

/// The request, with 30 days as the default period.
fn request(q: Option<&str>) -> Result<(SearchRequest, usize), ApiError> {
    let (mut req, extra) = SearchRequest::parse_unpaged(q, &["top"])?;
    if req.params.when.is_none() && req.params.since.is_none() && req.params.until.is_none() {
        req.params.when = Some("30d".into());
    }
    let mut top = TOP;
    for (k, v) in extra {
        if k == "top" && !v.trim().is_empty() {
            top = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::bad_request("top", "expected a number from 1 to 1000"))?;
        }
    }
    Ok((req, top))
}

async fn report(state: &Shared, req: &SearchRequest, top: usize) -> Result<Report, ApiError> {
    let filter = req.filter()?;
    let tz = req.tz.clone();
    Ok(state.pool.run(move |s| s.report(&filter, &tz, top)).await?)
}

/// `GET /api/v1/report`: the statistics of the matching messages (default: the last 30 days).
pub async fn api(State(state): State<Shared>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let (req, top) = request(q.as_deref())?;
    Ok(Json(report(&state, &req, top).await?).into_response())
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    when: String,
    since: String,
    until: String,
    server: String,
    from: String,
    tz: String,
    servers: Vec<String>,
    domains: Vec<String>,
    error: Option<String>,
    report: Option<Report>,
    charts: Vec<Chart>,
    search_url: String,
}

/// `GET /stats`.
pub async fn page(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let (servers, domains) = state.pick_lists().await;
    let mut page = StatsPage {
        when: "30d".into(),
        since: String::new(),
        until: String::new(),
        server: String::new(),
        from: String::new(),
        tz: "UTC".into(),
        servers,
        domains,
        error: None,
        report: None,
        charts: Vec::new(),
        search_url: "/".into(),
    };
    let fail = |mut page: StatsPage, e: ApiError| {
        page.error = Some(e.message);
        html(page, e.status)
    };
    let (req, top) = match request(q.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(page, e),
    };
    let p = &req.params;
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    page.when = v(&p.when);
    page.since = v(&p.since);
    page.until = v(&p.until);
    page.server = v(&p.server);
    page.from = v(&p.from);
    page.tz = req.tz_name.clone();
    if page.when.is_empty() {
        page.when = "custom".into();
    }
    page.search_url = format!("/?{}", req.query_string());
    match report(&state, &req, top).await {
        Ok(r) => {
            page.charts = report_charts(&r);
            page.report = Some(r);
            html(page, StatusCode::OK)
        }
        Err(e) => fail(page, e),
    }
}
