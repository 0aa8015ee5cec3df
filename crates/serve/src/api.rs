//! The JSON API under `/api/v1/` (described by `/api/openapi.json`).
//!
//! Field names are those of the CLI's JSON (`mailtrace_query::output`). Ids are strings.
//! Errors are `{"error": {"message": ..., "field": ...}}` with a 4xx/5xx status; a bad filter
//! value is a 400 that names its field.

use crate::query::SearchRequest;
use crate::Shared;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mailtrace_model::Message;
use mailtrace_query::output::{detail_json, raw_lines, write_csv, MessageJson};
use mailtrace_store::StoreError;
use serde_json::json;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// A 400 naming `field`.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        let field = field.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("invalid {field}: {}", message.into()),
            field: Some(field),
        }
    }

    fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("no {what}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Filter { field, message } => ApiError::bad_request(field, message),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "message": self.message, "field": self.field } });
        (self.status, Json(body)).into_response()
    }
}

/// A message id from the path: a decimal integer (ids are strings in JSON).
pub fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.trim()
        .parse()
        .map_err(|_| ApiError::bad_request("id", format!("{id:?} is not a message id")))
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /api/v1/messages`: a page of matches, newest first, with the total.
pub async fn messages(
    State(state): State<Shared>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (req, _) = SearchRequest::parse(q.as_deref(), &[])?;
    let filter = req.filter()?;
    let paging = req.paging;
    let res = state.pool.run(move |s| s.search(&filter, paging)).await?;
    let pages = res.total.div_ceil(u64::from(paging.limit)).max(1);
    Ok(Json(json!({
        "total": res.total,
        "page": paging.page,
        "limit": paging.limit,
        "pages": pages,
        "messages": res.messages.iter().map(MessageJson::new).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// A message with its related messages, or 404.
pub async fn load(state: &Shared, id: i64) -> Result<(Message, Vec<Message>), ApiError> {
    state
        .pool
        .run(move |s| {
            let Some(m) = s.get(id)? else {
                return Ok(None);
            };
            let related = s.related(id)?;
            Ok(Some((m, related)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("message with this id"))
}

/// `GET /api/v1/messages/{id}`: the message with recipients, attempts, timeline, raw lines and
/// related messages.
pub async fn message(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (m, related) = load(&state, parse_id(&id)?).await?;
    let v = detail_json(&m, &related)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(v).into_response())
}

/// `GET /api/v1/messages/{id}/raw`: the raw log lines, acceptance lines marked.
pub async fn raw(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let (m, _) = load(&state, id).await?;
    Ok(Json(json!({ "id": id.to_string(), "lines": raw_lines(&m) })).into_response())
}

/// `GET /api/v1/facets`: servers and sender domains with their message counts.
pub async fn facets(State(state): State<Shared>) -> Result<Response, ApiError> {
    let f = state.facets().await?;
    let list = |v: &[(String, u64)]| {
        v.iter()
            .map(|(name, n)| json!({ "name": name, "messages": n }))
            .collect::<Vec<_>>()
    };
    Ok(Json(json!({
        "servers": list(&f.servers),
        "sender_domains": list(&f.sender_domains),
    }))
    .into_response())
}

/// `GET /api/v1/stats`: what the store holds.
pub async fn stats(State(state): State<Shared>) -> Result<Response, ApiError> {
    let s = state.pool.run(|s| s.stats()).await?;
    Ok(Json(s).into_response())
}

/// A method other than GET.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "only GET is served")
}

/// Any other `/api/` path.
pub async fn not_found() -> ApiError {
    ApiError::not_found("such API endpoint (see /api/openapi.json)")
}

/// Export formats.
#[derive(Clone, Copy)]
enum Export {
    Csv,
    Json,
}

/// `GET /api/v1/export.csv`: every match, one row per recipient, UTC, formula-safe.
pub async fn export_csv(
    State(state): State<Shared>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    export(state, q, Export::Csv).await
}

/// `GET /api/v1/export.json`: every match as a JSON array.
pub async fn export_json(
    State(state): State<Shared>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    export(state, q, Export::Json).await
}

/// Stream an export: the store is read on a blocking thread in chunks of messages, and each
/// chunk is sent as it is encoded, so memory stays small however many messages match.
async fn export(state: Shared, q: Option<String>, format: Export) -> Result<Response, ApiError> {
    let (req, _) = SearchRequest::parse_unpaged(q.as_deref(), &[])?;
    let filter = req.filter()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, StoreError>>(4);
    let failed = tx.clone();
    let task = state.pool.run(move |s| {
        const CHUNK: usize = 500;
        let mut chunk: Vec<Message> = Vec::with_capacity(CHUNK);
        let mut first = true;
        let mut send = |chunk: &mut Vec<Message>, last: bool| -> std::io::Result<()> {
            let mut buf = Vec::new();
            match format {
                Export::Csv => {
                    write_csv(&mut buf, chunk.iter())?;
                    if !first {
                        // Only the first chunk keeps the header row.
                        let end = buf.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
                        buf.drain(..end);
                    }
                }
                Export::Json => {
                    for m in chunk.iter() {
                        buf.extend_from_slice(if first { b"[\n" } else { b",\n" });
                        first = false;
                        serde_json::to_writer(&mut buf, &MessageJson::new(m))?;
                    }
                    if last {
                        buf.extend_from_slice(if first { b"[]\n" } else { b"\n]\n" });
                    }
                }
            }
            first = false;
            chunk.clear();
            tx.blocking_send(Ok(Bytes::from(buf)))
                .map_err(|_| std::io::Error::other("client went away"))
        };
        s.export(&filter, &mut |m| {
            chunk.push(m);
            if chunk.len() >= CHUNK {
                send(&mut chunk, false)?;
            }
            Ok(())
        })?;
        send(&mut chunk, true)?;
        Ok(())
    });
    // The export runs while the response streams; an error after the first bytes can only cut
    // the body short (the client sees an incomplete transfer, never a silently short file).
    tokio::spawn(async move {
        if let Err(e) = task.await {
            let _ = failed.send(Err(e)).await;
        }
    });
    // The status waits for the first chunk: a filter the store refuses, or a store that
    // cannot be read, is still an error answer (after it, only a cut transfer can tell).
    let first = match rx.recv().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(e.into()),
        None => Bytes::new(),
    };
    let (ctype, name) = match format {
        Export::Csv => ("text/csv; charset=utf-8", "mailtrace-export.csv"),
        Export::Json => ("application/json", "mailtrace-export.json"),
    };
    use tokio_stream::StreamExt as _;
    let rest = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
    let body = Body::from_stream(tokio_stream::once(Ok(first)).chain(rest));
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}
