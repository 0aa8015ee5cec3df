//! Statistics: the page `/stats` (totals and server-drawn SVG charts) and `GET /api/v1/report`.

use crate::api::ApiError;
use crate::charts::{bars, columns, Series};
use crate::query::SearchRequest;
use crate::Shared;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use mailtrace_report::{PeriodRow, Report, DELAY_BUCKETS};

/// Rows per ranking.
const TOP: usize = 15;

/// The request, with 30 days as the default period.
fn request(q: Option<&str>) -> Result<(SearchRequest, usize), ApiError> {
    let (mut req, extra) = SearchRequest::parse(q, &["top"])?;
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

/// A chart on the page.
pub struct ChartView {
    id: &'static str,
    title: String,
    svg: String,
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
    charts: Vec<ChartView>,
    search_url: String,
}

fn outcome_series(rows: &[PeriodRow]) -> Vec<Series<'static>> {
    let col = |f: fn(&PeriodRow) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    vec![
        Series {
            name: "delivered",
            class: "s-delivered",
            values: col(|r| r.traffic.delivered),
        },
        Series {
            name: "deferred",
            class: "s-deferred",
            values: col(|r| r.traffic.deferred),
        },
        Series {
            name: "bounced",
            class: "s-bounced",
            values: col(|r| r.traffic.bounced),
        },
        Series {
            name: "rejected",
            class: "s-rejected",
            values: col(|r| r.traffic.rejected),
        },
    ]
}

fn period_chart(
    id: &'static str,
    title: &str,
    rows: &[PeriodRow],
    x_title: &str,
    every: usize,
) -> ChartView {
    let labels: Vec<String> = rows.iter().map(|r| r.period.clone()).collect();
    ChartView {
        id,
        title: title.to_string(),
        svg: columns(
            id,
            title,
            &labels,
            &outcome_series(rows),
            x_title,
            "messages (recipients)",
            every,
        ),
    }
}

fn charts(r: &Report) -> Vec<ChartView> {
    let mut v = vec![
        period_chart("chart-months", "Monthly history", &r.per_month, "month", 1),
        period_chart(
            "chart-days",
            "Per day",
            &r.per_day,
            "day",
            r.per_day.len().div_ceil(12),
        ),
        period_chart(
            "chart-days-of-month",
            "Days of month",
            &r.per_day_of_month,
            "day of month",
            2,
        ),
        period_chart(
            "chart-weekdays",
            "Days of week",
            &r.per_weekday,
            "day of week",
            1,
        ),
        period_chart(
            "chart-hours",
            &format!("Hours (in {})", r.time_zone),
            &r.per_hour,
            "hour of day",
            2,
        ),
    ];
    let ranking =
        |id: &'static str, title: &str, rows: Vec<(String, u64)>, unit: &str, class: &str| {
            ChartView {
                id,
                title: title.to_string(),
                svg: bars(id, title, &rows, unit, class),
            }
        };
    v.push(ranking(
        "chart-destinations",
        "Top destination domains",
        r.destination_domains
            .iter()
            .map(|d| (d.domain.clone(), d.messages))
            .collect(),
        "deliveries",
        "s-delivered",
    ));
    v.push(ranking(
        "chart-senders",
        "Top senders",
        r.top_senders
            .iter()
            .map(|a| (a.address.clone(), a.messages))
            .collect(),
        "messages received",
        "s-received",
    ));
    v.push(ranking(
        "chart-codes",
        "SMTP reply codes of failures",
        r.smtp_codes
            .iter()
            .map(|c| (c.value.clone(), c.count))
            .collect(),
        "deferrals, bounces and refusals",
        "s-deferred",
    ));
    v.push(ranking(
        "chart-rejects",
        "Reject reasons",
        r.reject_classes
            .iter()
            .map(|c| (c.label.to_string(), c.count))
            .collect(),
        "refusals",
        "s-rejected",
    ));
    let labels: Vec<String> = r
        .delays
        .histogram
        .iter()
        .enumerate()
        .map(|(i, (b, _))| match b {
            Some(b) => format!("≤{}", human_secs(*b)),
            None => format!(">{}", human_secs(DELAY_BUCKETS[i - 1])),
        })
        .collect();
    v.push(ChartView {
        id: "chart-delays",
        title: "Delivery delay".into(),
        svg: columns(
            "chart-delays",
            "Delivery delay (receipt to delivery)",
            &labels,
            &[Series {
                name: "deliveries",
                class: "s-delivered",
                values: r.delays.histogram.iter().map(|(_, n)| *n).collect(),
            }],
            "delay",
            "deliveries",
            1,
        ),
    });
    v
}

fn human_secs(s: f64) -> String {
    match s as u64 {
        n if n >= 86_400 => format!("{}d", n / 86_400),
        n if n >= 3600 => format!("{}h", n / 3600),
        n if n >= 60 => format!("{}m", n / 60),
        n => format!("{n}s"),
    }
}

/// `GET /stats`.
pub async fn page(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let facets = state.facets().await.ok();
    let mut page = StatsPage {
        when: "30d".into(),
        since: String::new(),
        until: String::new(),
        server: String::new(),
        from: String::new(),
        tz: "UTC".into(),
        servers: facets
            .as_ref()
            .map(|f| f.servers.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default(),
        domains: facets
            .as_ref()
            .map(|f| f.sender_domains.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default(),
        error: None,
        report: None,
        charts: Vec::new(),
        search_url: "/".into(),
    };
    let fail = |mut page: StatsPage, e: ApiError| {
        page.error = Some(e.message);
        render(page, e.status)
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
            page.charts = charts(&r);
            page.report = Some(r);
            render(page, StatusCode::OK)
        }
        Err(e) => fail(page, e),
    }
}

fn render(page: StatsPage, status: StatusCode) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}
