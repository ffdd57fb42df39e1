//! The AgentOS HTTP API over the live generation: `agno-run CONFIG` (`agno-run serve CONFIG`).
//!
//! The routes and JSON shapes are Agno's AgentOS (3.1.10), so that Agno's own `AgentOSClient`
//! and `RemoteAgent` work against this server unchanged. The server holds no run logic: it
//! parses a request, starts a run through the live [`Generation`], and maps results and errors
//! to HTTP in one place ([`error`]). [`reload`] alone replaces the generation that serves; a
//! request holds the `Arc` of the generation it started on.

mod console;
pub mod error;
mod events;
mod info;
mod memories;
pub mod reload;
mod runs;
mod sessions;
mod traces;
mod usage;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::normalize_path::NormalizePathLayer;
use tracing::Instrument;

use crate::config::{Config, LoadOptions, Secret, ServerSettings};
use crate::runtime::Generation;
pub use error::{ApiError, ApiResult};
pub use reload::{Live, Trigger};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The config files and folders (watched, and reloaded from).
    pub paths: Vec<PathBuf>,
    /// How the config is loaded (environment, flags), the same on every reload.
    pub load: LoadOptions,
    /// Do not migrate databases (they must be migrated already).
    pub no_migrate: bool,
    /// Watch the config files (`server.reload` in the config can turn it off too).
    pub watch: bool,
    /// The process's telemetry (traces, Prometheus metrics), when the CLI set it up.
    pub telemetry: Option<crate::telemetry::Telemetry>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Refused to listen where anyone could call it without a key.
    #[error(
        "refusing to listen on {host} without a security key: anyone who can reach it could run your agents and read every session"
    )]
    Unprotected {
        /// The address.
        host: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A database could not be opened or migrated.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The server failed while serving.
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

impl ServeError {
    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            ServeError::Unprotected { .. } => Some(
                "set `server.security_key` (or OS_SECURITY_KEY), or listen on 127.0.0.1; `server.allow_unauthenticated: true` accepts the risk".into(),
            ),
            ServeError::Bind { .. } => Some("choose another `server.port` (or --port; 0 picks a free one)".into()),
            ServeError::Runtime(e) => e.help(),
            ServeError::Serve(_) => None,
        }
    }
}

/// The server's state, shared by every request.
pub struct App {
    /// The generation that serves, and how the last reload went.
    pub live: Live,
    /// The settings it started with (the listen address and key cannot change live).
    pub settings: ServerSettings,
    /// The bearer key every request needs, when set.
    key: Option<Secret>,
    /// `os_id` of `/config`.
    pub os_id: String,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// The usage routes' per-database state (last calculation, last refresh).
    pub usage: usage::UsageState,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("os_id", &self.os_id).field("auth", &self.key.is_some()).finish_non_exhaustive()
    }
}

impl App {
    /// The generation that serves now.
    pub fn generation(&self) -> Arc<Generation> {
        self.live.current()
    }
}

/// Shared state of the handlers.
pub type Shared = Arc<App>;

/// True for an address only this machine can reach.
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The key in effect: `server.security_key`, else `OS_SECURITY_KEY` from the load environment.
fn security_key(config: &Config, load: &LoadOptions) -> Option<Secret> {
    config
        .server
        .security_key
        .clone()
        .or_else(|| load.env.get("OS_SECURITY_KEY").filter(|k| !k.is_empty()).map(|k| Secret::new(k.clone())))
}

/// Serves `config` (already loaded and valid) until SIGTERM or Ctrl-C. `ready` hears the bound
/// address once the server accepts connections.
pub async fn serve(
    config: Config,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr, &Generation) + Send,
) -> Result<(), ServeError> {
    let settings = config.server.clone();
    let key = security_key(&config, &options.load);
    if key.is_none() && !settings.allow_unauthenticated && !is_loopback(&settings.host) {
        return Err(ServeError::Unprotected { host: settings.host.clone() });
    }
    let watch = options.watch && settings.reload;
    let live = Live::start(config, &options).await?;
    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = listen(&addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(ServeError::Serve)?;
    let os_id = format!("agno-run-{}", local.port());
    let app = Arc::new(App {
        live,
        settings: settings.clone(),
        key,
        os_id,
        shutdown: CancellationToken::new(),
        usage: usage::UsageState::default(),
    });
    app.live.record(&app.live.current(), Trigger::Start, None).await;

    let reloader = reload::spawn(app.clone(), options.clone(), watch);
    let router = router(app.clone());
    let service = NormalizePathLayer::trim_trailing_slash().layer(router);
    let service = axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(service);

    ready(local, &app.generation());
    tracing::info!(address = %local, generation = app.generation().number(), watch, "serving the AgentOS API");

    let shutdown = app.shutdown.clone();
    let signals = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            wait_for_signal().await;
            shutdown.cancel();
        }
    });
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { axum::serve(listener, service).with_graceful_shutdown(shutdown.cancelled_owned()).await }
    });
    shutdown.cancelled().await;
    drain(&app).await;
    reloader.abort();
    signals.abort();
    // Connections still open (a client that keeps a stream of a cancelled run) are cut.
    let served = match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(result)) => result.map_err(ServeError::Serve),
        Ok(Err(join)) => Err(ServeError::Serve(std::io::Error::other(join.to_string()))),
        Err(_) => Ok(()),
    };
    // The runs' last spans are exported before the process goes (bounded: a collector that does
    // not answer costs 5 s at most).
    if let Some(t) = app.generation().process().telemetry() {
        t.finish(Duration::from_secs(5)).await;
    }
    app.generation().process().close().await;
    tracing::info!("stopped");
    served
}

/// Binds `addr` with a listen backlog of 4096 (the kernel caps it at `somaxconn`): tokio's
/// `TcpListener::bind` uses 128, and a burst of thousands of clients then waits on SYN
/// retransmits (1, 3, 7 s…) before it is even accepted.
async fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for candidate in tokio::net::lookup_host(addr).await? {
        let socket =
            if candidate.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        match socket.bind(candidate).and_then(|()| socket.listen(4096)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("`{addr}` resolves to no address"))))
}

/// Lets the runs in flight finish within `server.shutdown_timeout`, then cancels the rest
/// (stored CANCELLED by their own tasks) and waits for them to be stored.
async fn drain(app: &App) {
    let registry = app.generation().process().registry().clone();
    let grace = Duration::from_secs_f64(app.settings.shutdown_timeout);
    if !registry.is_empty() {
        tracing::info!(runs = registry.len(), grace_s = grace.as_secs_f64(), "shutting down: letting runs finish");
    }
    if tokio::time::timeout(grace, registry.idle()).await.is_err() {
        tracing::warn!(runs = registry.len(), "shutting down: cancelling the runs still in flight");
        registry.cancel_all();
        if tokio::time::timeout(Duration::from_secs(10), registry.idle()).await.is_err() {
            tracing::error!(runs = registry.len(), "runs did not end after their cancel; the next start reaps them");
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Every route, with auth, limits, CORS, request ids and JSON errors.
pub fn router(app: Shared) -> Router {
    let limit = usize::try_from(app.settings.max_body_bytes).unwrap_or(usize::MAX);
    let api = Router::new()
        .route("/", get(console::index))
        .route("/console/{file}", get(console::file))
        .route("/config/events", get(console::events))
        .route("/health", get(info::health))
        .route("/config", get(info::config))
        .route("/config/reload", post(reload::reload_route))
        .route("/config/generations", get(reload::generations_route))
        .route("/agents", get(info::agents))
        .route("/agents/{id}", get(info::agent))
        .route("/teams", get(info::teams))
        .route("/teams/{id}", get(info::team))
        .route("/workflows", get(info::workflows))
        .route("/workflows/{id}", get(info::workflow))
        .route("/agents/{id}/runs", post(runs::agent_run))
        .route("/teams/{id}/runs", post(runs::team_run))
        .route("/workflows/{id}/runs", post(runs::workflow_run))
        .route("/agents/{id}/runs/{run_id}/cancel", post(runs::agent_cancel))
        .route("/teams/{id}/runs/{run_id}/cancel", post(runs::team_cancel))
        .route("/workflows/{id}/runs/{run_id}/cancel", post(runs::workflow_cancel))
        .route("/sessions", get(sessions::list).post(sessions::create).delete(sessions::delete_many))
        .route("/sessions/{id}", get(sessions::get).patch(sessions::update).delete(sessions::delete))
        .route("/sessions/{id}/rename", post(sessions::rename))
        .route("/sessions/{id}/runs", get(sessions::runs))
        .route("/sessions/{id}/runs/{run_id}", get(sessions::run))
        .route("/memories", get(memories::list).post(memories::create).delete(memories::delete_many))
        .route("/memories/{id}", get(memories::get).patch(memories::update).delete(memories::delete))
        .route("/memory_topics", get(memories::topics))
        .route("/user_memory_stats", get(memories::stats))
        .route("/optimize-memories", axum::routing::post(memories::optimize))
        .route("/traces", get(traces::list))
        .route("/traces/search", post(traces::search))
        .route("/traces/filter-schema", get(traces::filter_schema))
        .route("/traces/{trace_id}", get(traces::get))
        .route("/trace_session_stats", get(traces::session_stats))
        .route("/metrics", get(usage::get))
        .route("/metrics/refresh", post(usage::refresh))
        .route("/metrics/refresh/status", get(usage::status));
    let api = match app.settings.prometheus_path.as_deref() {
        Some(path) if metrics_path_ok(path) => {
            if let Some(t) = app.generation().process().telemetry() {
                t.set_metrics(true);
            }
            api.route(path, get(prometheus))
        }
        Some(path) => {
            tracing::error!(
                path,
                "server.prometheus_path must start with `/`, hold only letters, digits and `/._~-`, and not be an API route; Prometheus metrics are not served"
            );
            api
        }
        None => api,
    };
    let api = api
        .fallback(|| async { ApiError::not_found("Not Found") })
        .layer(middleware::from_fn_with_state(app.clone(), auth))
        .layer(DefaultBodyLimit::max(limit))
        // A declared `Content-Length` over the limit is a 413 at once, before any of the body
        // is read (the extractor's limit alone would wait for the body, up to the limit).
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit));
    let cors = cors(&app.settings.cors_origins);
    let mut router = api.layer(middleware::from_fn(json_errors)).layer(middleware::from_fn(request_id));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router.with_state(app)
}

/// True for a `prometheus_path` the router can take: `/segment[/segment...]` of letters, digits
/// and `._~-` (no `{` `}` `*` `:`, which the router reads as patterns), outside the API's paths.
fn metrics_path_ok(path: &str) -> bool {
    let plain = path.len() <= 256
        && path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c)));
    plain && !RESERVED.iter().any(|r| *r != "/" && (path == *r || path.starts_with(&format!("{r}/"))))
}

/// The API's own paths, which `prometheus_path` may not take.
const RESERVED: &[&str] = &[
    "/",
    "/console",
    "/config",
    "/health",
    "/agents",
    "/teams",
    "/workflows",
    "/sessions",
    "/memories",
    "/memory_topics",
    "/user_memory_stats",
    "/optimize-memories",
    "/traces",
    "/trace_session_stats",
    "/metrics",
];

/// `GET {server.prometheus_path}`: the Prometheus text metrics, with the pools of the open
/// databases read now.
async fn prometheus(State(app): State<Shared>) -> Response {
    let g = app.generation();
    let Some(t) = g.process().telemetry() else {
        return ApiError::not_found("Not Found").into_response();
    };
    let mut extra = crate::telemetry::prometheus::Extra::default();
    for id in g.config().databases.keys() {
        if !g.is_open(id) {
            continue;
        }
        if let Ok(store) = g.store(id).await
            && let Some((in_use, max)) = store.pool_status()
        {
            extra.push(
                "agno_run_db_pool_connections",
                vec![("db", id.clone()), ("state", "in_use".into())],
                in_use as f64,
            );
            extra.push("agno_run_db_pool_connections", vec![("db", id.clone()), ("state", "max".into())], max as f64);
        }
    }
    let body = t.metrics().render(&extra);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    )
}

/// Routes anyone may call with a key set (AgentOS's list, the preflight, and the console's page
/// and files, which hold no data).
fn is_public(method: &Method, path: &str) -> bool {
    method == Method::OPTIONS
        || matches!(path, "/health" | "/info" | "/docs" | "/redoc" | "/openapi.json")
        || console::is_public(path)
}

/// Compares in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// The bearer check of AgentOS: `Authorization: Bearer <key>` (prefix in any case, or the bare
/// key), compared in constant time.
async fn auth(State(app): State<Shared>, request: Request, next: Next) -> Response {
    if app.key.is_none() || is_public(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    match app.check_key(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

impl App {
    /// Whether `headers` carry the key (always, when none is set); the 401 to answer if not.
    pub(crate) fn check_key(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(key) = &self.key else { return Ok(()) };
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Authorization header required"));
        };
        let given = value.as_bytes();
        let token = match given.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case(b"bearer ") => &given[7..],
            _ => given,
        };
        if !constant_time_eq(token, key.expose().as_bytes()) {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Invalid authentication token"));
        }
        Ok(())
    }
}

/// Every error answer is `{"detail": …}`: axum's own rejections (no route, wrong method, body
/// too large, bad content type) are plain text, and become JSON here.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut detail = String::from_utf8_lossy(&text).trim().to_string();
    if detail.is_empty() {
        detail = status.canonical_reason().unwrap_or("error").to_string();
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        detail = "Request body too large".into();
    }
    let mut out = ApiError::new(status, detail).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// A request id for every request (the caller's `x-request-id` when it is short and printable):
/// in every log line of the request and in the response's `x-request-id`.
async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span =
        tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "answered")
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// A 204 with an empty body, as AgentOS answers a delete.
pub(crate) fn no_content() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The value of header `name`, when it is text.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "example.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn keys_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(!constant_time_eq(b"x", b""));
    }
}
