//! The web dashboard and the JSON API, served from one process over a store.
//!
//! Stage: serve. [`router`] builds the whole application: the JSON API under `/api/v1/`
//! ([`api`]), its OpenAPI document at `/api/openapi.json`, the HTML pages ([`pages`]) and their
//! embedded assets. Every handler reads the store through a small [`pool::Pool`] of store
//! connections on blocking threads. [`run`] binds and serves until SIGINT/SIGTERM, with the
//! live ingest and retention of [`service`] running beside it; `/metrics` and `/healthz` show
//! how they are doing.
//!
//! Everything that comes from logs is attacker-controlled: pages are rendered by askama, which
//! escapes HTML; the page script only ever sets `textContent`; CSV cells are defused.
//! A server bound beyond loopback refuses to start without [`Auth`].

pub mod api;
mod assets;
pub mod auth;
mod health;
pub mod metrics;
pub mod pages;
pub mod pool;
mod query;
pub mod service;
mod stats;

pub use auth::{hash_password, Auth, AuthError};
pub use service::{RetentionPolicy, Sources, Telemetry};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use mailtrace_store::{Facets, Store, StoreError};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the server runs.
pub struct Config {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Who may use it.
    pub auth: Auth,
    /// What to ingest while serving.
    pub sources: Sources,
    /// Background retention (`None`: keep everything).
    pub retention: Option<RetentionPolicy>,
}

/// Why the server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Listening beyond loopback without credentials.
    #[error("refusing to listen on {0} without authentication: pass --token (or MAILTRACE_TOKEN) or --users FILE, or listen on a loopback address such as 127.0.0.1")]
    NoAuth(SocketAddr),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The live ingest stopped on an error.
    #[error("live ingest failed: {0}")]
    Ingest(String),
}

/// Opens a store connection (the pool calls it when it needs one more).
pub type Opener = dyn Fn() -> Result<Box<dyn Store>, StoreError> + Send + Sync;

/// What every handler shares.
pub struct AppState {
    pool: pool::Pool,
    auth: Auth,
    telemetry: Arc<Telemetry>,
    facets: Mutex<Option<(Instant, Arc<Facets>)>>,
}

/// Shared state of the handlers.
pub type Shared = Arc<AppState>;

impl AppState {
    /// State over stores made by `open`.
    pub fn new(open: Box<Opener>, auth: Auth) -> Shared {
        AppState::with_telemetry(Arc::from(open), auth, Telemetry::idle())
    }

    /// State over stores made by `open`, showing `telemetry` in `/metrics` and `/healthz`.
    pub fn with_telemetry(open: Arc<Opener>, auth: Auth, telemetry: Arc<Telemetry>) -> Shared {
        Arc::new(AppState {
            pool: pool::Pool::new(open),
            auth,
            telemetry,
            facets: Mutex::new(None),
        })
    }

    /// The names of the servers and of the busiest sender domains (for the forms' pick lists;
    /// empty when the store cannot say).
    async fn pick_lists(&self) -> (Vec<String>, Vec<String>) {
        let names = |v: &[(String, u64)]| v.iter().map(|(n, _)| n.clone()).collect();
        match self.facets().await {
            Ok(f) => (names(&f.servers), names(&f.sender_domains)),
            Err(_) => (Vec::new(), Vec::new()),
        }
    }

    /// Servers and sender domains for the search form, recomputed at most once a minute.
    async fn facets(&self) -> Result<Arc<Facets>, StoreError> {
        const FRESH: Duration = Duration::from_secs(60);
        if let Some((at, f)) = &*self.facets.lock().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < FRESH {
                return Ok(f.clone());
            }
        }
        let f = Arc::new(self.pool.run(|s| s.facets(200)).await?);
        *self.facets.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), f.clone()));
        Ok(f)
    }
}

/// The API's routes (each documented in the OpenAPI document; a test holds them equal).
fn api_routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/api/openapi.json", get(api::openapi)),
        ("/api/v1/messages", get(api::messages)),
        ("/api/v1/messages/{id}", get(api::message)),
        ("/api/v1/messages/{id}/raw", get(api::raw)),
        ("/api/v1/export.csv", get(api::export_csv)),
        ("/api/v1/export.json", get(api::export_json)),
        ("/api/v1/facets", get(api::facets)),
        ("/api/v1/stats", get(api::stats)),
        ("/api/v1/report", get(stats::api)),
    ]
}

/// The paths of the API.
pub fn api_paths() -> Vec<&'static str> {
    api_routes().into_iter().map(|(p, _)| p).collect()
}

/// The whole application.
pub fn router(state: Shared) -> Router {
    let mut app = Router::new()
        .route("/", get(pages::search))
        .route("/message/{id}", get(pages::message))
        .route("/stats", get(stats::page))
        .route("/live", get(pages::live))
        .route("/log", get(pages::log))
        .route("/static/{file}", get(assets::serve))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz));
    for (path, handler) in api_routes() {
        app = app.route(path, handler);
    }
    app.route("/api/{*rest}", get(api::not_found))
        .fallback(pages::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Authentication for every route, and security headers on every response.
async fn guard(State(state): State<Shared>, req: Request, next: Next) -> Response {
    // Health checks (load balancers, supervisors) need no credentials; they show no data.
    let allowed = if !state.auth.is_configured() || req.uri().path() == "/healthz" {
        true
    } else {
        // Password checks are slow on purpose (Argon2): off the async workers.
        let headers = req.headers().clone();
        let st = state.clone();
        tokio::task::spawn_blocking(move || st.auth.allows(&headers))
            .await
            .unwrap_or(false)
    };
    let mut res = if allowed {
        next.run(req).await
    } else {
        let mut res = if req.uri().path().starts_with("/api/") {
            api::ApiError::new(StatusCode::UNAUTHORIZED, "authentication required").into_response()
        } else {
            (StatusCode::UNAUTHORIZED, "authentication required").into_response()
        };
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mailtrace\", charset=\"UTF-8\""),
        );
        res
    };
    let h = res.headers_mut();
    // Scripts only from this server (no inline script): injected markup cannot run.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// Refuse to listen beyond loopback without credentials.
///
/// # Errors
/// [`ServeError::NoAuth`].
pub fn check(config: &Config) -> Result<(), ServeError> {
    if !config.listen.ip().is_loopback() && !config.auth.is_configured() {
        return Err(ServeError::NoAuth(config.listen));
    }
    Ok(())
}

/// The addresses a server listens on.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The web server.
    pub http: SocketAddr,
    /// The syslog receiver over UDP.
    pub syslog_udp: Option<SocketAddr>,
    /// The syslog receiver over TCP.
    pub syslog_tcp: Option<SocketAddr>,
}

/// Listen and serve until SIGINT or SIGTERM (or until the live ingest fails); `ready` gets the
/// bound addresses (to print the URL).
///
/// # Errors
/// [`check`] failed, or binding failed.
pub async fn run(
    config: Config,
    open: Box<Opener>,
    ready: impl FnOnce(&Bound),
) -> Result<(), ServeError> {
    check(&config)?;
    // Open one store now, so that a bad path fails at start and not at the first request.
    // (On a blocking thread: a store may run a runtime of its own, as ClickHouse's does.)
    let open: Arc<Opener> = Arc::from(open);
    {
        let open = open.clone();
        tokio::task::spawn_blocking(move || open().map(drop))
            .await
            .map_err(|e| std::io::Error::other(format!("opening the store: {e}")))??;
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let failed = Arc::new(tokio::sync::Notify::new());
    let background = {
        let failed = failed.clone();
        service::Background::start(&config.sources, config.retention, open.clone(), move || {
            failed.notify_one();
        })?
    };
    let (syslog_udp, syslog_tcp) = background.syslog_addrs();
    ready(&Bound {
        http: listener.local_addr()?,
        syslog_udp,
        syslog_tcp,
    });
    let telemetry = background.telemetry();
    let app = router(AppState::with_telemetry(
        open,
        config.auth,
        telemetry.clone(),
    ));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = shutdown() => {},
                () = failed.notified() => {},
            }
        })
        .await;
    // The ingest commits what it read, then stops.
    tokio::task::spawn_blocking(move || background.stop())
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?;
    served?;
    match telemetry.ingest_state() {
        service::IngestState::Failed(e) => Err(ServeError::Ingest(e)),
        _ => Ok(()),
    }
}

/// [`run`] on a runtime of its own, for a synchronous caller (the CLI).
///
/// # Errors
/// As [`run`], or the runtime could not start.
pub fn run_blocking(
    config: Config,
    open: Box<Opener>,
    ready: impl FnOnce(&Bound),
) -> Result<(), ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve")
        .build()?
        .block_on(run(config, open, ready))
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
