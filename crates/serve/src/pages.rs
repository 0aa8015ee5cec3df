//! The HTML pages: the search page (`/`), the message page (`/message/{id}`), the live page
//! (`/live`) and the raw log (`/log`).
//!
//! Rendered on the server by askama (every value from the logs is HTML-escaped); the page
//! script (`/static/app.js`) only adds comforts: local times, remembered columns, the custom
//! date fields. Everything works without it, times then in UTC.

use crate::api::{load, parse_id, ApiError};
use crate::query::SearchRequest;
use crate::Shared;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use jiff::tz::TimeZone;
use mailtrace_model::{Message, Status, Ts};
use mailtrace_query::output::{raw_lines, Column};
use mailtrace_query::FilterParams;

/// Page sizes offered.
const PAGE_SIZES: [u32; 6] = [20, 50, 100, 150, 200, 300];

/// A column of the results table.
pub struct ColumnView {
    name: &'static str,
    label: &'static str,
    shown: bool,
}

/// A cell of the results table.
pub struct CellView {
    name: &'static str,
    text: String,
}

/// A row of the results table.
pub struct RowView {
    id: String,
    at: String,
    at_utc: String,
    status: &'static str,
    cells: Vec<CellView>,
}

/// The search form's values, as typed.
#[derive(Default)]
pub struct FormView {
    from: String,
    to: String,
    subject: String,
    status: String,
    queue_id: String,
    message_id: String,
    client: String,
    relay: String,
    server: String,
    reason: String,
    since: String,
    until: String,
    when: String,
    limit: u32,
    tz: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    form: FormView,
    error: Option<String>,
    error_field: String,
    columns: Vec<ColumnView>,
    rows: Vec<RowView>,
    searched: bool,
    total: u64,
    first: u64,
    last: u64,
    page: u32,
    pages: u64,
    prev_url: Option<String>,
    next_url: Option<String>,
    first_url: String,
    csv_url: String,
    json_url: String,
    api_url: String,
    servers: Vec<String>,
    domains: Vec<String>,
    page_sizes: [u32; 6],
    statuses: Vec<&'static str>,
}

fn label(name: &str) -> &'static str {
    match name {
        "time" => "Time",
        "server" => "Server",
        "queue_id" => "Queue id",
        "message_id" => "Message-ID",
        "from" => "From",
        "to" => "To",
        "subject" => "Subject",
        "size" => "Size",
        "status" => "Status",
        "delay" => "Delay (s)",
        "relay" => "Relay",
        "dsn" => "DSN",
        "smtp_code" => "SMTP code",
        "response" => "Response",
        "client" => "Client",
        _ => "",
    }
}

pub(crate) fn html(page: impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}

fn utc(t: Ts) -> String {
    t.to_jiff().strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn form_of(p: &FilterParams, req: &SearchRequest) -> FormView {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    FormView {
        from: v(&p.from),
        to: v(&p.to),
        subject: v(&p.subject),
        status: v(&p.status),
        queue_id: v(&p.queue_id),
        message_id: v(&p.message_id),
        client: v(&p.client),
        relay: v(&p.relay),
        server: v(&p.server),
        reason: v(&p.reason),
        since: v(&p.since),
        until: v(&p.until),
        when: v(&p.when),
        limit: req.paging.limit,
        tz: req.tz_name.clone(),
    }
}

/// `GET /`: the search form and, when criteria are given, one page of results.
pub async fn search(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let (servers, domains) = state.pick_lists().await;
    let mut page = SearchPage {
        form: FormView {
            limit: 50,
            tz: "UTC".into(),
            ..FormView::default()
        },
        error: None,
        error_field: String::new(),
        columns: Column::ALL
            .iter()
            .map(|(c, name)| ColumnView {
                name,
                label: label(name),
                shown: Column::DEFAULT.contains(c),
            })
            .collect(),
        rows: Vec::new(),
        searched: false,
        total: 0,
        first: 0,
        last: 0,
        page: 1,
        pages: 1,
        prev_url: None,
        next_url: None,
        first_url: "/".into(),
        csv_url: "/api/v1/export.csv".into(),
        json_url: "/api/v1/export.json".into(),
        api_url: "/api/v1/messages".into(),
        servers,
        domains,
        page_sizes: PAGE_SIZES,
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
    };
    let fail = |mut page: SearchPage, e: ApiError| {
        page.error_field = e.field.clone().unwrap_or_default();
        if matches!(page.error_field.as_str(), "since" | "until") {
            // Show the bad value in a text field, enabled.
            page.form.when = "custom".into();
        }
        page.error = Some(e.message);
        html(page, e.status)
    };
    let (req, _) = match SearchRequest::parse(q.as_deref(), &["search"]) {
        Ok(r) => r,
        Err(e) => return fail(page, e),
    };
    page.form = form_of(&req.params, &req);
    let dated =
        page.form.when.is_empty() && (req.params.since.is_some() || req.params.until.is_some());
    if dated {
        // Dates without a preset are a custom range (the form shows them as such).
        page.form.when = "custom".into();
    }
    let filter = match req.filter() {
        Ok(f) => f,
        Err(e) => return fail(page, e),
    };
    if page.form.when == "custom" {
        // Whatever form the dates had (RFC 3339, a date alone), the date fields show them in
        // the request's zone, which the form sends back with them.
        let local = |t: Option<Ts>| {
            t.map(|t| {
                t.to_jiff()
                    .to_zoned(req.tz.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default()
        };
        page.form.since = local(filter.since);
        page.form.until = local(filter.until);
    }
    let paging = req.paging;
    let res = match state.pool.run(move |s| s.search(&filter, paging)).await {
        Ok(r) => r,
        Err(e) => return fail(page, e.into()),
    };
    let query = req.query_string();
    let with = |extra: &str| {
        if query.is_empty() {
            extra.trim_start_matches('&').to_string()
        } else {
            format!("{query}{extra}")
        }
    };
    page.searched = true;
    page.total = res.total;
    page.page = paging.page;
    page.pages = res.total.div_ceil(u64::from(paging.limit)).max(1);
    page.first = paging.offset() + u64::from(!res.messages.is_empty());
    page.last = paging.offset() + res.messages.len() as u64;
    let limit = paging.limit;
    page.first_url = format!("/?{}", with(&format!("&limit={limit}")));
    if paging.page > 1 && u64::from(paging.page) <= page.pages {
        page.prev_url = Some(format!(
            "/?{}",
            with(&format!("&limit={limit}&page={}", paging.page - 1))
        ));
    }
    if u64::from(paging.page) < page.pages {
        page.next_url = Some(format!(
            "/?{}",
            with(&format!("&limit={limit}&page={}", paging.page + 1))
        ));
    }
    let q = with("");
    let sep = if q.is_empty() { "" } else { "?" };
    page.csv_url = format!("/api/v1/export.csv{sep}{q}");
    page.json_url = format!("/api/v1/export.json{sep}{q}");
    page.api_url = format!(
        "/api/v1/messages?{}",
        with(&format!("&limit={limit}&page={}", paging.page))
    );
    page.rows = res.messages.iter().map(row).collect();
    html(page, StatusCode::OK)
}

fn row(m: &Message) -> RowView {
    RowView {
        id: m.id.to_string(),
        at: m.received_at.to_rfc3339(),
        at_utc: utc(m.received_at),
        status: m.status.as_str(),
        cells: Column::ALL
            .iter()
            .map(|(c, name)| CellView {
                name,
                text: c.cell(m, &TimeZone::UTC),
            })
            .collect(),
    }
}

/// A recipient on the message page.
pub struct RecipientView {
    address: String,
    orig_to: String,
    status: &'static str,
    dsn: String,
    smtp_code: String,
    response: String,
    relay: String,
    delay: String,
    attempts: Vec<AttemptView>,
}

/// One delivery attempt.
pub struct AttemptView {
    at: String,
    at_utc: String,
    status: &'static str,
    dsn: String,
    response: String,
    relay: String,
}

/// A timeline entry.
pub struct EventView {
    at: String,
    at_utc: String,
    kind: String,
    text: String,
}

/// A raw log line.
pub struct LineView {
    no: u64,
    text: String,
    accepted: &'static str,
}

/// A linked message.
pub struct LinkView {
    id: String,
    how: &'static str,
    queue_id: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    id: String,
    server: String,
    mta: String,
    queue_id: String,
    message_id: String,
    from: String,
    subject: String,
    size: String,
    client: String,
    sasl: String,
    tls: String,
    received: String,
    received_utc: String,
    status: &'static str,
    open: bool,
    reason: String,
    recipients: Vec<RecipientView>,
    events: Vec<EventView>,
    lines: Vec<LineView>,
    links: Vec<LinkView>,
}

/// `GET /message/{id}`.
pub async fn message(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(e.status, &e.message),
    };
    let (m, related) = match load(&state, id).await {
        Ok(x) => x,
        Err(e) => return error_page(e.status, &e.message),
    };
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let opt = |o: Option<String>| o.unwrap_or_default();
    let mut links: Vec<LinkView> = Vec::new();
    if let Some(p) = m.parent_id {
        links.push(LinkView {
            id: p.to_string(),
            how: "before the content filter",
            queue_id: String::new(),
            status: "",
        });
    }
    if let Some(p) = m.bounce_of {
        links.push(LinkView {
            id: p.to_string(),
            how: "the message this notification reports on",
            queue_id: String::new(),
            status: "",
        });
    }
    for r in &related {
        links.push(LinkView {
            id: r.id.to_string(),
            how: if r.parent_id == Some(m.id) {
                "after the content filter"
            } else {
                "delivery status notification"
            },
            queue_id: s(&r.queue_id),
            status: r.status.as_str(),
        });
    }
    let page = MessagePage {
        id: m.id.to_string(),
        server: m.server.clone(),
        mta: m.mta.clone(),
        queue_id: s(&m.queue_id),
        message_id: s(&m.message_id),
        from: match m.sender.as_deref() {
            Some("") => "<>".into(),
            other => other.unwrap_or_default().to_string(),
        },
        subject: s(&m.subject),
        size: opt(m.size.map(|v| format!("{v} bytes"))),
        client: match (&m.client_host, &m.client_ip) {
            (Some(h), Some(ip)) => format!("{h}[{ip}]"),
            (Some(h), None) => h.clone(),
            _ => String::new(),
        },
        sasl: opt(m
            .sasl_username
            .as_ref()
            .map(|u| format!("{u} ({})", m.sasl_method.as_deref().unwrap_or("?")))),
        tls: s(&m.tls),
        received: m.received_at.to_rfc3339(),
        received_utc: utc(m.received_at),
        status: m.status.as_str(),
        open: m.open,
        reason: s(&m.reason),
        recipients: m
            .recipients
            .iter()
            .map(|r| RecipientView {
                address: r.address.clone(),
                orig_to: s(&r.orig_to),
                status: r.status.as_str(),
                dsn: s(&r.dsn),
                smtp_code: opt(r.smtp_code.map(|c| c.to_string())),
                response: s(&r.response),
                relay: s(&r.relay),
                delay: opt(r.delay_s.map(|d| d.to_string())),
                attempts: r
                    .attempts
                    .iter()
                    .map(|a| AttemptView {
                        at: a.at.to_rfc3339(),
                        at_utc: utc(a.at),
                        status: a.status.as_str(),
                        dsn: s(&a.dsn),
                        response: s(&a.response),
                        relay: s(&a.relay),
                    })
                    .collect(),
            })
            .collect(),
        events: m
            .events
            .iter()
            .map(|e| EventView {
                at: e.at.to_rfc3339(),
                at_utc: utc(e.at),
                kind: e.kind.to_string(),
                text: e.text.clone(),
            })
            .collect(),
        lines: raw_lines(&m)
            .into_iter()
            .map(|l| LineView {
                no: l.no,
                text: l.text.to_string(),
                accepted: l.accepted.unwrap_or(""),
            })
            .collect(),
        links,
    };
    html(page, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
}

fn error_page(status: StatusCode, message: &str) -> Response {
    html(
        ErrorPage {
            status: status.as_u16(),
            message: message.to_string(),
        },
        status,
    )
}

/// Any other path.
pub async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "no such page")
}

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage {
    rows: Vec<RowView>,
    total: u64,
    /// Whether any criterion narrows the list.
    filtered: bool,
    /// The server shown (empty: all).
    server: String,
    /// The servers to pick from (the one shown among them).
    servers: Vec<String>,
    /// The other criteria and the zone, kept when another server is picked.
    keep: Vec<(&'static str, String)>,
    /// The API request the page script polls (the same criteria, the newest [`LIVE_ROWS`]).
    poll_url: String,
    /// Today's and the last 7 days' lists, with the same server.
    today_url: String,
    week_url: String,
}

/// Messages on the live page.
pub const LIVE_ROWS: u32 = 100;

/// `GET /live?server=NAME&<criteria>`: the latest messages (of one server, or matching the
/// criteria of the search page), kept current by the page script (it polls the API with the
/// same criteria and updates the table in place).
pub async fn live(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    // The criteria of the search page and the API, parsed the same way; the page size is fixed.
    let bad = |e: ApiError| match &e.field {
        Some(f) => error_page(e.status, &format!("invalid {f}: {}", e.message)),
        None => error_page(e.status, &e.message),
    };
    let req = match SearchRequest::parse_unpaged(q.as_deref(), &[]) {
        Ok((req, _)) => req,
        Err(e) => return bad(e),
    };
    let filter = match req.filter() {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let paging = mailtrace_query::Paging {
        limit: LIVE_ROWS,
        page: 1,
    };
    let res = match state.pool.run(move |s| s.search(&filter, paging)).await {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let (mut servers, _) = state.pick_lists().await;
    let server = req
        .params
        .server
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    if !server.is_empty() && !servers.contains(&server) {
        // Not (yet) among the known servers: still shown as the one picked.
        servers.insert(0, server.clone());
    }
    let pairs = req.params.pairs();
    let mut keep: Vec<(&'static str, String)> = pairs
        .iter()
        .filter(|(k, _)| *k != "server")
        .map(|(k, v)| (*k, (*v).to_string()))
        .collect();
    if req.tz_name != "UTC" {
        keep.push(("tz", req.tz_name.clone()));
    }
    // The lists of today and of the last 7 days, with the same criteria but the time range.
    let list = |when: &str| {
        let mut q: Vec<(&str, &str)> = vec![("when", when)];
        q.extend(
            pairs
                .iter()
                .filter(|(k, _)| !matches!(*k, "when" | "since" | "until"))
                .copied(),
        );
        if req.tz_name != "UTC" {
            q.push(("tz", &req.tz_name));
        }
        format!("/?{}", serde_urlencoded::to_string(q).unwrap_or_default())
    };
    let mut poll_url = format!("/api/v1/messages?limit={LIVE_ROWS}");
    let query = req.query_string();
    if !query.is_empty() {
        poll_url.push('&');
        poll_url.push_str(&query);
    }
    html(
        LivePage {
            rows: res.messages.iter().map(row).collect(),
            total: res.total,
            filtered: !pairs.is_empty(),
            today_url: list("today"),
            week_url: list("7d"),
            server,
            servers,
            keep,
            poll_url,
        },
        StatusCode::OK,
    )
}

/// Lines per page of the raw log.
const LOG_LINES: u32 = 500;

/// One line of the raw log page.
pub struct LogLineView {
    no: u64,
    at: String,
    at_utc: String,
    text: String,
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    day: String,
    tz: String,
    page: u32,
    lines: Vec<LogLineView>,
    prev_url: Option<String>,
    next_url: Option<String>,
    prev_day: String,
    next_day: String,
}

/// `GET /log?day=YYYY-MM-DD&page=N&tz=ZONE`: the raw log of one day (in the zone), in the
/// order it was read, 500 lines a page.
pub async fn log(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let pairs: Vec<(String, String)> = match serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
    {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &format!("malformed query: {e}")),
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
    };
    let tz_name = get("tz")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "UTC".into());
    let Ok(tz) = TimeZone::get(&tz_name) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("invalid tz: unknown time zone {tz_name:?}"),
        );
    };
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let day = match get("day").filter(|d| !d.is_empty()) {
        None => today,
        Some(d) => match d.parse::<jiff::civil::Date>() {
            Ok(d) => d,
            Err(_) => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid day: {d:?}, expected YYYY-MM-DD"),
                )
            }
        },
    };
    let page = match get("page")
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>())
    {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid page: expected a whole number from 1",
            )
        }
    };
    let start = |d: jiff::civil::Date| {
        tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .map(Ts::from_jiff)
    };
    let (Ok(since), Some(Ok(until))) = (start(day), day.tomorrow().ok().map(start)) else {
        return error_page(StatusCode::BAD_REQUEST, "invalid day");
    };
    let lines = state
        .pool
        .run(move |s| {
            use mailtrace_query::Paging;
            let lines = s.raw_lines_between(
                since,
                until,
                Paging {
                    limit: LOG_LINES,
                    page,
                },
            )?;
            // A line after this page?
            let after = Paging {
                limit: 1,
                page: page.saturating_mul(LOG_LINES).saturating_add(1),
            };
            let more = !s.raw_lines_between(since, until, after)?.is_empty();
            Ok((lines, more))
        })
        .await;
    let (lines, more) = match lines {
        Ok(l) => l,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let url = |d: jiff::civil::Date, p: u32| {
        format!(
            "/log?{}",
            serde_urlencoded::to_string([
                ("day", d.to_string()),
                ("page", p.to_string()),
                ("tz", tz_name.clone())
            ])
            .unwrap_or_default()
        )
    };
    html(
        LogPage {
            day: day.to_string(),
            tz: tz_name.clone(),
            page,
            prev_url: (page > 1).then(|| url(day, page - 1)),
            next_url: more.then(|| url(day, page + 1)),
            prev_day: day.yesterday().map(|d| url(d, 1)).unwrap_or_default(),
            next_day: day.tomorrow().map(|d| url(d, 1)).unwrap_or_default(),
            lines: lines
                .into_iter()
                .map(|l| LogLineView {
                    no: l.no,
                    at: l.at.to_rfc3339(),
                    at_utc: utc(l.at),
                    text: l.text,
                })
                .collect(),
        },
        StatusCode::OK,
    )
}
