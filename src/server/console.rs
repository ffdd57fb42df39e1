//! The console: a single page at `/`, compiled into the binary (`console/` in the source tree,
//! plain HTML, CSS and ES modules; no bundler, no network), and the one route it needs beyond
//! AgentOS's: `GET /config/events`, an SSE stream of the config's state (the `/health` details)
//! sent at once and again each time a reload succeeds or fails.
//!
//! The page and its assets are public (they hold no data); everything they show comes from the
//! API, which asks for the key as it does for any client. The page keeps a key the user types
//! in the browser's `sessionStorage` only.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Shared;

/// One embedded file.
struct Asset {
    name: &'static str,
    kind: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $kind:expr) => {
        Asset { name: $name, kind: $kind, body: include_bytes!(concat!("../../console/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console. A file not listed here is a 404: the table is the whole surface.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("graph.js", JS),
    asset!("chat.js", JS),
    asset!("sessions.js", JS),
    asset!("memories.js", JS),
];

/// What the page may load and call: itself only. No inline script, no frames, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The entity tag of each file, in [`ASSETS`] order: a hash of its bytes, computed once.
static ETAGS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| ASSETS.iter().map(|a| format!("\"{}\"", super::reload::fnv(a.body))).collect());

/// Answers with the file at `index` of [`ASSETS`] (a 304 when the client has it).
fn serve(index: usize, headers: &HeaderMap) -> Response {
    let (asset, tag) = (&ASSETS[index], &ETAGS[index]);
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == tag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.kind)], asset.body).into_response()
    };
    let h = response.headers_mut();
    // Revalidated on every load: a new binary serves a new page at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, tag);
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn find(name: &str) -> Option<usize> {
    ASSETS.iter().position(|a| a.name == name)
}

/// `GET /`: the page.
pub(super) async fn index(headers: HeaderMap) -> Response {
    match find("index.html") {
        Some(i) => serve(i, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /console/{file}`: an asset, by its name in [`ASSETS`].
pub(super) async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match find(&name) {
        Some(i) => serve(i, &headers),
        None => super::ApiError::not_found("Not Found").into_response(),
    }
}

/// True for the console's public paths (the page and its assets).
pub(super) fn is_public(path: &str) -> bool {
    path == "/" || path.strip_prefix("/console/").is_some_and(|name| find(name).is_some())
}

/// The state sent to the console: `/health`'s details, with the event's name.
fn state(app: &Shared) -> Value {
    let mut v = app.live.health();
    v["event"] = Value::from("ConfigState");
    v
}

/// `GET /config/events`: `ConfigState` now, then after every reload attempt (loaded or
/// refused), until the client goes or the server shuts down. A burst of reloads sends the
/// latest state, not every one (the watch channel keeps the newest).
pub(super) async fn events(
    State(app): State<Shared>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let changes = app.live.subscribe();
    let keep_alive = Duration::from_secs_f64(app.settings.sse_keep_alive);
    let stream = futures_util::stream::unfold((app, changes, true), |(app, mut changes, first)| async move {
        if !first {
            tokio::select! {
                changed = changes.changed() => changed.ok()?,
                () = app.shutdown.cancelled() => return None,
            }
        }
        let event = SseEvent::default().event("ConfigState").data(state(&app).to_string());
        Some((Ok(event), (app, changes, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive).text(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_imports_is_served() {
        // Each `./name.js` imported by a module, and each `/console/…` the page links, is in
        // the table: a file added to `console/` but not to ASSETS would be a 404 in the browser.
        for a in ASSETS {
            let text = std::str::from_utf8(a.body).unwrap();
            for part in text.split("from \"./").skip(1).chain(text.split("/console/").skip(1)) {
                let name: String = part.chars().take_while(|c| !matches!(c, '"' | '\'' | ')' | '`')).collect();
                assert!(find(&name).is_some(), "{} refers to {name}, which is not embedded", a.name);
            }
        }
    }

    #[test]
    fn public_paths_are_the_page_and_its_files_only() {
        assert!(is_public("/"));
        assert!(is_public("/console/app.js"));
        assert!(!is_public("/console/../sessions"));
        assert!(!is_public("/console/"));
        assert!(!is_public("/config/events"));
    }
}
