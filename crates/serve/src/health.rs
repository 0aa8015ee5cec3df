//! `GET /metrics` (Prometheus) and `GET /healthz`.

use crate::service::IngestState;
use crate::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// The store's counts are read again after this long, or after a commit of the live ingest.
const STORE_FRESH: Duration = Duration::from_secs(30);

/// `GET /metrics`.
pub async fn metrics(State(state): State<Shared>) -> Response {
    let t = state.telemetry.clone();
    // In this order: no lag then means that every line counted is committed, and committed
    // lines are in the store's counts.
    let counts = t.counts();
    let lag = t.lag();
    let store = match t.cached_store_stats(STORE_FRESH) {
        Some(s) => Some(s),
        None => {
            let commits = t.commits();
            let s = state.pool.run(|s| s.stats()).await.ok();
            if let Some(s) = s {
                t.remember_store_stats(commits, s);
            }
            s
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        t.metrics(counts, lag, store),
    )
        .into_response()
}

/// `GET /healthz`: 200 when the store answers and the live ingest (if any) runs, else 503,
/// with the details as JSON.
pub async fn healthz(State(state): State<Shared>) -> Response {
    let store = state.pool.run(|s| s.next_line_no()).await;
    let ingest = state.telemetry.ingest_state();
    let ok = store.is_ok() && matches!(ingest, IngestState::Off | IngestState::Running);
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "failing" },
        "store": match &store {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        },
        "ingest": ingest,
        "lag_seconds": state.telemetry.lag().as_secs_f64(),
        "live": state.telemetry.summary(),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
